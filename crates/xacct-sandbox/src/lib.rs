//! xacct's sandbox: moto (the AWS emulator) started with the changes that make it behave as AWS does
//! where it does not (`MOTO_LAUNCHER`), an IAM-enforcing gateway in front of it, an emulator of the
//! IoT credentials provider (mutual TLS), an API Gateway emulator (SigV4, execute-api:Invoke), and
//! the bootstrap of what an organization already has (`bootstrap::Organization`).
//!
//! Moto evaluates no policy; the emulators map each request to the action, resource and context AWS
//! would evaluate and evaluate the policies the accounts hold with the policy engine (`xacct-policy`),
//! so a broken link fails here as it would in AWS. The sandbox reads what the accounts hold (`aws`),
//! never xacct's files or its model of the chain, so it can refuse what xacct got wrong.

pub mod apigw;
pub mod aws;
pub mod bootstrap;
pub mod deployments;
pub mod endpoint;
pub mod gateway;
pub mod operator;
pub mod org;

pub use aws::{Admin, ADMIN_ROLE};

/// STS caps a session assumed with a role's session credentials (role chaining) at one hour.
pub const ROLE_CHAINING_CAP: i64 = 3600;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub type Body = Full<Bytes>;

pub fn response(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Full::new(body.into())).expect("valid response")
}

pub type HttpClient =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

pub fn http_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// Why the sandbox cannot start or serve.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// An AWS call on moto failed (the SDK error and its sources, as one line).
    #[error("{what}: {detail}")]
    Aws { what: String, detail: String },
    #[error("{upstream} did not answer: {source}")]
    Upstream {
        upstream: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("cannot build a request: {0}")]
    Request(#[source] hyper::http::Error),
    #[error("the sandbox certificate authority: {0}")]
    Certificate(#[source] rcgen::Error),
    #[error("the sandbox TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    #[error("moto_server not found: run scripts/setup-moto (or pass --moto-url)")]
    NoMoto,
    #[error("moto_server did not start within 30 s")]
    MotoTimeout,
}

impl SandboxError {
    /// A closure for `map_err` that names what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
        let what = what.into();
        move |source| SandboxError::Io { what, source }
    }
    /// A closure for `map_err` over an SDK error.
    pub fn aws<E: std::error::Error>(what: impl Into<String>) -> impl FnOnce(E) -> SandboxError {
        let what = what.into();
        move |e| SandboxError::Aws {
            what,
            detail: crate::aws::chain(&e),
        }
    }
}

/// Send a request, as it was received, to `upstream`; return the whole answer.
pub async fn forward(
    client: &HttpClient,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<(hyper::http::response::Parts, Bytes), SandboxError> {
    use http_body_util::BodyExt;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut req = hyper::Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (k, v) in parts.headers.iter() {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(body)).map_err(SandboxError::Request)?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| SandboxError::Upstream {
            upstream: upstream.to_string(),
            source: e,
        })?;
    let (rparts, rbody) = resp.into_parts();
    let bytes = rbody
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok((rparts, bytes))
}

/// A response from an upstream answer (its framing headers are recomputed).
pub fn rebuild(parts: hyper::http::response::Parts, body: Bytes) -> Response<Body> {
    let mut out = Response::builder().status(parts.status);
    for (k, v) in parts.headers.iter() {
        if k != "transfer-encoding" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    out.body(Full::new(body))
        .unwrap_or_else(|_| response(502, &[], "bad upstream response"))
}

/// Who an access key belongs to, for keys that descend from a device certificate. Every other key
/// (an account's admin credentials and sessions assumed with them) passes through unchecked.
#[derive(Debug, Clone)]
pub struct Principal {
    /// arn:aws:sts::ACCT:assumed-role/NAME/SESSION
    pub session_arn: String,
    /// arn:aws:iam::ACCT:role/NAME
    pub role_arn: String,
    pub account: String,
    /// `ROLEID:SESSION` (`aws:userid`), when known.
    pub userid: Option<String>,
    /// The device of a session the credentials provider issued (`credentials-iot:*`).
    pub iot: Option<xacct_policy::context::IotDevice>,
}

/// The sandbox's certificate authority: signs the credentials endpoint's and the API Gateway
/// emulator's server certificates; its certificate is written to the sandbox directory (`ca.pem`)
/// for clients to trust (`XACCT_CA_BUNDLE`).
pub struct Ca {
    issuer: Mutex<rcgen::Issuer<'static, rcgen::KeyPair>>,
    der: rustls::pki_types::CertificateDer<'static>,
}

impl Ca {
    /// A new CA, its certificate written to `path`.
    pub fn create(path: &Path) -> Result<Ca, SandboxError> {
        let e = SandboxError::Certificate;
        let ca_key = rcgen::KeyPair::generate().map_err(e)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "xacct sandbox CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).map_err(e)?;
        std::fs::write(path, ca.pem())
            .map_err(SandboxError::io(format!("cannot write {}", path.display())))?;
        Ok(Ca {
            der: ca.der().clone(),
            issuer: Mutex::new(rcgen::Issuer::new(ca_params, ca_key)),
        })
    }

    /// A server certificate for `names` (host names or IP addresses), with the CA in its chain.
    pub fn issue(
        &self,
        names: &[&str],
        common_name: &str,
    ) -> Result<
        (
            Vec<rustls::pki_types::CertificateDer<'static>>,
            rustls::pki_types::PrivateKeyDer<'static>,
        ),
        SandboxError,
    > {
        let e = SandboxError::Certificate;
        let key = rcgen::KeyPair::generate().map_err(e)?;
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .map_err(e)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let cert = params
            .signed_by(&key, &*self.issuer.lock().unwrap())
            .map_err(e)?;
        Ok((
            vec![cert.der().clone(), self.der.clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
                key.serialize_der(),
            )),
        ))
    }
}

/// AWS's id of a certificate: the SHA-256 of its DER, in lower-case hex.
pub fn certificate_id(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the gateway has learned: enforced access keys, and the accounts and regions in use.
#[derive(Default)]
pub struct Registry {
    keys: Mutex<HashMap<String, Principal>>,
    /// The secret of each enforced key (seen when its session was issued), to check signatures.
    secrets: Mutex<HashMap<String, String>>,
    accounts: Mutex<BTreeSet<String>>,
    regions: Mutex<BTreeSet<String>>,
    /// SHA-256 of a certificate's DER → (account, region, certificate id): recorded when IoT creates
    /// or registers it through the gateway, or when the endpoint finds it.
    pub certificates: Mutex<HashMap<String, (String, String, String)>>,
    /// The account each session key issued through the gateway acts in.
    sessions: Mutex<HashMap<String, String>>,
    /// The sessions of roles not in a chain (the operator's), by key: (account, role ARN, session
    /// ARN), for `operator` enforcement.
    operators: Mutex<HashMap<String, (String, String, String)>>,
    /// What each API deployment serves, by (API id, deployment id): taken at CreateDeployment.
    deployments: Mutex<HashMap<(String, String), deployments::Deployment>>,
    /// The credentials endpoint's behaviour towards one certificate (by certificate id), set by a
    /// test through the gateway's control path: its clock, the lifetime it issues, and the number
    /// of requests it answered.
    devices: Mutex<HashMap<String, DeviceControl>>,
    /// The organizations the sandbox keeps itself (`org::OrgModel`), made by the bootstrap.
    orgs: Mutex<Vec<org::OrgModel>>,
}

/// How the credentials endpoint treats one device (tests set it; the default is AWS's behaviour).
#[derive(Debug, Clone, Default)]
pub struct DeviceControl {
    /// The endpoint's clock minus the real one, in seconds (its `Date` and `expiration` follow it).
    pub clock_offset: i64,
    /// Issue credentials that expire this many seconds after issue (None: the alias's duration).
    pub expires_in: Option<i64>,
    /// Requests for credentials the endpoint answered for this certificate.
    pub requests: u64,
}

impl DeviceControl {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"clock_offset": self.clock_offset, "expires_in": self.expires_in, "requests": self.requests})
    }
}

impl Registry {
    /// Keep an organization of the sandbox's own (replacing one with the same management account).
    pub fn add_org(&self, m: org::OrgModel) {
        let mut v = self.orgs.lock().unwrap();
        v.retain(|o| o.management != m.management);
        v.push(m);
    }
    /// The sandbox's own organization `account` belongs to (as a member or its management).
    pub fn org_model_of(&self, account: &str) -> Option<org::OrgModel> {
        self.orgs
            .lock()
            .unwrap()
            .iter()
            .find(|o| o.management == account || o.parents.contains_key(account))
            .cloned()
    }
    /// Set how the endpoint treats certificate `id` (None fields keep their value).
    pub fn control_device(
        &self,
        id: &str,
        clock_offset: Option<i64>,
        expires_in: Option<Option<i64>>,
    ) -> DeviceControl {
        let mut m = self.devices.lock().unwrap();
        let d = m.entry(id.to_string()).or_default();
        if let Some(o) = clock_offset {
            d.clock_offset = o;
        }
        if let Some(e) = expires_in {
            d.expires_in = e;
        }
        d.clone()
    }
    /// How the endpoint treats certificate `id`, if a test set it.
    pub fn device_control_of(&self, id: &str) -> Option<DeviceControl> {
        self.devices.lock().unwrap().get(id).cloned()
    }
    /// Count a request of certificate `id`; how the endpoint treats it.
    pub fn device_request(&self, id: &str) -> DeviceControl {
        let mut m = self.devices.lock().unwrap();
        let d = m.entry(id.to_string()).or_default();
        d.requests += 1;
        d.clone()
    }
    pub fn saw_operator(&self, akid: &str, account: &str, role_arn: &str, session_arn: &str) {
        self.operators.lock().unwrap().insert(
            akid.to_string(),
            (account.into(), role_arn.into(), session_arn.into()),
        );
    }
    pub fn operator(&self, akid: &str) -> Option<(String, String, String)> {
        self.operators.lock().unwrap().get(akid).cloned()
    }
    /// What deployment `deployment` of API `api` serves, when it was created through the gateway.
    pub fn deployment(&self, api: &str, deployment: &str) -> Option<deployments::Deployment> {
        self.deployments
            .lock()
            .unwrap()
            .get(&(api.to_string(), deployment.to_string()))
            .cloned()
    }
    pub fn deployed(&self, api: &str, deployment: &str, d: deployments::Deployment) {
        self.deployments
            .lock()
            .unwrap()
            .insert((api.to_string(), deployment.to_string()), d);
    }
    pub fn principal(&self, akid: &str) -> Option<Principal> {
        self.keys.lock().unwrap().get(akid).cloned()
    }
    pub fn register(&self, akid: &str, p: Principal) {
        self.accounts.lock().unwrap().insert(p.account.clone());
        self.keys.lock().unwrap().insert(akid.to_string(), p);
    }
    pub fn remember_secret(&self, akid: &str, secret: &str) {
        self.secrets
            .lock()
            .unwrap()
            .insert(akid.to_string(), secret.to_string());
    }
    pub fn secret(&self, akid: &str) -> Option<String> {
        self.secrets.lock().unwrap().get(akid).cloned()
    }
    /// A session key `akid` was issued for account `account`.
    pub fn saw_session(&self, akid: &str, account: &str) {
        self.sessions
            .lock()
            .unwrap()
            .insert(akid.to_string(), account.to_string());
    }
    /// The account a session key issued through the gateway acts in.
    pub fn session_account(&self, akid: &str) -> Option<String> {
        self.sessions.lock().unwrap().get(akid).cloned()
    }
    /// IoT holds the certificate `pem` as `id` in (account, region).
    pub fn saw_certificate(&self, pem: &str, account: &str, region: &str, id: &str) {
        use rustls::pki_types::pem::PemObject;
        let Ok(der) = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()) else {
            return;
        };
        self.certificates.lock().unwrap().insert(
            certificate_id(der.as_ref()),
            (account.to_string(), region.to_string(), id.to_string()),
        );
    }
    pub fn saw_account(&self, a: &str) {
        if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) {
            self.accounts.lock().unwrap().insert(a.to_string());
        }
    }
    pub fn saw_region(&self, r: &str) {
        self.regions.lock().unwrap().insert(r.to_string());
    }
    pub fn accounts(&self) -> Vec<String> {
        self.accounts.lock().unwrap().iter().cloned().collect()
    }
    pub fn regions(&self) -> Vec<String> {
        self.regions.lock().unwrap().iter().cloned().collect()
    }
}

/// Shared state of the sandbox servers.
pub struct State {
    pub moto: String,
    pub registry: Registry,
    pub admin: Admin,
}

/// What the sandbox runs moto with, so that it behaves as AWS does where moto 5.2.5 does not:
/// - certificate ids are AWS's (the SHA-256 of the certificate's DER): moto's `use_valid_cert`,
///   which only its in-process user config sets (its config API ignores an `iot` section), so the
///   credentials endpoint finds a certificate by its id instead of scanning every account;
/// - DeleteCertificate works once an IoT policy is attached to a thing group (moto's delete check
///   asks every policy target for a `certificate_id`, which a thing group lacks).
///
/// When the interpreter of the `moto_server` script is next to it, moto is started through it with
/// these two changes; otherwise as is.
pub const MOTO_LAUNCHER: &str = "import sys\nfrom moto.core.config import default_user_config\ndefault_user_config['iot']['use_valid_cert'] = True\nimport moto.iot.models as m\nif not hasattr(m.FakeThingGroup, 'certificate_id'):\n    m.FakeThingGroup.certificate_id = None\nfrom moto.server import main\nsys.argv = ['moto_server'] + sys.argv[1:]\nmain()\n";

/// The command that starts moto_server `bin` (through its interpreter with `MOTO_LAUNCHER` when
/// that interpreter is beside it). The tests start their moto with it too.
pub fn moto_command(bin: &Path) -> std::process::Command {
    let python = bin.with_file_name("python");
    if python.exists() {
        let mut c = std::process::Command::new(python);
        c.args(["-c", MOTO_LAUNCHER]);
        c
    } else {
        std::process::Command::new(bin)
    }
}

/// Find moto_server: $XACCT_MOTO_SERVER, ./.venv, beside the binary, or the .venv of the workspace the
/// sandbox was built in.
pub fn moto_server_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("XACCT_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let mut candidates = vec![PathBuf::from(".venv/bin/moto_server")];
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(4) {
            candidates.push(dir.join(".venv/bin/moto_server"));
        }
    }
    // the workspace this crate was built in (crates/xacct-sandbox → the root's .venv)
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"));
    candidates.into_iter().find(|p| p.exists())
}

/// POST a JSON body to moto's own API.
pub async fn moto_config(moto: &str, body: &str) -> Result<(), SandboxError> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Body>();
    let req = hyper::Request::post(format!("{moto}/moto-api/config"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(SandboxError::Request)?;
    client
        .request(req)
        .await
        .map_err(|e| SandboxError::Upstream {
            upstream: format!("moto at {moto}"),
            source: e,
        })?;
    Ok(())
}

/// A running sandbox.
pub struct Sandbox {
    pub moto: String,
    pub gateway: String,
    pub endpoint: String,
    /// host:port of the API Gateway emulator (`XACCT_EXECUTE_API_ENDPOINT`).
    pub execute_api: String,
    pub ca_bundle: PathBuf,
    pub state: Arc<State>,
    _moto_child: Option<tokio::process::Child>,
}

/// Start moto (unless `moto_url`), the gateway and the credentials endpoint.
pub async fn start(moto_url: Option<&str>, dir: &Path) -> Result<Sandbox, SandboxError> {
    let (moto, child) = match moto_url {
        Some(u) => (u.trim_end_matches('/').to_string(), None),
        None => {
            let bin = moto_server_path().ok_or(SandboxError::NoMoto)?;
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(SandboxError::io("cannot find a free port"))?
                .port();
            let child = tokio::process::Command::from(moto_command(&bin))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(SandboxError::io(format!("cannot start {}", bin.display())))?;
            let url = format!("http://127.0.0.1:{port}");
            let t = std::time::Instant::now();
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                if t.elapsed() > std::time::Duration::from_secs(30) {
                    return Err(SandboxError::MotoTimeout);
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            (url, Some(child))
        }
    };
    moto_config(&moto, r#"{"lambda":{"use_docker":false}}"#).await?;
    let state = Arc::new(State {
        moto: moto.clone(),
        registry: Registry::default(),
        admin: Admin::new(&moto),
    });
    let gateway = gateway::serve(state.clone()).await?;
    std::fs::create_dir_all(dir)
        .map_err(SandboxError::io(format!("cannot create {}", dir.display())))?;
    let ca_bundle = dir.join("ca.pem");
    let ca = Arc::new(Ca::create(&ca_bundle)?);
    let endpoint = endpoint::serve(state.clone(), &ca).await?;
    let execute_api = apigw::serve(state.clone(), ca).await?;
    Ok(Sandbox {
        moto,
        gateway,
        endpoint,
        execute_api,
        ca_bundle,
        state,
        _moto_child: child,
    })
}

/// `xacct sandbox up`: start the sandbox, create what each organization already has, print the
/// environment variables that point clients at it, and serve until Ctrl-C or SIGTERM.
pub async fn up(
    moto_url: Option<&str>,
    organizations: &[bootstrap::Organization],
    dir: &Path,
) -> Result<(), SandboxError> {
    let sb = start(moto_url, dir).await?;
    for org in organizations {
        bootstrap::bootstrap(&sb.state, org, dir).await?;
    }
    let ca = std::fs::canonicalize(&sb.ca_bundle).unwrap_or(sb.ca_bundle.clone());
    println!("export AWS_ENDPOINT_URL={}", sb.gateway);
    println!(
        "export XACCT_CREDENTIALS_ENDPOINT={}",
        sb.endpoint.trim_start_matches("https://")
    );
    println!("export XACCT_CA_BUNDLE={}", ca.display());
    println!("export XACCT_EXECUTE_API_ENDPOINT={}", sb.execute_api);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(SandboxError::io("cannot catch SIGTERM"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop(sb);
    Ok(())
}
