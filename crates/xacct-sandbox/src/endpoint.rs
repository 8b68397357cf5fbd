//! Emulator of the AWS IoT credentials provider: `GET /role-aliases/<alias>/credentials` over mutual
//! TLS. The client certificate is looked up by its content in the emulated IoT accounts (never trusted
//! blindly), the IoT policies attached to it are evaluated with the policy engine, and the alias's role
//! is assumed as credentials.iot.amazonaws.com would, with AWS's status codes and error shapes.

use super::{response, Body, Principal, State};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use xacct_policy::eval::{evaluate, evaluate_identity, Decision};

/// Accepts any client certificate at the TLS layer (proof of key possession is still checked by
/// rustls through the handshake signature); the request handler then looks the certificate up in IoT.
#[derive(Debug)]
struct AnyClientCert(Arc<rustls::crypto::CryptoProvider>);

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The endpoint's server certificate (127.0.0.1/localhost), signed by the sandbox CA.
fn certificates(
    ca: &super::Ca,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), super::SandboxError> {
    ca.issue(
        &["localhost", "127.0.0.1"],
        "xacct sandbox credentials endpoint",
    )
}

/// Start the endpoint on a free local port; returns https://127.0.0.1:PORT.
pub async fn serve(state: Arc<State>, ca: &super::Ca) -> Result<String, super::SandboxError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (chain, key) = certificates(ca)?;
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(super::SandboxError::Tls)?
        .with_client_cert_verifier(Arc::new(AnyClientCert(provider)))
        .with_single_cert(chain, key)
        .map_err(super::SandboxError::Tls)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener =
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(super::SandboxError::io(
                "the credentials endpoint cannot listen",
            ))?;
    let addr = listener.local_addr().map_err(super::SandboxError::io(
        "the credentials endpoint cannot listen",
    ))?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let der = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec());
                let Some(der) = der else { return };
                let der = Arc::new(der);
                let svc =
                    hyper::service::service_fn(move |req| handle(req, state.clone(), der.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Ok(format!("https://{addr}"))
}

fn error(status: u16, kind: &str, message: &str) -> Response<Body> {
    response(
        status,
        &[
            ("content-type", "application/json"),
            ("x-amzn-ErrorType", kind),
        ],
        json!({"message": message}).to_string(),
    )
}

/// A registered certificate found by its content.
struct Found {
    account: String,
    region: String,
    id: String,
    arn: String,
    status: String,
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .ok()
        .map(|c| c.to_vec())
}

/// Describe certificate `id` in (account, region) and return it if its content is `der`.
async fn describe_if_same(
    state: &State,
    account: &str,
    region: &str,
    id: &str,
    der: &[u8],
) -> Option<Found> {
    let c = state.admin.get(account, region).await;
    let out = c
        .iot()
        .describe_certificate()
        .certificate_id(id)
        .send()
        .await
        .ok()?;
    let d = out.certificate_description()?;
    // found by content: the same id must also mean the same certificate
    if d.certificate_pem().and_then(pem_to_der).as_deref() != Some(der) {
        return None;
    }
    Some(Found {
        account: account.to_string(),
        region: region.to_string(),
        id: id.to_string(),
        arn: d.certificate_arn().unwrap_or_default().to_string(),
        status: d
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
    })
}

/// Find the registered certificate whose content is `der`, in every account and region the sandbox
/// has seen: where the gateway saw IoT create or register it (or where it was found before) first,
/// then AWS's id (SHA-256 of the DER) in every account, then a scan.
async fn find_certificate(state: &State, der: &[u8]) -> Option<Found> {
    let digest = crate::certificate_id(der);
    let known = state
        .registry
        .certificates
        .lock()
        .unwrap()
        .get(&digest)
        .cloned();
    if let Some((account, region, id)) = known {
        if let Some(f) = describe_if_same(state, &account, &region, &id, der).await {
            return Some(f);
        }
    }
    let accounts = state.registry.accounts();
    let regions = state.registry.regions();
    // by AWS's id in every account first (moto started by the sandbox's launcher uses it), then a
    // scan of every account's certificates (a moto that names certificates its own way)
    for account in accounts.iter().rev() {
        for region in &regions {
            if let Some(f) = describe_if_same(state, account, region, &digest, der).await {
                return Some(f);
            }
        }
    }
    for account in accounts.iter().rev() {
        for region in &regions {
            let c = state.admin.get(account, region).await;
            let mut marker: Option<String> = None;
            loop {
                let mut req = c.iot().list_certificates().page_size(250);
                if let Some(m) = &marker {
                    req = req.marker(m);
                }
                let Ok(page) = req.send().await else { break };
                for cert in page.certificates() {
                    let Some(id) = cert.certificate_id() else {
                        continue;
                    };
                    if let Some(f) = describe_if_same(state, account, region, id, der).await {
                        state.registry.certificates.lock().unwrap().insert(
                            digest.clone(),
                            (account.clone(), region.clone(), id.to_string()),
                        );
                        return Some(f);
                    }
                }
                match page.next_marker() {
                    Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                    _ => break,
                }
            }
        }
    }
    None
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
    der: Arc<Vec<u8>>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let alias = match path
        .strip_prefix("/role-aliases/")
        .and_then(|r| r.strip_suffix("/credentials"))
    {
        Some(a) if req.method() == hyper::Method::GET && !a.is_empty() => {
            xacct_policy::document::percent_decode(a)
        }
        _ => return Ok(error(404, "ResourceNotFoundException", "Not Found")),
    };
    let thing = req
        .headers()
        .get("x-amzn-iot-thingname")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    Ok(credentials(&state, &der, &alias, thing.as_deref()).await)
}

/// The IoT policies a thing gets from its thing groups: those attached to each group it is in and
/// to each of their parent groups.
async fn thing_group_policies(c: &crate::aws::Clients, thing: &str) -> Vec<Value> {
    let mut groups: Vec<String> = Vec::new();
    let Ok(direct) = c
        .iot()
        .list_thing_groups_for_thing()
        .thing_name(thing)
        .send()
        .await
    else {
        return vec![];
    };
    for g in direct.thing_groups() {
        let Some(name) = g.group_name() else { continue };
        if let Ok(d) = c
            .iot()
            .describe_thing_group()
            .thing_group_name(name)
            .send()
            .await
        {
            if let Some(a) = d.thing_group_arn() {
                groups.push(a.to_string());
            }
            if let Some(m) = d.thing_group_metadata() {
                for p in m.root_to_parent_thing_groups() {
                    if let Some(a) = p.group_arn() {
                        groups.push(a.to_string());
                    }
                }
            }
        }
    }
    groups.sort();
    groups.dedup();
    let mut out = Vec::new();
    for target in groups {
        let Ok(att) = c
            .iot()
            .list_attached_policies()
            .target(&target)
            .send()
            .await
        else {
            continue;
        };
        for p in att.policies() {
            if let Some(name) = p.policy_name() {
                if let Ok(Some(policy)) = crate::aws::iot_policy(c, name).await {
                    out.push(policy);
                }
            }
        }
    }
    out
}

async fn credentials(
    state: &State,
    der: &[u8],
    alias: &str,
    thing: Option<&str>,
) -> Response<Body> {
    let Some(cert) = find_certificate(state, der).await else {
        return error(
            403,
            "ForbiddenException",
            "Access Denied: the certificate is not registered with AWS IoT",
        );
    };
    let control = state.registry.device_request(&cert.id);
    if cert.status != "ACTIVE" {
        return error(
            403,
            "ForbiddenException",
            &format!("Access Denied: the certificate is {}", cert.status),
        );
    }
    let c = state.admin.get(&cert.account, &cert.region).await;
    let desc = match c.iot().describe_role_alias().role_alias(alias).send().await {
        Ok(d) => d,
        Err(_) => {
            return error(
                404,
                "ResourceNotFoundException",
                &format!("Role alias {alias} does not exist"),
            )
        }
    };
    let Some(d) = desc.role_alias_description() else {
        return error(
            404,
            "ResourceNotFoundException",
            &format!("Role alias {alias} does not exist"),
        );
    };
    let alias_arn = d.role_alias_arn().map(String::from).unwrap_or_else(|| {
        format!(
            "arn:aws:iot:{}:{}:rolealias/{alias}",
            cert.region, cert.account
        )
    });
    let role_arn = d.role_arn().unwrap_or_default().to_string();
    let duration = d.credential_duration_seconds().unwrap_or(3600);

    // the IoT policies attached to the certificate must allow iot:AssumeRoleWithCertificate on the alias
    let mut docs = Vec::new();
    if let Ok(att) = c
        .iot()
        .list_attached_policies()
        .target(&cert.arn)
        .send()
        .await
    {
        for p in att.policies() {
            if let Some(name) = p.policy_name() {
                if let Ok(Some(policy)) = crate::aws::iot_policy(&c, name).await {
                    docs.push(policy);
                }
            }
        }
    }
    // a thing named in x-amzn-iot-thingname must be attached to the certificate; its thing groups'
    // policies (and their parent groups') then apply too, and its thing type is known
    let mut thing_type: Option<String> = None;
    if let Some(t) = thing {
        let attached = c
            .iot()
            .list_principal_things()
            .principal(&cert.arn)
            .send()
            .await;
        let ok = attached
            .map(|a| a.things().iter().any(|x| x == t))
            .unwrap_or(false);
        if !ok {
            return error(403, "ForbiddenException", "Invalid thing name passed");
        }
        thing_type = c
            .iot()
            .describe_thing()
            .thing_name(t)
            .send()
            .await
            .ok()
            .and_then(|d| d.thing_type_name().map(String::from));
        for policy in thing_group_policies(&c, t).await {
            docs.push(policy);
        }
    }
    let req =
        xacct_policy::requests::assume_role_with_certificate(&alias_arn, Some(&cert.id), thing);
    match evaluate_identity(&docs, &req.action, &req.resource, &req.context) {
        Ok(o) if o.decision == Decision::Allow => {}
        _ => return error(403, "ForbiddenException", "Access Denied"),
    }
    // the role: must exist, allow the duration, and trust the credentials provider
    let der_id = crate::certificate_id(der);
    let role_name = role_arn.rsplit('/').next().unwrap_or("");
    let role = match crate::aws::role(&c, role_name).await {
        Ok(Some(r)) => (r.trust, r.max_session_duration),
        _ => {
            return error(
                400,
                "InvalidRequestException",
                &format!("Role {role_arn} cannot be assumed: it does not exist"),
            )
        }
    };
    if duration > role.1 {
        return error(
            400,
            "InvalidRequestException",
            &format!("The requested credential duration {duration} s exceeds the MaxSessionDuration {} s of {role_arn}", role.1),
        );
    }
    let case =
        xacct_policy::requests::provider_assumes_role(&role_arn, role.0, &cert.account, &alias_arn);
    if !matches!(evaluate(&case), Ok(o) if o.decision == Decision::Allow) {
        return error(
            400,
            "InvalidRequestException",
            &format!("Role {role_arn} cannot be assumed by the credentials provider: its trust policy does not allow credentials.iot.amazonaws.com"),
        );
    }
    let out = match c
        .sts()
        .assume_role()
        .role_arn(&role_arn)
        // named, as AWS names it, after the certificate id: the SHA-256 of its DER (moto's own ids
        // are not)
        .role_session_name(&der_id)
        .duration_seconds(duration)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => return error(500, "InternalFailure", &crate::aws::chain(&e)),
    };
    let (Some(creds), Some(user)) = (out.credentials(), out.assumed_role_user()) else {
        return error(500, "InternalFailure", "no credentials");
    };
    state
        .registry
        .remember_secret(creds.access_key_id(), creds.secret_access_key());
    state.registry.register(
        creds.access_key_id(),
        Principal {
            session_arn: user.arn().to_string(),
            role_arn: role_arn.clone(),
            account: cert.account.clone(),
            userid: Some(user.assumed_role_id().to_string()),
            iot: Some(xacct_policy::context::IotDevice {
                certificate_id: Some(cert.id.clone()),
                thing_name: thing.map(String::from),
                thing_type,
            }),
        },
    );
    // the endpoint's clock (a test may set it off the real one) dates the answer and the expiry
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let expires = control
        .expires_in
        .map(|e| real_now + e)
        .unwrap_or(creds.expiration().secs())
        + control.clock_offset;
    let expiration = aws_smithy_types::DateTime::from_secs(expires)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let date = aws_smithy_types::DateTime::from_secs(real_now + control.clock_offset)
        .fmt(aws_smithy_types::date_time::Format::HttpDate)
        .unwrap_or_default();
    response(
        200,
        &[("content-type", "application/json"), ("date", &date)],
        json!({"credentials": {
            "accessKeyId": creds.access_key_id(),
            "secretAccessKey": creds.secret_access_key(),
            "sessionToken": creds.session_token(),
            "expiration": expiration,
        }})
        .to_string(),
    )
}
