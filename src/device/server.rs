//! `xacct serve-credentials`: a local credentials server for one device, in the container-credentials
//! form AWS SDKs read (`AWS_CONTAINER_CREDENTIALS_FULL_URI` over plain http on loopback, and
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`). It listens on loopback only, answers `GET /ENV` with
//! `{"AccessKeyId","SecretAccessKey","Token","Expiration"}` to a request that carries the token
//! (compared in constant time) and no `Origin` header, refreshes each environment's credentials in
//! the background ahead of expiry (jittered backoff on failure), keeps serving valid credentials
//! through an outage, and answers 503 once they have expired.

use super::{now, Chain, Issued};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The default address: loopback, a fixed port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7273";

/// One environment's credentials as the server holds them.
#[derive(Default)]
struct Slot {
    issued: Option<Issued>,
    /// The last failure, while there is one.
    failure: Option<String>,
}

pub struct State {
    token: String,
    slots: BTreeMap<String, Mutex<Slot>>,
}

/// A listen address, refused unless it is loopback.
pub fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s
        .parse()
        .map_err(|_| format!("--listen {s}: write IP:PORT, e.g. {DEFAULT_LISTEN}"))?;
    if !a.ip().is_loopback() {
        return Err(format!(
            "--listen {s}: refusing an address that is not loopback (127.0.0.0/8 or ::1): the credentials would be served to the network"
        ));
    }
    Ok(a)
}

/// A random token: 32 bytes from the system's generator, hex.
pub fn new_token() -> Result<String, String> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Compare in constant time (for equal lengths; a length difference says nothing of the token).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Write the token file: 0600, or 0640 owned by `group`; a new file renamed into place.
pub fn write_token(path: &Path, token: &str, group: Option<&str>) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
    }
    let gid = match group {
        Some(g) => Some(group_id(g)?),
        None => None,
    };
    super::write_private(path, token.as_bytes(), gid)
}

fn group_id(name: &str) -> Result<u32, String> {
    let c =
        std::ffi::CString::new(name).map_err(|_| format!("--token-group {name}: not a name"))?;
    // SAFETY: getgrnam with a NUL-terminated name; the result is read at once
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    if g.is_null() {
        if let Ok(n) = name.parse::<u32>() {
            return Ok(n);
        }
        return Err(format!("--token-group {name}: no such group"));
    }
    // SAFETY: g is non-null and points at a struct group
    Ok(unsafe { (*g).gr_gid })
}

fn json(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn message(status: u16, m: &str) -> Response<Full<Bytes>> {
    json(status, serde_json::json!({ "message": m }).to_string())
}

/// Answer one request.
fn answer(state: &State, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if req.headers().contains_key("origin") {
        return message(
            403,
            "refused: a request with an Origin header (a web page) may not read credentials",
        );
    }
    let given = req
        .headers()
        .get("authorization")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let given = given.trim_ascii();
    if !same(given, state.token.as_bytes()) {
        return message(
            401,
            "refused: the Authorization header does not carry the token of the token file",
        );
    }
    if req.method() != hyper::Method::GET {
        return message(405, "only GET");
    }
    let env = req.uri().path().trim_start_matches('/');
    let Some(slot) = state.slots.get(env) else {
        return message(
            404,
            &format!(
                "no environment {env} here (serving: {})",
                state.slots.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    };
    let slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    match &slot.issued {
        Some(i) if now() < i.expires => json(
            200,
            serde_json::json!({
                "AccessKeyId": i.access_key_id,
                "SecretAccessKey": i.secret_access_key,
                "Token": i.session_token,
                "Expiration": i.expiration(),
            })
            .to_string(),
        ),
        Some(i) => message(
            503,
            &format!(
                "the credentials of {env} expired at {} and could not be refreshed: {}",
                i.expiration(),
                slot.failure.as_deref().unwrap_or("no answer yet")
            ),
        ),
        None => message(
            503,
            &format!(
                "no credentials for {env} yet: {}",
                slot.failure
                    .as_deref()
                    .unwrap_or("the first request is under way")
            ),
        ),
    }
}

/// Options of the server.
pub struct Options {
    pub listen: SocketAddr,
    pub token_file: PathBuf,
    pub token_group: Option<String>,
    pub refresh_before: i64,
}

/// Keep one environment's credentials fresh, forever.
async fn refresher(chain: Chain<'_>, name: String, state: Arc<State>, refresh_before: i64) {
    let mut backoff = 1u64;
    let mut warned = false;
    loop {
        match chain.obtain().await {
            Ok(i) => {
                if !warned {
                    if let Some(w) = super::skew_words(i.skew) {
                        eprintln!("serve-credentials: {w}");
                        warned = true;
                    }
                }
                let wait = (i.expires - refresh_before - now()).max(5);
                {
                    let mut s = state.slots[&name].lock().unwrap_or_else(|e| e.into_inner());
                    s.issued = Some(i);
                    s.failure = None;
                }
                backoff = 1;
                tokio::time::sleep(std::time::Duration::from_secs(wait as u64)).await;
            }
            Err(f) => {
                eprintln!("serve-credentials: {name}: {}", f.message);
                {
                    let mut s = state.slots[&name].lock().unwrap_or_else(|e| e.into_inner());
                    s.failure = Some(f.message);
                }
                // jittered exponential backoff: 1 s doubling to 60 s, ±25 %
                let jitter = (now() as u64 ^ (std::process::id() as u64)) % 50;
                let ms = backoff * 1000 * (75 + jitter) / 100;
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                backoff = (backoff * 2).min(60);
            }
        }
    }
}

/// Serve until SIGTERM or SIGINT. `chains`: (environment, its chain).
pub async fn serve(chains: Vec<(String, Chain<'_>)>, opts: Options) -> Result<(), String> {
    let token = new_token()?;
    write_token(&opts.token_file, &token, opts.token_group.as_deref())?;
    let state = Arc::new(State {
        token,
        slots: chains
            .iter()
            .map(|(n, _)| (n.clone(), Mutex::new(Slot::default())))
            .collect(),
    });
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let accept = {
        let state = state.clone();
        async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let r = answer(&state, &req);
                        async move { Ok::<_, Infallible>(r) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    };
    let names: Vec<String> = chains.iter().map(|(n, _)| n.clone()).collect();
    let refreshers = futures::future::join_all(
        chains
            .into_iter()
            .map(|(n, c)| refresher(c, n, state.clone(), opts.refresh_before)),
    );
    // once each environment's first request has been answered (or refused), say where to ask
    let announce = {
        let state = state.clone();
        let token_file = opts.token_file.clone();
        async move {
            for _ in 0..600 {
                let ready = state.slots.values().all(|s| {
                    let s = s.lock().unwrap_or_else(|e| e.into_inner());
                    s.issued.is_some() || s.failure.is_some()
                });
                if ready {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                for (i, n) in names.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{}export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://{addr}/{n}",
                        if i == 0 { "" } else { "# " }
                    );
                }
                let _ = writeln!(
                    out,
                    "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
                    std::fs::canonicalize(&token_file)
                        .unwrap_or(token_file.clone())
                        .display()
                );
                let _ = out.flush();
            }
            std::future::pending::<()>().await
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot catch SIGTERM: {e}"))?;
    tokio::select! {
        _ = accept => {}
        _ = refreshers => {}
        _ = announce => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("serve-credentials: stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_listens_and_tokens_compare_whole() {
        assert!(listen_addr("127.0.0.1:7273").is_ok());
        assert!(listen_addr("[::1]:7273").is_ok());
        let e = listen_addr("0.0.0.0:7273").unwrap_err();
        assert!(e.contains("not loopback"), "{e}");
        assert!(listen_addr("192.168.1.10:80").is_err());
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        let t = new_token().unwrap();
        assert_eq!(t.len(), 64);
        assert_ne!(t, new_token().unwrap());
    }

    #[test]
    fn the_token_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub").join("token");
        write_token(&p, "secret", None).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "secret");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // a group by id: the file becomes 0640
        let gid = unsafe { libc::getgid() };
        let q = d.path().join("token2");
        write_token(&q, "s", Some(&gid.to_string())).unwrap();
        assert_eq!(
            std::fs::metadata(&q).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }
}
