//! `xacct device-config`: what a device needs besides its certificate — an AWS config file with one
//! `credential_process` profile per environment its thing may reach, and the fleet file reduced to
//! what `xacct creds` reads. Neither holds a secret.

use crate::aws;
use crate::commands::Error;
use crate::config::{self, Config, Devices, Target, TargetMode};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A path as the device will see it: absolute when it can be made so.
fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

/// A word of a `credential_process` command line (the SDKs split it like a POSIX shell).
fn word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The fleet file reduced to what `creds` reads: no access settings (profiles, roles to assume), no
/// certificate list; the credentials endpoint filled in.
pub fn reduced_file(cfg: &Config, endpoint: &str) -> String {
    let iot = cfg.iot().expect("an iot file");
    let mut y = format!(
        "# Written by xacct device-config: the fleet file as `xacct creds` reads it on a device.\nfleet: {}\nregion: {}\niot:\n  account: \"{}\"\n  role_name: {}\n  role_alias: {}\n  policy_name: {}\n  credentials_endpoint: {}\nenvironments:\n",
        quoted(&cfg.fleet),
        cfg.region,
        iot.account,
        quoted(&iot.role_name),
        quoted(&iot.role_alias),
        quoted(&iot.policy_name),
        quoted(endpoint),
    );
    let list = |v: &mut String, key: &str, items: &[String]| {
        if !items.is_empty() {
            v.push_str(&format!(
                "    {key}: [{}]\n",
                items
                    .iter()
                    .map(|i| quoted(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    for t in &cfg.environments {
        y.push_str(&format!(
            "  {}:\n    account: \"{}\"\n",
            quoted(&t.name),
            t.account
        ));
        if t.mode == TargetMode::Direct {
            y.push_str("    mode: direct\n");
        } else {
            y.push_str(&format!(
                "    role_name: {}\n    session_duration: {}\n",
                quoted(&t.role_name),
                t.session_duration
            ));
        }
        match &t.devices {
            Some(Devices::ThingGroup(g)) => {
                y.push_str(&format!("    devices: {{ thing_group: {} }}\n", quoted(g)))
            }
            Some(Devices::ThingType(ty)) => {
                y.push_str(&format!("    devices: {{ thing_type: {} }}\n", quoted(ty)))
            }
            None => {}
        }
        list(&mut y, "functions", &t.functions);
        list(
            &mut y,
            "apis",
            &t.apis.iter().map(|a| a.arn.clone()).collect::<Vec<_>>(),
        );
        list(
            &mut y,
            "objects",
            &t.objects.iter().map(|o| o.arn.clone()).collect::<Vec<_>>(),
        );
    }
    y
}

/// The environments a thing may reach: every environment not gated, and the gated ones whose group
/// holds the thing (directly or through a child group) or whose type is the thing's.
async fn reachable<'a>(cfg: &'a Config, thing: &str) -> Result<Vec<&'a Target>, Error> {
    if !cfg.gated() {
        return Ok(cfg.environments.iter().collect());
    }
    let iot = cfg.iot().expect("an iot file");
    let c = aws::connect(&cfg.region, &iot.account, None, &iot.access)
        .await
        .map_err(|e| Error::Aws(vec![e]))?;
    let described = c
        .iot()
        .describe_thing()
        .thing_name(thing)
        .send()
        .await
        .map_err(|e| Error::Aws(vec![c.err("iot:DescribeThing", thing, e)]))?;
    let thing_type = described.thing_type_name().map(String::from);
    let direct: Vec<aws_sdk_iot::types::GroupNameAndArn> = c
        .iot()
        .list_thing_groups_for_thing()
        .thing_name(thing)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::Aws(vec![c.err("iot:ListThingGroupsForThing", thing, e)]))?;
    let mut groups: Vec<String> = Vec::new();
    for g in &direct {
        let Some(name) = g.group_name() else { continue };
        groups.push(name.to_string());
        let d = c
            .iot()
            .describe_thing_group()
            .thing_group_name(name)
            .send()
            .await
            .map_err(|e| Error::Aws(vec![c.err("iot:DescribeThingGroup", name, e)]))?;
        if let Some(m) = d.thing_group_metadata() {
            for p in m.root_to_parent_thing_groups() {
                if let Some(n) = p.group_name() {
                    groups.push(n.to_string());
                }
            }
        }
    }
    Ok(cfg
        .environments
        .iter()
        .filter(|t| match &t.devices {
            None => true,
            Some(Devices::ThingGroup(g)) => groups.contains(g),
            Some(Devices::ThingType(ty)) => thing_type.as_deref() == Some(ty.as_str()),
        })
        .collect())
}

/// `xacct device-config`.
#[allow(clippy::too_many_arguments)]
pub async fn device_config_cmd(
    file: &Path,
    cert: &Path,
    key: &Path,
    thing: &str,
    out: &Path,
    endpoint: Option<String>,
    ca_bundle: Option<PathBuf>,
    unit: Option<Unit>,
) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    let Some(iot) = cfg.iot() else {
        return Err(Error::Usage(format!(
            "{}: device-config is for device chains (a file with `iot:`)",
            file.display()
        )));
    };
    // the certificate and key must be usable (read here, never copied or printed)
    crate::verify::mtls::DeviceIdentity::from_files(cert, key).map_err(Error::Identity)?;
    let endpoint = match endpoint.or_else(|| iot.credentials_endpoint.clone()) {
        Some(e) => e,
        None => {
            let c = aws::connect(&cfg.region, &iot.account, None, &iot.access)
                .await
                .map_err(|e| Error::Aws(vec![e]))?;
            let out = c
                .iot()
                .describe_endpoint()
                .endpoint_type("iot:CredentialProvider")
                .send()
                .await
                .map_err(|e| {
                    Error::Aws(vec![c.err(
                        "iot:DescribeEndpoint",
                        "iot:CredentialProvider",
                        e,
                    )])
                })?;
            out.endpoint_address().unwrap_or_default().to_string()
        }
    };
    let envs = reachable(&cfg, thing).await?;
    std::fs::create_dir_all(out)
        .map_err(|e| Error::Io(format!("cannot create {}: {e}", out.display())))?;
    let out = absolute(out);
    let fleet_file = out.join("fleet.yaml");
    let reduced = reduced_file(&cfg, &endpoint);
    // what is written must read back as the fleet file it stands for
    config::parse(&fleet_file, &reduced).map_err(Error::Config)?;
    let (cert, key) = (absolute(cert), absolute(key));
    let ca = ca_bundle.as_deref().map(absolute);
    let mut text = format!(
        "# Written by xacct device-config for thing {thing} of fleet {}: one profile per environment\n# this device may reach. No secret: credentials come from the device certificate through\n# `xacct creds` (xacct on the PATH). Use with AWS_CONFIG_FILE={}\n",
        cfg.fleet,
        out.join("config").display()
    );
    for t in &envs {
        let mut cmd = vec![
            "xacct".to_string(),
            "creds".into(),
            "-f".into(),
            word(&fleet_file.to_string_lossy()),
            "--env".into(),
            word(&t.name),
            "--cert".into(),
            word(&cert.to_string_lossy()),
            "--key".into(),
            word(&key.to_string_lossy()),
            "--thing-name".into(),
            word(thing),
            "--credentials-endpoint".into(),
            word(&endpoint),
        ];
        if let Some(ca) = &ca {
            cmd.push("--ca-bundle".into());
            cmd.push(word(&ca.to_string_lossy()));
        }
        text.push_str(&format!(
            "\n[profile {}]\nregion = {}\ncredential_process = {}\n",
            t.name,
            cfg.region,
            cmd.join(" ")
        ));
    }
    write_atomic(&out.join("config"), &text)?;
    write_atomic(&fleet_file, &reduced)?;
    if let Some(u) = &unit {
        let text = unit_file(
            u,
            thing,
            &cfg.fleet,
            &fleet_file,
            &cert,
            &key,
            &endpoint,
            ca.as_deref(),
            &envs,
        );
        write_atomic(&out.join(UNIT_NAME), &text)?;
        eprintln!(
            "Wrote {} (install it under /etc/systemd/system/, then: systemctl enable --now {UNIT_NAME})",
            out.join(UNIT_NAME).display()
        );
    }
    let names: Vec<&str> = envs.iter().map(|t| t.name.as_str()).collect();
    eprintln!(
        "Wrote {} (profiles: {}) and {}",
        out.join("config").display(),
        if names.is_empty() {
            "none: this thing reaches no environment".to_string()
        } else {
            names.join(", ")
        },
        fleet_file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The systemd unit's file name.
pub const UNIT_NAME: &str = "xacct-credentials.service";

/// The systemd unit `device-config --systemd` writes.
pub struct Unit {
    /// `User=` (default: the user running device-config).
    pub user: Option<String>,
    /// The group whose apps may read the token file.
    pub token_group: Option<String>,
}

/// A systemd unit running `serve-credentials` for this device: as `User=`, its token in its
/// `RuntimeDirectory=` (/run/xacct), `NoNewPrivileges=yes`, `ProtectSystem=strict`, restarted on
/// failure.
#[allow(clippy::too_many_arguments)]
pub fn unit_file(
    u: &Unit,
    thing: &str,
    fleet: &str,
    fleet_file: &Path,
    cert: &Path,
    key: &Path,
    endpoint: &str,
    ca: Option<&Path>,
    envs: &[&Target],
) -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_else(|| "/usr/local/bin/xacct".into());
    let user = u
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok().filter(|x| !x.is_empty()))
        .unwrap_or_else(|| "root".into());
    let mut cmd = vec![
        word(&exe),
        "serve-credentials".into(),
        "-f".into(),
        word(&fleet_file.to_string_lossy()),
        "--cert".into(),
        word(&cert.to_string_lossy()),
        "--key".into(),
        word(&key.to_string_lossy()),
        "--thing-name".into(),
        word(thing),
        "--credentials-endpoint".into(),
        word(endpoint),
        "--listen".into(),
        crate::device::server::DEFAULT_LISTEN.into(),
        "--token-file".into(),
        "/run/xacct/token".into(),
    ];
    if let Some(ca) = ca {
        cmd.push("--ca-bundle".into());
        cmd.push(word(&ca.to_string_lossy()));
    }
    if let Some(g) = &u.token_group {
        cmd.push("--token-group".into());
        cmd.push(word(g));
    }
    for t in envs {
        cmd.push("--env".into());
        cmd.push(word(&t.name));
    }
    let group = u
        .token_group
        .as_ref()
        .map(|g| format!("Group={g}\n"))
        .unwrap_or_default();
    format!(
        "# Written by xacct device-config: serves thing {thing}'s credentials (fleet {fleet}) to local\n\
# processes. Point them at it with\n\
#   AWS_CONTAINER_CREDENTIALS_FULL_URI=http://{listen}/ENV\n\
#   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/xacct/token\n\
[Unit]\n\
Description=xacct credentials server for thing {thing}\n\
After=network-online.target\n\
Wants=network-online.target\n\
\n\
[Service]\n\
Type=simple\n\
User={user}\n\
{group}\
RuntimeDirectory=xacct\n\
RuntimeDirectoryMode={mode}\n\
ExecStart={cmd}\n\
Restart=on-failure\n\
RestartSec=5\n\
NoNewPrivileges=yes\n\
ProtectSystem=strict\n\
ProtectHome=read-only\n\
PrivateTmp=yes\n\
\n\
[Install]\n\
WantedBy=multi-user.target\n",
        listen = crate::device::server::DEFAULT_LISTEN,
        mode = if u.token_group.is_some() { "0750" } else { "0700" },
        cmd = cmd.join(" "),
    )
}

/// Write a file whole or not at all (a temporary file renamed over it).
fn write_atomic(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Io(format!("cannot write {}: {e}", path.display()))
        })
}
