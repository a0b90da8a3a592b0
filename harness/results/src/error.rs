//! The crate's one error type.

use std::path::PathBuf;

/// Why an analyst query, plot or export failed. Messages are lowercase fragments; the CLI prints
/// the source chain after them.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The store file could not be opened read-only.
    #[error("cannot open store {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A query against the store failed.
    #[error("store query failed")]
    Query(#[from] rusqlite::Error),
    /// A store of another kind (the central PostgreSQL store) could not answer.
    #[error("cannot read {store}")]
    Foreign {
        /// The store, without credentials.
        store: String,
        /// Why, as that store's crate says it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A store row holds a value of an unexpected type (a file not written by rigor's schema).
    #[error("store row has an unexpected value")]
    Decode(#[from] rusqlite::types::FromSqlError),
    /// A filter value could not be understood.
    #[error("invalid filter {field} {value:?}: expected {expected}")]
    Filter {
        /// Which filter.
        field: &'static str,
        /// What was given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A view needs an argument that was not given.
    #[error("{view} needs {what}")]
    Missing {
        /// The view.
        view: &'static str,
        /// The missing argument.
        what: &'static str,
    },
    /// No unit with this serial is in the store.
    #[error("no unit {0:?} in the store")]
    UnknownUnit(String),
    /// A revised-limits file could not be read.
    #[error("cannot read limits file {path}")]
    LimitsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A revised-limits file is not a map of measurement names to limits.
    #[error("limits file {path} is not a map of measurement name to limits")]
    LimitsParse {
        /// The file.
        path: PathBuf,
        /// The YAML error, with its line and column.
        #[source]
        source: yaml_serde::Error,
    },
    /// A revised limit cannot be applied.
    #[error("limits file {path}: {measurement}: {reason}")]
    LimitsInvalid {
        /// The file.
        path: PathBuf,
        /// The measurement whose limits are wrong.
        measurement: String,
        /// What is wrong with them.
        reason: String,
    },
    /// Writing an output failed.
    #[error("cannot write {what}")]
    Write {
        /// What was being written.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Encoding JSON failed.
    #[error("cannot encode json")]
    Json(#[from] serde_json::Error),
    /// The STDF writer refused a record. rust-stdf's error type does not implement
    /// `std::error::Error`, so its kind and text are kept here instead of as a source.
    #[error("cannot write stdf record {record}: {message} ({kind:?})")]
    Stdf {
        /// The record type.
        record: &'static str,
        /// rust-stdf's category.
        kind: rust_stdf::StdfErrorKind,
        /// rust-stdf's text.
        message: String,
    },
    /// Drawing a plot failed.
    #[error("cannot draw plot {path}")]
    Plot {
        /// The output file.
        path: PathBuf,
        /// What plotters said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// PNG text needs a TrueType font, and none was found.
    #[error("no TrueType font for PNG text: set RIGOR_FONT to a .ttf file (SVG plots need none)")]
    NoFont,
    /// The plot's file name has no known extension.
    #[error("plot file {0} must end in .svg or .png")]
    PlotFormat(PathBuf),
}
