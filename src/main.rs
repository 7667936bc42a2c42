//! The `dunghan` binary.

fn main() {}
