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

/// `xacct creds`: hops 1 and 2, printed as credential_process JSON.
pub async fn creds_cmd(
    file: &Path,
    env: &str,
    cert: &Path,
    key: &Path,
    opts: crate::verify::Options,
) -> Result<ExitCode, Error> {
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
    let mut opts = opts;
    if opts.endpoint.is_none() {
        opts.endpoint = iot_acct.credentials_endpoint.clone();
    }
    let endpoint = match &opts.endpoint {
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
    let alias = cfg
        .iot_names(&t)
        .map(|n| n.role_alias)
        .unwrap_or_else(|| iot_acct.role_alias.clone());
    let iot_creds = verify::mtls::fetch(
        &endpoint,
        &alias,
        &id,
        opts.ca_bundle.as_deref(),
        opts.thing_name.as_deref(),
    )
    .await
    .map_err(|e| Error::Refused(e.message))?;
    let c = if t.direct() {
        // direct mode: the IoT role's own credentials invoke
        verify::as_sts_credentials(&iot_creds)
    } else {
        verify::assume_target(&cfg, &t, &iot_creds, verify::device_session_name(&id))
            .await
            .map_err(|e| Error::Refused(e.message))?
    };
    let expiration = c
        .expiration()
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let v = verify::CredentialProcess {
        version: 1,
        access_key_id: c.access_key_id(),
        secret_access_key: c.secret_access_key(),
        session_token: c.session_token(),
        expiration: &expiration,
    };
    // one line, as credential_process readers expect
    print_out(&format!(
        "{}\n",
        serde_json::to_string(&v).unwrap_or_default()
    ));
    Ok(ExitCode::SUCCESS)
}
