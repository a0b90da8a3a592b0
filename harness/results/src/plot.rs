//! Plots with `plotters`, as SVG or PNG by the file's extension, or as SVG text for the HTML
//! report: a histogram with limits, marginal band and Cpk; an I-MR chart with rule violations;
//! yield over time; Pareto bars with the cumulative share.
//!
//! Text needs a TrueType font, read at run time so the crate ships none: `RIGOR_FONT`, else
//! DejaVu Sans or Liberation Sans where Debian, Fedora and Arch install them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::capability::CapabilityRow;
use crate::error::ResultsError;
use crate::pareto::ParetoRow;
use crate::spc::SpcChart;
use crate::yields::YieldRow;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a font with plotters once per process.
fn font() -> Result<(), ResultsError> {
    static FONT: OnceLock<bool> = OnceLock::new();
    let ok = *FONT.get_or_init(|| {
        let candidates = std::env::var_os("RIGOR_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps fonts for the life of the process; this one is loaded once.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    });
    if ok {
        Ok(())
    } else {
        Err(ResultsError::NoFont)
    }
}

/// A drawing error, boxed with the file it was for.
fn plot_err<E: std::error::Error + Send + Sync + 'static>(
    path: &Path,
) -> impl Fn(E) -> ResultsError {
    let path = path.to_owned();
    move |e| ResultsError::Plot {
        path: path.clone(),
        source: Box::new(e),
    }
}

type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// What to draw.
#[derive(Debug, Clone, Copy)]
pub enum Plot<'a> {
    /// Histogram of readings with the row's limits and Cpk, and the marginal band if any.
    Histogram {
        /// The readings.
        values: &'a [f64],
        /// Their capability row.
        row: &'a CapabilityRow,
    },
    /// I-MR chart with violations marked.
    ControlChart(&'a SpcChart),
    /// First-pass and final yield per group in order (days, shifts).
    YieldOverTime(&'a [YieldRow]),
    /// Pareto bars with the cumulative line.
    Pareto(&'a [ParetoRow]),
}

const SIZE: (u32, u32) = (960, 600);

impl Plot<'_> {
    /// Draws into `path`: SVG for `.svg`, PNG for `.png`.
    pub fn save(&self, path: &Path) -> Result<(), ResultsError> {
        font()?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => {
                let root = SVGBackend::new(path, SIZE).into_drawing_area();
                self.draw(&root).map_err(plot_err(path))?;
                root.present().map_err(plot_err(path))
            }
            Some("png") => {
                let root = BitMapBackend::new(path, SIZE).into_drawing_area();
                self.draw(&root).map_err(plot_err(path))?;
                root.present().map_err(plot_err(path))
            }
            _ => Err(ResultsError::PlotFormat(path.to_owned())),
        }
    }

    /// The plot as SVG text, for inlining in HTML.
    pub fn svg(&self) -> Result<String, ResultsError> {
        font()?;
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
            let here = Path::new("<inline svg>");
            self.draw(&root).map_err(plot_err(here))?;
            root.present().map_err(plot_err(here))?;
        }
        Ok(out)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        match *self {
            Plot::Histogram { values, row } => histogram(root, values, row),
            Plot::ControlChart(chart) => control_chart(root, chart),
            Plot::YieldOverTime(rows) => yield_over_time(root, rows),
            Plot::Pareto(rows) => pareto(root, rows),
        }
    }
}

fn histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    values: &[f64],
    row: &CapabilityRow,
) -> Drawn<DB> {
    let marginal = (row.marginal_low, row.marginal_high);
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let mut lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let mut hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for limit in [row.lsl, row.usl].into_iter().flatten() {
        lo = lo.min(limit);
        hi = hi.max(limit);
    }
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let (lo, hi) = (lo - pad, hi + pad);
    let bins = 40usize;
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0u32; bins];
    for v in &finite {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let unit = row.unit.clone().unwrap_or_default();
    let caption = format!(
        "{} ({} {}, fw {}): n = {}, Cpk {}, Ppk {}",
        row.measurement,
        row.generation,
        unit,
        row.firmware,
        row.n,
        row.cpk.map_or("-".to_owned(), |c| format!("{c:.2}")),
        row.ppk.map_or("-".to_owned(), |c| format!("{c:.2}")),
    );
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(lo..hi, 0u32..top + top / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc(unit)
        .y_desc("readings")
        .draw()?;
    // The marginal band: passing, but close to a limit.
    let band = RGBColor(255, 200, 0).mix(0.15);
    if let (Some(l), Some(m)) = (row.lsl, marginal.0) {
        chart.draw_series([Rectangle::new(
            [(l, 0), (m, top + top / 10 + 1)],
            band.filled(),
        )])?;
    }
    if let (Some(m), Some(u)) = (marginal.1, row.usl) {
        chart.draw_series([Rectangle::new(
            [(m, 0), (u, top + top / 10 + 1)],
            band.filled(),
        )])?;
    }
    chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
        let x0 = lo + i as f64 * width;
        Rectangle::new([(x0, 0), (x0 + width, c)], BLUE.mix(0.6).filled())
    }))?;
    for (limit, name) in [(row.lsl, "LSL"), (row.usl, "USL")] {
        if let Some(l) = limit {
            chart
                .draw_series(LineSeries::new(
                    [(l, 0), (l, top + top / 10 + 1)],
                    RED.stroke_width(2),
                ))?
                .label(format!("{name} {l}"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
        }
    }
    if let Some(m) = row.mean {
        chart
            .draw_series(LineSeries::new([(m, 0), (m, top)], BLACK.stroke_width(1)))?
            .label(format!("mean {m:.4}"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn control_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &SpcChart) -> Drawn<DB> {
    let (upper, lower) = root.split_vertically(SIZE.1 * 3 / 5);
    let n = c.points.len().max(2);
    let values = c.points.iter().map(|p| p.value);
    let lo = values.clone().fold(c.lcl, f64::min);
    let hi = values.fold(c.ucl, f64::max);
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let unit = c.unit.clone().unwrap_or_default();
    let mut chart = ChartBuilder::on(&upper)
        .caption(
            format!(
                "I-MR chart of {} ({} violations)",
                c.measurement,
                c.violations.len()
            ),
            ("sans-serif", 22),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0usize..n, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .y_desc(format!("individuals {unit}"))
        .draw()?;
    for (y, color) in [(c.ucl, RED), (c.center, GREEN), (c.lcl, RED)] {
        chart.draw_series(LineSeries::new([(0, y), (n, y)], color.stroke_width(1)))?;
    }
    chart.draw_series(LineSeries::new(
        c.points.iter().map(|p| (p.index, p.value)),
        BLUE,
    ))?;
    chart.draw_series(
        c.points
            .iter()
            .map(|p| Circle::new((p.index, p.value), 2, BLUE.filled())),
    )?;
    chart.draw_series(
        c.violations
            .iter()
            .map(|v| Circle::new((v.index, v.value), 5, RED.stroke_width(2))),
    )?;
    let mr_top = c
        .points
        .iter()
        .filter_map(|p| p.moving_range)
        .fold(c.mr_ucl, f64::max)
        * 1.1;
    let mut mr = ChartBuilder::on(&lower)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0usize..n, 0.0..mr_top.max(1e-9))?;
    mr.configure_mesh()
        .x_desc("reading")
        .y_desc("moving range")
        .draw()?;
    for (y, color) in [(c.mr_ucl, RED), (c.mr_center, GREEN)] {
        mr.draw_series(LineSeries::new([(0, y), (n, y)], color.stroke_width(1)))?;
    }
    mr.draw_series(LineSeries::new(
        c.points
            .iter()
            .filter_map(|p| p.moving_range.map(|m| (p.index, m))),
        BLUE,
    ))?;
    Ok(())
}

fn yield_over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[YieldRow],
) -> Drawn<DB> {
    let n = rows.len().max(1);
    let lo = rows
        .iter()
        .flat_map(|r| [r.first_pass_yield, r.final_yield])
        .flatten()
        .fold(1.0f64, f64::min);
    let lo = (lo - 0.05).max(0.0);
    let labels: Vec<String> = rows.iter().map(|r| r.group.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption("yield over time", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0usize..n.saturating_sub(1).max(1), (lo * 100.0)..100.5)?;
    chart
        .configure_mesh()
        .x_labels(n.min(12))
        .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
        .y_desc("%")
        .draw()?;
    let series = |pick: fn(&YieldRow) -> Option<f64>| {
        rows.iter()
            .enumerate()
            .filter_map(move |(i, r)| pick(r).map(|y| (i, y * 100.0)))
    };
    chart
        // Each period also gets a mark: a lot of one day is one point, which a line alone
        // would not show.
        .draw_series(
            LineSeries::new(series(|r| r.first_pass_yield), BLUE.stroke_width(2)).point_size(4),
        )?
        .label("first-pass yield")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
    chart
        .draw_series(
            LineSeries::new(series(|r| r.final_yield), GREEN.stroke_width(2)).point_size(3),
        )?
        .label("final yield")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], GREEN));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn pareto<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, rows: &[ParetoRow]) -> Drawn<DB> {
    let n = rows.len().max(1);
    let top = rows.iter().map(|r| r.count).max().unwrap_or(1).max(1);
    let labels: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption("failures (Pareto)", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .right_y_label_area_size(50)
        .build_cartesian_2d(
            (0usize..n.saturating_sub(1)).into_segmented(),
            0u64..top + top / 10 + 1,
        )?
        .set_secondary_coord((0usize..n.saturating_sub(1)).into_segmented(), 0.0..100.0);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(20) + 1)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("failures")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("cumulative %")
        .draw()?;
    chart.draw_series(rows.iter().enumerate().map(|(i, r)| {
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0),
                (SegmentValue::Exact(i + 1), r.count),
            ],
            BLUE.mix(0.6).filled(),
        );
        bar.set_margin(0, 0, 6, 6);
        bar
    }))?;
    let cumulative = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (SegmentValue::CenterOf(i), r.cumulative * 100.0));
    chart.draw_secondary_series(LineSeries::new(cumulative.clone(), RED.stroke_width(2)))?;
    chart.draw_secondary_series(cumulative.map(|p| Circle::new(p, 4, RED.filled())))?;
    Ok(())
}
