//! The proof's facts: what only `check` (and verify's explanations) reads besides the managed
//! resources — roles' policies and boundaries, certificates and thing groups; each target type reads
//! its own (`targets`), per environment, beside the target role.

use super::{
    policy, Accounts, Addr, AwsError, BTreeMap, CertFacts, Clients, Config, Facts, IotFacts, Kind,
    RoleFacts, Snapshot,
};
use crate::chain::{self, Device};
use crate::model::kinds::{iam_role, iam_role_policy, iot_policy};
use crate::model::{IamRole, IotPolicy, IotRoleAlias, Managed};
use crate::targets::gather;

// ---------------------------------------------------------------------------------------------------
// Facts for `xacct check`

/// Every identity policy of a role: inline ones and the default version of attached managed ones.
pub async fn role_identity_policies(
    c: &Clients,
    role: &str,
) -> Result<Vec<(String, serde_json::Value)>, AwsError> {
    let p = role_policies(c, role).await?;
    Ok(p.inline
        .into_iter()
        .chain(p.managed.into_iter().map(|(n, _, d)| (n, d)))
        .collect())
}

/// A role's identity policies by kind.
pub struct RolePolicies {
    /// (name, document) of each inline policy.
    pub inline: Vec<(String, serde_json::Value)>,
    /// (name, ARN, default version's document) of each attached managed policy.
    pub managed: Vec<(String, String, serde_json::Value)>,
}

/// A role's inline policies and the default version of its attached managed ones.
pub async fn role_policies(c: &Clients, role: &str) -> Result<RolePolicies, AwsError> {
    let mut out = RolePolicies {
        inline: vec![],
        managed: vec![],
    };
    let names: Vec<String> = {
        let _slot = c.slot().await?;
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
        if let Some(policy) = iam_role_policy::read(c, role, n).await? {
            out.inline.push((n.clone(), policy));
        }
    }
    let attached = {
        let _slot = c.slot().await?;
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
            out.managed.push((
                p.policy_name().unwrap_or(arn).to_string(),
                arn.to_string(),
                d,
            ));
        }
    }
    Ok(out)
}

/// The default version of a managed policy.
pub async fn managed_policy_document(
    c: &Clients,
    arn: &str,
) -> Result<Option<serde_json::Value>, AwsError> {
    let _slot = c.slot().await?;
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
                c.unreadable("iam:GetPolicyVersion", arn, m)
            })?))
        }
        None => Ok(None),
    }
}

async fn cert_facts(c: &Clients, cfg: &Config, id: &str) -> Result<CertFacts, AwsError> {
    let status = {
        let _slot = c.slot().await?;
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
        let _slot = c.slot().await?;
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
        if let Some(policy) = iot_policy::read(c, name)
            .await?
            .and_then(|f| IotPolicy::of(&f.live.spec).map(|p| p.policy.clone()))
        {
            policies.push((name.to_string(), policy));
        }
    }
    Ok(policies)
}

/// A role of the chain as the proof needs it, from its snapshot entry plus its policies and boundary.
async fn role_facts_from(
    c: &Clients,
    snap: &Snapshot,
    addr: &Addr,
) -> Result<Option<RoleFacts>, AwsError> {
    let Some((
        IamRole {
            assume_role_policy,
            max_session_duration,
            ..
        },
        arn,
    )) = snap
        .live
        .get(addr)
        .and_then(|l| Some((IamRole::of(&l.spec)?, &l.arn)))
    else {
        return Ok(None);
    };
    let boundary = match snap.boundaries.get(addr) {
        Some(b) => managed_policy_document(c, b)
            .await?
            .map(|doc| (b.clone(), doc)),
        None => None,
    };
    let (policies, org_id) = tokio::join!(role_identity_policies(c, &addr.name), org_of(c));
    Ok(Some(RoleFacts {
        arn: arn.clone().unwrap_or_default(),
        trust: assume_role_policy.clone(),
        max_session: *max_session_duration,
        policies: policies?,
        boundary,
        org_id,
        org_path: None,
        scps: vec![],
        rcps: vec![],
    }))
}

/// The organization as the proof needs it, read with the `organization:` access: for each account
/// of the chain its path of parents up to the root, and the SCPs and RCPs attached at every level
/// (each level's policies read once). None without that access.
pub async fn organization_facts(
    cfg: &Config,
    accts: &Accounts,
) -> Result<Option<crate::model::live::OrgFacts>, AwsError> {
    use crate::model::live::{AccountOrg, OrgFacts};
    use crate::policy::eval::OrgPolicy;
    use aws_sdk_organizations::types::{PolicyType, TargetType};
    let Some(c) = accts.organization() else {
        return Ok(None);
    };
    let _slot = c.slot().await?;
    let org = c
        .organizations()
        .describe_organization()
        .send()
        .await
        .map_err(|e| c.err("organizations:DescribeOrganization", "*", e))?;
    let o = org.organization();
    let mut facts = OrgFacts {
        id: o.and_then(|o| o.id()).unwrap_or_default().to_string(),
        management: o
            .and_then(|o| o.master_account_id())
            .unwrap_or_default()
            .to_string(),
        accounts: BTreeMap::new(),
    };
    let mut accounts: Vec<&str> = vec![cfg.origin_account()];
    accounts.extend(cfg.environments.iter().map(|t| t.account.as_str()));
    accounts.sort();
    accounts.dedup();
    // the policies attached to each target (root, OU, account), read once
    let mut attached: BTreeMap<(String, &'static str), Vec<OrgPolicy>> = BTreeMap::new();
    for account in accounts {
        let mut levels = vec![account.to_string()];
        let mut child = account.to_string();
        let mut outside = false;
        loop {
            let p = match c
                .organizations()
                .list_parents()
                .child_id(&child)
                .send()
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    let e = c.err("organizations:ListParents", &child, e);
                    // an account of the file outside the organization: nothing of it applies
                    if child == account && e.not_found() {
                        outside = true;
                        break;
                    }
                    return Err(e);
                }
            };
            let Some(parent) = p.parents().first() else {
                break;
            };
            let id = parent.id().unwrap_or_default().to_string();
            levels.push(id.clone());
            if parent.r#type() == Some(&aws_sdk_organizations::types::ParentType::Root) {
                break;
            }
            child = id;
        }
        if outside {
            continue;
        }
        levels.reverse();
        let path = format!("{}/{}/", facts.id, levels[..levels.len() - 1].join("/"));
        let mut scps = Vec::new();
        let mut rcps = Vec::new();
        for target in &levels {
            for (kind, filter) in [
                ("scp", PolicyType::ServiceControlPolicy),
                ("rcp", PolicyType::ResourceControlPolicy),
            ] {
                let key = (target.clone(), kind);
                if !attached.contains_key(&key) {
                    let listed = c
                        .organizations()
                        .list_policies_for_target()
                        .target_id(target)
                        .filter(filter)
                        .send()
                        .await;
                    let mut policies = Vec::new();
                    match listed {
                        Ok(l) => {
                            for summary in l.policies() {
                                let Some(pid) = summary.id() else { continue };
                                let d = c
                                    .organizations()
                                    .describe_policy()
                                    .policy_id(pid)
                                    .send()
                                    .await
                                    .map_err(|e| c.err("organizations:DescribePolicy", pid, e))?;
                                let content = d.policy().and_then(|p| p.content()).unwrap_or("{}");
                                let doc = policy::parse_document(content).map_err(|m| {
                                    c.unreadable("organizations:DescribePolicy", pid, m)
                                })?;
                                policies.push(OrgPolicy {
                                    name: summary.name().unwrap_or(pid).to_string(),
                                    policy: doc,
                                    id: Some(pid.to_string()),
                                    target: Some(target.clone()),
                                });
                            }
                        }
                        // RCPs not enabled (or not known to this endpoint): none apply
                        Err(e) if kind == "rcp" => {
                            let _ = e;
                        }
                        Err(e) => {
                            return Err(c.err("organizations:ListPoliciesForTarget", target, e))
                        }
                    }
                    attached.insert(key.clone(), policies);
                }
                let level = attached[&key].clone();
                match kind {
                    "scp" => scps.push(level),
                    _ => rcps.push(level),
                }
            }
        }
        // an organization without RCPs enabled has none at any level
        if rcps.iter().all(|l| l.is_empty()) {
            rcps.clear();
        }
        let _ = TargetType::Account;
        facts
            .accounts
            .insert(account.to_string(), AccountOrg { path, scps, rcps });
    }
    Ok(Some(facts))
}

/// The organization the account of `c` belongs to, asked once per client set
/// (`DescribeOrganization`, which a member account may call). None when the account is in no
/// organization, or may not ask (then `aws:PrincipalOrgID` stays unknown: a condition on it is `?`).
pub async fn org_of(c: &Clients) -> Option<String> {
    c.org_id
        .get_or_init(|| async {
            let _slot = c.slot().await.ok()?;
            let out = c
                .organizations()
                .describe_organization()
                .send()
                .await
                .ok()?;
            out.organization().and_then(|o| o.id()).map(String::from)
        })
        .await
        .clone()
}

fn role_addr(account: &str, env: Option<&str>, name: &str) -> Addr {
    Addr {
        account: account.to_string(),
        env: env.map(String::from),
        kind: Kind::IamRole,
        name: name.to_string(),
    }
}

/// The IoT facts of one device layout: the certificates (or, for an environment gated on a thing
/// group, the group) with their IoT policies, the alias, the role.
async fn iot_facts(
    cfg: &Config,
    dev: &Device,
    c: &Clients,
    snap: &Snapshot,
) -> Result<IotFacts, AwsError> {
    let iot = &dev.iot;
    let by = |kind: Kind, name: &str| {
        snap.live
            .iter()
            .find(|(a, _)| a.kind == kind && a.env.is_none() && a.name == name)
            .map(|(_, l)| l)
    };
    let certs = match dev.thing_group() {
        Some(g) => vec![group_facts(c, g).await?],
        _ if iot.certificates.is_empty() => {
            // no certificate listed: one pseudo certificate carrying the IoT policy
            let policies = by(Kind::IotPolicy, &iot.policy_name)
                .and_then(|l| IotPolicy::of(&l.spec))
                .map(|p| (p.policy_name.clone(), p.policy.clone()))
                .into_iter()
                .collect();
            vec![CertFacts {
                id: String::new(),
                status: None,
                exists: true,
                policies,
            }]
        }
        _ => {
            futures::future::try_join_all(iot.certificates.iter().map(|id| cert_facts(c, cfg, id)))
                .await?
        }
    };
    let iot_role = role_facts_from(c, snap, &role_addr(&iot.account, None, &iot.role_name)).await?;
    let alias = by(Kind::IotRoleAlias, &iot.role_alias)
        .and_then(|l| IotRoleAlias::of(&l.spec))
        .map(|a| (a.role_arn.clone(), a.credential_duration));
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
        let _slot = c.slot().await?;
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
pub(super) async fn proof_facts(
    cfg: &Config,
    accts: &Accounts,
    snap: &Snapshot,
    certificate: Option<&str>,
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
                if let Some(found) = iam_role::read(iot, &src.role_name).await? {
                    if let Some(b) = found.boundary {
                        own.boundaries.insert(addr.clone(), b);
                    }
                    own.live.insert(addr.clone(), found.live);
                }
                IotFacts {
                    iot_role: role_facts_from(iot, &own, &addr).await?,
                    ..IotFacts::default()
                }
            }
            crate::config::Origin::Iot(_) => {
                let layouts: Vec<Device> = chain::layouts(cfg)
                    .into_iter()
                    .map(|d| d.with_certificate(certificate))
                    .collect();
                let read = futures::future::try_join_all(
                    layouts.iter().map(|dev| iot_facts(cfg, dev, iot, snap)),
                )
                .await?;
                let mut top = IotFacts::default();
                for (dev, f) in layouts.iter().zip(read) {
                    match &dev.gate {
                        Some((env, _)) => {
                            per_env.insert(env.clone(), f);
                        }
                        None => top = f,
                    }
                }
                top
            }
        };
        Ok::<_, AwsError>((top, per_env))
    };
    let targets = futures::future::join_all(cfg.environments.iter().filter_map(|t| {
        let c = accts.env(&t.name)?;
        let addr = role_addr(&t.account, Some(&t.name), &t.role_name);
        Some(async move {
            let (role, targets) = tokio::join!(
                role_facts_from(c, snap, &addr),
                futures::future::join_all(
                    crate::targets::listed(t).map(|ty| ty.facts(cfg, t, c, accts))
                )
            );
            (t.name.clone(), role, targets)
        })
    }));
    let (origin, targets, org) = tokio::join!(origin, targets, organization_facts(cfg, accts));
    let mut errors = Vec::new();
    let mut f = Facts::default();
    match org {
        Ok(o) => f.organization = o,
        Err(e) => errors.push(e),
    }
    match origin {
        Ok((top, per_env)) => {
            f.certs = top.certs;
            f.alias = top.alias;
            f.origin_role = top.iot_role;
            f.per_env = per_env;
        }
        Err(e) => errors.push(e),
    }
    for (name, role, per_type) in targets {
        gather(&mut f.targets, [(name, role)], &mut errors);
        for (facts, errs) in per_type {
            f.merge(facts);
            errors.extend(errs);
        }
    }
    if let Some(org) = f.organization.clone() {
        let roles = f
            .origin_role
            .iter_mut()
            .chain(f.targets.values_mut().flatten())
            .chain(f.per_env.values_mut().filter_map(|e| e.iot_role.as_mut()));
        for r in roles {
            org.annotate(r);
        }
    }
    if errors.is_empty() {
        Ok(f)
    } else {
        Err(errors)
    }
}
