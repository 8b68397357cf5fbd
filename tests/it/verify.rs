//! `xacct verify` end to end in the sandbox (moto behind the IAM-enforcing gateway, and the
//! credentials endpoint emulator): the whole chain passes, and each link broken on its own fails at
//! the right hop with the right words while the other environments still pass.

use crate::common::*;
use serde_json::{json, Value};
use std::path::PathBuf;

/// A fleet applied in the sandbox with one registered, active device certificate (written beside
/// the file), its environments' functions created.
pub(crate) struct Setup {
    pub(crate) f: Fleet,
    pub(crate) file: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) cert_id: String,
    pub(crate) cert_arn: String,
}

impl Setup {
    pub(crate) fn new(n: usize) -> Setup {
        Setup::with(Fleet::new(n))
    }

    /// The setup of fleet `f` (its accounts chosen by the caller).
    fn with(mut f: Fleet) -> Setup {
        let sb = sandbox();
        let (cert_id, cert_arn, pem, key) = rt().block_on(async {
            create_functions_at(&sb.gateway, &f).await;
            let s = sdk_at(&sb.gateway, &f.iot_account, &f.region).await;
            let c = s
                .iot
                .create_keys_and_certificate()
                .set_as_active(true)
                .send()
                .await
                .unwrap();
            (
                c.certificate_id().unwrap().to_string(),
                c.certificate_arn().unwrap().to_string(),
                c.certificate_pem().unwrap().to_string(),
                c.key_pair().unwrap().private_key().unwrap().to_string(),
            )
        });
        let cert = f.dir.join("device.pem.crt");
        let keyp = f.dir.join("device.private.key");
        std::fs::write(&cert, pem).unwrap();
        std::fs::write(&keyp, key).unwrap();
        f.certificates.push(cert_id.clone());
        let file = f.write();
        let o = sb.xacct(&["apply", "-f", &file_arg(&file), "--auto-approve"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        Setup {
            f,
            file,
            cert,
            key: keyp,
            cert_id,
            cert_arn,
        }
    }

    /// verify with the registered certificate, human output.
    fn verify_human(&self) -> std::process::Output {
        sandbox().xacct(&[
            "verify",
            "-f",
            &file_arg(&self.file),
            "--cert",
            &file_arg(&self.cert),
            "--key",
            &file_arg(&self.key),
        ])
    }

    fn verify(&self, extra: &[&str]) -> (i32, Value) {
        let file = file_arg(&self.file);
        let cert = file_arg(&self.cert);
        let key = file_arg(&self.key);
        let mut args = vec!["verify", "-f", &file, "--json"];
        if !extra.contains(&"--ephemeral") {
            args.extend_from_slice(&["--cert", &cert, "--key", &key]);
        }
        args.extend_from_slice(extra);
        let o = sandbox().xacct(&args);
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("verify printed no JSON:\n{}\n{}", stdout(&o), stderr(&o)));
        (o.status.code().unwrap_or(-1), v)
    }

    async fn iot(&self) -> Sdk {
        sdk_at(&sandbox().gateway, &self.f.iot_account, &self.f.region).await
    }
    async fn env_sdk(&self, i: usize) -> Sdk {
        sdk_at(&sandbox().gateway, &self.f.envs[i].account, &self.f.region).await
    }
}

/// The hop that failed in `env_name`, its words (detail and causes together).
fn failed(v: &Value, env_name: &str) -> (String, String) {
    let e = report_env(v, env_name);
    assert_eq!(e["ok"], false, "{e:#}");
    let h = e["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["ok"] == false)
        .unwrap();
    (
        h["hop"].as_str().unwrap().to_string(),
        format!("{} {}", h["detail"], h["cause"]),
    )
}

fn all_ok_except(v: &Value, s: &Setup, broken: &str) {
    for e in &s.f.envs {
        if e.name != broken {
            assert_eq!(
                report_env(v, &e.name)["ok"],
                true,
                "{} should still pass: {:#}",
                e.name,
                report_env(v, &e.name)
            );
        }
    }
}

#[test]
fn verify_passes_for_every_environment_with_a_registered_and_an_ephemeral_certificate() {
    let s = Setup::new(3);
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 0, "{v:#}");
    for e in &s.f.envs {
        let r = report_env(&v, &e.name);
        assert_eq!(r["ok"], true);
        let hops: Vec<&str> = r["hops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["hop"].as_str().unwrap())
            .collect();
        assert_eq!(hops, vec!["credentials", "assume_role", "invoke"]);
        assert_eq!(r["invocations"].as_array().unwrap().len(), 2);
        // DryRun by default: the permission is proven, no code runs
        assert_eq!(r["invocations"][0]["status"], 204);
        assert_eq!(r["invocations"][0]["payload_excerpt"], "");
    }
    // the human output says what a DryRun proved
    let o = s.verify_human();
    assert!(
        stdout(&o).contains("→ 204 (DryRun: the invocation is allowed; no code ran)"),
        "{}",
        stdout(&o)
    );
    // --execute invokes for real, with the payload
    let (code, v) = s.verify(&["--execute", "--payload", "{\"probe\":1}"]);
    assert_eq!(code, 0, "{v:#}");
    for e in &s.f.envs {
        let r = report_env(&v, &e.name);
        assert_eq!(r["invocations"][0]["status"], 200, "{r:#}");
        assert_eq!(
            r["invocations"][0]["payload_excerpt"], "{\"probe\":1}",
            "{r:#}"
        );
    }
    let (code, v) = s.verify(&["--ephemeral"]);
    assert_eq!(code, 0, "{v:#}");
    // only the registered certificate remains
    rt().block_on(async {
        let iot = sdk_at(&sandbox().gateway, &s.f.iot_account, &s.f.region).await;
        let certs = iot.iot.list_certificates().send().await.unwrap();
        assert_eq!(
            certs.certificates().len(),
            1,
            "the ephemeral certificate must be gone"
        );
        let things = iot.iot.list_things().send().await.unwrap();
        assert!(
            things.things().is_empty(),
            "the ephemeral marker thing must be gone"
        );
    });
    // --function narrows the invocations
    let f0 = s.f.envs[0].functions[0].clone();
    let (code, v) = s.verify(&["--env", &s.f.envs[0].name, "--function", &f0]);
    assert_eq!(code, 0);
    assert_eq!(
        report_env(&v, &s.f.envs[0].name)["invocations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn inactive_certificate_fails_at_credentials() {
    let s = Setup::new(2);
    rt().block_on(async {
        s.iot()
            .await
            .iot
            .update_certificate()
            .certificate_id(&s.cert_id)
            .new_status(aws_sdk_iot::types::CertificateStatus::Inactive)
            .send()
            .await
            .unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    for e in &s.f.envs {
        let (hop, words) = failed(&v, &e.name);
        assert_eq!(hop, "credentials");
        assert!(
            words.contains("403") && words.contains("INACTIVE"),
            "{words}"
        );
    }
}

#[test]
fn certificate_unknown_to_iot_fails_at_credentials() {
    let s = Setup::new(1);
    // a certificate of another account is unknown to this fleet's IoT account
    let other = Setup::new(1);
    let file = file_arg(&s.file);
    let (cert, key) = (file_arg(&other.cert), file_arg(&other.key));
    rt().block_on(async {
        // make the other certificate unknown everywhere
        let iot = other.iot().await;
        iot.iot
            .detach_policy()
            .policy_name(other.f.policy())
            .target(&other.cert_arn)
            .send()
            .await
            .unwrap();
        iot.iot
            .update_certificate()
            .certificate_id(&other.cert_id)
            .new_status(aws_sdk_iot::types::CertificateStatus::Inactive)
            .send()
            .await
            .unwrap();
        iot.iot
            .delete_certificate()
            .certificate_id(&other.cert_id)
            .send()
            .await
            .unwrap();
    });
    let o = sandbox().xacct(&[
        "verify", "-f", &file, "--json", "--cert", &cert, "--key", &key,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (hop, words) = failed(&v, &s.f.envs[0].name);
    assert_eq!(hop, "credentials");
    assert!(
        words.contains("403") && words.contains("not registered"),
        "{words}"
    );
}

#[test]
fn detached_policy_fails_at_credentials_with_the_cause() {
    let s = Setup::new(2);
    rt().block_on(async {
        s.iot()
            .await
            .iot
            .detach_policy()
            .policy_name(s.f.policy())
            .target(&s.cert_arn)
            .send()
            .await
            .unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &s.f.envs[0].name);
    assert_eq!(hop, "credentials");
    assert!(
        words.contains("403") && words.contains("no IoT policy attached"),
        "{words}"
    );
}

#[test]
fn policy_without_the_action_fails_at_credentials() {
    let s = Setup::new(2);
    rt().block_on(async {
        let doc = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":s.f.alias_arn()}]});
        s.iot().await.iot.create_policy_version().policy_name(s.f.policy()).policy_document(doc.to_string()).set_as_default(true).send().await.unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &s.f.envs[1].name);
    assert_eq!(hop, "credentials");
    assert!(
        words.contains("does not allow iot:AssumeRoleWithCertificate"),
        "{words}"
    );
}

#[test]
fn deleted_alias_fails_at_credentials_with_404() {
    let s = Setup::new(2);
    rt().block_on(async {
        s.iot()
            .await
            .iot
            .delete_role_alias()
            .role_alias(s.f.alias())
            .send()
            .await
            .unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &s.f.envs[0].name);
    assert_eq!(hop, "credentials");
    assert!(
        words.contains("404") && words.contains("does not exist"),
        "{words}"
    );
}

#[test]
fn alias_duration_above_the_roles_max_fails_at_credentials_with_400() {
    let s = Setup::new(2);
    rt().block_on(async {
        s.iot()
            .await
            .iot
            .update_role_alias()
            .role_alias(s.f.alias())
            .credential_duration_seconds(7200)
            .send()
            .await
            .unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &s.f.envs[0].name);
    assert_eq!(hop, "credentials");
    assert!(
        words.contains("400") && words.contains("MaxSessionDuration"),
        "{words}"
    );
}

#[test]
fn iot_role_trust_without_credentials_iot_fails_at_credentials() {
    let s = Setup::new(2);
    rt().block_on(async {
        let t = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]});
        s.iot().await.iam.update_assume_role_policy().role_name(s.f.iot_role()).policy_document(t.to_string()).send().await.unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &s.f.envs[0].name);
    assert_eq!(hop, "credentials");
    assert!(
        words.contains("400") && words.contains("credentials.iot.amazonaws.com"),
        "{words}"
    );
}

#[test]
fn iot_role_without_assume_on_one_target_fails_that_env_at_assume_role() {
    let s = Setup::new(3);
    let broken = s.f.envs[1].name.clone();
    rt().block_on(async {
        let others: Vec<String> = s.f.envs.iter().filter(|e| e.name != broken).map(|e| s.f.target_role_arn(e)).collect();
        let p = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":others}]});
        s.iot().await.iam.put_role_policy().role_name(s.f.iot_role()).policy_name("xacct-assume-targets").policy_document(p.to_string()).send().await.unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &broken);
    assert_eq!(hop, "assume_role");
    assert!(
        words.contains("AssumeRole denied") && words.contains("do not allow sts:AssumeRole"),
        "{words}"
    );
    all_ok_except(&v, &s, &broken);
}

#[test]
fn target_trust_naming_another_role_fails_that_env_at_assume_role() {
    let s = Setup::new(3);
    let broken = s.f.envs[2].name.clone();
    rt().block_on(async {
        let t = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{}:role/someone-else", s.f.iot_account)},"Action":"sts:AssumeRole"}]});
        s.env_sdk(2).await.iam.update_assume_role_policy().role_name(s.f.target_role(&s.f.envs[2])).policy_document(t.to_string()).send().await.unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &broken);
    assert_eq!(hop, "assume_role");
    assert!(
        words.contains(&format!("does not name {}", s.f.iot_role_arn())),
        "{words}"
    );
    all_ok_except(&v, &s, &broken);
    // plain words in the human output too
    let o = s.verify_human();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("✗ assume-role: AssumeRole denied"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn target_policy_without_the_function_fails_that_env_at_invoke() {
    let s = Setup::new(2);
    let e = s.f.envs[0].clone();
    rt().block_on(async {
        let only = format!("arn:aws:lambda:{}:{}:function:{}", s.f.region, e.account, e.functions[0]);
        let p = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":only}]});
        s.env_sdk(0).await.iam.put_role_policy().role_name(s.f.target_role(&e)).policy_name("xacct-invoke-functions").policy_document(p.to_string()).send().await.unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &e.name);
    assert_eq!(hop, "invoke");
    assert!(
        words.contains(&e.functions[1]) && words.contains("denied"),
        "{words}"
    );
    all_ok_except(&v, &s, &e.name);
}

#[test]
fn deleted_function_fails_that_env_at_invoke() {
    let s = Setup::new(2);
    let e = s.f.envs[1].clone();
    rt().block_on(async {
        s.env_sdk(1)
            .await
            .lambda
            .delete_function()
            .function_name(&e.functions[0])
            .send()
            .await
            .unwrap();
    });
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &e.name);
    assert_eq!(hop, "invoke");
    assert!(words.contains("does not exist"), "{words}");
    all_ok_except(&v, &s, &e.name);
}

#[test]
fn ephemeral_certificate_is_removed_after_a_failure_and_after_sigint() {
    let s = Setup::new(1);
    rt().block_on(async {
        s.iot()
            .await
            .iot
            .delete_role_alias()
            .role_alias(s.f.alias())
            .send()
            .await
            .unwrap();
    });
    let (code, _) = s.verify(&["--ephemeral"]);
    assert_eq!(code, 1);
    let count = || {
        rt().block_on(async {
            s.iot()
                .await
                .iot
                .list_certificates()
                .send()
                .await
                .unwrap()
                .certificates()
                .len()
        })
    };
    assert_eq!(count(), 1, "only the registered certificate may remain");

    // a policy that never allows: the ephemeral run waits for its certificate to become usable; SIGINT
    rt().block_on(async {
        let doc = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":s.f.alias_arn()}]});
        s.iot().await.iot.create_policy_version().policy_name(s.f.policy()).policy_document(doc.to_string()).set_as_default(true).send().await.unwrap();
    });
    apply_alias(&s);
    let sb = sandbox();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xacct"));
    cmd.args(["verify", "-f", &file_arg(&s.file), "--ephemeral"])
        .env("AWS_ENDPOINT_URL", &sb.gateway)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("XACCT_CREDENTIALS_ENDPOINT", &sb.endpoint)
        .env("XACCT_CA_BUNDLE", &sb.ca_bundle)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // wait until the ephemeral certificate exists, then interrupt
    let t = std::time::Instant::now();
    while count() < 2 && t.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        count(),
        2,
        "the ephemeral certificate should exist while verify waits"
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("removed"), "{}", stderr(&o));
    assert_eq!(
        count(),
        1,
        "the ephemeral certificate must be gone after SIGINT"
    );
}

/// Re-create the alias that the first half of the ephemeral test deleted.
fn apply_alias(s: &Setup) {
    let o = sandbox().xacct(&["apply", "-f", &file_arg(&s.file), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn creds_prints_credential_process_json_and_verify_never_prints_secrets() {
    let s = Setup::new(1);
    // creds' own output holds secrets by design (the scan below leaves it out)
    let o = xacct_env(
        &sandbox().gateway,
        &[
            "creds",
            "-f",
            &file_arg(&s.file),
            "--env",
            &s.f.envs[0].name,
            "--cert",
            &file_arg(&s.cert),
            "--key",
            &file_arg(&s.key),
        ],
        None,
        &sandbox().env(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["Version"], 1);
    for k in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(
            v[k].as_str().is_some_and(|x| !x.is_empty()),
            "{k} missing: {v}"
        );
    }
    let secret = v["SecretAccessKey"].as_str().unwrap().to_string();
    let token = v["SessionToken"].as_str().unwrap().to_string();
    // verify (success and failure) prints neither keys nor tokens nor the private key
    let (_, ok) = s.verify(&[]);
    assert_eq!(ok["ok"], true);
    let _ = sandbox().xacct(&[
        "verify",
        "-f",
        &file_arg(&s.file),
        "--cert",
        &file_arg(&s.cert),
        "--key",
        &file_arg(&s.key),
    ]);
    let _ = s.verify(&["--ephemeral"]);
    let key = std::fs::read_to_string(&s.key).unwrap();
    let key_body: String = key.lines().nth(1).unwrap().to_string();
    for out in OUTPUTS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        assert!(
            !out.contains(&secret) && !out.contains(&token),
            "a secret was printed:\n{out}"
        );
        assert!(
            !out.contains("PRIVATE KEY") && !out.contains(&key_body),
            "a private key was printed:\n{out}"
        );
        assert!(
            !out.contains("FQoGZXIvYXdzE"),
            "a session token was printed:\n{out}"
        );
        assert!(
            !out.to_lowercase().contains("secretaccesskey")
                && !out.to_lowercase().contains("sessiontoken"),
            "{out}"
        );
    }
}

#[test]
fn thing_name_must_be_attached_to_the_certificate() {
    let s = Setup::new(1);
    let thing = name("thing");
    rt().block_on(async {
        s.iot()
            .await
            .iot
            .create_thing()
            .thing_name(&thing)
            .send()
            .await
            .unwrap();
    });
    let (code, v) = s.verify(&["--thing-name", &thing]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &s.f.envs[0].name);
    assert_eq!(hop, "credentials");
    assert!(words.contains("403"), "{words}");
    rt().block_on(async {
        s.iot()
            .await
            .iot
            .attach_thing_principal()
            .thing_name(&thing)
            .principal(&s.cert_arn)
            .send()
            .await
            .unwrap();
    });
    let (code, v) = s.verify(&["--thing-name", &thing]);
    assert_eq!(code, 0, "{v:#}");
}

#[test]
fn ephemeral_run_removes_what_a_hard_killed_run_left() {
    let s = Setup::new(1);
    // what a run killed with SIGKILL leaves: the marker thing, a certificate attached to it and to the policy
    let leftover = rt().block_on(async {
        let iot = s.iot().await;
        let marker = name("xacct-verify-");
        iot.iot
            .create_thing()
            .thing_name(&marker)
            .attribute_payload(
                aws_sdk_iot::types::AttributePayload::builder()
                    .attributes("xacct_ephemeral", &s.f.fleet)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let c = iot
            .iot
            .create_keys_and_certificate()
            .set_as_active(true)
            .send()
            .await
            .unwrap();
        let arn = c.certificate_arn().unwrap().to_string();
        iot.iot
            .attach_thing_principal()
            .thing_name(&marker)
            .principal(&arn)
            .send()
            .await
            .unwrap();
        iot.iot
            .attach_policy()
            .policy_name(s.f.policy())
            .target(&arn)
            .send()
            .await
            .unwrap();
        c.certificate_id().unwrap().to_string()
    });
    let (code, v) = s.verify(&["--ephemeral"]);
    assert_eq!(code, 0, "{v:#}");
    rt().block_on(async {
        let iot = s.iot().await;
        let certs = iot.iot.list_certificates().send().await.unwrap();
        let ids: Vec<&str> = certs
            .certificates()
            .iter()
            .filter_map(|c| c.certificate_id())
            .collect();
        assert_eq!(
            ids,
            vec![s.cert_id.as_str()],
            "the leftover {leftover} must be gone"
        );
        assert!(iot
            .iot
            .list_things()
            .send()
            .await
            .unwrap()
            .things()
            .is_empty());
    });
}

/// Right after an apply AWS can refuse a new trust for a few seconds: verify retries the denial while
/// the documents prove the call should work (up to --settle), and not at all when it is not allowed.
#[test]
fn a_denial_the_documents_do_not_explain_is_retried_until_it_settles() {
    let s = Setup::new(1);
    let e = s.f.envs[0].clone();
    let target = s.f.target_role_arn(&e);
    let inj = crate::common::injector::Injector::start(
        &sandbox().gateway,
        crate::common::injector::Config {
            deny_assume: Some((target.clone(), 2)),
            ..Default::default()
        },
    );
    let file = file_arg(&s.file);
    let (cert, key) = (file_arg(&s.cert), file_arg(&s.key));
    let args = [
        "verify", "-f", &file, "--cert", &cert, "--key", &key, "--json",
    ];
    let o = xacct_env(&inj.url, &args, None, &sandbox().env());
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        inj.counters
            .denied_assume
            .load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the first two AssumeRoles were denied and retried"
    );
    // without settling time the same denial is final
    inj.set(|c| c.deny_assume = Some((target.clone(), 3)));
    let mut no_settle = args.to_vec();
    no_settle.extend(["--settle", "0"]);
    let o = xacct_env(&inj.url, &no_settle, None, &sandbox().env());
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(failed(&v, &e.name).0, "assume_role");
}

#[test]
fn a_denial_the_documents_explain_is_reported_at_once() {
    let s = Setup::new(1);
    rt().block_on(async {
        let t = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{}:role/someone-else", s.f.iot_account)},"Action":"sts:AssumeRole"}]});
        s.env_sdk(0).await.iam.update_assume_role_policy().role_name(s.f.target_role(&s.f.envs[0])).policy_document(t.to_string()).send().await.unwrap();
    });
    let start = std::time::Instant::now();
    let (code, v) = s.verify(&["--settle", "600"]);
    assert_eq!(code, 1);
    assert_eq!(failed(&v, &s.f.envs[0].name).0, "assume_role");
    // with 600 s of settling allowed, a retried denial could not have finished this soon
    assert!(
        start.elapsed() < std::time::Duration::from_secs(120),
        "a denial the trust policy explains must not be retried"
    );
}

#[test]
fn an_ephemeral_certificate_is_removed_when_its_setup_fails() {
    // the fleet is not applied: its IoT policy does not exist, so attaching it fails after the
    // certificate was created
    let f = Fleet::new(1);
    let file = f.write();
    let o = sandbox().xacct(&["verify", "-f", &file_arg(&file), "--ephemeral"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("iot:AttachPolicy"), "{}", stderr(&o));
    rt().block_on(async {
        let iot = sdk_at(&sandbox().gateway, &f.iot_account, &f.region).await;
        let certs = iot.iot.list_certificates().send().await.unwrap();
        assert!(
            certs.certificates().is_empty(),
            "the certificate must be gone"
        );
        let things = iot.iot.list_things().send().await.unwrap();
        assert!(things.things().is_empty(), "the marker thing must be gone");
    });
}

#[test]
fn the_gateway_enforces_a_permissions_boundary_at_invoke() {
    let s = Setup::new(2);
    let e = s.f.envs[0].clone();
    rt().block_on(async {
        set_narrow_boundary(&s.env_sdk(0).await, &s.f.target_role(&e)).await;
    });
    let (code, v) = s.verify(&["--settle", "0"]);
    assert_eq!(code, 1);
    let (hop, words) = failed(&v, &e.name);
    assert_eq!(hop, "invoke");
    assert!(words.contains("permissions boundary"), "{words}");
    all_ok_except(&v, &s, &e.name);
}

/// AWS names a certificate by the SHA-256 of its DER; moto by a hash of its PEM text unless told
/// otherwise. The sandbox's moto (and the tests', started the same way) must use AWS's ids, or the
/// credentials endpoint cannot find a certificate by its id, and verify's session names differ.
#[test]
fn certificate_ids_in_the_sandbox_are_the_sha256_of_the_der() {
    use rustls_pki_types::pem::PemObject;
    use sha2::Digest;
    let s = Setup::new(1);
    let pem = std::fs::read(&s.cert).unwrap();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
    let digest: String = sha2::Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(s.cert_id, digest);
    // and on the test binary's own moto too
    let id = rt().block_on(async {
        let f = Fleet::new(1);
        let c = sdk(&f.iot_account, &f.region).await;
        let r = c
            .iot
            .register_certificate_without_ca()
            .certificate_pem(String::from_utf8(pem.clone()).unwrap())
            .send()
            .await
            .unwrap();
        r.certificate_id().unwrap().to_string()
    });
    assert_eq!(id, digest);
}

/// verify names the layer: an SCP at the OU of the IoT account that denies sts:AssumeRole into one
/// environment's account fails that environment at assume_role in the sandbox, which answers as AWS
/// does within one organization ("with an explicit deny in a service control policy: ARN"); verify
/// quotes the layer and the policy's ARN (`denied_by`, and the first cause) and adds the static
/// proof's words naming the SCP and the OU; check says the same of the documents; the other
/// environment passes both.
#[test]
fn an_scp_denying_assume_role_is_quoted_by_verify_and_named_by_check() {
    use aws_sdk_organizations::types::PolicyType;
    let sb = sandbox();
    let mut f = Fleet::new(2);
    let management = account();
    let (ou, pid, org_id) = rt().block_on(async {
        let org = new_organization(&sb.gateway, &management, &f.region).await;
        let (o, org_id) = (&org.o, org.id.clone());
        f.iot_account = member_account(o, "iot").await;
        f.envs[0].account = member_account(o, "prd").await;
        f.envs[1].account = member_account(o, "stg").await;
        let ou = ou_holding(&org, "devices", &f.iot_account).await;
        let prd = format!("arn:aws:iam::{}:role/*", f.envs[0].account);
        let pid = attached_policy(o, "no-prd", PolicyType::ServiceControlPolicy,
            json!({"Version":"2012-10-17","Statement":[{"Sid":"NoPrd","Effect":"Deny","Action":"sts:AssumeRole","Resource":prd}]}), &ou).await;
        (ou, pid, org_id)
    });
    let s = Setup::with(f);
    with_organization(&s.file, &management);
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1, "{v}");
    let prd = &s.f.envs[0].name;
    let h = report_hop(&v, prd, "assume_role");
    assert_eq!(h["ok"], false, "{h}");
    assert_eq!(h["denied_by"]["layer"], "scp", "{h}");
    assert_eq!(h["denied_by"]["explicit"], true, "{h}");
    assert_eq!(
        h["denied_by"]["policy_arn"],
        format!("arn:aws:organizations::{management}:policy/{org_id}/service_control_policy/{pid}"),
        "{h}"
    );
    let causes = h["cause"].as_array().unwrap();
    assert!(
        causes[0]
            .as_str()
            .unwrap()
            .starts_with("AWS says: an explicit deny in a service control policy"),
        "{h}"
    );
    assert!(
        causes.iter().any(|c| c
            .as_str()
            .unwrap()
            .contains(&format!("SCP no-prd ({pid} on {ou}) denies sts:AssumeRole"))),
        "{h}"
    );
    assert_eq!(report_env(&v, &s.f.envs[1].name)["ok"], true, "{v}");
    // check says the same from the documents alone
    let o = sb.xacct(&["check", "-f", &file_arg(&s.file), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = report_hop(&c, prd, "assume_role");
    assert_eq!(h["organization"][0]["layer"], "scp", "{h}");
    assert_eq!(h["organization"][0]["target"], ou.as_str(), "{h}");
    assert_eq!(report_env(&c, &s.f.envs[1].name)["ok"], true, "{c}");
}

/// An SCP allow-list: at one environment's account FullAWSAccess is replaced by a policy allowing
/// only sts:* and iot:*, so no SCP at that level allows lambda:InvokeFunction for the target role's
/// session there (an implicit deny at one level). check fails that environment's invoke hop naming
/// the level and the policy; verify fails it with AWS's words ("because no service control policy
/// allows the lambda:InvokeFunction action", quoted as `denied_by` scp, not explicit); the other
/// environment, whose account keeps FullAWSAccess, passes both.
#[test]
fn an_scp_allow_list_without_invoke_is_an_implicit_deny_at_its_level() {
    use aws_sdk_organizations::types::PolicyType;
    let sb = sandbox();
    let mut f = Fleet::new(2);
    let management = account();
    let pid = rt().block_on(async {
        let org = new_organization(&sb.gateway, &management, &f.region).await;
        let o = &org.o;
        f.iot_account = member_account(o, "iot").await;
        f.envs[0].account = member_account(o, "prd").await;
        f.envs[1].account = member_account(o, "stg").await;
        let pid = attached_policy(o, "sts-and-iot-only", PolicyType::ServiceControlPolicy,
            json!({"Version":"2012-10-17","Statement":[{"Sid":"Only","Effect":"Allow","Action":["sts:*","iot:*"],"Resource":"*"}]}), &f.envs[0].account).await;
        o.detach_policy()
            .policy_id("p-FullAWSAccess")
            .target_id(&f.envs[0].account)
            .send()
            .await
            .unwrap();
        pid
    });
    let s = Setup::with(f);
    with_organization(&s.file, &management);
    let prd = &s.f.envs[0].name;
    let o = sb.xacct(&["check", "-f", &file_arg(&s.file), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = report_hop(&c, prd, "invoke");
    assert_eq!(h["ok"], false, "{h}");
    assert_eq!(h["organization"][0]["layer"], "scp", "{h}");
    assert_eq!(h["organization"][0]["level"], 1, "{h}");
    assert!(
        h["detail"].to_string().contains(&format!(
            "no SCP at level 1 allows lambda:InvokeFunction (sts-and-iot-only ({pid} on {})",
            s.f.envs[0].account
        )),
        "{h}"
    );
    assert_eq!(report_hop(&c, prd, "assume_role")["ok"], true, "{c}");
    assert_eq!(report_env(&c, &s.f.envs[1].name)["ok"], true, "{c}");
    let (code, v) = s.verify(&[]);
    assert_eq!(code, 1, "{v}");
    let h = report_hop(&v, prd, "invoke");
    assert_eq!(h["ok"], false, "{h}");
    assert!(
        h["detail"]
            .to_string()
            .contains("because no service control policy allows the lambda:InvokeFunction action"),
        "{h}"
    );
    assert_eq!(
        h["denied_by"],
        json!({"layer": "scp", "explicit": false}),
        "{h}"
    );
    assert_eq!(report_env(&v, &s.f.envs[1].name)["ok"], true, "{v}");
}
