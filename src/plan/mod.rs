//! The plan: desired state + live snapshot → ordered, typed changes (a value). Pure: no network, no I/O.
//!
//! A `Plan` says what apply will do, and carries the fingerprint of the live state it was computed
//! from: applying a saved plan re-reads that state and refuses when it changed. Each change carries
//! exactly what its action needs (`Op`); `before`, the notes and the broadening marks are for display
//! only: apply writes `after` (create, update, adopt, replace) and removes `before` (delete, replace).
//! Order is derived from the table of kinds (`model::kind`): creates by rank, deletes in reverse.

pub mod file;
pub mod render;

use crate::config::Config;
use crate::model::kinds::{each_spec, Diff, Owners, Step};
pub use crate::model::live::Snapshot;
use crate::model::{Addr, Lane, Managed, Resource, Spec};
use serde::{Deserialize, Serialize};
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
                .map(|a| a.broadens(op.before()))
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

/// Compare the desired resources with the live snapshot. Unchanged resources are omitted. Each
/// kind decides its own step (`Managed::plan`); the planner keeps what later steps depend on (what
/// is created or replaced, what is adopted).
pub fn diff(cfg: &Config, desired: &[Resource], snap: &Snapshot) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut d = Diff {
        owners: Owners::new(cfg, desired, snap),
        fresh: Vec::new(),
        adopted: Vec::new(),
    };
    for r in desired {
        let after = r.spec.clone();
        let Some(l) = snap.live.get(&r.addr) else {
            d.fresh.push(r.addr.clone());
            changes.push(Change::new(r.addr.clone(), Op::Create { after }, vec![]));
            continue;
        };
        let before = l.spec.clone();
        let step = step(&r.spec, &l.spec, &r.addr, &d);
        let (op, notes) = match step {
            Step::Keep => continue,
            Step::Create => (Op::Create { after }, vec![]),
            Step::Update(n) => (Op::Update { before, after }, n),
            Step::Replace(n) => {
                d.fresh.push(r.addr.clone());
                (Op::Replace { before, after }, n)
            }
            Step::Adopt(mut n) => {
                d.adopted.push(r.addr.clone());
                if let Some(others) = snap.others.get(&r.addr) {
                    n.push(format!(
                        "left as they are for you: {}; xacct writes only its trust, tags and own policy (destroy deletes the role with them)",
                        others.join(", ")
                    ));
                }
                (Op::Adopt { before, after }, n)
            }
        };
        changes.push(Change::new(r.addr.clone(), op, notes));
    }
    // live attachments of our policies that are no longer wanted, and what the other layout of the
    // IoT account left (one shared alias and role, or one per environment): deleted once the new
    // layout exists (apply deletes last)
    for (addr, l) in &snap.live {
        if desired.iter().any(|r| &r.addr == addr) || addr.env.is_some() {
            continue;
        }
        let Some(note) = each_spec!(&l.spec, x => x.leftover(addr, &d)) else {
            continue;
        };
        changes.push(Change::new(
            addr.clone(),
            Op::Delete {
                before: l.spec.clone(),
            },
            vec![note],
        ));
    }
    order_apply(cfg, &mut changes);
    changes
}

/// The step of the desired `want` against the live `live`: the kind's own rule when both are of
/// the kind (a live state of another kind is replaced).
fn step(want: &Spec, live: &Spec, addr: &Addr, d: &Diff) -> Step {
    fn of<M: Managed>(want: &M, live: &Spec, addr: &Addr, d: &Diff) -> Step {
        match M::of(live) {
            Some(l) => want.plan(l, addr, d),
            None => Step::Replace(vec![]),
        }
    }
    each_spec!(want, x => of(x, live, addr, d))
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
