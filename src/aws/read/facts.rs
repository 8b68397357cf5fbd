//! The proof's facts: what only `check` (and verify's explanations) reads besides the managed
//! resources — roles' policies and boundaries, certificates and thing groups, functions, APIs, buckets.

use super::{
    bucket_encryption, parse_err, policy, Accounts, Addr, ApiFacts, AwsError, BTreeMap,
    BucketFacts, CertFacts, Clients, Config, Encryption, Facts, FunctionFacts, IotFacts, Kind,
    MethodFacts, RoleFacts, Snapshot,
};
use crate::model::kinds::{iam_role, iam_role_policy, iot_policy};
use crate::model::{IamRole, IotPolicy, IotRoleAlias, Managed};

// ---------------------------------------------------------------------------------------------------
// Facts for `xacct check`

/// Every identity policy of a role: inline ones and the default version of attached managed ones.
pub async fn role_identity_policies(
    c: &Clients,
    role: &str,
) -> Result<Vec<(String, serde_json::Value)>, AwsError> {
    let mut out = Vec::new();
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
            out.push((n.clone(), policy));
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
                parse_err(c, "iam:GetPolicyVersion", arn, m)
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

async fn function_facts(c: &Clients, arn: &str) -> Result<FunctionFacts, AwsError> {
    let _slot = c.slot().await?;
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
            futures::future::try_join_all(iot.certificates.iter().map(|id| cert_facts(c, view, id)))
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

/// Keyed results into `map`, their errors into `errors`.
fn collect<V>(
    map: &mut BTreeMap<String, V>,
    results: impl IntoIterator<Item = (String, Result<V, AwsError>)>,
    errors: &mut Vec<AwsError>,
) {
    for (k, r) in results {
        match r {
            Ok(v) => {
                map.insert(k, v);
            }
            Err(e) => errors.push(e),
        }
    }
}

/// The proof's facts, completing the snapshot: all accounts in parallel.
pub(super) async fn proof_facts(
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
            crate::config::Origin::Iot(_) if cfg.gated() => {
                let views: Vec<(&crate::config::Target, Config)> = cfg
                    .environments
                    .iter()
                    .map(|t| (t, cfg.device_view(t)))
                    .collect();
                let read = futures::future::try_join_all(
                    views
                        .iter()
                        .map(|(t, view)| iot_facts(view, Some(t), iot, snap)),
                )
                .await?;
                for ((t, _), f) in views.iter().zip(read) {
                    per_env.insert(t.name.clone(), f);
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
            f.origin_role = top.iot_role;
            f.per_env = per_env;
        }
        Err(e) => errors.push(e),
    }
    for (name, role, funcs, apis, buckets) in targets {
        collect(&mut f.apis, apis, &mut errors);
        collect(&mut f.buckets, buckets, &mut errors);
        collect(&mut f.targets, [(name, role)], &mut errors);
        collect(&mut f.functions, funcs, &mut errors);
    }
    if errors.is_empty() {
        Ok(f)
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------------------------------
// Facts of the new targets: APIs and buckets

/// A REST API: its resource policy, stages and every method's authorization.
pub async fn api_facts(c: &Clients, api_id: &str) -> Result<ApiFacts, AwsError> {
    let api = {
        let _slot = c.slot().await?;
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
            policy::parse_service_document(p)
                .map_err(|m| parse_err(c, "apigateway:GET", &format!("restapis/{api_id}"), m))?,
        ),
        _ => None,
    };
    let stages = {
        let _slot = c.slot().await?;
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
        let _slot = c.slot().await?;
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
                    let _slot = c.slot().await?;
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
        let _slot = c.slot().await?;
        c.s3().get_bucket_policy().bucket(bucket).send().await
    };
    let policy = match got {
        Ok(p) => match p.policy() {
            Some(d) => Some(
                policy::parse_service_document(d)
                    .map_err(|m| parse_err(c, "s3:GetBucketPolicy", bucket, m))?,
            ),
            None => None,
        },
        Err(e) => {
            let e = c.err("s3:GetBucketPolicy", bucket, e);
            if e.is(&crate::aws::Code::NoSuchBucket) {
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
            let _slot = c.slot().await?;
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
                        policy::parse_service_document(d)
                            .map_err(|m| parse_err(c, "kms:GetKeyPolicy", k, m))?,
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
