//! The environment file: its schema (`schema`: serde, unknown keys refused), the validated model
//! (`Config` and its parts, here), the semantic validation that runs before any AWS call, section by
//! section (`rules`, `targets`), and the diagnostics (`diagnostics`, `index`). Every problem is reported with `file:line:column`, what is wrong, and
//! what would be right.

mod diagnostics;
mod index;
mod rules;
mod schema;
mod targets;

use diagnostics::{classify_serde_error, second_document, structure_problems, tab_indentation};
use rules::validate;
pub use rules::{valid_alias_name, valid_iot_policy_name, valid_role_name};
pub use targets::valid_bucket_name;

pub use index::{Pos, SourceIndex};
pub(crate) use schema::AccountField;
pub use schema::{
    schema, CertificateId, Devices, RawDevices, RawFile, RawIot, RawOrganization, RawSource,
    RawTarget, SourceArnCondition, TargetMode,
};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Role chaining (AssumeRole with credentials that came from another role) caps the session at 1 h.
pub const ROLE_CHAINING_CAP: i32 = 3600;
pub const DEFAULT_CREDENTIAL_DURATION: i32 = 3600;
/// The tag key that marks IAM roles as owned by xacct; its value is the fleet.
pub const OWNER_TAG: &str = "xacct:fleet";
/// The tag that says which environment of the fleet a role belongs to.
pub const ENV_TAG: &str = "xacct:env";

// ---------------------------------------------------------------------------------------------------
// The validated configuration

/// How to obtain credentials for one account: the default chain, a named profile, and optionally a
/// role assumed from those.
#[derive(Default, Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Access {
    pub profile: Option<String>,
    pub assume_role: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IotAccount {
    pub account: String,
    pub access: Access,
    pub role_name: String,
    pub role_alias: String,
    pub policy_name: String,
    pub credential_duration: i32,
    #[serde(default)]
    pub source_arn_condition: SourceArnCondition,
    pub certificates: Vec<String>,
    /// The credentials provider endpoint, when the file gives it.
    #[serde(default)]
    pub credentials_endpoint: Option<String>,
}

/// The existing role a workload chain starts at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceRole {
    pub account: String,
    pub access: Access,
    /// The role's ARN as written (path included).
    pub arn: String,
    /// The role's name (the ARN's last segment).
    pub role_name: String,
}

/// Where the chain starts: a device certificate (the IoT account's role, alias and policy), or an
/// existing workload role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Origin {
    Iot(IotAccount),
    Role(SourceRole),
}

/// The names of the IoT-account resources that serve one environment's devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IotNames {
    pub role_name: String,
    pub role_alias: String,
    pub policy_name: String,
}

/// An API Gateway method the chain may call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiMethod {
    /// `arn:PARTITION:execute-api:REGION:ACCOUNT:API-ID/STAGE/METHOD/PATH`
    pub arn: String,
    pub api_id: String,
    pub stage: String,
    /// An HTTP method or `*`.
    pub method: String,
    /// The resource path without its leading `/` (may hold `*`).
    pub path: String,
}

/// S3 objects the chain may read: one key, or every key under a prefix (`key` ends in `*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ObjectRef {
    /// `arn:PARTITION:s3:::BUCKET/KEY`
    pub arn: String,
    pub bucket: String,
    pub key: String,
}

impl ObjectRef {
    /// The prefix to list to find a matching object: the key up to its first wildcard.
    pub fn list_prefix(&self) -> &str {
        match self.key.find(['*', '?']) {
            Some(i) => &self.key[..i],
            None => &self.key,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    pub name: String,
    pub account: String,
    pub access: Access,
    pub role_name: String,
    /// Fully qualified function ARNs (unqualified: without version or alias).
    pub functions: Vec<String>,
    #[serde(default)]
    pub apis: Vec<ApiMethod>,
    #[serde(default)]
    pub objects: Vec<ObjectRef>,
    pub session_duration: i32,
    #[serde(default)]
    pub mode: TargetMode,
    #[serde(default)]
    pub devices: Option<Devices>,
}

impl Target {
    pub fn direct(&self) -> bool {
        self.mode == TargetMode::Direct
    }
}

/// A validated environment file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    pub source: PathBuf,
    /// The text of the file it was parsed from (a saved plan carries it, and is validated again
    /// from it when loaded).
    #[serde(skip)]
    pub text: String,
    pub fleet: String,
    pub region: String,
    pub partition: String,
    pub origin: Origin,
    pub environments: Vec<Target>,
    /// How to read the organization (its management account or a delegated administrator).
    #[serde(default)]
    pub organization: Option<OrgAccess>,
}

/// The access to the account that can read the organization.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgAccess {
    pub account: String,
    pub access: Access,
}

impl Config {
    /// The IoT account, when the chain starts at a device certificate.
    pub fn iot(&self) -> Option<&IotAccount> {
        match &self.origin {
            Origin::Iot(i) => Some(i),
            Origin::Role(_) => None,
        }
    }
    /// The existing workload role, when the chain starts at one.
    pub fn source_role(&self) -> Option<&SourceRole> {
        match &self.origin {
            Origin::Role(r) => Some(r),
            Origin::Iot(_) => None,
        }
    }
    /// The account the chain starts in (the IoT account, or the source role's).
    pub fn origin_account(&self) -> &str {
        match &self.origin {
            Origin::Iot(i) => &i.account,
            Origin::Role(r) => &r.account,
        }
    }
    /// How to reach the account the chain starts in.
    pub fn origin_access(&self) -> &Access {
        match &self.origin {
            Origin::Iot(i) => &i.access,
            Origin::Role(r) => &r.access,
        }
    }
    /// The role every target role trusts: the IoT role, or the source role.
    pub fn origin_role_arn(&self) -> String {
        match &self.origin {
            Origin::Iot(i) => self.iot_role_arn_of(i),
            Origin::Role(r) => r.arn.clone(),
        }
    }
    /// The name of the role the chain starts at (the IoT role's, or the source role's).
    pub fn origin_role_name(&self) -> &str {
        match &self.origin {
            Origin::Iot(i) => &i.role_name,
            Origin::Role(r) => &r.role_name,
        }
    }
    fn iot_role_arn_of(&self, i: &IotAccount) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, i.account, i.role_name
        )
    }
    /// The ARN of the role alias of IoT account `iot` (a `source:` file has none).
    pub fn alias_arn(&self, iot: &IotAccount) -> String {
        format!(
            "arn:{}:iot:{}:{}:rolealias/{}",
            self.partition, self.region, iot.account, iot.role_alias
        )
    }
    /// Whether devices are gated per environment (some environment names its `devices`): then every
    /// environment has its own role alias, IoT role and IoT policy.
    pub fn gated(&self) -> bool {
        self.iot().is_some() && self.environments.iter().any(|t| t.devices.is_some())
    }
    /// The names of the IoT role, role alias and IoT policy that serve environment `t`'s devices.
    pub fn iot_names(&self, t: &Target) -> Option<IotNames> {
        let i = self.iot()?;
        Some(if self.gated() {
            IotNames {
                role_name: format!("{}-{}-device", self.fleet, t.name),
                role_alias: format!("{}-{}", self.fleet, t.name),
                policy_name: format!("{}-{}-credentials", self.fleet, t.name),
            }
        } else {
            IotNames {
                role_name: i.role_name.clone(),
                role_alias: i.role_alias.clone(),
                policy_name: i.policy_name.clone(),
            }
        })
    }
    /// The role environment `t`'s chain starts at: the IoT role that serves its devices, or the
    /// source role of a `source:` file.
    pub fn iot_role_arn_for(&self, t: &Target) -> String {
        match self.iot_names(t) {
            Some(n) => format!(
                "arn:{}:iam::{}:role/{}",
                self.partition,
                self.origin_account(),
                n.role_name
            ),
            None => self.origin_role_arn(),
        }
    }
    /// The role alias that serves environment `t`'s devices (empty for a `source:` file).
    pub fn alias_arn_for(&self, t: &Target) -> String {
        match self.iot_names(t) {
            Some(n) => format!(
                "arn:{}:iot:{}:{}:rolealias/{}",
                self.partition,
                self.region,
                self.origin_account(),
                n.role_alias
            ),
            None => String::new(),
        }
    }
    pub fn target_role_arn(&self, t: &Target) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, t.account, t.role_name
        )
    }
    pub fn certificate_arn(&self, id: &str) -> String {
        format!(
            "arn:{}:iot:{}:{}:cert/{}",
            self.partition,
            self.region,
            self.origin_account(),
            id
        )
    }
    /// The IoT role's maximum session: at least the alias's credential duration.
    pub fn iot_max_session(&self) -> i32 {
        self.iot().map_or(3600, |i| i.credential_duration.max(3600))
    }
    /// An error naming the first of `names` (from `--env`) that the file does not define.
    pub fn check_selection(&self, names: &[String]) -> Result<(), SelectionError> {
        match names
            .iter()
            .find(|n| !self.environments.iter().any(|t| &&t.name == n))
        {
            None => Ok(()),
            Some(n) => Err(SelectionError {
                name: n.clone(),
                file: self.source.clone(),
                known: self.environments.iter().map(|t| t.name.clone()).collect(),
            }),
        }
    }
    /// The environments `names` selects (all when it is empty).
    pub fn selected<'a>(&'a self, names: &'a [String]) -> impl Iterator<Item = &'a Target> {
        self.environments
            .iter()
            .filter(move |t| is_selected(names, &t.name))
    }
}

/// Whether environment `name` is among `names` (every environment is when `names` is empty).
pub fn is_selected(names: &[String], name: &str) -> bool {
    names.is_empty() || names.iter().any(|n| n == name)
}

// ---------------------------------------------------------------------------------------------------
// Errors

/// One problem in the environment file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub pos: Pos,
    pub rule: &'static str,
    pub message: String,
    pub help: Option<String>,
}

/// An `--env` that the file does not define.
#[derive(Debug, Clone, thiserror::Error)]
#[error("--env {name}: no such environment in {} (it has: {})", file.display(), known.join(", "))]
pub struct SelectionError {
    pub name: String,
    pub file: PathBuf,
    pub known: Vec<String>,
}

/// Every problem found in one file, reported together.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {} [{}]",
                self.file.display(),
                p.pos.line,
                p.pos.col,
                p.message,
                p.rule
            )?;
            if let Some(h) = &p.help {
                write!(f, "\n  help: {h}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

struct Checker<'a> {
    idx: &'a SourceIndex,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    /// A problem at the key of `path` (for a whole mapping that should not be there).
    fn at_key(&mut self, path: &[&str], rule: &'static str, message: String, help: Option<String>) {
        let pos = self.idx.key(path);
        self.problems.push(Problem {
            pos,
            rule,
            message,
            help,
        });
    }
    fn at(&mut self, path: &[&str], rule: &'static str, message: String, help: Option<String>) {
        let pos = self.idx.value(path);
        self.problems.push(Problem {
            pos,
            rule,
            message,
            help,
        });
    }
}

// ---------------------------------------------------------------------------------------------------
// Loading

/// Read, parse and validate an environment file. Performs no network access.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let fail = |rule: &'static str, message: String, help: Option<String>| ConfigError {
        file: path.to_path_buf(),
        problems: vec![Problem {
            pos: Pos { line: 1, col: 1 },
            rule,
            message,
            help,
        }],
    };
    if path.is_dir() {
        return Err(fail(
            "not-a-file",
            "is a directory, not an environment file".into(),
            Some("pass the YAML file itself, e.g. -f environments/sandbox.yaml".into()),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| fail("unreadable", format!("cannot read: {e}"), None))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // point at the first byte that is not UTF-8
        let bad = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..bad];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let col = 1 + bad
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
        let mut err = fail(
            "encoding",
            format!(
                "bytes that are not UTF-8 text ({:#04x} …)",
                e.as_bytes()[bad]
            ),
            Some("save the file as UTF-8".into()),
        );
        err.problems[0].pos = Pos { line, col };
        err
    })?;
    parse(path, &text)
}

/// Parse and validate the text of an environment file named `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let err = |problems: Vec<Problem>| ConfigError {
        file: path.to_path_buf(),
        problems,
    };
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(err(vec![Problem {
            pos: Pos { line: 1, col: 1 },
            rule: "empty-file",
            message: "the environment file is empty".into(),
            help: Some(
                "start from `fleet:`, `region:`, `iot:` and `environments:` (see README)".into(),
            ),
        }]));
    }
    if let Some(tab) = tab_indentation(text) {
        return Err(err(vec![tab]));
    }
    let idx = SourceIndex::build(text);
    if !idx.duplicates.is_empty() {
        let problems = idx
            .duplicates
            .iter()
            .map(|d| {
                let (rule, what) = if d.path.len() == 1 && d.path[0] == "environments" {
                    (
                        "duplicate-environment",
                        format!("duplicate environment name `{}`", d.key),
                    )
                } else {
                    ("duplicate-key", format!("duplicate key `{}`", d.key))
                };
                Problem {
                    pos: d.at,
                    rule,
                    message: format!("{what} (first defined at line {})", d.first.line),
                    help: Some("each key may appear once; merge or rename one of them".into()),
                }
            })
            .collect();
        return Err(err(problems));
    }
    let structural = structure_problems(&idx, text);
    if !structural.is_empty() {
        return Err(err(structural));
    }
    let raw: RawFile = match yaml_serde::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let pos = e
                .location()
                .map(|l| Pos {
                    line: l.line(),
                    col: l.column(),
                })
                .unwrap_or(Pos { line: 1, col: 1 });
            let msg = e.to_string();
            // yaml_serde appends " at line L column C"; we print the position in front instead.
            let msg = match msg.find(" at line ") {
                Some(i) => msg[..i].to_string(),
                None => msg,
            };
            let msg = msg
                .replace("struct RawFile", "a mapping of fleet, region, iot or source, and environments")
                .replace("struct RawSource", "a mapping (account, role, profile, assume_role)")
                .replace("struct RawIot", "a mapping (account, profile, assume_role, role_name, role_alias, policy_name, credential_duration, certificates)")
                .replace("struct RawTarget", "a mapping (account, profile, assume_role, role_name, functions, apis, objects, session_duration, mode, devices)")
                .replace("struct RawDevices", "a mapping with thing_group or thing_type");
            let (rule, help) = classify_serde_error(&msg);
            // a second document: point at the line that starts it
            let pos = match rule {
                "multiple-documents" => second_document(text).unwrap_or(pos),
                _ => pos,
            };
            return Err(err(vec![Problem {
                pos,
                rule,
                message: msg,
                help,
            }]));
        }
    };
    let mut c = Checker {
        idx: &idx,
        problems: Vec::new(),
    };
    let mut cfg = validate(path, raw, &mut c);
    if c.problems.is_empty() {
        cfg.text = text.to_string();
        Ok(cfg)
    } else {
        c.problems.sort_by_key(|p| p.pos);
        Err(err(c.problems))
    }
}

#[cfg(test)]
mod tests;
