//! `rigor rig probe`: which attached USB adapters and debug probes match which rig slot, and for
//! each channel that matches nothing, the closest candidate and what differs.

use std::path::PathBuf;

use crate::exit_code;

/// `rigor rig ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RigCommand {
    /// Match the rig's USB-identified serial adapters and debug probes against what is attached.
    Probe {
        /// The rig.
        #[arg(long)]
        rig: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: crate::check::Format,
        /// Where sysfs lists USB devices.
        #[arg(long, default_value = rigor_usb::SYSFS_USB, hide = true)]
        sysfs: PathBuf,
        /// Folders with rigor files (default: the shipped folders).
        #[arg(long = "path")]
        paths: Vec<PathBuf>,
    },
}

/// Runs the command; exit 0 when every channel found its device, 4 when the rack does not
/// match its description.
pub fn run(command: RigCommand) -> i32 {
    let RigCommand::Probe {
        rig,
        format,
        sysfs,
        paths,
    } = command;
    let (catalog, diags) = rigor_model::load_paths(&crate::check::paths_or_default(&paths));
    if !diags.is_empty() {
        eprint!("{diags}");
        return exit_code::INVALID_INPUT;
    }
    let Some(entry) = catalog.rigs.get(&rig) else {
        let known: Vec<&str> = catalog.rigs.keys().map(String::as_str).collect();
        eprintln!("error: no rig `{rig}`; rigs: {}", known.join(", "));
        return exit_code::INVALID_INPUT;
    };
    let attached = match rigor_usb::discover(&sysfs) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code::INFRASTRUCTURE;
        }
    };
    let report = rigor_usb::match_rig(&entry.value, &attached);
    match format {
        crate::check::Format::Text => print!("{}", report.to_text()),
        crate::check::Format::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            )
        }
    }
    if report.all_found() {
        exit_code::SUCCESS
    } else {
        exit_code::INFRASTRUCTURE
    }
}
