//! `xacct verify`: the end-to-end smoke test, per environment and per hop (`chain::Hop`, the names
//! `check` proves under): a device's credentials (mTLS to the credentials provider) or a workload's
//! source session, sts:AssumeRole into the target role, then each target's call.

pub mod api;
mod ephemeral;
pub mod mtls;
pub mod objects;
mod report;
pub mod source;

use crate::aws::{AwsError, Clients};
pub use crate::chain::Hop;
use crate::config::{Config, Target};
pub use ephemeral::{
    cleanup_leftovers, ephemeral_cleanup, ephemeral_create, short_id, Ephemeral, EPHEMERAL_ATTR,
};
use mtls::{DeviceIdentity, SessionCredentials};
pub use report::{explain, render_human, EnvOutcome, HopOutcome, Invocation, VerifyOutput};
use serde::Serialize;
use std::path::PathBuf;
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

/// What verify needs besides the config.
pub struct Options {
    pub endpoint: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    pub thing_name: Option<String>,
    pub function: Option<String>,
    pub payload: String,
    /// Invoke for real (`RequestResponse` with `payload`) instead of `DryRun`.
    pub execute: bool,
    /// How long an AccessDenied at the assume and invoke hops is retried when the documents prove the
    /// call should work (IAM propagation right after an apply).
    pub settle: Duration,
    /// For a `source:` file: assume the source role with the ambient credentials first.
    pub assume_source: bool,
    /// What replaces a `*` in an API method's path.
    pub api_path_arg: String,
    /// host:port to connect API calls to instead of the API's host.
    pub execute_api_endpoint: Option<String>,
}

/// A hop that failed, and whether AWS refused it as access denied.
#[derive(Debug, Clone)]
pub struct HopError {
    pub denied: bool,
    pub message: String,
}

/// Whether the static proof of the live documents says a hop should work, read once on first use
/// (verify retries a denial only when it should).
pub struct Proofs<'a> {
    cfg: &'a Config,
    envs: &'a [String],
    proved: tokio::sync::OnceCell<Option<Vec<crate::check::EnvReport>>>,
}

impl<'a> Proofs<'a> {
    pub fn new(cfg: &'a Config, envs: &'a [String]) -> Proofs<'a> {
        Proofs {
            cfg,
            envs,
            proved: tokio::sync::OnceCell::new(),
        }
    }

    /// Some(true) when the documents allow `hop` for `env`, Some(false) when they do not, None when
    /// they cannot be read (no credentials for the accounts).
    pub async fn holds(&self, env: &str, hop: crate::check::Hop) -> Option<bool> {
        let proved = self
            .proved
            .get_or_init(|| async {
                let accts = crate::aws::connect_all(self.cfg, self.envs).await.ok()?;
                let facts = crate::aws::read::check_facts(self.cfg, self.envs, &accts)
                    .await
                    .ok()?;
                Some(crate::check::prove(self.cfg, &facts, self.envs))
            })
            .await
            .as_ref()?;
        let r = proved.iter().find(|r| r.env == env)?;
        r.hops.iter().find(|h| h.hop == hop).map(|h| h.ok)
    }
}

/// Run `attempt` again while AWS denies it, the documents prove it should work and `settle` has not
/// passed (IAM propagation); a denial the documents explain, or any other error, is final at once.
pub(crate) async fn settled<T, F, Fut>(
    opts: &Options,
    proofs: &Proofs<'_>,
    env: &str,
    hop: crate::check::Hop,
    mut attempt: F,
) -> Result<T, HopError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, HopError>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        match attempt().await {
            Err(e) if e.denied && start.elapsed() < opts.settle => {
                if proofs.holds(env, hop).await != Some(true) {
                    return Err(e);
                }
                let left = opts.settle.saturating_sub(start.elapsed());
                tokio::time::sleep(delay.min(left)).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// An SDK config acting with the given temporary credentials (endpoint from the environment), on the
/// process's one HTTP client.
pub(crate) async fn with_creds(
    region: &str,
    akid: &str,
    secret: &str,
    token: &str,
) -> aws_config::SdkConfig {
    crate::aws::loader(region)
        .credentials_provider(aws_credential_types::Credentials::new(
            akid,
            secret,
            (!token.is_empty()).then(|| token.to_string()),
            None,
            "xacct-verify",
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
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

async fn invoke(
    cfg: &Config,
    creds: &aws_sdk_sts::types::Credentials,
    function: &str,
    opts: &Options,
) -> Result<Invocation, HopError> {
    let sdk = with_creds(
        &cfg.region,
        creds.access_key_id(),
        creds.secret_access_key(),
        creds.session_token(),
    )
    .await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    // DryRun proves the permission and runs no code; --execute runs it. Never LogType=Tail: AWS
    // refuses it across accounts.
    let mut req = lambda.invoke().function_name(function);
    req = if opts.execute {
        req.invocation_type(aws_sdk_lambda::types::InvocationType::RequestResponse)
            .payload(aws_smithy_types::Blob::new(
                opts.payload.as_bytes().to_vec(),
            ))
    } else {
        req.invocation_type(aws_sdk_lambda::types::InvocationType::DryRun)
    };
    let out = req.send().await.map_err(|e| {
        use aws_smithy_types::error::metadata::ProvideErrorMetadata;
        let denied = crate::aws::error::denied(e.code());
        let message = match (e.code(), e.message()) {
            (Some(c), m) if denied => {
                format!("Invoke of {function} denied: {}", m.unwrap_or(c))
            }
            (Some(c), _) if crate::aws::Code::parse(c).not_found() => {
                format!("function {function} does not exist")
            }
            (Some(c), m) => format!("Invoke of {function} failed: {c}: {}", m.unwrap_or("")),
            _ => format!("Invoke of {function} failed: {}", crate::aws::chain(&e)),
        };
        HopError { denied, message }
    })?;
    let payload = out
        .payload()
        .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
        .unwrap_or_default();
    Ok(Invocation {
        function: function.to_string(),
        status: Some(out.status_code()),
        function_error: out.function_error().map(String::from),
        payload_excerpt: payload.chars().take(120).collect(),
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

/// The hops after the target role: invoke the functions, call the API methods, read the objects.
pub(crate) async fn target_hops(
    cfg: &Config,
    t: &Target,
    target: &aws_sdk_sts::types::Credentials,
    opts: &Options,
    proofs: &Proofs<'_>,
    env: Option<&Clients>,
) -> (Vec<HopOutcome>, Vec<Invocation>) {
    let mut hops = Vec::new();
    let mut invocations = Vec::new();
    for hop in crate::chain::target_hops(t) {
        match hop {
            Hop::Invoke => {
                let (h, inv) = invoke_hop(cfg, t, target, opts, proofs).await;
                hops.push(h);
                invocations = inv;
            }
            Hop::CallApi => hops.push(api::call_api_hop(cfg, t, target, opts, proofs, env).await),
            Hop::GetObject => {
                hops.push(objects::get_object_hop(cfg, t, target, opts, proofs, env).await)
            }
            // not hops after the target role
            Hop::Credentials | Hop::Source | Hop::AssumeRole => {}
        }
    }
    (hops, invocations)
}

async fn invoke_hop(
    cfg: &Config,
    t: &Target,
    target: &aws_sdk_sts::types::Credentials,
    opts: &Options,
    proofs: &Proofs<'_>,
) -> (HopOutcome, Vec<Invocation>) {
    let t3 = Instant::now();
    let functions: Vec<String> = match &opts.function {
        Some(f) => t
            .functions
            .iter()
            .filter(|a| a.rsplit(':').next() == Some(f.as_str()) || *a == f)
            .cloned()
            .collect(),
        None => t.functions.clone(),
    };
    let mut errors = Vec::new();
    let mut invocations = Vec::new();
    let results = futures::future::join_all(functions.iter().map(|f| {
        settled(opts, proofs, &t.name, crate::check::Hop::Invoke, || {
            invoke(cfg, target, f, opts)
        })
    }))
    .await;
    for r in results {
        match r {
            Ok(i) => {
                if let Some(fe) = &i.function_error {
                    errors.push(format!(
                        "{} answered {:?} with FunctionError {fe}",
                        i.function, i.status
                    ));
                }
                invocations.push(i);
            }
            Err(e) => errors.push(e.message),
        }
    }
    if functions.is_empty() {
        errors.push(format!(
            "no function of environment {} matches --function",
            t.name
        ));
    }
    let detail = if errors.is_empty() {
        format!("invoked {} function(s)", invocations.len())
    } else {
        errors.join("; ")
    };
    (
        hop_done(Hop::Invoke, errors.is_empty(), t3, detail),
        invocations,
    )
}

/// The lines of the parts of a hop that passed, and the words of those that failed.
pub(crate) fn split_results(results: Vec<Result<String, HopError>>) -> (Vec<String>, Vec<String>) {
    let mut ok_lines = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(l) => ok_lines.push(l),
            Err(e) => errors.push(e.message),
        }
    }
    (ok_lines, errors)
}

pub(crate) fn hop_done(hop: Hop, ok: bool, start: Instant, detail: String) -> HopOutcome {
    HopOutcome::finished(hop, ok, ms(start), detail)
}

pub(crate) fn not_reached(hop: Hop) -> HopOutcome {
    HopOutcome::not_reached(hop)
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
