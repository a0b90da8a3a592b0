//! Every view over a small store with known numbers, written through the store's record API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

mod common;

use std::path::Path;

use rigor_results::render::{Format, render};
use rigor_results::{
    Dimension, Filter, ParetoBy, Revised, RevisedLimits, Rule, Source, SqliteSource, capability,
    pareto, rejudge, retest, spc, tables, unit_history, yield_report,
};

fn open() -> (common::TempStore, SqliteSource) {
    let t = common::fixture_store();
    let source = SqliteSource::open(&t.path).unwrap();
    (t, source)
}

#[test]
fn yield_counts_infrastructure_apart_and_rolls_through_the_chain() {
    let (t, source) = open();
    let runs = source.runs(&Filter::default()).unwrap();
    let chain = ["smoke".to_owned(), "provisioning".to_owned()];
    let report = yield_report(&runs, Dimension::All, &chain);
    let smoke = report.rows.iter().find(|r| r.scenario == "smoke").unwrap();
    assert_eq!(
        (
            smoke.units,
            smoke.judged,
            smoke.first_pass,
            smoke.final_pass
        ),
        (6, 6, 3, 5)
    );
    assert_eq!(smoke.infrastructure_runs, 1);
    // SN3's infrastructure error does not count: its first judged attempt passed.
    assert_eq!(smoke.first_pass_yield, Some(0.5));
    // The store's own first_pass_yield view counts the same way.
    let store = rigor_store::Store::open(&t.path).unwrap();
    let view = store
        .first_pass_yield(&rigor_store::YieldFilter {
            scenario: Some("smoke".to_owned()),
            ..Default::default()
        })
        .unwrap();
    let totals = view.iter().fold((0, 0, 0, 0, 0), |t, r| {
        (
            t.0 + r.units,
            t.1 + r.judged,
            t.2 + r.first_pass,
            t.3 + r.final_pass,
            t.4 + r.infrastructure_runs,
        )
    });
    assert_eq!(totals, (6, 6, 3, 5, 1));
    let rty = report.rolled[0].rolled_throughput_yield.unwrap();
    assert!((rty - 0.5 * 2.0 / 3.0).abs() < 1e-12);
    let text = render(&report, &tables::yields(&report), Format::Table).unwrap();
    insta::assert_snapshot!("yield_all", text);

    let by_station = yield_report(&runs, Dimension::Station, &[]);
    let text = render(&by_station, &tables::yields(&by_station), Format::Table).unwrap();
    insta::assert_snapshot!("yield_by_station", text);
    let by_day = yield_report(&runs, Dimension::Day, &[]);
    let days: Vec<&str> = by_day.rows.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(days, ["2026-03-02", "2026-03-02", "2026-03-03"]);
}

#[test]
fn filters_select_runs() {
    let (_t, source) = open();
    let count = |f: Filter| source.runs(&f).unwrap().len();
    assert_eq!(count(Filter::default()), 14);
    assert_eq!(
        count(Filter {
            generation: Some("gen2".into()),
            ..Filter::default()
        }),
        3
    );
    assert_eq!(
        count(Filter {
            station: Some("station-b".into()),
            ..Filter::default()
        }),
        3
    );
    assert_eq!(
        count(Filter {
            fixture: Some("fx-2".into()),
            ..Filter::default()
        }),
        2
    );
    assert_eq!(
        count(Filter {
            serial: Some("SN[12]".into()),
            ..Filter::default()
        }),
        0
    );
    assert_eq!(
        count(Filter {
            serial: Some("SN?".into()),
            ..Filter::default()
        }),
        14
    );
    assert_eq!(
        count(Filter {
            serial: Some("SN3*".into()),
            ..Filter::default()
        }),
        4
    );
    assert_eq!(
        count(Filter {
            scenario: Some("provisioning".into()),
            ..Filter::default()
        }),
        4
    );
    assert_eq!(
        count(Filter {
            firmware: Some("9.9".into()),
            ..Filter::default()
        }),
        0
    );
    assert_eq!(
        count(Filter {
            limits: Some("2222".into()),
            ..Filter::default()
        }),
        14
    );
    let day2 = Filter::parse_instant("since", "2026-03-03").unwrap();
    assert_eq!(
        count(Filter {
            since_us: Some(day2),
            ..Filter::default()
        }),
        3
    );
    assert_eq!(
        count(Filter {
            until_us: Some(day2),
            ..Filter::default()
        }),
        11
    );
}

#[test]
fn pareto_by_measurement_and_class() {
    let (_t, source) = open();
    let runs = source.runs(&Filter::default()).unwrap();
    let rows = pareto(&source, &runs, ParetoBy::Measurement).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].key.as_str(), rows[0].count), ("vbat", 5));
    let rows = pareto(&source, &runs, ParetoBy::Class).unwrap();
    let text = render(&rows, &tables::pareto(&rows), Format::Table).unwrap();
    insta::assert_snapshot!("pareto_class", text);
    let rows = pareto(&source, &runs, ParetoBy::Step).unwrap();
    assert_eq!((rows[0].key.as_str(), rows[0].count), ("power-on", 5));
}

#[test]
fn capability_flags_small_samples() {
    let (_t, source) = open();
    let runs = source.runs(&Filter::default()).unwrap();
    let rows = capability(&source, &runs, None).unwrap();
    let vbat = rows
        .iter()
        .find(|r| r.measurement == "vbat" && r.generation == "gen3")
        .unwrap();
    assert_eq!(vbat.n, 10);
    assert!(vbat.warning.as_deref().unwrap().starts_with("n = 10 < 30"));
    assert_eq!((vbat.lsl, vbat.usl), (Some(3.2), Some(3.4)));
    let current = rows.iter().find(|r| r.measurement == "current").unwrap();
    // One-sided: no Cp, Cpk from the upper limit alone.
    assert_eq!(current.cp, None);
    assert!(current.cpk.is_none(), "constant readings have no spread");
    let text = render(&rows, &tables::capability(&rows), Format::Table).unwrap();
    insta::assert_snapshot!("capability", text);
    let csv = render(&rows, &tables::capability(&rows), Format::Csv).unwrap();
    assert!(csv.starts_with("measurement,generation,firmware,"), "{csv}");
}

#[test]
fn spc_lists_rule_violations() {
    let (_t, source) = open();
    let runs = source.runs(&Filter::default()).unwrap();
    let chart = spc(&source, &runs, "vbat").unwrap().unwrap();
    assert_eq!(chart.points.len(), 13);
    assert!((chart.ucl - (chart.center + 3.0 * chart.sigma)).abs() < 1e-12);
    assert!(
        chart
            .violations
            .iter()
            .all(|v| v.rule != Rule::Beyond3Sigma || {
                (v.value - chart.center).abs() > 3.0 * chart.sigma
            })
    );
    let text = render(&chart, &tables::spc(&chart), Format::Table).unwrap();
    insta::assert_snapshot!("spc_vbat", text);
}

#[test]
fn unit_history_shows_every_attempt_and_reading() {
    let (_t, source) = open();
    let history = unit_history(&source, "SN2", &Filter::default()).unwrap();
    assert_eq!(history.len(), 3);
    let text = render(&history, &tables::unit(&history), Format::Table).unwrap();
    insta::assert_snapshot!("unit_sn2", text);
    let err = unit_history(&source, "SN99", &Filter::default()).unwrap_err();
    assert_eq!(err.to_string(), "no unit \"SN99\" in the store");
}

#[test]
fn rejudge_widened_limits_changes_outcomes_not_the_store() {
    let (t, source) = open();
    let before = std::fs::read(&t.path).unwrap();
    let limits = RevisedLimits::parse(
        Path::new("revised.yaml"),
        "vbat: { low: 3.1, high: 3.42, unit: V }\ncurrent: { below: 500, unit: mA }\n",
    )
    .unwrap();
    let runs = source.runs(&Filter::default()).unwrap();
    let report = rejudge(&source, &runs, &limits, Dimension::All).unwrap();
    // SN4's 3.15 and 3.16, SN6's 3.41 and SN3's 3.18 now pass; SN2's 3.45 still fails.
    let changed: Vec<(&str, f64)> = report
        .measurements
        .iter()
        .map(|c| (c.serial.as_str(), c.value.unwrap()))
        .collect();
    assert_eq!(
        changed,
        [("SN4", 3.15), ("SN4", 3.16), ("SN6", 3.41), ("SN3", 3.18)]
    );
    // Their runs skipped the later step: what it would have said is unknown.
    assert!(report.runs.iter().all(|r| r.revised == Revised::Unknown));
    assert_eq!(report.runs.len(), 4);
    assert_eq!(report.not_judged, 0);
    assert!(report.unmatched.is_empty());
    let text = render(&report, &tables::rejudge(&report), Format::Table).unwrap();
    insta::assert_snapshot!("rejudge", text);
    drop(source);
    assert_eq!(
        std::fs::read(&t.path).unwrap(),
        before,
        "re-judging wrote to the store"
    );

    // Narrower limits turn passes into fails.
    let tight = RevisedLimits::parse(
        Path::new("tight.yaml"),
        "vbat: { low: 3.295, high: 3.4, unit: V }\nvbatt: { low: 3.0, unit: V }",
    )
    .unwrap();
    let source = SqliteSource::open(&t.path).unwrap();
    let report = rejudge(&source, &runs, &tight, Dimension::All).unwrap();
    let smoke_after = report
        .yield_after
        .iter()
        .find(|r| r.scenario == "smoke")
        .unwrap();
    // SN1 3.30, SN5 3.33 still pass first time; SN3 3.29 now fails.
    assert_eq!(smoke_after.first_pass, 2);
    assert_eq!(
        report.unmatched,
        ["vbatt"],
        "a typo is reported, not ignored"
    );
    assert!(
        report
            .runs
            .iter()
            .any(|r| r.serial == "SN3" && r.revised == Revised::Fail)
    );
}

#[test]
fn rejudge_rejects_bad_limits_with_the_reason() {
    let err = RevisedLimits::parse(
        Path::new("r.yaml"),
        "vbat: { low: 3.5, high: 3.1, unit: V }",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "limits file r.yaml: vbat: the lower limit 3.5 is above the upper limit 3.1"
    );
    let err = RevisedLimits::parse(Path::new("r.yaml"), "vbat: { lo: 3.5 }").unwrap_err();
    assert_eq!(
        err.to_string(),
        "limits file r.yaml is not a map of measurement name to limits"
    );
}

#[test]
fn retest_finds_units_passing_only_on_retest() {
    let (_t, source) = open();
    let runs = source.runs(&Filter::default()).unwrap();
    let report = retest(&runs);
    let serials: Vec<(&str, &str)> = report
        .passed_only_on_retest
        .iter()
        .map(|p| (p.serial.as_str(), p.scenario.as_str()))
        .collect();
    // SN3 smoke passed after an infrastructure error: not a retest of a device failure.
    assert_eq!(
        serials,
        [("SN2", "smoke"), ("SN3", "provisioning"), ("SN6", "smoke")]
    );
    // Retests: SN2, SN3 (after infra), SN4 (fail again), SN6, SN3 provisioning.
    assert_eq!((report.retests, report.retests_passed), (5, 4));
    let text = render(&report, &tables::retest(&report), Format::Table).unwrap();
    insta::assert_snapshot!("retest", text);
}

#[test]
fn json_output_is_the_typed_rows() {
    let (_t, source) = open();
    let runs = source.runs(&Filter::default()).unwrap();
    let report = yield_report(&runs, Dimension::Generation, &[]);
    let json = render(&report, &[], Format::Json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["by"], "generation");
    // Sorted by scenario, then group: provisioning gen3, smoke gen2, smoke gen3.
    assert_eq!(value["rows"][1]["scenario"], "smoke");
    assert_eq!(value["rows"][1]["group"], "gen2");
    assert_eq!(value["rows"][1]["first_pass_yield"], 0.5);
}
