//! The plan: desired state + live snapshot → ordered changes (a value). Pure: no network, no I/O.
//!
//! A `Plan` says what apply will do, and carries the fingerprint of the live state it was computed
//! from: applying a saved plan re-reads that state and refuses when it changed. `before` and the notes
//! are for display only; apply acts on `action` and `after` alone.

pub mod render;

use crate::config::{Config, OWNER_TAG};
use crate::model::{Addr, Kind, Live, Resource, Spec};
use crate::policy;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

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
}

/// One change to one resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    pub addr: Addr,
    pub action: Action,
    /// The live state (display only).
    pub before: Option<Spec>,
    /// The state apply writes (None for delete).
    pub after: Option<Spec>,
    /// Explanations for people (display only).
    #[serde(default)]
    pub notes: Vec<String>,
    /// What this change newly grants: principals, actions, resources (display and confirmation only).
    #[serde(default)]
    pub broadens: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Apply,
    Destroy,
}

/// What the live read found: every address that was read and exists, with its normalized state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub live: BTreeMap<Addr, Live>,
}

impl Snapshot {
    /// A digest of everything read, to detect that the live state changed since a plan was made.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for (addr, live) in &self.live {
            h.update(serde_json::to_vec(addr).unwrap_or_default());
            let mut l = live.clone();
            normalize_spec(&mut l.spec);
            h.update(serde_json::to_vec(&l).unwrap_or_default());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn normalize_spec(s: &mut Spec) {
    match s {
        Spec::IamRole {
            assume_role_policy: d,
            ..
        }
        | Spec::IamRolePolicy { policy: d, .. }
        | Spec::IotPolicy { policy: d, .. } => *d = policy::normalize(d),
        _ => {}
    }
}

/// A plan: the changes, in the order they must be applied, and what they were computed from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    pub mode: Mode,
    /// The validated environment file the plan was made from (apply uses its accounts and access).
    pub config: Config,
    /// The environments that were selected (`--env`); empty = all.
    pub selected: Vec<String>,
    pub changes: Vec<Change>,
    /// Resources left alone because xacct does not own them (destroy).
    #[serde(default)]
    pub untouched: Vec<Addr>,
    /// Fingerprint of the live snapshot this plan was computed from.
    pub prior_fingerprint: String,
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

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
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
        self.changes.iter().filter(|c| c.action == Action::Adopt)
    }
}

/// Does the live role carry our ownership tag?
fn role_owned(cfg: &Config, live: &Live) -> bool {
    matches!(&live.spec, Spec::IamRole { tags, .. } if tags.get(OWNER_TAG) == Some(&cfg.fleet))
}

/// An IoT policy is ours when it grants nothing but `iot:AssumeRoleWithCertificate` on our alias.
pub fn iot_policy_owned(cfg: &Config, doc: &Value) -> bool {
    let alias = cfg.alias_arn();
    let norm = policy::normalize(doc);
    let Some(Value::Array(stmts)) = norm.get("Statement") else {
        return true;
    };
    stmts.iter().all(|s| {
        if s.get("Effect").and_then(Value::as_str) == Some("Deny") {
            return true;
        }
        let only = |key: &str, allowed: &str| match s.get(key) {
            Some(Value::Array(a)) => a
                .iter()
                .all(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(allowed))),
            _ => false,
        };
        only("Action", "iot:AssumeRoleWithCertificate")
            && match s.get("Resource") {
                Some(Value::Array(a)) => a.iter().all(|x| x.as_str() == Some(alias.as_str())),
                _ => false,
            }
    })
}

/// The fleet is established in the IoT account when our tagged IoT role exists there. xacct creates
/// (or adopts) the alias and the IoT policy together with that role, so while it exists they are ours
/// even if someone repointed or broadened them out of band: that is drift to repair, not a conflict.
fn fleet_established(cfg: &Config, desired: &[Resource], snap: &Snapshot) -> bool {
    desired
        .iter()
        .find(|r| r.addr.kind == Kind::IamRole && r.addr.env.is_none())
        .and_then(|r| snap.live.get(&r.addr))
        .is_some_and(|l| role_owned(cfg, l))
}

fn alias_owned(cfg: &Config, established: bool, spec: &Spec) -> bool {
    established
        || matches!(spec, Spec::IotRoleAlias { role_arn, .. } if *role_arn == cfg.iot_role_arn())
}

fn iot_policy_spec_owned(cfg: &Config, established: bool, spec: &Spec) -> bool {
    established || matches!(spec, Spec::IotPolicy { policy, .. } if iot_policy_owned(cfg, policy))
}

fn ownership_note(cfg: &Config, spec: &Spec) -> String {
    match spec {
        Spec::IamRole { tags, .. } => match tags.get(OWNER_TAG) {
            Some(f) => format!("conflict: role is owned by fleet `{f}` (tag {OWNER_TAG}={f}), not `{}`", cfg.fleet),
            None => format!("conflict: role exists without the {OWNER_TAG} tag; xacct does not own it"),
        },
        Spec::IotRoleAlias { role_arn, .. } => {
            format!("conflict: alias points at {role_arn}, which is not {}", cfg.iot_role_arn())
        }
        Spec::IotPolicy { .. } => format!(
            "conflict: policy grants more than iot:AssumeRoleWithCertificate on {}; xacct does not own it",
            cfg.alias_arn()
        ),
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
        | (Spec::IotPolicy { policy: a, .. }, Spec::IotPolicy { policy: b, .. }) => {
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

/// Compare the desired resources with the live snapshot. Unchanged resources are omitted.
pub fn diff(cfg: &Config, desired: &[Resource], snap: &Snapshot) -> Vec<Change> {
    let mut changes = Vec::new();
    // roles that are (re)created or unowned, by (account, role name)
    let mut fresh_roles: Vec<(String, String)> = Vec::new();
    let mut unowned_roles: Vec<(String, String)> = Vec::new();
    let mut iot_policy_ok = true;
    let established = fleet_established(cfg, desired, snap);

    for r in desired {
        let live = snap.live.get(&r.addr);
        let change = |action, notes| Change {
            addr: r.addr.clone(),
            action,
            before: live.map(|l| l.spec.clone()),
            after: Some(r.spec.clone()),
            notes,
            broadens: vec![],
        };
        match (&r.spec, live) {
            (Spec::IamRole { role_name, .. }, None) => {
                fresh_roles.push((r.addr.account.clone(), role_name.clone()));
                changes.push(change(Action::Create, vec![]));
            }
            (
                Spec::IamRole {
                    role_name, path, ..
                },
                Some(l),
            ) => {
                let key = (r.addr.account.clone(), role_name.clone());
                if !role_owned(cfg, l) {
                    unowned_roles.push(key);
                    changes.push(change(Action::Adopt, vec![ownership_note(cfg, &l.spec)]));
                } else if matches!(&l.spec, Spec::IamRole { path: p, .. } if p != path) {
                    fresh_roles.push(key);
                    changes.push(change(
                        Action::Replace,
                        vec![format!(
                            "the role's path must be {path}; IAM cannot change a path in place"
                        )],
                    ));
                } else if differs(&r.spec, &l.spec) {
                    changes.push(change(Action::Update, aroa_notes(&l.spec)));
                }
            }
            (Spec::IamRolePolicy { role_name, .. }, l) => {
                let key = (r.addr.account.clone(), role_name.clone());
                if fresh_roles.contains(&key) {
                    let mut c = change(Action::Create, vec![]);
                    c.before = None;
                    changes.push(c);
                } else if let Some(l) = l {
                    if differs(&r.spec, &l.spec) {
                        let notes = if unowned_roles.contains(&key) {
                            vec!["part of adopting the role".to_string()]
                        } else {
                            vec![]
                        };
                        changes.push(change(Action::Update, notes));
                    }
                } else {
                    changes.push(change(Action::Create, vec![]));
                }
            }
            (Spec::IotRoleAlias { .. }, None) | (Spec::IotPolicy { .. }, None) => {
                changes.push(change(Action::Create, vec![]))
            }
            (Spec::IotRoleAlias { role_arn, .. }, Some(l)) => {
                if !alias_owned(cfg, established, &l.spec) {
                    changes.push(change(Action::Adopt, vec![ownership_note(cfg, &l.spec)]));
                } else if differs(&r.spec, &l.spec) {
                    let notes = match &l.spec {
                        Spec::IotRoleAlias { role_arn: a, .. } if a != role_arn => {
                            vec![format!("the alias was repointed to {a} out of band")]
                        }
                        _ => vec![],
                    };
                    changes.push(change(Action::Update, notes));
                }
            }
            (Spec::IotPolicy { .. }, Some(l)) => {
                if !iot_policy_spec_owned(cfg, established, &l.spec) {
                    iot_policy_ok = false;
                    changes.push(change(Action::Adopt, vec![ownership_note(cfg, &l.spec)]));
                } else if differs(&r.spec, &l.spec) {
                    changes.push(change(Action::Update, vec![]));
                }
            }
            (Spec::IotPolicyAttachment { .. }, None) => {
                changes.push(change(Action::Create, vec![]))
            }
            (Spec::IotPolicyAttachment { .. }, Some(_)) => {}
        }
    }
    // live attachments of our policy to certificates that are no longer listed
    if iot_policy_ok {
        for (addr, l) in &snap.live {
            if addr.kind == Kind::IotPolicyAttachment && !desired.iter().any(|r| &r.addr == addr) {
                changes.push(Change {
                    addr: addr.clone(),
                    action: Action::Delete,
                    before: Some(l.spec.clone()),
                    after: None,
                    notes: vec!["certificate is no longer listed in iot.certificates".into()],
                    broadens: vec![],
                });
            }
        }
    }
    for c in changes.iter_mut() {
        c.broadens = broadens(c);
    }
    changes
}

/// The Allow grants of a document: (principals, actions, resources).
fn grants(doc: &Value) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut p = Vec::new();
    let mut a = Vec::new();
    let mut r = Vec::new();
    if let Some(Value::Array(stmts)) = policy::normalize(doc).get("Statement") {
        for s in stmts
            .iter()
            .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        {
            let strs = policy::strings;
            match s.get("Principal") {
                Some(Value::Object(o)) => {
                    for (k, v) in o {
                        p.extend(strs(Some(v)).into_iter().map(|x| format!("{k}:{x}")));
                    }
                }
                Some(Value::String(x)) => p.push(x.clone()),
                _ => {}
            }
            a.extend(
                strs(s.get("Action"))
                    .into_iter()
                    .map(|x| x.to_ascii_lowercase()),
            );
            a.extend(
                strs(s.get("NotAction"))
                    .into_iter()
                    .map(|x| format!("not {}", x.to_ascii_lowercase())),
            );
            r.extend(strs(s.get("Resource")));
            r.extend(
                strs(s.get("NotResource"))
                    .into_iter()
                    .map(|x| format!("not {x}")),
            );
        }
    }
    (p, a, r)
}

/// What a change newly grants compared with the live state: a new principal in a trust policy, a new
/// action or resource in a permissions policy, a certificate that gains the fleet's IoT policy, an alias
/// that hands out another role.
pub fn broadens(c: &Change) -> Vec<String> {
    let mut out = Vec::new();
    match (&c.before, &c.after, c.action) {
        (_, Some(Spec::IotPolicyAttachment { certificate_id, .. }), Action::Create) => {
            out.push(format!(
                "certificate {certificate_id} gains the fleet's IoT policy"
            ));
        }
        (Some(before), Some(after), Action::Update | Action::Adopt | Action::Replace) => {
            if let (Some(b), Some(a)) = (before.document(), after.document()) {
                let (bp, ba, br) = grants(b);
                let (ap, aa, ar) = grants(a);
                // a role of an account that was trusted as a whole (`:root`, the id, `*`) is no broadening
                let covered = |x: &str| {
                    let acct = x.split(':').nth(5).unwrap_or("");
                    bp.iter().any(|b| {
                        b == "AWS:*"
                            || b == "*"
                            || (!acct.is_empty()
                                && (b == &format!("AWS:{acct}")
                                    || b.ends_with(&format!("::{acct}:root"))))
                    })
                };
                for x in ap.iter().filter(|x| !bp.contains(x) && !covered(x)) {
                    out.push(format!("new principal {x}"));
                }
                for x in aa.iter().filter(|x| !ba.contains(x)) {
                    out.push(format!("new action {x}"));
                }
                for x in ar.iter().filter(|x| !br.contains(x)) {
                    out.push(format!("new resource {x}"));
                }
            }
            if let (
                Spec::IotRoleAlias { role_arn: b, .. },
                Spec::IotRoleAlias { role_arn: a, .. },
            ) = (before, after)
            {
                if a != b {
                    out.push(format!("the alias hands out credentials of {a}"));
                }
            }
        }
        _ => {}
    }
    out
}

/// Changes that remove everything xacct owns among `desired`, in reverse dependency order; and the
/// addresses left alone because they are not ours.
pub fn destroy(cfg: &Config, desired: &[Resource], snap: &Snapshot) -> (Vec<Change>, Vec<Addr>) {
    let mut changes = Vec::new();
    let mut untouched = Vec::new();
    let established = fleet_established(cfg, desired, snap);
    let owned = |addr: &Addr, l: &Live| -> bool {
        match &l.spec {
            Spec::IamRole { .. } => role_owned(cfg, l),
            Spec::IamRolePolicy { role_name, .. } => desired
                .iter()
                .find(|r| {
                    r.addr.kind == Kind::IamRole
                        && r.addr.account == addr.account
                        && matches!(&r.spec, Spec::IamRole { role_name: n, .. } if n == role_name)
                })
                .and_then(|r| snap.live.get(&r.addr))
                .is_some_and(|rl| role_owned(cfg, rl)),
            Spec::IotRoleAlias { .. } => alias_owned(cfg, established, &l.spec),
            Spec::IotPolicy { .. } => iot_policy_spec_owned(cfg, established, &l.spec),
            Spec::IotPolicyAttachment { .. } => snap
                .live
                .iter()
                .find(|(a, _)| a.kind == Kind::IotPolicy)
                .is_some_and(|(_, pl)| iot_policy_spec_owned(cfg, established, &pl.spec)),
        }
    };
    // everything live that we read: desired addresses plus extra attachments
    let mut addrs: Vec<&Addr> = desired.iter().map(|r| &r.addr).collect();
    for a in snap.live.keys() {
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    // reverse creation order: attachments, policy, alias, target roles (policy, role), IoT role
    let rank = |a: &Addr| -> (u8, u8) {
        let env_first = if a.env.is_some() { 0 } else { 1 };
        match a.kind {
            Kind::IotPolicyAttachment => (0, 0),
            Kind::IotPolicy => (0, 1),
            Kind::IotRoleAlias => (0, 2),
            Kind::IamRolePolicy => (1 + env_first, 0),
            Kind::IamRole => (1 + env_first, 1),
        }
    };
    addrs.sort_by_key(|a| (rank(a), a.env.clone(), a.name.clone()));
    for a in addrs {
        let Some(l) = snap.live.get(a) else { continue };
        if owned(a, l) {
            changes.push(Change {
                addr: a.clone(),
                action: Action::Delete,
                before: Some(l.spec.clone()),
                after: None,
                notes: vec![],
                broadens: vec![],
            });
        } else {
            untouched.push(a.clone());
        }
    }
    (changes, untouched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Live;
    use serde_json::json;
    use std::path::Path;

    fn cfg() -> Config {
        crate::config::parse(
            Path::new("t.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\", certificates: [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}\nenvironments:\n  a: {account: \"222222222222\", functions: [x]}\n",
        )
        .unwrap()
    }

    /// The snapshot of a fully applied fleet, as IAM would return it (single values un-listed).
    fn applied(cfg: &Config) -> (Vec<Resource>, Snapshot) {
        let desired = crate::desired::desired(cfg);
        let mut snap = Snapshot::default();
        for r in &desired {
            snap.live.insert(
                r.addr.clone(),
                Live {
                    spec: r.spec.clone(),
                    arn: None,
                },
            );
        }
        (desired, snap)
    }

    fn set_trust(snap: &mut Snapshot, env: &str, trust: Value) {
        for (a, l) in snap.live.iter_mut() {
            if a.env.as_deref() == Some(env) && a.kind == Kind::IamRole {
                if let Spec::IamRole {
                    assume_role_policy, ..
                } = &mut l.spec
                {
                    *assume_role_policy = trust.clone();
                }
            }
        }
    }

    #[test]
    fn empty_accounts_plan_creates_everything_in_order() {
        let c = cfg();
        let desired = crate::desired::desired(&c);
        let ch = diff(&c, &desired, &Snapshot::default());
        assert_eq!(ch.len(), 7);
        assert!(ch.iter().all(|c| c.action == Action::Create));
        assert_eq!(ch[0].addr.kind, Kind::IamRole);
        assert_eq!(ch[0].addr.env, None);
    }

    #[test]
    fn applied_state_plans_nothing_even_when_iam_reformats_documents() {
        let c = cfg();
        let (desired, mut snap) = applied(&c);
        // IAM: single values un-listed, keys reordered, URL-encoded
        let t = r#"{"Statement":[{"Action":"sts:AssumeRole","Principal":{"AWS":"arn:aws:iam::111111111111:role/f-device"},"Effect":"Allow","Sid":"IotDeviceRole"}],"Version":"2012-10-17"}"#;
        let enc = percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        set_trust(&mut snap, "a", crate::policy::parse_document(&enc).unwrap());
        assert_eq!(diff(&c, &desired, &snap), vec![]);
    }

    #[test]
    fn aroa_principal_is_planned_as_an_update_with_a_note() {
        let c = cfg();
        let (desired, mut snap) = applied(&c);
        set_trust(
            &mut snap,
            "a",
            json!({"Version":"2012-10-17","Statement":[{"Sid":"IotDeviceRole","Effect":"Allow","Principal":{"AWS":"AROA4EXAMPLEUNIQUEID"},"Action":"sts:AssumeRole"}]}),
        );
        let ch = diff(&c, &desired, &snap);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].action, Action::Update);
        assert!(
            ch[0].notes[0].contains("AROA4EXAMPLEUNIQUEID"),
            "{:?}",
            ch[0].notes
        );
    }

    #[test]
    fn untagged_role_is_a_conflict_and_destroy_leaves_it() {
        let c = cfg();
        let (desired, mut snap) = applied(&c);
        for (a, l) in snap.live.iter_mut() {
            if a.env.is_some() && a.kind == Kind::IamRole {
                if let Spec::IamRole { tags, .. } = &mut l.spec {
                    tags.clear();
                }
            }
        }
        let ch = diff(&c, &desired, &snap);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].action, Action::Adopt);
        let (del, untouched) = destroy(&c, &desired, &snap);
        assert_eq!(
            untouched.len(),
            2,
            "the role and its inline policy stay: {untouched:?}"
        );
        assert!(del.iter().all(|d| d.addr.env.is_none()));
    }

    #[test]
    fn foreign_alias_is_a_conflict_in_a_fresh_account_but_drift_once_the_fleet_exists() {
        let c = cfg();
        let (desired, mut snap) = applied(&c);
        let other = "arn:aws:iam::111111111111:role/other".to_string();
        for l in snap.live.values_mut() {
            if let Spec::IotRoleAlias { role_arn, .. } = &mut l.spec {
                *role_arn = other.clone();
            }
        }
        let ch = diff(&c, &desired, &snap);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].action, Action::Update);
        // without our IoT role, the same alias is someone else's
        snap.live
            .retain(|a, _| !(a.kind == Kind::IamRole && a.env.is_none()));
        let ch = diff(&c, &desired, &snap);
        let alias = ch
            .iter()
            .find(|c| c.addr.kind == Kind::IotRoleAlias)
            .unwrap();
        assert_eq!(alias.action, Action::Adopt);
    }

    #[test]
    fn role_with_another_path_is_replaced_with_its_policy() {
        let c = cfg();
        let (desired, mut snap) = applied(&c);
        for (a, l) in snap.live.iter_mut() {
            if a.env.is_some() {
                if let Spec::IamRole { path, .. } = &mut l.spec {
                    *path = "/legacy/".into();
                }
            }
        }
        let ch = diff(&c, &desired, &snap);
        let actions: Vec<(Kind, Action)> = ch.iter().map(|c| (c.addr.kind, c.action)).collect();
        assert_eq!(
            actions,
            vec![
                (Kind::IamRole, Action::Replace),
                (Kind::IamRolePolicy, Action::Create)
            ]
        );
    }

    #[test]
    fn unlisted_certificate_attachment_is_deleted_and_destroy_order_is_reverse() {
        let c = cfg();
        let (desired, mut snap) = applied(&c);
        let extra = crate::desired::attachment(&c, &"b".repeat(64));
        snap.live.insert(
            extra.addr.clone(),
            Live {
                spec: extra.spec.clone(),
                arn: None,
            },
        );
        let ch = diff(&c, &desired, &snap);
        assert_eq!(ch.len(), 1);
        assert_eq!(
            (ch[0].addr.kind, ch[0].action),
            (Kind::IotPolicyAttachment, Action::Delete)
        );
        let (del, _) = destroy(&c, &desired, &snap);
        let order: Vec<(Kind, bool)> = del
            .iter()
            .map(|d| (d.addr.kind, d.addr.env.is_some()))
            .collect();
        assert_eq!(
            order,
            vec![
                (Kind::IotPolicyAttachment, false),
                (Kind::IotPolicyAttachment, false),
                (Kind::IotPolicy, false),
                (Kind::IotRoleAlias, false),
                (Kind::IamRolePolicy, true),
                (Kind::IamRole, true),
                (Kind::IamRolePolicy, false),
                (Kind::IamRole, false),
            ]
        );
    }

    #[test]
    fn fingerprint_changes_with_the_live_state_only() {
        let c = cfg();
        let (_, snap) = applied(&c);
        let a = snap.fingerprint();
        assert_eq!(a, snap.clone().fingerprint());
        let mut other = snap.clone();
        set_trust(&mut other, "a", json!({"Statement":[]}));
        assert_ne!(a, other.fingerprint());
    }
}
