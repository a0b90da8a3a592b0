//! Exports for tools rigor did not write: STDF V4 for yield-management systems, CSV for JMP and
//! Minitab.

mod csv;
mod stdf;

pub use csv::{CsvSummary, export_csv};
pub use stdf::{Bin, StdfOptions, StdfSummary, export_stdf};
