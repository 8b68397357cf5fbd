use std::process::ExitCode;

fn main() -> ExitCode {
    xacct::cli::main()
}
