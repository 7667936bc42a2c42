//! Build script: compiles the protos (filled in with the proto API).

fn main() {}
