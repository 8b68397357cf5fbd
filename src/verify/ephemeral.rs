//! `verify --ephemeral`: a fresh certificate (key in memory only) with the fleet's IoT policies,
//! always removed afterwards — after success, failure, Ctrl-C or SIGTERM; a marker thing lets the
//! next run clean up after a hard kill.

use super::{AwsError, Clients, Config, DeviceIdentity, Duration, Instant};

// ---------------------------------------------------------------------------------------------------
// Ephemeral certificates

/// The attribute that marks the things of ephemeral verify certificates (value: the fleet).
pub const EPHEMERAL_ATTR: &str = "xacct_ephemeral";

pub struct Ephemeral {
    pub identity: DeviceIdentity,
    pub certificate_id: String,
    pub certificate_arn: String,
    pub marker: String,
}

/// The first characters of a certificate id, for messages (never panics on a short id).
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Create a fresh certificate (key in memory only) attached to the fleet's IoT policy. A marker thing
/// is created first, so a hard-killed run leaves something the next run can find and clean up; any
/// failure after the certificate exists removes it (and the marker) before the error is returned.
pub async fn ephemeral_create(
    iot: &Clients,
    cfg: &Config,
    thing: Option<&str>,
) -> Result<Ephemeral, AwsError> {
    let marker = format!("xacct-verify-{:08x}", rand32());
    iot.iot()
        .create_thing()
        .thing_name(&marker)
        .attribute_payload(
            aws_sdk_iot::types::AttributePayload::builder()
                .attributes(EPHEMERAL_ATTR, &cfg.fleet)
                .build(),
        )
        .send()
        .await
        .map_err(|e| iot.err("iot:CreateThing", &marker, e))?;
    let cert = match iot
        .iot()
        .create_keys_and_certificate()
        .set_as_active(true)
        .send()
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let err = iot.err(
                "iot:CreateKeysAndCertificate",
                "an ephemeral certificate",
                e,
            );
            let _ = iot.iot().delete_thing().thing_name(&marker).send().await;
            return Err(err);
        }
    };
    let arn = cert.certificate_arn().unwrap_or_default().to_string();
    let id = cert.certificate_id().unwrap_or_default().to_string();
    // from here on the certificate exists: every failure removes it
    let prepared: Result<DeviceIdentity, AwsError> = async {
        iot.iot()
            .attach_thing_principal()
            .thing_name(&marker)
            .principal(&arn)
            .send()
            .await
            .map_err(|e| iot.err("iot:AttachThingPrincipal", &marker, e))?;
        // the IoT policies a listed certificate gets (with gating: those of the environments not
        // gated on a thing group, whose things it is not)
        let mut policies: Vec<String> = cfg
            .environments
            .iter()
            .filter(|t| !matches!(t.devices, Some(crate::config::Devices::ThingGroup(_))))
            .filter_map(|t| cfg.iot_names(t).map(|n| n.policy_name))
            .collect();
        policies.sort();
        policies.dedup();
        for p in &policies {
            iot.iot()
                .attach_policy()
                .policy_name(p)
                .target(&arn)
                .send()
                .await
                .map_err(|e| iot.err("iot:AttachPolicy", &arn, e))?;
        }
        if let Some(t) = thing {
            iot.iot()
                .attach_thing_principal()
                .thing_name(t)
                .principal(&arn)
                .send()
                .await
                .map_err(|e| iot.err("iot:AttachThingPrincipal", t, e))?;
        }
        let key = cert
            .key_pair()
            .and_then(|k| k.private_key())
            .unwrap_or_default();
        DeviceIdentity::from_pem(
            cert.certificate_pem().unwrap_or_default().as_bytes(),
            key.as_bytes(),
        )
        .map_err(|m| AwsError {
            scope: iot.scope.clone(),
            action: "iot:CreateKeysAndCertificate".into(),
            resource: id.clone(),
            code: None,
            message: m.to_string(),
        })
    }
    .await;
    let e = Ephemeral {
        identity: match prepared {
            Ok(identity) => identity,
            Err(err) => {
                remove_marked(iot, &marker, &arn).await;
                return Err(err);
            }
        },
        certificate_id: id,
        certificate_arn: arn,
        marker,
    };
    Ok(e)
}

fn rand32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

/// How long deleting a certificate is retried: DetachThingPrincipal is asynchronous, so the delete
/// can be refused for a few seconds after it.
const CERTIFICATE_DELETE_PATIENCE: Duration = Duration::from_secs(60);

/// Detach, deactivate and delete one certificate (ignoring what is already gone). Returns whether
/// the certificate is gone.
async fn remove_certificate(iot: &Clients, arn: &str) -> bool {
    let id = arn.rsplit('/').next().unwrap_or(arn).to_string();
    let policies: Vec<_> = iot
        .iot()
        .list_attached_policies()
        .target(arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_default();
    for pol in &policies {
        if let Some(n) = pol.policy_name() {
            let _ = iot
                .iot()
                .detach_policy()
                .policy_name(n)
                .target(arn)
                .send()
                .await;
        }
    }
    let things: Vec<String> = iot
        .iot()
        .list_principal_things()
        .principal(arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_default();
    for thing in &things {
        let _ = iot
            .iot()
            .detach_thing_principal()
            .thing_name(thing)
            .principal(arn)
            .send()
            .await;
    }
    let _ = iot
        .iot()
        .update_certificate()
        .certificate_id(&id)
        .new_status(aws_sdk_iot::types::CertificateStatus::Inactive)
        .send()
        .await;
    let start = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        match iot
            .iot()
            .delete_certificate()
            .certificate_id(&id)
            .send()
            .await
        {
            Ok(_) => return true,
            Err(e) => {
                let e = iot.err("iot:DeleteCertificate", &id, e);
                if e.not_found() {
                    return true;
                }
                // still attached (DetachThingPrincipal has not landed yet), throttled, …
                if start.elapsed() >= CERTIFICATE_DELETE_PATIENCE {
                    return false;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Remove a certificate, then its marker thing, but the marker only once the certificate is gone
/// (so a later run can still find the certificate through it).
async fn remove_marked(iot: &Clients, marker: &str, arn: &str) -> bool {
    let gone = remove_certificate(iot, arn).await;
    if gone {
        let _ = iot.iot().delete_thing().thing_name(marker).send().await;
    }
    gone
}

/// Remove an ephemeral certificate and its marker; false when the certificate could not be deleted
/// (the marker stays, and the next run removes both).
pub async fn ephemeral_cleanup(iot: &Clients, e: &Ephemeral) -> bool {
    remove_marked(iot, &e.marker, &e.certificate_arn).await
}

/// Remove what earlier, hard-killed `verify --ephemeral` runs of this fleet left behind.
pub async fn cleanup_leftovers(iot: &Clients, cfg: &Config) -> usize {
    let Ok(things): Result<Vec<_>, _> = iot
        .iot()
        .list_things()
        .attribute_name(EPHEMERAL_ATTR)
        .attribute_value(&cfg.fleet)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
    else {
        return 0;
    };
    let mut n = 0;
    for t in &things {
        let Some(name) = t.thing_name() else { continue };
        let principals: Vec<String> = iot
            .iot()
            .list_thing_principals()
            .thing_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_default();
        let mut all_gone = true;
        for arn in &principals {
            if remove_certificate(iot, arn).await {
                n += 1;
            } else {
                all_gone = false;
            }
        }
        if all_gone {
            let _ = iot.iot().delete_thing().thing_name(name).send().await;
        }
    }
    n
}
