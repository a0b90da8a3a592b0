//! `rigor station` in a real browser (headless Chromium over WebDriver) on the virtual bench:
//! an operator scans units of three generations with the keyboard alone, sees them pass and
//! fail (the buggy build, the stuck pin), answers the provisioning prompt, hits the retest
//! limit, aborts a unit, meets a worn fixture and its maintenance; the store is read back.
//! Screenshots land in `target/station-screen/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::path::Path;
use std::time::Duration;

use browser::{Browser, StationProcess};
use common::rows;
use rigor_store::{
    FixtureUse, RunEnd, RunOutcome, RunStart, ScenarioRef, Store, Timestamp, UnitIdentity,
};
use tokio::io::AsyncReadExt;

/// How long a unit's whole route may take on a loaded 2-core machine.
const UNIT: Duration = Duration::from_secs(180);
/// How long the page may take to show what the station decided without testing.
const QUICK: Duration = Duration::from_secs(30);

/// Records an old run of `fixture` in `slot` at `insertions`, as if the fixture had worn so far.
fn wear_fixture(store: &Path, slot: &str, fixture: &str, generation: &str, insertions: u32) {
    let mut store = Store::open(store).unwrap();
    let run = store
        .begin_run(&RunStart {
            unit: UnitIdentity {
                serial: format!("OLD-{slot}"),
                family: "fridge-ctl".into(),
                generation: generation.into(),
            },
            scenario: ScenarioRef {
                name: "smoke".into(),
                version: "3".into(),
                sha256: "0".repeat(64),
            },
            station: "sim-1".into(),
            rig: "virtual-bench".into(),
            slot: slot.into(),
            fixture: Some(FixtureUse {
                id: fixture.into(),
                insertions: Some(insertions),
            }),
            operator: "earlier".into(),
            firmware: None,
            limits_sha256: "0".repeat(64),
            // Long ago: not part of today's figures.
            session: None,
            started_at: Timestamp(1_000_000),
        })
        .unwrap();
    store
        .end_run(
            run.id,
            &RunEnd {
                ended_at: Timestamp(2_000_000),
                outcome: RunOutcome::Pass,
                failure_class: None,
                message: None,
            },
        )
        .unwrap();
}

fn phase(slot: &str, phases: &[&str]) -> String {
    let list = phases
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "const t = document.getElementById('tile-{slot}'); \
         return t && [{list}].includes(t.dataset.phase) ? t.dataset.phase : null;"
    )
}

/// Waits until `slot` has reached one of `phases` (named `label` if it never does) and says which.
async fn ends_in(b: &Browser, slot: &str, label: &str, phases: &[&str]) -> serde_json::Value {
    b.wait_for(label, UNIT, &phase(slot, phases)).await
}

fn text_of(slot: &str, part: &str) -> String {
    format!("return document.querySelector('#tile-{slot} {part}').innerText;")
}

/// Waits until the focus is in `slot`'s scan field, then scans `serial` into it (the keys go
/// wherever the focus is, as a scanner's would).
async fn scan(b: &Browser, slot: &str, serial: &str) {
    b.wait_for(
        &format!("focus-{slot}"),
        QUICK,
        &format!("return document.activeElement === document.querySelector('#tile-{slot} .scan');"),
    )
    .await;
    scan_focused(b, slot, serial).await;
}

/// Scans `serial` into the focused field, and waits until `slot` has taken it.
async fn scan_focused(b: &Browser, slot: &str, serial: &str) {
    let cycle = b
        .js(&format!(
            "return document.getElementById('tile-{slot}').dataset.cycle;"
        ))
        .await;
    b.type_keys(&format!("{serial}\n")).await;
    b.wait_for(
        &format!("{slot}-took-{serial}"),
        QUICK,
        &format!(
            "const t = document.getElementById('tile-{slot}'); \
             return t.dataset.cycle !== {cycle} && t.querySelector('.unit').innerText === '{serial}';"
        ),
    )
    .await;
}

/// Sets the focus on `slot`'s scan field, as the operator would by tabbing to it.
async fn focus(b: &Browser, slot: &str) {
    b.js(&format!(
        "document.querySelector('#tile-{slot} .scan').focus(); return true;"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_tests_units_of_three_generations_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("rigor.db");
    // slot3's gen3 fixture one insertion short of its 90 % warning (27 000 of 30 000); slot4's
    // gen1 fixture at its limit (50 000).
    wear_fixture(&store, "slot3", "fx-fridge-gen3", "gen3", 26_999);
    wear_fixture(&store, "slot4", "fx-fridge-gen1", "gen1", 50_000);
    let printer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let route = dir.path().join("route.yaml");
    std::fs::write(
        &route,
        format!(
            "route: test-eol\non-rig: virtual-bench\nscenarios: [smoke, provisioning]\n\
             retest-limit: 1\n\
             serials:\n  fridge-ctl-gen1: 'FC1-\\d{{6}}'\n  fridge-ctl-gen2: 'FC2-\\d{{6}}'\n  \
             fridge-ctl-gen3: 'FC3-\\d{{6}}'\n\
             label: {{ tcp: '{}', template: '^XA^FD${{serial}} ${{generation}}^FS^XZ' }}\n\
             operators: [OP-17]\ntechnicians: [TECH-3]\n",
            printer.local_addr().unwrap()
        ),
    )
    .unwrap();
    let station = StationProcess::start(&[
        "--rig",
        "virtual-bench",
        "--route",
        route.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    let b = Browser::start(1600, 1200).await;
    b.client.goto(&station.url).await.unwrap();

    // The badge first: the field has the focus, the scanner types and presses Enter.
    b.wait_for(
        "badge-focus",
        QUICK,
        "return document.activeElement && document.activeElement.id === 'badge-input';",
    )
    .await;
    // A badge not on the route's roster is refused at once, and the badge is asked for again.
    b.type_keys("OP-99\n").await;
    b.wait_for(
        "badge-refused",
        QUICK,
        "return /badge OP-99 is not on this station's operators roster/ \
         .test(document.getElementById('badge-refused').innerText) \
         && !document.getElementById('badge').hidden;",
    )
    .await;
    b.js("document.getElementById('badge-input').value = ''; return true;")
        .await;
    b.type_keys("OP-17\n").await;
    b.wait_for(
        "tiles",
        QUICK,
        "return document.querySelectorAll('.tile').length === 4;",
    )
    .await;

    // Four units of three generations; after each scan the focus moves on to the next free slot.
    scan(&b, "slot1", "FC1-000101").await;
    scan(&b, "slot2", "FC2-000201").await;
    scan(&b, "slot3", "FC3-000301").await;
    scan(&b, "slot4", "FC2-000202").await;
    // Live progress while they run.
    b.wait_for(
        "progress",
        UNIT,
        // slot3 waits at its prompt, so some tile is always still running here.
        "return [...document.querySelectorAll('.tile')].some(t => t.dataset.phase === 'running' \
         && t.querySelector('.measurements tr') !== null \
         && /step: /.test(t.querySelector('.step').innerText));",
    )
    .await;
    b.screenshot("running").await;

    // slot3's unit passes smoke and is asked to scan its label (provisioning): the question has
    // the focus, the scan answers it.
    b.wait_for(
        "prompt",
        UNIT,
        "const i = document.querySelector('#tile-slot3 .prompt-input'); \
         return !document.querySelector('#tile-slot3 .prompt').hidden && document.activeElement === i;",
    )
    .await;
    let question = b.js(&text_of("slot3", ".prompt-message")).await;
    assert!(
        question.as_str().unwrap().contains("scan the serial label"),
        "{question}"
    );
    // The scenario's picture of where the label is shows with the question.
    b.wait_for(
        "prompt-image",
        QUICK,
        "const i = document.querySelector('#tile-slot3 .prompt-image'); \
         return !i.hidden && i.complete && i.naturalWidth > 0 \
         && i.getBoundingClientRect().height > 50;",
    )
    .await;
    b.screenshot("prompt").await;
    // A label that does not match the prompt's pattern is refused, and asked for again.
    b.type_keys("FC9-12\n").await;
    b.wait_for(
        "prompt-refused",
        QUICK,
        "return document.querySelector('#tile-slot3 .prompt-message').innerText \
         .includes('`FC9-12` is not a valid answer (expected FC[23]-') \
         && document.activeElement === document.querySelector('#tile-slot3 .prompt-input');",
    )
    .await;
    b.screenshot("prompt-refused").await;
    b.type_keys("FC3-000301\n").await;

    assert_eq!(
        ends_in(&b, "slot1", "slot1", &["pass", "fail", "rig-problem"]).await,
        "pass"
    );
    assert_eq!(
        ends_in(&b, "slot2", "slot2", &["pass", "fail", "rig-problem"]).await,
        "fail"
    );
    assert_eq!(
        ends_in(&b, "slot3", "slot3", &["pass", "fail", "rig-problem"]).await,
        "pass"
    );
    assert_eq!(
        ends_in(&b, "slot4", "slot4", &["pass", "fail", "rig-problem"]).await,
        "fail"
    );
    let reason = b.js(&text_of("slot2", ".reason")).await;
    assert!(
        reason
            .as_str()
            .unwrap()
            .contains("firmware_temp is 8.38 °C, outside its limits 2 <= x <= 8 °C"),
        "{reason}"
    );
    let reason = b.js(&text_of("slot4", ".reason")).await;
    assert!(
        reason.as_str().unwrap().contains("alarm_blink is 0 Hz"),
        "{reason}"
    );
    // The words are on the screen, not only the colour.
    assert_eq!(b.js(&text_of("slot1", ".status")).await, "PASS");
    assert_eq!(b.js(&text_of("slot2", ".status")).await, "FAIL");
    // slot3's fixture reached 90 % of its wear limit.
    let wear = b.js(&text_of("slot3", ".wear")).await;
    assert!(
        wear.as_str()
            .unwrap()
            .contains("27000 of 30000 insertions — WARNING"),
        "{wear}"
    );
    b.wait_for(
        "panel",
        QUICK,
        "return document.getElementById('units').innerText === '4' \
         && document.getElementById('fpy').innerText === '50 %';",
    )
    .await;
    b.screenshot("verdicts").await;

    // Labels were printed for the two passes, on the route's printer port.
    let mut labels = Vec::new();
    for _ in 0..2 {
        let (mut conn, _) = tokio::time::timeout(QUICK, printer.accept())
            .await
            .unwrap()
            .unwrap();
        let mut job = String::new();
        conn.read_to_string(&mut job).await.unwrap();
        labels.push(job);
    }
    labels.sort();
    assert_eq!(
        labels,
        ["^XA^FDFC1-000101 gen1^FS^XZ", "^XA^FDFC3-000301 gen3^FS^XZ"]
    );

    // A retest of the failed gen2 unit fails again: beyond the retest limit of 1, it goes to repair.
    focus(&b, "slot2").await;
    scan(&b, "slot2", "FC2-000201").await;
    assert_eq!(
        ends_in(&b, "slot2", "repair", &["repair", "fail", "pass"]).await,
        "repair"
    );
    let reason = b.js(&text_of("slot2", ".reason")).await;
    assert!(
        reason
            .as_str()
            .unwrap()
            .starts_with("SEND TO REPAIR: failed 2 times"),
        "{reason}"
    );
    b.screenshot("repair").await;
    // Scanned again, it is refused until a technician records the repair.
    focus(&b, "slot2").await;
    scan_focused(&b, "slot2", "FC2-000201").await;
    b.wait_for(
        "refused-repair",
        QUICK,
        "return /must record the repair/.test(document.querySelector('#tile-slot2 .reason').innerText);",
    )
    .await;

    // The worn gen1 fixture in slot4 refuses to start a unit.
    focus(&b, "slot4").await;
    scan_focused(&b, "slot4", "FC1-000102").await;
    b.wait_for(
        "worn",
        QUICK,
        "return /worn out \\(50000 of 50000 insertions\\)/.test(document.querySelector('#tile-slot4 .reason').innerText);",
    )
    .await;
    b.screenshot("worn").await;

    // Only a technician on the roster may record a repair; the technician records the repair
    // and slot4's maintenance, with their badge.
    let refused = technician(&b, "OP-17", "slot2", Some("FC2-000201"), "#tech-repair").await;
    assert!(
        refused.contains("badge OP-17 is not on this station's technicians roster"),
        "{refused}"
    );
    let recorded = technician(&b, "TECH-3", "slot2", Some("FC2-000201"), "#tech-repair").await;
    assert_eq!(recorded, "Recorded.");
    let recorded = technician(&b, "TECH-3", "slot4", None, "#tech-maintenance").await;
    assert_eq!(recorded, "Recorded.");
    b.wait_for(
        "maintained",
        QUICK,
        "return /0 of 50000 insertions/.test(document.querySelector('#tile-slot4 .wear').innerText);",
    )
    .await;

    // The repaired unit is tested again; the operator aborts it with the slot's button.
    focus(&b, "slot2").await;
    scan(&b, "slot2", "FC2-000201").await;
    b.wait_for(
        "running-again",
        QUICK,
        "return /step: /.test(document.querySelector('#tile-slot2 .step').innerText);",
    )
    .await;
    b.js("document.querySelector('#tile-slot2 .abort').click(); return true;")
        .await;
    assert_eq!(
        ends_in(&b, "slot2", "aborted", &["aborted", "fail", "pass"]).await,
        "aborted"
    );

    // After maintenance slot4 tests again.
    focus(&b, "slot4").await;
    scan(&b, "slot4", "FC1-000102").await;
    assert_eq!(
        ends_in(&b, "slot4", "slot4-again", &["pass", "fail", "rig-problem"]).await,
        "pass"
    );

    // The stuck-pin unit fails its retest too and goes to repair; a technician allows it one
    // more test, which fails and sends it to repair again.
    focus(&b, "slot4").await;
    scan(&b, "slot4", "FC2-000202").await;
    assert_eq!(
        ends_in(&b, "slot4", "repair-2", &["repair", "fail", "pass"]).await,
        "repair"
    );
    assert_eq!(
        technician(&b, "TECH-3", "slot4", Some("FC2-000202"), "#tech-override").await,
        "Recorded."
    );
    focus(&b, "slot4").await;
    scan(&b, "slot4", "FC2-000202").await;
    b.wait_for(
        "override-ran",
        UNIT,
        "const t = document.getElementById('tile-slot4'); \
         return t.dataset.phase === 'repair' && /failed 3 times/.test(t.querySelector('.reason').innerText);",
    )
    .await;
    let shot = b.screenshot("final").await;
    assert!(std::fs::metadata(shot).unwrap().len() > 10_000);

    b.client.clone().close().await.unwrap();
    assert_eq!(station.stop(), Some(0));

    // The store holds every run as `rigor run` records them, and the station's own log.
    let runs = rows(
        &store,
        "SELECT unit_serial || ' ' || scenario_name || ' ' || attempt || ' ' || outcome || ' ' || operator \
         FROM run_summary WHERE unit_serial NOT LIKE 'OLD-%' ORDER BY unit_serial, scenario_name, attempt",
    );
    assert_eq!(
        runs,
        [
            "FC1-000101 smoke 1 pass OP-17",
            "FC1-000102 smoke 1 pass OP-17",
            "FC2-000201 smoke 1 fail OP-17",
            "FC2-000201 smoke 2 fail OP-17",
            "FC2-000201 smoke 3 aborted OP-17",
            "FC2-000202 smoke 1 fail OP-17",
            "FC2-000202 smoke 2 fail OP-17",
            "FC2-000202 smoke 3 fail OP-17",
            "FC3-000301 provisioning 1 pass OP-17",
            "FC3-000301 smoke 1 pass OP-17",
        ]
    );
    let log = rows(
        &store,
        "SELECT action || ' ' || coalesce(unit_serial, slot) || ' ' || person || ' ' || role \
         FROM station_log ORDER BY id",
    );
    assert_eq!(
        log,
        [
            "send-to-repair FC2-000201 station station",
            "repaired FC2-000201 TECH-3 technician",
            "maintenance slot4 TECH-3 technician",
            "abort FC2-000201 OP-17 operator",
            "send-to-repair FC2-000202 station station",
            "retest-override FC2-000202 TECH-3 technician",
            "send-to-repair FC2-000202 station station",
        ]
    );

    // `rigor run` of the same unit on the same slot leaves the same records (one station API).
    let firmware = dir.path().join("fw");
    rigor_bench::firmware::write_build(&firmware, "fridge-ctl", "gen1", "1.4.2").unwrap();
    let other = dir.path().join("run.db");
    let out = common::rigor()
        .args([
            "run",
            "--rig",
            "virtual-bench",
            "--scenario",
            "smoke",
            "--slot",
            "slot1",
        ])
        .args([
            "--unit",
            "FC1-000101",
            "--profile",
            "fridge-ctl-gen1",
            "--operator",
            "OP-17",
        ])
        .arg("--firmware")
        .arg(&firmware)
        .arg("--store")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out));
    let by_station = smoke_record(&store, "FC1-000101");
    assert!(by_station.len() > 30, "{by_station:?}");
    assert_eq!(by_station, smoke_record(&other, "FC1-000101"));
}

/// The records of `serial`'s smoke run at attempt 1 that do not vary between runs: the run's
/// identity, every step and every measurement's name, unit, limits and outcome.
fn smoke_record(store: &Path, serial: &str) -> Vec<String> {
    let run = format!(
        "(SELECT id FROM runs WHERE unit_serial = '{serial}' AND scenario_name = 'smoke' AND attempt = 1)"
    );
    let mut record = rows(
        store,
        &format!(
            "SELECT scenario_sha256 || ' ' || limits_sha256 || ' ' || rig || ' ' || slot || ' ' \
             || fixture_id || ' ' || fixture_insertions || ' ' || operator || ' ' || firmware_version \
             FROM runs WHERE id = {run}"
        ),
    );
    record.extend(rows(
        store,
        &format!(
            "SELECT step_index || ' ' || step_id || ' ' || kind || ' ' || attempt || ' ' || outcome \
             FROM steps WHERE run_id = {run} ORDER BY step_index"
        ),
    ));
    record.extend(rows(
        store,
        &format!(
            "SELECT seq || ' ' || step_index || ' ' || name || ' ' || coalesce(unit, '-') || ' ' \
             || comparator || ' ' || outcome FROM measurements WHERE run_id = {run} ORDER BY seq"
        ),
    ));
    record.extend(rows(
        store,
        &format!("SELECT outcome FROM run_ends WHERE run_id = {run}"),
    ));
    record
}

/// Does a technician's action from the technician's dialog, keyboard and buttons; returns what
/// the dialog answered.
async fn technician(
    b: &Browser,
    id: &str,
    slot: &str,
    serial: Option<&str>,
    button: &str,
) -> String {
    b.js("document.getElementById('technician').click(); return true;")
        .await;
    b.wait_for(
        "tech-dialog",
        QUICK,
        "return document.activeElement && document.activeElement.id === 'tech-id';",
    )
    .await;
    b.js(&format!(
        "document.getElementById('tech-id').value = ''; \
         document.getElementById('tech-slot').value = '{slot}'; \
         document.getElementById('tech-serial').value = '{}'; return true;",
        serial.unwrap_or_default()
    ))
    .await;
    b.type_keys(id).await;
    b.js(&format!(
        "document.querySelector('{button}').click(); return true;"
    ))
    .await;
    let answered = b
        .wait_for(
            "tech-answered",
            QUICK,
            "return document.getElementById('tech-message').innerText || false;",
        )
        .await;
    b.js("document.getElementById('tech-close').click(); return true;")
        .await;
    answered.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rig_problem_says_call_the_technician_and_abort_all_stops_every_slot() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("rigor.db");
    // slot1's console adapter drops off the bus after the banner: the rig's fault, not the unit's.
    let station = StationProcess::start(&[
        "--rig",
        "virtual-bench",
        "--fault",
        "slot1=unplugged-console",
        "--store",
        store.to_str().unwrap(),
    ]);
    let b = Browser::start(1600, 1200).await;
    b.client.goto(&station.url).await.unwrap();
    b.wait_for(
        "badge-focus",
        QUICK,
        "return document.activeElement && document.activeElement.id === 'badge-input';",
    )
    .await;
    b.type_keys("OP-5\n").await;
    scan(&b, "slot1", "FC1-000101").await;
    assert_eq!(
        ends_in(&b, "slot1", "rig-problem", &["rig-problem", "pass", "fail"]).await,
        "rig-problem"
    );
    assert_eq!(b.js(&text_of("slot1", ".status")).await, "RIG PROBLEM");
    b.wait_for(
        "top-failure",
        QUICK,
        "return document.getElementById('top-failures').innerText === 'rig problem (1×)';",
    )
    .await;
    let reason = b.js(&text_of("slot1", ".reason")).await;
    assert!(
        reason
            .as_str()
            .unwrap()
            .starts_with("rig problem: call the technician"),
        "{reason}"
    );
    b.screenshot("rig-problem").await;

    // Two units testing; the technician stops both at once.
    focus(&b, "slot2").await;
    scan(&b, "slot2", "FC2-000777").await;
    focus(&b, "slot3").await;
    scan(&b, "slot3", "FC3-000777").await;
    for slot in ["slot2", "slot3"] {
        b.wait_for(
            &format!("{slot}-step"),
            UNIT,
            &format!(
                "return /step: /.test(document.querySelector('#tile-{slot} .step').innerText);"
            ),
        )
        .await;
    }
    assert_eq!(
        technician(&b, "TECH-9", "slot2", None, "#tech-abort-all").await,
        "Recorded."
    );
    for slot in ["slot2", "slot3"] {
        assert_eq!(
            ends_in(&b, slot, slot, &["aborted", "pass", "fail"]).await,
            "aborted"
        );
    }
    b.client.clone().close().await.unwrap();
    assert_eq!(station.stop(), Some(0));
    let runs = rows(
        &store,
        "SELECT unit_serial || ' ' || outcome || ' ' || coalesce(failure_class, '-') \
         FROM run_summary ORDER BY unit_serial",
    );
    assert_eq!(
        runs,
        [
            "FC1-000101 error infrastructure",
            "FC2-000777 aborted -",
            "FC3-000777 aborted -"
        ]
    );
    let log = rows(
        &store,
        "SELECT action || ' ' || person || ' ' || role FROM station_log",
    );
    assert_eq!(log, ["abort-all TECH-9 technician"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visual_check_is_confirmed_pass_or_fail_with_the_keyboard() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mine = dir.path().join("station");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(
        mine.join("visual.yaml"),
        "scenario: visual-check\nversion: 1\napplies-to: { family: fridge-ctl }\nsteps:\n  \
         - prompt: { message: Is the front panel lit evenly?, choices: [PASS, FAIL] }\n",
    )
    .unwrap();
    std::fs::write(
        mine.join("route.yaml"),
        "route: visual\non-rig: virtual-bench\nscenarios: [visual-check]\n\
         serials: { fridge-ctl-gen1: 'FC1-\\d{6}' }\n",
    )
    .unwrap();
    let store = dir.path().join("rigor.db");
    let paths: Vec<String> = ["device-profiles", "rigs", "fixtures"]
        .iter()
        .map(|d| root.join(d).display().to_string())
        .chain([mine.display().to_string()])
        .collect();
    let mut args = vec!["--rig", "virtual-bench", "--store", store.to_str().unwrap()];
    for p in &paths {
        args.extend(["--path", p.as_str()]);
    }
    let station = StationProcess::start(&args);
    let b = Browser::start(1600, 1200).await;
    b.client.goto(&station.url).await.unwrap();
    b.wait_for(
        "badge-focus",
        QUICK,
        "return document.activeElement && document.activeElement.id === 'badge-input';",
    )
    .await;
    b.type_keys("OP-8\n").await;
    for (serial, keys, verdict) in [
        ("FC1-000501", "\n", "pass"),
        // Tab from PASS to FAIL, then Enter.
        ("FC1-000502", "\u{e004}\n", "fail"),
    ] {
        focus(&b, "slot1").await;
        scan(&b, "slot1", serial).await;
        b.wait_for(
            &format!("confirm-{serial}"),
            UNIT,
            "return document.activeElement === document.querySelector('#tile-slot1 .choices button');",
        )
        .await;
        b.screenshot("confirm").await;
        b.type_keys(keys).await;
        assert_eq!(
            ends_in(&b, "slot1", serial, &["pass", "fail", "rig-problem"]).await,
            verdict
        );
    }
    let reason = b.js(&text_of("slot1", ".reason")).await;
    assert!(
        reason
            .as_str()
            .unwrap()
            .starts_with("visual-check: the operator chose `FAIL`"),
        "{reason}"
    );
    b.client.clone().close().await.unwrap();
    assert_eq!(station.stop(), Some(0));
}
