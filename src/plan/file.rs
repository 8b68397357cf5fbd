//! The plan file: a saved plan, written atomically (never half-written) and validated again when
//! loaded. It carries the text of the environment file the plan was made from, which is parsed and
//! validated again on load, and every change is checked against it (`Plan::validate`).

use super::{Change, Mode, Plan, PlanError, FORMAT_VERSION};
use crate::config::ConfigError;
use crate::model::live::Discovered;
use crate::model::Addr;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a plan file holds.
#[derive(Serialize, Deserialize)]
struct PlanFile {
    format_version: String,
    mode: Mode,
    /// Where the environment file was read from (for messages and positions).
    source: PathBuf,
    /// The environment file's text.
    environment_file: String,
    selected: Vec<String>,
    changes: Vec<Change>,
    #[serde(default)]
    untouched: Vec<Addr>,
    prior_fingerprint: String,
    /// What the desired state was derived with besides the file (bucket keys).
    #[serde(default)]
    discovered: Discovered,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read plan file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an xacct plan file: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: plan format {found} is not supported (this xacct writes {FORMAT_VERSION})")]
    Version { path: PathBuf, found: String },
    #[error("{path}: the environment file saved in the plan is not valid any more:\n{source}")]
    Config {
        path: PathBuf,
        #[source]
        source: ConfigError,
    },
    #[error("{path}: refusing the plan, nothing was applied: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: PlanError,
    },
}

/// Write the plan file atomically (a temporary file renamed over the target).
pub fn save(plan: &Plan, path: &Path) -> Result<(), PlanFileError> {
    let file = PlanFile {
        format_version: plan.format_version.clone(),
        mode: plan.mode,
        source: plan.config.source.clone(),
        environment_file: plan.config.text.clone(),
        selected: plan.selected.clone(),
        changes: plan.changes.clone(),
        untouched: plan.untouched.clone(),
        prior_fingerprint: plan.prior_fingerprint.clone(),
        discovered: plan.discovered.clone(),
    };
    let text = serde_json::to_string_pretty(&file).map_err(|e| PlanFileError::Format {
        path: path.to_path_buf(),
        source: e,
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("plan"),
        std::process::id()
    ));
    std::fs::write(&tmp, text).map_err(|e| PlanFileError::Write {
        path: tmp.clone(),
        source: e,
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        PlanFileError::Write {
            path: path.to_path_buf(),
            source: e,
        }
    })
}

/// Read a plan file, parse and validate its environment file again, and validate every change
/// against it.
pub fn load(path: &Path) -> Result<Plan, PlanFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanFileError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    let file: PlanFile = serde_json::from_str(&text).map_err(|e| PlanFileError::Format {
        path: path.to_path_buf(),
        source: e,
    })?;
    if file.format_version != FORMAT_VERSION {
        return Err(PlanFileError::Version {
            path: path.to_path_buf(),
            found: file.format_version,
        });
    }
    let config = crate::config::parse(&file.source, &file.environment_file).map_err(|e| {
        PlanFileError::Config {
            path: path.to_path_buf(),
            source: e,
        }
    })?;
    let plan = Plan {
        format_version: file.format_version,
        mode: file.mode,
        config,
        selected: file.selected,
        changes: file.changes,
        untouched: file.untouched,
        prior_fingerprint: file.prior_fingerprint,
        discovered: file.discovered,
    };
    plan.validate().map_err(|e| PlanFileError::Invalid {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(plan)
}
