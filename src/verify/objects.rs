//! verify's `get_object` hop: for each listed object or prefix, one matching object is found with the
//! environment's own credentials and read with the chain's (first byte only).

use super::{hop_done, settled, with_creds, Hop, HopError, HopOutcome, Options, Proofs};
use crate::aws::Clients;
use crate::config::{Config, ObjectRef, Target};
use std::time::Instant;

/// Does `key` match the listed key (`*` and `?` wildcards)?
pub fn key_matches(listed: &str, key: &str) -> bool {
    crate::policy::eval::matching::glob(listed, key, false)
}

/// One object that matches the entry, listed with the environment's own credentials: one with
/// content if there is any (a "folder" marker is empty), and whether it is empty.
async fn find_object(c: &Clients, o: &ObjectRef) -> Result<Option<(String, bool)>, HopError> {
    let fail = |m: String| HopError {
        denied: false,
        message: m,
    };
    let mut empty: Option<String> = None;
    let mut pages = c
        .s3()
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
    bucket: &str,
    key: &str,
    empty: bool,
) -> Result<(), HopError> {
    let sdk = with_creds(
        &cfg.region,
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
pub async fn get_object_hop(
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
        settled(opts, proofs, &t.name, Hop::GetObject, || {
            read_first_byte(cfg, target, &o.bucket, &key, empty)
        })
        .await?;
        Ok(format!("read s3://{}/{key}", o.bucket))
    }))
    .await;
    let (ok_lines, errors) = super::split_results(results);
    if errors.is_empty() {
        hop_done(Hop::GetObject, true, start, ok_lines.join("; "))
    } else {
        hop_done(Hop::GetObject, false, start, errors.join("; "))
    }
}
