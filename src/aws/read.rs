//! Live reads into the live model (`model::live`): every resource of the desired state for the
//! planner, and the facts the proof needs; all accounts in parallel, every list through the SDK's
//! paginators.

use super::{Accounts, AwsError, Clients};
use crate::config::Config;
use crate::model::live::{CertFacts, Facts, FunctionFacts, LiveModel, RoleFacts, Snapshot};
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

/// Read every desired resource (and every certificate our IoT policy is attached to), all accounts in
/// parallel. Returns all errors, not just the first.
async fn snapshot(
    cfg: &Config,
    desired: &[Resource],
    accts: &Accounts,
) -> Result<Snapshot, Vec<AwsError>> {
    let reads = desired
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
                Spec::IotPolicyAttachment { .. } => Ok(None),
            };
            (r.addr.clone(), live.map(|l| l.map(|l| (l, None))))
        });
    let targets = policy_targets(accts.iot(), &cfg.iot.policy_name);
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
            for t in ts {
                // only certificates; things and groups are not xacct's business
                let Some(id) = t.split_once(":cert/").map(|(_, id)| id.to_string()) else {
                    continue;
                };
                let r = crate::desired::attachment(cfg, &id);
                snap.live.insert(
                    r.addr,
                    Live {
                        spec: crate::model::Spec::IotPolicyAttachment {
                            policy_name: cfg.iot.policy_name.clone(),
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
    let target = cfg.certificate_arn(id);
    let attached = {
        let _slot = c.slot().await;
        c.iot()
            .list_attached_policies()
            .target(&target)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("iot:ListAttachedPolicies", &target, e))?
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
    Ok(CertFacts {
        id: id.into(),
        status,
        exists: true,
        policies,
    })
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
                    policy::parse_document(d)
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

/// The proof's facts, completing the snapshot: all accounts in parallel.
async fn proof_facts(
    cfg: &Config,
    accts: &Accounts,
    snap: &Snapshot,
) -> Result<Facts, Vec<AwsError>> {
    let iot = accts.iot();
    let find = |kind: Kind, env: Option<&str>| {
        snap.live
            .iter()
            .find(|(a, _)| a.kind == kind && a.env.as_deref() == env)
    };
    let role_addr = |account: &str, env: Option<&str>, name: &str| Addr {
        account: account.to_string(),
        env: env.map(String::from),
        kind: Kind::IamRole,
        name: name.to_string(),
    };
    let certs = async {
        if cfg.iot.certificates.is_empty() {
            // no certificate listed: one pseudo certificate carrying the fleet's IoT policy
            let policies = match find(Kind::IotPolicy, None) {
                Some((
                    _,
                    Live {
                        spec:
                            Spec::IotPolicy {
                                policy_name,
                                policy,
                            },
                        ..
                    },
                )) => vec![(policy_name.clone(), policy.clone())],
                _ => vec![],
            };
            Ok(vec![CertFacts {
                id: String::new(),
                status: None,
                exists: true,
                policies,
            }])
        } else {
            futures::future::try_join_all(
                cfg.iot
                    .certificates
                    .iter()
                    .map(|id| cert_facts(iot, cfg, id)),
            )
            .await
        }
    };
    let iot_addr = role_addr(&cfg.iot.account, None, &cfg.iot.role_name);
    let iot_role = role_facts_from(iot, snap, &iot_addr);
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
            (t.name.clone(), role, funcs)
        })
    }));
    let (certs, iot_role, targets) = tokio::join!(certs, iot_role, targets);
    let mut errors = Vec::new();
    let mut f = Facts {
        alias: match find(Kind::IotRoleAlias, None) {
            Some((
                _,
                Live {
                    spec:
                        Spec::IotRoleAlias {
                            role_arn,
                            credential_duration,
                            ..
                        },
                    ..
                },
            )) => Some((role_arn.clone(), *credential_duration)),
            _ => None,
        },
        ..Facts::default()
    };
    match certs {
        Ok(c) => f.certs = c,
        Err(e) => errors.push(e),
    }
    match iot_role {
        Ok(r) => f.iot_role = r,
        Err(e) => errors.push(e),
    }
    for (name, role, funcs) in targets {
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
