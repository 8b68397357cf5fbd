//! Executes a plan: lanes and their order derived from the table of kinds, independent lanes in
//! parallel, each change written only with the clients of the account its address names. Progress
//! goes to the `Reporter` the caller passes in; this module prints nothing.

use crate::aws::{Accounts, AwsError, Clients};
use crate::model::kinds::Writing;
use crate::model::{IotRoleAlias, Kind, Lane, Managed};
use crate::plan::{Change, Op, Plan};
use std::collections::BTreeMap;

/// Receives progress as each change lands.
pub trait Reporter: Sync {
    fn landed(&self, change: &Change);
}

/// A reporter that ignores progress.
pub struct Quiet;

impl Reporter for Quiet {
    fn landed(&self, _: &Change) {}
}

/// Carry out one change with the clients of its account.
async fn apply_change(c: &Clients, ch: &Change, w: &Writing) -> Result<(), AwsError> {
    match &ch.op {
        Op::Create { after } => after.create(c, w).await,
        Op::Update { after, .. } | Op::Adopt { after, .. } => after.update(c).await,
        Op::Replace { before, after } => {
            before.delete(c).await?;
            after.create(c, w).await
        }
        Op::Delete { before } => before.delete(c).await,
    }
}

async fn run_lane(
    lane: Vec<(&Change, &Clients)>,
    w: &Writing,
    reporter: &dyn Reporter,
) -> Result<usize, AwsError> {
    let mut n = 0;
    for (ch, c) in lane {
        apply_change(c, ch, w).await?;
        n += 1;
        reporter.landed(ch);
    }
    Ok(n)
}

/// The order apply runs the changes in: stages one after another, each a set of lanes that run in
/// parallel, each lane in plan order. Derived from the table of kinds:
/// - the source lane (the chain's source identity, which everything else trusts or points at) runs
///   first, and its deletes last;
/// - every other lane (the alias, the IoT policy, each environment) runs in parallel between them;
/// - every other delete waits until every create and update has landed (moving between one shared
///   alias and per-environment aliases creates the new before it deletes the old, so no device that
///   was allowed loses access on the way);
/// - except that when the alias's credential duration goes down, the alias is updated before the
///   source role's MaxSessionDuration is lowered (when it goes up, the role is raised first), so the
///   alias never asks for more than the role allows.
pub fn stages(plan: &Plan) -> Vec<Vec<Vec<&Change>>> {
    let is_delete = |ch: &Change| matches!(ch.op, Op::Delete { .. });
    let lowers_duration = |ch: &Change| match &ch.op {
        Op::Update { before, after } | Op::Adopt { before, after } => {
            match (IotRoleAlias::of(before), IotRoleAlias::of(after)) {
                (Some(b), Some(a)) => a.credential_duration < b.credential_duration,
                (None, _) | (_, None) => false,
            }
        }
        _ => false,
    };
    // the role can only be lowered after the alias when it already exists
    let source_created = plan.changes.iter().any(|c| {
        c.addr.lane() == Lane::Source && matches!(c.op, Op::Create { .. } | Op::Replace { .. })
    });
    let alias_first = !source_created && plan.changes.iter().any(lowers_duration);
    let mut early: BTreeMap<Lane, Vec<&Change>> = BTreeMap::new();
    let mut source_first = Vec::new();
    let mut source_last = Vec::new();
    let mut lanes: BTreeMap<Lane, Vec<&Change>> = BTreeMap::new();
    let mut late: BTreeMap<Lane, Vec<&Change>> = BTreeMap::new();
    for ch in &plan.changes {
        match ch.addr.lane() {
            Lane::Source if is_delete(ch) => source_last.push(ch),
            lane if is_delete(ch) => late.entry(lane).or_default().push(ch),
            Lane::Source => source_first.push(ch),
            lane if alias_first && ch.addr.kind == Kind::IotRoleAlias => {
                early.entry(lane).or_default().push(ch)
            }
            lane => lanes.entry(lane).or_default().push(ch),
        }
    }
    let mut out = Vec::new();
    for stage in [
        early.into_values().collect(),
        vec![source_first],
        lanes.into_values().collect(),
        late.into_values().collect(),
        vec![source_last],
    ] {
        let stage: Vec<Vec<&Change>> = stage.into_iter().filter(|l| !l.is_empty()).collect();
        if !stage.is_empty() {
            out.push(stage);
        }
    }
    out
}

/// Apply every change of `plan`, stage by stage (see `stages`). Returns how many changes landed, or
/// every error: other lanes of a stage keep going when one fails, so independent accounts still
/// converge, but the next stage does not start.
///
/// Before any write, every change's clients are looked up and checked to act in the change's
/// account; one mismatch refuses the whole plan with nothing written. A create that finds its
/// resource already there (made since the plan) takes it over only when xacct owns it for this fleet
/// and environment, or with `adopt` (`--adopt`); otherwise that lane stops with an error naming the
/// owner.
pub async fn apply(
    plan: &Plan,
    accts: &Accounts,
    adopt: bool,
    reporter: &dyn Reporter,
) -> Result<usize, (usize, Vec<AwsError>)> {
    let w = &Writing::new(&plan.config, adopt);
    let mut errors = Vec::new();
    for ch in &plan.changes {
        if let Err(e) = accts.for_addr(&ch.addr) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err((0, errors));
    }
    let mut done = 0;
    for stage in stages(plan) {
        let results = futures::future::join_all(stage.into_iter().map(|lane| async move {
            let mut bound = Vec::with_capacity(lane.len());
            for ch in lane {
                bound.push((ch, accts.for_addr(&ch.addr)?));
            }
            run_lane(bound, w, reporter).await
        }))
        .await;
        for r in results {
            match r {
                Ok(n) => done += n,
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err((done, errors));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Live;
    use crate::plan::{diff, Mode, Snapshot, FORMAT_VERSION};

    fn cfg(duration: i32) -> crate::config::Config {
        crate::config::parse(
            std::path::Path::new("t.yaml"),
            &format!("fleet: f\nregion: eu-west-1\niot: {{account: \"111111111111\", credential_duration: {duration}}}\nenvironments:\n  a: {{account: \"222222222222\", functions: [x]}}\n"),
        )
        .unwrap()
    }

    /// The plan from the applied state of `old` to the file `new`.
    fn plan_between(old: &crate::config::Config, new: crate::config::Config) -> Plan {
        let mut snap = Snapshot::default();
        for r in crate::desired::desired(old) {
            snap.live.insert(
                r.addr.clone(),
                Live {
                    spec: r.spec,
                    arn: None,
                },
            );
        }
        Plan {
            format_version: FORMAT_VERSION.into(),
            mode: Mode::Apply,
            changes: diff(&new, &crate::desired::desired(&new), &snap),
            config: new,
            selected: vec![],
            untouched: vec![],
            prior_fingerprint: String::new(),
            discovered: Default::default(),
        }
    }

    /// The plan from the applied state of `from` to the file of `to`, as (kind, env?) per stage.
    fn order(from: i32, to: i32) -> Vec<Vec<Kind>> {
        let plan = plan_between(&cfg(from), cfg(to));
        stages(&plan)
            .iter()
            .map(|s| s.iter().flatten().map(|c| c.addr.kind).collect())
            .collect()
    }

    #[test]
    fn lowering_the_duration_updates_the_alias_before_the_role_and_raising_it_the_role_first() {
        assert_eq!(
            order(14400, 7200),
            vec![vec![Kind::IotRoleAlias], vec![Kind::IamRole]]
        );
        assert_eq!(
            order(7200, 14400),
            vec![vec![Kind::IamRole], vec![Kind::IotRoleAlias]]
        );
    }

    #[test]
    fn moving_to_gated_devices_creates_every_new_resource_before_deleting_an_old_one() {
        let new = crate::config::parse(
            std::path::Path::new("t.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\"}\nenvironments:\n  a: {account: \"222222222222\", functions: [x], devices: {thing_group: g}}\n",
        )
        .unwrap();
        let plan = plan_between(&cfg(3600), new);
        let flat: Vec<&Change> = stages(&plan).into_iter().flatten().flatten().collect();
        let first_delete = flat
            .iter()
            .position(|c| matches!(c.op, Op::Delete { .. }))
            .expect("the shared layout is deleted");
        assert!(flat[..first_delete]
            .iter()
            .any(|c| c.addr.kind == Kind::IotRoleAlias && c.addr.name == "f-a"));
        assert!(flat[first_delete..]
            .iter()
            .all(|c| matches!(c.op, Op::Delete { .. })));
        // the shared role goes last
        assert_eq!(flat.last().unwrap().addr.kind, Kind::IamRole);
        assert_eq!(flat.last().unwrap().addr.name, "f-device");
    }
}
