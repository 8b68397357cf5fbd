//! The device side in the sandbox: environments gated on a thing group or a thing type (enforced by
//! AWS — here by the credentials endpoint emulator and the gateway), the one-hop direct mode with
//! xacct's statement in the function policy, device-config read by the AWS SDK for Python through
//! `credential_process`, and session names carrying the certificate id. Random names and ids.

use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A registered device: certificate, key, and its thing attached to the certificate.
struct Device {
    id: String,
    cert: PathBuf,
    key: PathBuf,
    thing: String,
}

async fn device(f: &Fleet, thing_type: Option<&str>) -> Device {
    let s = sdk_at(&sandbox().gateway, &f.iot_account, &f.region).await;
    let c = s
        .iot
        .create_keys_and_certificate()
        .set_as_active(true)
        .send()
        .await
        .unwrap();
    let id = c.certificate_id().unwrap().to_string();
    let thing = name("thing-");
    if let Some(t) = thing_type {
        let _ = s.iot.create_thing_type().thing_type_name(t).send().await;
    }
    s.iot
        .create_thing()
        .thing_name(&thing)
        .set_thing_type_name(thing_type.map(String::from))
        .send()
        .await
        .unwrap();
    s.iot
        .attach_thing_principal()
        .thing_name(&thing)
        .principal(c.certificate_arn().unwrap())
        .send()
        .await
        .unwrap();
    let cert = f.dir.join(format!("{thing}.pem.crt"));
    let key = f.dir.join(format!("{thing}.private.key"));
    std::fs::write(&cert, c.certificate_pem().unwrap()).unwrap();
    std::fs::write(&key, c.key_pair().unwrap().private_key().unwrap()).unwrap();
    Device {
        id,
        cert,
        key,
        thing,
    }
}

async fn add_to_group(f: &Fleet, group: &str, thing: &str) {
    let s = sdk_at(&sandbox().gateway, &f.iot_account, &f.region).await;
    let _ = s
        .iot
        .create_thing_group()
        .thing_group_name(group)
        .send()
        .await;
    s.iot
        .add_thing_to_thing_group()
        .thing_group_name(group)
        .thing_name(thing)
        .send()
        .await
        .unwrap();
}

/// The fleet file with `line` added to environment `env`'s mapping.
fn with_env_line(yaml: &str, env: &str, line: &str) -> String {
    let head = format!("  {env}:\n");
    let i = yaml.find(&head).expect("env in file") + head.len();
    format!("{}    {line}\n{}", &yaml[..i], &yaml[i..])
}

fn write(f: &Fleet, yaml: &str) -> PathBuf {
    let p = f.dir.join("fleet.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

fn run(args: &[&str]) -> std::process::Output {
    sandbox().xacct(args)
}

fn apply(file: &Path) {
    let f = file_arg(file);
    let o = run(&["apply", "-f", &f, "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let o = run(&["plan", "-f", &f, "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

fn verify(file: &Path, d: &Device) -> Value {
    let o = run(&[
        "verify",
        "-f",
        &file_arg(file),
        "--cert",
        &file_arg(&d.cert),
        "--key",
        &file_arg(&d.key),
        "--thing-name",
        &d.thing,
        "--json",
    ]);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("verify --json: {}{}", stdout(&o), stderr(&o)))
}

/// Two environments; the first gated on a thing group. Two devices: one in the group, one not.
struct Gated {
    f: Fleet,
    file: PathBuf,
    group: String,
    inside: Device,
    outside: Device,
}

fn gated() -> Gated {
    let mut f = Fleet::new(2);
    let group = name("gw-");
    let (inside, outside) = rt().block_on(async {
        create_functions_at(&sandbox().gateway, &f).await;
        let inside = device(&f, None).await;
        let outside = device(&f, None).await;
        add_to_group(&f, &group, &inside.thing).await;
        (inside, outside)
    });
    f.certificates = vec![inside.id.clone(), outside.id.clone()];
    let yaml = with_env_line(
        &f.yaml(),
        &f.envs[0].name,
        &format!("devices: {{ thing_group: {group} }}"),
    );
    let file = write(&f, &yaml);
    apply(&file);
    Gated {
        f,
        file,
        group,
        inside,
        outside,
    }
}

#[test]
fn a_gated_environment_admits_only_the_devices_of_its_thing_group() {
    let g = gated();
    let (prd, dev) = (&g.f.envs[0].name, &g.f.envs[1].name);
    // the device in the group reaches both environments
    let v = verify(&g.file, &g.inside);
    assert_eq!(v["ok"], true, "{v}");
    // the device outside is refused at the credentials hop of the gated environment only
    let v = verify(&g.file, &g.outside);
    let h = report_hop(&v, prd, "credentials");
    assert_eq!(h["ok"], false, "{h}");
    assert!(h["detail"].as_str().unwrap().contains("403"), "{h}");
    assert!(
        h["detail"].as_str().unwrap().contains(&format!(
            "admits only the devices of thing group {}",
            g.group
        )),
        "{h}"
    );
    assert_eq!(report_env(&v, dev)["ok"], true, "{v}");
    // check says which group gates which environment
    let o = run(&["check", "-f", &file_arg(&g.file), "--json"]);
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report_env(&c, prd)["devices"],
        format!("thing group {}", g.group)
    );
    assert!(report_env(&c, dev).get("devices").is_none(), "{c}");
    assert_eq!(c["ok"], true, "{c}");
    let o = run(&["check", "-f", &file_arg(&g.file)]);
    assert!(
        stdout(&o).contains(&format!(
            "{prd}: only the devices of thing group {}",
            g.group
        )),
        "{}",
        stdout(&o)
    );
    // each environment has its own alias, IoT role and policy; the gated one's policy is on the group
    rt().block_on(async {
        let s = sdk_at(&sandbox().gateway, &g.f.iot_account, &g.f.region).await;
        for e in &g.f.envs {
            let a = s
                .iot
                .describe_role_alias()
                .role_alias(format!("{}-{}", g.f.fleet, e.name))
                .send()
                .await
                .unwrap();
            assert!(a
                .role_alias_description()
                .unwrap()
                .role_arn()
                .unwrap()
                .ends_with(&format!("role/{}-{}-device", g.f.fleet, e.name)));
        }
        let targets = s
            .iot
            .list_targets_for_policy()
            .policy_name(format!("{}-{prd}-credentials", g.f.fleet))
            .send()
            .await
            .unwrap();
        assert_eq!(targets.targets().len(), 1);
        assert!(targets.targets()[0].ends_with(&format!("thinggroup/{}", g.group)));
        // the gated environment's IoT role may assume only its own target role
        let p = s
            .iam
            .get_role_policy()
            .role_name(format!("{}-{prd}-device", g.f.fleet))
            .policy_name("xacct-assume-targets")
            .send()
            .await
            .unwrap();
        let d = doc(p.policy_document());
        assert_eq!(
            d["Statement"][0]["Resource"],
            g.f.target_role_arn(&g.f.envs[0])
        );
        // removing the thing from the group removes its access, with no apply
        s.iot
            .remove_thing_from_thing_group()
            .thing_group_name(&g.group)
            .thing_name(&g.inside.thing)
            .send()
            .await
            .unwrap();
    });
    let v = verify(&g.file, &g.inside);
    assert_eq!(report_hop(&v, prd, "credentials")["ok"], false, "{v}");
    assert_eq!(report_env(&v, dev)["ok"], true, "{v}");
}

#[test]
fn a_child_group_counts_and_a_thing_type_gate_is_a_condition_on_the_iot_role() {
    let mut f = Fleet::new(2);
    let parent = name("fleet-");
    let child = name("site-");
    let ty = name("Gateway");
    let (inside, wrong_type) = rt().block_on(async {
        create_functions_at(&sandbox().gateway, &f).await;
        let s = sdk_at(&sandbox().gateway, &f.iot_account, &f.region).await;
        s.iot
            .create_thing_group()
            .thing_group_name(&parent)
            .send()
            .await
            .unwrap();
        s.iot
            .create_thing_group()
            .thing_group_name(&child)
            .parent_group_name(&parent)
            .send()
            .await
            .unwrap();
        let inside = device(&f, Some(&ty)).await;
        add_to_group(&f, &child, &inside.thing).await;
        let other = device(&f, Some(&name("Sensor"))).await;
        add_to_group(&f, &child, &other.thing).await;
        (inside, other)
    });
    f.certificates = vec![inside.id.clone(), wrong_type.id.clone()];
    let (a, b) = (f.envs[0].name.clone(), f.envs[1].name.clone());
    let yaml = with_env_line(
        &f.yaml(),
        &a,
        &format!("devices: {{ thing_group: {parent} }}"),
    );
    let yaml = with_env_line(&yaml, &b, &format!("devices: {{ thing_type: {ty} }}"));
    let file = write(&f, &yaml);
    apply(&file);
    // the thing of the child group reaches the environment gated on the parent group; the type gate
    // admits the right type only, refused where the IoT role's policy is evaluated (AssumeRole)
    let v = verify(&file, &inside);
    assert_eq!(v["ok"], true, "{v}");
    let v = verify(&file, &wrong_type);
    assert_eq!(report_env(&v, &a)["ok"], true, "{v}");
    assert_eq!(report_hop(&v, &b, "credentials")["ok"], true, "{v}");
    assert_eq!(report_hop(&v, &b, "assume_role")["ok"], false, "{v}");
    rt().block_on(async {
        let s = sdk_at(&sandbox().gateway, &f.iot_account, &f.region).await;
        let p = s
            .iam
            .get_role_policy()
            .role_name(format!("{}-{b}-device", f.fleet))
            .policy_name("xacct-assume-targets")
            .send()
            .await
            .unwrap();
        let d = doc(p.policy_document());
        assert_eq!(
            d["Statement"][0]["Condition"]["StringEquals"]["credentials-iot:ThingTypeName"],
            ty.as_str()
        );
    });
}

#[test]
fn moving_to_per_environment_aliases_and_back_creates_before_it_deletes() {
    let mut f = Fleet::new(2);
    let group = name("gw-");
    let d = rt().block_on(async {
        create_functions_at(&sandbox().gateway, &f).await;
        let d = device(&f, None).await;
        add_to_group(&f, &group, &d.thing).await;
        d
    });
    f.certificates = vec![d.id.clone()];
    let ungated = f.yaml();
    let file = write(&f, &ungated);
    apply(&file);
    assert_eq!(verify(&file, &d)["ok"], true);
    // gate the first environment: the new layout is created, the shared one deleted
    let gated = with_env_line(
        &ungated,
        &f.envs[0].name,
        &format!("devices: {{ thing_group: {group} }}"),
    );
    let file = write(&f, &gated);
    let o = run(&["plan", "-f", &file_arg(&file), "--json"]);
    let p: Value = serde_json::from_slice(&o.stdout).unwrap();
    let acts: Vec<(String, String, String)> = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().into(),
                c["name"].as_str().unwrap().into(),
                c["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    let shared_alias = format!("{}-device", f.fleet);
    assert!(
        acts.contains(&(
            "iot_role_alias".into(),
            shared_alias.clone(),
            "delete".into()
        )),
        "{acts:?}"
    );
    for e in &f.envs {
        assert!(
            acts.contains(&(
                "iot_role_alias".into(),
                format!("{}-{}", f.fleet, e.name),
                "create".into()
            )),
            "{acts:?}"
        );
    }
    // every delete comes after every create
    let first_delete = acts.iter().position(|a| a.2 == "delete").unwrap();
    assert!(
        acts[first_delete..].iter().all(|a| a.2 == "delete"),
        "{acts:?}"
    );
    apply(&file);
    assert_eq!(verify(&file, &d)["ok"], true);
    // and back
    let file = write(&f, &ungated);
    apply(&file);
    assert_eq!(verify(&file, &d)["ok"], true);
    rt().block_on(async {
        let s = sdk_at(&sandbox().gateway, &f.iot_account, &f.region).await;
        for e in &f.envs {
            assert!(s
                .iot
                .describe_role_alias()
                .role_alias(format!("{}-{}", f.fleet, e.name))
                .send()
                .await
                .is_err());
        }
        assert!(s
            .iot
            .describe_role_alias()
            .role_alias(&shared_alias)
            .send()
            .await
            .is_ok());
    });
}

/// A fleet whose second environment is in direct mode, its function's policy holding an unrelated
/// statement before xacct ever runs.
struct Direct {
    f: Fleet,
    file: PathBuf,
    d: Device,
    function: String,
    sid: String,
}

fn direct() -> Direct {
    let mut f = Fleet::new(2);
    let d = rt().block_on(async {
        create_functions_at(&sandbox().gateway, &f).await;
        let s = sdk_at(&sandbox().gateway, &f.envs[1].account, &f.region).await;
        s.lambda
            .add_permission()
            .function_name(&f.envs[1].functions[0])
            .statement_id("events")
            .action("lambda:InvokeFunction")
            .principal("events.amazonaws.com")
            .send()
            .await
            .unwrap();
        device(&f, None).await
    });
    f.certificates = vec![d.id.clone()];
    let yaml = with_env_line(&f.yaml(), &f.envs[1].name, "mode: direct");
    let file = write(&f, &yaml);
    apply(&file);
    let function = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        f.region, f.envs[1].account, f.envs[1].functions[0]
    );
    let sid = format!("xacct-{}", f.fleet);
    Direct {
        f,
        file,
        d,
        function,
        sid,
    }
}

async fn function_policy(x: &Direct) -> Option<Value> {
    let s = sdk_at(&sandbox().gateway, &x.f.envs[1].account, &x.f.region).await;
    s.lambda
        .get_policy()
        .function_name(&x.function)
        .send()
        .await
        .ok()
        .and_then(|p| p.policy().map(|t| serde_json::from_str(t).unwrap()))
}

fn sids(p: &Value) -> Vec<String> {
    let mut v: Vec<String> = p["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn direct_mode_writes_one_statement_verifies_in_two_hops_and_leaves_the_rest_alone() {
    let x = direct();
    let (a, b) = (&x.f.envs[0].name, &x.f.envs[1].name);
    rt().block_on(async {
        let p = function_policy(&x).await.unwrap();
        let mut want = vec!["events".to_string(), x.sid.clone()];
        want.sort();
        assert_eq!(sids(&p), want, "{p}");
        let st = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == x.sid.as_str())
            .unwrap()
            .clone();
        let principal = match &st["Principal"] {
            Value::String(s) => s.clone(),
            o => o["AWS"].as_str().unwrap().to_string(),
        };
        // the exact IoT role, never the account
        assert_eq!(principal, x.f.iot_role_arn());
        // no target role for the direct environment
        let s = sdk_at(&sandbox().gateway, &x.f.envs[1].account, &x.f.region).await;
        assert!(s
            .iam
            .get_role()
            .role_name(x.f.target_role(&x.f.envs[1]))
            .send()
            .await
            .is_err());
    });
    let v = verify(&x.file, &x.d);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(report_hop_names(&v, b), ["credentials", "invoke"]);
    assert_eq!(
        report_hop_names(&v, a),
        ["credentials", "assume_role", "invoke"]
    );
    // edited out of band: drift
    rt().block_on(async {
        let s = sdk_at(&sandbox().gateway, &x.f.envs[1].account, &x.f.region).await;
        s.lambda
            .remove_permission()
            .function_name(&x.function)
            .statement_id(&x.sid)
            .send()
            .await
            .unwrap();
        s.lambda
            .add_permission()
            .function_name(&x.function)
            .statement_id(&x.sid)
            .action("lambda:InvokeFunction")
            .principal(x.f.iot_account.clone())
            .send()
            .await
            .unwrap();
    });
    let o = run(&["plan", "-f", &file_arg(&x.file), "--json"]);
    let p: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ch = &p["changes"].as_array().unwrap()[0];
    assert_eq!(ch["kind"], "lambda_permission", "{p}");
    assert_eq!(ch["action"], "update", "{p}");
    apply(&x.file);
    // removed out of band: verify fails at invoke with words naming the function policy
    rt().block_on(async {
        let s = sdk_at(&sandbox().gateway, &x.f.envs[1].account, &x.f.region).await;
        s.lambda
            .remove_permission()
            .function_name(&x.function)
            .statement_id(&x.sid)
            .send()
            .await
            .unwrap();
    });
    let v = verify(&x.file, &x.d);
    let h = report_hop(&v, b, "invoke");
    assert_eq!(h["ok"], false, "{h}");
    let words = h["cause"].to_string();
    assert!(words.contains("function policy"), "{h}");
    assert!(words.contains(&x.sid), "{h}");
    assert_eq!(report_env(&v, a)["ok"], true);
    // destroy removes xacct's statement only
    apply(&x.file);
    let o = run(&["destroy", "-f", &file_arg(&x.file), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    rt().block_on(async {
        let p = function_policy(&x).await.unwrap();
        assert_eq!(sids(&p), ["events"], "{p}");
    });
}

#[test]
fn the_sandbox_refuses_a_log_tail_across_accounts() {
    let x = direct();
    // the direct environment's credentials are the IoT role's: invoke with LogType=Tail across
    // accounts is refused as Lambda refuses it
    let o = run(&[
        "creds",
        "-f",
        &file_arg(&x.file),
        "--env",
        &x.f.envs[1].name,
        "--cert",
        &file_arg(&x.d.cert),
        "--key",
        &file_arg(&x.d.key),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (tail, plain) = rt().block_on(async {
        use aws_config::{BehaviorVersion, Region};
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(x.f.region.clone()))
            .endpoint_url(&sandbox().gateway)
            .credentials_provider(aws_credential_types::Credentials::new(
                c["AccessKeyId"].as_str().unwrap(),
                c["SecretAccessKey"].as_str().unwrap(),
                Some(c["SessionToken"].as_str().unwrap().to_string()),
                None,
                "device",
            ))
            .load()
            .await;
        let l = aws_sdk_lambda::Client::new(&conf);
        let tail = l
            .invoke()
            .function_name(&x.function)
            .log_type(aws_sdk_lambda::types::LogType::Tail)
            .send()
            .await;
        let plain = l
            .invoke()
            .function_name(&x.function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::DryRun)
            .send()
            .await;
        (tail.is_err(), plain.is_ok())
    });
    assert!(tail, "LogType=Tail across accounts must be refused");
    assert!(plain, "the same credentials invoke without it");
}

#[test]
fn device_config_files_drive_the_aws_sdk_for_python_with_no_aws_credentials() {
    let g = gated();
    let sb = sandbox();
    let out = g.f.dir.join("device");
    let o = run(&[
        "device-config",
        "-f",
        &file_arg(&g.file),
        "--cert",
        &file_arg(&g.inside.cert),
        "--key",
        &file_arg(&g.inside.key),
        "--thing-name",
        &g.inside.thing,
        "--out",
        &file_arg(&out),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let config = std::fs::read_to_string(out.join("config")).unwrap();
    let fleet = std::fs::read_to_string(out.join("fleet.yaml")).unwrap();
    // no secret in either file
    let key = std::fs::read_to_string(&g.inside.key).unwrap();
    let key_body: String = key.lines().nth(1).unwrap().to_string();
    for text in [&config, &fleet] {
        assert!(!text.contains(&key_body) && !text.contains("PRIVATE KEY"));
        let lower = text.to_lowercase();
        assert!(
            !lower.contains("aws_secret_access_key")
                && !lower.contains("aws_session_token")
                && !lower.contains("aws_access_key_id")
                && !text.contains("testing"),
            "{text}"
        );
    }
    assert!(
        fleet.contains(&format!("credentials_endpoint: \"{}\"", sb.endpoint)),
        "{fleet}"
    );
    for e in &g.f.envs {
        assert!(
            config.contains(&format!("[profile {}]", e.name)),
            "{config}"
        );
    }
    // a device outside the group gets no profile for the gated environment
    let out2 = g.f.dir.join("device2");
    let o = run(&[
        "device-config",
        "-f",
        &file_arg(&g.file),
        "--cert",
        &file_arg(&g.outside.cert),
        "--key",
        &file_arg(&g.outside.key),
        "--thing-name",
        &g.outside.thing,
        "--out",
        &file_arg(&out2),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let config2 = std::fs::read_to_string(out2.join("config")).unwrap();
    assert!(
        !config2.contains(&format!("[profile {}]", g.f.envs[0].name)),
        "{config2}"
    );
    assert!(
        config2.contains(&format!("[profile {}]", g.f.envs[1].name)),
        "{config2}"
    );
    // boto3, with only these files and the certificate: invokes each environment of the config,
    // and the gated one through the outside device's credential_process is refused
    let xacct_dir = Path::new(env!("CARGO_BIN_EXE_xacct")).parent().unwrap();
    let script = r#"
import sys, json, boto3, botocore
config, profile, function = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    r = boto3.Session(profile_name=profile).client("lambda").invoke(FunctionName=function, InvocationType="DryRun")
    print(json.dumps({"status": r["StatusCode"]}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"#;
    let python = root().join(".venv/bin/python");
    let call = |config: &Path, profile: &str, function: &str| -> Value {
        let o = std::process::Command::new(&python)
            .args(["-c", script, &file_arg(config), profile, function])
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", xacct_dir.display()))
            .env("HOME", &g.f.dir)
            .env("AWS_CONFIG_FILE", config)
            .env("AWS_SHARED_CREDENTIALS_FILE", g.f.dir.join("none"))
            .env("AWS_ENDPOINT_URL", &sb.gateway)
            .env("XACCT_CA_BUNDLE", &sb.ca_bundle)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or_else(
            |_| json!({"error": "no output", "message": format!("{}{}", stdout(&o), stderr(&o))}),
        )
    };
    for e in &g.f.envs {
        let function = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            g.f.region, e.account, e.functions[0]
        );
        let r = call(&out.join("config"), &e.name, &function);
        assert_eq!(r["status"], 204, "{}: {r}", e.name);
    }
    // the outside device, pointed at the gated environment with its own files: refused
    let gated_profile = format!(
        "{config2}\n[profile {}]\nregion = {}\ncredential_process = xacct creds -f {} --env {} --cert {} --key {} --thing-name {}\n",
        g.f.envs[0].name,
        g.f.region,
        out2.join("fleet.yaml").display(),
        g.f.envs[0].name,
        g.outside.cert.display(),
        g.outside.key.display(),
        g.outside.thing
    );
    let forced = g.f.dir.join("forced-config");
    std::fs::write(&forced, gated_profile).unwrap();
    let function = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        g.f.region, g.f.envs[0].account, g.f.envs[0].functions[0]
    );
    let r = call(&forced, &g.f.envs[0].name, &function);
    assert!(r.get("error").is_some(), "{r}");
    assert!(r["message"].as_str().unwrap().contains("403"), "{r}");
}

#[test]
fn sessions_are_named_after_the_device_certificate() {
    let g = gated();
    let o = run(&[
        "creds",
        "-f",
        &file_arg(&g.file),
        "--env",
        &g.f.envs[0].name,
        "--cert",
        &file_arg(&g.inside.cert),
        "--key",
        &file_arg(&g.inside.key),
        "--thing-name",
        &g.inside.thing,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    let arn = rt().block_on(async {
        use aws_config::{BehaviorVersion, Region};
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(g.f.region.clone()))
            .endpoint_url(&sandbox().gateway)
            .credentials_provider(aws_credential_types::Credentials::new(
                c["AccessKeyId"].as_str().unwrap(),
                c["SecretAccessKey"].as_str().unwrap(),
                Some(c["SessionToken"].as_str().unwrap().to_string()),
                None,
                "device",
            ))
            .load()
            .await;
        aws_sdk_sts::Client::new(&conf)
            .get_caller_identity()
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string()
    });
    // the certificate id as AWS IoT defines it: the SHA-256 of the certificate's DER
    let id = xacct::verify::mtls::DeviceIdentity::from_files(&g.inside.cert, &g.inside.key)
        .unwrap()
        .certificate_id;
    assert_eq!(id.len(), 64);
    assert!(
        arn.ends_with(&format!(
            "assumed-role/{}/{id}",
            g.f.target_role(&g.f.envs[0])
        )),
        "{arn}"
    );
}

#[test]
fn the_credentials_endpoint_in_the_file_needs_no_aws_call() {
    let x = direct();
    // a direct environment's credentials are hop 1 alone: with the endpoint in the file, creds makes
    // no AWS call at all (the AWS endpoint is a tripwire)
    let yaml = std::fs::read_to_string(&x.file).unwrap().replace(
        "iot:\n",
        &format!("iot:\n  credentials_endpoint: \"{}\"\n", sandbox().endpoint),
    );
    let file = x.f.dir.join("with-endpoint.yaml");
    std::fs::write(&file, yaml).unwrap();
    let trip = Tripwire::new();
    let args = [
        "creds",
        "-f",
        &file_arg(&file),
        "--env",
        &x.f.envs[1].name,
        "--cert",
        &file_arg(&x.d.cert),
        "--key",
        &file_arg(&x.d.key),
    ];
    let o = xacct_env(
        &trip.url,
        &args,
        None,
        &[("XACCT_CA_BUNDLE", sandbox().ca_bundle.as_str())],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["Version"], 1);
    assert_eq!(trip.count(), 0, "no AWS request");
    // without it (and without --credentials-endpoint) creds asks DescribeEndpoint
    let mut args = args.to_vec();
    let f = file_arg(&x.file);
    args[2] = &f;
    let o = xacct_env(
        &trip.url,
        &args,
        None,
        &[("XACCT_CA_BUNDLE", sandbox().ca_bundle.as_str())],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(trip.count() > 0);
}

#[test]
fn a_device_chain_reads_s3_objects_too() {
    // an IoT file gains get_object the same way: the target role reads, and the gateway enforces
    // the bucket policy for the device's sessions
    let mut f = Fleet::new(1);
    let bucket = name("dev-reports-");
    let d = rt().block_on(async {
        create_functions_at(&sandbox().gateway, &f).await;
        let conf = admin_config(&sandbox().gateway, &f.envs[0].account, &f.region).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        let mut req = s3.create_bucket().bucket(&bucket);
        if f.region != "us-east-1" {
            req = req.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                        f.region.as_str(),
                    ))
                    .build(),
            );
        }
        req.send().await.unwrap();
        s3.put_object()
            .bucket(&bucket)
            .key("firmware/v1.bin")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"fw"))
            .send()
            .await
            .unwrap();
        device(&f, None).await
    });
    f.certificates = vec![d.id.clone()];
    let yaml = with_env_line(
        &f.yaml(),
        &f.envs[0].name,
        &format!("objects: [\"{bucket}/firmware/*\"]"),
    );
    let file = write(&f, &yaml);
    apply(&file);
    let e = &f.envs[0].name;
    let o = run(&["check", "-f", &file_arg(&file), "--json"]);
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report_hop_names(&c, e),
        ["credentials", "assume_role", "invoke", "get_object"]
    );
    assert_eq!(c["ok"], true, "{c}");
    let v = verify(&file, &d);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        report_hop_names(&v, e),
        ["credentials", "assume_role", "invoke", "get_object"]
    );
    // one name per hop in both reports, of the same format version
    assert_eq!(report_hop_names(&c, e), report_hop_names(&v, e));
    assert_eq!(c["format_version"], "2");
    assert_eq!(v["format_version"], "2");
    let parts: Vec<&str> = report_hop(&c, e, "credentials")["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["iot_policy", "role_alias", "iot_trust"]);
    // a bucket policy that denies the target role: refused at get_object, by the gateway too
    rt().block_on(async {
        let conf = admin_config(&sandbox().gateway, &f.envs[0].account, &f.region).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        s3.put_bucket_policy()
            .bucket(&bucket)
            .policy(json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":f.target_role_arn(&f.envs[0])},"Action":"s3:GetObject","Resource":format!("arn:aws:s3:::{bucket}/*")}]}).to_string())
            .send()
            .await
            .unwrap();
    });
    let v = verify(&file, &d);
    let h = report_hop(&v, e, "get_object");
    assert_eq!(h["ok"], false, "{h}");
    assert!(
        h["cause"].to_string().contains("denies s3:GetObject"),
        "{h}"
    );
}
