//! A fault and latency injector: an HTTP proxy between xacct and moto (used through
//! AWS_ENDPOINT_URL), seeded and deterministic in what it decides. It adds latency, answers a share of
//! requests with AWS-shaped throttling, 500/503 or a dropped connection (before the request reaches
//! moto, so a fault never has a side effect), can hold every write after the k-th (to kill the client
//! right after its k-th write), and counts requests by service and action, reads and writes.
//! Test support and benchmark support, not product code.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    Unavailable,
    Drop,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub latency: Duration,
    pub jitter: Duration,
    /// Share of requests (0.0..1.0) answered with one of `faults` instead of moto's answer.
    pub fault_rate: f64,
    pub faults: Vec<Fault>,
    /// Never answer a write after the first `k` writes (they reached moto; the client is then killed).
    pub hold_after_writes: Option<usize>,
    /// Fail the k-th write with a 500 and every request after it (the service "stops").
    pub fail_write_and_stop: Option<usize>,
    /// Answer this many CreateRole/UpdateAssumeRolePolicy requests that name an AWS principal with
    /// IAM's eventual-consistency error ("Invalid principal in policy"), as AWS does right after the
    /// principal role was created.
    pub invalid_principal: usize,
    /// Answer this many sts:AssumeRole requests for a role whose ARN contains the text with
    /// AccessDenied, as AWS does for a few seconds after a trust or policy change (propagation).
    pub deny_assume: Option<(String, usize)>,
    /// Answer this many Lambda AddPermission requests with "The provided principal was invalid", as
    /// Lambda does while IAM has not propagated a role created moments ago.
    pub invalid_lambda_principal: usize,
    /// Before forwarding the CreateRole of the role with this name, create that role without xacct's
    /// tags (as someone else would have between plan and apply), so IAM answers EntityAlreadyExists.
    pub squat_create_role: Option<String>,
    /// Buckets and their regions: an S3 request for one of them signed for another region is
    /// answered as S3 does, 301 PermanentRedirect naming the bucket's region (x-amz-bucket-region).
    pub bucket_regions: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 1,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            fault_rate: 0.0,
            faults: vec![
                Fault::Throttle,
                Fault::ServerError,
                Fault::Unavailable,
                Fault::Drop,
            ],
            hold_after_writes: None,
            fail_write_and_stop: None,
            invalid_principal: 0,
            deny_assume: None,
            invalid_lambda_principal: 0,
            squat_create_role: None,
            bucket_regions: vec![],
        }
    }
}

#[derive(Default)]
pub struct Counters {
    pub by_action: Mutex<BTreeMap<String, usize>>,
    pub reads: AtomicUsize,
    pub writes: AtomicUsize,
    pub faults: AtomicUsize,
    pub held: AtomicUsize,
    pub invalid_principal: AtomicUsize,
    /// S3 requests answered 301 for a bucket of another region.
    pub redirects: AtomicUsize,
    pub denied_assume: AtomicUsize,
    pub invalid_lambda_principal: AtomicUsize,
    /// Sum of the time each request took through the proxy (the cost of issuing them one by one).
    pub busy_us: AtomicU64,
}

impl Counters {
    pub fn total(&self) -> usize {
        self.by_action.lock().unwrap().values().sum()
    }
    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        self.by_action.lock().unwrap().clone()
    }
}

/// One answer as the upstream gave it, keyed by the request that got it (method, path and query,
/// body): what a replay serves back.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub key: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

fn request_key(parts: &hyper::http::request::Parts, body: &[u8]) -> String {
    format!(
        "{} {} {}",
        parts.method,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
        String::from_utf8_lossy(body)
    )
}

struct State {
    /// Answers recorded while recording is on.
    recording: Mutex<Option<Vec<Recorded>>>,
    upstream: String,
    config: Mutex<Config>,
    rng: Mutex<u64>,
    counters: Arc<Counters>,
    stopped: std::sync::atomic::AtomicBool,
    client: xacct_sandbox::HttpClient,
}

pub struct Injector {
    pub url: String,
    pub counters: Arc<Counters>,
    state: Arc<State>,
}

impl Injector {
    /// Start a proxy to `upstream` on a free local port (its own runtime, for the life of the process).
    pub fn start(upstream: &str, config: Config) -> Injector {
        let counters = Arc::new(Counters::default());
        let state = Arc::new(State {
            recording: Mutex::new(None),
            upstream: upstream.trim_end_matches('/').to_string(),
            rng: Mutex::new(config.seed.max(1)),
            config: Mutex::new(config),
            counters: counters.clone(),
            stopped: Default::default(),
            client: xacct_sandbox::http_client(),
        });
        let s2 = state.clone();
        let url = serve_on_own_thread(move |req| handle(req, s2.clone()));
        Injector {
            url,
            counters,
            state,
        }
    }

    /// Start recording every answer that passes through (replacing an earlier recording).
    pub fn record(&self) {
        *self.state.recording.lock().unwrap() = Some(Vec::new());
    }

    /// Stop recording and return what was recorded.
    pub fn take_recording(&self) -> Vec<Recorded> {
        self.state
            .recording
            .lock()
            .unwrap()
            .take()
            .unwrap_or_default()
    }

    pub fn set(&self, f: impl FnOnce(&mut Config)) {
        f(&mut self.state.config.lock().unwrap());
    }

    pub fn reset_counters(&self) {
        self.counters.by_action.lock().unwrap().clear();
        for c in [
            &self.counters.reads,
            &self.counters.writes,
            &self.counters.faults,
            &self.counters.held,
            &self.counters.invalid_principal,
            &self.counters.denied_assume,
            &self.counters.invalid_lambda_principal,
            &self.counters.redirects,
        ] {
            c.store(0, Ordering::SeqCst);
        }
        self.counters.busy_us.store(0, Ordering::SeqCst);
    }
}

fn next(rng: &Mutex<u64>) -> u64 {
    let mut x = rng.lock().unwrap();
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

const WRITE_PREFIXES: &[&str] = &[
    "Create", "Update", "Put", "Delete", "Tag", "Untag", "Attach", "Detach", "Remove", "Add", "Set",
];

/// (service, action, is_write) of a request.
pub fn classify(
    method: &hyper::Method,
    path: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> (String, String, bool) {
    let service = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    let text = String::from_utf8_lossy(body);
    if let Some(action) = text.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        let write = WRITE_PREFIXES.iter().any(|p| action.starts_with(p));
        return (service, action.to_string(), write);
    }
    // REST (IoT, Lambda): the first path segment names the resource
    let seg = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let seg = if seg == "2015-03-31" {
        path.split('/').nth(2).unwrap_or("")
    } else {
        seg
    };
    let action = format!(
        "{method} /{seg}{}",
        if path.ends_with("/invocations") {
            "/invocations"
        } else {
            ""
        }
    );
    let read_posts = ["policy-targets", "attached-policies"];
    let write = match *method {
        hyper::Method::GET | hyper::Method::HEAD => false,
        hyper::Method::POST => !read_posts.contains(&seg) && !path.ends_with("/invocations"),
        _ => true,
    };
    (service, action, write)
}

fn fault_response(kind: Fault, query_api: bool) -> Option<Response<Full<Bytes>>> {
    let (status, code, msg) = match kind {
        Fault::Throttle if query_api => (400, "Throttling", "Rate exceeded"),
        Fault::Throttle => (429, "TooManyRequestsException", "Rate exceeded"),
        Fault::ServerError => (
            500,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
        ),
        Fault::Unavailable => (
            503,
            "ServiceUnavailable",
            "Service is unavailable. Please try again.",
        ),
        Fault::Drop => return None,
    };
    if query_api {
        return Some(query_error(status, "Receiver", code, msg));
    }
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-ErrorType", code)
        .body(Full::new(Bytes::from(format!("{{\"message\":\"{msg}\"}}"))))
        .ok()
}

/// An error answer of a query API (IAM, STS), as AWS writes it.
fn query_error(status: u16, kind: &str, code: &str, message: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(format!(
            "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
        ))))
        .unwrap()
}

async fn handle(
    req: Request<Incoming>,
    st: Arc<State>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let (service, action, write) = classify(&parts.method, parts.uri.path(), &parts.headers, &body);
    let query_api = matches!(service.as_str(), "iam" | "sts");
    *st.counters
        .by_action
        .lock()
        .unwrap()
        .entry(format!("{service}:{action}"))
        .or_default() += 1;
    let cfg = st.config.lock().unwrap().clone();
    let n_write = if write {
        st.counters.writes.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    if !write {
        st.counters.reads.fetch_add(1, Ordering::SeqCst);
    }
    // latency
    let jitter = if cfg.jitter.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_micros(next(&st.rng) % cfg.jitter.as_micros() as u64)
    };
    tokio::time::sleep(cfg.latency + jitter).await;
    let text = String::from_utf8_lossy(&body);
    if let Some((role, times)) = &cfg.deny_assume {
        let wanted = percent_encoding_lite(role);
        if action == "AssumeRole"
            && (text.contains(role.as_str()) || text.contains(&wanted))
            && st.counters.denied_assume.load(Ordering::SeqCst) < *times
        {
            st.counters.denied_assume.fetch_add(1, Ordering::SeqCst);
            return Ok(query_error(
                403,
                "Sender",
                "AccessDenied",
                "User is not authorized to perform: sts:AssumeRole (injected: propagation)",
            ));
        }
    }
    if parts.method == hyper::Method::POST
        && parts.uri.path().starts_with("/2015-03-31/functions/")
        && parts.uri.path().ends_with("/policy")
        && st.counters.invalid_lambda_principal.load(Ordering::SeqCst)
            < cfg.invalid_lambda_principal
    {
        st.counters
            .invalid_lambda_principal
            .fetch_add(1, Ordering::SeqCst);
        if write {
            st.counters.writes.fetch_sub(1, Ordering::SeqCst);
        }
        return Ok(Response::builder()
            .status(400)
            .header("content-type", "application/json")
            .header("x-amzn-ErrorType", "InvalidParameterValueException")
            .body(Full::new(Bytes::from(
                r#"{"Type":"User","message":"The provided principal was invalid. Please check the principal and try again."}"#,
            )))
            .unwrap());
    }
    if (action == "CreateRole" || action == "UpdateAssumeRolePolicy")
        && text.contains("%22AWS%22")
        && st.counters.invalid_principal.load(Ordering::SeqCst) < cfg.invalid_principal
    {
        st.counters.invalid_principal.fetch_add(1, Ordering::SeqCst);
        if write {
            st.counters.writes.fetch_sub(1, Ordering::SeqCst);
        }
        return Ok(query_error(
            400,
            "Sender",
            "MalformedPolicyDocument",
            "Invalid principal in policy: \"AWS\":\"arn:aws:iam::000000000000:role/x\"",
        ));
    }
    if write {
        if let Some(k) = cfg.hold_after_writes {
            if n_write > k {
                st.counters.held.fetch_add(1, Ordering::SeqCst);
                futures::future::pending::<()>().await;
            }
        }
        if cfg.fail_write_and_stop == Some(n_write) {
            st.stopped.store(true, Ordering::SeqCst);
        }
    }
    if st.stopped.load(Ordering::SeqCst) {
        st.counters.faults.fetch_add(1, Ordering::SeqCst);
        return Ok(fault_response(Fault::ServerError, query_api).unwrap());
    }
    if cfg.fault_rate > 0.0 && !cfg.faults.is_empty() {
        let draw = (next(&st.rng) % 1_000_000) as f64 / 1_000_000.0;
        if draw < cfg.fault_rate {
            st.counters.faults.fetch_add(1, Ordering::SeqCst);
            let kind = cfg.faults[(next(&st.rng) % cfg.faults.len() as u64) as usize];
            if write {
                // the write did not happen
                st.counters.writes.fetch_sub(1, Ordering::SeqCst);
            }
            return match fault_response(kind, query_api) {
                Some(r) => Ok(r),
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected drop",
                )),
            };
        }
    }
    if service == "s3" {
        let signed_for = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(2))
            .unwrap_or("")
            .to_string();
        let bucket = parts
            .uri
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        if let Some((_, region)) = cfg.bucket_regions.iter().find(|(b, _)| b == bucket) {
            if *region != signed_for {
                st.counters.redirects.fetch_add(1, Ordering::SeqCst);
                if write {
                    st.counters.writes.fetch_sub(1, Ordering::SeqCst);
                }
                let body = if parts.method == hyper::Method::HEAD {
                    String::new()
                } else {
                    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Bucket>{bucket}</Bucket><Endpoint>s3.{region}.amazonaws.com</Endpoint></Error>")
                };
                return Ok(Response::builder()
                    .status(301)
                    .header("content-type", "application/xml")
                    .header("x-amz-bucket-region", region.as_str())
                    .body(Full::new(Bytes::from(body)))
                    .unwrap());
            }
        }
    }
    if let Some(name) = cfg.squat_create_role.as_deref() {
        if action == "CreateRole" && text.split('&').any(|kv| kv == format!("RoleName={name}")) {
            let squat: Vec<&str> = text
                .split('&')
                .filter(|kv| !kv.starts_with("Tags.member"))
                .collect();
            let (mut p, _) = Request::builder()
                .method(parts.method.clone())
                .uri(parts.uri.clone())
                .body(())
                .unwrap()
                .into_parts();
            p.headers = parts.headers.clone();
            p.headers.remove(hyper::header::CONTENT_LENGTH);
            let _ =
                xacct_sandbox::forward(&st.client, &st.upstream, &p, Bytes::from(squat.join("&")))
                    .await;
        }
    }
    let key = request_key(&parts, &body);
    let out = match xacct_sandbox::forward(&st.client, &st.upstream, &parts, body).await {
        Ok((rp, bytes)) => {
            if let Some(rec) = st.recording.lock().unwrap().as_mut() {
                rec.push(Recorded {
                    key,
                    status: rp.status.as_u16(),
                    headers: rp
                        .headers
                        .iter()
                        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                        .collect(),
                    body: bytes.clone(),
                });
            }
            xacct_sandbox::rebuild(rp, bytes)
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(e.to_string())))
            .unwrap(),
    };
    st.counters
        .busy_us
        .fetch_add(start.elapsed().as_micros() as u64, Ordering::SeqCst);
    Ok(out)
}

/// Serves a recording: each request gets the recorded answer to the same request (method, path and
/// query, body) after `latency`, with no limit on how many are served at once: xacct's own scaling,
/// without moto's one-request-at-a-time service.
pub struct Replay {
    pub url: String,
    /// Requests that had no recorded answer (answered 500).
    pub misses: Arc<AtomicUsize>,
}

impl Replay {
    pub fn start(recording: Vec<Recorded>, latency: Duration) -> Replay {
        let mut by_key: std::collections::HashMap<String, Vec<Recorded>> = Default::default();
        for r in recording {
            by_key.entry(r.key.clone()).or_default().push(r);
        }
        let by_key = Arc::new(by_key);
        let turn = Arc::new(Mutex::new(std::collections::HashMap::<String, usize>::new()));
        let misses = Arc::new(AtomicUsize::new(0));
        let m2 = misses.clone();
        let url = serve_on_own_thread(move |req: Request<Incoming>| {
            let (by_key, turn, misses) = (by_key.clone(), turn.clone(), m2.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let key = request_key(&parts, &body);
                tokio::time::sleep(latency).await;
                let answer = by_key.get(&key).map(|all| {
                    let mut t = turn.lock().unwrap();
                    let i = t.entry(key.clone()).or_default();
                    let r = all[*i % all.len()].clone();
                    *i += 1;
                    r
                });
                let resp = match answer {
                    Some(r) => {
                        let mut b = Response::builder().status(r.status);
                        // moto's server closes every connection; AWS keeps them open, and so
                        // does the replay
                        for (k, v) in &r.headers {
                            if k != "transfer-encoding"
                                && k != "content-length"
                                && k != "connection"
                            {
                                b = b.header(k, v);
                            }
                        }
                        b.body(Full::new(r.body)).unwrap()
                    }
                    None => {
                        misses.fetch_add(1, Ordering::SeqCst);
                        Response::builder()
                            .status(500)
                            .body(Full::new(Bytes::from(format!(
                                "no recorded answer for {key}"
                            ))))
                            .unwrap()
                    }
                };
                Ok::<_, std::io::Error>(resp)
            }
        });
        Replay { url, misses }
    }
}

/// `:` and `/` as a form body encodes them.
fn percent_encoding_lite(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

/// Serve `handler` over HTTP/1 on a free local port, on a thread and runtime of its own for the
/// life of the process; returns the URL.
fn serve_on_own_thread<F, Fut>(handler: F) -> String
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, std::io::Error>>
        + Send
        + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap()))
                .unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(handler);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}
