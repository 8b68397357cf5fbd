//! The live model: what `aws::read` found in the accounts, read once per run. The planner compares
//! the desired state with its `Snapshot`; the proof (`check`) evaluates its `Facts`.

use super::{Addr, Live};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The live model of a run, read once by `aws::read::live`: the resources xacct manages (the
/// planner's view) and, when the proof is wanted, the facts it evaluates, derived from the same reads
/// where they overlap (roles, alias, IoT policy).
#[derive(Debug, Clone, Default)]
pub struct LiveModel {
    pub resources: Snapshot,
    pub facts: Option<Facts>,
}

/// What the live read found: every address that was read and exists, with its normalized state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub live: BTreeMap<Addr, Live>,
    /// The permissions boundary ARN of each role read that has one (not managed by xacct: not part
    /// of the fingerprint).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub boundaries: BTreeMap<Addr, String>,
}

impl Snapshot {
    /// A digest of everything read, to detect that the live state changed since a plan was made.
    /// The read layer stores every document in its canonical form (`policy::normalize`), so the
    /// same live state always has the same digest.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for (addr, live) in &self.live {
            h.update(serde_json::to_vec(addr).unwrap_or_default());
            h.update(serde_json::to_vec(live).unwrap_or_default());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A role as the proof needs it.
#[derive(Debug, Clone)]
pub struct RoleFacts {
    pub arn: String,
    pub trust: Value,
    pub max_session: i32,
    /// (policy name, document) of every identity policy (inline and managed).
    pub policies: Vec<(String, Value)>,
    /// (ARN, document) of the role's permissions boundary, if it has one.
    pub boundary: Option<(String, Value)>,
}

#[derive(Debug, Clone)]
pub struct FunctionFacts {
    /// None when unknown (the desired state cannot know).
    pub exists: Option<bool>,
    pub policy: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct CertFacts {
    pub id: String,
    /// ACTIVE, INACTIVE, … (None when unknown or missing)
    pub status: Option<String>,
    pub exists: bool,
    pub policies: Vec<(String, Value)>,
}

/// Everything the proof looks at.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The certificates of iot.certificates; when none are listed, one pseudo certificate carrying
    /// the fleet's IoT policy.
    pub certs: Vec<CertFacts>,
    pub alias: Option<(String, i32)>,
    pub iot_role: Option<RoleFacts>,
    pub targets: BTreeMap<String, Option<RoleFacts>>,
    pub functions: BTreeMap<String, FunctionFacts>,
}
