//! Live reads into the live model (`model::live`): every resource of the desired state for the
//! planner, and the facts the proof needs; all accounts in parallel, every list through the SDK's
//! paginators.

mod discover;
mod facts;

pub use discover::*;
pub use facts::*;

use super::{Accounts, AwsError, Clients};
use crate::config::Config;
use crate::model::live::{
    ApiFacts, BucketFacts, CertFacts, Discovered, Encryption, Facts, FunctionFacts, IotFacts,
    LiveModel, MethodFacts, RoleFacts, Snapshot,
};
use crate::model::{Addr, Kind, Live, Resource, Spec};
use crate::policy;
use std::collections::BTreeMap;

fn parse_err(
    c: &Clients,
    action: &str,
    resource: &str,
    m: crate::policy::eval::PolicyError,
) -> AwsError {
    AwsError {
        scope: c.scope.clone(),
        action: action.into(),
        resource: resource.into(),
        code: None,
        message: m.to_string(),
    }
}

/// A read that found nothing is an absent resource, not an error.
fn absent<T>(e: AwsError) -> Result<Option<T>, AwsError> {
    if e.not_found() {
        Ok(None)
    } else {
        Err(e)
    }
}

pub async fn role(c: &Clients, name: &str) -> Result<Option<Live>, AwsError> {
    Ok(role_with_boundary(c, name).await?.map(|(l, _)| l))
}

/// A role and the ARN of its permissions boundary, if it has one.
pub async fn role_with_boundary(
    c: &Clients,
    name: &str,
) -> Result<Option<(Live, Option<String>)>, AwsError> {
    let _slot = c.slot().await?;
    match c.iam().get_role().role_name(name).send().await {
        Ok(out) => {
            let Some(r) = out.role() else { return Ok(None) };
            let boundary = r
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(String::from);
            let trust = r.assume_role_policy_document().unwrap_or("{}");
            let doc = policy::parse_document(trust).map_err(|m| AwsError {
                scope: c.scope.clone(),
                action: "iam:GetRole".into(),
                resource: name.into(),
                code: None,
                message: m.to_string(),
            })?;
            let tags: BTreeMap<String, String> = r
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            Ok(Some((
                Live {
                    spec: Spec::IamRole {
                        role_name: r.role_name().to_string(),
                        path: r.path().to_string(),
                        assume_role_policy: policy::normalize(&doc),
                        max_session_duration: r.max_session_duration().unwrap_or(3600),
                        tags,
                    },
                    arn: Some(r.arn().to_string()),
                },
                boundary,
            )))
        }
        Err(e) => absent(c.err("iam:GetRole", name, e)),
    }
}

pub async fn role_policy(
    c: &Clients,
    role: &str,
    policy_name: &str,
) -> Result<Option<Live>, AwsError> {
    let _slot = c.slot().await?;
    let res = format!("{role}/{policy_name}");
    match c
        .iam()
        .get_role_policy()
        .role_name(role)
        .policy_name(policy_name)
        .send()
        .await
    {
        Ok(out) => {
            let doc = policy::parse_document(out.policy_document()).map_err(|m| AwsError {
                scope: c.scope.clone(),
                action: "iam:GetRolePolicy".into(),
                resource: res.clone(),
                code: None,
                message: m.to_string(),
            })?;
            Ok(Some(Live {
                spec: Spec::IamRolePolicy {
                    role_name: role.into(),
                    policy_name: policy_name.into(),
                    policy: policy::normalize(&doc),
                },
                arn: None,
            }))
        }
        Err(e) => absent(c.err("iam:GetRolePolicy", &res, e)),
    }
}

pub async fn role_alias(c: &Clients, alias: &str) -> Result<Option<Live>, AwsError> {
    let _slot = c.slot().await?;
    match c.iot().describe_role_alias().role_alias(alias).send().await {
        Ok(out) => {
            let Some(d) = out.role_alias_description() else {
                return Ok(None);
            };
            Ok(Some(Live {
                spec: Spec::IotRoleAlias {
                    role_alias: alias.into(),
                    role_arn: d.role_arn().unwrap_or_default().to_string(),
                    credential_duration: d.credential_duration_seconds().unwrap_or(3600),
                },
                arn: d.role_alias_arn().map(String::from),
            }))
        }
        Err(e) => absent(c.err("iot:DescribeRoleAlias", alias, e)),
    }
}

pub async fn iot_policy(c: &Clients, name: &str) -> Result<Option<Live>, AwsError> {
    let _slot = c.slot().await?;
    match c.iot().get_policy().policy_name(name).send().await {
        Ok(out) => {
            let doc =
                policy::parse_document(out.policy_document().unwrap_or("{}")).map_err(|m| {
                    AwsError {
                        scope: c.scope.clone(),
                        action: "iot:GetPolicy".into(),
                        resource: name.into(),
                        code: None,
                        message: m.to_string(),
                    }
                })?;
            Ok(Some(Live {
                spec: Spec::IotPolicy {
                    policy_name: name.into(),
                    policy: policy::normalize(&doc),
                },
                arn: out.policy_arn().map(String::from),
            }))
        }
        Err(e) => absent(c.err("iot:GetPolicy", name, e)),
    }
}

/// xacct's statement (`sid`) in a function's resource policy, if it is there. A statement whose
/// action or resource is not exactly `lambda:InvokeFunction` on the function reads as a different
/// principal, so that plan restores it.
pub async fn lambda_permission(
    c: &Clients,
    function: &str,
    sid: &str,
) -> Result<Option<Live>, AwsError> {
    let _slot = c.slot().await?;
    let out = match c.lambda().get_policy().function_name(function).send().await {
        Ok(o) => o,
        Err(e) => return absent(c.err("lambda:GetPolicy", function, e)),
    };
    let Some(text) = out.policy() else {
        return Ok(None);
    };
    let doc =
        policy::parse_document(text).map_err(|m| parse_err(c, "lambda:GetPolicy", function, m))?;
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    let sid_of = |s: &serde_json::Value| s.get("Sid").and_then(|x| x.as_str()).map(String::from);
    // an update interrupted between its steps leaves xacct's `-next` statement beside (or
    // instead of) its own: read as a change, so the next plan updates it and the update removes it
    let next = crate::desired::permission_next_sid(sid);
    let leftover = statements
        .iter()
        .any(|s| sid_of(s).as_deref() == Some(&next));
    let Some(st) = statements
        .iter()
        .find(|s| sid_of(s).as_deref() == Some(sid))
        .or_else(|| {
            statements
                .iter()
                .find(|s| sid_of(s).as_deref() == Some(&next))
        })
    else {
        return Ok(None);
    };
    let one = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(a)) if a.len() == 1 => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let principal = match st.get("Principal") {
        Some(serde_json::Value::Object(m)) => one(m.get("AWS").or_else(|| m.values().next())),
        other => one(other),
    };
    let action = one(st.get("Action"));
    let resource = one(st.get("Resource"));
    let exact = action.eq_ignore_ascii_case("lambda:InvokeFunction")
        && resource == function
        && st.get("Effect").and_then(|e| e.as_str()) == Some("Allow")
        && st.get("Condition").is_none()
        && !leftover;
    Ok(Some(Live {
        spec: Spec::LambdaPermission {
            function: function.to_string(),
            statement_id: sid.to_string(),
            principal: if exact {
                principal
            } else {
                format!("{principal} (statement changed: {st})")
            },
        },
        arn: None,
    }))
}

/// The targets (certificate ARNs and others) the IoT policy is attached to.
pub async fn policy_targets(c: &Clients, name: &str) -> Result<Vec<String>, AwsError> {
    let _slot = c.slot().await?;
    let r = c
        .iot()
        .list_targets_for_policy()
        .policy_name(name)
        .page_size(250)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    match r {
        Ok(ts) => Ok(ts),
        Err(e) => absent::<()>(c.err("iot:ListTargetsForPolicy", name, e)).map(|_| vec![]),
    }
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
                matches!(&r.spec, Spec::IotPolicy { policy_name, .. } if names.contains(&policy_name.as_str()))
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
            let live = match &r.spec {
                Spec::IamRole { role_name, .. } => {
                    return (r.addr.clone(), role_with_boundary(c, role_name).await);
                }
                Spec::IamRolePolicy {
                    role_name,
                    policy_name,
                    ..
                } => role_policy(c, role_name, policy_name).await,
                Spec::IotRoleAlias { role_alias: a, .. } => role_alias(c, a).await,
                Spec::IotPolicy { policy_name, .. } => iot_policy(c, policy_name).await,
                Spec::SourceRolePolicy {
                    role_name,
                    policy_name,
                    ..
                } => role_policy(c, role_name, policy_name).await.map(|l| {
                    l.map(|l| match l.spec {
                        Spec::IamRolePolicy {
                            role_name,
                            policy_name,
                            policy,
                        } => Live {
                            spec: Spec::SourceRolePolicy {
                                role_name,
                                policy_name,
                                policy,
                            },
                            arn: l.arn,
                        },
                        spec => Live { spec, arn: l.arn },
                    })
                }),
                Spec::LambdaPermission {
                    function,
                    statement_id,
                    ..
                } => lambda_permission(c, function, statement_id).await,
                Spec::IotPolicyAttachment { .. } => Ok(None),
            };
            (r.addr.clone(), live.map(|l| l.map(|l| (l, None))))
        });
    // the targets of every IoT policy read (certificates and thing groups)
    let policies: Vec<String> = resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::IotPolicy { policy_name, .. } => Some(policy_name.clone()),
            _ => None,
        })
        .collect();
    let targets = async {
        let all = futures::future::join_all(policies.iter().map(|p| async move {
            policy_targets(accts.iot(), p)
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
            Ok(Some((l, boundary))) => {
                if let Some(b) = boundary {
                    snap.boundaries.insert(addr.clone(), b);
                }
                snap.live.insert(addr, l);
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
                        spec: crate::model::Spec::IotPolicyAttachment {
                            policy_name,
                            certificate_id: id,
                            target: t.clone(),
                        },
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
        Want::Proof => Some(proof_facts(cfg, accts, &resources).await?),
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
    let desired: Vec<Resource> = crate::desired::desired(cfg)
        .into_iter()
        .filter(|r| {
            r.addr
                .env
                .as_ref()
                .is_none_or(|e| crate::config::is_selected(selected, e))
        })
        .collect();
    let model = live(cfg, &desired, accts, Want::Proof).await?;
    Ok(model.facts.unwrap_or_default())
}
