//! `rigor store replay`: puts the records an earlier run could not record (a spill file beside
//! the store) into the store now, and says what went in and what the store refused. A run does
//! the same on its own before it starts; this is for a store no run will open soon (before a
//! push to the central store, or on an analyst's copy). The work is rigor-store's.

use std::path::PathBuf;

use rigor_store::Store;
use rigor_store::spill::spill_path;

use crate::exit_code;

/// What `rigor store replay` was asked.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The station store; its spill is the file beside it named `<store>-spill`.
    #[arg(long, default_value = "rigor.db")]
    store: PathBuf,
}

/// Replays the spill; exit code 0 when everything went in (or there was nothing to replay), 6
/// (store error) when the store refused records, which are then kept beside it for a person.
pub fn run(args: &ReplayArgs) -> i32 {
    let spill = spill_path(&args.store);
    let replayed = Store::open(&args.store).and_then(|mut store| store.replay_spill(&spill));
    match replayed {
        Ok(None) => {
            println!(
                "no spill beside {}: nothing to replay",
                args.store.display()
            );
            exit_code::SUCCESS
        }
        Ok(Some(replayed)) => {
            print!("{}", replayed.report(&spill));
            if replayed.refused == 0 {
                exit_code::SUCCESS
            } else {
                exit_code::STORE
            }
        }
        Err(e) => {
            eprintln!("error: {}", exit_code::chain(&e));
            exit_code::STORE
        }
    }
}
