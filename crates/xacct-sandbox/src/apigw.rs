//! Emulator of API Gateway invocations (moto stores REST APIs but does not serve them): HTTPS on a
//! local port with a certificate, from the sandbox CA, for whatever `{api-id}.execute-api.{region}`
//! host the client asks for (SNI). A stage serves its deployment's snapshot (`deployments`), taken
//! when the deployment was created. It checks the SigV4 signature (the gateway saw each session's
//! secret when it was issued), requires the stage, the route and `AWS_IAM` authorization, evaluates
//! `execute-api:Invoke` on the method ARN (identity policies, permissions boundary, the API's resource
//! policy), and answers as API Gateway does: 403 `{"message": …}`, 404 for an unknown stage or
//! route, 200 from a `MOCK` integration, and a Lambda proxy integration's `statusCode` and `body`.

use super::{response, Body, State};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use xacct_policy::eval::{evaluate, Case, Decision};

/// Issues (and caches) a certificate for the host name each client asks for.
struct PerName {
    ca: Arc<super::Ca>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    cache: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for PerName {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("PerName")
    }
}

impl ResolvesServerCert for PerName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().unwrap_or("127.0.0.1").to_string();
        if let Some(k) = self.cache.lock().unwrap().get(&name) {
            return Some(k.clone());
        }
        let (chain, key) = self
            .ca
            .issue(&[name.as_str()], "xacct sandbox API Gateway")
            .ok()?;
        let k = Arc::new(CertifiedKey::from_der(chain, key, &self.provider).ok()?);
        self.cache.lock().unwrap().insert(name, k.clone());
        Some(k)
    }
}

/// Start the emulator on a free local port; returns `127.0.0.1:PORT`.
pub async fn serve(state: Arc<State>, ca: Arc<super::Ca>) -> Result<String, super::SandboxError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(super::SandboxError::Tls)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(PerName {
            ca,
            provider,
            cache: Mutex::default(),
        }));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let what = "the API Gateway emulator cannot listen";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(super::SandboxError::io(what))?;
    let addr = listener
        .local_addr()
        .map_err(super::SandboxError::io(what))?;
    let apis: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let state = state.clone();
            let apis = apis.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc =
                    hyper::service::service_fn(move |req| handle(req, state.clone(), apis.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Ok(addr.to_string())
}

fn answer(status: u16, message: &str) -> Response<Body> {
    response(
        status,
        &[("content-type", "application/json")],
        json!({ "message": message }).to_string(),
    )
}

/// `{api-id}.execute-api.{region}.amazonaws.com[:port]` → (api id, region).
fn parse_host(host: &str) -> Option<(String, String)> {
    let host = host.split(':').next()?;
    let (id, rest) = host.split_once(".execute-api.")?;
    let region = rest.split('.').next()?;
    Some((id.to_string(), region.to_string()))
}

/// Seconds since the epoch of an `x-amz-date` (`20261128T075500Z`).
fn amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || !s.ends_with('Z') || s.as_bytes()[8] != b'T' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (hh, mm, ss) = (n(9..11)?, n(11..13)?, n(13..15)?);
    // days from the civil date (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Does the request's SigV4 signature match the one computed with the session's secret? The
/// signature is recomputed with the SDK's signer over exactly the headers the client signed.
fn signature_matches(
    parts: &hyper::http::request::Parts,
    body: &[u8],
    host: &str,
    region: &str,
    akid: &str,
    secret: &str,
) -> bool {
    let header = |k: &str| {
        parts
            .headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let Some(auth) = header("authorization") else {
        return false;
    };
    let field = |name: &str| {
        auth.split(name)
            .nth(1)
            .map(|r| r.split([',', ' ']).next().unwrap_or("").to_string())
    };
    let (Some(signed), Some(given)) = (field("SignedHeaders="), field("Signature=")) else {
        return false;
    };
    let Some(time) = header("x-amz-date").as_deref().and_then(amz_date) else {
        return false;
    };
    let token = header("x-amz-security-token");
    let headers: Vec<(String, String)> = signed
        .split(';')
        .filter(|h| *h != "x-amz-date" && *h != "x-amz-security-token")
        .map(|h| {
            let v = if h == "host" {
                header("host").unwrap_or_else(|| host.to_string())
            } else {
                header(h).unwrap_or_default()
            };
            (h.to_string(), v)
        })
        .collect();
    let identity =
        aws_credential_types::Credentials::new(akid, secret, token, None, "sandbox").into();
    let Ok(params) = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(time)
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
    else {
        return false;
    };
    let uri = format!(
        "https://{host}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let Ok(signable) = aws_sigv4::http_request::SignableRequest::new(
        parts.method.as_str(),
        uri.as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        aws_sigv4::http_request::SignableBody::Bytes(body),
    ) else {
        return false;
    };
    match aws_sigv4::http_request::sign(signable, &params.into()) {
        Ok(out) => out.signature() == given,
        Err(_) => false,
    }
}

/// The account that holds REST API `id` in `region` (remembered once found).
async fn find_api(
    state: &State,
    apis: &Mutex<HashMap<String, String>>,
    id: &str,
    region: &str,
) -> Option<(
    String,
    aws_sdk_apigateway::operation::get_rest_api::GetRestApiOutput,
)> {
    let known = apis.lock().unwrap().get(id).cloned();
    let mut accounts = state.registry.accounts();
    if let Some(a) = known {
        accounts.insert(0, a);
    }
    for account in accounts {
        let c = state.admin.get(&account, region).await;
        if let Ok(api) = c.apigateway().get_rest_api().rest_api_id(id).send().await {
            apis.lock().unwrap().insert(id.to_string(), account.clone());
            return Some((account, api));
        }
    }
    None
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
    apis: Arc<Mutex<HashMap<String, String>>>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(answer(400, &format!("bad request body: {e}"))),
    };
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Some((id, region)) = parse_host(&host) else {
        return Ok(answer(404, "Not Found"));
    };
    Ok(invoke(&state, &apis, &parts, &body, &host, &id, &region).await)
}

async fn invoke(
    state: &State,
    apis: &Mutex<HashMap<String, String>>,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    host: &str,
    id: &str,
    region: &str,
) -> Response<Body> {
    let Some((account, api)) = find_api(state, apis, id, region).await else {
        return answer(404, "Not Found");
    };
    let c = state.admin.get(&account, region).await;
    let path = parts.uri.path();
    let mut segs = path.trim_start_matches('/').splitn(2, '/');
    let stage = segs.next().unwrap_or("").to_string();
    let rest = segs.next().unwrap_or("").to_string();
    let Ok(st) = c
        .apigateway()
        .get_stage()
        .rest_api_id(id)
        .stage_name(&stage)
        .send()
        .await
    else {
        return answer(404, "Not Found");
    };
    // what the stage serves: its deployment's snapshot (the API as configured now only when the
    // deployment was not made through the gateway)
    let method = parts.method.as_str().to_string();
    if let Some(d) = st
        .deployment_id()
        .and_then(|did| state.registry.deployment(id, did))
    {
        let route = d
            .methods
            .iter()
            .find(|m| xacct_policy::routes::serves(&m.path, &rest) && m.http_method == method);
        let route = route.or_else(|| {
            d.methods
                .iter()
                .find(|m| xacct_policy::routes::serves(&m.path, &rest) && m.http_method == "ANY")
        });
        let Some(m) = route else {
            return answer(404, "Not Found");
        };
        if m.authorization == "AWS_IAM" {
            if let Some(denied) = authorize(
                state,
                parts,
                body,
                host,
                region,
                &account,
                id,
                &stage,
                &method,
                &rest,
                d.policy.as_deref(),
            )
            .await
            {
                return denied;
            }
        }
        return integration(
            state,
            &c,
            id,
            &m.resource_id,
            &m.http_method,
            parts,
            body,
            region,
        )
        .await;
    }
    // the route: a resource that serves the path, with this method or ANY
    let Ok(resources) = c
        .apigateway()
        .get_resources()
        .rest_api_id(id)
        .embed("methods")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
    else {
        return answer(500, "cannot read the API's resources");
    };
    let route = resources.iter().find_map(|r| {
        let rpath = r.path()?;
        if !xacct_policy::routes::serves(rpath, &rest) {
            return None;
        }
        let ms = r.resource_methods()?;
        let m = if ms.contains_key(&method) {
            method.clone()
        } else if ms.contains_key("ANY") {
            "ANY".to_string()
        } else {
            return None;
        };
        Some((r.id()?.to_string(), m))
    });
    let Some((resource_id, route_method)) = route else {
        return answer(404, "Not Found");
    };
    let Ok(m) = c
        .apigateway()
        .get_method()
        .rest_api_id(id)
        .resource_id(&resource_id)
        .http_method(&route_method)
        .send()
        .await
    else {
        return answer(404, "Not Found");
    };
    if m.authorization_type() == Some("AWS_IAM") {
        if let Some(denied) = authorize(
            state,
            parts,
            body,
            host,
            region,
            &account,
            id,
            &stage,
            &method,
            &rest,
            api.policy(),
        )
        .await
        {
            return denied;
        }
    }
    integration(
        state,
        &c,
        id,
        &resource_id,
        &route_method,
        parts,
        body,
        region,
    )
    .await
}

/// The SigV4 signature and `execute-api:Invoke` for a method with `AWS_IAM` authorization.
#[allow(clippy::too_many_arguments)]
async fn authorize(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    host: &str,
    region: &str,
    account: &str,
    id: &str,
    stage: &str,
    method: &str,
    rest: &str,
    api_policy: Option<&str>,
) -> Option<Response<Body>> {
    let Some((akid, _, _)) = super::gateway::sigv4(&parts.headers) else {
        return Some(answer(403, "Missing Authentication Token"));
    };
    // keys that do not descend from a device or workload session (admin credentials) pass through
    let p = state.registry.principal(&akid)?;
    let Some(secret) = state.registry.secret(&akid) else {
        return Some(answer(
            403,
            "The security token included in the request is invalid.",
        ));
    };
    if !signature_matches(parts, body, host, region, &akid, &secret) {
        return Some(answer(403, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."));
    }
    let arn = format!(
        "arn:{}:execute-api:{region}:{account}:{id}/{stage}/{method}/{rest}",
        xacct_policy::arn::partition_of(region)
    );
    let (identity, boundary) = match super::gateway::identity_policies(state, &p, region).await {
        Ok(v) => v,
        Err(e) => return Some(answer(500, &e.to_string())),
    };
    let resource_policy: Option<Value> = api_policy
        .filter(|t| !t.trim().is_empty())
        .and_then(|t| xacct_policy::document::parse_service_document(t).ok());
    let (context, org) = super::gateway::request_org(state, &p, account, region).await;
    let case = Case {
        principal: p.session_arn.clone(),
        action: "execute-api:Invoke".into(),
        resource: arn.clone(),
        identity_policies: identity,
        resource_policy,
        context,
        permissions_boundary: boundary,
        service_control_policies: org.scps.clone(),
        resource_control_policies: org.rcps.clone(),
    };
    match evaluate(&case) {
        Ok(o) if o.decision == Decision::Allow => None,
        Ok(o) => Some(answer(
            403,
            &format!(
                "User: {} is not authorized to perform: execute-api:Invoke on resource: {arn}{}",
                p.session_arn,
                super::gateway::why(&o, "execute-api:Invoke", &org)
            ),
        )),
        Err(e) => Some(answer(500, &e.to_string())),
    }
}

/// Answer from the method's integration: MOCK → 200; a Lambda proxy → the function's answer.
#[allow(clippy::too_many_arguments)]
async fn integration(
    state: &State,
    c: &crate::aws::Clients,
    id: &str,
    resource_id: &str,
    method: &str,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    region: &str,
) -> Response<Body> {
    let Ok(i) = c
        .apigateway()
        .get_integration()
        .rest_api_id(id)
        .resource_id(resource_id)
        .http_method(method)
        .send()
        .await
    else {
        return answer(500, "Internal server error");
    };
    let kind = i
        .r#type()
        .map(|t| t.as_str().to_string())
        .unwrap_or_default();
    if kind != "AWS_PROXY" {
        return response(200, &[("content-type", "application/json")], "{}");
    }
    // arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION-ARN/invocations
    let Some(function) = i
        .uri()
        .and_then(|u| u.split("/functions/").nth(1))
        .and_then(|r| r.strip_suffix("/invocations"))
    else {
        return answer(500, "Internal server error");
    };
    let fc = state
        .admin
        .get(
            &xacct_policy::arn::Arn::account_of(function).unwrap_or_default(),
            region,
        )
        .await;
    let event = json!({
        "httpMethod": parts.method.as_str(),
        "path": parts.uri.path(),
        "body": String::from_utf8_lossy(body),
        "isBase64Encoded": false,
    });
    let Ok(out) = fc
        .lambda()
        .invoke()
        .function_name(function)
        .payload(aws_smithy_types::Blob::new(event.to_string().into_bytes()))
        .send()
        .await
    else {
        return answer(502, "Internal server error");
    };
    let payload: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    let status = payload
        .get("statusCode")
        .and_then(|s| s.as_u64())
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    let body = match payload.get("body") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => payload.to_string(),
    };
    response(status, &[("content-type", "application/json")], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_dates_are_read_as_aws_writes_them() {
        assert_eq!(
            parse_host("a1b2c3d4e5.execute-api.ap-northeast-1.amazonaws.com:443"),
            Some(("a1b2c3d4e5".into(), "ap-northeast-1".into()))
        );
        assert_eq!(parse_host("127.0.0.1:8443"), None);
        let t = amz_date("20261128T075500Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_795_852_500
        );
        assert!(amz_date("2026-11-28").is_none());
    }
}
