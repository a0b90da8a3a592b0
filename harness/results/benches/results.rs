//! Benchmarks of the analyst views over a generated store (filled in by the synth commit).

fn main() {}
