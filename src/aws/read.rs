//! Live reads: every resource of the desired state, all accounts in parallel.

use super::{Accounts, AwsError, Clients};
use crate::config::Config;
use crate::model::{Addr, Kind, Live, Resource, Spec};
use crate::plan::Snapshot;
use crate::policy;
use std::collections::BTreeMap;

pub async fn role(c: &Clients, name: &str) -> Result<Option<Live>, AwsError> {
    let _slot = c.slot().await;
    match c.iam.get_role().role_name(name).send().await {
        Ok(out) => {
            let Some(r) = out.role() else { return Ok(None) };
            let trust = r.assume_role_policy_document().unwrap_or("{}");
            let doc = policy::parse_document(trust).map_err(|m| AwsError {
                scope: c.scope.clone(),
                action: "iam:GetRole".into(),
                resource: name.into(),
                code: None,
                message: m,
            })?;
            let tags: BTreeMap<String, String> =
                r.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            Ok(Some(Live {
                spec: Spec::IamRole {
                    role_name: r.role_name().to_string(),
                    path: r.path().to_string(),
                    assume_role_policy: policy::normalize(&doc),
                    max_session_duration: r.max_session_duration().unwrap_or(3600),
                    tags,
                },
                arn: Some(r.arn().to_string()),
            }))
        }
        Err(e) => {
            let e = c.err("iam:GetRole", name, e);
            if e.not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

pub async fn role_policy(c: &Clients, role: &str, policy_name: &str) -> Result<Option<Live>, AwsError> {
    let _slot = c.slot().await;
    let res = format!("{role}/{policy_name}");
    match c.iam.get_role_policy().role_name(role).policy_name(policy_name).send().await {
        Ok(out) => {
            let doc = policy::parse_document(out.policy_document()).map_err(|m| AwsError {
                scope: c.scope.clone(),
                action: "iam:GetRolePolicy".into(),
                resource: res.clone(),
                code: None,
                message: m,
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
        Err(e) => {
            let e = c.err("iam:GetRolePolicy", &res, e);
            if e.not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

pub async fn role_alias(c: &Clients, alias: &str) -> Result<Option<Live>, AwsError> {
    let _slot = c.slot().await;
    match c.iot.describe_role_alias().role_alias(alias).send().await {
        Ok(out) => {
            let Some(d) = out.role_alias_description() else { return Ok(None) };
            Ok(Some(Live {
                spec: Spec::IotRoleAlias {
                    role_alias: alias.into(),
                    role_arn: d.role_arn().unwrap_or_default().to_string(),
                    credential_duration: d.credential_duration_seconds().unwrap_or(3600),
                },
                arn: d.role_alias_arn().map(String::from),
            }))
        }
        Err(e) => {
            let e = c.err("iot:DescribeRoleAlias", alias, e);
            if e.not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

pub async fn iot_policy(c: &Clients, name: &str) -> Result<Option<Live>, AwsError> {
    let _slot = c.slot().await;
    match c.iot.get_policy().policy_name(name).send().await {
        Ok(out) => {
            let doc = policy::parse_document(out.policy_document().unwrap_or("{}")).map_err(|m| AwsError {
                scope: c.scope.clone(),
                action: "iot:GetPolicy".into(),
                resource: name.into(),
                code: None,
                message: m,
            })?;
            Ok(Some(Live {
                spec: Spec::IotPolicy { policy_name: name.into(), policy: policy::normalize(&doc) },
                arn: out.policy_arn().map(String::from),
            }))
        }
        Err(e) => {
            let e = c.err("iot:GetPolicy", name, e);
            if e.not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// The targets (certificate ARNs and others) the IoT policy is attached to.
pub async fn policy_targets(c: &Clients, name: &str) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let _slot = c.slot().await;
        let mut req = c.iot.list_targets_for_policy().policy_name(name).page_size(250);
        if let Some(m) = &marker {
            req = req.marker(m);
        }
        match req.send().await {
            Ok(r) => {
                out.extend(r.targets().iter().cloned());
                match r.next_marker() {
                    Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                    _ => return Ok(out),
                }
            }
            Err(e) => {
                let e = c.err("iot:ListTargetsForPolicy", name, e);
                return if e.not_found() { Ok(out) } else { Err(e) };
            }
        }
    }
}

/// Read every desired resource (and every certificate our IoT policy is attached to), all accounts in
/// parallel. Returns all errors, not just the first.
pub async fn snapshot(cfg: &Config, desired: &[Resource], accts: &Accounts) -> Result<Snapshot, Vec<AwsError>> {
    let clients_for = |a: &Addr| -> &Clients {
        match &a.env {
            None => &accts.iot,
            Some(e) => accts.envs.get(e).unwrap_or(&accts.iot),
        }
    };
    let reads = desired.iter().filter(|r| r.addr.kind != Kind::IotPolicyAttachment).map(|r| {
        let c = clients_for(&r.addr);
        async move {
            let live = match &r.spec {
                Spec::IamRole { role_name, .. } => role(c, role_name).await,
                Spec::IamRolePolicy { role_name, policy_name, .. } => role_policy(c, role_name, policy_name).await,
                Spec::IotRoleAlias { role_alias: a, .. } => role_alias(c, a).await,
                Spec::IotPolicy { policy_name, .. } => iot_policy(c, policy_name).await,
                Spec::IotPolicyAttachment { .. } => Ok(None),
            };
            (r.addr.clone(), live)
        }
    });
    let targets = policy_targets(&accts.iot, &cfg.iot.policy_name);
    let (results, targets) = tokio::join!(futures::future::join_all(reads), targets);
    let mut snap = Snapshot::default();
    let mut errors = Vec::new();
    for (addr, r) in results {
        match r {
            Ok(Some(l)) => {
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
                let Some(id) = t.split_once(":cert/").map(|(_, id)| id.to_string()) else { continue };
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
