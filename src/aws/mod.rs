//! The operator's side of AWS: one client set per account (standard credential chain, profile,
//! assume_role, `AWS_ENDPOINT_URL`) over one HTTP client for the whole process, the reads that build
//! the live model (`read`), what an error means (`error`) and retries. The client sets are made here
//! for everyone. Each managed kind's own reads and writes are in its file under `model::kinds`,
//! through these clients (their slots, retries and error context). Elsewhere: the calls made with the chain's own credentials (the hops `verify` performs,
//! a device's `creds`), the throw-away certificate of `verify --ephemeral` and `device-config`'s
//! endpoint lookup (with this module's clients and `AwsError`), and the sandbox's emulators.
//! It depends on the model and the environment file's access settings only, never on the plan or the
//! proof.

pub mod error;
pub mod read;

pub use error::Code;

use crate::config::{Access, Config};
use crate::model::Addr;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Concurrent requests per account (a 50-environment plan must not throttle itself).
pub const PER_ACCOUNT_CONCURRENCY: usize = 8;

/// One permission a call needs: an IAM action on a resource (an ARN, or `*` where AWS allows
/// nothing narrower). Each managed kind and each target type lists those of its own calls
/// (`xacct permissions`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Call {
    pub action: &'static str,
    pub resource: String,
}

impl Call {
    pub fn new(action: &'static str, resource: impl Into<String>) -> Call {
        Call {
            action,
            resource: resource.into(),
        }
    }
    /// The same action on each of `resources`.
    pub fn each(actions: &[&'static str], resource: &str) -> Vec<Call> {
        actions.iter().map(|a| Call::new(a, resource)).collect()
    }
}

/// What a command does with a managed resource, for the permissions it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Read it (plan, and every command that plans).
    Read,
    /// Create or update it (apply).
    Write,
    /// Delete it (apply, when a layout changes; destroy).
    Delete,
}

/// An AWS call that failed, with where and why.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// "account 222222222222 (env prd)"
    pub scope: String,
    /// The IAM action, e.g. "iam:CreateRole".
    pub action: String,
    /// The resource it acted on.
    pub resource: String,
    pub code: Option<Code>,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}: {} on {}: {}",
            self.scope, self.action, self.resource, self.message
        )
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    pub fn is(&self, code: &Code) -> bool {
        self.code.as_ref() == Some(code)
    }
    pub fn not_found(&self) -> bool {
        self.code.as_ref().is_some_and(Code::not_found)
    }
    pub fn access_denied(&self) -> bool {
        self.code.as_ref().is_some_and(Code::access_denied)
    }
    pub fn already_exists(&self) -> bool {
        self.code.as_ref().is_some_and(Code::already_exists)
    }
    /// IAM's eventual consistency (see `Code::eventual`).
    pub fn eventual(&self) -> bool {
        self.code
            .as_ref()
            .is_some_and(|c| c.eventual(&self.message))
    }
}

/// Clients for one account.
#[derive(Clone)]
pub struct Clients {
    pub account: String,
    pub scope: String,
    pub sdk: SdkConfig,
    // Each service client is built on first use: a plan of an environment account needs IAM only.
    iam: Arc<OnceLock<aws_sdk_iam::Client>>,
    iot: Arc<OnceLock<aws_sdk_iot::Client>>,
    sts: Arc<OnceLock<aws_sdk_sts::Client>>,
    lambda: Arc<OnceLock<aws_sdk_lambda::Client>>,
    s3: Arc<OnceLock<aws_sdk_s3::Client>>,
    kms: Arc<OnceLock<aws_sdk_kms::Client>>,
    apigateway: Arc<OnceLock<aws_sdk_apigateway::Client>>,
    organizations: Arc<OnceLock<aws_sdk_organizations::Client>>,
    /// The organization of the account, once asked (`read::org_of`).
    pub(crate) org_id: Arc<tokio::sync::OnceCell<Option<String>>>,
    /// The region of each bucket asked about, found once (`bucket_region`).
    bucket_regions: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    limit: Arc<Semaphore>,
    /// The proof that these credentials act in `account`, run once on first use (or up front by
    /// `Accounts::prove`): every request of this set waits for it, and fails with its error.
    proof: Arc<Proof>,
}

/// How a client set proves its account, and the outcome once it ran.
struct Proof {
    how: Prove,
    /// The profile the credentials come from (the file's, or AWS_PROFILE), for what to tell the user.
    profile: Option<String>,
    done: tokio::sync::OnceCell<Result<(), AwsError>>,
}

enum Prove {
    /// Nothing to prove (the sandbox's own admin sessions).
    Nothing,
    /// Resolve the credentials of `assume_role` (they act in the role's account, which validation
    /// tied to this account). `how` says where the credentials come from, for the error.
    AssumeRole { role: String, how: String },
    /// `sts:GetCallerIdentity` must name this account.
    CallerIdentity { how: String },
}

impl Clients {
    pub fn iam(&self) -> &aws_sdk_iam::Client {
        self.iam.get_or_init(|| aws_sdk_iam::Client::new(&self.sdk))
    }
    pub fn iot(&self) -> &aws_sdk_iot::Client {
        self.iot.get_or_init(|| aws_sdk_iot::Client::new(&self.sdk))
    }
    pub fn sts(&self) -> &aws_sdk_sts::Client {
        self.sts.get_or_init(|| aws_sdk_sts::Client::new(&self.sdk))
    }
    pub fn lambda(&self) -> &aws_sdk_lambda::Client {
        self.lambda
            .get_or_init(|| aws_sdk_lambda::Client::new(&self.sdk))
    }
    /// S3 with path-style addressing (`https://s3.REGION.amazonaws.com/BUCKET/KEY`): works for every
    /// bucket name (dots included) and with `AWS_ENDPOINT_URL`.
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3.get_or_init(|| s3_client(&self.sdk))
    }
    pub fn kms(&self) -> &aws_sdk_kms::Client {
        self.kms.get_or_init(|| aws_sdk_kms::Client::new(&self.sdk))
    }
    /// A KMS client for a key in `region` (a key's ARN names its region; the set's own client
    /// when it is the set's region).
    pub fn kms_in(&self, region: &str) -> std::borrow::Cow<'_, aws_sdk_kms::Client> {
        if self.sdk.region().is_none_or(|r| r.as_ref() == region) || region.is_empty() {
            std::borrow::Cow::Borrowed(self.kms())
        } else {
            std::borrow::Cow::Owned(aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::config::Builder::from(&self.sdk)
                    .region(aws_sdk_kms::config::Region::new(region.to_string()))
                    .build(),
            ))
        }
    }
    /// An S3 client of `region` (path-style; the set's own client when it is the set's region).
    pub fn s3_in(&self, region: &str) -> std::borrow::Cow<'_, aws_sdk_s3::Client> {
        if self.sdk.region().is_none_or(|r| r.as_ref() == region) || region.is_empty() {
            std::borrow::Cow::Borrowed(self.s3())
        } else {
            std::borrow::Cow::Owned(s3_client_in(&self.sdk, region))
        }
    }

    /// The region of `bucket`, asked once per bucket with HeadBucket: S3 names it
    /// (`x-amz-bucket-region`) in its answer, also when it refuses or redirects a request sent to
    /// another region. The set's own region when S3 does not say (the bucket's calls then report
    /// what is wrong).
    pub async fn bucket_region(&self, bucket: &str) -> String {
        if let Some(r) = self
            .bucket_regions
            .lock()
            .ok()
            .and_then(|m| m.get(bucket).cloned())
        {
            return r;
        }
        let own = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let region = match self.s3().head_bucket().bucket(bucket).send().await {
            Ok(o) => o.bucket_region().map(String::from),
            Err(e) => e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(String::from),
        }
        .filter(|r| !r.is_empty())
        .unwrap_or(own);
        if let Ok(mut m) = self.bucket_regions.lock() {
            m.insert(bucket.to_string(), region.clone());
        }
        region
    }

    /// An S3 client of the region of `bucket` (see `bucket_region`).
    pub async fn s3_for(&self, bucket: &str) -> std::borrow::Cow<'_, aws_sdk_s3::Client> {
        let region = self.bucket_region(bucket).await;
        self.s3_in(&region)
    }

    pub fn organizations(&self) -> &aws_sdk_organizations::Client {
        self.organizations
            .get_or_init(|| aws_sdk_organizations::Client::new(&self.sdk))
    }
    pub fn apigateway(&self) -> &aws_sdk_apigateway::Client {
        self.apigateway
            .get_or_init(|| aws_sdk_apigateway::Client::new(&self.sdk))
    }

    /// Wait until the account is proven (the first caller runs the proof), then for a request slot
    /// of this account. Every request of the set goes through here, so none is sent with
    /// credentials that failed their proof.
    pub async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AwsError> {
        self.prove().await?;
        Ok(self.limit.acquire().await.expect("semaphore never closed"))
    }

    /// Prove that the credentials act in this set's account, once: the outcome is shared by every
    /// caller.
    pub async fn prove(&self) -> Result<(), AwsError> {
        self.proof
            .done
            .get_or_init(|| self.run_proof())
            .await
            .clone()
    }

    async fn run_proof(&self) -> Result<(), AwsError> {
        match &self.proof.how {
            Prove::Nothing => Ok(()),
            // Credentials of an assumed role act in the role's account, which validation already
            // tied to this account: resolving them proves it, without a GetCallerIdentity round trip.
            Prove::AssumeRole { role, how } => {
                use aws_credential_types::provider::ProvideCredentials;
                let fail = |message: String| AwsError {
                    scope: self.scope.clone(),
                    action: "sts:AssumeRole".into(),
                    resource: role.clone(),
                    code: None,
                    message,
                };
                let provider = self
                    .sdk
                    .credentials_provider()
                    .ok_or_else(|| fail("no credentials provider".into()))?;
                provider.provide_credentials().await.map_err(|e| {
                    let text = chain(&e);
                    match error::credentials_problem(&text, self.proof.profile.as_deref()) {
                        Some((code, message)) => AwsError {
                            code: Some(code),
                            message,
                            ..fail(String::new())
                        },
                        None => fail(format!("cannot obtain credentials{how}: {text}")),
                    }
                })?;
                Ok(())
            }
            Prove::CallerIdentity { how } => {
                let who = self.sts().get_caller_identity().send().await.map_err(|e| {
                    let mut err = self.err("sts:GetCallerIdentity", "the account's credentials", e);
                    match error::credentials_problem(&err.message, self.proof.profile.as_deref()) {
                        Some((code, message)) => {
                            err.code = Some(code);
                            err.message = message;
                        }
                        None => {
                            err.message = format!("cannot obtain credentials{how}: {}", err.message)
                        }
                    }
                    err
                })?;
                let actual = who.account().unwrap_or_default();
                if actual != self.account {
                    return Err(AwsError {
                        scope: self.scope.clone(),
                        action: "sts:GetCallerIdentity".into(),
                        resource: "the account's credentials".into(),
                        code: Some(Code::WrongAccount),
                        message: format!(
                            "the credentials act in account {actual}, not {}: set `profile` or `assume_role` for this account in the environment file",
                            self.account
                        ),
                    });
                }
                Ok(())
            }
        }
    }

    /// A document AWS returned that does not parse, as an `AwsError` naming the action and resource.
    pub fn unreadable(&self, action: &str, resource: &str, m: impl fmt::Display) -> AwsError {
        AwsError {
            scope: self.scope.clone(),
            action: action.into(),
            resource: resource.into(),
            code: None,
            message: m.to_string(),
        }
    }

    /// Turn an SDK error into an `AwsError` naming the action and resource.
    pub fn err<E, R>(
        &self,
        action: &str,
        resource: &str,
        e: aws_sdk_iam::error::SdkError<E, R>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let code = e.code().map(Code::parse);
        let mut message = match (&code, e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            _ => chain(&e),
        };
        if code.as_ref().is_some_and(Code::access_denied) {
            let extra = if action == "iot:CreateRoleAlias" || action == "iot:UpdateRoleAlias" {
                " and iam:PassRole on the role it points at"
            } else {
                ""
            };
            message = format!(
                "access denied: the credentials used for {} need {action} on {resource}{extra} ({message})",
                self.scope
            );
        }
        AwsError {
            scope: self.scope.clone(),
            action: action.into(),
            resource: resource.into(),
            code,
            message,
        }
    }
}

/// An S3 client of `sdk` with path-style addressing.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// An S3 client of `sdk` in `region` (a bucket's), path-style.
pub fn s3_client_in(sdk: &SdkConfig, region: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .region(aws_sdk_s3::config::Region::new(region.to_string()))
            .force_path_style(true)
            .build(),
    )
}

/// An error and its sources, as one line ("dispatch failure: io error: … connection refused").
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

/// The one HTTP client (connector pool and TLS root store) of the process, shared by every SDK
/// client: loading the root store once instead of once per client is most of a plan's memory.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            SharedHttpClient::new(OneClient(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                    ))
                    .build_https(),
            ))
        })
        .clone()
}

/// The shared client as every SDK client sees it. The SDK's own client builds a whole connector
/// (TLS config with the system root store) each time an SDK client is constructed, only to validate
/// the configuration, and throws it away; that was most of the CPU time each extra account cost.
/// This wrapper skips that validation: the connector is built once, on the first request, and then
/// reused from the inner client's cache.
#[derive(Debug)]
struct OneClient(SharedHttpClient);

impl aws_smithy_runtime_api::client::http::HttpClient for OneClient {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The SDK loader every config of the process starts from: region, the shared HTTP client, retries
/// and timeouts (the endpoint comes from `AWS_ENDPOINT_URL`).
pub fn loader(region: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .http_client(http_client())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(8)
                .with_max_backoff(Duration::from_secs(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        )
}

/// Base configs (default chain or a profile), loaded once per distinct profile and region, each with
/// the one STS client that assumes every `assume_role` reached from it.
#[derive(Default)]
struct Bases {
    /// (region, profile) → the base config and its STS client
    loaded: tokio::sync::Mutex<BTreeMap<(String, Option<String>), Base>>,
}

type Base = (SdkConfig, aws_sdk_sts::Client);

impl Bases {
    async fn get(
        &self,
        region: &str,
        profile: Option<&String>,
    ) -> (SdkConfig, aws_sdk_sts::Client) {
        let key = (region.to_string(), profile.cloned());
        let mut loaded = self.loaded.lock().await;
        if let Some(c) = loaded.get(&key) {
            return c.clone();
        }
        let mut l = loader(region);
        if let Some(p) = profile {
            l = l.profile_name(p);
        }
        let c = l.load().await;
        let sts = aws_sdk_sts::Client::new(&c);
        loaded.insert(key, (c.clone(), sts.clone()));
        (c, sts)
    }
}

/// Build the SDK config for one account: default chain or profile, then `assume_role` if set.
async fn sdk_config_from(bases: &Bases, region: &str, access: &Access) -> SdkConfig {
    let (base, sts) = bases.get(region, access.profile.as_ref()).await;
    match &access.assume_role {
        None => base,
        Some(role) => base
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(AssumeRole {
                sts,
                role: role.clone(),
                current: Default::default(),
            }))
            .build(),
    }
}

/// Credentials of `role`, assumed with the base credentials through a shared STS client, and kept
/// until five minutes before they expire: resolving them once up front (to prove access) is the only
/// AssumeRole of a run.
#[derive(Debug)]
struct AssumeRole {
    sts: aws_sdk_sts::Client,
    role: String,
    current: tokio::sync::Mutex<Option<aws_credential_types::Credentials>>,
}

impl aws_credential_types::provider::ProvideCredentials for AssumeRole {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        use aws_credential_types::provider::error::CredentialsError;
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            let mut cur = self.current.lock().await;
            let fresh = |c: &aws_credential_types::Credentials| {
                c.expiry()
                    .is_none_or(|e| e > std::time::SystemTime::now() + Duration::from_secs(300))
            };
            if let Some(c) = cur.as_ref().filter(|c| fresh(c)) {
                return Ok(c.clone());
            }
            let out = self
                .sts
                .assume_role()
                .role_arn(&self.role)
                .role_session_name("xacct")
                .send()
                .await
                .map_err(CredentialsError::provider_error)?;
            let c = out.credentials().ok_or_else(|| {
                CredentialsError::provider_error("AssumeRole returned no credentials")
            })?;
            let c = aws_credential_types::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                std::time::SystemTime::try_from(*c.expiration()).ok(),
                "xacct-assume-role",
            );
            *cur = Some(c.clone());
            Ok(c)
        })
    }
}

impl Clients {
    /// Clients from an SDK config (no identity check): used by the sandbox's own admin sessions.
    pub fn from_sdk(account: &str, scope: String, sdk: SdkConfig) -> Clients {
        Clients::with_proof(account, scope, sdk, Prove::Nothing, None)
    }

    fn with_proof(
        account: &str,
        scope: String,
        sdk: SdkConfig,
        how: Prove,
        profile: Option<String>,
    ) -> Clients {
        Clients {
            account: account.to_string(),
            scope,
            iam: Default::default(),
            iot: Default::default(),
            sts: Default::default(),
            lambda: Default::default(),
            s3: Default::default(),
            kms: Default::default(),
            apigateway: Default::default(),
            organizations: Default::default(),
            org_id: Default::default(),
            bucket_regions: Default::default(),
            sdk,
            limit: Arc::new(Semaphore::new(PER_ACCOUNT_CONCURRENCY)),
            proof: Arc::new(Proof {
                how,
                profile,
                done: Default::default(),
            }),
        }
    }
}

/// Connect to one account and prove the credentials act in it (`sts:GetCallerIdentity`), so a wrong
/// profile can never write into the wrong account.
pub async fn connect(
    region: &str,
    account: &str,
    env: Option<&str>,
    access: &Access,
) -> Result<Clients, AwsError> {
    let users = vec![match env {
        Some(e) => format!("env {e}"),
        None => "IoT".to_string(),
    }];
    connect_with(&Bases::default(), region, account, &users, access).await
}

async fn connect_with(
    bases: &Bases,
    region: &str,
    account: &str,
    users: &[String],
    access: &Access,
) -> Result<Clients, AwsError> {
    let c = unproven(bases, region, account, users, access).await;
    c.prove().await?;
    Ok(c)
}

/// The client set of one account, its proof not run yet (it runs on first use).
async fn unproven(
    bases: &Bases,
    region: &str,
    account: &str,
    users: &[String],
    access: &Access,
) -> Clients {
    let scope = format!("account {account} ({})", users.join(", "));
    let how = match (&access.profile, &access.assume_role) {
        (_, Some(r)) => format!(" by assuming {r}"),
        (Some(p), None) => format!(" from profile {p}"),
        _ => " from the default credential chain".into(),
    };
    let how = match &access.assume_role {
        Some(role) => Prove::AssumeRole {
            role: role.clone(),
            how,
        },
        None => Prove::CallerIdentity { how },
    };
    let profile = access
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok());
    Clients::with_proof(
        account,
        scope,
        sdk_config_from(bases, region, access).await,
        how,
        profile,
    )
}

/// One client set per distinct account and access, shared by every environment (and the IoT
/// account) that uses it: one credential resolution and one in-flight limit per account.
pub struct Accounts {
    sets: Vec<Clients>,
    /// The organization's management (or delegated administrator) account, when the file names
    /// one: proven on first use only (plan never needs it).
    org: Option<Clients>,
    /// Index of the IoT account's set.
    iot: usize,
    /// Environment name → index of its set.
    envs: BTreeMap<String, usize>,
}

impl Accounts {
    /// The clients of the account the chain starts in (the IoT account, or the source role's).
    pub fn iot(&self) -> &Clients {
        &self.sets[self.iot]
    }

    /// The clients of the account the chain starts in (same as `iot`).
    pub fn origin(&self) -> &Clients {
        self.iot()
    }

    /// The clients that read the organization, when the file names its account.
    pub fn organization(&self) -> Option<&Clients> {
        self.org.as_ref()
    }

    /// Every distinct client set (one per account and access).
    pub fn all(&self) -> &[Clients] {
        &self.sets
    }

    /// The clients of a selected environment.
    pub fn env(&self, name: &str) -> Option<&Clients> {
        self.envs.get(name).map(|&i| &self.sets[i])
    }

    /// The clients that act on `addr`, which must act in the account the address names: a change is
    /// never written with another account's credentials.
    pub fn for_addr(&self, addr: &Addr) -> Result<&Clients, AwsError> {
        let c = match &addr.env {
            None => Some(self.iot()),
            Some(e) => self.env(e),
        };
        match c {
            Some(c) if c.account == addr.account => Ok(c),
            other => Err(AwsError {
                scope: format!("account {}", addr.account),
                action: "apply".into(),
                resource: addr.to_string(),
                code: Some(Code::WrongAccount),
                message: match other {
                    Some(c) => format!(
                        "refusing to write {addr}: its clients act in account {}, not {}; nothing was applied",
                        c.account, addr.account
                    ),
                    None => format!(
                        "refusing to write {addr}: no clients were connected for it; nothing was applied"
                    ),
                },
            }),
        }
    }
}

/// Connect to the IoT account and every selected environment's account, in parallel: one client set
/// per distinct (account, access), each proven before this returns.
pub async fn connect_all(cfg: &Config, selected: &[String]) -> Result<Accounts, Vec<AwsError>> {
    let accts = Accounts::connect(cfg, selected).await;
    accts.prove().await?;
    Ok(accts)
}

impl Accounts {
    /// One client set per distinct (account, access) of the selected environments and the IoT (or
    /// source) account, none proven yet: each is proven on its first request, or by `prove`. A run
    /// that reads while the proofs are under way starts each account's reads as soon as that account
    /// is proven, instead of waiting for the slowest account.
    pub async fn connect(cfg: &Config, selected: &[String]) -> Accounts {
        let label = match cfg.origin {
            crate::config::Origin::Iot(_) => "IoT",
            crate::config::Origin::Role(_) => "source",
        };
        let mut keys: Vec<(&str, &Access, Vec<String>)> = vec![(
            cfg.origin_account(),
            cfg.origin_access(),
            vec![label.to_string()],
        )];
        let mut envs = BTreeMap::new();
        for t in cfg.selected(selected) {
            let i = match keys
                .iter()
                .position(|(a, x, _)| *a == t.account && *x == &t.access)
            {
                Some(i) => i,
                None => {
                    keys.push((&t.account, &t.access, vec![]));
                    keys.len() - 1
                }
            };
            keys[i].2.push(format!("env {}", t.name));
            envs.insert(t.name.clone(), i);
        }
        let bases = Bases::default();
        let mut sets = Vec::with_capacity(keys.len());
        for (account, access, users) in &keys {
            sets.push(unproven(&bases, &cfg.region, account, users, access).await);
        }
        let org = match &cfg.organization {
            Some(o) => Some(
                unproven(
                    &bases,
                    &cfg.region,
                    &o.account,
                    &["organization".to_string()],
                    &o.access,
                )
                .await,
            ),
            None => None,
        };
        Accounts {
            sets,
            org,
            iot: 0,
            envs,
        }
    }

    /// Prove every client set, in parallel; all the errors, not just the first.
    pub async fn prove(&self) -> Result<(), Vec<AwsError>> {
        let errors: Vec<AwsError> = futures::future::join_all(self.sets.iter().map(|c| c.prove()))
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Retry `f` while it fails with IAM's eventual-consistency errors (a principal or role that was just
/// created is not yet visible), with bounded exponential backoff; never a fixed sleep.
pub async fn retry_consistency<T, F, Fut>(mut f: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut delay = Duration::from_millis(250);
    let mut waited = Duration::ZERO;
    loop {
        match f().await {
            Err(e) if e.eventual() && waited < Duration::from_secs(90) => {
                tokio::time::sleep(delay).await;
                waited += delay;
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            Err(mut e) if e.is(&Code::InvalidParameterValueException) && e.eventual() => {
                // Lambda says the same when a statement already in the function's policy names a
                // principal that no longer exists
                e.message.push_str(" (retried for 90 s: either IAM has not propagated the role the statement names, or another statement of the function's policy names a principal that no longer exists: remove that statement)");
                return Err(e);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::error::ErrorMetadata;

    fn clients() -> Clients {
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .build();
        Clients::from_sdk("111111111111", "account 111111111111 (IoT)".into(), sdk)
    }

    fn service_error<E>(
        err: E,
    ) -> aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::http::Response> {
        let raw = aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        );
        aws_sdk_iam::error::SdkError::service_error(err, raw)
    }

    #[test]
    fn access_denied_names_the_missing_permission_and_pass_role_for_aliases() {
        let c = clients();
        let meta = ErrorMetadata::builder()
            .code("AccessDeniedException")
            .message("not authorized")
            .build();
        let e = service_error(
            aws_sdk_iot::operation::create_role_alias::CreateRoleAliasError::generic(meta),
        );
        let err = c.err("iot:CreateRoleAlias", "telemetry-device", e);
        assert!(err.access_denied());
        assert!(
            err.message
                .contains("need iot:CreateRoleAlias on telemetry-device"),
            "{}",
            err.message
        );
        assert!(err.message.contains("iam:PassRole"), "{}", err.message);
        let meta = ErrorMetadata::builder()
            .code("AccessDenied")
            .message("no")
            .build();
        let e = service_error(aws_sdk_iam::operation::create_role::CreateRoleError::generic(meta));
        let err = c.err("iam:CreateRole", "r", e);
        assert!(
            err.message.contains("need iam:CreateRole on r") && !err.message.contains("PassRole"),
            "{}",
            err.message
        );
    }

    #[test]
    fn only_iam_eventual_consistency_errors_are_retried() {
        let mk = |code: &str, message: &str| AwsError {
            scope: String::new(),
            action: String::new(),
            resource: String::new(),
            code: Some(Code::parse(code)),
            message: format!("{code}: {message}"),
        };
        assert!(mk(
            "MalformedPolicyDocument",
            "Invalid principal in policy: \"AWS\":\"arn:aws:iam::1:role/x\""
        )
        .eventual());
        assert!(!mk("MalformedPolicyDocument", "Syntax errors in policy.").eventual());
        assert!(!mk("AccessDenied", "Invalid principal").eventual());
    }
}
