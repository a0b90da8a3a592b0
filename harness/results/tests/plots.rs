//! Every plot renders, as SVG and PNG, from the views over the fixture store.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use rigor_results::plot::Plot;
use rigor_results::{
    Dimension, Filter, ParetoBy, Source, SqliteSource, capability, pareto, readings_of, spc,
    yield_report,
};

#[test]
fn every_plot_renders_as_svg_and_png() {
    let t = common::fixture_store();
    let source = SqliteSource::open(&t.path).unwrap();
    let runs = source.runs(&Filter::default()).unwrap();
    let rows = capability(&source, &runs, Some("vbat")).unwrap();
    let row = rows.iter().find(|r| r.generation == "gen3").unwrap();
    let values = readings_of(&source, &runs, row).unwrap();
    assert_eq!(values.len() as u64, row.n);
    let chart = spc(&source, &runs, "vbat").unwrap().unwrap();
    let days = yield_report(&runs, Dimension::Day, &[]);
    let smoke: Vec<_> = days
        .rows
        .into_iter()
        .filter(|r| r.scenario == "smoke")
        .collect();
    let bars = pareto(&source, &runs, ParetoBy::Class).unwrap();
    let plots = [
        (
            "histogram",
            Plot::Histogram {
                values: &values,
                row,
            },
        ),
        ("imr", Plot::ControlChart(&chart)),
        ("yield", Plot::YieldOverTime(&smoke)),
        ("pareto", Plot::Pareto(&bars)),
    ];
    // RIGOR_PLOT_DIR keeps the files to look at.
    let keep = std::env::var_os("RIGOR_PLOT_DIR").map(std::path::PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| t.dir.path().to_owned());
    for (name, plot) in plots {
        let png = dir.join(format!("{name}.png"));
        plot.save(&png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
        let svg = dir.join(format!("{name}.svg"));
        plot.save(&svg).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{name}"
        );
        assert!(plot.svg().unwrap().contains("<text"), "{name}: no labels");
    }
    let err = Plot::Pareto(&bars)
        .save(&dir.join("pareto.jpg"))
        .unwrap_err();
    assert!(
        err.to_string().ends_with("must end in .svg or .png"),
        "{err}"
    );
}

#[test]
fn html_report_is_one_self_contained_page() {
    let t = common::fixture_store();
    let source = SqliteSource::open(&t.path).unwrap();
    let runs = source.runs(&Filter::default()).unwrap();
    let html = rigor_results::html_report(&source, &runs, "lot <A&B>", "2026-03-04").unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<h1>lot &lt;A&amp;B&gt;</h1>"));
    // Plots inline, nothing fetched from elsewhere.
    assert!(
        html.matches("<svg").count() >= 5,
        "yield, 2 Pareto, histograms, I-MR"
    );
    for external in ["src=", "href=", "http://", "https://", "@import"] {
        let outside_svg_namespace = html
            .match_indices(external)
            .filter(|(i, _)| !html[*i..].starts_with("http://www.w3.org"))
            .count();
        assert_eq!(outside_svg_namespace, 0, "{external}");
    }
    if let Some(dir) = std::env::var_os("RIGOR_PLOT_DIR") {
        std::fs::write(std::path::Path::new(&dir).join("report.html"), &html).unwrap();
    }
}
