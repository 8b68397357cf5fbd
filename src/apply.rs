//! Executes a plan: lanes and their order derived from the table of kinds, independent lanes in
//! parallel, each change written only with the clients of the account its address names. Progress
//! goes to the `Reporter` the caller passes in; this module prints nothing.

use crate::aws::{write, Accounts, AwsError, Clients};
use crate::model::Lane;
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
async fn apply_change(c: &Clients, ch: &Change) -> Result<(), AwsError> {
    match &ch.op {
        Op::Create { after } => write::create(c, after).await,
        Op::Update { after, .. } | Op::Adopt { after, .. } => write::update(c, after).await,
        Op::Replace { before, after } => {
            write::delete(c, before).await?;
            write::create(c, after).await
        }
        Op::Delete { before } => write::delete(c, before).await,
    }
}

async fn run_lane(
    lane: Vec<(&Change, &Clients)>,
    reporter: &dyn Reporter,
) -> Result<usize, AwsError> {
    let mut n = 0;
    for (ch, c) in lane {
        apply_change(c, ch).await?;
        n += 1;
        reporter.landed(ch);
    }
    Ok(n)
}

/// Apply every change of `plan`. Returns how many changes landed, or every error (other lanes keep
/// going when one fails, so independent accounts still converge).
///
/// Before any write, every change's clients are looked up and checked to act in the change's
/// account; one mismatch refuses the whole plan with nothing written. The source lane (the chain's
/// source identity, which everything else trusts or points at) runs first, and its deletes last.
pub async fn apply(
    plan: &Plan,
    accts: &Accounts,
    reporter: &dyn Reporter,
) -> Result<usize, (usize, Vec<AwsError>)> {
    let mut bound = Vec::with_capacity(plan.changes.len());
    let mut errors = Vec::new();
    for ch in &plan.changes {
        match accts.for_addr(&ch.addr) {
            Ok(c) => bound.push((ch, c)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err((0, errors));
    }
    let is_delete = |ch: &Change| matches!(ch.op, Op::Delete { .. });
    let mut source_first = Vec::new();
    let mut source_last = Vec::new();
    let mut lanes: BTreeMap<Lane, Vec<(&Change, &Clients)>> = BTreeMap::new();
    for (ch, c) in bound {
        match ch.addr.lane() {
            Lane::Source if is_delete(ch) => source_last.push((ch, c)),
            Lane::Source => source_first.push((ch, c)),
            lane => lanes.entry(lane).or_default().push((ch, c)),
        }
    }
    let mut done = 0;
    if !source_first.is_empty() {
        match run_lane(source_first, reporter).await {
            Ok(n) => done += n,
            Err(e) => return Err((done, vec![e])),
        }
    }
    let results =
        futures::future::join_all(lanes.into_values().map(|l| run_lane(l, reporter))).await;
    for r in results {
        match r {
            Ok(n) => done += n,
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err((done, errors));
    }
    if !source_last.is_empty() {
        match run_lane(source_last, reporter).await {
            Ok(n) => done += n,
            Err(e) => return Err((done, vec![e])),
        }
    }
    Ok(done)
}
