//! `xacct check`, `lint` and `policy eval` against moto and offline.

use crate::common::*;
use serde_json::{json, Value};

fn check_json(file: &std::path::Path, extra: &[&str], code: i32) -> Value {
    let f = file_arg(file);
    let mut args = vec!["check", "-f", &f, "--json"];
    args.extend_from_slice(extra);
    let o = run_ok(&args, code);
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn check_proves_every_hop_after_apply_and_names_the_broken_one() {
    let (f, file) = fleet_with_cert(3, true);
    // before apply: nothing holds
    let r = check_json(&file, &[], 1);
    assert_eq!(r["ok"], false);
    assert_eq!(report_part(&r, &f.envs[0].name, "role_alias")["ok"], false);
    assert_eq!(report_hop(&r, &f.envs[0].name, "credentials")["ok"], false);

    apply_converges(&file);
    let r = check_json(&file, &[], 0);
    assert_eq!(r["ok"], true, "{r:#}");
    assert_eq!(r["lint"], json!([]));
    for e in r["environments"].as_array().unwrap() {
        assert_eq!(e["hops"].as_array().unwrap().len(), 3);
        assert_eq!(e["hops"][0]["parts"].as_array().unwrap().len(), 3);
        assert!(e["hops"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["ok"] == true));
    }

    // the second env's trust no longer names the IoT role: only its assume_target hop breaks
    let broken = f.envs[1].clone();
    rt().block_on(async {
        let s = sdk(&broken.account, &f.region).await;
        let t = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{}:role/other", f.iot_account)},"Action":"sts:AssumeRole"}]});
        s.iam.update_assume_role_policy().role_name(f.target_role(&broken)).policy_document(t.to_string()).send().await.unwrap();
    });
    let r = check_json(&file, &[], 1);
    let h = report_part(&r, &broken.name, "target_trust");
    assert_eq!(h["ok"], false);
    assert!(
        h["detail"]
            .to_string()
            .contains(&format!("does not name {}", f.iot_role_arn())),
        "{h}"
    );
    assert_eq!(
        h["fix"][0]["statement"]["Principal"]["AWS"],
        f.iot_role_arn()
    );
    assert_eq!(report_part(&r, &f.envs[0].name, "target_trust")["ok"], true);
    assert_eq!(report_hop(&r, &broken.name, "invoke")["ok"], true);

    // --env narrows the proof to the healthy env: exit 0
    let r = check_json(&file, &["--env", &f.envs[0].name], 0);
    assert_eq!(r["environments"].as_array().unwrap().len(), 1);

    // human output names the env and the hop
    let o = run_ok(&["check", "-f", &file_arg(&file)], 1);
    let out = stdout(&o);
    assert!(
        out.contains("✗ assume-role")
            && out.contains("✗ target-trust")
            && out.contains(&broken.name),
        "{out}"
    );
}

#[test]
fn check_reports_a_missing_function_and_a_detached_certificate() {
    let (f, file) = fleet_with_cert(1, true);
    apply_converges(&file);
    let e = &f.envs[0];
    rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        s.lambda
            .delete_function()
            .function_name(&e.functions[1])
            .send()
            .await
            .unwrap();
        let iot = sdk(&f.iot_account, &f.region).await;
        let t = iot
            .iot
            .list_targets_for_policy()
            .policy_name(f.policy())
            .send()
            .await
            .unwrap();
        iot.iot
            .detach_policy()
            .policy_name(f.policy())
            .target(&t.targets()[0])
            .send()
            .await
            .unwrap();
    });
    let r = check_json(&file, &[], 1);
    let inv = report_hop(&r, &e.name, "invoke");
    assert_eq!(inv["ok"], false);
    assert!(
        inv["detail"].to_string().contains("does not exist"),
        "{inv}"
    );
    let pol = report_part(&r, &e.name, "iot_policy");
    assert_eq!(pol["ok"], false);
    assert!(
        pol["detail"].to_string().contains("no IoT policy attached"),
        "{pol}"
    );
}

#[test]
fn check_desired_and_lint_make_no_aws_request() {
    let f = Fleet::new(4);
    let file = f.write();
    let trip = Tripwire::new();
    let o = xacct_at(
        &trip.url,
        &["check", "-f", &file_arg(&file), "--desired", "--json"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["ok"], true);
    assert_eq!(r["environments"].as_array().unwrap().len(), 4);
    let o = xacct_at(&trip.url, &["lint", "-f", &file_arg(&file), "--json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        json!([])
    );
    assert_eq!(trip.count(), 0);
}

#[test]
fn policy_eval_batch_answers_in_order() {
    let cases = json!([
        {"principal":"arn:aws:iam::111111111111:role/dev","action":"sts:AssumeRole","resource":"arn:aws:iam::222222222222:role/t",
         "identity_policies":[{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::222222222222:role/t"}]}],
         "resource_policy":{"Version":"2012-10-17","Statement":[{"Sid":"T","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/dev"},"Action":"sts:AssumeRole"}]},
         "context":{}},
        {"principal":"arn:aws:iam::111111111111:role/dev","action":"sts:AssumeRole","resource":"arn:aws:iam::222222222222:role/t",
         "identity_policies":[],"resource_policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/dev"},"Action":"sts:AssumeRole"}]}},
        {"principal":"arn:aws:iam::111111111111:role/dev","action":"s3:GetObject","resource":"arn:aws:s3:::b/k",
         "identity_policies":[{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"No","Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}]}
    ]);
    let o = xacct_at(
        "http://127.0.0.1:9",
        &["policy", "eval"],
        Some(&cases.to_string()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r[0]["decision"], "Allow");
    assert_eq!(r[1]["decision"], "ImplicitDeny");
    assert_eq!(r[2]["decision"], "ExplicitDeny");
    assert_eq!(r[2]["statements"], json!(["identity[0].No"]));
}

/// `policy eval` takes the organization's layers: an SCP at an OU denying sts:AssumeRole denies and
/// is named with its id and target; the same case without it is allowed.
#[test]
fn policy_eval_applies_service_and_resource_control_policies() {
    let base = json!({"principal":"arn:aws:sts::111111111111:assumed-role/dev/s","action":"sts:AssumeRole","resource":"arn:aws:iam::222222222222:role/t",
        "identity_policies":[{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}],
        "resource_policy":{"Version":"2012-10-17","Statement":[{"Sid":"T","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/dev"},"Action":"sts:AssumeRole"}]}});
    let full = json!({"name":"FullAWSAccess","policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}});
    let deny = json!({"name":"deny-assume","id":"p-1","target":"ou-ab12-cdef34gh","policy":{"Version":"2012-10-17","Statement":[{"Sid":"D","Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}});
    let mut denied = base.clone();
    denied["service_control_policies"] = json!([[full], [full, deny]]);
    let mut allowed = base.clone();
    allowed["service_control_policies"] = json!([[full], [full]]);
    let o = xacct_at(
        "http://127.0.0.1:9",
        &["policy", "eval"],
        Some(&json!([denied, allowed]).to_string()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r[0]["decision"], "ExplicitDeny", "{r}");
    assert_eq!(r[0]["statements"], json!(["scp[1].deny-assume.D"]));
    assert_eq!(
        r[0]["organization"],
        json!([{"layer":"scp","level":1,"name":"deny-assume","id":"p-1","target":"ou-ab12-cdef34gh"}])
    );
    assert_eq!(r[1]["decision"], "Allow", "{r}");
    assert!(r[1].get("organization").is_none());
}

/// Break one part of a hop out of band, prove that check fails on that part only and names it, apply the
/// suggested fix by hand, and prove that check passes again.
fn break_and_fix(
    hop_name: &str,
    break_it: impl FnOnce(&Fleet),
    fix_it: impl FnOnce(&Fleet, &Value),
) {
    let (f, file) = fleet_with_cert(2, true);
    apply_converges(&file);
    check_json(&file, &[], 0);
    break_it(&f);
    let r = check_json(&file, &[], 1);
    let broken_env = r["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ok"] == false)
        .unwrap()
        .clone();
    assert_eq!(
        failing_parts(&broken_env),
        vec![hop_name],
        "only {hop_name} may fail: {broken_env:#}"
    );
    let env = broken_env["env"].as_str().unwrap();
    let h = if hop_name == "invoke" {
        report_hop(&r, env, hop_name).clone()
    } else {
        report_part(&r, env, hop_name).clone()
    };
    assert!(!h["fix"].is_null(), "a fix must be suggested: {h:#}");
    fix_it(&f, &h);
    let r = check_json(&file, &[], 0);
    assert_eq!(
        r["ok"], true,
        "the suggested fix did not repair {hop_name}: {r:#}"
    );
}

#[test]
fn iot_policy_hop_broken_then_fixed_by_the_suggestion() {
    break_and_fix(
        "iot_policy",
        |f| {
            rt().block_on(async {
                let s = sdk(&f.iot_account, &f.region).await;
                let d = json!({"Version":"2012-10-17","Statement":[{"Sid":"NoCreds","Effect":"Deny","Action":"iot:AssumeRoleWithCertificate","Resource":"*"},{"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":f.alias_arn()}]});
                s.iot.create_policy_version().policy_name(f.policy()).policy_document(d.to_string()).set_as_default(true).send().await.unwrap();
            })
        },
        |f, h| {
            assert!(
                h["statements"].to_string().contains("denied by policy")
                    && h["statements"].to_string().contains("NoCreds"),
                "{h}"
            );
            assert_eq!(
                h["fix"]["remove"][0],
                format!("policy {} statement NoCreds", f.policy())
            );
            rt().block_on(async {
                let s = sdk(&f.iot_account, &f.region).await;
                let d = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":f.alias_arn()}]});
                s.iot.create_policy_version().policy_name(f.policy()).policy_document(d.to_string()).set_as_default(true).send().await.unwrap();
            })
        },
    );
}

#[test]
fn role_alias_hop_broken_then_fixed_by_the_suggestion() {
    break_and_fix(
        "role_alias",
        |f| {
            rt().block_on(async {
                let s = sdk(&f.iot_account, &f.region).await;
                s.iot
                    .update_role_alias()
                    .role_alias(f.alias())
                    .credential_duration_seconds(7200)
                    .send()
                    .await
                    .unwrap();
            })
        },
        |f, h| {
            assert!(
                h["detail"].to_string().contains("MaxSessionDuration"),
                "{h}"
            );
            let d = h["fix"]["credential_duration"].as_i64().unwrap() as i32;
            rt().block_on(async {
                let s = sdk(&f.iot_account, &f.region).await;
                s.iot
                    .update_role_alias()
                    .role_alias(f.alias())
                    .credential_duration_seconds(d)
                    .send()
                    .await
                    .unwrap();
            })
        },
    );
}

#[test]
fn iot_trust_hop_broken_then_fixed_by_the_suggestion() {
    break_and_fix(
        "iot_trust",
        |f| {
            rt().block_on(async {
                let s = sdk(&f.iot_account, &f.region).await;
                // the confused-deputy guard names another account
                let t = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"999999999999"}}}]});
                s.iam.update_assume_role_policy().role_name(f.iot_role()).policy_document(t.to_string()).send().await.unwrap();
            })
        },
        |f, h| {
            let doc = json!({"Version":"2012-10-17","Statement":[h["fix"]["statement"].clone()]});
            rt().block_on(async {
                let s = sdk(&f.iot_account, &f.region).await;
                s.iam
                    .update_assume_role_policy()
                    .role_name(f.iot_role())
                    .policy_document(doc.to_string())
                    .send()
                    .await
                    .unwrap();
            })
        },
    );
}

#[test]
fn assume_target_hop_broken_then_fixed_by_the_suggestion() {
    break_and_fix(
        "target_trust",
        |f| {
            rt().block_on(async {
                let s = sdk(&f.iot_account, &f.region).await;
                let p = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":f.target_role_arn(&f.envs[0])}]});
                s.iam.put_role_policy().role_name(f.iot_role()).policy_name("xacct-assume-targets").policy_document(p.to_string()).send().await.unwrap();
            })
        },
        |f, h| {
            assert_eq!(h["fix"][0]["identity_policy_of"], f.iot_role_arn());
            let doc =
                json!({"Version":"2012-10-17","Statement":[h["fix"][0]["statement"].clone()]});
            rt().block_on(async {
                let s = sdk(&f.iot_account, &f.region).await;
                s.iam
                    .put_role_policy()
                    .role_name(f.iot_role())
                    .policy_name("fix")
                    .policy_document(doc.to_string())
                    .send()
                    .await
                    .unwrap();
            })
        },
    );
}

#[test]
fn invoke_hop_broken_then_fixed_by_the_suggestion() {
    break_and_fix(
        "invoke",
        |f| {
            rt().block_on(async {
                let e = &f.envs[1];
                let s = sdk(&e.account, &f.region).await;
                let d = json!({"Version":"2012-10-17","Statement":[{"Sid":"NoInvoke","Effect":"Deny","Action":"lambda:InvokeFunction","Resource":"*"}]});
                s.iam.put_role_policy().role_name(f.target_role(e)).policy_name("blocker").policy_document(d.to_string()).send().await.unwrap();
            })
        },
        |f, h| {
            assert!(
                h["statements"]
                    .to_string()
                    .contains("denied by policy blocker statement NoInvoke"),
                "{h}"
            );
            assert_eq!(
                h["fix"][0]["remove"][0],
                "policy blocker statement NoInvoke"
            );
            rt().block_on(async {
                let e = &f.envs[1];
                let s = sdk(&e.account, &f.region).await;
                s.iam
                    .delete_role_policy()
                    .role_name(f.target_role(e))
                    .policy_name("blocker")
                    .send()
                    .await
                    .unwrap();
            })
        },
    );
}

#[test]
fn a_permissions_boundary_outside_the_action_fails_the_hop_and_names_the_boundary() {
    let (f, file) = fleet_with_cert(2, true);
    apply_converges(&file);
    let e = f.envs[0].clone();
    let boundary = rt().block_on(async {
        let s = sdk(&e.account, &f.region).await;
        set_narrow_boundary(&s, &f.target_role(&e)).await
    });
    let r = check_json(&file, &[], 1);
    let h = report_hop(&r, &e.name, "invoke");
    assert_eq!(h["ok"], false, "{h:#}");
    let words = h["detail"].to_string();
    assert!(
        words.contains(&format!("the permissions boundary {boundary}"))
            && words.contains("does not allow lambda:InvokeFunction"),
        "{words}"
    );
    // the other environment and the earlier hops still hold
    assert_eq!(report_part(&r, &e.name, "target_trust")["ok"], true);
    assert_eq!(report_hop(&r, &f.envs[1].name, "invoke")["ok"], true);
}

/// With the `organization:` section, check reads each account's place in the organization and the
/// SCPs attached along it: an SCP at an OU that denies lambda:InvokeFunction to the sessions of the
/// accounts under it fails that environment's invoke hop, naming the SCP, its id and the OU (in
/// words and in `organization`), while the environment outside the OU holds; the management
/// account's own reads are listed by `permissions --for check`.
#[test]
fn an_scp_at_an_ou_fails_the_hops_of_the_accounts_under_it_and_is_named() {
    use aws_sdk_organizations::types::PolicyType;
    let mut f = Fleet::new(2);
    let management = account();
    let (ou, policy_id) = rt().block_on(async {
        let org = new_organization(moto(), &management, &f.region).await;
        let o = &org.o;
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(member_account(o, &format!("member{i}")).await);
        }
        f.iot_account = ids[0].clone();
        f.envs[0].account = ids[1].clone();
        f.envs[1].account = ids[2].clone();
        let ou = ou_holding(&org, "workloads", &ids[1]).await;
        let pid = attached_policy(o, "no-invoke", PolicyType::ServiceControlPolicy, json!({"Version":"2012-10-17","Statement":[{"Sid":"NoInvoke","Effect":"Deny","Action":"lambda:InvokeFunction","Resource":"*"}]}), &ou).await;
        create_functions(&f).await;
        (ou, pid)
    });
    let file = f.write();
    with_organization(&file, &management);
    run_ok(&["apply", "-f", &file_arg(&file), "--auto-approve"], 0);
    let o = xacct(&["check", "-f", &file_arg(&file), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = report_hop(&v, &f.envs[0].name, "invoke");
    assert_eq!(h["ok"], false, "{h}");
    assert_eq!(
        h["organization"],
        json!([{"layer":"scp","level":1,"name":"no-invoke","id":policy_id,"target":ou}]),
        "{h}"
    );
    assert!(
        h["detail"].to_string().contains(&format!(
            "SCP no-invoke ({policy_id} on {ou}) denies lambda:InvokeFunction"
        )),
        "{h}"
    );
    assert_eq!(report_env(&v, &f.envs[1].name)["ok"], true, "{v}");
    let p = xacct_at(
        "http://127.0.0.1:9",
        &[
            "permissions",
            "-f",
            &file_arg(&file),
            "--for",
            "check",
            "--json",
        ],
        None,
    );
    let p: Value = serde_json::from_slice(&p.stdout).unwrap();
    let mine = p["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == management.as_str())
        .expect("the management account's reads");
    assert!(mine["policy"]
        .to_string()
        .contains("organizations:ListPoliciesForTarget"));
}

/// An RCP is the resource's account's: one at the root of the organization that lets only the
/// organization's principals assume its roles denies the IoT role of an account outside it, at
/// assume_role, naming the RCP and the root; SCPs do not limit the outside account's sessions.
#[test]
fn an_rcp_keeps_the_roles_of_the_organization_from_a_principal_outside_it() {
    use aws_sdk_organizations::types::PolicyType;
    let mut f = Fleet::new(1);
    let management = account();
    let (root, org_id) = rt().block_on(async {
        let org = new_organization(moto(), &management, &f.region).await;
        let (o, org_id, root) = (&org.o, org.id.clone(), org.root.clone());
        f.envs[0].account = member_account(o, "member").await;
        attached_policy(o, "org-only-sts", PolicyType::ResourceControlPolicy, json!({"Version":"2012-10-17","Statement":[{"Sid":"OrgOnly","Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Resource":"*",
                    "Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":org_id}}}]}), &root).await;
        create_functions(&f).await;
        (root, org_id)
    });
    let file = f.write();
    with_organization(&file, &management);
    run_ok(&["apply", "-f", &file_arg(&file), "--auto-approve"], 0);
    let o = xacct(&["check", "-f", &file_arg(&file), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = report_hop(&v, &f.envs[0].name, "assume_role");
    assert_eq!(h["ok"], false, "{h}");
    assert_eq!(h["organization"][0]["layer"], "rcp", "{h}");
    assert_eq!(h["organization"][0]["name"], "org-only-sts", "{h}");
    assert_eq!(h["organization"][0]["target"], root.as_str(), "{h}");
    assert!(
        h.to_string().contains("RCP org-only-sts") && !org_id.is_empty(),
        "{h}"
    );
}

/// SCPs do not limit the management account: an SCP at the root that denies sts:AssumeRole leaves
/// the management account's IoT role free to assume the target role, so the hop holds.
#[test]
fn scps_do_not_limit_the_management_account() {
    use aws_sdk_organizations::types::PolicyType;
    let mut f = Fleet::new(1);
    rt().block_on(async {
        // the IoT account is the organization's management account
        let org = new_organization(moto(), &f.iot_account, &f.region).await;
        let (o, root) = (&org.o, &org.root);
        f.envs[0].account = member_account(o, "member").await;
        attached_policy(o, "no-assume", PolicyType::ServiceControlPolicy, json!({"Version":"2012-10-17","Statement":[{"Sid":"NoAssume","Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}), root).await;
        create_functions(&f).await;
    });
    let file = f.write();
    with_organization(&file, &f.iot_account);
    run_ok(&["apply", "-f", &file_arg(&file), "--auto-approve"], 0);
    let o = xacct(&["check", "-f", &file_arg(&file), "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = report_hop(&v, &f.envs[0].name, "assume_role");
    assert_eq!(
        h["ok"], true,
        "the management account's role is not limited: {h}"
    );
    assert_eq!(o.status.code(), Some(0), "{v}");
}

/// A `sandbox up` of this test's own, bootstrapping `file`; stopped when dropped.
struct Bootstrapped {
    child: std::process::Child,
    gateway: String,
}

impl Drop for Bootstrapped {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn bootstrapped(file: &std::path::Path) -> Bootstrapped {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(name("xacct-boot-"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xacct"))
        .args([
            "sandbox",
            "up",
            "--bootstrap",
            &file_arg(file),
            "--moto-url",
            moto(),
        ])
        .args(["--dir", &dir.to_string_lossy()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut gateway = String::new();
    let mut seen = 0;
    while seen < 4 {
        let Some(Ok(l)) = lines.next() else {
            panic!("sandbox up --bootstrap ended early")
        };
        if l.starts_with("export ") {
            seen += 1;
        }
        if let Some(g) = l.strip_prefix("export AWS_ENDPOINT_URL=") {
            gateway = g.to_string();
        }
    }
    Bootstrapped { child, gateway }
}

/// `sandbox up --bootstrap` places the accounts of a file with an `organization:` section in an
/// organization of the sandbox's own (moto cannot place existing account ids in one): every
/// account's DescribeOrganization names the management account, the management account reads the
/// environment's account under an OU and the SCPs at the root, a member may not; and check, which
/// reads them all through the file's organization access, proves every hop.
#[test]
fn sandbox_bootstrap_places_a_files_accounts_in_an_organization() {
    let f = Fleet::new(1);
    let management = account();
    let file = f.write();
    with_organization(&file, &management);
    let sb = bootstrapped(&file);
    let env_account = f.envs[0].account.clone();
    rt().block_on(async {
        let member = aws_sdk_organizations::Client::new(
            &admin_config(&sb.gateway, &env_account, &f.region).await,
        );
        let org = member.describe_organization().send().await.unwrap();
        assert_eq!(
            org.organization().unwrap().master_account_id(),
            Some(management.as_str())
        );
        assert!(member
            .list_parents()
            .child_id(&env_account)
            .send()
            .await
            .is_err());
        let m = aws_sdk_organizations::Client::new(
            &admin_config(&sb.gateway, &management, &f.region).await,
        );
        let parents = m
            .list_parents()
            .child_id(&env_account)
            .send()
            .await
            .unwrap();
        assert!(parents.parents()[0].id().unwrap().starts_with("ou-"));
        let root = m.list_roots().send().await.unwrap().roots()[0]
            .id()
            .unwrap()
            .to_string();
        let scps = m
            .list_policies_for_target()
            .target_id(&root)
            .filter(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
            .send()
            .await
            .unwrap();
        let names: Vec<&str> = scps.policies().iter().filter_map(|p| p.name()).collect();
        assert!(names.contains(&"deny-leave-organization"), "{names:?}");
    });
    let a = xacct_at(
        &sb.gateway,
        &["apply", "-f", &file_arg(&file), "--auto-approve"],
        None,
    );
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let o = xacct_at(
        &sb.gateway,
        &["check", "-f", &file_arg(&file), "--json"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
}
