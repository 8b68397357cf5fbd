//! verify's `call_api` hop: an HTTPS request to an API Gateway method, signed with SigV4 by the SDK's
//! signer (`aws-sigv4`) with the chain's credentials.

use super::{hop_done, settled, Hop, HopError, HopOutcome, Options, Proofs};
use crate::aws::Clients;
use crate::config::{ApiMethod, Config, Target};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::ServerName;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The DNS suffix of a partition.
fn dns_suffix(partition: &str) -> &'static str {
    if partition == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// The host of an API: `{api-id}.execute-api.{region}.amazonaws.com`.
pub fn api_host(cfg: &Config, api_id: &str) -> String {
    format!(
        "{api_id}.execute-api.{}.{}",
        cfg.region,
        dns_suffix(&cfg.partition)
    )
}

/// The request verify sends for a listed method: its HTTP method and its path (`/{stage}/{path}`,
/// a `*` in the path replaced by `arg`).
pub fn request_line(api: &ApiMethod, arg: &str) -> (String, String) {
    let method = if api.method == "*" {
        "GET".to_string()
    } else {
        api.method.clone()
    };
    let path = format!("/{}/{}", api.stage, api.path.replace('*', arg));
    (method, path)
}

/// Sign and send one request; Ok((status, start of the body)).
pub async fn call(
    cfg: &Config,
    api: &ApiMethod,
    creds: &aws_sdk_sts::types::Credentials,
    opts: &Options,
) -> Result<(u16, String), HopError> {
    let fail = |m: String| HopError {
        denied: false,
        message: m,
    };
    let host = api_host(cfg, &api.api_id);
    let (method, path) = request_line(api, &opts.api_path_arg);
    let body: Vec<u8> = if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        opts.payload.as_bytes().to_vec()
    } else {
        Vec::new()
    };
    let url = format!("https://{host}{path}");
    let mut req = http::Request::builder()
        .method(method.as_str())
        .uri(&url)
        .header("host", &host)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.clone())))
        .map_err(|e| fail(format!("cannot build the request to {url}: {e}")))?;
    // SigV4 by the SDK's signer
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_string()),
        None,
        "xacct-verify",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&cfg.region)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .map_err(|e| fail(format!("cannot sign the request: {e}")))?;
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let signable = aws_sigv4::http_request::SignableRequest::new(
        method.as_str(),
        url.as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        aws_sigv4::http_request::SignableBody::Bytes(&body),
    )
    .map_err(|e| fail(format!("cannot sign the request: {e}")))?;
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params.into())
        .map_err(|e| fail(format!("cannot sign the request: {e}")))?
        .into_parts();
    instructions.apply_to_request_http1x(&mut req);

    // connect: the API's host, or XACCT_EXECUTE_API_ENDPOINT (SNI and Host stay the API's)
    let (addr_host, port) = match &opts.execute_api_endpoint {
        Some(e) => match e.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(443)),
            _ => (e.clone(), 443),
        },
        None => (host.clone(), 443),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = super::mtls::roots(opts.ca_bundle.as_deref()).map_err(|e| fail(e.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone())
        .map_err(|_| fail(format!("{host} is not a valid host name")))?;
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((addr_host.as_str(), port)),
    )
    .await
    .map_err(|_| {
        fail(format!(
            "timed out connecting to {addr_host}:{port} for {host}"
        ))
    })?
    .map_err(|e| {
        fail(format!(
            "cannot connect to {addr_host}:{port} for {host}: {e}"
        ))
    })?;
    let tls = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| fail(format!("TLS handshake with {host} timed out")))?
    .map_err(|e| fail(format!("TLS handshake with {host} failed: {e}")))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| fail(format!("HTTP with {host} failed: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .map_err(|_| fail(format!("{method} {url}: no answer within 30 s")))?
        .map_err(|e| fail(format!("{method} {url} failed: {e}")))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
    Ok((status, text))
}

/// Methods that answered although they do not check IAM: a 2xx from a method whose authorization is
/// not `AWS_IAM` proves nothing about the chain (anyone may call it). Read with the environment's own
/// credentials; None when they cannot be read.
async fn unprotected(env: &Clients, t: &Target, opts: &Options) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ids: Vec<&str> = t.apis.iter().map(|a| a.api_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let facts = crate::aws::read::api_facts(env, id).await.ok()?;
        for api in t.apis.iter().filter(|a| a.api_id == id) {
            let (method, path) = request_line(api, &opts.api_path_arg);
            let rest = path.splitn(3, '/').nth(2).unwrap_or("");
            for m in facts.methods.iter().filter(|m| {
                (m.http_method == method || m.http_method == "ANY")
                    && crate::check::serves(&m.path, rest)
                    && m.authorization != "AWS_IAM"
            }) {
                out.push(format!(
                    "{method} {path} answered, but method {} {} of API {id} uses authorization {}, not AWS_IAM: it does not check the chain's identity (anyone may call it)",
                    m.http_method, m.path, m.authorization
                ));
            }
        }
    }
    Some(out)
}

/// The `call_api` hop: every listed method called once; 2xx passes, unless the method turns out not
/// to check IAM at all.
pub async fn call_api_hop(
    cfg: &Config,
    t: &Target,
    target: &aws_sdk_sts::types::Credentials,
    opts: &Options,
    proofs: &Proofs<'_>,
    env: Option<&Clients>,
) -> HopOutcome {
    let start = Instant::now();
    let results = futures::future::join_all(t.apis.iter().map(|api| {
        settled(
            opts,
            proofs,
            &t.name,
            crate::check::Hop::CallApi,
            move || async move {
                let (method, path) = request_line(api, &opts.api_path_arg);
                let what = format!("{method} https://{}{path}", api_host(cfg, &api.api_id));
                match call(cfg, api, target, opts).await? {
                    (s, _) if (200..300).contains(&s) => Ok(format!("{what} answered {s}")),
                    (403, body) => Err(HopError {
                        denied: true,
                        message: format!("{what} answered 403: {body}"),
                    }),
                    (s, body) => Err(HopError {
                        denied: false,
                        message: format!("{what} answered {s}: {body}"),
                    }),
                }
            },
        )
    }))
    .await;
    let (ok_lines, mut errors) = super::split_results(results);
    if errors.is_empty() {
        if let Some(open) = match env {
            Some(c) => unprotected(c, t, opts).await,
            None => None,
        } {
            errors = open;
        }
    }
    if errors.is_empty() {
        hop_done(Hop::CallApi, true, start, ok_lines.join("; "))
    } else {
        hop_done(Hop::CallApi, false, start, errors.join("; "))
    }
}
