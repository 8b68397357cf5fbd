//! The device side of the IoT credentials provider: `GET /role-aliases/<alias>/credentials` over
//! mutual TLS with the device certificate and key.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Temporary credentials of a session: the IoT role's as the credentials provider returns them, or a
/// source role's session.
#[derive(Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
    /// The endpoint's clock when it answered (its `Date` header, seconds since the epoch).
    #[serde(skip)]
    pub server_date: Option<i64>,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        // never print the secret or the token
        write!(
            f,
            "SessionCredentials {{ access_key_id: {}, expiration: {} }}",
            self.access_key_id, self.expiration
        )
    }
}

/// A device certificate chain and its private key (kept in memory only).
pub struct DeviceIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// AWS IoT's certificate id: SHA-256 of the certificate's DER, hex.
    pub certificate_id: String,
}

/// A device certificate, key or CA bundle that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the certificate is not PEM: {0}")]
    CertificatePem(#[source] rustls::pki_types::pem::Error),
    #[error("the certificate file holds no certificate")]
    NoCertificate,
    /// The key's own parse error is left out: it could quote key material.
    #[error("the private key is not a PEM private key")]
    KeyPem,
    #[error("CA bundle {path} is not PEM: {source}")]
    BundlePem {
        path: std::path::PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("CA bundle {path}: {source}")]
    BundleCertificate {
        path: std::path::PathBuf,
        #[source]
        source: rustls::Error,
    },
}

impl DeviceIdentity {
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<DeviceIdentity, IdentityError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(IdentityError::CertificatePem)?;
        let Some(first) = chain.first() else {
            return Err(IdentityError::NoCertificate);
        };
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| IdentityError::KeyPem)?;
        use sha2::Digest;
        let certificate_id = sha2::Sha256::digest(first.as_ref())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(DeviceIdentity {
            chain,
            key,
            certificate_id,
        })
    }
    pub fn from_files(cert: &Path, key: &Path) -> Result<DeviceIdentity, IdentityError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| IdentityError::Read {
                path: p.to_path_buf(),
                source: e,
            })
        };
        DeviceIdentity::from_pem(&read(cert)?, &read(key)?)
    }
}

/// Why hop 1 failed, in plain words.
#[derive(Debug, Clone)]
pub struct CredError {
    pub status: Option<u16>,
    pub message: String,
    /// The endpoint could not be reached at all (no connection, DNS, timeout): it neither answered
    /// nor refused.
    pub unreachable: bool,
}

pub fn roots(ca_bundle: Option<&Path>) -> Result<rustls::RootCertStore, IdentityError> {
    let mut store = rustls::RootCertStore::empty();
    match ca_bundle {
        Some(p) => {
            let pem = std::fs::read(p).map_err(|e| IdentityError::Read {
                path: p.to_path_buf(),
                source: e,
            })?;
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| IdentityError::BundlePem {
                    path: p.to_path_buf(),
                    source: e,
                })?;
                store.add(c).map_err(|e| IdentityError::BundleCertificate {
                    path: p.to_path_buf(),
                    source: e,
                })?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(c);
            }
        }
    }
    Ok(store)
}

fn words(status: u16, body: &str, alias: &str, id: &DeviceIdentity) -> String {
    let server: String = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
        .unwrap_or_else(|| body.chars().take(200).collect());
    let cert = super::short_id(&id.certificate_id);
    match status {
        403 => format!(
            "403 from the credentials provider ({server}): certificate {cert}… is unknown or inactive, is not attached to the thing named, or the IoT policy attached to it does not allow iot:AssumeRoleWithCertificate on role alias {alias}"
        ),
        404 => format!("404 from the credentials provider: role alias {alias} does not exist ({server})"),
        400 => format!("400 from the credentials provider: the alias's role cannot be assumed ({server}); if the role's trust refuses the credentials provider, check its aws:SourceArn condition: the environment file's iot.source_arn_condition (alias, account or none) chooses it"),
        s => format!("{s} from the credentials provider: {server}"),
    }
}

/// A TLS failure caused by this device's clock: the server's certificate not yet valid or expired
/// by it (the certificate is most likely fine and the clock wrong).
fn clock_words(tls_error: &str) -> Option<String> {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let e = tls_error.to_ascii_lowercase();
    let what = if e.contains("notvalidyet") || e.contains("not valid yet") {
        "the server's certificate is not yet valid"
    } else if e.contains("expired") {
        "the server's certificate has expired"
    } else {
        return None;
    };
    Some(format!(
        "{what} by this device's clock ({now}): the device's clock is most likely wrong; set it (NTP) and retry ({tls_error})"
    ))
}

/// Hop 1: fetch credentials for `alias` from `endpoint` (host or host:port).
pub async fn fetch(
    endpoint: &str,
    alias: &str,
    id: &DeviceIdentity,
    ca_bundle: Option<&Path>,
    thing: Option<&str>,
) -> Result<SessionCredentials, CredError> {
    let fail = |m: String| CredError {
        status: None,
        message: m,
        unreachable: false,
    };
    let unreachable = |m: String| CredError {
        status: None,
        message: m,
        unreachable: true,
    };
    let (host, port) = match endpoint.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => {
            (h.to_string(), p.parse::<u16>().unwrap_or(443))
        }
        _ => (endpoint.to_string(), 443),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_root_certificates(roots(ca_bundle).map_err(|e| fail(e.to_string()))?)
        .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
        .map_err(|e| {
            fail(format!(
                "the device certificate and key do not form a TLS identity: {e}"
            ))
        })?;
    let name = ServerName::try_from(host.clone())
        .map_err(|_| fail(format!("{host} is not a valid host name")))?;
    let tcp = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Err(_) => {
            return Err(unreachable(format!(
                "timed out connecting to the credentials endpoint {host}:{port}"
            )))
        }
        Ok(Err(e))
            if e.to_string().contains("lookup")
                || e.to_string().contains("resolve")
                || e.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(unreachable(format!(
                "DNS lookup of the credentials endpoint {host} failed: {e}"
            )))
        }
        Ok(Err(e)) => {
            return Err(unreachable(format!(
                "cannot connect to the credentials endpoint {host}:{port}: {e}"
            )))
        }
        Ok(Ok(s)) => s,
    };
    let tls = tokio::time::timeout(Duration::from_secs(10), tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp))
        .await
        .map_err(|_| unreachable(format!("TLS handshake with {host}:{port} timed out")))?
        .map_err(|e| {
            let m = e.to_string();
            if let Some(w) = clock_words(&m) {
                fail(format!("TLS handshake with {host}:{port} failed: {w}"))
            } else if m.contains("UnknownIssuer") || m.contains("invalid peer certificate") {
                fail(format!("TLS handshake with {host}:{port} failed: the server's certificate is not trusted ({m}); pass --ca-bundle for a private endpoint"))
            } else {
                fail(format!("TLS handshake with {host}:{port} failed: {m}"))
            }
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| {
            fail(format!(
                "the credentials endpoint rejected the connection: {e}"
            ))
        })?;
    tokio::spawn(conn);
    let mut req =
        hyper::Request::get(format!("/role-aliases/{alias}/credentials")).header("host", endpoint);
    if let Some(t) = thing {
        req = req.header("x-amzn-iot-thingname", t);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail(e.to_string()))?;
    let resp = tokio::time::timeout(Duration::from_secs(20), sender.send_request(req))
        .await
        .map_err(|_| fail("the credentials endpoint did not answer within 20 s".into()))?
        .map_err(|e| {
            // Under TLS 1.3 a refused client certificate shows up only at the first read.
            fail(format!("the credentials endpoint closed the connection — it most likely rejected the client certificate ({})", crate::aws::chain(&e)))
        })?;
    let status = resp.status().as_u16();
    let server_date = resp
        .headers()
        .get("date")
        .and_then(|v| v.to_str().ok())
        .and_then(|d| {
            aws_smithy_types::DateTime::from_str(d, aws_smithy_types::date_time::Format::HttpDate)
                .ok()
        })
        .map(|d| d.secs());
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    if status != 200 {
        return Err(CredError {
            status: Some(status),
            message: words(status, &text, alias, id),
            unreachable: false,
        });
    }
    #[derive(serde::Deserialize)]
    struct Wrap {
        credentials: SessionCredentials,
    }
    serde_json::from_str::<Wrap>(&text)
        .map(|w| SessionCredentials {
            server_date,
            ..w.credentials
        })
        .map_err(|_| fail("the credentials endpoint answered 200 without credentials".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> DeviceIdentity {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["device".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        DeviceIdentity::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap()
    }

    #[test]
    fn a_refused_trust_names_the_source_arn_setting() {
        let w = words(
            400,
            r#"{"message":"Role cannot be assumed"}"#,
            "fleet-device",
            &identity(),
        );
        assert!(w.contains("iot.source_arn_condition"), "{w}");
        assert!(w.contains("Role cannot be assumed"), "{w}");
    }

    #[test]
    fn a_certificate_judged_by_a_wrong_clock_names_the_device_clock() {
        let w = clock_words("invalid peer certificate: NotValidYetContext { time: .. }").unwrap();
        assert!(w.contains("not yet valid by this device's clock"), "{w}");
        assert!(clock_words("invalid peer certificate: Expired")
            .unwrap()
            .contains("expired"));
        assert!(clock_words("invalid peer certificate: UnknownIssuer").is_none());
    }

    #[test]
    fn a_short_certificate_id_never_panics() {
        assert_eq!(super::super::short_id("abc"), "abc");
        assert_eq!(super::super::short_id(&"a".repeat(64)), "a".repeat(12));
        let mut id = identity();
        id.certificate_id = "ab".into();
        assert!(words(403, "{}", "alias", &id).contains("certificate ab…"));
    }
}
