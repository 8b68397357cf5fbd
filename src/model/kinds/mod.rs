//! The managed kinds, one file each. A kind is a struct (its attributes, the variant of `Spec` that
//! carries it) implementing `Managed`: its name in addresses, its attributes for display, how its live
//! state is compared with the desired one, what a change to it newly grants, its ownership rule, how
//! the planner treats it, and its SDK calls (read, create, update, delete) through `aws::Clients`,
//! which hold the account's slots, retries and error context.
//!
//! The table in `model::kind` stays the one list of kinds (order, lanes). `Spec` and the `each_spec!`
//! dispatch below name every kind once, without a catch-all arm, so a new kind is pointed at by the
//! compiler: add its file, its row in the table, its variant here.

pub mod iam_role;
pub mod iam_role_policy;
pub mod iot_policy;
pub mod iot_policy_attachment;
pub mod iot_role_alias;
pub mod lambda_permission;
pub mod source_role_policy;

pub use iam_role::IamRole;
pub use iam_role_policy::IamRolePolicy;
pub use iot_policy::{iot_policy_owned, IotPolicy};
pub use iot_policy_attachment::IotPolicyAttachment;
pub use iot_role_alias::IotRoleAlias;
pub use lambda_permission::{permission_next_sid, LambdaPermission};
pub use source_role_policy::SourceRolePolicy;

use super::live::Snapshot;
use super::{Addr, Kind, Lane, Live, Resource};
use crate::aws::{AwsError, Call, Clients, Use};
use crate::config::{Config, ENV_TAG};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;

/// The attributes of a resource that xacct manages (desired or live): one variant per kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Spec {
    IamRole(IamRole),
    IamRolePolicy(IamRolePolicy),
    IotRoleAlias(IotRoleAlias),
    IotPolicy(IotPolicy),
    IotPolicyAttachment(IotPolicyAttachment),
    SourceRolePolicy(SourceRolePolicy),
    LambdaPermission(LambdaPermission),
}

/// Run `$body` with `$x` bound to the kind's own struct inside `$spec` (every kind named, no
/// catch-all: a new kind must be added here).
#[macro_export]
macro_rules! each_spec {
    ($spec:expr, $x:ident => $body:expr) => {
        match $spec {
            $crate::model::Spec::IamRole($x) => $body,
            $crate::model::Spec::IamRolePolicy($x) => $body,
            $crate::model::Spec::IotRoleAlias($x) => $body,
            $crate::model::Spec::IotPolicy($x) => $body,
            $crate::model::Spec::IotPolicyAttachment($x) => $body,
            $crate::model::Spec::SourceRolePolicy($x) => $body,
            $crate::model::Spec::LambdaPermission($x) => $body,
        }
    };
}
pub use each_spec;

/// A live resource found by a read, and the ARN of its permissions boundary (roles).
pub struct Found {
    pub live: Live,
    pub boundary: Option<String>,
    /// What a resource xacct does not own carries beside what xacct writes (an unowned role's other
    /// inline and attached policies), named in the plan when it is adopted.
    pub others: Vec<String>,
}

impl Found {
    pub fn new(spec: Spec, arn: Option<String>) -> Found {
        Found {
            live: Live { spec, arn },
            boundary: None,
            others: vec![],
        }
    }
}

/// What the planner does with one desired resource that exists.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to change.
    Keep,
    /// Write it anew (its parent is created or replaced).
    Create,
    Update(Vec<String>),
    Replace(Vec<String>),
    /// Not ours: only with `--adopt`.
    Adopt(Vec<String>),
}

/// What a write needs besides the resource: whether the user passed `--adopt`, and the fleet's
/// IoT roles and aliases (the content rules of ownership), for a create that finds the resource
/// already there (created since the plan was made: by an interrupted apply, or by someone else).
#[derive(Debug, Clone, Default)]
pub struct Writing {
    pub adopt: bool,
    pub fleet_roles: Vec<String>,
    pub fleet_aliases: Vec<String>,
}

impl Writing {
    pub fn new(cfg: &Config, adopt: bool) -> Writing {
        let (fleet_roles, fleet_aliases) = fleet_iot_arns(cfg);
        Writing {
            adopt,
            fleet_roles,
            fleet_aliases,
        }
    }
    /// A create met an existing resource: converge by updating it when it is ours (or `--adopt`),
    /// refuse otherwise, naming what owns it.
    pub fn may_take(
        &self,
        c: &Clients,
        action: &str,
        what: &str,
        owner: Option<String>,
    ) -> Result<(), AwsError> {
        match owner {
            Some(owner) if !self.adopt => Err(AwsError {
                scope: c.scope.clone(),
                action: action.into(),
                resource: what.into(),
                code: None,
                message: format!(
                    "{what} already exists and xacct does not own it for this fleet and environment ({owner}); nothing of it was changed: rerun with --adopt to take it over"
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// One managed kind: its attributes, its rules and its SDK calls.
pub trait Managed: Sized {
    /// This kind's row in the table.
    const KIND: Kind;

    /// The spec of this kind, if `s` is one.
    fn of(s: &Spec) -> Option<&Self>;

    /// The name of this resource in its address (role; `role/policy`; alias; policy; …).
    fn addr_name(&self) -> String;

    /// The attributes shown as `before`/`after` (documents normalized).
    fn attrs(&self) -> Value;

    /// The policy document this resource carries, if any (for diffs).
    fn document(&self) -> Option<&Value> {
        None
    }

    /// Whether the live state `live` must be written to reach `self` (compared semantically).
    fn differs(&self, live: &Self) -> bool;

    /// What a change from `before` (None: a create) to `self` newly grants.
    fn broadens(&self, before: Option<&Self>) -> Vec<String>;

    /// Is this live resource xacct's, by this kind's ownership rule?
    fn owned(&self, o: &Owners, addr: &Addr) -> bool;

    /// Why this live resource is not xacct's (for the plan's note).
    fn conflict(&self, _o: &Owners) -> String {
        "conflict: not owned by xacct".into()
    }

    /// The planner's step for the desired `self` against the live `live` at `addr`.
    fn plan(&self, live: &Self, addr: &Addr, d: &Diff) -> Step {
        if !live.owned(&d.owners, addr) {
            Step::Adopt(vec![live.conflict(&d.owners)])
        } else if self.differs(live) {
            Step::Update(vec![])
        } else {
            Step::Keep
        }
    }

    /// Why a live resource of the IoT account that is no longer desired is deleted (None: it is
    /// left alone).
    fn leftover(&self, _addr: &Addr, _d: &Diff) -> Option<String> {
        None
    }

    /// The permissions its calls for `u` need, in its account (`xacct permissions`).
    fn calls(&self, cfg: &Config, account: &str, u: Use) -> Vec<Call>;

    /// Read the live resource `self` names (None: absent).
    fn read(&self, c: &Clients) -> impl Future<Output = Result<Option<Found>, AwsError>> + Send;

    /// Create it (converging on one that an interrupted apply of this fleet created).
    fn create(&self, c: &Clients, w: &Writing)
        -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Bring the existing resource to `self`.
    fn update(&self, c: &Clients) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Delete it (absent already is done).
    fn delete(&self, c: &Clients) -> impl Future<Output = Result<(), AwsError>> + Send;
}

impl Spec {
    /// The kind of resource this spec describes.
    pub fn kind(&self) -> Kind {
        fn k<M: Managed>(_: &M) -> Kind {
            M::KIND
        }
        each_spec!(self, x => k(x))
    }
    pub fn addr_name(&self) -> String {
        each_spec!(self, x => x.addr_name())
    }
    pub fn attrs(&self) -> Value {
        each_spec!(self, x => x.attrs())
    }
    pub fn document(&self) -> Option<&Value> {
        each_spec!(self, x => x.document())
    }
    /// Whether `live` must be written to reach `self` (specs of two kinds always differ).
    pub fn differs(&self, live: &Spec) -> bool {
        fn d<M: Managed>(want: &M, live: &Spec) -> bool {
            M::of(live).is_none_or(|l| want.differs(l))
        }
        each_spec!(self, x => d(x, live))
    }
    /// What a change from `before` to `self` newly grants.
    pub fn broadens(&self, before: Option<&Spec>) -> Vec<String> {
        fn b<M: Managed>(after: &M, before: Option<&Spec>) -> Vec<String> {
            after.broadens(before.and_then(M::of))
        }
        each_spec!(self, x => b(x, before))
    }
    pub fn calls(&self, cfg: &Config, account: &str, u: Use) -> Vec<Call> {
        each_spec!(self, x => x.calls(cfg, account, u))
    }
    pub async fn read(&self, c: &Clients) -> Result<Option<Found>, AwsError> {
        each_spec!(self, x => x.read(c).await)
    }
    pub async fn create(&self, c: &Clients, w: &Writing) -> Result<(), AwsError> {
        each_spec!(self, x => x.create(c, w).await)
    }
    pub async fn update(&self, c: &Clients) -> Result<(), AwsError> {
        each_spec!(self, x => x.update(c).await)
    }
    pub async fn delete(&self, c: &Clients) -> Result<(), AwsError> {
        each_spec!(self, x => x.delete(c).await)
    }
}

// ---------------------------------------------------------------------------------------------------
// Ownership and the planner's state, shared by the kinds' rules

/// The IoT role ARNs and role alias ARNs the fleet may have, in either layout (one shared alias and
/// role, or one per environment when devices are gated).
pub fn fleet_iot_arns(cfg: &Config) -> (Vec<String>, Vec<String>) {
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

/// What ownership depends on besides the resource itself.
pub struct Owners<'a> {
    pub cfg: &'a Config,
    pub snap: &'a Snapshot,
    desired: &'a [Resource],
    /// The fleet is established in the IoT account when our tagged IoT role exists there. xacct
    /// creates (or adopts) the alias and the IoT policy together with that role, so while it exists
    /// they are ours even if someone repointed or broadened them out of band: that is drift to
    /// repair, not a conflict.
    pub established: bool,
}

impl<'a> Owners<'a> {
    pub fn new(cfg: &'a Config, desired: &'a [Resource], snap: &'a Snapshot) -> Owners<'a> {
        let mut o = Owners {
            cfg,
            snap,
            desired,
            established: false,
        };
        // (with gated devices every environment has its own IoT role: any of them will do)
        o.established = desired
            .iter()
            .filter(|r| r.addr.kind == Kind::IamRole && r.addr.lane() == Lane::Source)
            .filter_map(|r| Some((&r.addr, snap.live.get(&r.addr)?)))
            .any(|(a, l)| o.owned(a, l));
        o
    }

    /// Is the live resource at `addr` xacct's, by its kind's ownership rule?
    pub fn owned(&self, addr: &Addr, live: &Live) -> bool {
        each_spec!(&live.spec, x => x.owned(self, addr))
    }

    /// The environment a desired role at `addr` belongs to (its `xacct:env` tag), if any.
    pub fn env_tag(&self, addr: &Addr) -> Option<&str> {
        self.desired
            .iter()
            .find(|r| &r.addr == addr)
            .and_then(|r| IamRole::of(&r.spec))
            .and_then(|r| r.tags.get(ENV_TAG))
            .map(String::as_str)
    }

    /// The live resource at `addr`, with its address as the snapshot holds it.
    pub fn live_at(&self, addr: &Addr) -> Option<(&Addr, &Live)> {
        self.snap.live.get_key_value(addr)
    }
}

/// The planner's state while it walks the desired resources in order.
pub struct Diff<'a> {
    pub owners: Owners<'a>,
    /// Addresses created or replaced so far in this plan.
    pub fresh: Vec<Addr>,
    /// Addresses this plan adopts (not owned).
    pub adopted: Vec<Addr>,
}

impl Diff<'_> {
    /// Why an owned resource of the other IoT layout is deleted.
    pub fn layout_note(&self) -> String {
        if self.owners.cfg.gated() {
            "replaced by the environments' own roles, aliases and policies (devices are gated)"
        } else {
            "replaced by the fleet's shared role, alias and policy (no environment gates its devices)"
        }
        .into()
    }
}

/// The ARN of role `name` in `account` (xacct's roles have the path `/`).
pub fn role_arn(cfg: &Config, account: &str, name: &str) -> String {
    format!("arn:{}:iam::{account}:role/{name}", cfg.partition)
}

/// The ARN of an IoT resource (`rolealias/NAME`, `policy/NAME`, `cert/ID`, `thinggroup/NAME`).
pub fn iot_arn(cfg: &Config, account: &str, resource: &str) -> String {
    format!(
        "arn:{}:iot:{}:{account}:{resource}",
        cfg.partition, cfg.region
    )
}

/// The address of the role named `role_name` beside `addr` (same account and environment).
pub fn role_addr(addr: &Addr, role_name: &str) -> Addr {
    Addr {
        account: addr.account.clone(),
        env: addr.env.clone(),
        kind: Kind::IamRole,
        name: role_name.to_string(),
    }
}

/// Serialize a document for a write.
pub(crate) fn doc(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A read that found nothing is an absent resource, not an error.
pub(crate) fn absent<T>(e: AwsError) -> Result<Option<T>, AwsError> {
    if e.not_found() {
        Ok(None)
    } else {
        Err(e)
    }
}

/// A delete that found nothing is done.
pub(crate) fn gone(e: AwsError) -> Result<(), AwsError> {
    if e.not_found() {
        Ok(())
    } else {
        Err(e)
    }
}
