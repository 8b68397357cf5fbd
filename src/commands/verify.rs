//! `xacct verify` and `creds`.

use super::check_selection;
use crate::commands::Error;
use crate::output::{print_json, print_out, Style};
use crate::{aws, config};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `xacct verify`.
pub async fn verify_cmd(
    file: &Path,
    envs: &[String],
    device: Option<(PathBuf, PathBuf)>,
    ephemeral: bool,
    opts: crate::verify::Options,
    json: bool,
    style: Style,
) -> Result<ExitCode, Error> {
    use crate::verify;
    let cfg = config::load(file)?;
    check_selection(&cfg, envs)?;
    let targets: Vec<config::Target> = cfg.selected(envs).cloned().collect();
    let Some(iot_acct) = cfg.iot().cloned() else {
        if device.is_some() || ephemeral {
            return Err(Error::Usage(format!(
                "{}: the chain starts at the source role {}, not at a device: verify takes no --cert/--key/--ephemeral for it (it runs with the source role's credentials, or --assume-source)",
                file.display(),
                cfg.origin_role_arn()
            )));
        }
        return verify_source_cmd(&cfg, envs, &targets, opts, json, style).await;
    };
    if device.is_none() && !ephemeral {
        return Err(Error::Usage(
            "verify needs --cert PEM --key PEM, or --ephemeral".into(),
        ));
    }
    // the endpoint: the flag or XACCT_CREDENTIALS_ENDPOINT, else the file's, else DescribeEndpoint
    let mut opts = opts;
    if opts.endpoint.is_none() {
        opts.endpoint = iot_acct.credentials_endpoint.clone();
    }
    let identity = match &device {
        Some((c, k)) => {
            Some(verify::mtls::DeviceIdentity::from_files(c, k).map_err(Error::Identity)?)
        }
        None => None,
    };
    // the IoT account is needed for --ephemeral, for DescribeEndpoint, and to explain failures
    let iot = if identity.is_none() || opts.endpoint.is_none() {
        Some(
            aws::connect(&cfg.region, &iot_acct.account, None, &iot_acct.access)
                .await
                .map_err(|e| Error::Aws(vec![e]))?,
        )
    } else {
        None
    };
    let endpoint = match &iot {
        Some(c) => verify::endpoint(&opts, c)
            .await
            .map_err(|e| Error::Aws(vec![e]))?,
        None => opts.endpoint.clone().unwrap_or_default(),
    };
    // read the documents only when a denial needs telling apart from IAM propagation
    let proofs = verify::Proofs::new(&cfg, envs);
    // the certificate whose IoT policies explain a failure of hop 1
    let mut cert_id: Option<String> = None;
    let mut outcomes = match identity {
        Some(id) => {
            let o = verify::run(&cfg, &targets, &endpoint, &id, &opts, false, &proofs).await;
            if o.iter().any(|o| !o.ok) {
                if let Ok(iot) =
                    aws::connect(&cfg.region, &iot_acct.account, None, &iot_acct.access).await
                {
                    cert_id = Some(
                        verify::locate_certificate(&iot, &id)
                            .await
                            .unwrap_or(id.certificate_id.clone()),
                    );
                }
            }
            o
        }
        None => {
            let iot = iot.as_ref().expect("connected above");
            let removed = verify::cleanup_leftovers(iot, &cfg).await;
            if removed > 0 {
                eprintln!(
                    "verify: removed {removed} certificate(s) left by an earlier interrupted run"
                );
            }
            // catch SIGINT/SIGTERM from before the certificate exists, so it is always removed
            use tokio::signal::unix::{signal, SignalKind};
            let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::Io(e.to_string()))?;
            let mut term = signal(SignalKind::terminate()).map_err(|e| Error::Io(e.to_string()))?;
            let eph = verify::ephemeral_create(iot, &cfg, opts.thing_name.as_deref())
                .await
                .map_err(|e| Error::Aws(vec![e]))?;
            eprintln!(
                "verify: ephemeral certificate {}… created",
                verify::short_id(&eph.certificate_id)
            );
            let result = tokio::select! {
                r = verify::run(&cfg, &targets, &endpoint, &eph.identity, &opts, true, &proofs) => Some(r),
                _ = int.recv() => None,
                _ = term.recv() => None,
            };
            cert_id = Some(eph.certificate_id.clone());
            if verify::ephemeral_cleanup(iot, &eph).await {
                eprintln!(
                    "verify: ephemeral certificate {}… removed",
                    verify::short_id(&eph.certificate_id)
                );
            } else {
                eprintln!(
                    "verify: ephemeral certificate {}… could not be deleted yet; its marker thing {} stays, and the next verify --ephemeral removes both",
                    verify::short_id(&eph.certificate_id),
                    eph.marker
                );
            }
            match result {
                Some(r) => r,
                None => {
                    return Err(Error::Refused(
                        "interrupted; the ephemeral certificate was removed".into(),
                    ))
                }
            }
        }
    };
    let ok = outcomes.iter().all(|o| o.ok);
    if !ok {
        verify::quote_layers(&mut outcomes);
        // explain each failure with the static proof of the live documents, when they can be read
        // (of the certificate verify ran with, in place of those the file lists)
        if let Ok(accts) = aws::connect_all(&cfg, envs).await {
            if let Ok(facts) =
                aws::read::check_facts_for(&cfg, envs, &accts, cert_id.as_deref()).await
            {
                let proofs = crate::check::prove(&cfg, &facts, envs);
                verify::explain(&mut outcomes, &proofs);
            }
        }
    }
    if json {
        print_json(&verify::VerifyOutput {
            format_version: crate::chain::FORMAT_VERSION,
            ok,
            endpoint: &endpoint,
            environments: &outcomes,
        });
    } else {
        print_out(&verify::render_human(&outcomes, style));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `xacct verify` for a `source:` file: the chain starts at an existing workload role.
async fn verify_source_cmd(
    cfg: &config::Config,
    envs: &[String],
    targets: &[config::Target],
    opts: crate::verify::Options,
    json: bool,
    style: Style,
) -> Result<ExitCode, Error> {
    use crate::verify;
    let src = cfg.source_role().expect("a source file").clone();
    let proofs = verify::Proofs::new(cfg, envs);
    let mut outcomes = verify::source::run(cfg, &src, targets, &opts, &proofs).await;
    let ok = outcomes.iter().all(|o| o.ok);
    if !ok {
        verify::quote_layers(&mut outcomes);
        if let Ok(accts) = aws::connect_all(cfg, envs).await {
            if let Ok(facts) = aws::read::check_facts(cfg, envs, &accts).await {
                let proofs = crate::check::prove(cfg, &facts, envs);
                verify::explain(&mut outcomes, &proofs);
            }
        }
    }
    if json {
        print_json(&verify::VerifyOutput {
            format_version: crate::chain::FORMAT_VERSION,
            ok,
            endpoint: "",
            environments: &outcomes,
        });
    } else {
        print_out(&verify::render_human(&outcomes, style));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// How `creds` uses its cache.
pub struct CacheOptions {
    /// None: `--no-cache`.
    pub dir: Option<Option<std::path::PathBuf>>,
    pub policy: crate::device::cache::Policy,
}

/// `xacct creds`: credential_process JSON for a device, from the cache while it is fresh.
pub async fn creds_cmd(
    file: &Path,
    env: &str,
    cert: &Path,
    key: &Path,
    opts: crate::verify::Options,
    cache_opts: CacheOptions,
) -> Result<ExitCode, Error> {
    use crate::device::cache::{Cache, Entry, Freshness};
    use crate::device::{now, Chain, Issued};
    use crate::verify;
    let cfg = config::load(file)?;
    check_selection(&cfg, &[env.to_string()])?;
    let Some(iot_acct) = cfg.iot().cloned() else {
        return Err(Error::Usage(format!(
            "{}: creds serves device chains (a file with `iot:`); this file's chain starts at the source role {}, whose workload already has credentials",
            file.display(),
            cfg.origin_role_arn()
        )));
    };
    let t = cfg
        .environments
        .iter()
        .find(|t| t.name == env)
        .cloned()
        .expect("selected");
    let id = verify::mtls::DeviceIdentity::from_files(cert, key).map_err(Error::Identity)?;
    let mut chain = Chain {
        cfg: &cfg,
        t: &t,
        id: &id,
        endpoint: String::new(),
        ca_bundle: opts.ca_bundle.clone(),
        thing_name: opts.thing_name.clone(),
    };
    let print = |i: &Issued| {
        let expiration = i.expiration();
        let v = verify::CredentialProcess {
            version: 1,
            access_key_id: &i.access_key_id,
            secret_access_key: &i.secret_access_key,
            session_token: &i.session_token,
            expiration: &expiration,
        };
        // one line, as credential_process readers expect
        print_out(&format!(
            "{}\n",
            serde_json::to_string(&v).unwrap_or_default()
        ));
    };
    let cache = match &cache_opts.dir {
        None => None,
        Some(dir) => {
            let c = Cache::at(dir.as_deref()).map_err(Error::Refused)?;
            c.ensure().map_err(Error::Refused)?;
            let k = Cache::key(&[
                &cfg.fleet,
                env,
                &id.certificate_id,
                opts.thing_name.as_deref().unwrap_or(""),
                &chain.alias_arn(),
                &chain.role_arn(),
            ]);
            Some((c, k))
        }
    };
    let policy = cache_opts.policy;
    let fresh = |c: &Cache, k: &str| {
        c.read(k)
            .filter(|e| e.freshness(now(), policy) == Freshness::Fresh)
    };
    // fresh in the cache: no network at all
    if let Some(e) = cache.as_ref().and_then(|(c, k)| fresh(c, k)) {
        print(&e.credentials);
        return Ok(ExitCode::SUCCESS);
    }
    // one request for every caller: wait for whoever holds the lock, then look again
    let _lock = match &cache {
        Some((c, k)) => {
            let l = c.lock(k).map_err(Error::Refused)?;
            if let Some(e) = fresh(c, k) {
                print(&e.credentials);
                return Ok(ExitCode::SUCCESS);
            }
            Some(l)
        }
        None => None,
    };
    let mut opts = opts;
    if opts.endpoint.is_none() {
        opts.endpoint = iot_acct.credentials_endpoint.clone();
    }
    chain.endpoint = match &opts.endpoint {
        Some(e) => e.clone(),
        None => {
            let iot = aws::connect(&cfg.region, &iot_acct.account, None, &iot_acct.access)
                .await
                .map_err(|e| Error::Aws(vec![e]))?;
            verify::endpoint(&opts, &iot)
                .await
                .map_err(|e| Error::Aws(vec![e]))?
        }
    };
    match chain.obtain().await {
        Ok(i) => {
            if let Some(w) = crate::device::skew_words(i.skew) {
                eprintln!("xacct creds: {w}");
            }
            if let Some((c, k)) = &cache {
                let e = Entry {
                    version: 1,
                    obtained: now(),
                    credentials: i.clone(),
                };
                if let Err(w) = c.write(k, &e) {
                    eprintln!("xacct creds: warning: not cached: {w}");
                }
            }
            print(&i);
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            // only when nothing answered may a still-valid entry stand in (never after a refusal)
            if f.unreachable {
                if let Some((c, k)) = &cache {
                    if let Some(e) = c.read(k).filter(|e| {
                        matches!(e.freshness(now(), policy), Freshness::Stale { valid: true })
                    }) {
                        eprintln!(
                            "xacct creds: warning: {}; using the cached credentials, valid until {}",
                            f.message,
                            e.credentials.expiration()
                        );
                        print(&e.credentials);
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            }
            Err(Error::Refused(f.message))
        }
    }
}

/// The flags of `xacct serve-credentials`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The environment file (env XACCT_FILE)
    #[arg(short = 'f', long = "file", value_name = "FILE", env = "XACCT_FILE")]
    pub file: std::path::PathBuf,
    #[arg(long, value_name = "PEM")]
    pub cert: std::path::PathBuf,
    #[arg(long, value_name = "PEM")]
    pub key: std::path::PathBuf,
    /// The thing of the certificate (sent as x-amzn-iot-thingname)
    #[arg(long, value_name = "NAME")]
    pub thing_name: String,
    /// An environment to serve at /NAME (repeatable; default: every environment of the file)
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    /// Where to listen: a loopback address (default 127.0.0.1:7273)
    #[arg(long, value_name = "IP:PORT", default_value = crate::device::server::DEFAULT_LISTEN)]
    pub listen: String,
    /// The file the token is written to, for AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (default:
    /// serve-credentials-PORT.token in the cache directory)
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<std::path::PathBuf>,
    /// Make the token file 0640 and owned by this group (apps running as another user)
    #[arg(long, value_name = "GROUP")]
    pub token_group: Option<String>,
    /// Refresh each environment's credentials this long before they expire (seconds, or 5m)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::device::parse_duration)]
    pub refresh_before: i64,
    #[arg(long, value_name = "PEM", env = "XACCT_CA_BUNDLE")]
    pub ca_bundle: Option<std::path::PathBuf>,
    #[arg(long, value_name = "HOST", env = "XACCT_CREDENTIALS_ENDPOINT")]
    pub credentials_endpoint: Option<String>,
}

/// `xacct serve-credentials`: serve the device's credentials on loopback until SIGTERM.
pub async fn serve_credentials_cmd(a: ServeArgs) -> Result<ExitCode, Error> {
    use crate::device::server;
    let listen = server::listen_addr(&a.listen).map_err(Error::Usage)?;
    let cfg = config::load(&a.file)?;
    check_selection(&cfg, &a.envs)?;
    let Some(iot_acct) = cfg.iot().cloned() else {
        return Err(Error::Usage(format!(
            "{}: serve-credentials serves device chains (a file with `iot:`)",
            a.file.display()
        )));
    };
    let id = crate::verify::mtls::DeviceIdentity::from_files(&a.cert, &a.key)
        .map_err(Error::Identity)?;
    let endpoint = match a
        .credentials_endpoint
        .clone()
        .or(iot_acct.credentials_endpoint.clone())
    {
        Some(e) => e,
        None => {
            let iot = aws::connect(&cfg.region, &iot_acct.account, None, &iot_acct.access)
                .await
                .map_err(|e| Error::Aws(vec![e]))?;
            crate::verify::endpoint(&crate::verify::Options::default(), &iot)
                .await
                .map_err(|e| Error::Aws(vec![e]))?
        }
    };
    let token_file = match a.token_file {
        Some(p) => p,
        None => crate::device::cache::default_dir()
            .ok_or_else(|| {
                Error::Usage(
                    "no cache directory for the token file: pass --token-file (or set HOME)".into(),
                )
            })?
            .join(format!("serve-credentials-{}.token", listen.port())),
    };
    let chains: Vec<(String, crate::device::Chain)> = cfg
        .selected(&a.envs)
        .map(|t| {
            (
                t.name.clone(),
                crate::device::Chain {
                    cfg: &cfg,
                    t,
                    id: &id,
                    endpoint: endpoint.clone(),
                    ca_bundle: a.ca_bundle.clone(),
                    thing_name: Some(a.thing_name.clone()),
                },
            )
        })
        .collect();
    server::serve(
        chains,
        server::Options {
            listen,
            token_file,
            token_group: a.token_group,
            refresh_before: a.refresh_before,
        },
    )
    .await
    .map_err(Error::Refused)?;
    Ok(ExitCode::SUCCESS)
}
