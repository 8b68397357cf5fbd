//! verify for a `source:` file: the chain starts at an existing workload role. Hop `source`: the
//! ambient credentials act as the source role (verify runs inside the workload, or a CI job with that
//! role), or with `--assume-source` they assume it first; then the target role and its targets.

use super::mtls::SessionCredentials;
use super::{assume_and_reach, env_clients, not_reached, EnvOutcome, Hop, Options, Proofs};
use crate::config::{Config, SourceRole, Target};
use aws_credential_types::provider::ProvideCredentials;
use std::time::Instant;

/// Credentials acting as the source role, and what proved it.
pub struct SourceSession {
    pub creds: SessionCredentials,
    pub detail: String,
}

/// Is `caller` (GetCallerIdentity's ARN) a session of the role `role_arn`?
pub fn is_session_of(caller: &str, role_arn: &str) -> bool {
    let (Some(c), Some(r)) = (
        crate::arn::Arn::parse(caller),
        crate::arn::Arn::parse(role_arn),
    ) else {
        return false;
    };
    let name = r.resource_name();
    c.service == "sts"
        && c.account == r.account
        && c.resource
            .strip_prefix("assumed-role/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(n, _)| n == name)
}

fn to_session(c: &aws_credential_types::Credentials) -> SessionCredentials {
    SessionCredentials {
        access_key_id: c.access_key_id().to_string(),
        secret_access_key: c.secret_access_key().to_string(),
        session_token: c.session_token().unwrap_or_default().to_string(),
        expiration: String::new(),
        server_date: None,
    }
}

/// The source hop: credentials of the source role.
pub async fn source_session(
    cfg: &Config,
    src: &SourceRole,
    opts: &Options,
) -> Result<SourceSession, String> {
    if opts.assume_source {
        // the file's access to the source account (profile, assume_role) assumes the source role
        let admin = crate::aws::connect(&cfg.region, &src.account, None, &src.access)
            .await
            .map_err(|e| format!("cannot reach the source account to assume {}: {e}", src.arn))?;
        let out = admin
            .sts()
            .assume_role()
            .role_arn(&src.arn)
            .role_session_name("xacct-verify")
            .send()
            .await
            .map_err(|e| {
                let e = admin.err("sts:AssumeRole", &src.arn, e);
                format!(
                    "--assume-source: the credentials of {} may not assume the source role {}: {} (the source role's trust must allow them)",
                    admin.scope, src.arn, e.message
                )
            })?;
        let c = out
            .credentials()
            .ok_or("AssumeRole returned no credentials")?;
        return Ok(SourceSession {
            creds: SessionCredentials {
                access_key_id: c.access_key_id().to_string(),
                secret_access_key: c.secret_access_key().to_string(),
                session_token: c.session_token().to_string(),
                expiration: String::new(),
                server_date: None,
            },
            detail: format!("assumed the source role {} (--assume-source)", src.arn),
        });
    }
    // the ambient credentials (default chain, or source.profile) must already be the source role's
    let mut loader = crate::aws::loader(&cfg.region);
    if let Some(p) = &src.access.profile {
        loader = loader.profile_name(p);
    }
    let sdk = loader.load().await;
    let sts = aws_sdk_sts::Client::new(&sdk);
    let how = "run verify inside the workload (or a CI job) whose role is the source role, or pass --assume-source to assume it with the credentials at hand";
    let who = sts.get_caller_identity().send().await.map_err(|e| {
        format!(
            "no usable ambient credentials to act as the source role {}: {}; {how}",
            src.arn,
            crate::aws::chain(&e)
        )
    })?;
    let arn = who.arn().unwrap_or_default().to_string();
    if !is_session_of(&arn, &src.arn) {
        return Err(format!(
            "the ambient credentials act as {arn}, not as the source role {}: {how}",
            src.arn
        ));
    }
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| format!("no credentials provider for the source role; {how}"))?;
    let c = provider
        .provide_credentials()
        .await
        .map_err(|e| format!("cannot read the ambient credentials: {e}"))?;
    Ok(SourceSession {
        creds: to_session(&c),
        detail: format!("the ambient credentials act as {arn}"),
    })
}

/// Verify one environment of a source chain from the source session (or why there is none).
pub async fn verify_env(
    cfg: &Config,
    t: &Target,
    source: &Result<SourceSession, String>,
    opts: &Options,
    proofs: &Proofs<'_>,
    env: Option<&crate::aws::Clients>,
    source_ms: u64,
) -> EnvOutcome {
    let outcome = |hops, invocations| EnvOutcome::from_hops(&t.name, &t.account, hops, invocations);
    let mut hops = Vec::new();
    let session = match source {
        Ok(s) => {
            hops.push(super::HopOutcome::finished(
                Hop::Source,
                true,
                source_ms,
                s.detail.clone(),
            ));
            s
        }
        Err(e) => {
            hops.push(super::HopOutcome::finished(
                Hop::Source,
                false,
                source_ms,
                e.clone(),
            ));
            hops.push(not_reached(Hop::AssumeRole));
            hops.extend(crate::chain::target_hops(t).into_iter().map(not_reached));
            return outcome(hops, vec![]);
        }
    };
    assume_and_reach(
        cfg,
        t,
        &session.creds,
        "xacct-verify",
        opts,
        proofs,
        env,
        hops,
    )
    .await
}

/// Verify every selected environment of a source chain: the source hop once, then each environment
/// in parallel.
pub async fn run(
    cfg: &Config,
    src: &SourceRole,
    targets: &[Target],
    opts: &Options,
    proofs: &Proofs<'_>,
) -> Vec<EnvOutcome> {
    let start = Instant::now();
    let (source, envs) = tokio::join!(source_session(cfg, src, opts), env_clients(cfg, targets));
    let ms = start.elapsed().as_millis() as u64;
    futures::future::join_all(targets.iter().map(|t| {
        verify_env(
            cfg,
            t,
            &source,
            opts,
            proofs,
            envs.get(&t.name).and_then(|c| c.as_ref()),
            ms,
        )
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_of_the_role_is_recognised_path_or_not() {
        let role = "arn:aws:iam::111111111111:role/service-role/report-fn";
        assert!(is_session_of(
            "arn:aws:sts::111111111111:assumed-role/report-fn/report-fn",
            role
        ));
        assert!(!is_session_of(
            "arn:aws:sts::111111111111:assumed-role/Admin/x",
            role
        ));
        assert!(!is_session_of(
            "arn:aws:sts::222222222222:assumed-role/report-fn/x",
            role
        ));
        assert!(!is_session_of(
            "arn:aws:iam::111111111111:user/report-fn",
            role
        ));
    }
}
