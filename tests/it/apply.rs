//! plan / apply / destroy against moto: creation from empty, drift repair, saved plans, ownership.

use crate::common::*;
use serde_json::{json, Value};
use xacct::policy::same;

fn changes(plan: &Value) -> Vec<(Option<String>, String, String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["env"].as_str().map(String::from),
                c["kind"].as_str().unwrap().to_string(),
                c["name"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A fleet with one registered device certificate, applied.
fn applied_fleet(n: usize) -> (Fleet, std::path::PathBuf) {
    let (f, file) = fleet_with_cert(n, false);
    apply_converges(&file);
    (f, file)
}

#[test]
fn apply_from_empty_creates_exact_least_privilege_documents() {
    let (f, file) = applied_fleet(3);
    rt().block_on(async {
        let iot = sdk(&f.iot_account, &f.region).await;
        let role = iot.iam.get_role().role_name(f.iot_role()).send().await.unwrap();
        let role = role.role().unwrap();
        assert_eq!(role.arn(), f.iot_role_arn());
        assert!(role.tags().iter().any(|t| t.key() == "xacct:fleet" && t.value() == f.fleet));
        let trust = doc(role.assume_role_policy_document().unwrap());
        assert!(same(
            &trust,
            &json!({"Version":"2012-10-17","Statement":[{"Sid":"IotCredentialsProvider","Effect":"Allow",
                "Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole",
                "Condition":{"StringEquals":{"aws:SourceAccount":f.iot_account},"ArnEquals":{"aws:SourceArn":f.alias_arn()}}}]})
        ), "{trust}");
        let p = iot.iam.get_role_policy().role_name(f.iot_role()).policy_name("xacct-assume-targets").send().await.unwrap();
        let targets: Vec<String> = f.envs.iter().map(|e| f.target_role_arn(e)).collect();
        assert!(same(
            &doc(p.policy_document()),
            &json!({"Version":"2012-10-17","Statement":[{"Sid":"AssumeTargetRoles","Effect":"Allow","Action":"sts:AssumeRole","Resource":targets}]})
        ));
        let alias = iot.iot.describe_role_alias().role_alias(f.alias()).send().await.unwrap();
        let alias = alias.role_alias_description().unwrap();
        assert_eq!(alias.role_arn(), Some(f.iot_role_arn().as_str()));
        assert_eq!(alias.credential_duration_seconds(), Some(3600));
        let pol = iot.iot.get_policy().policy_name(f.policy()).send().await.unwrap();
        assert!(same(
            &doc(pol.policy_document().unwrap()),
            &json!({"Version":"2012-10-17","Statement":[{"Sid":"AssumeRoleAlias","Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":f.alias_arn()}]})
        ));
        let t = iot.iot.list_targets_for_policy().policy_name(f.policy()).send().await.unwrap();
        assert_eq!(t.targets().len(), 1);
        assert!(t.targets()[0].ends_with(&format!("cert/{}", f.certificates[0])));
        for e in &f.envs {
            let s = sdk(&e.account, &f.region).await;
            let r = s.iam.get_role().role_name(f.target_role(e)).send().await.unwrap();
            let trust = doc(r.role().unwrap().assume_role_policy_document().unwrap());
            assert!(same(
                &trust,
                &json!({"Version":"2012-10-17","Statement":[{"Sid":"IotDeviceRole","Effect":"Allow","Principal":{"AWS":f.iot_role_arn()},"Action":"sts:AssumeRole"}]})
            ), "{trust}");
            let p = s.iam.get_role_policy().role_name(f.target_role(e)).policy_name("xacct-invoke-functions").send().await.unwrap();
            let mut res = Vec::new();
            for func in &e.functions {
                let arn = format!("arn:aws:lambda:{}:{}:function:{func}", f.region, e.account);
                res.push(format!("{arn}:*"));
                res.push(arn);
            }
            assert!(same(
                &doc(p.policy_document()),
                &json!({"Version":"2012-10-17","Statement":[{"Sid":"InvokeFunctions","Effect":"Allow","Action":"lambda:InvokeFunction","Resource":res}]})
            ));
            // nothing of ours in another env's account
            let other = s.iam.get_role().role_name(f.iot_role()).send().await;
            assert!(other.is_err(), "the IoT role must exist only in the IoT account");
        }
    });
    // the JSON contract of an empty plan
    let p = plan_json(&file);
    assert_eq!(p["format_version"], "1");
    assert_eq!(p["changes"], json!([]));
    assert_eq!(p["summary"]["create"], 0);
}

#[test]
fn plan_json_contract_on_empty_accounts() {
    let f = Fleet::new(2);
    let file = f.write();
    let p = plan_json(&file);
    assert_eq!(p["format_version"], "1");
    let ch = p["changes"].as_array().unwrap();
    assert_eq!(ch.len(), 4 + 2 * 2);
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&p), vec!["changes", "format_version", "summary"]);
    for c in ch {
        assert_eq!(
            keys(c),
            vec!["account", "action", "after", "before", "env", "kind", "name"],
            "exactly the contract's fields: {c}"
        );
        assert_eq!(c["action"], "create");
        assert!(c["before"].is_null());
        if c["kind"] == "iam_role" && c["env"].is_null() {
            assert_eq!(c["account"], f.iot_account);
        }
    }
    assert_eq!(
        p["summary"],
        json!({"create": 8, "update": 0, "replace": 0, "delete": 0})
    );
    // --detailed-exitcode: 2 with changes
    run_ok(&["plan", "-f", &file_arg(&file), "--detailed-exitcode"], 2);
}

#[test]
fn drift_target_trust_edited_out_of_band_is_one_update() {
    let (f, file) = applied_fleet(2);
    let e = &f.envs[1];
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        let bad = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{}:root", f.iot_account)},"Action":"sts:AssumeRole"}]});
        s.iam.update_assume_role_policy().role_name(f.target_role(e)).policy_document(bad.to_string()).send().await.unwrap();
    });
    let p = plan_json(&file);
    assert_eq!(
        changes(&p),
        vec![(
            Some(e.name.clone()),
            "iam_role".into(),
            f.target_role(e),
            "update".into()
        )]
    );
    apply_converges(&file);
}

#[test]
fn drift_alias_repointed_is_one_update() {
    let (f, file) = applied_fleet(1);
    rt().block_on(async {
        let s = sdk(&f.iot_account, &f.region).await;
        s.iot
            .update_role_alias()
            .role_alias(f.alias())
            .role_arn(format!("arn:aws:iam::{}:role/someone-else", f.iot_account))
            .send()
            .await
            .unwrap();
    });
    let p = plan_json(&file);
    assert_eq!(
        changes(&p),
        vec![(None, "iot_role_alias".into(), f.alias(), "update".into())]
    );
    apply_converges(&file);
}

#[test]
fn drift_statement_removed_from_iot_policy_is_one_update_and_versions_are_pruned() {
    let (f, file) = applied_fleet(1);
    // drift it five times: IoT keeps at most 5 versions, so apply must prune
    for i in 0..5 {
        rt().block_on(async {
            let s = sdk(&f.iot_account, &f.region).await;
            let versions = s.iot.list_policy_versions().policy_name(f.policy()).send().await.unwrap();
            if versions.policy_versions().len() >= 5 {
                let old = versions.policy_versions().iter().find(|v| !v.is_default_version()).unwrap();
                s.iot.delete_policy_version().policy_name(f.policy()).policy_version_id(old.version_id().unwrap()).send().await.unwrap();
            }
            let empty = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":format!("arn:aws:iot:{}:{}:client/x{i}", f.region, f.iot_account)}]});
            s.iot.create_policy_version().policy_name(f.policy()).policy_document(empty.to_string()).set_as_default(true).send().await.unwrap();
        });
        if i == 0 {
            let p = plan_json(&file);
            assert_eq!(
                changes(&p),
                vec![(None, "iot_policy".into(), f.policy(), "update".into())]
            );
        }
    }
    apply_converges(&file);
    rt().block_on(async {
        let s = sdk(&f.iot_account, &f.region).await;
        let v = s
            .iot
            .list_policy_versions()
            .policy_name(f.policy())
            .send()
            .await
            .unwrap();
        assert!(v.policy_versions().len() <= 5);
    });
}

#[test]
fn drift_target_role_deleted_is_recreated() {
    let (f, file) = applied_fleet(2);
    let e = &f.envs[0];
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        s.iam
            .delete_role_policy()
            .role_name(f.target_role(e))
            .policy_name("xacct-invoke-functions")
            .send()
            .await
            .unwrap();
        s.iam
            .delete_role()
            .role_name(f.target_role(e))
            .send()
            .await
            .unwrap();
    });
    let p = plan_json(&file);
    assert_eq!(
        changes(&p),
        vec![
            (
                Some(e.name.clone()),
                "iam_role".into(),
                f.target_role(e),
                "create".into()
            ),
            (
                Some(e.name.clone()),
                "iam_role_policy".into(),
                format!("{}/xacct-invoke-functions", f.target_role(e)),
                "create".into()
            ),
        ]
    );
    apply_converges(&file);
}

#[test]
fn drift_certificate_detached_is_reattached() {
    let (f, file) = applied_fleet(1);
    rt().block_on(async {
        let s = sdk(&f.iot_account, &f.region).await;
        let t = s
            .iot
            .list_targets_for_policy()
            .policy_name(f.policy())
            .send()
            .await
            .unwrap();
        s.iot
            .detach_policy()
            .policy_name(f.policy())
            .target(&t.targets()[0])
            .send()
            .await
            .unwrap();
    });
    let p = plan_json(&file);
    assert_eq!(
        changes(&p),
        vec![(
            None,
            "iot_policy_attachment".into(),
            format!("{}/{}", f.policy(), f.certificates[0]),
            "create".into()
        )]
    );
    apply_converges(&file);
}

#[test]
fn saved_plan_applies_exactly_and_is_refused_after_drift() {
    let f = Fleet::new(1);
    let file = f.write();
    let planfile = f.dir.join("first.plan");
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
    run_ok(&["apply", &file_arg(&planfile)], 0);
    run_ok(&["plan", "-f", &file_arg(&file), "--detailed-exitcode"], 0);

    // a plan made now, then drift, then apply of the stale plan: refused, nothing written
    let e = &f.envs[0];
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        s.iam
            .delete_role_policy()
            .role_name(f.target_role(e))
            .policy_name("xacct-invoke-functions")
            .send()
            .await
            .unwrap();
    });
    let stale = f.dir.join("stale.plan");
    run_ok(
        &["plan", "-f", &file_arg(&file), "--out", &file_arg(&stale)],
        0,
    );
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        let bad = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:role/x"},"Action":"sts:AssumeRole"}]});
        s.iam.update_assume_role_policy().role_name(f.target_role(e)).policy_document(bad.to_string()).send().await.unwrap();
    });
    let o = run_ok(&["apply", &file_arg(&stale)], 1);
    assert!(stderr(&o).contains("live state changed"), "{}", stderr(&o));
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        let r = s
            .iam
            .get_role_policy()
            .role_name(f.target_role(e))
            .policy_name("xacct-invoke-functions")
            .send()
            .await;
        assert!(
            r.is_err(),
            "the refused plan must not have written the role policy"
        );
    });
    apply_converges(&file);
}

#[test]
fn apply_without_terminal_or_auto_approve_refuses_and_writes_nothing() {
    let f = Fleet::new(1);
    let file = f.write();
    let o = run_ok(&["apply", "-f", &file_arg(&file)], 1);
    assert!(stderr(&o).contains("--auto-approve"), "{}", stderr(&o));
    let p = plan_json(&file);
    assert_eq!(p["summary"]["create"], 6, "nothing may have been created");
}

#[test]
fn ownership_conflicts_are_refused_and_left_untouched() {
    let f = Fleet::new(1);
    let e = f.envs[0].clone();
    let foreign_trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        s.iam
            .create_role()
            .role_name(f.target_role(&e))
            .assume_role_policy_document(foreign_trust.to_string())
            .send()
            .await
            .unwrap();
        let iot = sdk(&f.iot_account, &f.region).await;
        iot.iam
            .create_role()
            .role_name("someone-else")
            .assume_role_policy_document(foreign_trust.to_string())
            .send()
            .await
            .unwrap();
        iot.iot
            .create_role_alias()
            .role_alias(f.alias())
            .role_arn(format!("arn:aws:iam::{}:role/someone-else", f.iot_account))
            .send()
            .await
            .unwrap();
    });
    let file = f.write();
    let p = plan_json(&file);
    let c = changes(&p);
    assert!(
        c.contains(&(
            Some(e.name.clone()),
            "iam_role".into(),
            f.target_role(&e),
            "adopt".into()
        )),
        "{c:?}"
    );
    assert!(
        c.contains(&(None, "iot_role_alias".into(), f.alias(), "adopt".into())),
        "{c:?}"
    );
    let o = run_ok(&["apply", "-f", &file_arg(&file), "--auto-approve"], 1);
    assert!(
        stderr(&o).contains("does not own") || stderr(&o).contains("not own"),
        "{}",
        stderr(&o)
    );
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        let r = s
            .iam
            .get_role()
            .role_name(f.target_role(&e))
            .send()
            .await
            .unwrap();
        assert!(same(
            &doc(r.role().unwrap().assume_role_policy_document().unwrap()),
            &foreign_trust
        ));
        assert!(r.role().unwrap().tags().is_empty());
        let iot = sdk(&f.iot_account, &f.region).await;
        assert!(
            iot.iam
                .get_role()
                .role_name(f.iot_role())
                .send()
                .await
                .is_err(),
            "nothing may be created"
        );
    });
    // destroy leaves what is not ours alone
    run_ok(&["destroy", "-f", &file_arg(&file), "--auto-approve"], 0);
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        assert!(s
            .iam
            .get_role()
            .role_name(f.target_role(&e))
            .send()
            .await
            .is_ok());
        let iot = sdk(&f.iot_account, &f.region).await;
        assert!(iot
            .iot
            .describe_role_alias()
            .role_alias(f.alias())
            .send()
            .await
            .is_ok());
    });
    // --adopt takes them over, after which the plan is empty
    run_ok(
        &["apply", "-f", &file_arg(&file), "--auto-approve", "--adopt"],
        0,
    );
    run_ok(&["plan", "-f", &file_arg(&file), "--detailed-exitcode"], 0);
}

#[test]
fn destroy_removes_everything_ours_and_nothing_else() {
    let (f, file) = applied_fleet(2);
    let e = f.envs[0].clone();
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        let t = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]});
        s.iam.create_role().role_name("unrelated").assume_role_policy_document(t.to_string()).send().await.unwrap();
    });
    run_ok(&["destroy", "-f", &file_arg(&file), "--auto-approve"], 0);
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
        let cert = iot
            .iot
            .describe_certificate()
            .certificate_id(&f.certificates[0])
            .send()
            .await;
        assert!(cert.is_ok(), "certificates are not xacct's to delete");
        for env in &f.envs {
            let s = sdk(&env.account, &f.region).await;
            assert!(s
                .iam
                .get_role()
                .role_name(f.target_role(env))
                .send()
                .await
                .is_err());
        }
        let s = sdk(&e.account, &f.region).await;
        assert!(s.iam.get_role().role_name("unrelated").send().await.is_ok());
    });
    let p = plan_json(&file);
    assert_eq!(p["summary"]["create"], 4 + 1 + 2 * 2);
    // a second destroy has nothing to do
    let o = run_ok(&["destroy", "-f", &file_arg(&file), "--auto-approve"], 0);
    assert!(stdout(&o).contains("No changes"), "{}", stdout(&o));
}

#[test]
fn env_selection_plans_only_that_environment() {
    let f = Fleet::new(3);
    let file = f.write();
    let o = run_ok(
        &[
            "plan",
            "-f",
            &file_arg(&file),
            "--json",
            "--env",
            &f.envs[1].name,
        ],
        0,
    );
    let p: Value = serde_json::from_slice(&o.stdout).unwrap();
    let envs: Vec<Value> = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["env"].clone())
        .collect();
    assert!(
        envs.iter()
            .all(|e| e.is_null() || e == &json!(f.envs[1].name)),
        "{envs:?}"
    );
    // the IoT role's policy still names every target role
    let iot_policy = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "iam_role_policy" && c["env"].is_null())
        .unwrap();
    assert_eq!(
        iot_policy["after"]["policy"]["Statement"][0]["Resource"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let o = run_ok(&["plan", "-f", &file_arg(&file), "--env", "nope"], 1);
    assert!(stderr(&o).contains("no such environment"), "{}", stderr(&o));
}
