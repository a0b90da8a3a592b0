//! `rigor results`: the analyst views of `rigor-results` on the command line. Arguments only;
//! every number comes from the library.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use rigor_central::{CentralConfig, CentralSource};
use rigor_results::export::{StdfOptions, export_csv, export_openhtf, export_stdf};
use rigor_results::plot::Plot;
use rigor_results::render::{Format, render};
use rigor_results::{
    Dimension, Filter, ParetoBy, ResultsError, RevisedLimits, Runs, Source, SqliteSource,
    capability, html_report, pareto, readings_of, rejudge, retest, spc, tables, unit_history,
    yield_report,
};

use crate::exit_code;

/// `rigor results <view>`.
#[derive(Debug, Args)]
pub struct ResultsArgs {
    #[command(subcommand)]
    view: View,
}

#[derive(Debug, Subcommand)]
enum View {
    /// First-pass, final and rolled throughput yield; infrastructure failures apart.
    Yield {
        #[command(flatten)]
        common: Common,
        /// Group by.
        #[arg(long, value_enum, default_value = "all")]
        by: By,
        /// Scenarios in order for rolled throughput yield: `--chain smoke,provisioning`.
        #[arg(long, value_delimiter = ',')]
        chain: Vec<String>,
    },
    /// Failures by measurement, step or failure class, with cumulative share.
    Pareto {
        #[command(flatten)]
        common: Common,
        /// Count failures by.
        #[arg(long, value_enum, default_value = "measurement")]
        by: ParetoArg,
    },
    /// Cp, Cpk, Pp, Ppk per measurement × generation × firmware × limit set.
    Capability {
        #[command(flatten)]
        common: Common,
        /// Only this measurement.
        #[arg(long)]
        measurement: Option<String>,
    },
    /// Individuals and moving-range chart with Western Electric rule violations.
    Spc {
        #[command(flatten)]
        common: Common,
        /// The measurement to chart.
        #[arg(long)]
        measurement: String,
    },
    /// Every attempt of one unit: steps, measurements against limits, transcripts.
    Unit {
        /// The unit's serial.
        #[arg(value_name = "SERIAL")]
        unit: String,
        #[command(flatten)]
        common: Common,
    },
    /// What-if: recorded values against revised limits (the store is not changed).
    Rejudge {
        #[command(flatten)]
        common: Common,
        /// Revised limits: measurement name → limits, as in a scenario.
        #[arg(long, value_name = "FILE")]
        limits: PathBuf,
        /// Group the before/after yield by.
        #[arg(long, value_enum, default_value = "all")]
        by: By,
    },
    /// Retest pass rates, units passing only on retest, places whose failures pass on retest.
    Retest {
        #[command(flatten)]
        common: Common,
    },
    /// One self-contained HTML page with yield, Pareto, capability and control charts.
    Report {
        #[command(flatten)]
        store: StoreArgs,
        /// The page to write.
        #[arg(long, value_name = "FILE")]
        html: PathBuf,
        /// The page's title (the lot or range).
        #[arg(long, default_value = "rigor results")]
        title: String,
    },
    /// Export for other tools: STDF V4, CSV (FILE and FILE's `.limits.csv` beside it), or OpenHTF
    /// JSON (one file per attempt in the folder FILE).
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// File format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Output file.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// STDF lot id.
        #[arg(long, default_value = "")]
        lot: String,
    },
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// The store: a station's SQLite file, or the central store's `postgres://` URL (its
    /// password from the URL, `--password-file` or RIGOR_CENTRAL_PASSWORD).
    #[arg(long, value_name = "PATH|URL")]
    store: String,
    /// With a `postgres://` store: a file holding the password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[arg(long)]
    /// Only this scenario.
    scenario: Option<String>,
    /// Only this family.
    #[arg(long)]
    family: Option<String>,
    /// Only this generation.
    #[arg(long)]
    generation: Option<String>,
    /// Only this firmware version.
    #[arg(long)]
    firmware: Option<String>,
    /// Only this station.
    #[arg(long)]
    station: Option<String>,
    /// Only this rig.
    #[arg(long)]
    rig: Option<String>,
    /// Only this fixture.
    #[arg(long)]
    fixture: Option<String>,
    /// Only this limit set (SHA-256 or a prefix).
    #[arg(long = "limit-set", value_name = "SHA256")]
    limit_set: Option<String>,
    /// Runs started at or after (2026-03-01 or RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Runs started before (2026-03-01 or RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Serial pattern, `*` and `?` wildcards.
    #[arg(long, value_name = "PATTERN")]
    serial: Option<String>,
}

#[derive(Debug, Args)]
struct Common {
    #[command(flatten)]
    store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: FormatArg,
    /// Also draw the view's plot (.svg or .png).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    Stdf,
    Csv,
    /// One OpenHTF JSON record per attempt, in the folder `-o` names.
    OpenhtfJson,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ParetoArg {
    Measurement,
    Step,
    Class,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum By {
    All,
    Family,
    Generation,
    Firmware,
    Station,
    Rig,
    Fixture,
    Limits,
    Day,
    Shift,
}

impl By {
    fn dimension(self) -> Dimension {
        match self {
            By::All => Dimension::All,
            By::Family => Dimension::Family,
            By::Generation => Dimension::Generation,
            By::Firmware => Dimension::Firmware,
            By::Station => Dimension::Station,
            By::Rig => Dimension::Rig,
            By::Fixture => Dimension::Fixture,
            By::Limits => Dimension::Limits,
            By::Day => Dimension::Day,
            By::Shift => Dimension::Shift,
        }
    }
}

impl StoreArgs {
    fn open(&self) -> Result<(Box<dyn Source>, Runs), ResultsError> {
        let filter = self.filter()?;
        let source = self.source()?;
        let runs = source.runs(&filter)?;
        Ok((source, runs))
    }

    /// The station's file, or the central store when the store is a PostgreSQL URL.
    fn source(&self) -> Result<Box<dyn Source>, ResultsError> {
        if !(self.store.starts_with("postgres://") || self.store.starts_with("postgresql://")) {
            return Ok(Box::new(SqliteSource::open(&self.store)?));
        }
        let central =
            CentralConfig::from_url_and_secret(&self.store, self.password_file.as_deref())
                .and_then(|config| CentralSource::connect(&config));
        match central {
            Ok(source) => Ok(Box::new(source)),
            Err(e) => Err(ResultsError::Foreign {
                store: "the central store".to_owned(),
                source: Box::new(e),
            }),
        }
    }

    fn filter(&self) -> Result<Filter, ResultsError> {
        let instant = |field, v: &Option<String>| {
            v.as_deref()
                .map(|t| Filter::parse_instant(field, t))
                .transpose()
        };
        Ok(Filter {
            scenario: self.scenario.clone(),
            family: self.family.clone(),
            generation: self.generation.clone(),
            firmware: self.firmware.clone(),
            station: self.station.clone(),
            rig: self.rig.clone(),
            fixture: self.fixture.clone(),
            limits: self.limit_set.clone(),
            since_us: instant("since", &self.since)?,
            until_us: instant("until", &self.until)?,
            serial: self.serial.clone(),
        })
    }
}

impl Common {
    fn format(&self) -> Format {
        match self.format {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
        }
    }
}

/// Runs a view; prints its output to stdout and errors (with their causes) to stderr.
pub fn run(args: ResultsArgs) -> i32 {
    match view(args.view) {
        Ok(()) => exit_code::SUCCESS,
        Err(e) => {
            let mut text = format!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!("\n  caused by: {cause}"));
                source = cause.source();
            }
            eprintln!("{text}");
            match e {
                ResultsError::Foreign { .. } => exit_code::CENTRAL,
                _ => exit_code::INVALID_INPUT,
            }
        }
    }
}

/// Prints a view's text; a reader that closed the pipe early (`| head`) is not an error.
fn emit(text: &str) -> Result<(), ResultsError> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.map_err(|source| ResultsError::Write {
            what: "standard output".to_owned(),
            source,
        }),
    }
}

fn no_plot(view: &'static str, plot: &Option<PathBuf>) -> Result<(), ResultsError> {
    match plot {
        Some(_) => Err(ResultsError::Missing {
            view,
            what: "no --plot: it has no chart (yield, pareto, capability and spc do)",
        }),
        None => Ok(()),
    }
}

fn save(plot: &Option<PathBuf>, draw: Plot<'_>) -> Result<(), ResultsError> {
    if let Some(path) = plot {
        draw.save(path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn write(path: &Path, what: &str) -> Result<std::io::BufWriter<std::fs::File>, ResultsError> {
    std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .map_err(|source| ResultsError::Write {
            what: format!("{what} {}", path.display()),
            source,
        })
}

fn view(view: View) -> Result<(), ResultsError> {
    match view {
        View::Yield { common, by, chain } => {
            let (filter, source) = (common.store.filter()?, common.store.source()?);
            // The store's summary cache answers without reading every run where it can.
            let report = match source.summary(&filter)? {
                Some(summary) => summary.yield_report(by.dimension(), &chain),
                None => yield_report(&source.runs(&filter)?, by.dimension(), &chain),
            };
            emit(&render(&report, &tables::yields(&report), common.format())?)?;
            save(&common.plot, Plot::YieldOverTime(&report.rows))
        }
        View::Pareto { common, by } => {
            let (source, runs) = common.store.open()?;
            let by = match by {
                ParetoArg::Measurement => ParetoBy::Measurement,
                ParetoArg::Step => ParetoBy::Step,
                ParetoArg::Class => ParetoBy::Class,
            };
            let rows = pareto(&*source, &runs, by)?;
            emit(&render(&rows, &tables::pareto(&rows), common.format())?)?;
            save(&common.plot, Plot::Pareto(&rows))
        }
        View::Capability {
            common,
            measurement,
        } => {
            let (filter, source) = (common.store.filter()?, common.store.source()?);
            let rows = match source.summary(&filter)? {
                Some(summary) => summary.capability(measurement.as_deref()),
                None => capability(&*source, &source.runs(&filter)?, measurement.as_deref())?,
            };
            emit(&render(&rows, &tables::capability(&rows), common.format())?)?;
            // The least capable row is the one worth looking at; without any Cpk, the first.
            let worst = rows
                .iter()
                .filter(|r| r.cpk.is_some())
                .min_by(|a, b| {
                    a.cpk
                        .partial_cmp(&b.cpk)
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .or_else(|| rows.iter().find(|r| r.n > 0));
            match (worst, &common.plot) {
                (Some(row), Some(_)) => {
                    let values = readings_of(&*source, &source.runs(&filter)?, row)?;
                    save(
                        &common.plot,
                        Plot::Histogram {
                            values: &values,
                            row,
                        },
                    )
                }
                (None, Some(_)) => Err(ResultsError::Missing {
                    view: "capability --plot",
                    what: "a numeric reading in the selection",
                }),
                _ => Ok(()),
            }
        }
        View::Spc {
            common,
            measurement,
        } => {
            let (source, runs) = common.store.open()?;
            let chart = spc(&*source, &runs, &measurement)?.ok_or(ResultsError::Missing {
                view: "spc",
                what: "at least two numeric readings of the measurement",
            })?;
            emit(&render(&chart, &tables::spc(&chart), common.format())?)?;
            save(&common.plot, Plot::ControlChart(&chart))
        }
        View::Unit { unit, common } => {
            no_plot("unit", &common.plot)?;
            let source = common.store.source()?;
            let history = unit_history(&*source, &unit, &common.store.filter()?)?;
            emit(&render(&history, &tables::unit(&history), common.format())?)?;
            Ok(())
        }
        View::Rejudge { common, limits, by } => {
            no_plot("rejudge", &common.plot)?;
            let limits = RevisedLimits::load(&limits)?;
            let (source, runs) = common.store.open()?;
            let report = rejudge(&*source, &runs, &limits, by.dimension())?;
            emit(&render(
                &report,
                &tables::rejudge(&report),
                common.format(),
            )?)?;
            Ok(())
        }
        View::Retest { common } => {
            no_plot("retest", &common.plot)?;
            let (_, runs) = common.store.open()?;
            let report = retest(&runs);
            emit(&render(&report, &tables::retest(&report), common.format())?)?;
            Ok(())
        }
        View::Report { store, html, title } => {
            let (source, runs) = store.open()?;
            let generated = rigor_store::Timestamp::now().as_micros();
            let page = html_report(&*source, &runs, &title, &format!("{generated} µs"))?;
            std::fs::write(&html, page).map_err(|source| ResultsError::Write {
                what: format!("report {}", html.display()),
                source,
            })?;
            println!("wrote {}", html.display());
            Ok(())
        }
        View::Export {
            store,
            format,
            output,
            lot,
        } => {
            let (source, runs) = store.open()?;
            match format {
                ExportFormat::Stdf => {
                    let out = write(&output, "stdf")?;
                    let s = export_stdf(&*source, &runs, &StdfOptions { lot_id: lot }, out)?;
                    println!(
                        "wrote {}: {} unit attempts, {} PTRs, {} records",
                        output.display(),
                        s.parts,
                        s.ptrs,
                        s.records
                    );
                }
                ExportFormat::OpenhtfJson => {
                    let n = export_openhtf(&*source, &runs, &output)?;
                    println!("wrote {n} OpenHTF records into {}", output.display());
                }
                ExportFormat::Csv => {
                    let limits_path = output.with_extension("limits.csv");
                    let s = export_csv(
                        &*source,
                        &runs,
                        write(&output, "csv")?,
                        write(&limits_path, "csv")?,
                    )?;
                    println!(
                        "wrote {} ({} rows) and {} ({} limits)",
                        output.display(),
                        s.rows,
                        limits_path.display(),
                        s.limits
                    );
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        Results(ResultsArgs),
    }

    /// Regression: the `unit` view's positional serial and the `--serial` filter shared one
    /// argument id, which clap only reports when the subcommand is parsed.
    #[test]
    fn every_view_parses() {
        Cli::command().debug_assert();
        for args in [
            "rigor results yield --store s.db --by station --chain smoke,provisioning",
            "rigor results unit FC2-000202 --store s.db --serial 'FC2-*'",
            "rigor results rejudge --store s.db --limits l.yaml --format json",
            "rigor results export --store s.db --format stdf -o x.stdf --since 2026-03-01",
        ] {
            let argv: Vec<&str> = args.split(' ').collect();
            assert!(Cli::try_parse_from(argv).is_ok(), "{args}");
        }
    }
}
