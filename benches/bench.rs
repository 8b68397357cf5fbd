//! The xacct benchmark (not a test): plan and apply wall time and request counts against moto through
//! the fault/latency injector with 25 ms added per request, for N = 1, 3, 10, 50 environments; the
//! sequential baseline of the same requests; cold start; peak memory. Prints a table and writes
//! target/bench/bench.json. Run it with `scripts/bench`.

#[path = "../tests/it/common/injector.rs"]
mod injector;

use injector::{Config, Injector, Replay};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const LATENCY_MS: u64 = 25;
/// Runs per N in the replay (the median is reported: this machine's timing varies by ±30 %).
const REPLAY_RUNS: usize = 15;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn xacct_bin() -> PathBuf {
    std::env::var("XACCT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/release/xacct"))
}

fn start_moto() -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(root().join(".venv/bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server (run scripts/setup-moto)");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}"))
}

fn fleet_file(dir: &Path, n: usize, seed: u64) -> PathBuf {
    let acct = |i: u64| format!("{:012}", 300_000_000_000 + seed * 1_000 + i);
    let mut y = format!(
        "fleet: bench{seed}\nregion: eu-west-1\niot:\n  account: \"{}\"\n  assume_role: arn:aws:iam::{}:role/Admin\nenvironments:\n",
        acct(0),
        acct(0)
    );
    for i in 1..=n as u64 {
        y.push_str(&format!(
            "  env{i}:\n    account: \"{a}\"\n    assume_role: arn:aws:iam::{a}:role/Admin\n    functions: [ingest, alerts]\n",
            a = acct(i)
        ));
    }
    let p = dir.join(format!("bench-{seed}-{n}.yaml"));
    std::fs::write(&p, y).unwrap();
    p
}

struct Run {
    wall: Duration,
    code: i32,
    max_rss_kb: i64,
    /// user + system CPU time of the process
    cpu_ms: f64,
}

fn run(endpoint: &str, args: &[&str]) -> Run {
    let t = Instant::now();
    // reaped by wait4 below, which also reports the child's peak memory and CPU time
    #[allow(clippy::zombie_processes)]
    let child = Command::new(xacct_bin())
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    Run {
        wall: t.elapsed(),
        code,
        max_rss_kb: usage.ru_maxrss,
        cpu_ms: tv(usage.ru_utime) + tv(usage.ru_stime),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cold(cmd: &Path, args: &[&str], n: usize) -> f64 {
    let mut v = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let s = Command::new(cmd)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(s.success(), "{} {args:?}", cmd.display());
        v.push(ms(t.elapsed()));
    }
    median(v)
}

/// moto's own time for one request, issued strictly one after another (median of 50).
fn moto_service_ms(moto: &str) -> f64 {
    let mut v = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        moto_request(moto);
        v.push(ms(t.elapsed()));
    }
    median(v)
}

/// moto's throughput with requests in flight at once (it runs one Python process): requests/s.
fn moto_throughput(moto: &str) -> f64 {
    let t = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let m = moto.to_string();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    moto_request(&m);
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    200.0 / t.elapsed().as_secs_f64()
}

fn moto_request(moto: &str) {
    use std::io::{Read, Write};
    let host = moto.trim_start_matches("http://");
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
}

/// plan(N) for N = 1, 10, 50 against a replay of its own recorded answers (25 ms each, unlimited
/// concurrency): wall time, CPU time and peak memory of xacct alone.
/// Apply `f` through the injector `raw`, record one plan's answers, and serve them from a replay
/// (25 ms each); returns the replay and how many requests the plan made.
fn recorded_replay(raw: &Injector, f: &str, n: usize) -> (Replay, usize) {
    assert_eq!(
        run(&raw.url, &["apply", "-f", f, "--auto-approve"]).code,
        0,
        "apply N={n}"
    );
    raw.record();
    assert_eq!(run(&raw.url, &["plan", "-f", f]).code, 0);
    let recording = raw.take_recording();
    let requests = recording.len();
    (
        Replay::start(recording, Duration::from_millis(LATENCY_MS)),
        requests,
    )
}

fn replay_section(dir: &Path, raw: &Injector, seed: u64) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let mut base: Option<(f64, f64)> = None;
    for (i, n) in [1usize, 10, 50].into_iter().enumerate() {
        let file = fleet_file(dir, n, seed + i as u64);
        let f = file.to_str().unwrap();
        let (replay, requests) = recorded_replay(raw, f, n);
        let mut walls = Vec::new();
        let mut cpus = Vec::new();
        let mut rss = 0;
        for _ in 0..REPLAY_RUNS {
            let p = run(&replay.url, &["plan", "-f", f, "--detailed-exitcode"]);
            assert_eq!(p.code, 0, "replayed plan N={n} must be empty");
            walls.push(ms(p.wall));
            cpus.push(p.cpu_ms);
            rss = rss.max(p.max_rss_kb);
        }
        // XACCT_BENCH_PERF=FILE: one more replayed plan of the largest N under `perf record`
        if let (Ok(out), 50) = (std::env::var("XACCT_BENCH_PERF"), n) {
            let status = Command::new("perf")
                .args(["record", "-g", "-F", "4999", "-o", &out, "--"])
                .arg(xacct_bin())
                .args(["plan", "-f", f])
                .env("AWS_ENDPOINT_URL", &replay.url)
                .env("AWS_ACCESS_KEY_ID", "bench")
                .env("AWS_SECRET_ACCESS_KEY", "bench")
                .env("AWS_CONFIG_FILE", "/dev/null")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdout(Stdio::null())
                .status()
                .expect("perf");
            eprintln!("perf record of plan N=50: {out} ({status})");
        }
        let (wall, cpu) = (median(walls), median(cpus));
        let (w1, c1) = *base.get_or_insert((wall, cpu));
        rows.push(json!({
            "n": n, "plan_ms": wall, "plan_ratio_to_n1": wall / w1, "cpu_ms": cpu,
            "cpu_ms_per_extra_account": if n > 1 { Some((cpu - c1) / (n - 1) as f64) } else { None },
            "max_rss_kb": rss, "requests": requests,
            "misses": replay.misses.load(Ordering::SeqCst),
        }));
    }
    rows
}

fn main() {
    let bin = xacct_bin();
    assert!(
        bin.exists(),
        "{} missing: cargo build --release",
        bin.display()
    );
    let dir = std::env::temp_dir().join(format!("xacct-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut moto, moto_url) = start_moto();
    let inj = Injector::start(
        &moto_url,
        Config {
            latency: Duration::from_millis(LATENCY_MS),
            ..Config::default()
        },
    );
    let raw = Injector::start(&moto_url, Config::default());
    let seed = std::process::id() as u64 % 1000;
    // XACCT_BENCH_SERVE=1: record plan(1) and plan(50), print each file and replay URL, and keep
    // serving them (to measure builds of xacct against the same replay by hand)
    if std::env::var("XACCT_BENCH_SERVE").is_ok() {
        let mut replays = Vec::new();
        for (i, n) in [1usize, 50].into_iter().enumerate() {
            let file = fleet_file(&dir, n, seed + 200 + i as u64);
            let f = file.to_str().unwrap();
            let (replay, _) = recorded_replay(&raw, f, n);
            println!("{n} {f} {}", replay.url);
            replays.push(replay);
        }
        let _ = moto.kill();
        loop {
            std::thread::park();
        }
    }
    // XACCT_BENCH_REPLAY_ONLY=1: only the replay section (xacct's own scaling), as JSON
    if std::env::var("XACCT_BENCH_REPLAY_ONLY").is_ok() {
        let rows = replay_section(&dir, &raw, seed + 100);
        println!("{}", serde_json::to_string_pretty(&rows).unwrap());
        let _ = moto.kill();
        return;
    }

    // moto's own time per request (no added latency)
    let f1 = fleet_file(&dir, 1, seed);
    let r = run(
        &raw.url,
        &["apply", "-f", f1.to_str().unwrap(), "--auto-approve"],
    );
    assert_eq!(r.code, 0);
    raw.reset_counters();
    let mut plain = Vec::new();
    for _ in 0..5 {
        plain.push(ms(run(&raw.url, &["plan", "-f", f1.to_str().unwrap()]).wall));
    }
    let moto_per_request_ms = moto_service_ms(&moto_url);
    let moto_rps = moto_throughput(&moto_url);

    let mut rows = Vec::new();
    let mut plan1 = 0.0;
    for (i, n) in [1usize, 3, 10, 50].into_iter().enumerate() {
        let file = fleet_file(&dir, n, seed + 1 + i as u64);
        let f = file.to_str().unwrap();
        inj.reset_counters();
        let apply = run(&inj.url, &["apply", "-f", f, "--auto-approve"]);
        assert_eq!(apply.code, 0, "apply N={n}");
        let apply_reads = inj.counters.reads.load(Ordering::SeqCst);
        let apply_writes = inj.counters.writes.load(Ordering::SeqCst);
        // plan on the applied state
        let mut walls = Vec::new();
        let mut rss = 0;
        let mut reads = 0;
        let mut writes = 0;
        let mut busy = 0.0;
        let mut cpus = Vec::new();
        for _ in 0..5 {
            inj.reset_counters();
            let p = run(&inj.url, &["plan", "-f", f, "--detailed-exitcode"]);
            assert_eq!(p.code, 0, "plan after apply must be empty (N={n})");
            walls.push(ms(p.wall));
            cpus.push(p.cpu_ms);
            rss = rss.max(p.max_rss_kb);
            reads = inj.counters.reads.load(Ordering::SeqCst);
            writes = inj.counters.writes.load(Ordering::SeqCst);
            busy = reads as f64 * (LATENCY_MS as f64 + moto_per_request_ms);
        }
        let plan = median(walls);
        if n == 1 {
            plan1 = plan;
        }
        // what a single-request-at-a-time moto allows: plan(1) plus moto's time for the extra requests
        // moto's own service time for these reads at its best throughput
        let floor = reads as f64 * 1000.0 / moto_rps;
        // critical path of apply from empty: credentials (AssumeRole, GetCallerIdentity), one round of
        // reads (+ ListTargetsForPolicy), IoT role then its policy, then the longest lane (env role,
        // env policy) = 7 dependent round trips
        let critical = 7.0 * LATENCY_MS as f64;
        rows.push(json!({
            "n": n, "plan_ms": plan, "plan_reads": reads, "plan_writes": writes,
            "reads_per_env": reads as f64 / n as f64, "sequential_ms": busy, "moto_floor_ms": floor,
            "plan_ratio_to_n1": plan / plan1, "plan_max_rss_kb": rss, "plan_cpu_ms": median(cpus),
            "apply_ms": ms(apply.wall), "apply_reads": apply_reads, "apply_writes": apply_writes,
            "apply_critical_path_ms": critical,
        }));
    }

    let replay_rows = replay_section(&dir, &raw, seed + 100);

    let example = root().join("environments/example.yaml");
    let version = cold(&bin, &["--version"], 30);
    let validate = cold(&bin, &["validate", "-f", example.to_str().unwrap()], 30);
    let boto3 = cold(
        &root().join(".venv/bin/python"),
        &["-c", "import boto3"],
        30,
    );

    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );
    let report = json!({
        "machine": machine, "latency_ms": LATENCY_MS, "moto_ms_per_request": moto_per_request_ms, "moto_requests_per_s": moto_rps,
        "plan_without_latency_ms": median(plain),
        "rows": rows,
        "replay": replay_rows,
        "cold_start_ms": {"xacct --version": version, "xacct validate": validate, "python3 -c 'import boto3'": boto3},
    });

    println!(
        "xacct benchmark — {machine}; {LATENCY_MS} ms added per request; moto {:.1} ms per sequential request, {:.0} requests/s at most\n",
        moto_per_request_ms, moto_rps
    );
    println!("sequential ms = the same reads one after another: reads × ({LATENCY_MS} ms + moto's time); moto floor ms = the time moto needs to serve that many reads at its measured throughput (one Python process)\n");
    println!("| N envs | plan ms | ×plan(1) | moto floor ms | sequential ms | reads | reads/env | writes | max RSS MiB | CPU ms | apply ms | apply reads | apply writes |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in report["rows"].as_array().unwrap() {
        println!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.0} | {} | {:.1} | {} | {:.1} | {:.1} | {:.0} | {} | {} |",
            r["n"],
            r["plan_ms"].as_f64().unwrap(),
            r["plan_ratio_to_n1"].as_f64().unwrap(),
            r["moto_floor_ms"].as_f64().unwrap(),
            r["sequential_ms"].as_f64().unwrap(),
            r["plan_reads"],
            r["reads_per_env"].as_f64().unwrap(),
            r["plan_writes"],
            r["plan_max_rss_kb"].as_f64().unwrap() / 1024.0,
            r["plan_cpu_ms"].as_f64().unwrap(),
            r["apply_ms"].as_f64().unwrap(),
            r["apply_reads"],
            r["apply_writes"],
        );
    }
    println!(
        "\napply critical path: 7 dependent round trips = {} ms at {LATENCY_MS} ms each",
        7 * LATENCY_MS
    );
    println!("\nreplay: each plan's answers recorded through the injector, then served from the recording with {LATENCY_MS} ms per request and no limit on concurrency (xacct's own scaling, without moto's one-at-a-time service); median of {REPLAY_RUNS}\n");
    println!("| N envs | plan ms | ×plan(1) | CPU ms | CPU ms per extra account | max RSS MiB | requests | unanswered |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in report["replay"].as_array().unwrap() {
        println!(
            "| {} | {:.0} | {:.2} | {:.1} | {} | {:.1} | {} | {} |",
            r["n"],
            r["plan_ms"].as_f64().unwrap(),
            r["plan_ratio_to_n1"].as_f64().unwrap(),
            r["cpu_ms"].as_f64().unwrap(),
            r["cpu_ms_per_extra_account"]
                .as_f64()
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "–".into()),
            r["max_rss_kb"].as_f64().unwrap() / 1024.0,
            r["requests"],
            r["misses"],
        );
    }
    println!("\n| cold start (median of 30) | ms |\n|---|---:|");
    for (k, v) in report["cold_start_ms"].as_object().unwrap() {
        println!("| `{k}` | {:.1} |", v.as_f64().unwrap());
    }
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("bench.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    println!("\nfigures: target/bench/bench.json");
    let _ = moto.kill();
    let _ = moto.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
