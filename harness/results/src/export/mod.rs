//! Exports for tools rigor did not write: STDF V4 for yield-management systems, CSV for JMP and
//! Minitab, OpenHTF JSON for OpenHTF's viewers and pipelines.

mod csv;
mod openhtf;
mod stdf;

pub use csv::{CsvSummary, export_csv};
pub use openhtf::{export_openhtf, openhtf_record};
pub use stdf::{Bin, StdfOptions, StdfSummary, export_stdf};
