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

/// What the desired state depends on besides the file, read before it: the customer-managed KMS keys
/// of the listed buckets (their default encryption) and of their objects, by environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Discovered {
    /// environment → bucket → key ARN
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bucket_keys: BTreeMap<String, BTreeMap<String, String>>,
    /// environment → the customer keys that encrypt the newest objects its entries name
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub object_keys: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl Discovered {
    /// The distinct key ARNs of an environment's buckets, sorted.
    pub fn keys_of(&self, env: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .bucket_keys
            .get(env)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        keys.extend(self.object_keys.get(env).into_iter().flatten().cloned());
        keys.sort();
        keys.dedup();
        keys
    }
}

/// What the live read found: every address that was read and exists, with its normalized state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub live: BTreeMap<Addr, Live>,
    /// The permissions boundary ARN of each role read that has one (not managed by xacct: not part
    /// of the fingerprint).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub boundaries: BTreeMap<Addr, String>,
    /// What an unowned resource carries beside what xacct writes (`Found::others`): not managed by
    /// xacct, not part of the fingerprint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub others: BTreeMap<Addr, Vec<String>>,
    /// What the desired state was derived with (bucket keys): part of the fingerprint.
    #[serde(default)]
    pub discovered: Discovered,
}

impl Snapshot {
    /// A digest of everything read, to detect that the live state changed since a plan was made.
    /// The read layer stores every document in its canonical form (`policy::normalize`), so the
    /// same live state always has the same digest.
    pub fn fingerprint(&self) -> String {
        // serialized straight into the hash (the same bytes as serializing each value first)
        let mut h = Sha256::new();
        for (addr, live) in &self.live {
            let _ = serde_json::to_writer(&mut h, addr);
            let _ = serde_json::to_writer(&mut h, live);
        }
        if !self.discovered.bucket_keys.is_empty() || !self.discovered.object_keys.is_empty() {
            let _ = serde_json::to_writer(&mut h, &self.discovered);
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
    /// The organization its account belongs to (`aws:PrincipalOrgID` of its sessions), when the
    /// account could say (`DescribeOrganization` works from a member account).
    pub org_id: Option<String>,
    /// Its account's path in the organization (`aws:PrincipalOrgPaths`), when it was read.
    pub org_path: Option<String>,
    /// The service control policies that limit its sessions, by level (root first): empty for a
    /// role of the management account, or when they were not read.
    pub scps: Vec<Vec<crate::policy::eval::OrgPolicy>>,
    /// The resource control policies of its account (for the resources there), by level.
    pub rcps: Vec<Vec<crate::policy::eval::OrgPolicy>>,
}

/// The organization, read with the `organization:` access: its id, its management account, and
/// each account of the chain's path and the control policies attached along it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgFacts {
    pub id: String,
    pub management: String,
    pub accounts: BTreeMap<String, AccountOrg>,
}

/// One account's place in the organization.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountOrg {
    /// `o-…/r-…/ou-…/` (`aws:PrincipalOrgPaths`, `aws:ResourceOrgPaths`).
    pub path: String,
    /// The SCPs at each level, the root first, the account last.
    pub scps: Vec<Vec<crate::policy::eval::OrgPolicy>>,
    /// The RCPs at each level.
    pub rcps: Vec<Vec<crate::policy::eval::OrgPolicy>>,
}

impl OrgFacts {
    /// Give `r` what the organization says of its account: the organization, the path, and the
    /// SCPs and RCPs (none for the management account, which they do not limit).
    pub fn annotate(&self, r: &mut RoleFacts) {
        let account = r.arn.split(':').nth(4).unwrap_or("").to_string();
        let Some(a) = self.accounts.get(&account) else {
            return;
        };
        r.org_id = Some(self.id.clone());
        r.org_path = Some(a.path.clone());
        if account != self.management {
            r.scps = a.scps.clone();
            r.rcps = a.rcps.clone();
        }
    }
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

/// One method of a REST API.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodFacts {
    /// The resource path, e.g. `/orders/{id}`.
    pub path: String,
    /// GET, POST, …, or ANY.
    pub http_method: String,
    /// NONE, AWS_IAM, CUSTOM, COGNITO_USER_POOLS.
    pub authorization: String,
}

/// A REST API as the proof needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiFacts {
    /// None when unknown (the desired state cannot know).
    pub exists: Option<bool>,
    /// The API's resource policy.
    pub policy: Option<Value>,
    /// The names of its deployed stages.
    pub stages: Vec<String>,
    /// Its methods as currently configured (in force only once a stage is deployed).
    pub methods: Vec<MethodFacts>,
    /// What is deployed to each stage the file names, by stage: what API Gateway serves.
    pub deployed: BTreeMap<String, DeployedStage>,
}

/// What one stage of a REST API serves: the deployment it points at, the methods' authorization
/// and the resource policy as they were when that deployment was created.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedStage {
    pub deployment_id: String,
    /// Each method's deployed authorization (`GetDeployment` with `embed=apisummary`), or why it
    /// could not be read.
    pub methods: Result<Vec<MethodFacts>, String>,
    /// The deployed resource policy (the stage's export with API Gateway extensions,
    /// `x-amazon-apigateway-policy`).
    pub policy: PolicyRead,
}

/// A bucket's default encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encryption {
    /// SSE-S3 (or none): S3 decrypts for anyone allowed to read.
    S3,
    /// SSE-KMS with the AWS managed key `aws/s3`, whose policy cannot grant another account.
    KmsAwsManaged,
    /// SSE-KMS with a customer managed key (its ARN).
    KmsCustomer(String),
}

/// A bucket as the proof needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketFacts {
    /// None when unknown (the desired state cannot know).
    pub exists: Option<bool>,
    /// The bucket policy.
    pub policy: Option<Value>,
    pub encryption: Encryption,
}

/// What xacct could read of a policy held somewhere it may not be able to read: a customer managed
/// key's policy, an API's deployed resource policy.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyRead {
    /// The policy (None: there is none).
    Read(Option<Value>),
    /// It could not be read, and why (a key in an account outside the file: GetKeyPolicy does not
    /// work across accounts; a stage whose export does not carry the policy).
    Unreadable(String),
}

/// Everything the proof looks at.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The certificates of iot.certificates; when none are listed, one pseudo certificate carrying
    /// the fleet's IoT policy.
    pub certs: Vec<CertFacts>,
    pub alias: Option<(String, i32)>,
    /// The role the chain starts at: the IoT role of a device chain, the source role of a workload's.
    pub origin_role: Option<RoleFacts>,
    pub targets: BTreeMap<String, Option<RoleFacts>>,
    pub functions: BTreeMap<String, FunctionFacts>,
    /// REST APIs by `ACCOUNT/API-ID`.
    pub apis: BTreeMap<String, ApiFacts>,
    /// Buckets by name.
    pub buckets: BTreeMap<String, BucketFacts>,
    /// The customer keys that encrypt the newest objects of each object entry (by its ARN).
    pub object_keys: BTreeMap<String, Vec<String>>,
    /// The policies of the customer keys of the buckets and their objects, by key ARN.
    pub key_policies: BTreeMap<String, PolicyRead>,
    /// With gated devices: each environment's own IoT facts (certificates or thing group, alias,
    /// IoT role), by environment.
    pub per_env: BTreeMap<String, IotFacts>,
    /// The organization, when the file gives access to read it.
    pub organization: Option<OrgFacts>,
}

/// The IoT-account facts of one layout (the fleet's shared one, or a gated environment's).
#[derive(Debug, Clone, Default)]
pub struct IotFacts {
    pub certs: Vec<CertFacts>,
    pub alias: Option<(String, i32)>,
    pub iot_role: Option<RoleFacts>,
}

impl Facts {
    /// Add the facts a target type read (`targets::TargetType::facts`).
    pub fn merge(&mut self, other: Facts) {
        self.functions.extend(other.functions);
        self.apis.extend(other.apis);
        self.buckets.extend(other.buckets);
        self.object_keys.extend(other.object_keys);
        self.key_policies.extend(other.key_policies);
    }

    /// The facts as environment `env`'s devices see them: its own IoT facts when gated.
    pub fn for_env(&self, env: &str) -> Facts {
        let mut f = self.clone();
        if let Some(own) = self.per_env.get(env) {
            f.certs = own.certs.clone();
            f.alias = own.alias.clone();
            f.origin_role = own.iot_role.clone();
        }
        f
    }
}
