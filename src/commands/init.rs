//! `xacct validate` and `init`.

use crate::commands::Error;
use crate::config;
use crate::output::print_out;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `xacct validate`: parse and check the file; no AWS call.
pub fn validate(file: &Path) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    println!(
        "{}: valid — fleet {}, {} {}, {} environment(s): {}",
        file.display(),
        cfg.fleet,
        match cfg.origin {
            config::Origin::Iot(_) => "IoT account",
            config::Origin::Role(_) => "source account",
        },
        cfg.origin_account(),
        cfg.environments.len(),
        cfg.environments
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `xacct init`: a commented starter file that validates as written.
pub fn init_cmd(
    fleet: &str,
    iot_account: &str,
    envs: &[String],
    region: &str,
    out: Option<&Path>,
) -> Result<ExitCode, Error> {
    let mut pairs = Vec::new();
    for e in envs {
        let Some((name, id)) = e.split_once('=') else {
            return Err(Error::Usage(format!(
                "--env {e}: write NAME=ACCOUNT_ID, e.g. --env prd=222222222222"
            )));
        };
        pairs.push((name.trim().to_string(), id.trim().to_string()));
    }
    let mut y = String::new();
    y.push_str("# yaml-language-server: $schema=./environment.schema.json\n");
    y.push_str(
        "# (write the schema beside this file with: xacct schema > environment.schema.json)\n",
    );
    y.push_str("# xacct environment file: `xacct plan -f FILE`, then `xacct apply -f FILE`.\n");
    y.push_str(&format!(
        "fleet: {fleet}                 # prefix of every name xacct manages\n"
    ));
    y.push_str(&format!("region: {region}\n"));
    y.push_str("iot:\n");
    y.push_str(&format!("  account: \"{iot_account}\"    # holds the device certificates, the IoT role, alias and policy\n"));
    y.push_str("  # profile: iot-admin          # optional: AWS profile for this account\n");
    y.push_str(&format!("  # assume_role: arn:aws:iam::{iot_account}:role/Admin   # optional: role assumed in this account\n"));
    y.push_str("  credential_duration: 3600     # seconds, 900..43200\n");
    y.push_str("  certificates: []              # ids of the device certificates that get the IoT policy\n");
    y.push_str("environments:\n");
    for (name, id) in &pairs {
        y.push_str(&format!("  {name}:\n"));
        y.push_str(&format!("    account: \"{id}\"\n"));
        y.push_str(&format!(
            "    # assume_role: arn:aws:iam::{id}:role/OrganizationAccountAccessRole\n"
        ));
        y.push_str("    functions: [ingest]         # the Lambda functions devices may invoke (names or ARNs)\n");
    }
    let label = out
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("<init>"));
    config::parse(&label, &y)?;
    match out {
        Some(p) => {
            if p.exists() {
                return Err(Error::Refused(format!(
                    "{} exists; not overwriting it",
                    p.display()
                )));
            }
            std::fs::write(p, &y)
                .map_err(|e| Error::Io(format!("cannot write {}: {e}", p.display())))?;
            eprintln!(
                "wrote {}; next: xacct validate -f {}",
                p.display(),
                p.display()
            );
        }
        None => print_out(&y),
    }
    Ok(ExitCode::SUCCESS)
}
