//! The `rigor` command's library: the composition root where the model, binder, engine, drivers,
//! virtual bench, store and reports meet. `main.rs` only parses arguments and exits.

pub mod backends;
pub mod check;
pub mod demo;
pub mod exit_code;
pub mod image;
pub mod netfault;
pub mod progress;
pub mod qemu_rig;
pub mod record;
pub mod rig_probe;
pub mod run;
pub mod sim;

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
