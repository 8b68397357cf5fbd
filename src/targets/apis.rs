//! API Gateway methods (`apis:`): the `call_api` hop. The target role may `execute-api:Invoke` each
//! listed method; the proof reads the API (its resource policy, stages and each method's
//! authorization) and evaluates the role's policies with the API's policy; verify calls each method
//! over HTTPS, signed with SigV4 by the SDK's signer (`aws-sigv4`) with the chain's credentials.

use super::{gather, Phase, Reach, Read, TargetType};
use crate::aws::{Accounts, AwsError, Call, Clients};
use crate::chain::hop::Hop;
use crate::check::proof::{finish, missing_target, target_access, Step, StepResult};
use crate::config::{ApiMethod, Config, Target};
use crate::model::live::{ApiFacts, DeployedStage, Discovered, Facts, MethodFacts, PolicyRead};
use crate::policy::{self, Var};
use crate::verify::hops::{hop_done, settled, split_results, HopError, Options, Proofs};
use crate::verify::report::{HopOutcome, Invocation};
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::ServerName;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
pub use xacct_policy::routes::serves;

pub struct Apis;

impl TargetType for Apis {
    fn hop(&self) -> Hop {
        Hop::CallApi
    }

    fn listed(&self, t: &Target) -> bool {
        !t.apis.is_empty()
    }

    fn vars(&self, t: &Target, _: &Discovered, vars: &mut BTreeMap<&'static str, Var>) {
        vars.insert(
            "api_arns",
            Var::List(t.apis.iter().map(|a| a.arn.clone()).collect()),
        );
    }

    fn asks(
        &self,
        _: &Config,
        t: &Target,
        caller: &str,
        device: Option<crate::policy::context::IotDevice>,
    ) -> Vec<crate::chain::Ask> {
        use crate::chain::{request::role_ask, ResourcePolicy};
        t.apis
            .iter()
            .map(|m| {
                role_ask(
                    caller,
                    device.clone(),
                    None,
                    "execute-api:Invoke",
                    &m.arn,
                    Some(ResourcePolicy::Api),
                )
            })
            .collect()
    }

    fn facts<'a>(
        &'a self,
        _: &'a Config,
        t: &'a Target,
        c: &'a Clients,
        _: &'a Accounts,
    ) -> BoxFuture<'a, Read> {
        Box::pin(async move {
            let mut ids: Vec<&str> = t.apis.iter().map(|a| a.api_id.as_str()).collect();
            ids.sort();
            ids.dedup();
            let read = futures::future::join_all(ids.into_iter().map(|id| async move {
                let stages = stages_of(t, id);
                (
                    format!("{}/{id}", t.account),
                    api_facts(c, id, &stages).await,
                )
            }))
            .await;
            let (mut f, mut errors) = (Facts::default(), Vec::new());
            gather(&mut f.apis, read, &mut errors);
            (f, errors)
        })
    }

    fn prove(&self, cfg: &Config, t: &Target, f: &Facts, asks: &[crate::chain::Ask]) -> StepResult {
        prove_call_api(cfg, t, f, asks)
    }

    fn calls(&self, cfg: &Config, t: &Target, phase: Phase) -> Vec<Call> {
        match phase {
            // the API, its stages, resources and methods (API Gateway's resources are paths)
            Phase::Check | Phase::Verify => t
                .apis
                .iter()
                .flat_map(|a| {
                    let api = format!(
                        "arn:{}:apigateway:{}::/restapis/{}",
                        cfg.partition, cfg.region, a.api_id
                    );
                    [
                        Call::new("apigateway:GET", &api),
                        Call::new("apigateway:GET", format!("{api}/*")),
                    ]
                })
                .collect(),
            Phase::Plan => vec![],
        }
    }

    fn perform<'a, 'p: 'a>(
        &'a self,
        r: &'a Reach<'a, 'p>,
    ) -> BoxFuture<'a, (HopOutcome, Vec<Invocation>)> {
        Box::pin(async move {
            (
                call_api_hop(r.cfg, r.t, r.creds, r.opts, r.proofs, r.env).await,
                vec![],
            )
        })
    }
}

/// The stages environment `t` names for API `id`.
fn stages_of<'a>(t: &'a Target, id: &str) -> Vec<&'a str> {
    let mut stages: Vec<&str> = t
        .apis
        .iter()
        .filter(|a| a.api_id == id)
        .map(|a| a.stage.as_str())
        .collect();
    stages.sort();
    stages.dedup();
    stages
}

/// A REST API: its resource policy, stages and every method's authorization as configured, and
/// what is deployed to each of `stages` (the ones the file names).
pub async fn api_facts(
    c: &Clients,
    api_id: &str,
    stages_named: &[&str],
) -> Result<ApiFacts, AwsError> {
    let api = {
        let _slot = c.slot().await?;
        c.apigateway()
            .get_rest_api()
            .rest_api_id(api_id)
            .send()
            .await
    };
    let api = match api {
        Ok(a) => a,
        Err(e) => {
            let e = c.err("apigateway:GET", &format!("restapis/{api_id}"), e);
            return if e.not_found() {
                Ok(ApiFacts {
                    exists: Some(false),
                    ..ApiFacts::default()
                })
            } else {
                Err(e)
            };
        }
    };
    let policy = match api.policy() {
        Some(p) if !p.trim().is_empty() => Some(
            policy::parse_service_document(p)
                .map_err(|m| c.unreadable("apigateway:GET", &format!("restapis/{api_id}"), m))?,
        ),
        _ => None,
    };
    let stages = {
        let _slot = c.slot().await?;
        c.apigateway()
            .get_stages()
            .rest_api_id(api_id)
            .send()
            .await
            .map_err(|e| c.err("apigateway:GET", &format!("restapis/{api_id}/stages"), e))?
    };
    let stages: Vec<String> = stages
        .item()
        .iter()
        .filter_map(|s| s.stage_name().map(String::from))
        .collect();
    let resources: Vec<aws_sdk_apigateway::types::Resource> = {
        let _slot = c.slot().await?;
        c.apigateway()
            .get_resources()
            .rest_api_id(api_id)
            .embed("methods")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("apigateway:GET", &format!("restapis/{api_id}/resources"), e))?
    };
    let mut methods = Vec::new();
    for r in &resources {
        let (Some(id), Some(path)) = (r.id(), r.path()) else {
            continue;
        };
        let Some(ms) = r.resource_methods() else {
            continue;
        };
        let mut names: Vec<&String> = ms.keys().collect();
        names.sort();
        for m in names {
            let auth = match ms[m].authorization_type() {
                Some(a) => a.to_string(),
                None => {
                    let _slot = c.slot().await?;
                    let got = c
                        .apigateway()
                        .get_method()
                        .rest_api_id(api_id)
                        .resource_id(id)
                        .http_method(m)
                        .send()
                        .await
                        .map_err(|e| {
                            c.err(
                                "apigateway:GET",
                                &format!("restapis/{api_id}/resources/{id}/methods/{m}"),
                                e,
                            )
                        })?;
                    got.authorization_type().unwrap_or("NONE").to_string()
                }
            };
            methods.push(MethodFacts {
                path: path.to_string(),
                http_method: m.clone(),
                authorization: auth,
            });
        }
    }
    let mut deployed = BTreeMap::new();
    for stage in stages_named
        .iter()
        .filter(|s| stages.iter().any(|x| x == *s))
    {
        if let Some(d) = deployed_stage(c, api_id, stage).await? {
            deployed.insert(stage.to_string(), d);
        }
    }
    Ok(ApiFacts {
        exists: Some(true),
        policy,
        stages,
        methods,
        deployed,
    })
}

/// What stage `stage` of API `api_id` serves: its deployment's methods (GetDeployment with
/// `embed=apisummary`) and resource policy (the stage's export with API Gateway extensions).
async fn deployed_stage(
    c: &Clients,
    api_id: &str,
    stage: &str,
) -> Result<Option<DeployedStage>, AwsError> {
    let res = format!("restapis/{api_id}/stages/{stage}");
    let got = {
        let _slot = c.slot().await?;
        c.apigateway()
            .get_stage()
            .rest_api_id(api_id)
            .stage_name(stage)
            .send()
            .await
    };
    let deployment_id = match got {
        Ok(s) => s.deployment_id().unwrap_or_default().to_string(),
        Err(e) => {
            let e = c.err("apigateway:GET", &res, e);
            return if e.not_found() { Ok(None) } else { Err(e) };
        }
    };
    let summary = {
        let _slot = c.slot().await?;
        c.apigateway()
            .get_deployment()
            .rest_api_id(api_id)
            .deployment_id(&deployment_id)
            .embed("apisummary")
            .send()
            .await
    };
    let methods = match summary {
        Ok(d) => match d.api_summary() {
            Some(paths) => {
                let mut v: Vec<MethodFacts> = paths
                    .iter()
                    .flat_map(|(path, ms)| {
                        ms.iter().map(move |(m, snap)| MethodFacts {
                            path: path.clone(),
                            http_method: m.clone(),
                            authorization: snap.authorization_type().unwrap_or("NONE").to_string(),
                        })
                    })
                    .collect();
                v.sort_by(|a, b| (&a.path, &a.http_method).cmp(&(&b.path, &b.http_method)));
                Ok(v)
            }
            None => Err(format!(
                "API Gateway did not say which methods deployment {deployment_id} serves (GetDeployment with embed=apisummary)"
            )),
        },
        Err(e) => Err(c
            .err("apigateway:GET", &format!("restapis/{api_id}/deployments/{deployment_id}"), e)
            .to_string()),
    };
    let export = {
        let _slot = c.slot().await?;
        c.apigateway()
            .get_export()
            .rest_api_id(api_id)
            .stage_name(stage)
            .export_type("oas30")
            .parameters("extensions", "apigateway")
            .accepts("application/json")
            .send()
            .await
    };
    let policy = match export {
        Ok(x) => {
            let doc: Option<Value> = x
                .body()
                .and_then(|b| serde_json::from_slice(b.as_ref()).ok());
            match doc {
                None => PolicyRead::Unreadable(format!(
                    "the export of stage {stage} is not an OpenAPI document"
                )),
                Some(doc) => match doc.get("x-amazon-apigateway-policy") {
                    None | Some(Value::Null) => PolicyRead::Read(None),
                    Some(Value::String(t)) => match policy::parse_service_document(t) {
                        Ok(p) => PolicyRead::Read(Some(p)),
                        Err(m) => PolicyRead::Unreadable(format!("malformed deployed policy: {m}")),
                    },
                    Some(p) => match policy::parse_service_document(&p.to_string()) {
                        Ok(p) => PolicyRead::Read(Some(p)),
                        Err(m) => PolicyRead::Unreadable(format!("malformed deployed policy: {m}")),
                    },
                },
            }
        }
        Err(e) => PolicyRead::Unreadable(
            c.err("apigateway:GET", &format!("{res}/exports/oas30"), e)
                .to_string(),
        ),
    };
    Ok(Some(DeployedStage {
        deployment_id,
        methods,
        policy,
    }))
}

/// Does the listed method (`GET`, `*`) with its path (which may hold `*`) reach the API method
/// `http_method` on `resource_path`? A `*` in the path stands for the value verify sends
/// (`verify`), or matches the resource path as written.
pub fn method_matches(listed: &str, path: &str, http_method: &str, resource_path: &str) -> bool {
    let method_ok =
        listed == "*" || http_method == "ANY" || listed.eq_ignore_ascii_case(http_method);
    if !method_ok {
        return false;
    }
    let concrete = path.replace('*', "verify");
    serves(resource_path, &concrete)
        || crate::policy::eval::matching::glob(path, resource_path.trim_start_matches('/'), false)
}

fn prove_call_api(cfg: &Config, t: &Target, f: &Facts, asks: &[crate::chain::Ask]) -> StepResult {
    let Some(Some(target)) = f.targets.get(&t.name) else {
        return missing_target(cfg, t, Step::Target(Hop::CallApi));
    };
    let names: Vec<&str> = target.policies.iter().map(|(n, _)| n.as_str()).collect();
    let (mut ok, mut detail, mut statements, mut fixes, mut failing) =
        (true, Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut organization = Vec::new();
    // what xacct cannot read of a deployed stage: the hop depends on it (`?`), not ✗
    let mut unknown: Vec<String> = Vec::new();
    // the hop's asks, in the chain's order: each names the entry it is proven for
    let listed = crate::chain::request::listed(asks, "execute-api:Invoke", &t.apis, |x| &x.arn);
    for api in listed {
        let facts = f.apis.get(&format!("{}/{}", t.account, api.api_id));
        let route = format!("{} /{}", api.method, api.path);
        // what the stage serves: its deployment (the current configuration only when nothing
        // about the deployment is known, as for the desired state)
        let deployed = facts.and_then(|a| a.deployed.get(&api.stage));
        let mut policy = facts.and_then(|a| a.policy.as_ref());
        if let Some(a) = facts.filter(|a| a.exists.is_some()) {
            if a.exists == Some(false) {
                ok = false;
                detail.push(format!(
                    "{}: REST API {} does not exist in account {}",
                    api.arn, api.api_id, t.account
                ));
                continue;
            }
            if !a.stages.contains(&api.stage) {
                ok = false;
                detail.push(format!(
                    "{}: API {} has no deployed stage {} (it has: {})",
                    api.arn,
                    api.api_id,
                    api.stage,
                    if a.stages.is_empty() {
                        "none".to_string()
                    } else {
                        a.stages.join(", ")
                    }
                ));
            }
            let methods: &[MethodFacts] = match deployed.map(|d| &d.methods) {
                None => &a.methods,
                Some(Ok(m)) => m,
                Some(Err(why)) => {
                    ok = false;
                    detail.push(format!("{}: {why}", api.arn));
                    unknown.push(format!(
                        "the methods deployed to stage {} of API {}",
                        api.stage, api.api_id
                    ));
                    &[]
                }
            };
            let matching: Vec<_> = methods
                .iter()
                .filter(|m| method_matches(&api.method, &api.path, &m.http_method, &m.path))
                .collect();
            if matching.is_empty() && deployed.is_none_or(|d| d.methods.is_ok()) {
                ok = false;
                detail.push(format!(
                    "{}: API {} has no method {route}{}",
                    api.arn,
                    api.api_id,
                    if deployed.is_some() {
                        format!(" deployed to stage {}", api.stage)
                    } else {
                        String::new()
                    }
                ));
            }
            for m in matching.iter().filter(|m| m.authorization != "AWS_IAM") {
                ok = false;
                detail.push(format!(
                    "{}: method {} {} of API {} uses authorization {}, not AWS_IAM: IAM policies do not protect it and the signature is not checked",
                    api.arn, m.http_method, m.path, api.api_id, m.authorization
                ));
                fixes.push(json!({"api": api.api_id, "method": m.http_method, "resource": m.path, "authorization_type": "AWS_IAM"}));
            }
            if let Some(d) = deployed {
                // what changed since the deployment is not in force yet: say so
                let mut changed = Vec::new();
                if let PolicyRead::Read(p) = &d.policy {
                    let same = match (p, &a.policy) {
                        (None, None) => true,
                        (Some(x), Some(y)) => policy::same(x, y),
                        _ => false,
                    };
                    if !same {
                        changed.push("its resource policy".to_string());
                    }
                }
                if let Ok(dm) = &d.methods {
                    let auth = |ms: &[MethodFacts]| -> Vec<(String, String, String)> {
                        ms.iter()
                            .filter(|m| {
                                method_matches(&api.method, &api.path, &m.http_method, &m.path)
                            })
                            .map(|m| {
                                (
                                    m.path.clone(),
                                    m.http_method.clone(),
                                    m.authorization.clone(),
                                )
                            })
                            .collect()
                    };
                    let (mut x, mut y) = (auth(dm), auth(&a.methods));
                    x.sort();
                    y.sort();
                    if x != y {
                        changed.push(format!("its method {route}"));
                    }
                }
                if !changed.is_empty() {
                    detail.push(format!(
                        "{}: {} changed since stage {} was deployed (deployment {}): deploy it for this to take effect",
                        api.arn,
                        changed.join(" and "),
                        api.stage,
                        d.deployment_id
                    ));
                }
                match &d.policy {
                    PolicyRead::Read(p) => policy = p.as_ref(),
                    PolicyRead::Unreadable(why) => {
                        ok = false;
                        detail.push(format!(
                            "{}: the resource policy deployed to stage {} could not be read: {why}",
                            api.arn, api.stage
                        ));
                        unknown.push(format!(
                            "the resource policy deployed to stage {} of API {}",
                            api.stage, api.api_id
                        ));
                        continue;
                    }
                }
            }
        }
        let rname = format!("resource policy of API {}", api.api_id);
        let r = target_access(
            target,
            &names,
            "execute-api:Invoke",
            &api.arn,
            policy,
            &rname,
        );
        ok &= r.ok;
        detail.extend(r.detail);
        statements.extend(r.statements);
        fixes.extend(r.fix);
        failing.extend(r.case);
        organization.extend(r.organization);
    }
    let mut h = finish(
        Step::Target(Hop::CallApi),
        ok,
        detail,
        statements,
        fixes,
        &failing,
    );
    h.organization = organization;
    for k in unknown {
        if !h.depends_on.contains(&k) {
            h.depends_on.push(k);
        }
    }
    h
}

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
    let roots =
        crate::verify::mtls::roots(opts.ca_bundle.as_deref()).map_err(|e| fail(e.to_string()))?;
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
        let facts = api_facts(env, id, &stages_of(t, id)).await.ok()?;
        for api in t.apis.iter().filter(|a| a.api_id == id) {
            let (method, path) = request_line(api, &opts.api_path_arg);
            let rest = path.splitn(3, '/').nth(2).unwrap_or("");
            // what the stage serves, as deployed (the current configuration when that is unknown)
            let methods = match facts.deployed.get(&api.stage).map(|d| &d.methods) {
                Some(Ok(m)) => m,
                _ => &facts.methods,
            };
            for m in methods.iter().filter(|m| {
                (m.http_method == method || m.http_method == "ANY")
                    && serves(&m.path, rest)
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
async fn call_api_hop(
    cfg: &Config,
    t: &Target,
    target: &aws_sdk_sts::types::Credentials,
    opts: &Options,
    proofs: &Proofs<'_>,
    env: Option<&Clients>,
) -> HopOutcome {
    let start = Instant::now();
    let results = futures::future::join_all(t.apis.iter().map(|api| {
        settled(opts, proofs, &t.name, Hop::CallApi, move || async move {
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
        })
    }))
    .await;
    let (ok_lines, mut errors) = split_results(results);
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
