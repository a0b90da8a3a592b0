//! rigor's model of the world it tests in: device profiles, rigs, instrument models, fixtures,
//! scenarios and station routes, read from YAML in passes (shape with positions → typed files → a checked catalog),
//! with every problem reported at its file, line, column and key path.

pub mod action;
pub mod catalog;
pub mod check;
pub mod check_roles;
pub mod check_route;
pub mod check_scenario;
pub mod check_step;
pub mod diagnostic;
pub mod discover;
pub mod duration;
pub mod expression;
pub mod fixture;
mod hints;
pub mod instrument;
pub mod keyed;
pub mod limits;
pub mod load;
pub mod parsed;
pub mod pattern;
pub mod profile;
mod read;
pub mod rig;
pub mod route;
pub mod scenario;
pub mod schema;
pub mod serial;
pub mod signing;
pub mod source;
pub mod step;
pub mod suggest;
pub mod unit;
pub mod value;

pub use catalog::Catalog;
pub use diagnostic::{Diagnostic, Diagnostics, Location, Origin};
pub use load::load_paths;
