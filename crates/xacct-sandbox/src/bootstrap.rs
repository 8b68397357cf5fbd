//! Create, in the emulator, what a real organization already has before xacct runs: an admin role per
//! account, a workload's role, Lambda functions, buckets with objects (a CloudTrail log bucket with
//! SSE-KMS), REST APIs, and a device (certificate, thing, thing groups and type) for the IoT account
//! (written under the sandbox directory, private key mode 0600). What to create is an
//! [`Organization`], a plain description: the sandbox reads no file of xacct's.

use super::{SandboxError, State};
use std::io::Write;
use std::path::Path;

/// What an organization already has, in the accounts of one chain.
#[derive(Debug, Clone, Default)]
pub struct Organization {
    /// Names the device's thing (`<name>-device-1`).
    pub name: String,
    pub region: String,
    pub partition: String,
    /// The account where the chain starts (the IoT account, or the workload's).
    pub origin: Account,
    /// A workload role the chain starts at (its ARN, with its path).
    pub source_role: Option<String>,
    /// Whether the origin is an IoT account with a device (certificate, thing).
    pub device: bool,
    /// The thing type the device is of, and the thing groups it belongs to.
    pub thing_type: Option<String>,
    pub thing_groups: Vec<String>,
    /// The accounts the chain reaches, with what they hold.
    pub targets: Vec<Target>,
    /// An AWS Organization to place the accounts in: (its management account and that account's
    /// admin role). The origin account stays at the root, the targets' accounts go in one OU
    /// (`crate::org::OrgModel::small`).
    pub aws_organization: Option<Account>,
}

/// An account, and the role its administrators assume.
#[derive(Debug, Clone, Default)]
pub struct Account {
    pub id: String,
    pub admin_role: String,
}

/// What one reached account holds: functions (names), objects (`bucket`, key with `*`/`?`), REST
/// API methods.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// For the bootstrap's messages (an environment's name).
    pub label: String,
    pub account: Account,
    pub functions: Vec<String>,
    pub objects: Vec<(String, String)>,
    pub apis: Vec<Api>,
}

/// A method of a REST API: `path` may hold `*` segments (a `{proxy+}` resource), `method` `*` (ANY).
#[derive(Debug, Clone, Default)]
pub struct Api {
    pub api_id: String,
    pub stage: String,
    pub method: String,
    pub path: String,
}

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

/// The workload role a `source:` file starts at, as an organization has it: its path, trusting
/// lambda.amazonaws.com (the workload) and the account's admin role (so `verify --assume-source` can
/// stand in for the workload).
async fn ensure_source_role(
    c: &crate::aws::Clients,
    src_arn: &str,
    admin: &str,
) -> Result<(), SandboxError> {
    let arn = xacct_policy::arn::Arn::parse(src_arn);
    let role_name = arn
        .as_ref()
        .and_then(|a| a.resource.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    if c.iam()
        .get_role()
        .role_name(&role_name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let partition = arn.as_ref().map_or("aws", |a| a.partition.as_str());
    let path = arn
        .as_ref()
        .and_then(|a| a.resource.strip_prefix("role/"))
        .and_then(|r| r.rsplit_once('/'))
        .map(|(p, _)| format!("/{p}/"))
        .unwrap_or_else(|| "/".into());
    let trust = serde_json::json!({"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},
        {"Effect":"Allow","Principal":{"AWS":format!("arn:{partition}:iam::{}:role/{admin}", c.account)},"Action":"sts:AssumeRole"}]});
    c.iam()
        .create_role()
        .role_name(&role_name)
        .path(path)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .map_err(SandboxError::aws("bootstrap"))?;
    eprintln!("bootstrap: source role {src_arn} in account {}", c.account);
    Ok(())
}

/// A key that matches a listed object key (`*` → `xacct-sample`, `?` → `x`).
pub fn sample_key(listed: &str) -> String {
    listed.replace('*', "xacct-sample").replace('?', "x")
}

/// Each listed bucket with one object under each listed key or prefix. A bucket that holds CloudTrail
/// logs (a listed key under `CloudTrail/`) gets CloudTrail's bucket policy and SSE-KMS with a
/// customer managed key whose policy delegates to IAM, as CloudTrail log buckets often have.
async fn ensure_buckets(
    c: &crate::aws::Clients,
    org: &Organization,
    t: &Target,
) -> Result<(), SandboxError> {
    let mut buckets: Vec<&str> = t.objects.iter().map(|(b, _)| b.as_str()).collect();
    buckets.sort();
    buckets.dedup();
    for b in buckets {
        let keys: Vec<&str> = t
            .objects
            .iter()
            .filter(|(ob, _)| ob == b)
            .map(|(_, k)| k.as_str())
            .collect();
        if c.s3().head_bucket().bucket(b).send().await.is_err() {
            let mut req = c.s3().create_bucket().bucket(b);
            if org.region != "us-east-1" {
                req = req.create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                            org.region.as_str(),
                        ))
                        .build(),
                );
            }
            req.send().await.map_err(SandboxError::aws("bootstrap"))?;
            let trail = keys.iter().any(|k| k.contains("CloudTrail/"));
            if trail {
                cloudtrail_bucket(c, &org.partition, b).await?;
            }
            eprintln!(
                "bootstrap: {}: bucket {b} in account {}{}",
                t.label,
                t.account.id,
                if trail {
                    " (CloudTrail logs, SSE-KMS)"
                } else {
                    ""
                }
            );
        }
        for k in keys {
            let key = sample_key(k);
            c.s3()
                .put_object()
                .bucket(b)
                .key(&key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(
                    b"{\"xacct\":\"sample\"}\n",
                ))
                .send()
                .await
                .map_err(SandboxError::aws("bootstrap"))?;
        }
    }
    Ok(())
}

async fn cloudtrail_bucket(c: &crate::aws::Clients, p: &str, b: &str) -> Result<(), SandboxError> {
    let a = &c.account;
    let policy = serde_json::json!({"Version":"2012-10-17","Statement":[
        {"Sid":"AWSCloudTrailAclCheck","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:GetBucketAcl","Resource":format!("arn:{p}:s3:::{b}")},
        {"Sid":"AWSCloudTrailWrite","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":format!("arn:{p}:s3:::{b}/AWSLogs/{a}/*"),"Condition":{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}}]});
    c.s3()
        .put_bucket_policy()
        .bucket(b)
        .policy(policy.to_string())
        .send()
        .await
        .map_err(SandboxError::aws("bootstrap"))?;
    let key_policy = serde_json::json!({"Version":"2012-10-17","Statement":[
        {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":format!("arn:{p}:iam::{a}:root")},"Action":"kms:*","Resource":"*"},
        {"Sid":"Allow CloudTrail to encrypt logs","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*"}]});
    let key = c
        .kms()
        .create_key()
        .policy(key_policy.to_string())
        .description(format!("CloudTrail logs in {b}"))
        .send()
        .await
        .map_err(SandboxError::aws("bootstrap"))?;
    let arn = key
        .key_metadata()
        .and_then(|m| m.arn())
        .unwrap_or_default()
        .to_string();
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .kms_master_key_id(arn)
        .build()
        .map_err(SandboxError::aws("bootstrap"))?;
    let conf = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .build(),
        )
        .build()
        .map_err(SandboxError::aws("bootstrap"))?;
    c.s3()
        .put_bucket_encryption()
        .bucket(b)
        .server_side_encryption_configuration(conf)
        .send()
        .await
        .map_err(SandboxError::aws("bootstrap"))?;
    Ok(())
}

/// Each listed REST API with the listed id: a resource per listed path (a `*` segment becomes
/// `{proxy+}`), the listed method (`*` → ANY) with `AWS_IAM` authorization and a `MOCK`
/// integration, deployed to the listed stage.
async fn ensure_apis(
    state: &State,
    c: &crate::aws::Clients,
    t: &Target,
) -> Result<(), SandboxError> {
    let gw = c.apigateway();
    let mut ids: Vec<&str> = t.apis.iter().map(|a| a.api_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        if gw.get_rest_api().rest_api_id(id).send().await.is_ok() {
            continue;
        }
        gw.create_rest_api()
            .name(id)
            .tags("_custom_id_", id)
            .send()
            .await
            .map_err(SandboxError::aws("bootstrap"))?;
        let mut stages: Vec<&str> = Vec::new();
        for a in t.apis.iter().filter(|a| a.api_id == id) {
            let resources: Vec<aws_sdk_apigateway::types::Resource> = gw
                .get_resources()
                .rest_api_id(id)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(SandboxError::aws("bootstrap"))?;
            let find = |path: &str| {
                resources
                    .iter()
                    .find(|r| r.path() == Some(path))
                    .and_then(|r| r.id())
                    .map(String::from)
            };
            let mut parent = find("/").unwrap_or_default();
            let mut path = String::new();
            for seg in a.path.split('/').filter(|s| !s.is_empty()) {
                let part = if seg.contains('*') { "{proxy+}" } else { seg };
                path = format!("{path}/{part}");
                parent = match find(&path) {
                    Some(id) => id,
                    None => gw
                        .create_resource()
                        .rest_api_id(id)
                        .parent_id(&parent)
                        .path_part(part)
                        .send()
                        .await
                        .map_err(SandboxError::aws("bootstrap"))?
                        .id()
                        .unwrap_or_default()
                        .to_string(),
                };
                if part == "{proxy+}" {
                    break;
                }
            }
            let method = if a.method == "*" {
                "ANY"
            } else {
                a.method.as_str()
            };
            gw.put_method()
                .rest_api_id(id)
                .resource_id(&parent)
                .http_method(method)
                .authorization_type("AWS_IAM")
                .send()
                .await
                .map_err(SandboxError::aws("bootstrap"))?;
            gw.put_integration()
                .rest_api_id(id)
                .resource_id(&parent)
                .http_method(method)
                .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
                .send()
                .await
                .map_err(SandboxError::aws("bootstrap"))?;
            if !stages.contains(&a.stage.as_str()) {
                stages.push(&a.stage);
            }
        }
        for stage in stages {
            let d = gw
                .create_deployment()
                .rest_api_id(id)
                .stage_name(stage)
                .send()
                .await
                .map_err(SandboxError::aws("bootstrap"))?;
            // what the stage serves from now on, as the gateway records every deployment
            if let (Some(did), Some(snap)) = (d.id(), crate::deployments::snapshot(c, id).await) {
                state.registry.deployed(id, did, snap);
            }
        }
        eprintln!(
            "bootstrap: {}: REST API {id} in account {}",
            t.label, t.account.id
        );
    }
    Ok(())
}

/// The device's thing, attached to its certificate, in each gating thing group and of the gating
/// thing type (created if missing), as an operator registers a device.
async fn ensure_thing(
    c: &crate::aws::Clients,
    org: &Organization,
    thing: &str,
    cert_arn: &str,
) -> Result<(), SandboxError> {
    let thing_type = org.thing_type.clone();
    if let Some(ty) = &thing_type {
        let _ = c.iot().create_thing_type().thing_type_name(ty).send().await;
    }
    if c.iot()
        .describe_thing()
        .thing_name(thing)
        .send()
        .await
        .is_err()
    {
        c.iot()
            .create_thing()
            .thing_name(thing)
            .set_thing_type_name(thing_type.clone())
            .send()
            .await
            .map_err(SandboxError::aws("bootstrap"))?;
    }
    c.iot()
        .attach_thing_principal()
        .thing_name(thing)
        .principal(cert_arn)
        .send()
        .await
        .map_err(SandboxError::aws("bootstrap"))?;
    for g in &org.thing_groups {
        let _ = c
            .iot()
            .create_thing_group()
            .thing_group_name(g)
            .send()
            .await;
        c.iot()
            .add_thing_to_thing_group()
            .thing_group_name(g)
            .thing_name(thing)
            .send()
            .await
            .map_err(SandboxError::aws("bootstrap"))?;
    }
    eprintln!(
        "bootstrap: thing {thing} (the device){}",
        thing_type
            .map(|t| format!(", thing type {t}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// Create what `org` describes (what exists already is left as it is).
pub async fn bootstrap(state: &State, org: &Organization, dir: &Path) -> Result<(), SandboxError> {
    state.registry.saw_region(&org.region);
    if let Some(m) = &org.aws_organization {
        let c = state.admin.get(&m.id, &org.region).await;
        state.registry.saw_account(&m.id);
        ensure_admin_role(&c, &m.admin_role).await?;
        let members: Vec<String> = org.targets.iter().map(|t| t.account.id.clone()).collect();
        let model =
            crate::org::OrgModel::small(&m.id, std::slice::from_ref(&org.origin.id), &members);
        eprintln!(
            "sandbox: organization {} (management account {}, root {}, OU {} with the environments' accounts)",
            model.id, m.id, model.root, model.ous[0].0
        );
        state.registry.add_org(model);
    }
    let iot = state.admin.get(&org.origin.id, &org.region).await;
    state.registry.saw_account(&org.origin.id);
    ensure_admin_role(&iot, &org.origin.admin_role).await?;
    if let Some(src) = &org.source_role {
        ensure_source_role(&iot, src, &org.origin.admin_role).await?;
    }
    for t in &org.targets {
        state.registry.saw_account(&t.account.id);
        let c = state.admin.get(&t.account.id, &org.region).await;
        ensure_admin_role(&c, &t.account.admin_role).await?;
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
        ensure_buckets(&c, org, t).await?;
        ensure_apis(state, &c, t).await?;
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
                t.label, t.account.id
            );
        }
    }
    if !org.device {
        return Ok(());
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
    // the device's thing, in the thing groups and of the thing types that gate environments
    let thing = format!("{}-device-1", org.name);
    ensure_thing(
        &iot,
        org,
        &thing,
        cert.certificate_arn().unwrap_or_default(),
    )
    .await?;
    std::fs::write(dir.join("device.thing"), format!("{thing}\n"))
        .map_err(SandboxError::io("cannot write device.thing"))?;
    eprintln!(
        "bootstrap: device certificate {}… written to {}/",
        &id[..id.len().min(12)],
        dir.display()
    );
    Ok(())
}
