//! Everything that can end a command unsuccessfully, as one value: `cli::main` prints it once and
//! exits 1.

use crate::aws::AwsError;
use crate::config::ConfigError;

/// Everything that can end a command unsuccessfully.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Aws(Vec<AwsError>),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    PlanFile(#[from] crate::plan::file::PlanFileError),
    #[error("{0}")]
    Identity(#[from] crate::verify::mtls::IdentityError),
    #[error("{0}")]
    Sandbox(#[from] xacct_sandbox::SandboxError),
    #[error("{0}")]
    Selection(#[from] crate::config::SelectionError),
}
