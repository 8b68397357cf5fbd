//! `xacct permissions` proven in the sandbox: each account's role that xacct assumes holds exactly
//! the policy `permissions --for COMMAND` prints, and the sandbox enforces it (its role tagged
//! `xacct-sandbox:enforce=true`) with a map of requests to IAM actions of its own; every command of
//! a fleet's life succeeds, and without one of its statements a run fails with words that name the
//! missing action.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// The policies `permissions --for command` prints, by account.
fn permissions(file: &Path, command: &str) -> Vec<(String, Value)> {
    let o = xacct_at(
        "http://127.0.0.1:9",
        &[
            "permissions",
            "-f",
            &file_arg(file),
            "--for",
            command,
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_string(),
                a["policy"].clone(),
            )
        })
        .collect()
}

/// The policy without `action` (a statement left without actions goes).
fn without(policy: &Value, action: &str) -> Value {
    let mut p = policy.clone();
    let st = p["Statement"].as_array_mut().unwrap();
    for s in st.iter_mut() {
        if let Some(a) = s["Action"].as_array_mut() {
            a.retain(|x| x != action);
        }
    }
    st.retain(|s| s["Action"].as_array().is_none_or(|a| !a.is_empty()));
    p
}

/// Give each account's Admin role exactly `policies` (all other accounts of the fleet: nothing),
/// enforced by the sandbox.
fn hold(f: &Fleet, policies: &[(String, Value)]) {
    rt().block_on(async {
        let accounts = std::iter::once(f.iot_account.clone()).chain(f.envs.iter().map(|e| e.account.clone()));
        for account in accounts {
            let s = sdk(&account, &f.region).await;
            let trust = serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{account}:root")},"Action":"sts:AssumeRole"}]});
            let _ = s
                .iam
                .create_role()
                .role_name("Admin")
                .assume_role_policy_document(trust.to_string())
                .send()
                .await;
            s.iam
                .tag_role()
                .role_name("Admin")
                .tags(
                    aws_sdk_iam::types::Tag::builder()
                        .key("xacct-sandbox:enforce")
                        .value("true")
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            let policy = policies
                .iter()
                .find(|(a, _)| *a == account)
                .map(|(_, p)| p.clone())
                .filter(|p| p["Statement"].as_array().is_some_and(|s| !s.is_empty()))
                .unwrap_or_else(|| serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}));
            s.iam
                .put_role_policy()
                .role_name("Admin")
                .policy_name("xacct")
                .policy_document(policy.to_string())
                .send()
                .await
                .unwrap();
        }
    });
}

fn run(file: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec![args[0], "-f"];
    let f = file_arg(file);
    all.push(&f);
    all.extend_from_slice(&args[1..]);
    sandbox().xacct(&all)
}

#[test]
fn every_command_succeeds_with_exactly_its_permissions_and_fails_without_one() {
    let (f, file) = fleet_with_cert(2, true);
    // without a statement, the run fails naming the action it lacks
    for (command, args, missing) in [
        ("plan", vec!["plan"], "iot:ListPolicies"),
        ("apply", vec!["apply", "--auto-approve"], "iam:CreateRole"),
    ] {
        let p: Vec<(String, Value)> = permissions(&file, command)
            .into_iter()
            .map(|(a, p)| (a, without(&p, missing)))
            .collect();
        hold(&f, &p);
        let o = run(&file, &args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{command} without {missing}: {}",
            stdout(&o)
        );
        assert!(
            stderr(&o).contains(missing),
            "{command} without {missing}: {}",
            stderr(&o)
        );
    }
    // a fleet's life, each step with exactly its permissions
    for (command, args, code) in [
        ("plan", vec!["plan", "--detailed-exitcode"], 2),
        ("apply", vec!["apply", "--auto-approve"], 0),
        ("plan", vec!["plan", "--detailed-exitcode"], 0),
        ("check", vec!["check"], 0),
        ("verify", vec!["verify", "--ephemeral"], 0),
    ] {
        hold(&f, &permissions(&file, command));
        let o = run(&file, &args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?} with the permissions of {command}:\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
    }
    // the read-only commands: every action they are given is one they need
    let o = run(&file, &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    rt().block_on(async {
        // a managed policy on a target role, so that check reads managed policies too
        let s = sdk(&f.envs[0].account, &f.region).await;
        let p = s
            .iam
            .create_policy()
            .policy_name(name("extra"))
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}"#)
            .send()
            .await
            .unwrap();
        s.iam
            .attach_role_policy()
            .role_name(f.target_role(&f.envs[0]))
            .policy_arn(p.policy().unwrap().arn().unwrap())
            .send()
            .await
            .unwrap();
    });
    for (command, args) in [("plan", vec!["plan"]), ("check", vec!["check"])] {
        let given = permissions(&file, command);
        let mut actions: Vec<String> = given
            .iter()
            .flat_map(|(_, p)| p["Statement"].as_array().unwrap().clone())
            .flat_map(|s| s["Action"].as_array().unwrap().clone())
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        actions.sort();
        actions.dedup();
        // (a refused DescribeOrganization leaves the organization unknown: a hop conditioned on it
        // is then `?`, not an error — see the workload test of aws:PrincipalOrgID)
        actions.retain(|a| a != "organizations:DescribeOrganization");
        assert!(actions.len() >= 5, "{actions:?}");
        for missing in &actions {
            hold(
                &f,
                &given
                    .iter()
                    .map(|(a, p)| (a.clone(), without(p, missing)))
                    .collect::<Vec<_>>(),
            );
            let o = run(&file, &args);
            assert_ne!(
                o.status.code(),
                Some(0),
                "{command} without {missing}: {}",
                stdout(&o)
            );
            assert!(
                stderr(&o).contains(missing.as_str()),
                "{command} without {missing}: {}",
                stderr(&o)
            );
        }
    }
    // the alias hands out the IoT role: without iam:PassRole IoT refuses to create it
    rt().block_on(async {
        let s = sdk(&f.iot_account, &f.region).await;
        let _ = s
            .iot
            .delete_role_alias()
            .role_alias(format!("{}-device", f.fleet))
            .send()
            .await;
    });
    hold(
        &f,
        &permissions(&file, "apply")
            .into_iter()
            .map(|(a, p)| (a, without(&p, "iam:PassRole")))
            .collect::<Vec<_>>(),
    );
    let o = run(&file, &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("iam:PassRole"), "{}", stderr(&o));
    // and the end of the fleet's life, with exactly destroy's permissions
    hold(&f, &permissions(&file, "destroy"));
    let o = run(&file, &["destroy", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
}

/// The policies with statement `i` of `account`'s removed.
fn without_statement(given: &[(String, Value)], account: &str, i: usize) -> Vec<(String, Value)> {
    given
        .iter()
        .map(|(a, p)| {
            let mut p = p.clone();
            if a == account {
                p["Statement"].as_array_mut().unwrap().remove(i);
            }
            (a.clone(), p)
        })
        .collect()
}

/// The fleet's file with its environments gated on a thing type (each its own role, alias and
/// policy), and the file without its certificate.
fn variants(f: &Fleet) -> (std::path::PathBuf, std::path::PathBuf) {
    let gated = f.dir.join("gated.yaml");
    let mut y = f.yaml();
    for e in &f.envs {
        y = y.replace(
            &format!("  {}:\n", e.name),
            &format!("  {}:\n    devices: {{thing_type: gw}}\n", e.name),
        );
    }
    std::fs::write(&gated, y).unwrap();
    let mut fewer = f.clone();
    fewer.certificates.clear();
    let bare = f.dir.join("fewer.yaml");
    std::fs::write(&bare, fewer.yaml()).unwrap();
    (gated, bare)
}

/// apply and destroy each need every statement of their policies: for each statement there is a
/// run — creating from nothing, detaching a certificate no longer listed, or leaving the other
/// device layout (per-environment roles, aliases and policies) — that fails without it, naming an
/// action of that statement.
#[test]
fn apply_and_destroy_fail_without_any_one_of_their_statements() {
    let (f, file) = fleet_with_cert(1, true);
    let (gated, bare) = variants(&f);
    let apply = permissions(&file, "apply");
    let destroy = permissions(&file, "destroy");
    // to set a scene: anything
    let all: Vec<(String, Value)> = std::iter::once(f.iot_account.clone())
        .chain(f.envs.iter().map(|e| e.account.clone()))
        .map(|a| {
            (
                a,
                serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}),
            )
        })
        .collect();
    let reset = || {
        hold(&f, &all);
        let o = run(&file, &["destroy", "--auto-approve"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    };
    let actions_of = |s: &Value| -> Vec<String> {
        s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str().map(String::from))
            .collect()
    };
    for (command, given) in [("apply", &apply), ("destroy", &destroy)] {
        for (account, policy) in given.iter() {
            for (i, st) in policy["Statement"].as_array().unwrap().iter().enumerate() {
                let reduced = without_statement(given, account, i);
                // (scene, the file the command then runs with)
                let scenes: Vec<(Option<&Path>, &Path)> = if command == "apply" {
                    vec![(None, &file), (Some(&file), &bare), (Some(&gated), &file)]
                } else {
                    vec![(Some(&file), &file), (Some(&gated), &file)]
                };
                let mut failed = None;
                for (scene, target) in scenes {
                    reset();
                    if let Some(scene) = scene {
                        let o = run(scene, &["apply", "--auto-approve"]);
                        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
                    }
                    hold(&f, &reduced);
                    let o = run(target, &[command, "--auto-approve"]);
                    if o.status.code() != Some(0) {
                        failed = Some(stderr(&o));
                        break;
                    }
                }
                let err = failed.unwrap_or_else(|| panic!("{command} works without {st}"));
                assert!(
                    actions_of(st).iter().any(|a| err.contains(a.as_str())),
                    "{command} without {st}: {err}"
                );
            }
        }
    }
    reset();
}
