//! `rigor results` end to end on the demo's store: a view on the command line, and the HTML
//! report opened in a real browser (headless Chromium), where every chart must render.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::{rigor, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_store_reads_back_as_views_and_a_report_a_browser_renders() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("demo.db");
    let demo = rigor()
        .args(["demo", "--store"])
        .arg(&store)
        .arg("--junit")
        .arg(dir.path().join("demo.xml"))
        .arg("--firmware")
        .arg(dir.path().join("fw"))
        .output()
        .unwrap();
    assert!(demo.status.success(), "{}", text(&demo));

    let pareto = rigor()
        .args(["results", "pareto", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(pareto.status.success(), "{}", text(&pareto));
    let table = String::from_utf8_lossy(&pareto.stdout);
    for failed in ["firmware_temp", "alarm_blink"] {
        assert!(table.contains(failed), "{table}");
    }

    let html = dir.path().join("report.html");
    let report = rigor()
        .args(["results", "report", "--title", "Lot 42", "--store"])
        .arg(&store)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", text(&report));

    let browser = Browser::start(1200, 1600).await;
    browser
        .client
        .goto(&format!("file://{}", html.display()))
        .await
        .unwrap();
    assert_eq!(browser.client.title().await.unwrap(), "Lot 42");
    let headings = browser
        .js("return [...document.querySelectorAll('h2')].map(h => h.innerText)")
        .await;
    // A demo's few units give no capability index, so no control chart section.
    assert_eq!(
        headings,
        serde_json::json!(["Yield", "Failures", "Capability"])
    );
    // Every chart is drawn: an SVG with a real size on the page and marks inside it.
    let charts = browser
        .js("return [...document.querySelectorAll('svg')].map(s => { \
               const r = s.getBoundingClientRect(); \
               return [Math.round(r.width), Math.round(r.height), s.querySelectorAll('*').length]; })")
        .await;
    let charts = charts.as_array().unwrap();
    assert!(charts.len() >= 3, "{charts:?}");
    for c in charts {
        let (w, h, marks) = (
            c[0].as_i64().unwrap(),
            c[1].as_i64().unwrap(),
            c[2].as_i64().unwrap(),
        );
        assert!(
            w > 200 && h > 100 && marks > 10,
            "a chart drawn {w}×{h} with {marks} marks"
        );
    }
    // A one-day lot is one point per line: each yield chart marks it.
    let marked = browser
        .js("return [...document.querySelectorAll('h3')].map(h => { \
               const svg = h.nextElementSibling; \
               return svg && svg.tagName.toLowerCase() === 'svg' ? svg.querySelectorAll('circle').length : -1; })")
        .await;
    let marked = marked.as_array().unwrap();
    assert!(!marked.is_empty());
    assert!(
        marked.iter().all(|m| m.as_i64().unwrap() >= 2),
        "circles per yield chart: {marked:?}"
    );
    let failures = browser
        .js("return document.body.innerText")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(failures.contains("firmware_temp") && failures.contains("alarm_blink"));
    browser.screenshot("results-report").await;
}
