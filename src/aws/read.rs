//! Live reads into the live model (`model::live`): every resource of the desired state for the
//! planner, and the facts the proof needs; all accounts in parallel, every list through the SDK's
//! paginators.

use super::{Accounts, AwsError, Clients};
use crate::config::Config;
use crate::model::live::{
    ApiFacts, BucketFacts, CertFacts, Discovered, Encryption, Facts, FunctionFacts, IotFacts,
    LiveModel, MethodFacts, RoleFacts, Snapshot,
};
use crate::model::{Addr, Kind, Live, Resource, Spec};
use crate::policy;
use std::collections::BTreeMap;

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
    let _slot = c.slot().await;
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
    let _slot = c.slot().await;
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
    let _slot = c.slot().await;
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
    let _slot = c.slot().await;
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
    let _slot = c.slot().await;
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
    let Some(st) = statements
        .iter()
        .find(|s| s.get("Sid").and_then(|x| x.as_str()) == Some(sid))
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
        && st.get("Condition").is_none();
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
    let _slot = c.slot().await;
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
async fn other_layout_present(cfg: &Config, accts: &Accounts) -> Result<Vec<Resource>, AwsError> {
    let other = crate::desired::other_layout(cfg);
    if other.is_empty() {
        return Ok(other);
    }
    let c = accts.iot();
    let policies: Vec<aws_sdk_iot::types::Policy> = {
        let _slot = c.slot().await;
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
        other_layout_present(cfg, accts)
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

// ---------------------------------------------------------------------------------------------------
// Facts for `xacct check`

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

/// Every identity policy of a role: inline ones and the default version of attached managed ones.
pub async fn role_identity_policies(
    c: &Clients,
    role: &str,
) -> Result<Vec<(String, serde_json::Value)>, AwsError> {
    let mut out = Vec::new();
    let names: Vec<String> = {
        let _slot = c.slot().await;
        c.iam()
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("iam:ListRolePolicies", role, e))?
    };
    for n in &names {
        if let Some(Live {
            spec: Spec::IamRolePolicy { policy, .. },
            ..
        }) = role_policy(c, role, n).await?
        {
            out.push((n.clone(), policy));
        }
    }
    let attached = {
        let _slot = c.slot().await;
        c.iam()
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("iam:ListAttachedRolePolicies", role, e))?
    };
    for p in &attached {
        let Some(arn) = p.policy_arn() else { continue };
        if let Some(d) = managed_policy_document(c, arn).await? {
            out.push((p.policy_name().unwrap_or(arn).to_string(), d));
        }
    }
    Ok(out)
}

/// The default version of a managed policy.
pub async fn managed_policy_document(
    c: &Clients,
    arn: &str,
) -> Result<Option<serde_json::Value>, AwsError> {
    let _slot = c.slot().await;
    let meta = c
        .iam()
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| c.err("iam:GetPolicy", arn, e))?;
    let Some(v) = meta.policy().and_then(|p| p.default_version_id()) else {
        return Ok(None);
    };
    let ver = c
        .iam()
        .get_policy_version()
        .policy_arn(arn)
        .version_id(v)
        .send()
        .await
        .map_err(|e| c.err("iam:GetPolicyVersion", arn, e))?;
    match ver.policy_version().and_then(|v| v.document()) {
        Some(doc) => {
            Ok(Some(policy::parse_document(doc).map_err(|m| {
                parse_err(c, "iam:GetPolicyVersion", arn, m)
            })?))
        }
        None => Ok(None),
    }
}

async fn cert_facts(c: &Clients, cfg: &Config, id: &str) -> Result<CertFacts, AwsError> {
    let status = {
        let _slot = c.slot().await;
        match c
            .iot()
            .describe_certificate()
            .certificate_id(id)
            .send()
            .await
        {
            Ok(o) => o
                .certificate_description()
                .and_then(|d| d.status())
                .map(|s| s.as_str().to_string()),
            Err(e) => {
                let e = c.err("iot:DescribeCertificate", id, e);
                if e.not_found() {
                    return Ok(CertFacts {
                        id: id.into(),
                        status: None,
                        exists: false,
                        policies: vec![],
                    });
                }
                return Err(e);
            }
        }
    };
    let policies = attached_iot_policies(c, &cfg.certificate_arn(id)).await?;
    Ok(CertFacts {
        id: id.into(),
        status,
        exists: true,
        policies,
    })
}

/// (name, document) of every IoT policy attached to `target` (a certificate or thing group ARN).
async fn attached_iot_policies(
    c: &Clients,
    target: &str,
) -> Result<Vec<(String, serde_json::Value)>, AwsError> {
    let attached = {
        let _slot = c.slot().await;
        c.iot()
            .list_attached_policies()
            .target(target)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("iot:ListAttachedPolicies", target, e))?
    };
    let mut policies = Vec::new();
    for p in &attached {
        let Some(name) = p.policy_name() else {
            continue;
        };
        if let Some(Live {
            spec: Spec::IotPolicy { policy, .. },
            ..
        }) = iot_policy(c, name).await?
        {
            policies.push((name.to_string(), policy));
        }
    }
    Ok(policies)
}

async fn function_facts(c: &Clients, arn: &str) -> Result<FunctionFacts, AwsError> {
    let _slot = c.slot().await;
    if let Err(e) = c.lambda().get_function().function_name(arn).send().await {
        let e = c.err("lambda:GetFunction", arn, e);
        return if e.not_found() {
            Ok(FunctionFacts {
                exists: Some(false),
                policy: None,
            })
        } else {
            Err(e)
        };
    }
    match c.lambda().get_policy().function_name(arn).send().await {
        Ok(p) => {
            let doc = match p.policy() {
                Some(d) => Some(
                    policy::parse_function_policy(d)
                        .map_err(|m| parse_err(c, "lambda:GetPolicy", arn, m))?,
                ),
                None => None,
            };
            Ok(FunctionFacts {
                exists: Some(true),
                policy: doc,
            })
        }
        Err(e) => {
            let e = c.err("lambda:GetPolicy", arn, e);
            if e.not_found() {
                Ok(FunctionFacts {
                    exists: Some(true),
                    policy: None,
                })
            } else {
                Err(e)
            }
        }
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

/// A role of the chain as the proof needs it, from its snapshot entry plus its policies and boundary.
async fn role_facts_from(
    c: &Clients,
    snap: &Snapshot,
    addr: &Addr,
) -> Result<Option<RoleFacts>, AwsError> {
    let Some(Live {
        spec:
            Spec::IamRole {
                assume_role_policy,
                max_session_duration,
                ..
            },
        arn,
    }) = snap.live.get(addr)
    else {
        return Ok(None);
    };
    let boundary = match snap.boundaries.get(addr) {
        Some(b) => managed_policy_document(c, b)
            .await?
            .map(|doc| (b.clone(), doc)),
        None => None,
    };
    let policies = role_identity_policies(c, &addr.name).await?;
    Ok(Some(RoleFacts {
        arn: arn.clone().unwrap_or_default(),
        trust: assume_role_policy.clone(),
        max_session: *max_session_duration,
        policies,
        boundary,
    }))
}

fn role_addr(account: &str, env: Option<&str>, name: &str) -> Addr {
    Addr {
        account: account.to_string(),
        env: env.map(String::from),
        kind: Kind::IamRole,
        name: name.to_string(),
    }
}

/// The IoT facts of one layout (`view` names its role, alias and policy): the certificates (or, for
/// an environment gated on a thing group, the group) with their IoT policies, the alias, the role.
async fn iot_facts(
    view: &Config,
    gate: Option<&crate::config::Target>,
    c: &Clients,
    snap: &Snapshot,
) -> Result<IotFacts, AwsError> {
    let Some(iot) = view.iot() else {
        return Ok(IotFacts::default());
    };
    let by = |kind: Kind, name: &str| {
        snap.live
            .iter()
            .find(|(a, _)| a.kind == kind && a.env.is_none() && a.name == name)
            .map(|(_, l)| l)
    };
    let certs = match gate.and_then(|t| t.devices.as_ref()) {
        Some(crate::config::Devices::ThingGroup(g)) => vec![group_facts(c, g).await?],
        _ if iot.certificates.is_empty() => {
            // no certificate listed: one pseudo certificate carrying the IoT policy
            let policies = match by(Kind::IotPolicy, &iot.policy_name) {
                Some(Live {
                    spec:
                        Spec::IotPolicy {
                            policy_name,
                            policy,
                        },
                    ..
                }) => vec![(policy_name.clone(), policy.clone())],
                _ => vec![],
            };
            vec![CertFacts {
                id: String::new(),
                status: None,
                exists: true,
                policies,
            }]
        }
        _ => {
            futures::future::try_join_all(iot.certificates.iter().map(|id| cert_facts(c, view, id)))
                .await?
        }
    };
    let iot_role = role_facts_from(c, snap, &role_addr(&iot.account, None, &iot.role_name)).await?;
    let alias = match by(Kind::IotRoleAlias, &iot.role_alias) {
        Some(Live {
            spec:
                Spec::IotRoleAlias {
                    role_arn,
                    credential_duration,
                    ..
                },
            ..
        }) => Some((role_arn.clone(), *credential_duration)),
        _ => None,
    };
    Ok(IotFacts {
        certs,
        alias,
        iot_role,
    })
}

/// A thing group as the proof sees it: whether it exists, and the IoT policies its things get
/// (attached to it or to one of its parent groups).
async fn group_facts(c: &Clients, group: &str) -> Result<CertFacts, AwsError> {
    let id = format!("thinggroup/{group}");
    let d = {
        let _slot = c.slot().await;
        c.iot()
            .describe_thing_group()
            .thing_group_name(group)
            .send()
            .await
    };
    let d = match d {
        Ok(d) => d,
        Err(e) => {
            let e = c.err("iot:DescribeThingGroup", group, e);
            return if e.not_found() {
                Ok(CertFacts {
                    id,
                    status: None,
                    exists: false,
                    policies: vec![],
                })
            } else {
                Err(e)
            };
        }
    };
    let mut groups: Vec<String> = vec![d.thing_group_arn().unwrap_or_default().to_string()];
    if let Some(m) = d.thing_group_metadata() {
        for p in m.root_to_parent_thing_groups() {
            if let Some(a) = p.group_arn() {
                groups.push(a.to_string());
            }
        }
    }
    let mut policies = Vec::new();
    for target in groups.iter().filter(|g| !g.is_empty()) {
        policies.extend(attached_iot_policies(c, target).await?);
    }
    Ok(CertFacts {
        id,
        status: None,
        exists: true,
        policies,
    })
}

/// The proof's facts, completing the snapshot: all accounts in parallel.
async fn proof_facts(
    cfg: &Config,
    accts: &Accounts,
    snap: &Snapshot,
) -> Result<Facts, Vec<AwsError>> {
    let iot = accts.iot();
    // the IoT account's facts: the fleet's shared layout, each gated environment's own, or the
    // source role
    let origin = async {
        let mut per_env = BTreeMap::new();
        let top = match &cfg.origin {
            crate::config::Origin::Role(src) => {
                // the source role is not managed, so not in the snapshot: read it here
                let addr = role_addr(&src.account, None, &src.role_name);
                let mut own = Snapshot::default();
                if let Some((l, b)) = role_with_boundary(iot, &src.role_name).await? {
                    if let Some(b) = b {
                        own.boundaries.insert(addr.clone(), b);
                    }
                    own.live.insert(addr.clone(), l);
                }
                IotFacts {
                    iot_role: role_facts_from(iot, &own, &addr).await?,
                    ..IotFacts::default()
                }
            }
            crate::config::Origin::Iot(_) if cfg.gated() => {
                for t in &cfg.environments {
                    let view = cfg.device_view(t);
                    per_env.insert(t.name.clone(), iot_facts(&view, Some(t), iot, snap).await?);
                }
                IotFacts::default()
            }
            crate::config::Origin::Iot(_) => iot_facts(cfg, None, iot, snap).await?,
        };
        Ok::<_, AwsError>((top, per_env))
    };
    let targets = futures::future::join_all(cfg.environments.iter().filter_map(|t| {
        let c = accts.env(&t.name)?;
        let addr = role_addr(&t.account, Some(&t.name), &t.role_name);
        Some(async move {
            let role = role_facts_from(c, snap, &addr).await;
            let funcs = futures::future::join_all(
                t.functions
                    .iter()
                    .map(|f| async move { (f.clone(), function_facts(c, f).await) }),
            )
            .await;
            let mut api_ids: Vec<&str> = t.apis.iter().map(|a| a.api_id.as_str()).collect();
            api_ids.sort();
            api_ids.dedup();
            let apis =
                futures::future::join_all(api_ids.into_iter().map(|id| async move {
                    (format!("{}/{id}", t.account), api_facts(c, id).await)
                }))
                .await;
            let mut buckets: Vec<&str> = t.objects.iter().map(|o| o.bucket.as_str()).collect();
            buckets.sort();
            buckets.dedup();
            let buckets = futures::future::join_all(buckets.into_iter().map(|b| async move {
                (
                    b.to_string(),
                    bucket_facts(c, &cfg.region, &cfg.partition, b).await,
                )
            }))
            .await;
            (t.name.clone(), role, funcs, apis, buckets)
        })
    }));
    let (origin, targets) = tokio::join!(origin, targets);
    let mut errors = Vec::new();
    let mut f = Facts::default();
    match origin {
        Ok((top, per_env)) => {
            f.certs = top.certs;
            f.alias = top.alias;
            f.iot_role = top.iot_role;
            f.per_env = per_env;
        }
        Err(e) => errors.push(e),
    }
    for (name, role, funcs, apis, buckets) in targets {
        for (k, r) in apis {
            match r {
                Ok(x) => {
                    f.apis.insert(k, x);
                }
                Err(e) => errors.push(e),
            }
        }
        for (k, r) in buckets {
            match r {
                Ok(x) => {
                    f.buckets.insert(k, x);
                }
                Err(e) => errors.push(e),
            }
        }
        match role {
            Ok(r) => {
                f.targets.insert(name, r);
            }
            Err(e) => errors.push(e),
        }
        for (arn, r) in funcs {
            match r {
                Ok(x) => {
                    f.functions.insert(arn, x);
                }
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() {
        Ok(f)
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------------------------------
// Discovery: what the desired state depends on besides the file

/// An error about the file's view of an account that is not an AWS error.
fn finding(c: &Clients, action: &str, resource: &str, code: &str, message: String) -> AwsError {
    AwsError {
        scope: c.scope.clone(),
        action: action.into(),
        resource: resource.into(),
        code: Some(code.into()),
        message,
    }
}

/// The names of the buckets an account owns.
pub async fn owned_buckets(c: &Clients) -> Result<Vec<String>, AwsError> {
    let _slot = c.slot().await;
    let buckets: Vec<aws_sdk_s3::types::Bucket> = c
        .s3()
        .list_buckets()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| c.err("s3:ListAllMyBuckets", "*", e))?;
    Ok(buckets
        .iter()
        .filter_map(|b| b.name().map(String::from))
        .collect())
}

/// A bucket's default encryption, with a customer key resolved to its key ARN.
pub async fn bucket_encryption(
    c: &Clients,
    region: &str,
    partition: &str,
    bucket: &str,
) -> Result<Encryption, AwsError> {
    let out = {
        let _slot = c.slot().await;
        c.s3().get_bucket_encryption().bucket(bucket).send().await
    };
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            let e = c.err("s3:GetEncryptionConfiguration", bucket, e);
            return if e.not_found() {
                Ok(Encryption::S3)
            } else {
                Err(e)
            };
        }
    };
    let rule = out
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default());
    let Some(rule) = rule else {
        return Ok(Encryption::S3);
    };
    if !rule.sse_algorithm().as_str().starts_with("aws:kms") {
        return Ok(Encryption::S3);
    }
    let key = match rule.kms_master_key_id() {
        None | Some("") => return Ok(Encryption::KmsAwsManaged),
        Some(k) => k.to_string(),
    };
    if key == "alias/aws/s3" || key.ends_with(":alias/aws/s3") {
        return Ok(Encryption::KmsAwsManaged);
    }
    if let Some(a) = crate::arn::Arn::parse(&key) {
        if a.resource.starts_with("key/") {
            return Ok(Encryption::KmsCustomer(key));
        }
    } else if !key.starts_with("alias/") {
        // a bare key id: the key is in the bucket's account and region
        return Ok(Encryption::KmsCustomer(format!(
            "arn:{partition}:kms:{region}:{}:key/{key}",
            c.account
        )));
    }
    // an alias: ask KMS which key it names
    let _slot = c.slot().await;
    let d = c
        .kms()
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .map_err(|e| c.err("kms:DescribeKey", &key, e))?;
    let meta = d.key_metadata();
    match meta {
        Some(m) if m.key_manager() == Some(&aws_sdk_kms::types::KeyManagerType::Aws) => {
            Ok(Encryption::KmsAwsManaged)
        }
        Some(m) => Ok(Encryption::KmsCustomer(
            m.arn().unwrap_or(m.key_id()).to_string(),
        )),
        None => Ok(Encryption::KmsAwsManaged),
    }
}

/// Read what the desired state depends on besides the file, before planning: that the source role
/// exists (xacct only adds a policy to it), that every listed bucket belongs to its environment's
/// account (S3 ARNs carry no account), and the customer KMS key of every SSE-KMS bucket.
pub async fn discover(
    cfg: &Config,
    selected: &[String],
    accts: &Accounts,
) -> Result<Discovered, Vec<AwsError>> {
    let source = async {
        let Some(src) = cfg.source_role() else {
            return Ok(());
        };
        let c = accts.origin();
        match role(c, &src.role_name).await? {
            None => Err(finding(
                c,
                "iam:GetRole",
                &src.role_name,
                "NoSuchEntity",
                format!(
                    "the source role {} does not exist: xacct adds one inline policy to an existing workload role and never creates it (create the role, or correct source.role in {})",
                    src.arn,
                    cfg.source.display()
                ),
            )),
            Some(Live { arn: Some(arn), .. }) if arn != src.arn => Err(finding(
                c,
                "iam:GetRole",
                &src.role_name,
                "SourceRoleArn",
                format!(
                    "source.role is {} but the role named {} is {arn} (its path differs): write source.role as {arn}",
                    src.arn, src.role_name
                ),
            )),
            Some(_) => Ok(()),
        }
    };
    let with_objects: Vec<&crate::config::Target> = cfg
        .selected(selected)
        .filter(|t| !t.objects.is_empty())
        .collect();
    let buckets = async {
        if with_objects.is_empty() {
            return Ok(Discovered::default());
        }
        // the buckets of every account of the file, to name the owner of a bucket listed in the
        // wrong environment
        let sets = accts.all();
        let owned = futures::future::join_all(sets.iter().map(owned_buckets)).await;
        let mut errors = Vec::new();
        let mut by_account: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (c, r) in sets.iter().zip(owned) {
            match r {
                Ok(b) => by_account.entry(&c.account).or_default().extend(b),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut checks = Vec::new();
        for t in &with_objects {
            let Some(c) = accts.env(&t.name) else {
                continue;
            };
            let mut seen: Vec<&str> = Vec::new();
            for o in &t.objects {
                if seen.contains(&o.bucket.as_str()) {
                    continue;
                }
                seen.push(&o.bucket);
                let owns = by_account
                    .get(t.account.as_str())
                    .is_some_and(|b| b.contains(&o.bucket));
                if !owns {
                    let owner = by_account
                        .iter()
                        .find(|(_, b)| b.contains(&o.bucket))
                        .map(|(a, _)| *a);
                    let who = match owner {
                        Some(a) => {
                            let envs: Vec<&str> = cfg
                                .environments
                                .iter()
                                .filter(|e| e.account == *a)
                                .map(|e| e.name.as_str())
                                .collect();
                            if envs.is_empty() {
                                format!("it belongs to account {a}")
                            } else {
                                format!(
                                    "it belongs to account {a} (environment {})",
                                    envs.join(", ")
                                )
                            }
                        }
                        None => "it is not among the buckets of any account of the file (it does not exist, or another account owns it)".into(),
                    };
                    errors.push(finding(
                        c,
                        "s3:ListAllMyBuckets",
                        &o.bucket,
                        "BucketNotOwned",
                        format!(
                            "bucket {} listed in environment {} is not a bucket of account {}: {who}; list it under the environment of its owner",
                            o.bucket, t.name, t.account
                        ),
                    ));
                    continue;
                }
                let bucket = o.bucket.clone();
                let env = t.name.clone();
                checks.push(async move {
                    let enc = bucket_encryption(c, &cfg.region, &cfg.partition, &bucket).await;
                    (env, bucket, enc)
                });
            }
        }
        let results = futures::future::join_all(checks).await;
        let mut found = Discovered::default();
        for (env, bucket, r) in results {
            match r {
                Ok(Encryption::KmsCustomer(k)) => {
                    found.bucket_keys.entry(env).or_default().insert(bucket, k);
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(found)
        } else {
            Err(errors)
        }
    };
    let (source, buckets) = tokio::join!(source, buckets);
    let mut errors = Vec::new();
    if let Err(e) = source {
        errors.push(e);
    }
    match buckets {
        Ok(found) if errors.is_empty() => Ok(found),
        Ok(_) => Err(errors),
        Err(mut e) => {
            errors.append(&mut e);
            Err(errors)
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Facts of the new targets: APIs and buckets

/// A policy document as a service returns it: JSON, URL-encoded JSON, or (API Gateway) JSON with its
/// quotes escaped.
pub fn service_document(text: &str) -> Result<serde_json::Value, crate::policy::eval::PolicyError> {
    match policy::parse_document(text) {
        Ok(d) => Ok(d),
        Err(e) => {
            let unescaped = text.replace("\\\"", "\"").replace("\\\\", "\\");
            policy::parse_document(&unescaped).map_err(|_| e)
        }
    }
}

/// A REST API: its resource policy, stages and every method's authorization.
pub async fn api_facts(c: &Clients, api_id: &str) -> Result<ApiFacts, AwsError> {
    let api = {
        let _slot = c.slot().await;
        c.apigateway()
            .get_rest_api()
            .rest_api_id(api_id)
            .send()
            .await
    };
    let api = match api {
        Ok(a) => a,
        Err(e) => {
            let e = c.err("apigateway:GET", &format!("restapis/{api_id}"), e);
            return if e.not_found() {
                Ok(ApiFacts {
                    exists: Some(false),
                    ..ApiFacts::default()
                })
            } else {
                Err(e)
            };
        }
    };
    let policy = match api.policy() {
        Some(p) if !p.trim().is_empty() => Some(
            service_document(p)
                .map_err(|m| parse_err(c, "apigateway:GET", &format!("restapis/{api_id}"), m))?,
        ),
        _ => None,
    };
    let stages = {
        let _slot = c.slot().await;
        c.apigateway()
            .get_stages()
            .rest_api_id(api_id)
            .send()
            .await
            .map_err(|e| c.err("apigateway:GET", &format!("restapis/{api_id}/stages"), e))?
    };
    let stages: Vec<String> = stages
        .item()
        .iter()
        .filter_map(|s| s.stage_name().map(String::from))
        .collect();
    let resources: Vec<aws_sdk_apigateway::types::Resource> = {
        let _slot = c.slot().await;
        c.apigateway()
            .get_resources()
            .rest_api_id(api_id)
            .embed("methods")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("apigateway:GET", &format!("restapis/{api_id}/resources"), e))?
    };
    let mut methods = Vec::new();
    for r in &resources {
        let (Some(id), Some(path)) = (r.id(), r.path()) else {
            continue;
        };
        let Some(ms) = r.resource_methods() else {
            continue;
        };
        let mut names: Vec<&String> = ms.keys().collect();
        names.sort();
        for m in names {
            let auth = match ms[m].authorization_type() {
                Some(a) => a.to_string(),
                None => {
                    let _slot = c.slot().await;
                    let got = c
                        .apigateway()
                        .get_method()
                        .rest_api_id(api_id)
                        .resource_id(id)
                        .http_method(m)
                        .send()
                        .await
                        .map_err(|e| {
                            c.err(
                                "apigateway:GET",
                                &format!("restapis/{api_id}/resources/{id}/methods/{m}"),
                                e,
                            )
                        })?;
                    got.authorization_type().unwrap_or("NONE").to_string()
                }
            };
            methods.push(MethodFacts {
                path: path.to_string(),
                http_method: m.clone(),
                authorization: auth,
            });
        }
    }
    Ok(ApiFacts {
        exists: Some(true),
        policy,
        stages,
        methods,
    })
}

/// A bucket: its policy, default encryption and (customer key) key policy.
pub async fn bucket_facts(
    c: &Clients,
    region: &str,
    partition: &str,
    bucket: &str,
) -> Result<BucketFacts, AwsError> {
    let got = {
        let _slot = c.slot().await;
        c.s3().get_bucket_policy().bucket(bucket).send().await
    };
    let policy = match got {
        Ok(p) => match p.policy() {
            Some(d) => Some(
                service_document(d).map_err(|m| parse_err(c, "s3:GetBucketPolicy", bucket, m))?,
            ),
            None => None,
        },
        Err(e) => {
            let e = c.err("s3:GetBucketPolicy", bucket, e);
            if e.is("NoSuchBucket") {
                return Ok(BucketFacts {
                    exists: Some(false),
                    policy: None,
                    encryption: Encryption::S3,
                    key_policy: None,
                });
            }
            if !e.not_found() {
                return Err(e);
            }
            None
        }
    };
    let encryption = bucket_encryption(c, region, partition, bucket).await?;
    let key_policy = match &encryption {
        Encryption::KmsCustomer(k) => {
            let _slot = c.slot().await;
            match c
                .kms()
                .get_key_policy()
                .key_id(k)
                .policy_name("default")
                .send()
                .await
            {
                Ok(p) => match p.policy() {
                    Some(d) => Some(
                        service_document(d).map_err(|m| parse_err(c, "kms:GetKeyPolicy", k, m))?,
                    ),
                    None => None,
                },
                Err(e) => {
                    let e = c.err("kms:GetKeyPolicy", k, e);
                    if e.not_found() {
                        None
                    } else {
                        return Err(e);
                    }
                }
            }
        }
        _ => None,
    };
    Ok(BucketFacts {
        exists: Some(true),
        policy,
        encryption,
        key_policy,
    })
}
