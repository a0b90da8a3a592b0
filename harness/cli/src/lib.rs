//! The `rigor` command: argument parsing, output selection and exit codes over the station
//! library (`rigor-station`), which does the work. `main.rs` only parses arguments and exits.

pub mod central;
pub mod check;
pub mod demo;
pub mod exit_code;
pub mod image;
pub mod inputs;
pub mod lease;
pub mod netfault;
pub mod results;
pub mod rig_probe;
pub mod run;
pub mod sim;
pub mod station;
pub mod store;
pub mod store_replay;
pub mod test_mode;

use rigor_model::value::Scalar;

/// Parses `NAME=VALUE` into a scenario parameter (numbers and booleans typed).
pub fn parse_param(s: &str) -> Result<(String, Scalar), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    let value = match value.parse::<f64>() {
        Ok(n) => Scalar::Number(n),
        Err(_) => match value {
            "true" => Scalar::Bool(true),
            "false" => Scalar::Bool(false),
            _ => Scalar::Text(value.to_owned()),
        },
    };
    Ok((name.to_owned(), value))
}
