//! What every hop verify performs shares: its options, its error, the static proof it consults before
//! retrying a denial (IAM propagation), an SDK config with the chain's credentials, and how a hop's
//! outcome is made. A leaf of `verify`, used by the chain's own hops and by each target type's.

use super::report::HopOutcome;
use crate::chain::Hop;
use crate::config::Config;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What verify needs besides the config (`Default`: what `creds` and `serve-credentials` need of it:
/// nothing but the endpoint, CA bundle and thing name they set).
#[derive(Default)]
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

pub(crate) fn ms(t: Instant) -> u64 {
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
