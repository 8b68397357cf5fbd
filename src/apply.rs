//! Executes a plan: dependency order, independent accounts in parallel, progress on stderr.

use crate::aws::{write, Accounts, AwsError, Clients};
use crate::model::Kind;
use crate::plan::{Action, Change, Plan};
use std::collections::BTreeMap;
use std::io::Write;

/// Which sequence a change belongs to. Changes in one lane run in plan order; lanes run in parallel,
/// except the IoT role ("core"), which comes first (everything else trusts or points at it) and,
/// when deleted, last.
fn lane(c: &Change) -> String {
    match (&c.addr.env, c.addr.kind) {
        (Some(e), _) => format!("env:{e}"),
        (None, Kind::IamRole | Kind::IamRolePolicy) => "core".into(),
        (None, Kind::IotRoleAlias) => "alias".into(),
        (None, Kind::IotPolicy | Kind::IotPolicyAttachment) => "policy".into(),
    }
}

fn done_word(a: Action) -> &'static str {
    match a {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::Adopt => "adopted",
    }
}

async fn run_lane(clients: &Clients, changes: Vec<&Change>) -> Result<usize, AwsError> {
    let mut n = 0;
    for ch in changes {
        write::apply_change(clients, ch).await?;
        n += 1;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "  {} {}.{} ({}{}) {}",
            ch.action.marker(),
            ch.addr.kind.as_str(),
            ch.addr.name,
            ch.addr.account,
            ch.addr
                .env
                .as_ref()
                .map(|e| format!(", env {e}"))
                .unwrap_or_default(),
            done_word(ch.action)
        );
    }
    Ok(n)
}

/// Apply every change of `plan`. Returns how many changes landed, or every error (other lanes keep
/// going when one fails, so independent accounts still converge).
pub async fn apply(plan: &Plan, accts: &Accounts) -> Result<usize, (usize, Vec<AwsError>)> {
    let clients = |c: &Change| -> &Clients {
        match &c.addr.env {
            Some(e) => accts.envs.get(e).unwrap_or(&accts.iot),
            None => &accts.iot,
        }
    };
    let core_first: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| lane(c) == "core" && c.action != Action::Delete)
        .collect();
    let core_last: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| lane(c) == "core" && c.action == Action::Delete)
        .collect();
    let mut lanes: BTreeMap<String, Vec<&Change>> = BTreeMap::new();
    for c in plan.changes.iter().filter(|c| lane(c) != "core") {
        lanes.entry(lane(c)).or_default().push(c);
    }
    let mut done = 0;
    if !core_first.is_empty() {
        match run_lane(&accts.iot, core_first).await {
            Ok(n) => done += n,
            Err(e) => return Err((done, vec![e])),
        }
    }
    let results = futures::future::join_all(lanes.into_values().map(|l| {
        let c = clients(l[0]);
        run_lane(c, l)
    }))
    .await;
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(n) => done += n,
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err((done, errors));
    }
    if !core_last.is_empty() {
        match run_lane(&accts.iot, core_last).await {
            Ok(n) => done += n,
            Err(e) => return Err((done, vec![e])),
        }
    }
    Ok(done)
}
