//! Devices in production, in the sandbox: `creds` caches (one request to the credentials endpoint
//! per window, one for concurrent callers, the cache standing in only while the endpoint cannot be
//! reached), `serve-credentials` hands credentials to the AWS SDK for Python the way a container
//! endpoint does (token, no Origin, loopback only, refreshed ahead of expiry), and a device clock
//! hours off still gets credentials whose expiry is in its own clock.

use crate::common::*;
use crate::verify::Setup;
use serde_json::Value;
use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};

/// How the sandbox's credentials endpoint treats a certificate (and how many requests it answered).
fn control(cert_id: &str, set: &str) -> Value {
    let gw = sandbox().gateway.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&gw).unwrap();
    write!(
        s,
        "GET /_xacct_sandbox/device?certificate_id={cert_id}{set} HTTP/1.1\r\nHost: {gw}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("control answered: {out}"))
}

fn requests(cert_id: &str) -> u64 {
    control(cert_id, "")["requests"].as_u64().unwrap()
}

fn creds(s: &Setup, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "creds".to_string(),
        "-f".into(),
        file_arg(&s.file),
        "--env".into(),
        s.f.envs[0].name.clone(),
        "--cert".into(),
        file_arg(&s.cert),
        "--key".into(),
        file_arg(&s.key),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    xacct_env(&sandbox().gateway, &refs, None, &sandbox().env())
}

fn expiry_of(o: &std::process::Output) -> i64 {
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}{}", stdout(o), stderr(o)));
    aws_smithy_types::DateTime::from_str(
        v["Expiration"].as_str().unwrap(),
        aws_smithy_types::date_time::Format::DateTime,
    )
    .unwrap()
    .secs()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Two calls within the window make one request; concurrent callers make one between them; the
/// cache directory is 0700 and its entries 0600, and the device key is not in them.
#[test]
fn creds_within_the_window_and_concurrent_creds_make_one_request() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::new(1);
    let dir = s.f.dir.join("cache");
    let d = file_arg(&dir);
    let first = creds(&s, &["--cache-dir", &d]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = creds(&s, &["--cache-dir", &d]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(first.stdout, second.stdout, "the cached answer");
    assert_eq!(requests(&s.cert_id), 1);
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let key = std::fs::read_to_string(&s.key).unwrap();
    let body = key
        .lines()
        .find(|l| !l.starts_with("-----"))
        .unwrap()
        .to_string();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".json") {
            assert_eq!(e.metadata().unwrap().permissions().mode() & 0o777, 0o600);
            assert!(!std::fs::read_to_string(e.path()).unwrap().contains(&body));
        }
    }
    // a new cache, four callers at once: one request
    let dir2 = file_arg(&s.f.dir.join("cache2"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let args = [
                "creds".to_string(),
                "-f".into(),
                file_arg(&s.file),
                "--env".into(),
                s.f.envs[0].name.clone(),
                "--cert".into(),
                file_arg(&s.cert),
                "--key".into(),
                file_arg(&s.key),
                "--cache-dir".into(),
                dir2.clone(),
            ];
            std::thread::spawn(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                xacct_env(&sandbox().gateway, &refs, None, &sandbox().env())
            })
        })
        .collect();
    for h in handles {
        let o = h.join().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    assert_eq!(requests(&s.cert_id), 2, "one more request for the four");
    // --no-cache asks every time
    let o = creds(&s, &["--no-cache"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(requests(&s.cert_id), 3);
}

/// When the credentials endpoint cannot be reached, a still-valid cached entry is returned with a
/// warning; once it has expired the call fails with words that say so; and after the endpoint
/// refused (403), the cache never stands in.
#[test]
fn the_cache_stands_in_only_while_the_endpoint_cannot_be_reached_and_the_entry_is_valid() {
    let s = Setup::new(1);
    let d = file_arg(&s.f.dir.join("cache"));
    // credentials that live 6 seconds
    control(&s.cert_id, "&expires_in=6");
    let first = creds(&s, &["--cache-dir", &d]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let dead = ["--cache-dir", &d, "--credentials-endpoint", "127.0.0.1:1"];
    let o = creds(&s, &dead);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, first.stdout);
    assert!(
        stderr(&o).contains("warning") && stderr(&o).contains("using the cached credentials"),
        "{}",
        stderr(&o)
    );
    std::thread::sleep(std::time::Duration::from_secs(7));
    let o = creds(&s, &dead);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("cannot connect to the credentials endpoint 127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
    // a fresh, valid entry; then the endpoint refuses the certificate: no cached answer
    control(&s.cert_id, "&expires_in=none");
    let ok = creds(&s, &["--cache-dir", &d]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    rt().block_on(async {
        let i = sdk_at(&sandbox().gateway, &s.f.iot_account, &s.f.region).await;
        i.iot
            .update_certificate()
            .certificate_id(&s.cert_id)
            .new_status(aws_sdk_iot::types::CertificateStatus::Inactive)
            .send()
            .await
            .unwrap();
    });
    let refused = creds(&s, &["--cache-dir", &d, "--max-age", "0"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    assert!(stderr(&refused).contains("403"), "{}", stderr(&refused));
    assert!(refused.stdout.is_empty());
}

/// A device whose clock is hours ahead of AWS's: the endpoint's expiry is written in the device's
/// clock (about an hour from the device's now, not hours in its past), and creds says once that the
/// clock is off.
#[test]
fn a_device_clock_hours_off_gets_an_expiry_in_its_own_clock() {
    let s = Setup::new(1);
    // the endpoint's clock is 3 hours behind this device's
    control(&s.cert_id, "&clock_offset=-10800");
    let o = creds(&s, &["--no-cache"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let exp = expiry_of(&o);
    let left = exp - now();
    assert!(
        (600..=3700).contains(&left),
        "the expiry is {left} s from the device's now"
    );
    assert!(
        stderr(&o).contains("clock is 3h00m ahead of the credentials endpoint's"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).matches("warning").count(), 1);
    control(&s.cert_id, "&clock_offset=0");
}

/// The serve-credentials process of a test, stopped (SIGTERM) when dropped.
struct Server {
    child: std::process::Child,
    uri: String,
    token_file: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn serve(s: &Setup, extra: &[&str]) -> Server {
    let token = s.f.dir.join("token");
    // the device's thing, its certificate attached
    let thing = name("gw-");
    rt().block_on(async {
        let i = sdk_at(&sandbox().gateway, &s.f.iot_account, &s.f.region).await;
        i.iot
            .create_thing()
            .thing_name(&thing)
            .send()
            .await
            .unwrap();
        i.iot
            .attach_thing_principal()
            .thing_name(&thing)
            .principal(&s.cert_arn)
            .send()
            .await
            .unwrap();
    });
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xacct"));
    cmd.args([
        "serve-credentials",
        "-f",
        &file_arg(&s.file),
        "--cert",
        &file_arg(&s.cert),
        "--key",
        &file_arg(&s.key),
        "--thing-name",
        &thing,
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        &file_arg(&token),
    ])
    .args(extra)
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("HOME", std::env::temp_dir())
    .env("AWS_ENDPOINT_URL", &sandbox().gateway)
    .envs(sandbox().env())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut child = cmd.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut uri = String::new();
    let mut token_file = String::new();
    while let Some(Ok(l)) = lines.next() {
        if let Some(u) = l.strip_prefix("export AWS_CONTAINER_CREDENTIALS_FULL_URI=") {
            uri = u.to_string();
        }
        if let Some(t) = l.strip_prefix("export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=") {
            token_file = t.to_string();
            break;
        }
    }
    assert!(!uri.is_empty() && !token_file.is_empty());
    Server {
        child,
        uri,
        token_file,
    }
}

fn get(uri: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let rest = uri.trim_start_matches("http://");
    let (hostport, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    let mut req = format!("GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        out.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
    )
}

/// The AWS SDK for Python, with only AWS_CONTAINER_CREDENTIALS_FULL_URI and the token file, invokes
/// the environment's function through the server, and again after the server refreshed the
/// credentials (they live 40 s here, refreshed 30 s ahead); a wrong token is refused (401), a
/// request with an Origin header (403), and a --listen that is not loopback (exit 1).
#[test]
fn boto3_invokes_through_the_credentials_server_across_a_refresh() {
    let s = Setup::new(1);
    control(&s.cert_id, "&expires_in=40");
    let srv = serve(&s, &["--refresh-before", "30"]);
    let token = std::fs::read_to_string(&srv.token_file).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&srv.token_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (code, body) = get(&srv.uri, &[("Authorization", &token)]);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    for k in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(v[k].is_string(), "{k}: {v}");
    }
    assert_eq!(get(&srv.uri, &[("Authorization", "wrong")]).0, 401);
    assert_eq!(get(&srv.uri, &[]).0, 401);
    assert_eq!(
        get(
            &srv.uri,
            &[
                ("Authorization", &token),
                ("Origin", "https://evil.example")
            ]
        )
        .0,
        403
    );
    let before = requests(&s.cert_id);
    let function = s.f.envs[0].functions[0].clone();
    let script = format!(
        r#"
import time, boto3
c = boto3.Session(region_name="{region}").client("lambda")
print(c.invoke(FunctionName="{function}", InvocationType="DryRun")["StatusCode"])
time.sleep(14)
print(c.invoke(FunctionName="{function}", InvocationType="DryRun")["StatusCode"])
"#,
        region = s.f.region
    );
    let o = Command::new(root().join(".venv/bin/python"))
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_ENDPOINT_URL", &sandbox().gateway)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &srv.uri)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &srv.token_file)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "204\n204");
    assert!(
        requests(&s.cert_id) > before,
        "the server refreshed in the background"
    );
    drop(srv);
    control(&s.cert_id, "&expires_in=none");
    let bad = xacct_env(
        &sandbox().gateway,
        &[
            "serve-credentials",
            "-f",
            &file_arg(&s.file),
            "--cert",
            &file_arg(&s.cert),
            "--key",
            &file_arg(&s.key),
            "--thing-name",
            "t",
            "--listen",
            "0.0.0.0:7273",
        ],
        None,
        &sandbox().env(),
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("not loopback"), "{}", stderr(&bad));
}

/// `device-config --systemd` writes a unit beside the config that runs serve-credentials for the
/// device as the user named, its token in its runtime directory, hardened and restarted on failure.
#[test]
fn device_config_writes_a_hardened_systemd_unit_for_the_server() {
    let s = Setup::new(1);
    let out = s.f.dir.join("device");
    let o = sandbox().xacct(&[
        "device-config",
        "-f",
        &file_arg(&s.file),
        "--cert",
        &file_arg(&s.cert),
        "--key",
        &file_arg(&s.key),
        "--thing-name",
        "gw-1",
        "--out",
        &file_arg(&out),
        "--systemd",
        "--service-user",
        "edge",
        "--token-group",
        "apps",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let unit = std::fs::read_to_string(out.join("xacct-credentials.service")).unwrap();
    for want in [
        "User=edge\n",
        "Group=apps\n",
        "RuntimeDirectory=xacct\n",
        "NoNewPrivileges=yes\n",
        "ProtectSystem=strict\n",
        "Restart=on-failure\n",
        " serve-credentials -f ",
        "--token-file /run/xacct/token",
        "--token-group apps",
        "--thing-name gw-1",
        "--listen 127.0.0.1:7273",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.contains(want), "{want} in\n{unit}");
    }
    assert!(!unit.contains("PRIVATE KEY"));
}

/// Through an outage the server keeps serving credentials while they are valid, and once they have
/// expired answers 503 saying so and why it could not refresh (here the endpoint refuses the
/// certificate from the first refresh on).
#[test]
fn the_server_serves_valid_credentials_through_an_outage_then_503() {
    let s = Setup::new(1);
    control(&s.cert_id, "&expires_in=8");
    let srv = serve(&s, &["--refresh-before", "5"]);
    let started = std::time::Instant::now();
    let token = std::fs::read_to_string(&srv.token_file).unwrap();
    let (code, first) = get(&srv.uri, &[("Authorization", &token)]);
    assert_eq!(code, 200, "{first}");
    rt().block_on(async {
        let i = sdk_at(&sandbox().gateway, &s.f.iot_account, &s.f.region).await;
        i.iot
            .update_certificate()
            .certificate_id(&s.cert_id)
            .new_status(aws_sdk_iot::types::CertificateStatus::Inactive)
            .send()
            .await
            .unwrap();
    });
    // the refresh (5 s in) is refused; the credentials are still valid
    std::thread::sleep(std::time::Duration::from_millis(6000).saturating_sub(started.elapsed()));
    let (code, body) = get(&srv.uri, &[("Authorization", &token)]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, first, "the same credentials, still valid");
    std::thread::sleep(std::time::Duration::from_millis(9500).saturating_sub(started.elapsed()));
    let (code, body) = get(&srv.uri, &[("Authorization", &token)]);
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("expired at") && body.contains("403"),
        "{body}"
    );
    control(&s.cert_id, "&expires_in=none");
}
