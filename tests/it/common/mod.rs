//! Test support: the test binary's one moto server (or the one in XACCT_MOTO_URL), random accounts and
//! names, running the xacct binary against it, and SDK clients to read back independently.
#![allow(dead_code)]

pub mod injector;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn rand_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}

/// A random 12-digit account id (never 123456789012, moto's default account).
pub fn account() -> String {
    loop {
        let a = format!("{:012}", rand_u64() % 1_000_000_000_000);
        if a != "123456789012" && !a.starts_with('0') {
            return a;
        }
    }
}

/// A random lowercase name with a prefix.
pub fn name(prefix: &str) -> String {
    format!("{prefix}{:x}", rand_u64() % 0xffffff)
}

pub fn region() -> &'static str {
    const R: &[&str] = &[
        "ap-northeast-1",
        "eu-west-1",
        "us-east-2",
        "sa-east-1",
        "eu-central-1",
    ];
    R[(rand_u64() % R.len() as u64) as usize]
}

fn moto_server_path() -> PathBuf {
    if let Ok(p) = std::env::var("XACCT_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    root().join(".venv/bin/moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Start a moto server that dies with this process.
pub fn start_moto() -> String {
    let bin = moto_server_path();
    assert!(
        bin.exists(),
        "moto is not installed at {} — run scripts/setup-moto (scripts/test does it)",
        bin.display()
    );
    for _ in 0..5 {
        let port = free_port();
        // as the sandbox starts it (with its fix for moto's DeleteCertificate)
        let mut cmd = xacct_sandbox::moto_command(&bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        // moto lives as long as the test process: PR_SET_PDEATHSIG ends it with the process, so
        // the child is deliberately never waited for.
        #[allow(clippy::zombie_processes)]
        let _child = cmd.spawn().expect("start moto_server");
        if wait_port(port) {
            let url = format!("http://127.0.0.1:{port}");
            http_post(
                &url,
                "/moto-api/config",
                r#"{"lambda":{"use_docker":false}}"#,
            );
            return url;
        }
    }
    panic!("moto_server did not start");
}

/// The moto server of this test binary.
pub fn moto() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("XACCT_MOTO_URL").unwrap_or_else(|_| {
            // PR_SET_PDEATHSIG fires when the spawning *thread* ends: spawn from one that never does.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                tx.send(start_moto()).unwrap();
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("moto started")
        })
    })
}

/// A minimal HTTP POST (for moto's own API).
pub fn http_post(base: &str, path: &str, body: &str) -> String {
    let hostport = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(hostport).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A TCP listener that counts connections and answers nothing useful: point AWS_ENDPOINT_URL at it to
/// prove that no AWS request was made.
pub struct Tripwire {
    pub url: String,
    pub hits: Arc<AtomicUsize>,
}

impl Tripwire {
    pub fn new() -> Tripwire {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                h.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
        Tripwire { url, hits }
    }
    pub fn count(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// One environment of a generated file.
#[derive(Clone, Debug)]
pub struct Env {
    pub name: String,
    pub account: String,
    pub functions: Vec<String>,
}

/// A generated fleet: random names and accounts, reached through assume_role like an organization.
#[derive(Clone, Debug)]
pub struct Fleet {
    pub fleet: String,
    pub region: String,
    pub iot_account: String,
    pub envs: Vec<Env>,
    pub certificates: Vec<String>,
    pub dir: PathBuf,
}

impl Fleet {
    pub fn new(n_envs: usize) -> Fleet {
        let dir = std::env::temp_dir().join(name("xacct-test-"));
        std::fs::create_dir_all(&dir).unwrap();
        Fleet {
            fleet: name("fl"),
            region: region().to_string(),
            iot_account: account(),
            envs: (0..n_envs)
                .map(|i| Env {
                    name: format!("{}{i}", name("e")),
                    account: account(),
                    functions: vec![name("fn"), name("fn")],
                })
                .collect(),
            certificates: vec![],
            dir,
        }
    }

    pub fn admin(account: &str) -> String {
        format!("arn:aws:iam::{account}:role/Admin")
    }

    pub fn yaml(&self) -> String {
        let mut y = format!(
            "fleet: {}\nregion: {}\niot:\n  account: \"{}\"\n  assume_role: {}\n",
            self.fleet,
            self.region,
            self.iot_account,
            Fleet::admin(&self.iot_account)
        );
        if !self.certificates.is_empty() {
            y.push_str(&format!(
                "  certificates: [{}]\n",
                self.certificates
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        y.push_str("environments:\n");
        for e in &self.envs {
            y.push_str(&format!(
                "  {}:\n    account: \"{}\"\n    assume_role: {}\n    functions: [{}]\n",
                e.name,
                e.account,
                Fleet::admin(&e.account),
                e.functions.join(", ")
            ));
        }
        y
    }

    /// Write the environment file and return its path.
    pub fn write(&self) -> PathBuf {
        let p = self.dir.join("fleet.yaml");
        std::fs::write(&p, self.yaml()).unwrap();
        p
    }

    pub fn iot_role(&self) -> String {
        format!("{}-device", self.fleet)
    }
    pub fn iot_role_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:role/{}-device",
            self.iot_account, self.fleet
        )
    }
    pub fn alias(&self) -> String {
        format!("{}-device", self.fleet)
    }
    pub fn alias_arn(&self) -> String {
        format!(
            "arn:aws:iot:{}:{}:rolealias/{}-device",
            self.region, self.iot_account, self.fleet
        )
    }
    pub fn policy(&self) -> String {
        format!("{}-device-credentials", self.fleet)
    }
    pub fn target_role(&self, e: &Env) -> String {
        format!("{}-{}", self.fleet, e.name)
    }
    pub fn target_role_arn(&self, e: &Env) -> String {
        format!("arn:aws:iam::{}:role/{}-{}", e.account, self.fleet, e.name)
    }
}

/// Run xacct with the given endpoint and isolated AWS config.
pub fn xacct_at(endpoint: &str, args: &[&str], stdin: Option<&str>) -> Output {
    xacct_env(endpoint, args, stdin, &[])
}

/// Same, with extra environment variables.
pub fn xacct_env(
    endpoint: &str,
    args: &[&str],
    stdin: Option<&str>,
    extra: &[(&str, &str)],
) -> Output {
    let home = std::env::temp_dir().join("xacct-test-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xacct"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // `creds` caches: each run its own cache, unless a test passes --cache-dir
        .env("XACCT_CACHE_DIR", home.join(name("cache-")))
        .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run xacct");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn xacct(args: &[&str]) -> Output {
    xacct_at(moto(), args, None)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run xacct and require exit code `code`.
pub fn run_ok(args: &[&str], code: i32) -> Output {
    let o = xacct(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "xacct {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    o
}

pub fn file_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `plan --json` parsed.
pub fn plan_json(file: &Path) -> serde_json::Value {
    let f = file_arg(file);
    let o = xacct(&["plan", "-f", &f, "--json"]);
    assert_eq!(o.status.code(), Some(0), "plan failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("plan --json prints JSON")
}

/// Apply with --auto-approve, then require that the next plan is empty (detailed exit code 0).
pub fn apply_converges(file: &Path) {
    let f = file_arg(file);
    run_ok(&["apply", "-f", &f, "--auto-approve"], 0);
    run_ok(&["plan", "-f", &f, "--detailed-exitcode"], 0);
}

/// SDK clients acting in `account` (through assume_role, as an organization's admin would).
pub struct Sdk {
    pub iam: aws_sdk_iam::Client,
    pub iot: aws_sdk_iot::Client,
    pub lambda: aws_sdk_lambda::Client,
}

pub async fn sdk(account: &str, region: &str) -> Sdk {
    sdk_at(moto(), account, region).await
}

/// SDK clients acting in `account` through `endpoint` (moto, or the sandbox gateway).
pub async fn sdk_at(endpoint: &str, account: &str, region: &str) -> Sdk {
    let conf = admin_config(endpoint, account, region).await;
    Sdk {
        iam: aws_sdk_iam::Client::new(&conf),
        iot: aws_sdk_iot::Client::new(&conf),
        lambda: aws_sdk_lambda::Client::new(&conf),
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Parse a document as IAM returns it (URL-encoded JSON).
pub fn doc(raw: &str) -> serde_json::Value {
    xacct::policy::parse_document(raw).unwrap()
}

/// Create the functions of every environment (and an execution role), as an organization already has.
pub async fn create_functions(f: &Fleet) {
    create_functions_at(moto(), f).await
}

pub async fn create_functions_at(endpoint: &str, f: &Fleet) {
    // the smallest valid zip archive: an empty end-of-central-directory record
    let mut zip = b"PK\x05\x06".to_vec();
    zip.extend_from_slice(&[0u8; 18]);
    for e in &f.envs {
        let s = sdk_at(endpoint, &e.account, &f.region).await;
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let role = match s
            .iam
            .create_role()
            .role_name("lambda-exec")
            .assume_role_policy_document(trust)
            .send()
            .await
        {
            Ok(r) => r.role().unwrap().arn().to_string(),
            Err(_) => s
                .iam
                .get_role()
                .role_name("lambda-exec")
                .send()
                .await
                .unwrap()
                .role()
                .unwrap()
                .arn()
                .to_string(),
        };
        for func in &e.functions {
            s.lambda
                .create_function()
                .function_name(func)
                .runtime(aws_sdk_lambda::types::Runtime::Python312)
                .role(&role)
                .handler("index.handler")
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_smithy_types::Blob::new(zip.clone()))
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    }
}

/// A running `xacct sandbox up` (one per test binary, on its moto).
pub struct SandboxEnv {
    pub gateway: String,
    pub endpoint: String,
    pub ca_bundle: String,
    pub execute_api: String,
}

impl SandboxEnv {
    pub fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("XACCT_CREDENTIALS_ENDPOINT", self.endpoint.as_str()),
            ("XACCT_CA_BUNDLE", self.ca_bundle.as_str()),
            ("XACCT_EXECUTE_API_ENDPOINT", self.execute_api.as_str()),
        ]
    }
    /// Run xacct against the sandbox; what it prints (but for `creds`) is also recorded for the
    /// secret scan.
    pub fn xacct(&self, args: &[&str]) -> Output {
        let o = xacct_env(&self.gateway, args, None, &self.env());
        // `creds` prints credentials by design (for credential_process): not part of the scan
        if args.first() != Some(&"creds") {
            OUTPUTS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{}{}", stdout(&o), stderr(&o)));
        }
        o
    }
}

/// Everything xacct printed in this test binary (for the secret scan).
pub static OUTPUTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

pub fn sandbox() -> &'static SandboxEnv {
    static SB: OnceLock<SandboxEnv> = OnceLock::new();
    SB.get_or_init(|| {
        let dir = std::env::temp_dir().join(name("xacct-sandbox-"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_xacct"));
            // on the test binary's one moto
            cmd.args(["sandbox", "up", "--dir", &dir.to_string_lossy()]);
            cmd.args(["--moto-url", moto()]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            let mut child = cmd.spawn().expect("start xacct sandbox up");
            let out = child.stdout.take().unwrap();
            let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
            let mut vars = std::collections::HashMap::new();
            while vars.len() < 4 {
                let Some(Ok(l)) = lines.next() else {
                    panic!("sandbox up ended early")
                };
                if let Some((k, v)) = l.strip_prefix("export ").and_then(|r| r.split_once('=')) {
                    vars.insert(k.to_string(), v.to_string());
                }
            }
            tx.send(SandboxEnv {
                gateway: vars["AWS_ENDPOINT_URL"].clone(),
                endpoint: vars["XACCT_CREDENTIALS_ENDPOINT"].clone(),
                ca_bundle: vars["XACCT_CA_BUNDLE"].clone(),
                execute_api: vars["XACCT_EXECUTE_API_ENDPOINT"].clone(),
            })
            .unwrap();
            let _child = child;
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("sandbox started")
    })
}

/// A fleet of `n` environments with one registered, active device certificate (and, with
/// `functions`, the environments' Lambda functions); its environment file written.
pub fn fleet_with_cert(n: usize, functions: bool) -> (Fleet, PathBuf) {
    let mut f = Fleet::new(n);
    let cert = rt().block_on(async {
        if functions {
            create_functions(&f).await;
        }
        let s = sdk(&f.iot_account, &f.region).await;
        s.iot
            .create_keys_and_certificate()
            .set_as_active(true)
            .send()
            .await
            .unwrap()
            .certificate_id()
            .unwrap()
            .to_string()
    });
    f.certificates.push(cert);
    let file = f.write();
    (f, file)
}

/// Give `role` a permissions boundary that allows only sts:GetCallerIdentity; returns its ARN.
pub async fn set_narrow_boundary(s: &Sdk, role: &str) -> String {
    let doc = serde_json::json!({"Version":"2012-10-17","Statement":[{"Sid":"NoInvoke","Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]});
    let p = s
        .iam
        .create_policy()
        .policy_name(name("boundary"))
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap();
    let arn = p.policy().unwrap().arn().unwrap().to_string();
    s.iam
        .put_role_permissions_boundary()
        .role_name(role)
        .permissions_boundary(&arn)
        .send()
        .await
        .unwrap();
    arn
}

/// One environment of a `check --json` or `verify --json` report.
pub fn report_env<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["env"] == name)
        .unwrap_or_else(|| panic!("no env {name} in {v}"))
}

/// One hop of an environment of a `check --json` or `verify --json` report.
pub fn report_hop<'a>(v: &'a serde_json::Value, env: &str, hop: &str) -> &'a serde_json::Value {
    report_env(v, env)["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hop"] == hop)
        .unwrap_or_else(|| panic!("no hop {hop} for {env} in {v}"))
}

/// One part of a hop of an environment of a `check --json` report (`iot_policy`, `target_trust`, …).
pub fn report_part<'a>(v: &'a serde_json::Value, env: &str, part: &str) -> &'a serde_json::Value {
    report_env(v, env)["hops"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["parts"].as_array())
        .flatten()
        .find(|p| p["part"] == part)
        .unwrap_or_else(|| panic!("no part {part} for {env} in {v}"))
}

/// What fails in an environment of a `check --json` report: each failing part by its name, and each
/// failing hop that has no parts by its own.
pub fn failing_parts(env: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for h in env["hops"].as_array().unwrap() {
        match h["parts"].as_array() {
            Some(parts) => out.extend(
                parts
                    .iter()
                    .filter(|p| p["ok"] == false)
                    .map(|p| p["part"].as_str().unwrap().to_string()),
            ),
            None if h["ok"] == false => out.push(h["hop"].as_str().unwrap().to_string()),
            None => {}
        }
    }
    out
}

/// The hop names of an environment of a report, in order.
pub fn report_hop_names(v: &serde_json::Value, env: &str) -> Vec<String> {
    report_env(v, env)["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hop"].as_str().unwrap().to_string())
        .collect()
}

/// An SDK config acting in `account` through `endpoint`, by assuming its admin role as an
/// organization's admin would.
pub async fn admin_config(endpoint: &str, account: &str, region: &str) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(Fleet::admin(account))
        .session_name("test")
        .configure(&base)
        .build()
        .await;
    base.into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}

/// A member account created in the organization `o` manages.
pub async fn member_account(o: &aws_sdk_organizations::Client, label: &str) -> String {
    let a = o
        .create_account()
        .account_name(label)
        .email(format!("{}@example.com", name("m")))
        .send()
        .await
        .unwrap();
    a.create_account_status()
        .unwrap()
        .account_id()
        .unwrap()
        .to_string()
}

/// A control policy of `kind` with `content`, attached to `target`; its id.
pub async fn attached_policy(
    o: &aws_sdk_organizations::Client,
    name: &str,
    kind: aws_sdk_organizations::types::PolicyType,
    content: serde_json::Value,
    target: &str,
) -> String {
    let p = o
        .create_policy()
        .name(name)
        .description(name)
        .r#type(kind)
        .content(content.to_string())
        .send()
        .await
        .unwrap();
    let pid = p
        .policy()
        .unwrap()
        .policy_summary()
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    o.attach_policy()
        .policy_id(&pid)
        .target_id(target)
        .send()
        .await
        .unwrap();
    pid
}

/// Give the file the `organization:` section of `management` (reached through its Admin role).
pub fn with_organization(file: &std::path::Path, management: &str) {
    let yaml = std::fs::read_to_string(file).unwrap()
        + &format!(
            "organization:\n  account: \"{management}\"\n  assume_role: {}\n",
            Fleet::admin(management)
        );
    std::fs::write(file, yaml).unwrap();
}

/// A new organization (all features) that `management` manages, reached through `endpoint`.
pub struct Org {
    pub o: aws_sdk_organizations::Client,
    pub id: String,
    pub root: String,
}

pub async fn new_organization(endpoint: &str, management: &str, region: &str) -> Org {
    let o = aws_sdk_organizations::Client::new(&admin_config(endpoint, management, region).await);
    let org = o
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let id = org.organization().unwrap().id().unwrap().to_string();
    let root = o.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_string();
    Org { o, id, root }
}

/// An OU `name` under the root, holding `account` (moved from the root); its id.
pub async fn ou_holding(org: &Org, name: &str, account: &str) -> String {
    let ou = org
        .o
        .create_organizational_unit()
        .parent_id(&org.root)
        .name(name)
        .send()
        .await
        .unwrap()
        .organizational_unit()
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    org.o
        .move_account()
        .account_id(account)
        .source_parent_id(&org.root)
        .destination_parent_id(&ou)
        .send()
        .await
        .unwrap();
    ou
}
