//! The plan: desired state + live snapshot → ordered, typed changes (a value). Pure: no network, no I/O.
//!
//! A `Plan` says what apply will do, and carries the fingerprint of the live state it was computed
//! from: applying a saved plan re-reads that state and refuses when it changed. Each change carries
//! exactly what its action needs (`Op`); `before`, the notes and the broadening marks are for display
//! only: apply writes `after` (create, update, adopt, replace) and removes `before` (delete, replace).
//! Order is derived from the table of kinds (`model::kind`): creates by rank, deletes in reverse.

pub mod file;
pub mod render;

use crate::config::{Config, OWNER_TAG};
pub use crate::model::live::Snapshot;
use crate::model::{Addr, Kind, Lane, Live, Ownership, Resource, Spec};
use crate::policy;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Reverse;

pub const FORMAT_VERSION: &str = "1";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    /// The resource exists under our name but xacct does not own it; apply takes it over (and brings
    /// it to the desired state) only with `--adopt`.
    Adopt,
}

impl Action {
    pub fn marker(&self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Adopt => "!",
        }
    }
    /// The past participle for progress lines.
    pub fn done(&self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Update => "updated",
            Action::Replace => "replaced",
            Action::Delete => "deleted",
            Action::Adopt => "adopted",
        }
    }
}

/// What a change does, with exactly the states it needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Op {
    /// Nothing lives at the address: write `after`.
    Create { after: Spec },
    /// The resource is ours and differs: write `after` over `before` (display only).
    Update { before: Spec, after: Spec },
    /// The resource cannot be changed in place: delete `before`, then create `after`.
    Replace { before: Spec, after: Spec },
    /// Remove `before`.
    Delete { before: Spec },
    /// Not ours: take it over (only with `--adopt`) and write `after`.
    Adopt { before: Spec, after: Spec },
}

impl Op {
    pub fn action(&self) -> Action {
        match self {
            Op::Create { .. } => Action::Create,
            Op::Update { .. } => Action::Update,
            Op::Replace { .. } => Action::Replace,
            Op::Delete { .. } => Action::Delete,
            Op::Adopt { .. } => Action::Adopt,
        }
    }
    /// The live state (display only).
    pub fn before(&self) -> Option<&Spec> {
        match self {
            Op::Create { .. } => None,
            Op::Update { before, .. }
            | Op::Replace { before, .. }
            | Op::Delete { before }
            | Op::Adopt { before, .. } => Some(before),
        }
    }
    /// The state apply writes (None for delete).
    pub fn after(&self) -> Option<&Spec> {
        match self {
            Op::Delete { .. } => None,
            Op::Create { after }
            | Op::Update { after, .. }
            | Op::Replace { after, .. }
            | Op::Adopt { after, .. } => Some(after),
        }
    }
}

/// One change to one resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    pub addr: Addr,
    #[serde(flatten)]
    pub op: Op,
    /// Explanations for people (display only).
    #[serde(default)]
    pub notes: Vec<String>,
    /// What this change newly grants: principals, actions, resources (display and confirmation only).
    #[serde(default)]
    pub broadens: Vec<String>,
}

impl Change {
    pub fn new(addr: Addr, op: Op, notes: Vec<String>) -> Change {
        let broadens = match &op {
            Op::Delete { .. } => vec![],
            op => op
                .after()
                .map(|a| (addr.kind.def().broadens)(op.before(), a))
                .unwrap_or_default(),
        };
        Change {
            addr,
            op,
            notes,
            broadens,
        }
    }
    pub fn action(&self) -> Action {
        self.op.action()
    }
    pub fn before(&self) -> Option<&Spec> {
        self.op.before()
    }
    pub fn after(&self) -> Option<&Spec> {
        self.op.after()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Apply,
    Destroy,
}

/// A plan: the changes, in the order they must be applied, and what they were computed from.
///
/// - `config` is the validated environment file the plan was made from: apply connects to its
///   accounts with its access settings, and a change is written only with the clients of the account
///   its address names, which must be the account `config` gives that environment.
/// - `selected` limits which environments were read and planned; it does not widen anything.
/// - `changes` are what apply carries out, in order; their notes and broadening marks are display only.
/// - `untouched` is display only (resources left alone because xacct does not own them).
/// - `prior_fingerprint` identifies the live state the plan was computed from; a saved plan is refused
///   when the live state read at apply time has another fingerprint.
#[derive(Debug, Clone)]
pub struct Plan {
    pub format_version: String,
    pub mode: Mode,
    pub config: Config,
    /// The environments that were selected (`--env`); empty = all.
    pub selected: Vec<String>,
    pub changes: Vec<Change>,
    /// Resources left alone because xacct does not own them (destroy).
    pub untouched: Vec<Addr>,
    /// Fingerprint of the live snapshot this plan was computed from.
    pub prior_fingerprint: String,
    /// What the desired state was derived with besides the file (bucket keys).
    pub discovered: crate::model::live::Discovered,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    /// Shown in the human summary; not part of the `--json` contract.
    #[serde(skip)]
    pub adopt: usize,
}

/// A plan that cannot be carried out as it stands (a saved plan that was edited, or made by a
/// different xacct).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("--env {0}: no such environment in the plan's environment file")]
    UnknownEnv(String),
    #[error("{addr}: the environment file puts {env} in account {expected}, not {found}")]
    WrongAccount {
        addr: String,
        env: String,
        expected: String,
        found: String,
    },
    #[error("{addr}: the change carries a {found} where its address says {expected}")]
    WrongKind {
        addr: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{addr}: the change writes `{found}`, but its address names `{expected}`")]
    WrongName {
        addr: String,
        expected: String,
        found: String,
    },
    #[error("{addr}: the change writes a state that is not the environment file's desired state")]
    NotDesired { addr: String },
    #[error("{addr}: a destroy plan may only delete")]
    NotADelete { addr: String },
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action() {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::Adopt => s.adopt += 1,
            }
        }
        s
    }
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    pub fn conflicts(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.action() == Action::Adopt)
    }

    /// Check that every change is one this plan's environment file could have produced: its
    /// environment exists, its account is the one the file gives that environment, its states are of
    /// the kind and name of its address, and what it writes is the file's desired state.
    pub fn validate(&self) -> Result<(), PlanError> {
        let cfg = &self.config;
        if let Some(n) = self
            .selected
            .iter()
            .find(|n| !cfg.environments.iter().any(|t| &&t.name == n))
        {
            return Err(PlanError::UnknownEnv(n.clone()));
        }
        let desired = crate::desired::desired_with(cfg, &self.discovered);
        for c in &self.changes {
            let a = &c.addr;
            let (env, expected) = match &a.env {
                None => match cfg.origin {
                    crate::config::Origin::Iot(_) => {
                        ("the IoT account".to_string(), cfg.origin_account())
                    }
                    crate::config::Origin::Role(_) => {
                        ("the source account".to_string(), cfg.origin_account())
                    }
                },
                Some(e) => match cfg.environments.iter().find(|t| &t.name == e) {
                    Some(t) => (format!("environment {e}"), t.account.as_str()),
                    None => return Err(PlanError::UnknownEnv(e.clone())),
                },
            };
            if a.account != expected {
                return Err(PlanError::WrongAccount {
                    addr: a.to_string(),
                    env,
                    expected: expected.to_string(),
                    found: a.account.clone(),
                });
            }
            for s in c.before().into_iter().chain(c.after()) {
                if s.kind() != a.kind {
                    return Err(PlanError::WrongKind {
                        addr: a.to_string(),
                        expected: a.kind.as_str(),
                        found: s.kind().as_str(),
                    });
                }
                if s.addr_name() != a.name {
                    return Err(PlanError::WrongName {
                        addr: a.to_string(),
                        expected: a.name.clone(),
                        found: s.addr_name(),
                    });
                }
            }
            if self.mode == Mode::Destroy && c.action() != Action::Delete {
                return Err(PlanError::NotADelete {
                    addr: a.to_string(),
                });
            }
            if let Some(after) = c.after() {
                let want = desired.iter().find(|r| &r.addr == a);
                if want.is_none_or(|r| &r.spec != after) {
                    return Err(PlanError::NotDesired {
                        addr: a.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------
// Ownership, by the rule of each kind in the table

/// Does the live role carry our ownership tag?
fn role_owned(cfg: &Config, live: &Live) -> bool {
    matches!(&live.spec, Spec::IamRole { tags, .. } if tags.get(OWNER_TAG) == Some(&cfg.fleet))
}

/// The IoT role ARNs and role alias ARNs the fleet may have, in either layout (one shared alias and
/// role, or one per environment when devices are gated).
fn fleet_iot_arns(cfg: &Config) -> (Vec<String>, Vec<String>) {
    let Some(iot) = cfg.iot() else {
        return (vec![], vec![]);
    };
    let role = |n: &str| format!("arn:{}:iam::{}:role/{n}", cfg.partition, iot.account);
    let alias = |n: &str| {
        format!(
            "arn:{}:iot:{}:{}:rolealias/{n}",
            cfg.partition, cfg.region, iot.account
        )
    };
    let mut roles = vec![role(&iot.role_name)];
    let mut aliases = vec![alias(&iot.role_alias)];
    for t in &cfg.environments {
        roles.push(role(&format!("{}-{}-device", cfg.fleet, t.name)));
        aliases.push(alias(&format!("{}-{}", cfg.fleet, t.name)));
    }
    (roles, aliases)
}

/// An IoT policy is ours when it grants nothing but `iot:AssumeRoleWithCertificate` on one of the
/// fleet's aliases.
pub fn iot_policy_owned(cfg: &Config, doc: &Value) -> bool {
    let (_, aliases) = fleet_iot_arns(cfg);
    let Ok(p) = policy::parse(doc) else {
        return false;
    };
    p.statements.iter().all(|s| {
        s.effect == policy::eval::Effect::Deny
            || (!s.action.negated
                && s.action
                    .values
                    .iter()
                    .all(|a| a.eq_ignore_ascii_case("iot:AssumeRoleWithCertificate"))
                && s.resource
                    .as_ref()
                    .is_some_and(|r| !r.negated && r.values.iter().all(|x| aliases.contains(x))))
    })
}

/// What ownership depends on besides the resource itself.
struct Owners<'a> {
    cfg: &'a Config,
    snap: &'a Snapshot,
    /// The fleet is established in the IoT account when our tagged IoT role exists there. xacct
    /// creates (or adopts) the alias and the IoT policy together with that role, so while it exists
    /// they are ours even if someone repointed or broadened them out of band: that is drift to
    /// repair, not a conflict.
    established: bool,
}

impl<'a> Owners<'a> {
    fn new(cfg: &'a Config, desired: &'a [Resource], snap: &'a Snapshot) -> Owners<'a> {
        // (with gated devices every environment has its own IoT role: any of them will do)
        let established = desired
            .iter()
            .filter(|r| r.addr.kind == Kind::IamRole && r.addr.lane() == Lane::Source)
            .filter_map(|r| snap.live.get(&r.addr))
            .any(|l| role_owned(cfg, l));
        Owners {
            cfg,
            snap,
            established,
        }
    }

    /// Is the live resource at `addr` xacct's, by its kind's ownership rule?
    fn owned(&self, addr: &Addr, live: &Live) -> bool {
        let cfg = self.cfg;
        match addr.kind.def().ownership {
            Ownership::Tag => role_owned(cfg, live),
            Ownership::ParentRole => {
                let Spec::IamRolePolicy { role_name, .. } = &live.spec else {
                    return false;
                };
                self.snap
                    .live
                    .iter()
                    .find(|(a, _)| {
                        a.kind == Kind::IamRole
                            && a.account == addr.account
                            && a.env == addr.env
                            && a.name == *role_name
                    })
                    .is_some_and(|(_, rl)| role_owned(cfg, rl))
            }
            Ownership::FleetOrContent => {
                self.established
                    || match &live.spec {
                        Spec::IotRoleAlias { role_arn, .. } => {
                            fleet_iot_arns(cfg).0.contains(role_arn)
                        }
                        Spec::IotPolicy { policy, .. } => iot_policy_owned(cfg, policy),
                        _ => false,
                    }
            }
            Ownership::Name => true,
            Ownership::ParentPolicy => {
                let Spec::IotPolicyAttachment { policy_name, .. } = &live.spec else {
                    return false;
                };
                self.snap
                    .live
                    .iter()
                    .find(|(a, _)| a.kind == Kind::IotPolicy && a.name == *policy_name)
                    .is_some_and(|(a, pl)| self.owned(a, pl))
            }
        }
    }
}

fn ownership_note(cfg: &Config, spec: &Spec) -> String {
    match spec {
        Spec::IamRole { tags, .. } => match tags.get(OWNER_TAG) {
            Some(f) => format!("conflict: role is owned by fleet `{f}` (tag {OWNER_TAG}={f}), not `{}`", cfg.fleet),
            None => format!("conflict: role exists without the {OWNER_TAG} tag; xacct does not own it"),
        },
        Spec::IotRoleAlias { role_arn, .. } => {
            format!("conflict: alias points at {role_arn}, which is not one of the fleet's IoT roles")
        }
        Spec::IotPolicy { .. } => "conflict: policy grants more than iot:AssumeRoleWithCertificate on the fleet's role aliases; xacct does not own it".to_string(),
        _ => "conflict: not owned by xacct".into(),
    }
}

fn differs(want: &Spec, have: &Spec) -> bool {
    match (want, have) {
        (
            Spec::IamRole {
                assume_role_policy: a,
                max_session_duration: m,
                tags: t,
                ..
            },
            Spec::IamRole {
                assume_role_policy: b,
                max_session_duration: n,
                tags: u,
                ..
            },
        ) => !policy::same(a, b) || m != n || t.iter().any(|(k, v)| u.get(k) != Some(v)),
        (Spec::IamRolePolicy { policy: a, .. }, Spec::IamRolePolicy { policy: b, .. })
        | (Spec::IotPolicy { policy: a, .. }, Spec::IotPolicy { policy: b, .. })
        | (Spec::SourceRolePolicy { policy: a, .. }, Spec::SourceRolePolicy { policy: b, .. }) => {
            !policy::same(a, b)
        }
        (
            Spec::IotRoleAlias {
                role_arn: a,
                credential_duration: d,
                ..
            },
            Spec::IotRoleAlias {
                role_arn: b,
                credential_duration: e,
                ..
            },
        ) => a != b || d != e,
        (Spec::IotPolicyAttachment { .. }, Spec::IotPolicyAttachment { .. }) => false,
        (
            Spec::LambdaPermission { principal: a, .. },
            Spec::LambdaPermission { principal: b, .. },
        ) => a != b,
        _ => true,
    }
}

fn aroa_notes(live: &Spec) -> Vec<String> {
    let mut notes = Vec::new();
    if let Spec::IamRole {
        assume_role_policy, ..
    } = live
    {
        for p in policy::aws_principals(assume_role_policy) {
            if p.starts_with("AROA") || p.starts_with("AIDA") {
                notes.push(format!(
                    "trust names {p}: AWS replaced a deleted role's ARN with its unique id, so re-creating the role did not restore trust; the update names the role ARN again"
                ));
            }
        }
    }
    notes
}

// ---------------------------------------------------------------------------------------------------
// Order, from the table: creates by (lane, rank); deletes in reverse rank, the source lane last

/// Sort the changes of an apply plan: the source account's resources first, then each environment
/// in file order; by rank inside each (stable, so equal ranks keep the order they were planned in).
fn order_apply(cfg: &Config, changes: &mut [Change]) {
    let env_index = |a: &Addr| match &a.env {
        None => 0,
        Some(e) => {
            1 + cfg
                .environments
                .iter()
                .position(|t| &t.name == e)
                .unwrap_or(usize::MAX - 1)
        }
    };
    // creates and updates by (environment, rank); deletes after them, in reverse dependency order
    changes.sort_by_key(|c| match c.op {
        Op::Delete { .. } => (1, 0, 0, Some(delete_key(&c.addr))),
        _ => (0, env_index(&c.addr), c.addr.kind.rank(), None),
    });
}

/// The order of deletes: highest rank first, the source lane (which everything depends on) last.
fn delete_key(a: &Addr) -> (bool, Reverse<u8>, Option<String>, String) {
    (
        a.lane() == Lane::Source,
        Reverse(a.kind.rank()),
        a.env.clone(),
        a.name.clone(),
    )
}

// ---------------------------------------------------------------------------------------------------
// Diff and destroy

/// Compare the desired resources with the live snapshot. Unchanged resources are omitted.
pub fn diff(cfg: &Config, desired: &[Resource], snap: &Snapshot) -> Vec<Change> {
    let mut changes = Vec::new();
    // roles that are (re)created or unowned, by (account, role name)
    let mut fresh_roles: Vec<(String, String)> = Vec::new();
    let mut unowned_roles: Vec<(String, String)> = Vec::new();
    let owners = Owners::new(cfg, desired, snap);
    let mut iot_policy_ok = true;

    for r in desired {
        let live = snap.live.get(&r.addr);
        let after = r.spec.clone();
        let change = |op, notes| Change::new(r.addr.clone(), op, notes);
        let Some(l) = live else {
            if r.addr.kind == Kind::IamRole {
                fresh_roles.push((r.addr.account.clone(), r.addr.name.clone()));
            }
            changes.push(change(Op::Create { after }, vec![]));
            continue;
        };
        let before = l.spec.clone();
        let owned = owners.owned(&r.addr, l);
        match &r.spec {
            Spec::IamRole { path, .. } => {
                let key = (r.addr.account.clone(), r.addr.name.clone());
                if !owned {
                    unowned_roles.push(key);
                    let note = ownership_note(cfg, &before);
                    changes.push(change(Op::Adopt { before, after }, vec![note]));
                } else if matches!(&l.spec, Spec::IamRole { path: p, .. } if p != path) {
                    fresh_roles.push(key);
                    changes.push(change(
                        Op::Replace { before, after },
                        vec![format!(
                            "the role's path must be {path}; IAM cannot change a path in place"
                        )],
                    ));
                } else if differs(&r.spec, &l.spec) {
                    let notes = aroa_notes(&before);
                    changes.push(change(Op::Update { before, after }, notes));
                }
            }
            Spec::IamRolePolicy { role_name, .. } => {
                let key = (r.addr.account.clone(), role_name.clone());
                if fresh_roles.contains(&key) {
                    // the role is created or replaced: its inline policy goes with it
                    changes.push(change(Op::Create { after }, vec![]));
                } else if differs(&r.spec, &l.spec) {
                    let notes = if unowned_roles.contains(&key) {
                        vec!["part of adopting the role".to_string()]
                    } else {
                        vec![]
                    };
                    changes.push(change(Op::Update { before, after }, notes));
                }
            }
            Spec::IotRoleAlias { role_arn, .. } => {
                if !owned {
                    let note = ownership_note(cfg, &before);
                    changes.push(change(Op::Adopt { before, after }, vec![note]));
                } else if differs(&r.spec, &l.spec) {
                    let notes = match &l.spec {
                        Spec::IotRoleAlias { role_arn: a, .. } if a != role_arn => {
                            vec![format!("the alias was repointed to {a} out of band")]
                        }
                        _ => vec![],
                    };
                    changes.push(change(Op::Update { before, after }, notes));
                }
            }
            Spec::IotPolicy { .. } => {
                if !owned {
                    iot_policy_ok = false;
                    let note = ownership_note(cfg, &before);
                    changes.push(change(Op::Adopt { before, after }, vec![note]));
                } else if differs(&r.spec, &l.spec) {
                    changes.push(change(Op::Update { before, after }, vec![]));
                }
            }
            Spec::SourceRolePolicy { .. } => {
                if differs(&r.spec, &l.spec) {
                    changes.push(change(Op::Update { before, after }, vec![]));
                }
            }
            Spec::LambdaPermission { .. } => {
                if differs(&r.spec, &l.spec) {
                    changes.push(change(
                        Op::Update { before, after },
                        vec![
                            "xacct's statement in the function policy was changed out of band"
                                .into(),
                        ],
                    ));
                }
            }
            Spec::IotPolicyAttachment { .. } => {}
        }
    }
    // live attachments of our policies that are no longer wanted, and what the other layout of the
    // IoT account left (one shared alias and role, or one per environment): deleted once the new
    // layout exists (apply deletes last)
    for (addr, l) in &snap.live {
        if desired.iter().any(|r| &r.addr == addr) || addr.env.is_some() {
            continue;
        }
        let note = match addr.kind {
            Kind::IotPolicyAttachment if iot_policy_ok && owners.owned(addr, l) => match &l.spec {
                Spec::IotPolicyAttachment { certificate_id, .. }
                    if certificate_id.starts_with("thinggroup/") =>
                {
                    "the thing group no longer gates an environment of this policy"
                }
                _ => "certificate is no longer listed in iot.certificates",
            },
            Kind::IamRole | Kind::IamRolePolicy | Kind::IotRoleAlias | Kind::IotPolicy
                if owners.owned(addr, l) =>
            {
                if cfg.gated() {
                    "replaced by the environments' own roles, aliases and policies (devices are gated)"
                } else {
                    "replaced by the fleet's shared role, alias and policy (no environment gates its devices)"
                }
            }
            _ => continue,
        };
        changes.push(Change::new(
            addr.clone(),
            Op::Delete {
                before: l.spec.clone(),
            },
            vec![note.into()],
        ));
    }
    order_apply(cfg, &mut changes);
    changes
}

/// Changes that remove everything xacct owns among `desired`, in reverse dependency order; and the
/// addresses left alone because they are not ours.
pub fn destroy(cfg: &Config, desired: &[Resource], snap: &Snapshot) -> (Vec<Change>, Vec<Addr>) {
    let owners = Owners::new(cfg, desired, snap);
    // everything live that we read: desired addresses plus extra attachments
    let mut addrs: Vec<&Addr> = desired.iter().map(|r| &r.addr).collect();
    for a in snap.live.keys() {
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    addrs.sort_by_key(|a| delete_key(a));
    let mut changes = Vec::new();
    let mut untouched = Vec::new();
    for a in addrs {
        let Some(l) = snap.live.get(a) else { continue };
        if owners.owned(a, l) {
            changes.push(Change::new(
                a.clone(),
                Op::Delete {
                    before: l.spec.clone(),
                },
                vec![],
            ));
        } else {
            untouched.push(a.clone());
        }
    }
    (changes, untouched)
}

#[cfg(test)]
mod tests;
