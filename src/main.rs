//! The `xacct` binary: everything is in the library; `cli::main` parses, runs and decides the exit code.
use std::process::ExitCode;

fn main() -> ExitCode {
    xacct::cli::main()
}
