//! `xacct verify`: the end-to-end smoke test, per environment and per hop (`chain::Hop`, the names
//! `check` proves under): a device's credentials (mTLS to the credentials provider) or a workload's
//! source session, sts:AssumeRole into the target role, then each target's call.

mod ephemeral;
pub(crate) mod hops;
pub mod mtls;
pub(crate) mod report;
pub mod source;

use crate::aws::{AwsError, Clients};
pub use crate::chain::Hop;
use crate::config::{Config, Target};
pub use ephemeral::{
    cleanup_leftovers, ephemeral_cleanup, ephemeral_create, short_id, Ephemeral, EPHEMERAL_ATTR,
};
pub(crate) use hops::{hop_done, not_reached, settled, with_creds};
pub use hops::{HopError, Options, Proofs};
use mtls::{DeviceIdentity, SessionCredentials};
pub use report::{
    explain, quote_layers, render_human, EnvOutcome, HopOutcome, Invocation, VerifyOutput,
};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What `xacct creds` prints: the `credential_process` format the AWS SDKs read.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialProcess<'a> {
    pub version: u8,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    pub expiration: &'a str,
}

/// The credentials endpoint: the option, or DescribeEndpoint(iot:CredentialProvider).
pub async fn endpoint(opts: &Options, iot: &Clients) -> Result<String, AwsError> {
    if let Some(e) = &opts.endpoint {
        return Ok(e.clone());
    }
    let out = iot
        .iot()
        .describe_endpoint()
        .endpoint_type("iot:CredentialProvider")
        .send()
        .await
        .map_err(|e| iot.err("iot:DescribeEndpoint", "iot:CredentialProvider", e))?;
    Ok(out.endpoint_address().unwrap_or_default().to_string())
}

/// IoT credentials in the shape of STS credentials (what the hops after the credentials take).
pub fn as_sts_credentials(c: &SessionCredentials) -> aws_sdk_sts::types::Credentials {
    let expiration = aws_smithy_types::DateTime::from_str(
        &c.expiration,
        aws_smithy_types::date_time::Format::DateTime,
    )
    .unwrap_or_else(|_| aws_smithy_types::DateTime::from_secs(0));
    aws_sdk_sts::types::Credentials::builder()
        .access_key_id(&c.access_key_id)
        .secret_access_key(&c.secret_access_key)
        .session_token(&c.session_token)
        .expiration(expiration)
        .build()
        .expect("every field is set")
}

/// The session name of a device's sessions: its certificate id (STS allows 64 characters; an IoT
/// certificate id is 64), so CloudTrail in the target account shows which device called.
pub fn device_session_name(id: &DeviceIdentity) -> &str {
    let n = id.certificate_id.len().min(64);
    &id.certificate_id[..n]
}

/// Hop 2: AssumeRole into the target role with the IoT credentials (role chaining: ≤ 3600 s).
pub async fn assume_target(
    cfg: &Config,
    t: &Target,
    c: &SessionCredentials,
    session_name: &str,
) -> Result<aws_sdk_sts::types::Credentials, HopError> {
    let sdk = with_creds(
        &cfg.region,
        &c.access_key_id,
        &c.secret_access_key,
        &c.session_token,
    )
    .await;
    let sts = aws_sdk_sts::Client::new(&sdk);
    let arn = cfg.target_role_arn(t);
    let out = sts
        .assume_role()
        .role_arn(&arn)
        .role_session_name(session_name)
        .duration_seconds(t.session_duration.min(crate::config::ROLE_CHAINING_CAP))
        .send()
        .await
        .map_err(|e| {
            use aws_smithy_types::error::metadata::ProvideErrorMetadata;
            let denied = crate::aws::error::denied(e.code());
            let message = match (e.code(), e.message()) {
                (Some(c), m) if denied => format!(
                    "AssumeRole denied: {arn} may not be assumed with the {}'s credentials ({})",
                    match cfg.origin {
                        crate::config::Origin::Iot(_) => "IoT role",
                        crate::config::Origin::Role(_) => "source role",
                    },
                    m.unwrap_or(c)
                ),
                (Some(code), m) => {
                    format!("AssumeRole of {arn} failed: {code}: {}", m.unwrap_or(""))
                }
                _ => format!("AssumeRole of {arn} failed: {}", crate::aws::chain(&e)),
            };
            HopError { denied, message }
        })?;
    out.credentials().cloned().ok_or_else(|| HopError {
        denied: false,
        message: "AssumeRole returned no credentials".into(),
    })
}

/// Run the hops of a device chain for one environment.
#[allow(clippy::too_many_arguments)]
pub async fn verify_env(
    cfg: &Config,
    t: &Target,
    endpoint: &str,
    id: &DeviceIdentity,
    opts: &Options,
    wait_usable: bool,
    proofs: &Proofs<'_>,
    env: Option<&Clients>,
) -> EnvOutcome {
    let mut hops = Vec::new();
    let outcome = |hops: Vec<HopOutcome>, invocations: Vec<Invocation>| {
        EnvOutcome::from_hops(&t.name, &t.account, hops, invocations)
    };
    // hop 1 (an ephemeral certificate may take a moment to become usable); the environment's own
    // alias when devices are gated
    let alias = cfg.iot_names(t).map(|n| n.role_alias).unwrap_or_default();
    let t1 = Instant::now();
    let mut delay = Duration::from_millis(200);
    let creds = loop {
        match mtls::fetch(
            endpoint,
            &alias,
            id,
            opts.ca_bundle.as_deref(),
            opts.thing_name.as_deref(),
        )
        .await
        {
            Err(e)
                if wait_usable
                    && e.status == Some(403)
                    && t1.elapsed() < Duration::from_secs(30) =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(4));
            }
            other => break other,
        }
    };
    let creds = match creds {
        Ok(c) => {
            let detail = format!(
                "credentials of {} from {endpoint} (alias {alias})",
                cfg.iot_role_arn_for(t)
            );
            hops.push(hop_done(Hop::Credentials, true, t1, detail));
            c
        }
        Err(e) => {
            let mut message = e.message;
            if let (Some(403), Some(d)) = (e.status, &t.devices) {
                message.push_str(&format!(
                    " — environment {} admits only the devices of {d}: name a thing of it with --thing-name",
                    t.name
                ));
            }
            hops.push(hop_done(Hop::Credentials, false, t1, message));
            if !t.direct() {
                hops.push(not_reached(Hop::AssumeRole));
            }
            hops.extend(crate::chain::target_hops(t).into_iter().map(not_reached));
            return outcome(hops, vec![]);
        }
    };
    if t.direct() {
        // direct mode: the IoT role's session invokes, allowed by the function's resource policy
        let (more, invocations) =
            target_hops(cfg, t, &as_sts_credentials(&creds), opts, proofs, env).await;
        hops.extend(more);
        return outcome(hops, invocations);
    }
    // hop 2, then the targets
    assume_and_reach(
        cfg,
        t,
        &creds,
        device_session_name(id),
        opts,
        proofs,
        env,
        hops,
    )
    .await
}

/// The hops from the assumption of the target role on: `assume_role` with `creds` (session
/// `session_name`), then the environment's targets; `hops` are those already done.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn assume_and_reach(
    cfg: &Config,
    t: &Target,
    creds: &SessionCredentials,
    session_name: &str,
    opts: &Options,
    proofs: &Proofs<'_>,
    env: Option<&Clients>,
    mut hops: Vec<HopOutcome>,
) -> EnvOutcome {
    let outcome = |hops: Vec<HopOutcome>, invocations: Vec<Invocation>| {
        EnvOutcome::from_hops(&t.name, &t.account, hops, invocations)
    };
    let t2 = Instant::now();
    let assumed = settled(opts, proofs, &t.name, Hop::AssumeRole, || {
        assume_target(cfg, t, creds, session_name)
    })
    .await;
    let target = match assumed {
        Ok(c) => {
            let detail = format!("assumed {}", cfg.target_role_arn(t));
            hops.push(hop_done(Hop::AssumeRole, true, t2, detail));
            c
        }
        Err(e) => {
            hops.push(hop_done(Hop::AssumeRole, false, t2, e.message));
            hops.extend(crate::chain::target_hops(t).into_iter().map(not_reached));
            return outcome(hops, vec![]);
        }
    };
    let (more, invocations) = target_hops(cfg, t, &target, opts, proofs, env).await;
    hops.extend(more);
    outcome(hops, invocations)
}

/// The hops after the target role: one per target type the environment lists (`targets`).
pub(crate) async fn target_hops(
    cfg: &Config,
    t: &Target,
    target: &aws_sdk_sts::types::Credentials,
    opts: &Options,
    proofs: &Proofs<'_>,
    env: Option<&Clients>,
) -> (Vec<HopOutcome>, Vec<Invocation>) {
    let reach = crate::targets::Reach {
        cfg,
        t,
        creds: target,
        opts,
        proofs,
        env,
    };
    let mut hops = Vec::new();
    let mut invocations = Vec::new();
    for ty in crate::targets::listed(t) {
        let (h, inv) = ty.perform(&reach).await;
        hops.push(h);
        invocations.extend(inv);
    }
    (hops, invocations)
}

/// The IoT certificate id of a device identity in the IoT account: AWS's id (SHA-256 of the DER) when
/// it is registered under it, otherwise found by content.
pub async fn locate_certificate(iot: &Clients, id: &DeviceIdentity) -> Option<String> {
    let der = id.chain.first()?.as_ref().to_vec();
    let same = |pem: Option<&str>| {
        use rustls::pki_types::pem::PemObject;
        pem.and_then(|p| rustls::pki_types::CertificateDer::from_pem_slice(p.as_bytes()).ok())
            .is_some_and(|c| c.as_ref() == der.as_slice())
    };
    if let Ok(d) = iot
        .iot()
        .describe_certificate()
        .certificate_id(&id.certificate_id)
        .send()
        .await
    {
        if same(
            d.certificate_description()
                .and_then(|d| d.certificate_pem()),
        ) {
            return Some(id.certificate_id.clone());
        }
    }
    let certs = iot
        .iot()
        .list_certificates()
        .page_size(250)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ok()?;
    for c in &certs {
        let Some(cid) = c.certificate_id() else {
            continue;
        };
        if let Ok(d) = iot
            .iot()
            .describe_certificate()
            .certificate_id(cid)
            .send()
            .await
        {
            if same(
                d.certificate_description()
                    .and_then(|d| d.certificate_pem()),
            ) {
                return Some(cid.to_string());
            }
        }
    }
    None
}

/// Run verify for every selected environment in parallel.
pub async fn run(
    cfg: &Config,
    targets: &[Target],
    endpoint: &str,
    id: &DeviceIdentity,
    opts: &Options,
    wait: bool,
    proofs: &Proofs<'_>,
) -> Vec<EnvOutcome> {
    let envs = env_clients(cfg, targets).await;
    futures::future::join_all(targets.iter().map(|t| {
        verify_env(
            cfg,
            t,
            endpoint,
            id,
            opts,
            wait,
            proofs,
            envs.get(&t.name).and_then(|c| c.as_ref()),
        )
    }))
    .await
}

/// The environments' own clients, for what verify looks up with them (an object to read, a method's
/// authorization): only for environments that list objects or APIs; None where they cannot be
/// connected (the hop then says so).
pub(crate) async fn env_clients(
    cfg: &Config,
    targets: &[Target],
) -> std::collections::BTreeMap<String, Option<Clients>> {
    let wanted: Vec<&Target> = targets
        .iter()
        .filter(|t| !t.objects.is_empty() || !t.apis.is_empty())
        .collect();
    let got = futures::future::join_all(
        wanted
            .iter()
            .map(|t| crate::aws::connect(&cfg.region, &t.account, Some(&t.name), &t.access)),
    )
    .await;
    wanted
        .iter()
        .zip(got)
        .map(|(t, r)| (t.name.clone(), r.ok()))
        .collect()
}
