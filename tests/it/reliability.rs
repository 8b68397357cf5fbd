//! Faults, kills and concurrency: apply converges through throttling, 5xx and dropped connections;
//! an apply or destroy killed right after any of its writes converges when run again; two applies at
//! once both finish; nothing is ever duplicated.

use crate::common::injector::{Config, Injector};
use crate::common::*;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Read moto directly: exactly one of each of our resources, nothing extra.
fn assert_nothing_duplicated(f: &Fleet) {
    rt().block_on(async {
        let iot = sdk(&f.iot_account, &f.region).await;
        let roles = iot.iam.list_roles().send().await.unwrap();
        let ours: Vec<&str> = roles
            .roles()
            .iter()
            .map(|r| r.role_name())
            .filter(|n| n.starts_with(&f.fleet))
            .collect();
        assert_eq!(ours, vec![f.iot_role().as_str()], "IoT account roles");
        let inline = iot
            .iam
            .list_role_policies()
            .role_name(f.iot_role())
            .send()
            .await
            .unwrap();
        assert_eq!(inline.policy_names().len(), 1);
        let versions = iot
            .iot
            .list_policy_versions()
            .policy_name(f.policy())
            .send()
            .await
            .unwrap();
        assert_eq!(
            versions.policy_versions().len(),
            1,
            "no extra IoT policy versions"
        );
        let targets = iot
            .iot
            .list_targets_for_policy()
            .policy_name(f.policy())
            .send()
            .await
            .unwrap();
        assert_eq!(
            targets.targets().len(),
            f.certificates.len(),
            "no extra attachments"
        );
        let aliases = iot.iot.list_role_aliases().send().await.unwrap();
        assert_eq!(aliases.role_aliases().len(), 1);
        for e in &f.envs {
            let s = sdk(&e.account, &f.region).await;
            let roles = s.iam.list_roles().send().await.unwrap();
            let ours: Vec<&str> = roles
                .roles()
                .iter()
                .map(|r| r.role_name())
                .filter(|n| n.starts_with(&f.fleet))
                .collect();
            assert_eq!(
                ours,
                vec![f.target_role(e).as_str()],
                "roles of env {}",
                e.name
            );
            let inline = s
                .iam
                .list_role_policies()
                .role_name(f.target_role(e))
                .send()
                .await
                .unwrap();
            assert_eq!(inline.policy_names().len(), 1);
        }
    });
}

/// Nothing of ours is left.
fn assert_all_gone(f: &Fleet) {
    rt().block_on(async {
        let iot = sdk(&f.iot_account, &f.region).await;
        assert!(iot
            .iam
            .get_role()
            .role_name(f.iot_role())
            .send()
            .await
            .is_err());
        assert!(iot
            .iot
            .describe_role_alias()
            .role_alias(f.alias())
            .send()
            .await
            .is_err());
        assert!(iot
            .iot
            .get_policy()
            .policy_name(f.policy())
            .send()
            .await
            .is_err());
        for e in &f.envs {
            let s = sdk(&e.account, &f.region).await;
            assert!(s
                .iam
                .get_role()
                .role_name(f.target_role(e))
                .send()
                .await
                .is_err());
        }
    });
}

fn run_through(inj: &Injector, args: &[&str]) -> std::process::Output {
    xacct_at(&inj.url, args, None)
}

#[test]
fn apply_converges_through_five_percent_faults_without_duplicates() {
    let (f, file) = fleet_with_cert(3, false);
    let inj = Injector::start(
        moto(),
        Config {
            seed: 7,
            fault_rate: 0.05,
            ..Config::default()
        },
    );
    let fa = file_arg(&file);
    let o = run_through(&inj, &["apply", "-f", &fa, "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run_through(&inj, &["plan", "-f", &fa, "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // the faults really happened
    for seed in 8..12 {
        if inj.counters.faults.load(Ordering::SeqCst) > 0 {
            break;
        }
        inj.set(|c| c.seed = seed);
        let _ = run_through(&inj, &["plan", "-f", &fa]);
    }
    assert!(
        inj.counters.faults.load(Ordering::SeqCst) > 0,
        "no fault was injected: {:?}",
        inj.counters.snapshot()
    );
    assert_nothing_duplicated(&f);
}

/// The number of writes a full apply of `file` makes (on fresh accounts), counted by the injector.
fn writes_of_full_apply(n_envs: usize) -> usize {
    let (_, file) = fleet_with_cert(n_envs, false);
    let inj = Injector::start(moto(), Config::default());
    let o = run_through(&inj, &["apply", "-f", &file_arg(&file), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    inj.counters.writes.load(Ordering::SeqCst)
}

/// Start `args` through an injector that holds every write after the k-th, kill the process as soon as
/// a write is held (so it dies right after its k-th write), and report whether it was held.
fn kill_after_write(k: usize, args: &[&str]) -> bool {
    let inj = Injector::start(
        moto(),
        Config {
            hold_after_writes: Some(k),
            ..Config::default()
        },
    );
    let home = std::env::temp_dir().join("xacct-test-home");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xacct"))
        .args(args)
        .env_clear()
        .env("HOME", &home)
        .env("AWS_ENDPOINT_URL", &inj.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if inj.counters.held.load(Ordering::SeqCst) > 0 {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "apply neither finished nor wrote"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn apply_killed_after_each_write_converges_when_run_again() {
    let total = writes_of_full_apply(2);
    assert!(
        total >= 9,
        "a full apply of 2 environments makes at least 9 writes, counted {total}"
    );
    for k in 1..=total {
        let (f, file) = fleet_with_cert(2, false);
        let fa = file_arg(&file);
        let killed = kill_after_write(k, &["apply", "-f", &fa, "--auto-approve"]);
        assert!(
            killed || k == total,
            "apply finished before write {k} of {total}"
        );
        apply_converges(&file);
        assert_nothing_duplicated(&f);
    }
}

#[test]
fn destroy_killed_after_each_write_converges_when_run_again() {
    // count the writes of a full destroy
    let (_, probe) = fleet_with_cert(2, false);
    apply_converges(&probe);
    let inj = Injector::start(moto(), Config::default());
    let o = run_through(
        &inj,
        &["destroy", "-f", &file_arg(&probe), "--auto-approve"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let total = inj.counters.writes.load(Ordering::SeqCst);
    assert!(total >= 9, "destroy wrote {total} times");
    for k in 1..total {
        let (f, file) = fleet_with_cert(2, false);
        apply_converges(&file);
        let fa = file_arg(&file);
        assert!(
            kill_after_write(k, &["destroy", "-f", &fa, "--auto-approve"]),
            "destroy finished before write {k}"
        );
        run_ok(&["destroy", "-f", &fa, "--auto-approve"], 0);
        assert_all_gone(&f);
    }
}

#[test]
fn two_applies_at_once_both_finish_and_the_plan_is_empty() {
    let (f, file) = fleet_with_cert(3, false);
    let fa = file_arg(&file);
    let a = std::thread::spawn({
        let fa = fa.clone();
        move || xacct(&["apply", "-f", &fa, "--auto-approve"])
    });
    let b = xacct(&["apply", "-f", &fa, "--auto-approve"]);
    let a = a.join().unwrap();
    for o in [&a, &b] {
        let err = stderr(o);
        assert!(
            o.status.code() == Some(0) || err.contains("another apply"),
            "{err}"
        );
    }
    run_ok(&["plan", "-f", &fa, "--detailed-exitcode"], 0);
    assert_nothing_duplicated(&f);
}

#[test]
fn bad_inputs_send_no_request_of_any_kind_through_the_injector() {
    let inj = Injector::start(moto(), Config::default());
    let dir = root().join("tests/bad-inputs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = file_arg(&e.unwrap().path());
        for cmd in [
            vec!["plan", "-f", p.as_str()],
            vec!["apply", "-f", p.as_str(), "--auto-approve"],
            vec!["check", "-f", p.as_str()],
        ] {
            let o = run_through(&inj, &cmd);
            assert_eq!(o.status.code(), Some(1), "{cmd:?}");
            n += 1;
        }
    }
    assert!(n >= 60);
    assert_eq!(inj.counters.total(), 0, "{:?}", inj.counters.snapshot());
}

#[test]
fn plan_files_and_outputs_hold_no_secrets() {
    let (_, file) = fleet_with_cert(1, false);
    let planfile = file.with_extension("plan");
    let (fa, pa) = (file_arg(&file), file_arg(&planfile));
    // secrets xacct is given (a unique secret key and session token) and secrets it obtains (every
    // credential AssumeRole hands out, recorded on the way)
    let n = rand_u64();
    let secret = format!("xacctSecretKey{n:016x}");
    let token = format!("xacctSessionToken{n:016x}");
    let inj = Injector::start(moto(), Config::default());
    inj.record();
    let env = [
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_SESSION_TOKEN", token.as_str()),
    ];
    let mut text = String::new();
    for args in [
        vec!["plan", "-f", &fa, "--out", &pa],
        vec!["plan", "-f", &fa, "--json"],
        vec!["apply", &pa],
        vec!["check", "-f", &fa, "--json"],
        vec!["check", "-f", &fa],
        vec!["lint", "-f", &fa, "--live"],
        vec!["destroy", "-f", &fa],
    ] {
        let o = xacct_env(&inj.url, &args, None, &env);
        text += &stdout(&o);
        text += &stderr(&o);
    }
    text += &std::fs::read_to_string(&planfile).unwrap();
    let mut obtained = Vec::new();
    for r in inj.take_recording() {
        let body = String::from_utf8_lossy(&r.body);
        for tag in ["SecretAccessKey", "SessionToken"] {
            for part in body.split(&format!("<{tag}>")).skip(1) {
                if let Some(v) = part.split('<').next().filter(|v| v.len() >= 16) {
                    obtained.push(v.to_string());
                }
            }
        }
    }
    assert!(
        obtained.len() >= 4,
        "the runs assumed roles, so credentials were obtained: {obtained:?}"
    );
    for needle in [secret.as_str(), token.as_str()]
        .into_iter()
        .chain(obtained.iter().map(String::as_str))
    {
        assert!(
            !text.contains(needle),
            "a secret was printed or saved: {needle}"
        );
    }
    assert!(
        !text.contains("PRIVATE KEY"),
        "a private key in an output or the plan file"
    );
}

#[test]
fn a_service_that_stops_after_a_write_fails_apply_clearly_and_the_next_apply_converges() {
    let (f, file) = fleet_with_cert(2, false);
    let fa = file_arg(&file);
    let inj = Injector::start(
        moto(),
        Config {
            fail_write_and_stop: Some(3),
            ..Config::default()
        },
    );
    let o = run_through(&inj, &["apply", "-f", &fa, "--auto-approve"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("InternalFailure") && err.contains("run apply again"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    apply_converges(&file);
    assert_nothing_duplicated(&f);
}

#[test]
fn invalid_principal_right_after_role_creation_is_retried_until_iam_catches_up() {
    let (f, file) = fleet_with_cert(2, false);
    let inj = Injector::start(
        moto(),
        Config {
            invalid_principal: 3,
            ..Config::default()
        },
    );
    let o = run_through(&inj, &["apply", "-f", &file_arg(&file), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        inj.counters.invalid_principal.load(Ordering::SeqCst),
        3,
        "the error was injected 3 times"
    );
    run_ok(&["plan", "-f", &file_arg(&file), "--detailed-exitcode"], 0);
    assert_nothing_duplicated(&f);
}

/// A direct-mode environment's file (its first environment in `mode: direct`).
fn direct_file(f: &Fleet, file: &std::path::Path) {
    let yaml = f.yaml().replacen(
        &format!("    functions: [{}]\n", f.envs[0].functions.join(", ")),
        &format!(
            "    functions: [{}]\n    mode: direct\n",
            f.envs[0].functions.join(", ")
        ),
        1,
    );
    assert!(yaml.contains("mode: direct"));
    std::fs::write(file, yaml).unwrap();
}

/// The statement ids of a function's resource policy, and the principal of `sid`.
async fn statements(s: &Sdk, function: &str, sid: &str) -> (Vec<String>, String) {
    let p = s
        .lambda
        .get_policy()
        .function_name(function)
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(p.policy().unwrap()).unwrap();
    let all = doc["Statement"].as_array().cloned().unwrap_or_default();
    let mut sids: Vec<String> = all
        .iter()
        .filter_map(|st| st["Sid"].as_str().map(String::from))
        .collect();
    sids.sort();
    let principal = all
        .iter()
        .find(|st| st["Sid"] == sid)
        .map(|st| st["Principal"].to_string())
        .unwrap_or_default();
    (sids, principal)
}

/// Updating xacct's statement in a function's policy never leaves the principal without a working
/// statement: `-next` is added before the old statement goes; an update stopped between its steps
/// leaves `-next`, which the next plan sees and the next apply removes.
#[test]
fn an_interrupted_statement_update_keeps_a_working_statement_and_is_repaired() {
    let (f, file) = fleet_with_cert(2, true);
    direct_file(&f, &file);
    apply_converges(&file);
    let function = f.envs[0].functions[0].clone();
    let sid = format!("xacct-{}", f.fleet);
    let next = format!("{sid}-next");
    // the statement edited out of band: another principal under xacct's statement id
    rt().block_on(async {
        let s = sdk(&f.envs[0].account, &f.region).await;
        s.lambda
            .remove_permission()
            .function_name(&function)
            .statement_id(&sid)
            .send()
            .await
            .unwrap();
        s.lambda
            .add_permission()
            .function_name(&function)
            .statement_id(&sid)
            .action("lambda:InvokeFunction")
            .principal(format!("arn:aws:iam::{}:role/other", f.iot_account))
            .send()
            .await
            .unwrap();
    });
    // the update stops at its third write (the new statement): -next stands for the principal
    let inj = Injector::start(
        moto(),
        Config {
            fail_write_and_stop: Some(3),
            ..Config::default()
        },
    );
    let o = run_through(&inj, &["apply", "-f", &file_arg(&file), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    rt().block_on(async {
        let s = sdk(&f.envs[0].account, &f.region).await;
        let (sids, principal) = statements(&s, &function, &next).await;
        assert!(sids.contains(&next), "{sids:?}");
        assert!(principal.contains(&f.iot_role_arn()), "{principal}");
    });
    // the next plan sees it, the next apply repairs it
    let o = run_ok(&["plan", "-f", &file_arg(&file), "--detailed-exitcode"], 2);
    assert!(stdout(&o).contains("lambda_permission"), "{}", stdout(&o));
    apply_converges(&file);
    rt().block_on(async {
        let s = sdk(&f.envs[0].account, &f.region).await;
        let (sids, principal) = statements(&s, &function, &sid).await;
        assert_eq!(sids, vec![sid.clone()]);
        assert!(principal.contains(&f.iot_role_arn()), "{principal}");
    });
}

/// Lambda refuses AddPermission naming a role created seconds ago ("The provided principal was
/// invalid") until IAM propagates it: apply retries, as it does IAM's "Invalid principal in policy".
#[test]
fn lambda_add_permission_right_after_role_creation_is_retried() {
    let (f, file) = fleet_with_cert(2, true);
    // the first environment in direct mode: its functions' policies name the IoT role
    direct_file(&f, &file);
    let inj = Injector::start(
        moto(),
        Config {
            invalid_lambda_principal: 3,
            ..Config::default()
        },
    );
    let o = run_through(&inj, &["apply", "-f", &file_arg(&file), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        inj.counters.invalid_lambda_principal.load(Ordering::SeqCst),
        3,
        "the error was injected 3 times"
    );
    run_ok(&["plan", "-f", &file_arg(&file), "--detailed-exitcode"], 0);
}

/// A role created by someone else between plan and apply: IAM answers CreateRole with
/// EntityAlreadyExists, and apply refuses to take it over (naming what owns it) instead of
/// overwriting its trust; with --adopt it takes it over.
#[test]
fn create_meeting_a_role_xacct_does_not_own_is_refused_unless_adopted() {
    let (f, file) = fleet_with_cert(2, false);
    let target = f.target_role(&f.envs[1]);
    let inj = Injector::start(
        moto(),
        Config {
            squat_create_role: Some(target.clone()),
            ..Config::default()
        },
    );
    let o = run_through(&inj, &["apply", "-f", &file_arg(&file), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("iam:CreateRole on {target}"))
            && err.contains("xacct does not own it")
            && err.contains("has no xacct:fleet tag")
            && err.contains("--adopt"),
        "{err}"
    );
    let tags = |account: &str| {
        rt().block_on(async {
            let s = sdk(account, &f.region).await;
            let r = s.iam.get_role().role_name(&target).send().await.unwrap();
            r.role()
                .unwrap()
                .tags()
                .iter()
                .map(|t| format!("{}={}", t.key(), t.value()))
                .collect::<Vec<_>>()
        })
    };
    assert!(
        tags(&f.envs[1].account).is_empty(),
        "the role was left as it was"
    );
    // the next plan shows it as a conflict; --adopt takes it over and tags it
    let o = run_ok(&["plan", "-f", &file_arg(&file), "--detailed-exitcode"], 2);
    assert!(
        stdout(&o).contains("without the xacct:fleet tag"),
        "{}",
        stdout(&o)
    );
    let o = run_through(
        &Injector::start(moto(), Config::default()),
        &["apply", "-f", &file_arg(&file), "--auto-approve", "--adopt"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t = tags(&f.envs[1].account);
    assert!(
        t.contains(&format!("xacct:fleet={}", f.fleet))
            && t.contains(&format!("xacct:env={}", f.envs[1].name)),
        "{t:?}"
    );
    run_ok(&["plan", "-f", &file_arg(&file), "--detailed-exitcode"], 0);
}

#[test]
fn saved_plan_whose_account_was_edited_is_refused_with_no_write() {
    let (f, file) = fleet_with_cert(2, false);
    let planfile = file.with_extension("plan");
    run_ok(
        &[
            "plan",
            "-f",
            &file_arg(&file),
            "--out",
            &file_arg(&planfile),
        ],
        0,
    );
    // point one environment's change at the other environment's account (one xacct connects to)
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&planfile).unwrap()).unwrap();
    let (a, b) = (&f.envs[0], &f.envs[1]);
    let change = saved["changes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["addr"]["env"] == a.name.as_str())
        .expect("a change of the first environment");
    change["addr"]["account"] = b.account.clone().into();
    std::fs::write(&planfile, serde_json::to_string(&saved).unwrap()).unwrap();

    let inj = Injector::start(moto(), Config::default());
    let o = run_through(&inj, &["apply", &file_arg(&planfile)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "puts environment {} in account {}",
            a.name, a.account
        )) && err.contains(&format!("not {}", b.account))
            && err.contains("nothing was applied"),
        "{err}"
    );
    assert_eq!(
        inj.counters.writes.load(Ordering::SeqCst),
        0,
        "{:?}",
        inj.counters.snapshot()
    );
    // the untouched plan still applies
    run_ok(&["plan", "-f", &file_arg(&file), "--detailed-exitcode"], 2);
}

#[test]
fn environments_sharing_an_account_share_one_credential_resolution() {
    let mut f = Fleet::new(3);
    // two environments in one account, with the same access
    f.envs[2].account = f.envs[1].account.clone();
    let file = f.write();
    let inj = Injector::start(moto(), Config::default());
    let o = run_through(&inj, &["plan", "-f", &file_arg(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let counts = inj.counters.snapshot();
    // the IoT account and two distinct environment accounts: three AssumeRoles, not four
    assert_eq!(counts.get("sts:AssumeRole"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("sts:GetCallerIdentity"), None, "{counts:?}");
    // and both environments sharing the account were planned
    let plan = stdout(&o);
    assert!(
        plan.contains(&format!("environment {}", f.envs[1].name))
            && plan.contains(&format!("environment {}", f.envs[2].name)),
        "{plan}"
    );
}

#[test]
fn check_reads_each_role_once_for_the_plan_view_and_the_proof() {
    let (_, file) = fleet_with_cert(2, false);
    apply_converges(&file);
    let inj = Injector::start(moto(), Config::default());
    let o = run_through(&inj, &["check", "-f", &file_arg(&file), "--json"]);
    assert!(o.status.code().is_some(), "{}", stderr(&o));
    let counts = inj.counters.snapshot();
    // the IoT role and the two target roles, each read once, though the proof and the
    // planner's view both use them
    assert_eq!(counts.get("iam:GetRole"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("iot:GET /role-aliases"), Some(&1), "{counts:?}");
}

#[test]
fn an_account_that_fails_its_proof_sends_no_read_and_is_reported_once() {
    // the second environment has no access settings: the default credentials act in moto's default
    // account, not in the environment's, so its proof (GetCallerIdentity) fails while the other
    // accounts are proven and read
    let f = Fleet::new(3);
    let (bad, good) = (f.envs[1].clone(), f.envs[0].clone());
    let yaml = f.yaml().replace(
        &format!("    assume_role: {}\n", Fleet::admin(&bad.account)),
        "",
    );
    let file = f.dir.join("fleet.yaml");
    std::fs::write(&file, yaml).unwrap();
    let inj = Injector::start(moto(), Config::default());
    let o = run_through(&inj, &["plan", "-f", &file_arg(&file)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let words = format!(", not {}: set `profile` or `assume_role`", bad.account);
    assert_eq!(err.matches(&words).count(), 1, "{err}");
    assert!(
        err.contains(&format!("env {}", bad.name)) && !err.contains(&good.name),
        "{err}"
    );
    let counts = inj.counters.snapshot();
    // the IoT role and the two proven environments' roles; nothing of the unproven account
    assert_eq!(counts.get("iam:GetRole"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("iam:GetRolePolicy"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("sts:GetCallerIdentity"), Some(&1), "{counts:?}");
    assert_eq!(inj.counters.writes.load(Ordering::SeqCst), 0);
}
