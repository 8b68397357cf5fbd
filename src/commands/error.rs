//! Everything that can end a command unsuccessfully, as one value: `cli::main` prints it once and
//! exits 1.

use crate::aws::AwsError;
use crate::config::ConfigError;

/// Everything that can end a command unsuccessfully.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{}", aws_errors(.0))]
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

/// AWS errors, one per line; a credentials problem shared by several accounts (no credentials at
/// all, an SSO profile without a login) is said once, naming the accounts.
fn aws_errors(errors: &[AwsError]) -> String {
    use crate::aws::Code;
    let mut lines: Vec<String> = Vec::new();
    let mut said: Vec<(String, Vec<String>)> = Vec::new();
    for e in errors {
        if matches!(e.code, Some(Code::NoCredentials | Code::SsoLogin)) {
            match said.iter_mut().find(|(m, _)| *m == e.message) {
                Some((_, scopes)) => scopes.push(e.scope.clone()),
                None => said.push((e.message.clone(), vec![e.scope.clone()])),
            }
        } else {
            lines.push(e.to_string());
        }
    }
    for (message, scopes) in said {
        lines.push(format!("{message} (for {})", scopes.join(", ")));
    }
    lines.join("\n")
}
