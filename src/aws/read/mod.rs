//! Live reads into the live model (`model::live`): every resource of the desired state for the
//! planner, and the facts the proof needs; all accounts in parallel, every list through the SDK's
//! paginators.

mod discover;
mod facts;

pub use discover::*;
pub use facts::*;

use super::{Accounts, AwsError, Clients};
use crate::config::Config;
use crate::model::kinds::{iam_role, iot_policy_attachment};
use crate::model::live::{
    CertFacts, Discovered, Encryption, Facts, IotFacts, LiveModel, RoleFacts, Snapshot,
};
use crate::model::{Addr, IotPolicy, IotPolicyAttachment, Kind, Live, Managed, Resource, Spec};
use crate::policy;
use std::collections::BTreeMap;

/// A role as the live model holds it (None: absent).
pub async fn role(c: &Clients, name: &str) -> Result<Option<Live>, AwsError> {
    Ok(iam_role::read(c, name).await?.map(|f| f.live))
}

/// The resources of the other layout (`desired::other_layout`) that may exist: those of each
/// (role, alias, policy) group whose IoT policy is among the IoT account's policies.
async fn other_layout_present(
    cfg: &Config,
    desired: &[Resource],
    accts: &Accounts,
) -> Result<Vec<Resource>, AwsError> {
    let other = crate::desired::other_layout(cfg, desired);
    if other.is_empty() {
        return Ok(other);
    }
    let c = accts.iot();
    let policies: Vec<aws_sdk_iot::types::Policy> = {
        let _slot = c.slot().await?;
        c.iot()
            .list_policies()
            .page_size(250)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("iot:ListPolicies", "*", e))?
    };
    let names: Vec<&str> = policies.iter().filter_map(|p| p.policy_name()).collect();
    // each group of four starts with its role and ends with its IoT policy
    Ok(other
        .chunks(4)
        .filter(|g| {
            g.iter().any(|r| {
                IotPolicy::of(&r.spec).is_some_and(|p| names.contains(&p.policy_name.as_str()))
            })
        })
        .flatten()
        .cloned()
        .collect())
}

/// Read every desired resource (and every certificate our IoT policy is attached to), all accounts in
/// parallel. Returns all errors, not just the first.
async fn snapshot(
    cfg: &Config,
    desired: &[Resource],
    accts: &Accounts,
) -> Result<Snapshot, Vec<AwsError>> {
    // the IoT account's resources of the layout the file does not use (to delete what a move
    // between one shared alias and per-environment aliases left) are read like the desired ones,
    // but only the groups whose IoT policy exists: one ListPolicies beside the desired reads, and a
    // second round only when something of the other layout is there
    let (mine, other) = tokio::join!(
        read_round(cfg, desired, accts),
        other_layout_present(cfg, desired, accts)
    );
    let mut errors = Vec::new();
    let mut snap = mine.unwrap_or_else(|e| {
        errors.extend(e);
        Snapshot::default()
    });
    match other {
        Ok(other) if !other.is_empty() => match read_round(cfg, &other, accts).await {
            Ok(more) => {
                snap.live.extend(more.live);
                snap.boundaries.extend(more.boundaries);
            }
            Err(e) => errors.extend(e),
        },
        Ok(_) => {}
        Err(e) => errors.push(e),
    }
    if errors.is_empty() {
        Ok(snap)
    } else {
        Err(errors)
    }
}

/// Read `resources` (and the targets of their IoT policies), all accounts in parallel. Returns all
/// errors, not just the first.
async fn read_round(
    cfg: &Config,
    resources: &[Resource],
    accts: &Accounts,
) -> Result<Snapshot, Vec<AwsError>> {
    let reads = resources
        .iter()
        .filter(|r| r.addr.kind != Kind::IotPolicyAttachment)
        .map(|r| async move {
            let c = match accts.for_addr(&r.addr) {
                Ok(c) => c,
                Err(e) => return (r.addr.clone(), Err(e)),
            };
            (r.addr.clone(), r.spec.read(c).await)
        });
    // the targets of every IoT policy read (certificates and thing groups)
    let policies: Vec<String> = resources
        .iter()
        .filter_map(|r| IotPolicy::of(&r.spec).map(|p| p.policy_name.clone()))
        .collect();
    let targets = async {
        let all = futures::future::join_all(policies.iter().map(|p| async move {
            iot_policy_attachment::targets(accts.iot(), p)
                .await
                .map(|ts| ts.into_iter().map(|t| (p.clone(), t)).collect::<Vec<_>>())
        }))
        .await;
        let mut out = Vec::new();
        for r in all {
            out.extend(r?);
        }
        Ok::<_, AwsError>(out)
    };
    let (results, targets) = tokio::join!(futures::future::join_all(reads), targets);
    let mut snap = Snapshot::default();
    let mut errors = Vec::new();
    for (addr, r) in results {
        match r {
            Ok(Some(found)) => {
                if let Some(b) = found.boundary {
                    snap.boundaries.insert(addr.clone(), b);
                }
                if !found.others.is_empty() {
                    snap.others.insert(addr.clone(), found.others);
                }
                snap.live.insert(addr, found.live);
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    match targets {
        Ok(ts) => {
            for (policy_name, t) in ts {
                // certificates and thing groups; things are not xacct's business
                let id = if let Some((_, id)) = t.split_once(":cert/") {
                    id.to_string()
                } else if let Some((_, g)) = t.split_once(":thinggroup/") {
                    format!("thinggroup/{g}")
                } else {
                    continue;
                };
                let addr = Addr {
                    account: cfg.origin_account().to_string(),
                    env: None,
                    kind: Kind::IotPolicyAttachment,
                    name: format!("{policy_name}/{id}"),
                };
                snap.live.insert(
                    addr,
                    Live {
                        spec: Spec::IotPolicyAttachment(IotPolicyAttachment {
                            policy_name,
                            certificate_id: id,
                            target: t.clone(),
                        }),
                        arn: None,
                    },
                );
            }
        }
        Err(e) => errors.push(e),
    }
    if errors.is_empty() {
        Ok(snap)
    } else {
        Err(errors)
    }
}

/// What a run needs from the live state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The managed resources (plan, apply, destroy).
    Plan,
    /// And the facts the proof evaluates (check, lint --live, verify's explanations).
    Proof,
}

/// Read the live model once for the selected environments: the managed resources of the desired
/// state, and with `Want::Proof` the proof's facts, which reuse those reads (roles, their boundary,
/// the alias, the IoT policy) and add only what the proof alone needs.
pub async fn live(
    cfg: &Config,
    desired: &[Resource],
    accts: &Accounts,
    want: Want,
) -> Result<LiveModel, Vec<AwsError>> {
    let resources = snapshot(cfg, desired, accts).await?;
    let facts = match want {
        Want::Plan => None,
        Want::Proof => Some(proof_facts(cfg, accts, &resources, None).await?),
    };
    Ok(LiveModel { resources, facts })
}

/// The proof's facts, read once for the selected environments of `cfg` (the desired state is derived
/// here): `live` with `Want::Proof`.
pub async fn check_facts(
    cfg: &Config,
    selected: &[String],
    accts: &Accounts,
) -> Result<Facts, Vec<AwsError>> {
    check_facts_for(cfg, selected, accts, None).await
}

/// `check_facts`, with the facts of one certificate (`certificate`, the one verify ran with) in
/// place of those of `iot.certificates`.
pub async fn check_facts_for(
    cfg: &Config,
    selected: &[String],
    accts: &Accounts,
    certificate: Option<&str>,
) -> Result<Facts, Vec<AwsError>> {
    let desired: Vec<Resource> = crate::desired::desired(cfg)
        .into_iter()
        .filter(|r| {
            r.addr
                .env
                .as_ref()
                .is_none_or(|e| crate::config::is_selected(selected, e))
        })
        .collect();
    let resources = snapshot(cfg, &desired, accts).await?;
    proof_facts(cfg, accts, &resources, certificate).await
}
