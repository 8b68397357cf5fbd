//! The IAM-enforcing gateway: every request goes through to moto unchanged, except that
//! `sts:AssumeRole`, `lambda:Invoke` and `s3:GetObject` by sessions that descend from a device
//! certificate or from a workload role (a role a service such as lambda.amazonaws.com may assume) are
//! first authorized with the policy engine (trust policy and identity policies, cross-account rule;
//! the function's resource policy; the bucket policy and, for SSE-KMS, the key policy), answering
//! AWS-shaped AccessDenied errors. Admin credentials pass through.

use super::{response, Body, Principal, State};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::sync::Arc;
use xacct_policy::arn::Arn;
use xacct_policy::eval::{evaluate, Case, Decision};

/// Start the gateway on a free local port; returns its URL.
pub async fn serve(state: Arc<State>) -> Result<String, super::SandboxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(super::SandboxError::io("the gateway cannot listen"))?;
    let addr = listener
        .local_addr()
        .map_err(super::SandboxError::io("the gateway cannot listen"))?;
    let client = super::http_client();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            let client = client.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    handle(req, state.clone(), client.clone())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}

/// (access key id, region, service) from a SigV4 Authorization header.
pub fn sigv4(headers: &hyper::HeaderMap) -> Option<(String, String, String)> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?.split(',').next()?;
    let mut parts = cred.split('/');
    let akid = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    Some((akid, region, service))
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                xacct_policy::document::percent_decode(&k.replace('+', " ")),
                xacct_policy::document::percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn sts_error(status: u16, code: &str, message: &str) -> Response<Body> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>xacct-sandbox</RequestId></ErrorResponse>",
        xml_escape(message)
    );
    response(status, &[("content-type", "text/xml")], body)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn lambda_denied(message: &str) -> Response<Body> {
    let body = serde_json::json!({"Type": "User", "message": message}).to_string();
    response(
        403,
        &[
            ("content-type", "application/json"),
            ("x-amzn-ErrorType", "AccessDeniedException"),
        ],
        body,
    )
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn account_of(arn: &str) -> String {
    Arn::account_of(arn).unwrap_or_default()
}

/// A function ARN without its qualifier.
fn unqualified(arn: &str) -> String {
    Arn::parse(arn)
        .map(|a| a.unqualified_function().to_string())
        .unwrap_or_else(|| arn.to_string())
}

/// The keys AWS sets for a request of this session (the same builder the proof uses).
pub(crate) fn context(p: &Principal) -> Map<String, Value> {
    xacct_policy::context::request_context(&xacct_policy::context::Session {
        role_arn: &p.role_arn,
        userid: p.userid.clone(),
        iot: p.iot.clone(),
    })
}

/// The request context of a session's request on a resource of account `owner`, as AWS sets it
/// (the session's keys and the organization's), with the SCPs over the session and the RCPs over
/// the resource.
pub(crate) async fn request_org(
    state: &State,
    p: &Principal,
    owner: &str,
    region: &str,
) -> (Map<String, Value>, crate::org::Layers) {
    let mut ctx = context(p);
    let layers = crate::org::layers(state, &p.account, owner, region).await;
    for (k, v) in &layers.context {
        ctx.insert(k.clone(), v.clone());
    }
    (ctx, layers)
}

/// AWS's words for a denial: the policy type (and, within one organization, the organization
/// policy's ARN).
pub(crate) fn why(o: &xacct_policy::eval::Outcome, action: &str, l: &crate::org::Layers) -> String {
    crate::org::reason(o, action, &l.management, l.same_org.as_deref())
}

/// The identity policies of the session's role, and its permissions boundary (if any).
pub(crate) async fn identity_policies(
    state: &State,
    p: &Principal,
    region: &str,
) -> Result<(Vec<Value>, Option<Value>), crate::aws::CallError> {
    let c = state.admin.get(&p.account, region).await;
    let name = role_name(&p.role_arn);
    let policies = crate::aws::identity_policies(&c, name).await?;
    let boundary = match crate::aws::role(&c, name).await? {
        Some(crate::aws::Role {
            boundary: Some(arn),
            ..
        }) => crate::aws::managed_policy(&c, &arn).await?,
        _ => None,
    };
    Ok((policies, boundary))
}

/// An operator's request under its role's policies: refused as the service refuses it, naming the
/// action and resource, when they do not allow it (or when the sandbox's map does not know it).
#[allow(clippy::too_many_arguments)]
async fn authorize_operator(
    state: &State,
    c: &crate::aws::Clients,
    service: &str,
    parts: &hyper::http::request::Parts,
    fields: &[(String, String)],
    body: &[u8],
    region: &str,
    account: &str,
    role_arn: &str,
    session_arn: &str,
) -> Option<Response<Body>> {
    let _ = state;
    let what = crate::operator::authorized_as(
        c,
        service,
        &parts.method,
        &parts.uri,
        &parts.headers,
        fields,
        body,
        region,
        account,
    )
    .await;
    let message = match &what {
        None => format!(
            "User: {session_arn} made a {service} request the sandbox cannot map to an IAM action ({} {})",
            parts.method,
            parts.uri.path()
        ),
        Some(all) => {
            let name = role_name(role_arn);
            let identity = match crate::aws::identity_policies(c, name).await {
                Ok(p) => p,
                Err(e) => return Some(sts_error(500, "InternalFailure", &e.to_string())),
            };
            let boundary = match crate::aws::role(c, name).await {
                Ok(Some(crate::aws::Role {
                    boundary: Some(b), ..
                })) => crate::aws::managed_policy(c, &b).await.ok().flatten(),
                _ => None,
            };
            let refused = all.iter().find(|a| {
                let case = Case {
                    principal: session_arn.to_string(),
                    action: a.action.clone(),
                    resource: a.resource.clone(),
                    identity_policies: identity.clone(),
                    resource_policy: None,
                    context: {
                        let mut ctx = xacct_policy::context::request_context(
                            &xacct_policy::context::Session {
                                role_arn,
                                ..Default::default()
                            },
                        );
                        for (k, v) in &a.context {
                            ctx.insert(k.clone(), serde_json::Value::String(v.clone()));
                        }
                        ctx
                    },
                    permissions_boundary: boundary.clone(),
                    ..Default::default()
                };
                !matches!(evaluate(&case), Ok(o) if o.decision == Decision::Allow)
            });
            let a = refused?;
            format!(
                "User: {session_arn} is not authorized to perform: {} on resource: {} because no identity-based policy allows the {} action",
                a.action, a.resource, a.action
            )
        }
    };
    Some(match service {
        "iam" | "sts" => sts_error(403, "AccessDenied", &message),
        "s3" => s3_denied(&message),
        "kms" => response(
            400,
            &[("content-type", "application/x-amz-json-1.1")],
            serde_json::json!({"__type": "AccessDeniedException", "message": message}).to_string(),
        ),
        _ => response(
            403,
            &[
                ("content-type", "application/json"),
                ("x-amzn-ErrorType", "AccessDeniedException"),
            ],
            serde_json::json!({"message": message}).to_string(),
        ),
    })
}

/// Authorize sts:AssumeRole of `role_arn` by `p`.
async fn authorize_assume(
    state: &State,
    p: &Principal,
    role_arn: &str,
    duration: Option<i64>,
    region: &str,
) -> Option<Response<Body>> {
    if duration.is_some_and(|d| d > crate::ROLE_CHAINING_CAP) {
        return Some(sts_error(
            400,
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    let denied = |why: &str| {
        Some(sts_error(
            403,
            "AccessDenied",
            &format!("User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}{why}", p.session_arn),
        ))
    };
    let target = state.admin.get(&account_of(role_arn), region).await;
    let trust = match crate::aws::role(&target, role_name(role_arn)).await {
        Ok(Some(r)) => r.trust,
        _ => return denied(""),
    };
    let identity = match identity_policies(state, p, region).await {
        Ok(v) => v,
        Err(e) => return Some(sts_error(500, "InternalFailure", &e.to_string())),
    };
    let (identity, boundary) = identity;
    let (context, org) = request_org(state, p, &account_of(role_arn), region).await;
    let case = Case {
        principal: p.session_arn.clone(),
        action: "sts:AssumeRole".into(),
        resource: role_arn.to_string(),
        identity_policies: identity,
        resource_policy: Some(trust),
        context,
        permissions_boundary: boundary,
        service_control_policies: org.scps.clone(),
        resource_control_policies: org.rcps.clone(),
    };
    match evaluate(&case) {
        Ok(o) if o.decision == Decision::Allow => None,
        Ok(o) => denied(&why(&o, "sts:AssumeRole", &org)),
        Err(e) => Some(sts_error(400, "MalformedPolicyDocument", &e.to_string())),
    }
}

/// The function ARN (qualified if asked) of a Lambda invoke request, if it is one.
fn invoke_target(uri: &hyper::Uri, region: &str, account: &str) -> Option<String> {
    let path = uri.path();
    let rest = path.strip_prefix("/2015-03-31/functions/")?;
    let name = xacct_policy::document::percent_decode(rest.strip_suffix("/invocations")?);
    let qualifier = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("Qualifier=")))
        .map(xacct_policy::document::percent_decode);
    let mut arn = if name.starts_with("arn:") {
        name
    } else {
        format!(
            "arn:{}:lambda:{region}:{account}:function:{name}",
            xacct_policy::arn::partition_of(region)
        )
    };
    if let Some(q) = qualifier {
        if arn.matches(':').count() == 6 {
            arn = format!("{arn}:{q}");
        }
    }
    Some(arn)
}

async fn authorize_invoke(
    state: &State,
    p: &Principal,
    arn: &str,
    region: &str,
) -> Option<Response<Body>> {
    let identity = match identity_policies(state, p, region).await {
        Ok(v) => v,
        Err(e) => return Some(lambda_denied(&e.to_string())),
    };
    let unqualified = unqualified(arn);
    let fc = state.admin.get(&account_of(arn), region).await;
    let resource_policy = match fc
        .lambda()
        .get_policy()
        .function_name(&unqualified)
        .send()
        .await
    {
        Ok(r) => r
            .policy()
            .and_then(|d| xacct_policy::document::parse_function_policy(d).ok()),
        Err(_) => None,
    };
    let (identity, boundary) = identity;
    let (context, org) = request_org(state, p, &account_of(arn), region).await;
    let case = Case {
        principal: p.session_arn.clone(),
        action: "lambda:InvokeFunction".into(),
        resource: arn.to_string(),
        identity_policies: identity,
        resource_policy,
        context,
        permissions_boundary: boundary,
        service_control_policies: org.scps.clone(),
        resource_control_policies: org.rcps.clone(),
    };
    match evaluate(&case) {
        Ok(o) if o.decision == Decision::Allow => None,
        Ok(o) => Some(lambda_denied(&format!(
            "User: {} is not authorized to perform: lambda:InvokeFunction on resource: {arn}{}",
            p.session_arn,
            why(&o, "lambda:InvokeFunction", &org)
        ))),
        Err(e) => Some(lambda_denied(&e.to_string())),
    }
}

fn s3_denied(message: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>{}</Message><RequestId>xacct-sandbox</RequestId></Error>",
        xml_escape(message)
    );
    response(403, &[("content-type", "application/xml")], body)
}

/// (bucket, key) of a path-style S3 GetObject request (`GET /BUCKET/KEY`, no sub-resource).
fn get_object_target(parts: &hyper::http::request::Parts) -> Option<(String, String)> {
    if parts.method != hyper::Method::GET {
        return None;
    }
    if let Some(q) = parts.uri.query() {
        if !q
            .split('&')
            .all(|kv| kv.starts_with("x-id=GetObject") || kv.is_empty())
        {
            return None;
        }
    }
    let path = parts.uri.path().strip_prefix('/')?;
    let (bucket, key) = path.split_once('/')?;
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    Some((
        xacct_policy::document::percent_decode(bucket),
        xacct_policy::document::percent_decode(key),
    ))
}

/// The account whose buckets include `bucket`, among the accounts the sandbox has seen.
async fn bucket_account(state: &State, bucket: &str, region: &str) -> Option<String> {
    for account in state.registry.accounts() {
        let c = state.admin.get(&account, region).await;
        if let Ok(b) = crate::aws::owned_buckets(&c).await {
            if b.iter().any(|x| x == bucket) {
                return Some(account);
            }
        }
    }
    None
}

/// Authorize s3:GetObject of `bucket/key` by `p`: identity policies and boundary, the bucket policy,
/// and for SSE-KMS with a customer key, kms:Decrypt under the key policy.
async fn authorize_get_object(
    state: &State,
    p: &Principal,
    bucket: &str,
    key: &str,
    region: &str,
) -> Option<Response<Body>> {
    let account = bucket_account(state, bucket, region).await?;
    let c = state.admin.get(&account, region).await;
    let partition = xacct_policy::arn::partition_of(region);
    let facts = match crate::aws::object_guard(&state.admin, &c, bucket, key).await {
        Ok(f) => f,
        Err(e) => return Some(s3_denied(&e.to_string())),
    };
    let (identity, boundary) = match identity_policies(state, p, region).await {
        Ok(v) => v,
        Err(e) => return Some(s3_denied(&e.to_string())),
    };
    let arn = format!("arn:{partition}:s3:::{bucket}/{key}");
    let (context, org) = request_org(state, p, &account, region).await;
    let key_ref = facts.key.as_ref().map(|(k, p)| (k.as_str(), p.as_ref()));
    for (action, resource, resource_policy) in
        xacct_policy::requests::get_object(&arn, facts.bucket_policy.as_ref(), key_ref)
    {
        let case = Case {
            principal: p.session_arn.clone(),
            action: action.clone(),
            resource: resource.clone(),
            identity_policies: identity.clone(),
            resource_policy,
            context: context.clone(),
            permissions_boundary: boundary.clone(),
            service_control_policies: org.scps.clone(),
            resource_control_policies: org.rcps.clone(),
        };
        let o = match evaluate(&case) {
            Ok(o) => o,
            Err(e) => return Some(s3_denied(&e.to_string())),
        };
        if o.decision == Decision::Allow {
            continue;
        }
        return Some(s3_denied(&if action == "kms:Decrypt" {
            format!(
                "User: {} is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext ({resource}) because no key policy or identity policy allows it",
                p.session_arn
            )
        } else {
            format!(
                "User: {} is not authorized to perform: s3:GetObject on resource: \"{arn}\"{}",
                p.session_arn,
                why(&o, "s3:GetObject", &org)
            )
        }));
    }
    None
}

/// Does a trust policy let a service (lambda.amazonaws.com, ecs-tasks, ec2, …) assume the role? Such a
/// role is a workload's, whose sessions the gateway enforces.
fn trusts_a_service(trust: &Value) -> bool {
    let statements = match trust.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    statements.iter().any(|s| {
        s.get("Effect").and_then(|e| e.as_str()) == Some("Allow")
            && s.get("Principal")
                .and_then(|p| p.get("Service"))
                .is_some_and(|v| !v.is_null())
    })
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let i = s.find(open)? + open.len();
    let j = s[i..].find(close)? + i;
    Some(&s[i..j])
}

/// Index a certificate IoT just created or registered (CreateKeysAndCertificate,
/// CreateCertificateFromCsr, RegisterCertificate, RegisterCertificateWithoutCA) by its content, as
/// AWS's credentials provider knows every certificate of its account.
fn certificate_created(
    state: &State,
    path: &str,
    request: &[u8],
    response: &[u8],
    account: &str,
    region: &str,
) {
    if !matches!(
        path,
        "/keys-and-certificate"
            | "/certificates"
            | "/certificate/register"
            | "/certificate/register-no-ca"
    ) {
        return;
    }
    let Ok(answer) = serde_json::from_slice::<Value>(response) else {
        return;
    };
    let asked = serde_json::from_slice::<Value>(request).unwrap_or(Value::Null);
    let pem = answer
        .get("certificatePem")
        .or_else(|| asked.get("certificatePem"))
        .and_then(Value::as_str);
    if let (Some(pem), Some(id)) = (pem, answer.get("certificateId").and_then(Value::as_str)) {
        state.registry.saw_certificate(pem, account, region, id);
    }
}

/// `GET /_xacct_sandbox/device?certificate_id=ID[&clock_offset=SECONDS][&expires_in=SECONDS|none]`:
/// set (and read) how the credentials endpoint treats one certificate.
fn device_control(state: &State, query: &str) -> Response<Body> {
    let mut id = None;
    let (mut offset, mut expires) = (None, None);
    for kv in query.split('&') {
        match kv.split_once('=') {
            Some(("certificate_id", v)) => id = Some(v.to_string()),
            Some(("clock_offset", v)) => offset = v.parse().ok(),
            Some(("expires_in", "none")) => expires = Some(None),
            Some(("expires_in", v)) => expires = v.parse().ok().map(Some),
            _ => {}
        }
    }
    let Some(id) = id else {
        return response(400, &[], String::from("certificate_id is required"));
    };
    let d = state.registry.control_device(&id, offset, expires);
    response(
        200,
        &[("content-type", "application/json")],
        d.to_json().to_string(),
    )
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
    client: super::HttpClient,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    // the sandbox's own control path (never an AWS request): how the credentials endpoint treats
    // one device — its clock, the lifetime it issues — and how many requests it answered
    if parts.uri.path() == "/_xacct_sandbox/device" {
        return Ok(device_control(&state, parts.uri.query().unwrap_or("")));
    }
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(response(400, &[], format!("bad request body: {e}"))),
    };
    let sig = sigv4(&parts.headers);
    let region = sig
        .as_ref()
        .map(|s| s.1.clone())
        .unwrap_or_else(|| "us-east-1".into());
    state.registry.saw_region(&region);
    let principal = sig
        .as_ref()
        .and_then(|(akid, _, _)| state.registry.principal(akid));
    // the Organizations reads of an account in an organization the sandbox keeps itself
    if let Some(op) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AWSOrganizationsV20161128."))
    {
        let caller = sig.as_ref().and_then(|(akid, _, _)| {
            principal
                .as_ref()
                .map(|p| p.account.clone())
                .or_else(|| state.registry.session_account(akid))
        });
        if let Some(m) = caller
            .as_deref()
            .and_then(|c| state.registry.org_model_of(c))
        {
            let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (status, v) = m.answer(op, &req, caller.as_deref().unwrap_or_default());
            return Ok(response(
                status,
                &[("content-type", "application/x-amz-json-1.1")],
                v.to_string(),
            ));
        }
    }
    let fields = if parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("x-www-form-urlencoded"))
    {
        form(&body)
    } else {
        vec![]
    };
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    let assume = get("Action").as_deref() == Some("AssumeRole");
    let role_arn = get("RoleArn").unwrap_or_default();
    if assume {
        state.registry.saw_account(&account_of(&role_arn));
    }
    // moto answers an invoke of a deleted function with 200: answer as Lambda does
    if parts.method == hyper::Method::POST {
        let caller_account = principal.as_ref().map(|p| p.account.clone());
        if let Some(arn) =
            invoke_target(&parts.uri, &region, caller_account.as_deref().unwrap_or(""))
        {
            if Arn::account_of(&arn).is_some_and(|a| !a.is_empty()) {
                let unqualified = unqualified(&arn);
                let c = state.admin.get(&account_of(&arn), &region).await;
                if c.lambda()
                    .get_function()
                    .function_name(&unqualified)
                    .send()
                    .await
                    .is_err()
                {
                    let body = serde_json::json!({"Type": "User", "Message": format!("Function not found: {unqualified}")}).to_string();
                    return Ok(response(
                        404,
                        &[
                            ("content-type", "application/json"),
                            ("x-amzn-ErrorType", "ResourceNotFoundException"),
                        ],
                        body,
                    ));
                }
            }
        }
    }
    if let Some(p) = &principal {
        if assume {
            let duration = get("DurationSeconds").and_then(|d| d.parse().ok());
            if let Some(denied) = authorize_assume(&state, p, &role_arn, duration, &region).await {
                return Ok(denied);
            }
        } else if parts.method == hyper::Method::POST {
            if let Some(arn) = invoke_target(&parts.uri, &region, &p.account) {
                // as Lambda: no log tail across accounts
                let tail = parts
                    .headers
                    .get("x-amz-log-type")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Tail"));
                if tail && account_of(&arn) != p.account {
                    return Ok(lambda_denied("Cross-account log access is not allowed"));
                }
                if let Some(denied) = authorize_invoke(&state, p, &arn, &region).await {
                    return Ok(denied);
                }
            }
        } else if sig.as_ref().is_some_and(|s| s.2 == "s3") {
            if let Some((bucket, key)) = get_object_target(&parts) {
                if let Some(denied) = authorize_get_object(&state, p, &bucket, &key, &region).await
                {
                    return Ok(denied);
                }
            }
        }
    }
    // a session of a workload role assumed with credentials the gateway does not enforce (how the
    // sandbox stands in for the workload): enforce it from now on
    let workload = if assume && principal.is_none() {
        let c = state.admin.get(&account_of(&role_arn), &region).await;
        matches!(
            crate::aws::role(&c, role_name(&role_arn)).await,
            Ok(Some(ref r)) if trusts_a_service(&r.trust)
        )
    } else {
        false
    };
    // the operator's sessions, where their role is enforced (`operator`)
    if principal.is_none() {
        if let Some((akid, _, service)) = &sig {
            let who_asks = get("Action").as_deref() == Some("GetCallerIdentity");
            if let (Some((account, role_arn, session_arn)), false) =
                (state.registry.operator(akid), who_asks)
            {
                let c = state.admin.get(&account, &region).await;
                if crate::operator::enforced(&c, role_name(&role_arn)).await {
                    if let Some(denied) = authorize_operator(
                        &state,
                        &c,
                        service,
                        &parts,
                        &fields,
                        &body,
                        &region,
                        &account,
                        &role_arn,
                        &session_arn,
                    )
                    .await
                    {
                        return Ok(denied);
                    }
                }
            }
        }
    }
    // API Gateway's deployments: what a stage serves is the snapshot taken when its deployment was
    // created (moto keeps none)
    let account_of_request = sig.as_ref().and_then(|(akid, _, _)| {
        principal
            .as_ref()
            .map(|p| p.account.clone())
            .or_else(|| state.registry.session_account(akid))
    });
    if let Some((api, did)) = crate::deployments::summary_request(&parts.method, &parts.uri) {
        // a deployment made before this sandbox started: what it first sees is what is deployed
        let d = match (
            state.registry.deployment(&api, &did),
            account_of_request.as_deref(),
        ) {
            (Some(d), _) => Some(d),
            (None, Some(account)) => {
                let c = state.admin.get(account, &region).await;
                let d = crate::deployments::snapshot(&c, &api).await;
                if let Some(d) = &d {
                    state.registry.deployed(&api, &did, d.clone());
                }
                d
            }
            (None, None) => None,
        };
        if let Some(d) = d {
            let body = crate::deployments::summary_json(&did, &d).to_string();
            return Ok(response(200, &[("content-type", "application/json")], body));
        }
    }
    if let (Some((api, stage, _)), Some(account)) = (
        crate::deployments::export_request(&parts.method, parts.uri.path()),
        account_of_request.as_deref(),
    ) {
        let c = state.admin.get(account, &region).await;
        if let Ok(s) = c
            .apigateway()
            .get_stage()
            .rest_api_id(&api)
            .stage_name(&stage)
            .send()
            .await
        {
            if let Some(did) = s.deployment_id() {
                let d = match state.registry.deployment(&api, did) {
                    Some(d) => Some(d),
                    None => {
                        let d = crate::deployments::snapshot(&c, &api).await;
                        if let Some(d) = &d {
                            state.registry.deployed(&api, did, d.clone());
                        }
                        d
                    }
                };
                if let Some(d) = d {
                    let body = crate::deployments::export_json(&api, &stage, &d).to_string();
                    return Ok(response(200, &[("content-type", "application/json")], body));
                }
            }
        }
    }
    let (rparts, rbytes) = match super::forward(&client, &state.moto, &parts, body.clone()).await {
        Ok(r) => r,
        Err(e) => return Ok(response(502, &[], e.to_string())),
    };
    if let (Some(api), Some(account), true) = (
        crate::deployments::create_request(&parts.method, parts.uri.path()),
        account_of_request.as_deref(),
        rparts.status.is_success(),
    ) {
        let id = serde_json::from_slice::<serde_json::Value>(&rbytes)
            .ok()
            .and_then(|v| v["id"].as_str().map(String::from));
        if let Some(id) = id {
            let c = state.admin.get(account, &region).await;
            if let Some(d) = crate::deployments::snapshot(&c, &api).await {
                state.registry.deployed(&api, &id, d);
            }
        }
    }
    if assume && rparts.status.is_success() {
        let text = String::from_utf8_lossy(&rbytes);
        if let Some(akid) = between(&text, "<AccessKeyId>", "</AccessKeyId>") {
            state.registry.saw_session(akid, &account_of(&role_arn));
            if principal.is_none() && !workload {
                let session = between(&text, "<Arn>", "</Arn>").unwrap_or_default();
                state
                    .registry
                    .saw_operator(akid, &account_of(&role_arn), &role_arn, session);
            }
        }
    }
    if rparts.status.is_success() && parts.method == hyper::Method::POST {
        if let Some((akid, _, service)) = &sig {
            if service == "iot" {
                let account = principal
                    .as_ref()
                    .map(|p| p.account.clone())
                    .or_else(|| state.registry.session_account(akid));
                if let Some(account) = account {
                    certificate_created(
                        &state,
                        parts.uri.path(),
                        &body,
                        &rbytes,
                        &account,
                        &region,
                    );
                }
            }
        }
    }
    if assume && (principal.is_some() || workload) && rparts.status.is_success() {
        let text = String::from_utf8_lossy(&rbytes);
        if let (Some(akid), Some(arn)) = (
            between(&text, "<AccessKeyId>", "</AccessKeyId>"),
            between(&text, "<Arn>", "</Arn>"),
        ) {
            if let Some(secret) = between(&text, "<SecretAccessKey>", "</SecretAccessKey>") {
                state.registry.remember_secret(akid, secret);
            }
            state.registry.register(
                akid,
                Principal {
                    session_arn: arn.to_string(),
                    role_arn: role_arn.clone(),
                    account: account_of(&role_arn),
                    userid: between(&text, "<AssumedRoleId>", "</AssumedRoleId>").map(String::from),
                    iot: None,
                },
            );
        }
    }
    // a device whose AWS clock a test set: STS answers by the same clock as the credentials
    // endpoint, and issues sessions no longer than the endpoint's
    let (mut rparts, mut rbytes) = (rparts, rbytes);
    if assume && rparts.status.is_success() {
        let control = principal
            .as_ref()
            .and_then(|p| p.iot.as_ref())
            .and_then(|d| d.certificate_id.as_deref())
            .and_then(|id| state.registry.device_control_of(id));
        if let Some(c) = control.filter(|c| c.clock_offset != 0 || c.expires_in.is_some()) {
            let text = String::from_utf8_lossy(&rbytes).to_string();
            let fmt = aws_smithy_types::date_time::Format::DateTime;
            if let Some(old) = between(&text, "<Expiration>", "</Expiration>") {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or_default();
                let issued = aws_smithy_types::DateTime::from_str(old, fmt)
                    .map(|d| d.secs())
                    .unwrap_or(now + 3600);
                let expires =
                    c.expires_in.map(|e| issued.min(now + e)).unwrap_or(issued) + c.clock_offset;
                let new = aws_smithy_types::DateTime::from_secs(expires)
                    .fmt(fmt)
                    .unwrap_or_default();
                rbytes = bytes::Bytes::from(text.replacen(old, &new, 1));
                if let Ok(date) = aws_smithy_types::DateTime::from_secs(now + c.clock_offset)
                    .fmt(aws_smithy_types::date_time::Format::HttpDate)
                {
                    if let Ok(v) = hyper::header::HeaderValue::from_str(&date) {
                        rparts.headers.insert(hyper::header::DATE, v);
                    }
                }
                rparts.headers.remove(hyper::header::CONTENT_LENGTH);
            }
        }
    }
    Ok(super::rebuild(rparts, rbytes))
}
