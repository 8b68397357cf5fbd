//! The sandbox's own access to what the accounts hold: admin sessions on moto (one per account and
//! region) and the reads the emulators need to decide a request as AWS would — a role's trust,
//! identity policies and boundary, an IoT policy, a bucket's policy and encryption, a key's policy.
//! It reads documents as AWS stores them and knows nothing of xacct's files or model.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;
use xacct_policy::document::parse_service_document;

/// The role every bootstrapped account holds for its administrators; the sandbox's own sessions
/// assume it.
pub const ADMIN_ROLE: &str = "xacct-sandbox-admin";

/// An AWS call on moto that failed: what was asked, and why (the error and its sources, one line).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action} on {resource}: {detail}")]
pub struct CallError {
    pub action: String,
    pub resource: String,
    /// The service's error code, when it sent one.
    pub code: Option<String>,
    pub detail: String,
}

impl CallError {
    fn of<E>(action: &str, resource: &str, e: aws_sdk_iam::error::SdkError<E>) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        CallError {
            action: action.into(),
            resource: resource.into(),
            code: e.code().map(String::from),
            detail: chain(&e),
        }
    }
    /// The resource does not exist.
    pub fn not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "NoSuchEntity"
                    | "ResourceNotFoundException"
                    | "NotFoundException"
                    | "NoSuchBucket"
                    | "NoSuchBucketPolicy"
                    | "NoSuchKey"
                    | "NotFound"
                    | "ServerSideEncryptionConfigurationNotFoundError"
            )
        )
    }
}

/// An error and its sources, as one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// The one HTTP client of the sandbox's SDK clients (plain http to moto; TLS built once).
fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .build_https()
        })
        .clone()
}

/// A config loader for `region` on moto at `endpoint`, with the sandbox's HTTP client.
pub fn loader(region: &str, endpoint: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .http_client(http_client())
}

/// The service clients of one account's admin session.
#[derive(Clone)]
pub struct Clients {
    pub account: String,
    pub sdk: SdkConfig,
}

impl Clients {
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }
    pub fn iot(&self) -> aws_sdk_iot::Client {
        aws_sdk_iot::Client::new(&self.sdk)
    }
    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk)
    }
    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.sdk)
    }
    /// Path-style addressing (moto serves buckets on its one host).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(true)
                .build(),
        )
    }
    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk)
    }
    pub fn apigateway(&self) -> aws_sdk_apigateway::Client {
        aws_sdk_apigateway::Client::new(&self.sdk)
    }
    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::new(&self.sdk)
    }
}

/// Admin sessions on moto itself (not through the gateway), one per account and region.
pub struct Admin {
    pub moto: String,
    cache: tokio::sync::Mutex<HashMap<(String, String), Clients>>,
}

impl Admin {
    pub fn new(moto: &str) -> Admin {
        Admin {
            moto: moto.trim_end_matches('/').to_string(),
            cache: Default::default(),
        }
    }

    pub async fn get(&self, account: &str, region: &str) -> Clients {
        let key = (account.to_string(), region.to_string());
        if let Some(c) = self.cache.lock().await.get(&key) {
            return c.clone();
        }
        let base = loader(region, &self.moto)
            .credentials_provider(aws_credential_types::Credentials::new(
                "sandbox", "sandbox", None, None, "sandbox",
            ))
            .load()
            .await;
        let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
            "arn:{}:iam::{account}:role/{ADMIN_ROLE}",
            xacct_policy::arn::partition_of(region)
        ))
        .session_name("xacct-sandbox")
        .configure(&base)
        .build()
        .await;
        let sdk = base
            .into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
        let c = Clients {
            account: account.to_string(),
            sdk,
        };
        self.cache.lock().await.insert(key, c.clone());
        c
    }
}

/// A role as IAM holds it.
pub struct Role {
    pub arn: String,
    pub trust: Value,
    pub max_session_duration: i32,
    /// The ARN of its permissions boundary.
    pub boundary: Option<String>,
}

/// A role, or None when it does not exist.
pub async fn role(c: &Clients, name: &str) -> Result<Option<Role>, CallError> {
    match c.iam().get_role().role_name(name).send().await {
        Ok(out) => {
            let Some(r) = out.role() else { return Ok(None) };
            let trust = r
                .assume_role_policy_document()
                .map(parse_service_document)
                .transpose()
                .map_err(|e| CallError {
                    action: "iam:GetRole".into(),
                    resource: name.into(),
                    code: None,
                    detail: e.to_string(),
                })?
                .unwrap_or(Value::Null);
            Ok(Some(Role {
                arn: r.arn().to_string(),
                trust,
                max_session_duration: r.max_session_duration().unwrap_or(3600),
                boundary: r
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(String::from),
            }))
        }
        Err(e) => {
            let e = CallError::of("iam:GetRole", name, e);
            if e.not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Every identity policy of a role: its inline policies and the default version of each attached
/// managed policy.
pub async fn identity_policies(c: &Clients, role: &str) -> Result<Vec<Value>, CallError> {
    let iam = c.iam();
    let mut out = Vec::new();
    let names: Vec<String> = iam
        .list_role_policies()
        .role_name(role)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::of("iam:ListRolePolicies", role, e))?;
    for n in &names {
        let p = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(n)
            .send()
            .await
            .map_err(|e| CallError::of("iam:GetRolePolicy", role, e))?;
        if let Ok(d) = parse_service_document(p.policy_document()) {
            out.push(d);
        }
    }
    let attached: Vec<aws_sdk_iam::types::AttachedPolicy> = iam
        .list_attached_role_policies()
        .role_name(role)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| CallError::of("iam:ListAttachedRolePolicies", role, e))?;
    for p in &attached {
        if let Some(arn) = p.policy_arn() {
            if let Some(d) = managed_policy(c, arn).await? {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// The default version of a managed policy.
pub async fn managed_policy(c: &Clients, arn: &str) -> Result<Option<Value>, CallError> {
    let iam = c.iam();
    let meta = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| CallError::of("iam:GetPolicy", arn, e))?;
    let Some(v) = meta.policy().and_then(|p| p.default_version_id()) else {
        return Ok(None);
    };
    let ver = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(v)
        .send()
        .await
        .map_err(|e| CallError::of("iam:GetPolicyVersion", arn, e))?;
    Ok(ver
        .policy_version()
        .and_then(|v| v.document())
        .and_then(|d| parse_service_document(d).ok()))
}

/// The document of an IoT policy, or None when it does not exist.
pub async fn iot_policy(c: &Clients, name: &str) -> Result<Option<Value>, CallError> {
    match c.iot().get_policy().policy_name(name).send().await {
        Ok(out) => Ok(out
            .policy_document()
            .and_then(|d| parse_service_document(d).ok())),
        Err(e) => {
            let e = CallError::of("iot:GetPolicy", name, e);
            if e.not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// The names of the buckets an account owns.
pub async fn owned_buckets(c: &Clients) -> Result<Vec<String>, CallError> {
    let out = c
        .s3()
        .list_buckets()
        .send()
        .await
        .map_err(|e| CallError::of("s3:ListAllMyBuckets", "*", e))?;
    Ok(out
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(String::from))
        .collect())
}

/// What decides a GetObject besides the caller's policies: the bucket's policy, and the customer
/// managed KMS key that encrypts the object (with its key policy).
pub struct ObjectGuard {
    pub bucket_policy: Option<Value>,
    /// The ARN of the customer managed key, and its policy.
    pub key: Option<(String, Option<Value>)>,
}

/// The bucket policy of `bucket` and the key that encrypts `key` in it: the object's own key when
/// S3 reports one, otherwise the bucket's default encryption (an AWS managed key grants nothing
/// across accounts and is not a customer key).
pub async fn object_guard(
    admin: &Admin,
    c: &Clients,
    bucket: &str,
    key: &str,
) -> Result<ObjectGuard, CallError> {
    let s3 = c.s3();
    let bucket_policy = match s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(p) => p.policy().and_then(|d| parse_service_document(d).ok()),
        Err(e) => {
            let e = CallError::of("s3:GetBucketPolicy", bucket, e);
            if !e.not_found() {
                return Err(e);
            }
            None
        }
    };
    let object_key = match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(h) => h.ssekms_key_id().map(String::from),
        Err(_) => None,
    };
    let default_key = match s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(out) => out
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .and_then(|d| d.kms_master_key_id())
            .map(String::from),
        Err(e) => {
            let e = CallError::of("s3:GetBucketEncryption", bucket, e);
            if !e.not_found() {
                return Err(e);
            }
            None
        }
    };
    let Some(k) = object_key
        .or(default_key)
        .filter(|k| !k.contains("alias/aws/s3"))
    else {
        return Ok(ObjectGuard {
            bucket_policy,
            key: None,
        });
    };
    // the key's policy lives in the key's own account and region, which need not be the bucket's
    let owner = match xacct_policy::arn::Arn::parse(&k) {
        Some(a) if a.account != c.account || !a.region.is_empty() => {
            admin.get(&a.account, &a.region).await
        }
        _ => c.clone(),
    };
    let policy = match owner
        .kms()
        .get_key_policy()
        .key_id(&k)
        .policy_name("default")
        .send()
        .await
    {
        Ok(p) => p.policy().and_then(|d| parse_service_document(d).ok()),
        Err(e) => {
            let e = CallError::of("kms:GetKeyPolicy", &k, e);
            if !e.not_found() {
                return Err(e);
            }
            None
        }
    };
    Ok(ObjectGuard {
        bucket_policy,
        key: Some((k, policy)),
    })
}
