//! Loads the given paths and prints every diagnostic, then what was loaded.
//! `cargo run -p rigor-model --example load -- device-profiles rigs fixtures examples`

fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    let (catalog, diags) = rigor_model::load_paths(&paths);
    print!("{diags}");
    for (what, n) in catalog.counts() {
        println!("{n} {what}");
    }
    if !diags.is_empty() {
        std::process::exit(1);
    }
}
