//! Create, in the emulator, what a real organization already has for an environment file: an admin
//! role per account, the environments' Lambda functions, and a device certificate for the IoT account
//! (written under the sandbox directory, private key mode 0600).

use super::{SandboxError, State};
use crate::config::Config;
use std::io::Write;
use std::path::Path;

const ADMIN_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::ACCOUNT:root"},"Action":"sts:AssumeRole"}]}"#;
const ADMIN_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The smallest valid zip archive (an empty end-of-central-directory record): moto without Docker
/// answers an invoke by echoing the payload.
pub fn empty_zip() -> Vec<u8> {
    let mut z = b"PK\x05\x06".to_vec();
    z.extend_from_slice(&[0u8; 18]);
    z
}

fn admin_role_name(assume_role: Option<&str>) -> String {
    assume_role
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or("Admin")
        .to_string()
}

async fn ensure_admin_role(c: &crate::aws::Clients, name: &str) -> Result<(), SandboxError> {
    let trust = ADMIN_TRUST.replace("ACCOUNT", &c.account);
    if c.iam().get_role().role_name(name).send().await.is_ok() {
        return Ok(());
    }
    c.iam()
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .map_err(SandboxError::aws("bootstrap"))?;
    c.iam()
        .put_role_policy()
        .role_name(name)
        .policy_name("administrator")
        .policy_document(ADMIN_POLICY)
        .send()
        .await
        .map_err(SandboxError::aws("bootstrap"))?;
    Ok(())
}

pub async fn bootstrap(state: &State, cfg: &Config, dir: &Path) -> Result<(), SandboxError> {
    state.registry.saw_region(&cfg.region);
    let iot = state.admin.get(cfg.origin_account(), &cfg.region).await;
    state.registry.saw_account(cfg.origin_account());
    let origin_admin = admin_role_name(cfg.origin_access().assume_role.as_deref());
    ensure_admin_role(&iot, &origin_admin).await?;
    for t in &cfg.environments {
        state.registry.saw_account(&t.account);
        let c = state.admin.get(&t.account, &cfg.region).await;
        ensure_admin_role(&c, &admin_role_name(t.access.assume_role.as_deref())).await?;
        let exec = match c.iam().get_role().role_name("lambda-exec").send().await {
            Ok(r) => r.role().map(|r| r.arn().to_string()).unwrap_or_default(),
            Err(_) => c
                .iam()
                .create_role()
                .role_name("lambda-exec")
                .assume_role_policy_document(LAMBDA_TRUST)
                .send()
                .await
                .map_err(SandboxError::aws("bootstrap"))?
                .role()
                .map(|r| r.arn().to_string())
                .unwrap_or_default(),
        };
        for f in &t.functions {
            let name = f.rsplit(':').next().unwrap_or(f);
            if c.lambda()
                .get_function()
                .function_name(name)
                .send()
                .await
                .is_ok()
            {
                continue;
            }
            c.lambda()
                .create_function()
                .function_name(name)
                .runtime(aws_sdk_lambda::types::Runtime::Python312)
                .role(&exec)
                .handler("index.handler")
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_smithy_types::Blob::new(empty_zip()))
                        .build(),
                )
                .send()
                .await
                .map_err(SandboxError::aws("bootstrap"))?;
            eprintln!(
                "bootstrap: {}: function {name} in account {}",
                t.name, t.account
            );
        }
    }
    let cert = iot
        .iot()
        .create_keys_and_certificate()
        .set_as_active(true)
        .send()
        .await
        .map_err(SandboxError::aws("bootstrap"))?;
    std::fs::create_dir_all(dir)
        .map_err(SandboxError::io(format!("cannot create {}", dir.display())))?;
    std::fs::write(
        dir.join("device.pem.crt"),
        cert.certificate_pem().unwrap_or_default(),
    )
    .map_err(SandboxError::io("cannot write the device certificate"))?;
    let key = cert
        .key_pair()
        .and_then(|k| k.private_key())
        .unwrap_or_default();
    let key_path = dir.join("device.private.key");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut fh = opts.open(&key_path).map_err(SandboxError::io(format!(
        "cannot write {}",
        key_path.display()
    )))?;
    fh.write_all(key.as_bytes())
        .map_err(SandboxError::io(format!(
            "cannot write {}",
            key_path.display()
        )))?;
    let id = cert.certificate_id().unwrap_or_default();
    std::fs::write(dir.join("device.id"), format!("{id}\n"))
        .map_err(SandboxError::io("cannot write device.id"))?;
    eprintln!(
        "bootstrap: device certificate {}… written to {}/",
        &id[..id.len().min(12)],
        dir.display()
    );
    Ok(())
}
