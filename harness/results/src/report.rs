//! One self-contained HTML page for a lot or a date range: yield, Pareto, capability and
//! control charts, plots inline as SVG, no external assets, so it can be mailed to a supplier.

use std::fmt::Write as _;

use crate::capability::{capability, readings_of};
use crate::error::ResultsError;
use crate::pareto::{ParetoBy, pareto};
use crate::plot::Plot;
use crate::render::Table;
use crate::rows::Runs;
use crate::source::Source;
use crate::spc::spc;
use crate::tables;
use crate::yields::{Dimension, yield_report};

/// How many of the least capable measurements get a histogram.
const HISTOGRAMS: usize = 6;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html_table(out: &mut String, table: &Table) {
    if !table.title.is_empty() {
        let _ = writeln!(out, "<h3>{}</h3>", escape(&table.title));
    }
    out.push_str("<table><tr>");
    for h in &table.headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    for note in &table.notes {
        let _ = writeln!(out, "<p class=note>{}</p>", escape(note));
    }
}

/// The report over `runs`; `title` names the lot or range, `generated` says when (the caller's
/// clock, so the page can be reproduced).
pub fn html_report(
    source: &dyn Source,
    runs: &Runs,
    title: &str,
    generated: &str,
) -> Result<String, ResultsError> {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>{t}</title><style>\
         body{{font-family:sans-serif;margin:2em;max-width:1100px}}\
         table{{border-collapse:collapse;margin:1em 0;font-size:90%}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}\
         th{{background:#eee}}td:first-child{{text-align:left}}\
         .note{{color:#555;font-size:85%}}svg{{max-width:100%;height:auto}}\
         </style></head><body>\n<h1>{t}</h1>\n<p>{} attempts; generated {}</p>\n",
        runs.len(),
        escape(generated),
        t = escape(title),
    );

    out.push_str("<h2>Yield</h2>\n");
    let by_generation = yield_report(runs, Dimension::Generation, &[]);
    for t in tables::yields(&by_generation) {
        html_table(&mut out, &t);
    }
    let by_day = yield_report(runs, Dimension::Day, &[]);
    let mut scenarios: Vec<&str> = by_day.rows.iter().map(|r| r.scenario.as_str()).collect();
    scenarios.dedup();
    for scenario in scenarios {
        let rows: Vec<_> = by_day
            .rows
            .iter()
            .filter(|r| r.scenario == scenario)
            .cloned()
            .collect();
        let _ = writeln!(out, "<h3>{} per day</h3>", escape(scenario));
        out.push_str(&Plot::YieldOverTime(&rows).svg()?);
    }

    out.push_str("<h2>Failures</h2>\n");
    for by in [ParetoBy::Measurement, ParetoBy::Class] {
        let rows = pareto(source, runs, by)?;
        if rows.is_empty() {
            continue;
        }
        html_table(&mut out, &tables::pareto(&rows)[0]);
        out.push_str(&Plot::Pareto(&rows).svg()?);
    }

    out.push_str("<h2>Capability</h2>\n");
    let rows = capability(source, runs, None)?;
    for t in tables::capability(&rows) {
        html_table(&mut out, &t);
    }
    let mut worst: Vec<_> = rows.iter().filter(|r| r.cpk.is_some()).collect();
    worst.sort_by(|a, b| {
        a.cpk
            .partial_cmp(&b.cpk)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for row in worst.iter().take(HISTOGRAMS) {
        let values = readings_of(source, runs, row)?;
        out.push_str(
            &Plot::Histogram {
                values: &values,
                row,
            }
            .svg()?,
        );
    }

    if let Some(row) = worst.first() {
        out.push_str("<h2>Control chart of the least capable measurement</h2>\n");
        if let Some(chart) = spc(source, runs, &row.measurement)? {
            for t in tables::spc(&chart) {
                html_table(&mut out, &t);
            }
            out.push_str(&Plot::ControlChart(&chart).svg()?);
        }
    }
    out.push_str("</body></html>\n");
    Ok(out)
}
