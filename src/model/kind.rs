//! The resource kinds as one table: for each kind, its name, its dependency rank and its apply lane.
//! Plan order, apply lanes and destroy order all derive from this table; everything else a kind
//! does (its reads and writes, ownership, comparison, what a change grants) is its file in `kinds`.

use super::Addr;
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
}

/// The table.
pub const KINDS: [KindDef; 7] = [
    KindDef {
        kind: Kind::IamRole,
        name: "iam_role",
        rank: 0,
        source_lane: SourceLane::Source,
    },
    KindDef {
        kind: Kind::IamRolePolicy,
        name: "iam_role_policy",
        rank: 1,
        source_lane: SourceLane::Source,
    },
    KindDef {
        kind: Kind::IotRoleAlias,
        name: "iot_role_alias",
        rank: 2,
        source_lane: SourceLane::Parallel("alias"),
    },
    KindDef {
        kind: Kind::IotPolicy,
        name: "iot_policy",
        rank: 3,
        source_lane: SourceLane::Parallel("policy"),
    },
    KindDef {
        kind: Kind::IotPolicyAttachment,
        name: "iot_policy_attachment",
        rank: 4,
        source_lane: SourceLane::Parallel("policy"),
    },
    KindDef {
        kind: Kind::SourceRolePolicy,
        name: "source_role_policy",
        rank: 5,
        source_lane: SourceLane::Source,
    },
    KindDef {
        kind: Kind::LambdaPermission,
        name: "lambda_permission",
        rank: 6,
        source_lane: SourceLane::Parallel("lambda"),
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
