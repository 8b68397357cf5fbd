//! S3 objects (`objects:`): the `get_object` hop. The target role may `s3:GetObject` each listed
//! object or prefix, and `kms:Decrypt` with the customer keys that encrypt them (found at plan time:
//! `Discovered`); the proof evaluates the role's policies with the bucket policy and the key policy;
//! verify finds one matching object with the environment's own credentials and reads it with the
//! chain's.

use super::{gather, Phase, Reach, Read, TargetType};
use crate::aws::read::{bucket_encryption, object_keys};
use crate::aws::{Accounts, AwsError, Call, Clients};
use crate::chain::hop::Hop;
use crate::check::proof::{
    finish, labels, missing_target, removal, target_access, two_sided, Step, StepResult,
};
use crate::config::{Config, ObjectRef, Target};
use crate::model::live::{BucketFacts, Discovered, Encryption, Facts, PolicyRead};
use crate::policy::eval::Decision;
use crate::policy::{self, Var};
use crate::verify::hops::{
    hop_done, settled, split_results, with_creds, HopError, Options, Proofs,
};
use crate::verify::report::{HopOutcome, Invocation};
use futures::future::BoxFuture;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use xacct_policy::requests::get_object as get_object_request;

pub struct Objects;

impl TargetType for Objects {
    fn hop(&self) -> Hop {
        Hop::GetObject
    }

    fn listed(&self, t: &Target) -> bool {
        !t.objects.is_empty()
    }

    fn vars(&self, t: &Target, found: &Discovered, vars: &mut BTreeMap<&'static str, Var>) {
        vars.insert(
            "object_arns",
            Var::List(t.objects.iter().map(|o| o.arn.clone()).collect()),
        );
        vars.insert("key_arns", Var::List(found.keys_of(&t.name)));
    }

    fn asks(
        &self,
        _: &Config,
        t: &Target,
        caller: &str,
        device: Option<crate::policy::context::IotDevice>,
    ) -> Vec<crate::chain::Ask> {
        use crate::chain::{request::role_ask, ResourcePolicy};
        let mut out = Vec::new();
        for o in &t.objects {
            out.push(role_ask(
                caller,
                device.clone(),
                None,
                "s3:GetObject",
                &o.arn,
                Some(ResourcePolicy::Bucket),
            ));
            // the key is known only once the object is read: its key policy decides too
            let mut kms = role_ask(
                caller,
                device.clone(),
                None,
                "kms:Decrypt",
                &format!("the customer managed KMS key encrypting {}, if any", o.arn),
                Some(ResourcePolicy::Key),
            );
            if let Some(crate::chain::Decider::Rcps { account }) = kms.decided_by.last_mut() {
                *account = "the key's".into();
            }
            out.push(kms);
        }
        out
    }

    fn facts<'a>(
        &'a self,
        cfg: &'a Config,
        t: &'a Target,
        c: &'a Clients,
        accts: &'a Accounts,
    ) -> BoxFuture<'a, Read> {
        Box::pin(async move {
            let mut buckets: Vec<&str> = t.objects.iter().map(|o| o.bucket.as_str()).collect();
            buckets.sort();
            buckets.dedup();
            let (read, keys) = tokio::join!(
                futures::future::join_all(buckets.into_iter().map(|b| async move {
                    (
                        b.to_string(),
                        bucket_facts(c, &cfg.region, &cfg.partition, b).await,
                    )
                })),
                futures::future::join_all(t.objects.iter().map(|o| async move {
                    (
                        o.arn.clone(),
                        object_keys(c, &cfg.region, &cfg.partition, o).await,
                    )
                }))
            );
            let (mut f, mut errors) = (Facts::default(), Vec::new());
            gather(&mut f.buckets, read, &mut errors);
            gather(&mut f.object_keys, keys, &mut errors);
            // every customer key, the buckets' and the objects', read once
            let mut all: Vec<String> = f
                .buckets
                .values()
                .filter_map(|b| match &b.encryption {
                    Encryption::KmsCustomer(k) => Some(k.clone()),
                    Encryption::S3 | Encryption::KmsAwsManaged => None,
                })
                .chain(f.object_keys.values().flatten().cloned())
                .collect();
            all.sort();
            all.dedup();
            let policies = futures::future::join_all(all.into_iter().map(|k| async move {
                let p = key_policy(accts, &k).await;
                (k, p)
            }))
            .await;
            gather(&mut f.key_policies, policies, &mut errors);
            (f, errors)
        })
    }

    fn prove(&self, cfg: &Config, t: &Target, f: &Facts, asks: &[crate::chain::Ask]) -> StepResult {
        prove_get_object(cfg, t, f, asks)
    }

    fn calls(&self, cfg: &Config, t: &Target, phase: Phase) -> Vec<Call> {
        let buckets = t
            .objects
            .iter()
            .map(|o| format!("arn:{}:s3:::{}", cfg.partition, o.bucket));
        // the customer keys are found at run time: any key of the environment's account
        let keys = format!(
            "arn:{}:kms:{}:{}:key/*",
            cfg.partition, cfg.region, t.account
        );
        let mut v = Vec::new();
        match phase {
            Phase::Plan | Phase::Check => {
                // that each bucket is the account's own (S3 lists buckets only account-wide)
                if phase == Phase::Plan {
                    v.push(Call::new("s3:ListAllMyBuckets", "*"));
                }
                for b in buckets {
                    v.push(Call::new("s3:GetEncryptionConfiguration", &b));
                    // the newest matching objects, asked which key encrypts them (HeadObject)
                    v.push(Call::new("s3:ListBucket", &b));
                    if phase == Phase::Check {
                        v.push(Call::new("s3:GetBucketPolicy", &b));
                    }
                }
                for o in &t.objects {
                    v.push(Call::new("s3:GetObject", &o.arn));
                }
                v.push(Call::new("kms:DescribeKey", &keys));
                if phase == Phase::Check {
                    v.push(Call::new("kms:GetKeyPolicy", &keys));
                }
            }
            // an object to read is found by listing
            Phase::Verify => v.extend(buckets.map(|b| Call::new("s3:ListBucket", b))),
        }
        v
    }

    fn perform<'a, 'p: 'a>(
        &'a self,
        r: &'a Reach<'a, 'p>,
    ) -> BoxFuture<'a, (HopOutcome, Vec<Invocation>)> {
        Box::pin(async move {
            (
                get_object_hop(r.cfg, r.t, r.creds, r.opts, r.proofs, r.env).await,
                vec![],
            )
        })
    }
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
        c.s3_for(bucket)
            .await
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
    };
    let policy = match got {
        Ok(p) => match p.policy() {
            Some(d) => Some(
                policy::parse_service_document(d)
                    .map_err(|m| c.unreadable("s3:GetBucketPolicy", bucket, m))?,
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
                });
            }
            if !e.not_found() {
                return Err(e);
            }
            None
        }
    };
    let encryption = bucket_encryption(c, region, partition, bucket).await?;
    Ok(BucketFacts {
        exists: Some(true),
        policy,
        encryption,
    })
}

/// A customer key's policy, read with the clients of its own account when it is one of the file's
/// (GetKeyPolicy does not work across accounts), in the key's region.
async fn key_policy(accts: &Accounts, key: &str) -> Result<PolicyRead, AwsError> {
    let Some(arn) = crate::arn::Arn::parse(key) else {
        return Ok(PolicyRead::Unreadable(format!("{key} is not a key ARN")));
    };
    let Some(c) = accts.all().iter().find(|c| c.account == arn.account) else {
        return Ok(PolicyRead::Unreadable(format!(
            "the key is in account {}, which is not one of the file's accounts, and its key policy cannot be read from another account",
            arn.account
        )));
    };
    let _slot = c.slot().await?;
    match c
        .kms_in(&arn.region)
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
    {
        Ok(p) => Ok(PolicyRead::Read(match p.policy() {
            Some(d) => Some(
                policy::parse_service_document(d)
                    .map_err(|m| c.unreadable("kms:GetKeyPolicy", key, m))?,
            ),
            None => None,
        })),
        Err(e) => {
            let e = c.err("kms:GetKeyPolicy", key, e);
            if e.not_found() {
                Ok(PolicyRead::Read(None))
            } else if e.access_denied() {
                Ok(PolicyRead::Unreadable(format!(
                    "account {}'s credentials may not read it: {}",
                    arn.account, e.message
                )))
            } else {
                Err(e)
            }
        }
    }
}

fn prove_get_object(cfg: &Config, t: &Target, f: &Facts, asks: &[crate::chain::Ask]) -> StepResult {
    let Some(Some(target)) = f.targets.get(&t.name) else {
        return missing_target(cfg, t, Step::Target(Hop::GetObject));
    };
    let names: Vec<&str> = target.policies.iter().map(|(n, _)| n.as_str()).collect();
    let (mut ok, mut detail, mut statements, mut fixes, mut failing) =
        (true, Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut organization = Vec::new();
    // keys whose policy xacct cannot read: the hop depends on them (`?`), not ✗
    let mut unknown: Vec<String> = Vec::new();
    // the hop's asks, in the chain's order: each names the entry it is proven for
    let listed = crate::chain::request::listed(asks, "s3:GetObject", &t.objects, |x| &x.arn);
    for o in listed {
        let bucket = f.buckets.get(&o.bucket);
        if bucket.is_some_and(|b| b.exists == Some(false)) {
            ok = false;
            detail.push(format!("{}: bucket {} does not exist", o.arn, o.bucket));
            continue;
        }
        // the keys that encrypt what the entry names: the bucket's default and the objects' own
        let mut keys: Vec<&str> = bucket
            .and_then(|b| match &b.encryption {
                Encryption::KmsCustomer(k) => Some(k.as_str()),
                Encryption::S3 | Encryption::KmsAwsManaged => None,
            })
            .into_iter()
            .chain(
                f.object_keys
                    .get(&o.arn)
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            )
            .collect();
        keys.sort();
        keys.dedup();
        // the sides AWS authorizes, in order (the builder the sandbox uses too): s3:GetObject under
        // the bucket policy, then kms:Decrypt under the policy of the key that encrypts the object
        let policy = bucket.and_then(|b| b.policy.as_ref());
        let read_ok = {
            let (action, resource, rpolicy) = get_object_request(&o.arn, policy, None)
                .into_iter()
                .next()
                .expect("GetObject is always the first side");
            let rname = format!("bucket policy of {}", o.bucket);
            let r = target_access(target, &names, &action, &resource, rpolicy.as_ref(), &rname);
            detail.extend(r.detail);
            statements.extend(r.statements);
            fixes.extend(r.fix);
            failing.extend(r.case);
            organization.extend(r.organization);
            r.ok
        };
        if !read_ok {
            ok = false;
            continue;
        }
        for key in keys {
            let kp = match f.key_policies.get(key) {
                Some(PolicyRead::Read(p)) => p.as_ref(),
                Some(PolicyRead::Unreadable(why)) => {
                    ok = false;
                    let account = crate::arn::Arn::parse(key)
                        .map(|a| a.account)
                        .unwrap_or_default();
                    detail.push(format!(
                        "{}: the objects are encrypted with KMS key {key} (account {account}); {why}. Its key policy must hold: {}",
                        o.arn,
                        json!({"Effect":"Allow","Principal":{"AWS":target.arn},"Action":"kms:Decrypt","Resource":"*"})
                    ));
                    unknown.push(format!("the key policy of {key}"));
                    continue;
                }
                None => {
                    ok = false;
                    detail.push(format!(
                        "{}: the objects are encrypted with KMS key {key}, whose key policy was not read",
                        o.arn
                    ));
                    continue;
                }
            };
            let side = get_object_request(&o.arn, policy, Some((key, kp)));
            let Some((action, _, rpolicy)) = side.into_iter().nth(1) else {
                continue;
            };
            let kname = format!("key policy of {key}");
            match two_sided(target, &action, key, rpolicy.as_ref()) {
                Err(e) => {
                    ok = false;
                    detail.push(format!("{}: malformed key policy of {key}: {e}", o.arn));
                }
                Ok((out, _, _, _)) if out.decision == Decision::Allow => {
                    detail.push(format!("{} may decrypt with {key}", target.arn));
                    statements.extend(labels(&out, &names, &kname));
                }
                Ok((out, id_ok, res_ok, case)) => {
                    ok = false;
                    failing.push(case);
                    if out.decision == Decision::ExplicitDeny {
                        detail.push(format!(
                            "{}: kms:Decrypt with {key} is explicitly denied",
                            o.arn
                        ));
                        fixes.push(removal(&out, &names, &kname));
                    } else {
                        if !res_ok {
                            detail.push(format!(
                                "{}: the objects are encrypted with KMS key {key}, and its key policy does not let {} decrypt (a key policy must allow explicitly, even in the same account)",
                                o.arn, target.arn
                            ));
                            fixes.push(json!({"key_policy_of": key, "statement": {"Effect":"Allow","Principal":{"AWS":target.arn},"Action":"kms:Decrypt","Resource":"*"}}));
                        }
                        if !id_ok {
                            detail.push(format!(
                                "{}: the target role's policies do not allow kms:Decrypt on {key}",
                                o.arn
                            ));
                            fixes.push(json!({"identity_policy_of": target.arn, "statement": {"Effect":"Allow","Action":"kms:Decrypt","Resource":key}}));
                        }
                    }
                    statements.extend(labels(&out, &names, &kname));
                }
            }
        }
    }
    let mut h = finish(
        Step::Target(Hop::GetObject),
        ok,
        detail,
        statements,
        fixes,
        &failing,
    );
    h.organization = organization;
    for k in unknown {
        if !h.depends_on.contains(&k) {
            h.depends_on.push(k);
        }
    }
    h
}

/// Does `key` match the listed key (`*` and `?` wildcards)?
pub fn key_matches(listed: &str, key: &str) -> bool {
    crate::policy::eval::matching::glob(listed, key, false)
}

/// One object that matches the entry, listed with the environment's own credentials: one with
/// content if there is any (a "folder" marker is empty), and whether it is empty.
async fn find_object(c: &Clients, o: &ObjectRef) -> Result<Option<(String, bool)>, HopError> {
    let s3 = c.s3_for(&o.bucket).await;
    let fail = |m: String| HopError {
        denied: false,
        message: m,
    };
    let mut empty: Option<String> = None;
    let mut pages = s3
        .list_objects_v2()
        .bucket(&o.bucket)
        .prefix(o.list_prefix())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let e = c.err("s3:ListBucket", &o.bucket, e);
            fail(format!(
                "cannot list {} with the environment's credentials to find an object to read: {}",
                o.arn, e.message
            ))
        })?;
        for x in page.contents() {
            let Some(k) = x.key().filter(|k| key_matches(&o.key, k)) else {
                continue;
            };
            if x.size().unwrap_or(0) > 0 {
                return Ok(Some((k.to_string(), false)));
            }
            empty.get_or_insert_with(|| k.to_string());
        }
    }
    Ok(empty.map(|k| (k, true)))
}

/// Read the first byte of `bucket/key` with the chain's credentials; an empty object whole (S3 answers
/// a range of an empty object with 416 InvalidRange; both are authorized by s3:GetObject).
async fn read_first_byte(
    cfg: &Config,
    creds: &aws_sdk_sts::types::Credentials,
    (bucket, region): (&str, &str),
    key: &str,
    empty: bool,
) -> Result<(), HopError> {
    let sdk = with_creds(
        region,
        creds.access_key_id(),
        creds.secret_access_key(),
        creds.session_token(),
    )
    .await;
    let s3 = crate::aws::s3_client(&sdk);
    let arn = format!("arn:{}:s3:::{bucket}/{key}", cfg.partition);
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .set_range((!empty).then(|| "bytes=0-0".to_string()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            use aws_smithy_types::error::metadata::ProvideErrorMetadata;
            let code = e.code().unwrap_or("").to_string();
            let denied = crate::aws::error::denied(e.code());
            let m = e.message().unwrap_or("").to_string();
            HopError {
                denied,
                message: if code.is_empty() {
                    format!("GetObject {arn} failed: {}", crate::aws::chain(&e))
                } else {
                    format!("GetObject {arn} was refused: {code}: {m}")
                },
            }
        })
}

/// The `get_object` hop.
async fn get_object_hop(
    cfg: &Config,
    t: &Target,
    target: &aws_sdk_sts::types::Credentials,
    opts: &Options,
    proofs: &Proofs<'_>,
    env: Option<&Clients>,
) -> HopOutcome {
    let start = Instant::now();
    let Some(c) = env else {
        return hop_done(
            Hop::GetObject,
            false,
            start,
            format!(
                "cannot connect to environment {}'s account {} to find an object to read",
                t.name, t.account
            ),
        );
    };
    let results = futures::future::join_all(t.objects.iter().map(|o| async move {
        let Some((key, empty)) = find_object(c, o).await? else {
            return Err(HopError {
                denied: false,
                message: format!(
                    "{}: no object of bucket {} matches it, so there is nothing to read (put one there, or correct the entry)",
                    o.arn, o.bucket
                ),
            });
        };
        let region = c.bucket_region(&o.bucket).await;
        settled(opts, proofs, &t.name, Hop::GetObject, || {
            read_first_byte(cfg, target, (&o.bucket, &region), &key, empty)
        })
        .await?;
        Ok(format!("read s3://{}/{key}", o.bucket))
    }))
    .await;
    let (ok_lines, errors) = split_results(results);
    if errors.is_empty() {
        hop_done(Hop::GetObject, true, start, ok_lines.join("; "))
    } else {
        hop_done(Hop::GetObject, false, start, errors.join("; "))
    }
}
