//! Signing in as people do on a real machine: a `credential_process` profile (aws-vault, granted), an
//! IAM Identity Center (SSO) profile with no login yet, and no credentials at all.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Run xacct against moto with only what `env` gives: no access keys in the environment, the AWS
/// config file `config`, an empty home, no instance metadata (unless `env` enables it).
fn xacct_signed(home: &Path, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xacct"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", moto())
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The fleet's file with `profile: NAME` for every account.
fn with_profile(f: &Fleet, profile: &str) -> std::path::PathBuf {
    let yaml = f
        .yaml()
        .lines()
        .flat_map(|l| {
            let mut out = vec![l.to_string()];
            if l.trim_start().starts_with("assume_role:") {
                let indent = &l[..l.len() - l.trim_start().len()];
                out.push(format!("{indent}profile: {profile}"));
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n");
    let p = f.dir.join("profiled.yaml");
    std::fs::write(&p, yaml + "\n").unwrap();
    p
}

#[test]
fn a_credential_process_profile_signs_in() {
    let f = Fleet::new(2);
    let marker = f.dir.join("credential-process-ran");
    let script = f.dir.join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\necho '{{\"Version\":1,\"AccessKeyId\":\"AKIDPROCESS\",\"SecretAccessKey\":\"process-secret\"}}'\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = f.dir.join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile vault]\nregion = {}\ncredential_process = {}\n",
            f.region,
            script.display()
        ),
    )
    .unwrap();
    let file = with_profile(&f, "vault");
    let o = xacct_signed(&f.dir, &config, &["plan", "-f", &file_arg(&file)], &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("to create"), "{}", stdout(&o));
    assert!(marker.exists(), "the credential_process was not run");
    assert!(!stderr(&o).contains("cargo feature"), "{}", stderr(&o));
}

#[test]
fn an_sso_profile_without_a_login_says_to_run_aws_sso_login() {
    let f = Fleet::new(3);
    let config = f.dir.join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile corp-admin]\nsso_session = corp\nsso_account_id = {}\nsso_role_name = Admin\nregion = {}\n\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = {}\nsso_registration_scopes = sso:account:access\n",
            f.iot_account, f.region, f.region
        ),
    )
    .unwrap();
    let file = with_profile(&f, "corp-admin");
    let o = xacct_signed(&f.dir, &config, &["plan", "-f", &file_arg(&file)], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("run `aws sso login --profile corp-admin`"),
        "{err}"
    );
    assert_eq!(err.matches("aws sso login").count(), 1, "said once: {err}");
    assert!(!err.contains("cargo feature"), "{err}");
}

#[test]
fn no_credentials_at_all_is_said_once_with_what_to_do() {
    let f = Fleet::new(3);
    // no access keys, no profile, no assume_role: the default chain finds nothing
    let yaml: String = f
        .yaml()
        .lines()
        .filter(|l| !l.trim_start().starts_with("assume_role:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = f.dir.join("bare.yaml");
    std::fs::write(&file, yaml).unwrap();
    let config = f.dir.join("no-config");
    let o = xacct_signed(&f.dir, &config, &["plan", "-f", &file_arg(&file)], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert_eq!(err.matches("no AWS credentials found").count(), 1, "{err}");
    for account in std::iter::once(&f.iot_account).chain(f.envs.iter().map(|e| &e.account)) {
        assert!(err.contains(account.as_str()), "{account} not named: {err}");
    }
    assert!(
        err.contains("AWS_PROFILE") && err.contains("aws sso login"),
        "{err}"
    );
    assert!(
        !err.contains("IMDS") && !err.contains("dispatch failure"),
        "{err}"
    );
    // as on a laptop: the instance metadata is tried too (the chain's last source), and fails
    let o = xacct_signed(
        &f.dir,
        &config,
        &["plan", "-f", &file_arg(&file)],
        &[("AWS_EC2_METADATA_DISABLED", "false")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert_eq!(err.matches("no AWS credentials found").count(), 1, "{err}");
    assert!(!err.contains("dispatch failure"), "{err}");
}
