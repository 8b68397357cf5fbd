//! Discovery before planning: the source role, the buckets' owners and their KMS keys.

use super::{role, Accounts, AwsError, BTreeMap, Clients, Config, Discovered, Encryption, Live};

// ---------------------------------------------------------------------------------------------------
// Discovery: what the desired state depends on besides the file

/// An error about the file's view of an account that is not an AWS error (xacct's own codes, such as
/// `BucketNotOwned`, are `Code::Other`).
fn finding(c: &Clients, action: &str, resource: &str, code: &str, message: String) -> AwsError {
    AwsError {
        scope: c.scope.clone(),
        action: action.into(),
        resource: resource.into(),
        code: Some(crate::aws::Code::parse(code)),
        message,
    }
}

/// The names of the buckets an account owns.
pub async fn owned_buckets(c: &Clients) -> Result<Vec<String>, AwsError> {
    let _slot = c.slot().await?;
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
        let _slot = c.slot().await?;
        c.s3_for(bucket)
            .await
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
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
    Ok(match resolve_key(c, region, partition, &key).await? {
        Some(arn) => Encryption::KmsCustomer(arn),
        None => Encryption::KmsAwsManaged,
    })
}

/// The ARN of the customer managed key a key id, key ARN or alias names; None for an AWS managed key
/// (`aws/s3`, whose policy no one can change). An alias grants nothing in a policy's `Resource`, so
/// it is resolved with DescribeKey (in the key's region when an ARN gives one).
pub async fn resolve_key(
    c: &Clients,
    region: &str,
    partition: &str,
    key: &str,
) -> Result<Option<String>, AwsError> {
    if key == "alias/aws/s3" || key.ends_with(":alias/aws/s3") {
        return Ok(None);
    }
    let arn = crate::arn::Arn::parse(key);
    if let Some(a) = &arn {
        if a.resource.starts_with("key/") {
            return Ok(Some(key.to_string()));
        }
    } else if !key.starts_with("alias/") {
        // a bare key id: the key is in the bucket's account and region
        return Ok(Some(format!(
            "arn:{partition}:kms:{region}:{}:key/{key}",
            c.account
        )));
    }
    // an alias: ask KMS which key it names
    let key_region = arn.as_ref().map_or(region, |a| a.region.as_str());
    let _slot = c.slot().await?;
    let d = c
        .kms_in(key_region)
        .describe_key()
        .key_id(key)
        .send()
        .await
        .map_err(|e| c.err("kms:DescribeKey", key, e))?;
    Ok(match d.key_metadata() {
        Some(m) if m.key_manager() == Some(&aws_sdk_kms::types::KeyManagerType::Aws) => None,
        Some(m) => Some(m.arn().unwrap_or(m.key_id()).to_string()),
        None => None,
    })
}

/// How many of the newest objects matching an entry are asked which key encrypts them.
pub const OBJECTS_SAMPLED: usize = 5;

/// The customer keys that encrypt the objects an entry names: HeadObject of up to
/// `OBJECTS_SAMPLED` matching objects, the newest first (CloudTrail encrypts with the trail's key
/// whatever the bucket's default, and any writer may choose its own key per object).
pub async fn object_keys(
    c: &Clients,
    region: &str,
    partition: &str,
    o: &crate::config::ObjectRef,
) -> Result<Vec<String>, AwsError> {
    let mut found: Vec<(i64, String)> = Vec::new();
    let s3 = c.s3_for(&o.bucket).await;
    {
        let _slot = c.slot().await?;
        let mut pages = s3
            .list_objects_v2()
            .bucket(&o.bucket)
            .prefix(o.list_prefix())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| c.err("s3:ListBucket", &o.bucket, e))?;
            for x in page.contents() {
                if let Some(k) = x
                    .key()
                    .filter(|k| crate::targets::objects::key_matches(&o.key, k))
                {
                    let when = x.last_modified().map_or(0, |d| d.secs());
                    found.push((when, k.to_string()));
                }
            }
        }
    }
    found.sort_by(|a, b| b.cmp(a));
    found.truncate(OBJECTS_SAMPLED);
    let s3 = &s3;
    let heads = futures::future::join_all(found.iter().map(|(_, k)| async move {
        let _slot = c.slot().await?;
        s3.head_object()
            .bucket(&o.bucket)
            .key(k)
            .send()
            .await
            .map_err(|e| c.err("s3:GetObject", &format!("{}/{k}", o.bucket), e))
            .map(|h| h.ssekms_key_id().map(String::from))
    }))
    .await;
    let mut keys = Vec::new();
    for h in heads {
        if let Some(k) = h? {
            if let Some(arn) = resolve_key(c, region, partition, &k).await? {
                if !keys.contains(&arn) {
                    keys.push(arn);
                }
            }
        }
    }
    keys.sort();
    Ok(keys)
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
                let entries: Vec<&crate::config::ObjectRef> =
                    t.objects.iter().filter(|x| x.bucket == o.bucket).collect();
                checks.push(async move {
                    let enc = bucket_encryption(c, &cfg.region, &cfg.partition, &bucket).await;
                    let keys = futures::future::try_join_all(
                        entries
                            .iter()
                            .map(|o| object_keys(c, &cfg.region, &cfg.partition, o)),
                    )
                    .await;
                    (env, bucket, enc, keys)
                });
            }
        }
        let results = futures::future::join_all(checks).await;
        let mut found = Discovered::default();
        for (env, bucket, r, keys) in results {
            match r {
                Ok(Encryption::KmsCustomer(k)) => {
                    found
                        .bucket_keys
                        .entry(env.clone())
                        .or_default()
                        .insert(bucket, k);
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
            match keys {
                Ok(keys) => {
                    let mine = found.object_keys.entry(env).or_default();
                    mine.extend(keys.into_iter().flatten());
                }
                Err(e) => errors.push(e),
            }
        }
        found.object_keys.retain(|_, k| !k.is_empty());
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
