//! The resource kinds as one table: for each kind, its name, its dependency rank, its apply lane, its
//! ownership rule and how a change to it broadens access. Plan order, apply lanes and destroy order
//! all derive from this table; the SDK calls of each kind live in `aws::read` and `aws::write`.

use super::{Addr, Spec};
use serde::{Deserialize, Serialize};

/// The kinds of resource xacct manages.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    IamRole,
    IamRolePolicy,
    IotRoleAlias,
    IotPolicy,
    IotPolicyAttachment,
    SourceRolePolicy,
    LambdaPermission,
}

/// Who owns a live resource of a kind (anything else is left alone, or adopted with `--adopt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Owned when tagged `xacct:fleet=<fleet>`.
    Tag,
    /// Owned when the role it belongs to is owned.
    ParentRole,
    /// Owned once the fleet is established in the account (its tagged source role exists), or when
    /// its content is exactly xacct's (an alias pointing at our role, a policy granting only our alias).
    FleetOrContent,
    /// Owned when the IoT policy it attaches is owned.
    ParentPolicy,
    /// Owned by its name, which is in xacct's namespace (`xacct-<fleet>-…`): an inline policy on a
    /// role xacct does not own.
    Name,
}

/// The apply lane of an account-level resource of the source (IoT) account. Environment resources
/// run in one lane per environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceLane {
    /// The chain's source identity: everything else trusts or points at it, so it is created first
    /// and deleted last.
    Source,
    /// An independent lane, run in parallel with the environments.
    Parallel(&'static str),
}

/// One row of the table.
pub struct KindDef {
    pub kind: Kind,
    /// The name used in plans, addresses and `--json` (`iam_role`, …).
    pub name: &'static str,
    /// Creation order inside a lane; deletes go in reverse.
    pub rank: u8,
    /// The lane of this kind in the source (IoT) account.
    pub source_lane: SourceLane,
    pub ownership: Ownership,
    /// What a change newly grants: `before` is None for a create.
    pub broadens: fn(before: Option<&Spec>, after: &Spec) -> Vec<String>,
}

/// The table.
pub const KINDS: [KindDef; 7] = [
    KindDef {
        kind: Kind::IamRole,
        name: "iam_role",
        rank: 0,
        source_lane: SourceLane::Source,
        ownership: Ownership::Tag,
        broadens: document_broadens,
    },
    KindDef {
        kind: Kind::IamRolePolicy,
        name: "iam_role_policy",
        rank: 1,
        source_lane: SourceLane::Source,
        ownership: Ownership::ParentRole,
        broadens: document_broadens,
    },
    KindDef {
        kind: Kind::IotRoleAlias,
        name: "iot_role_alias",
        rank: 2,
        source_lane: SourceLane::Parallel("alias"),
        ownership: Ownership::FleetOrContent,
        broadens: alias_broadens,
    },
    KindDef {
        kind: Kind::IotPolicy,
        name: "iot_policy",
        rank: 3,
        source_lane: SourceLane::Parallel("policy"),
        ownership: Ownership::FleetOrContent,
        broadens: document_broadens,
    },
    KindDef {
        kind: Kind::IotPolicyAttachment,
        name: "iot_policy_attachment",
        rank: 4,
        source_lane: SourceLane::Parallel("policy"),
        ownership: Ownership::ParentPolicy,
        broadens: attachment_broadens,
    },
    KindDef {
        kind: Kind::SourceRolePolicy,
        name: "source_role_policy",
        rank: 5,
        source_lane: SourceLane::Source,
        ownership: Ownership::Name,
        broadens: document_broadens,
    },
    KindDef {
        kind: Kind::LambdaPermission,
        name: "lambda_permission",
        rank: 6,
        source_lane: SourceLane::Parallel("lambda"),
        ownership: Ownership::Name,
        broadens: permission_broadens,
    },
];

impl Kind {
    /// This kind's row of the table.
    pub fn def(self) -> &'static KindDef {
        let d = &KINDS[self as usize];
        debug_assert_eq!(d.kind, self);
        d
    }
    pub fn as_str(self) -> &'static str {
        self.def().name
    }
    pub fn rank(self) -> u8 {
        self.def().rank
    }
}

/// The lane a change to `addr` runs in: one per environment, and the source account's lanes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    Source,
    Parallel(&'static str),
    Env(String),
}

impl Addr {
    pub fn lane(&self) -> Lane {
        match (&self.env, self.kind.def().source_lane) {
            (Some(e), _) => Lane::Env(e.clone()),
            (None, SourceLane::Source) => Lane::Source,
            (None, SourceLane::Parallel(n)) => Lane::Parallel(n),
        }
    }
}

fn document_broadens(before: Option<&Spec>, after: &Spec) -> Vec<String> {
    match (before.and_then(Spec::document), after.document()) {
        (Some(b), Some(a)) => crate::policy::broadening(b, a),
        _ => vec![],
    }
}

fn alias_broadens(before: Option<&Spec>, after: &Spec) -> Vec<String> {
    match (before, after) {
        (Some(Spec::IotRoleAlias { role_arn: b, .. }), Spec::IotRoleAlias { role_arn: a, .. })
            if a != b =>
        {
            vec![format!("the alias hands out credentials of {a}")]
        }
        _ => vec![],
    }
}

fn permission_broadens(before: Option<&Spec>, after: &Spec) -> Vec<String> {
    match (before, after) {
        (
            Some(Spec::LambdaPermission { principal: b, .. }),
            Spec::LambdaPermission {
                principal: a,
                function,
                ..
            },
        ) if a != b => vec![format!("{a} may invoke {function}")],
        (
            None,
            Spec::LambdaPermission {
                principal,
                function,
                ..
            },
        ) => vec![format!("{principal} may invoke {function}")],
        _ => vec![],
    }
}

fn attachment_broadens(before: Option<&Spec>, after: &Spec) -> Vec<String> {
    match (before, after) {
        (None, Spec::IotPolicyAttachment { certificate_id, .. }) => {
            match certificate_id.strip_prefix("thinggroup/") {
                Some(g) => vec![format!(
                    "the things of thing group {g} (and of its child groups) gain the fleet's IoT policy"
                )],
                None => vec![format!(
                    "certificate {certificate_id} gains the fleet's IoT policy"
                )],
            }
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_indexed_by_kind_and_ranked_in_creation_order() {
        for (i, d) in KINDS.iter().enumerate() {
            assert_eq!(d.kind as usize, i);
            assert_eq!(d.kind.def().name, d.name);
        }
        assert!(KINDS.windows(2).all(|w| w[0].rank < w[1].rank));
    }
}
