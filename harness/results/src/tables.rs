//! Each view's rows as text tables (see [`crate::render`]).

use crate::capability::{CapabilityRow, MIN_N};
use crate::pareto::ParetoRow;
use crate::rejudge::RejudgeReport;
use crate::render::{Table, exact, num, percent};
use crate::retest::RetestReport;
use crate::spc::SpcChart;
use crate::timefmt;
use crate::unit::Attempt;
use crate::yields::{YieldReport, YieldRow};

fn yield_table(title: &str, group: &str, rows: &[YieldRow]) -> Table {
    let mut t = Table::new(
        title,
        &[
            "scenario",
            group,
            "units",
            "judged",
            "first_pass",
            "final_pass",
            "fpy",
            "final",
            "infra_runs",
            "unjudged",
        ],
    );
    for r in rows {
        t.row(vec![
            r.scenario.clone(),
            r.group.clone(),
            r.units.to_string(),
            r.judged.to_string(),
            r.first_pass.to_string(),
            r.final_pass.to_string(),
            percent(r.first_pass_yield),
            percent(r.final_yield),
            r.infrastructure_runs.to_string(),
            r.unjudged.to_string(),
        ]);
    }
    t
}

/// The yield view's tables.
pub fn yields(report: &YieldReport) -> Vec<Table> {
    let mut t = yield_table("", report.by.name(), &report.rows);
    t.notes.push(
        "fpy = units whose first device-judged attempt passed / judged units; infrastructure \
         failures are counted in infra_runs, never against the device"
            .to_owned(),
    );
    let mut tables = vec![t];
    if let Some(first) = report.rolled.first() {
        let mut headers = vec![report.by.name().to_owned()];
        headers.extend(first.chain.iter().map(|s| format!("fpy {s}")));
        headers.push("rty".to_owned());
        let mut r = Table {
            title: format!("rolled throughput yield over {}", first.chain.join(" → ")),
            headers,
            ..Table::default()
        };
        for row in &report.rolled {
            let mut cells = vec![row.group.clone()];
            cells.extend(row.first_pass_yields.iter().map(|y| percent(*y)));
            cells.push(percent(row.rolled_throughput_yield));
            r.row(cells);
        }
        tables.push(r);
    }
    tables
}

/// The Pareto view's table.
pub fn pareto(rows: &[ParetoRow]) -> Vec<Table> {
    let mut t = Table::new("", &["failure", "count", "share", "cumulative"]);
    for r in rows {
        t.row(vec![
            r.key.clone(),
            r.count.to_string(),
            percent(Some(r.share)),
            percent(Some(r.cumulative)),
        ]);
    }
    vec![t]
}

/// The capability view's table.
pub fn capability(rows: &[CapabilityRow]) -> Vec<Table> {
    let mut t = Table::new(
        "",
        &[
            "measurement",
            "generation",
            "firmware",
            "limits",
            "unit",
            "lsl",
            "usl",
            "n",
            "mean",
            "σ_overall",
            "σ_within",
            "cp",
            "cpk",
            "±cpk95",
            "pp",
            "ppk",
            "obs_out",
            "exp_out",
            "flag",
        ],
    );
    let mut flagged = false;
    for r in rows {
        flagged |= r.warning.is_some();
        t.row(vec![
            r.measurement.clone(),
            r.generation.clone(),
            r.firmware.clone(),
            r.limits.clone(),
            r.unit.clone().unwrap_or_else(|| "-".to_owned()),
            exact(r.lsl),
            exact(r.usl),
            r.n.to_string(),
            num(r.mean, 4),
            num(r.sigma_overall, 4),
            num(r.sigma_within, 4),
            num(r.cp, 2),
            num(r.cpk, 2),
            num(r.cpk_ci95, 2),
            num(r.pp, 2),
            num(r.ppk, 2),
            percent(Some(r.observed_outside)),
            percent(r.expected_outside),
            if r.warning.is_some() { "!" } else { "" }.to_owned(),
        ]);
    }
    if flagged {
        t.notes.push(format!(
            "! = do not trust: n below {MIN_N} (at n = 30 a Cpk of 1.33 is known only to ±0.36), \
             no limits, or no spread; --format json says which"
        ));
    }
    vec![t]
}

/// The control chart's tables: limits, then violations.
pub fn spc(chart: &SpcChart) -> Vec<Table> {
    let unit = chart.unit.clone().unwrap_or_default();
    let mut limits = Table::new(
        format!(
            "I-MR chart of {} ({} readings)",
            chart.measurement,
            chart.points.len()
        ),
        &["chart", "lcl", "center", "ucl", "unit"],
    );
    limits.row(vec![
        "individuals".to_owned(),
        num(Some(chart.lcl), 4),
        num(Some(chart.center), 4),
        num(Some(chart.ucl), 4),
        unit.clone(),
    ]);
    limits.row(vec![
        "moving range".to_owned(),
        num(Some(0.0), 4),
        num(Some(chart.mr_center), 4),
        num(Some(chart.mr_ucl), 4),
        unit,
    ]);
    let mut v = Table::new(
        format!("Western Electric violations ({})", chart.violations.len()),
        &["point", "run", "serial", "value", "rule"],
    );
    for x in &chart.violations {
        v.row(vec![
            x.index.to_string(),
            x.run_id.to_string(),
            x.serial.clone(),
            num(Some(x.value), 4),
            x.rule.describe().to_owned(),
        ]);
    }
    vec![limits, v]
}

/// A unit's history as one table: a line per measurement (and per attempt without any).
pub fn unit(history: &[Attempt]) -> Vec<Table> {
    let mut t = Table::new(
        "",
        &[
            "started",
            "scenario",
            "attempt",
            "station",
            "fixture",
            "firmware",
            "operator",
            "outcome",
            "step",
            "measurement",
            "value",
            "limits",
            "verdict",
        ],
    );
    for a in history {
        let r = &a.run;
        let outcome = match r.failure_class {
            Some(c) => format!("{} ({c})", r.status),
            None => r.status.to_string(),
        };
        let head = vec![
            timefmt::instant(r.started_at_us),
            r.scenario.to_string(),
            r.attempt.to_string(),
            r.station.to_string(),
            r.fixture.as_deref().unwrap_or("-").to_owned(),
            r.firmware.as_deref().unwrap_or("-").to_owned(),
            r.operator.to_string(),
            outcome,
        ];
        if a.steps.is_empty() && a.measurements.is_empty() {
            let mut cells = head.clone();
            cells.extend(["-", "-", "-", "-", "-"].map(str::to_owned));
            t.row(cells);
        }
        for s in &a.steps {
            let ms: Vec<_> = a
                .measurements
                .iter()
                .filter(|m| m.step_index == s.index)
                .collect();
            let step = format!("{} {}", s.step_id, s.outcome);
            if ms.is_empty() {
                let mut cells = head.clone();
                cells.extend([step.clone(), "-".into(), "-".into(), "-".into(), "-".into()]);
                t.row(cells);
            }
            for m in ms {
                let value = match (m.value, &m.text_value) {
                    (Some(v), _) => format!("{v} {}", m.unit.as_deref().unwrap_or(""))
                        .trim()
                        .to_owned(),
                    (None, Some(text)) => text.clone(),
                    (None, None) => "-".to_owned(),
                };
                let verdict = if m.marginal {
                    "pass (marginal)".to_owned()
                } else {
                    m.outcome.to_string()
                };
                let mut cells = head.clone();
                cells.extend([
                    step.clone(),
                    m.name.to_string(),
                    value,
                    m.describe_limits(),
                    verdict,
                ]);
                t.row(cells);
            }
        }
        for art in &a.artifacts {
            t.notes.push(format!(
                "run {} transcript {} ({}, {} bytes, sha256 {})",
                art.run_id, art.name, art.media_type, art.size, art.sha256
            ));
        }
    }
    vec![t]
}

/// The re-judging view's tables: changed measurements, changed attempts, yield before/after.
pub fn rejudge(report: &RejudgeReport) -> Vec<Table> {
    let mut m = Table::new(
        format!(
            "measurements that change verdict ({})",
            report.measurements.len()
        ),
        &[
            "serial",
            "scenario",
            "attempt",
            "measurement",
            "value",
            "recorded limits",
            "was",
            "revised limits",
            "now",
        ],
    );
    for c in &report.measurements {
        m.row(vec![
            c.serial.clone(),
            c.scenario.clone(),
            c.attempt.to_string(),
            c.measurement.clone(),
            format!("{} {}", exact(c.value), c.unit.as_deref().unwrap_or(""))
                .trim()
                .to_owned(),
            c.recorded_limits.clone(),
            c.recorded.to_string(),
            c.revised_limits.clone(),
            c.revised.to_string(),
        ]);
    }
    if report.not_judged > 0 {
        m.notes.push(format!(
            "{} readings of revised measurements kept their verdict: their unit does not convert",
            report.not_judged
        ));
    }
    if !report.unmatched.is_empty() {
        m.notes.push(format!(
            "not recorded in the selected runs: {}",
            report.unmatched.join(", ")
        ));
    }
    let mut r = Table::new(
        format!("attempts that change outcome ({})", report.runs.len()),
        &["serial", "scenario", "attempt", "run", "was", "now"],
    );
    for c in &report.runs {
        r.row(vec![
            c.serial.clone(),
            c.scenario.clone(),
            c.attempt.to_string(),
            c.run_id.to_string(),
            c.recorded.to_string(),
            serde_json::to_value(c.revised)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ]);
    }
    r.notes
        .push("recorded verdicts are unchanged in the store: this is a what-if".to_owned());
    let mut y = Table::new(
        "yield before → after",
        &[
            "scenario",
            "group",
            "fpy before",
            "fpy after",
            "final before",
            "final after",
        ],
    );
    for (b, a) in report.yield_before.iter().zip(&report.yield_after) {
        y.row(vec![
            b.scenario.clone(),
            b.group.clone(),
            percent(b.first_pass_yield),
            percent(a.first_pass_yield),
            percent(b.final_yield),
            percent(a.final_yield),
        ]);
    }
    vec![m, r, y]
}

/// The retest view's tables.
pub fn retest(report: &RetestReport) -> Vec<Table> {
    let mut s = Table::new("", &["retests", "passed", "retest_pass_rate"]);
    s.row(vec![
        report.retests.to_string(),
        report.retests_passed.to_string(),
        percent(report.retest_pass_rate),
    ]);
    let mut u = Table::new(
        format!(
            "passed only on retest, no repair recorded ({})",
            report.passed_only_on_retest.len()
        ),
        &["serial", "scenario", "passed_at_attempt", "failures_before"],
    );
    for p in &report.passed_only_on_retest {
        u.row(vec![
            p.serial.clone(),
            p.scenario.clone(),
            p.passed_at_attempt.to_string(),
            p.failures_before.to_string(),
        ]);
    }
    u.notes
        .push("the store has no repair records yet: every such unit is listed".to_owned());
    let mut p = Table::new(
        "failures that pass on retest, by place",
        &[
            "kind",
            "name",
            "failures_retested",
            "passed_on_retest",
            "rate",
        ],
    );
    for r in &report.by_place {
        p.row(vec![
            r.kind.to_owned(),
            r.name.clone(),
            r.failures_retested.to_string(),
            r.passed_on_retest.to_string(),
            percent(r.retest_pass_rate),
        ]);
    }
    vec![s, u, p]
}
