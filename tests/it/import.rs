//! `xacct import` in the sandbox: a chain built by hand, as people build it, is discovered, written
//! as an environment file that validates, judged (check's table and lint's findings), taken over
//! (`apply --adopt`) without breaking the workload it leans on, and released by `destroy`.

use crate::common::*;
use serde_json::{json, Value};

/// The typical hand-built device chain: an IoT role trusting the credentials provider with no
/// condition, a role alias, an IoT policy that also grants iot:Connect; in the target account the
/// function's own execution role (under /service-role/) reused as the target role, trusting the IoT
/// account's root beside Lambda, with AWSLambdaRole attached.
struct HandBuilt {
    region: String,
    iot: String,
    prd: String,
    alias: String,
    exec_arn: String,
    function: String,
    cert_id: String,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    dir: std::path::PathBuf,
}

/// The execution role as IAM has it: trust, inline and attached policies.
async fn role_state(s: &Sdk, name: &str) -> (Value, Vec<String>, Vec<String>) {
    let r = s.iam.get_role().role_name(name).send().await.unwrap();
    let trust = doc(r.role().unwrap().assume_role_policy_document().unwrap());
    let inline = s
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec();
    let attached = s
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(String::from))
        .collect();
    (trust, inline, attached)
}

fn build() -> HandBuilt {
    let sb = sandbox();
    let region = region().to_string();
    let (iot, prd) = (account(), account());
    let alias = name("Device_Alias");
    let dir = std::env::temp_dir().join(name("xacct-import-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (exec_arn, function, cert_id, pem, key) = rt().block_on(async {
        let p = sdk_at(&sb.gateway, &prd, &region).await;
        let trust = json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},
            {"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{iot}:root")},"Action":"sts:AssumeRole"}]});
        let exec = p
            .iam
            .create_role()
            .role_name("ingest-role")
            .path("/service-role/")
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap()
            .role()
            .unwrap()
            .arn()
            .to_string();
        // AWSLambdaRole's document, as a policy of the account (moto loads no AWS managed policies)
        let managed = p
            .iam
            .create_policy()
            .policy_name("AWSLambdaRole")
            .path("/service-role/")
            .policy_document(
                json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["lambda:InvokeFunction"],"Resource":["*"]}]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap()
            .arn()
            .unwrap()
            .to_string();
        p.iam
            .attach_role_policy()
            .role_name("ingest-role")
            .policy_arn(&managed)
            .send()
            .await
            .unwrap();
        let mut zip = b"PK\x05\x06".to_vec();
        zip.extend_from_slice(&[0u8; 18]);
        let function = p
            .lambda
            .create_function()
            .function_name("ingest")
            .runtime(aws_sdk_lambda::types::Runtime::Python312)
            .role(&exec)
            .handler("index.handler")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_smithy_types::Blob::new(zip))
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .function_arn()
            .unwrap()
            .to_string();
        let i = sdk_at(&sb.gateway, &iot, &region).await;
        let provider = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let role = i
            .iam
            .create_role()
            .role_name("device-role")
            .assume_role_policy_document(provider)
            .send()
            .await
            .unwrap()
            .role()
            .unwrap()
            .arn()
            .to_string();
        i.iam
            .put_role_policy()
            .role_name("device-role")
            .policy_name("assume-prd")
            .policy_document(
                json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":exec}]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        let alias_arn = i
            .iot
            .create_role_alias()
            .role_alias(&alias)
            .role_arn(&role)
            .send()
            .await
            .unwrap()
            .role_alias_arn()
            .unwrap()
            .to_string();
        i.iot
            .create_policy()
            .policy_name("DevicePolicy")
            .policy_document(
                json!({"Version":"2012-10-17","Statement":[
                    {"Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":"*"},
                    {"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":alias_arn}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        let c = i
            .iot
            .create_keys_and_certificate()
            .set_as_active(true)
            .send()
            .await
            .unwrap();
        i.iot
            .attach_policy()
            .policy_name("DevicePolicy")
            .target(c.certificate_arn().unwrap())
            .send()
            .await
            .unwrap();
        (
            exec,
            function,
            c.certificate_id().unwrap().to_string(),
            c.certificate_pem().unwrap().to_string(),
            c.key_pair().unwrap().private_key().unwrap().to_string(),
        )
    });
    let cert = dir.join("device.pem.crt");
    let keyp = dir.join("device.private.key");
    std::fs::write(&cert, pem).unwrap();
    std::fs::write(&keyp, key).unwrap();
    HandBuilt {
        region,
        iot,
        prd,
        alias,
        exec_arn,
        function,
        cert_id,
        cert,
        key: keyp,
        dir,
    }
}

/// The hand-built device chain: import writes a file that validates (exit 2: the functions came
/// from AWSLambdaRole's `*`, to be reviewed), takes over the IoT role and the alias, makes a
/// dedicated target role instead of the execution role, keeps the broad IoT policy and attaches its
/// own beside it; its verdict shows the hand-built chain holding and names each weakness. Then
/// plan → apply --adopt → verify holds, a second plan is empty, the execution role is exactly as it
/// was and still the function's, and destroy leaves it so.
#[test]
fn a_hand_built_device_chain_is_imported_adopted_and_released_without_touching_the_workload() {
    let sb = sandbox();
    let h = build();
    let before = rt().block_on(async {
        let p = sdk_at(&sb.gateway, &h.prd, &h.region).await;
        role_state(&p, "ingest-role").await
    });
    let out = h.dir.join("imported.yaml");
    let args = [
        "import",
        "--iot-account",
        &h.iot,
        "--role-alias",
        &h.alias,
        "--region",
        &h.region,
        "--access",
        &format!("{}=role:{}", h.iot, Fleet::admin(&h.iot)),
        "--access",
        &format!("{}=role:{}", h.prd, Fleet::admin(&h.prd)),
        "--out",
        &file_arg(&out),
    ];
    let o = sb.xacct(&args);
    assert_eq!(o.status.code(), Some(2), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("functions was *"), "{}", stderr(&o));
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(yaml.contains("role_name: device-role"), "{yaml}");
    assert!(yaml.contains(&format!("role_alias: {}", h.alias)), "{yaml}");
    assert!(yaml.contains("also the execution role of"), "{yaml}");
    assert!(
        yaml.contains("IoT policy DevicePolicy also grants more"),
        "{yaml}"
    );
    assert!(yaml.contains("managed policy AWSLambdaRole"), "{yaml}");
    assert!(yaml.contains(&h.function), "{yaml}");
    assert!(yaml.contains(&h.cert_id), "{yaml}");
    let v = sb.xacct(&["validate", "-f", &file_arg(&out)]);
    assert_eq!(v.status.code(), Some(0), "{}\n{yaml}", stderr(&v));
    // the verdict: the hand-built chain holds, and its weaknesses are named
    let verdict = stdout(&o);
    assert!(
        verdict.contains("credentials    assume-role    invoke")
            && verdict.contains("Every hop of 1 environment(s) holds"),
        "{verdict}"
    );
    for rule in [
        "execution-role-as-target",
        "broad-managed-policy",
        "trust-root",
    ] {
        assert!(verdict.contains(rule), "{rule}: {verdict}");
    }
    // --out never overwrites
    let again = sb.xacct(&args);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("never overwrites"),
        "{}",
        stderr(&again)
    );

    // taken over: the IoT role and alias adopted, a dedicated target role made
    let file = file_arg(&out);
    let p = sb.xacct(&["plan", "-f", &file]);
    assert!(
        [0, 2].contains(&p.status.code().unwrap_or(1)),
        "{}",
        stderr(&p)
    );
    // the plan names what the takeover leaves for the user on the adopted IoT role
    assert!(
        stdout(&p).contains("! iam_role.device-role")
            && stdout(&p).contains("left as they are for you: inline policy assume-prd"),
        "{}",
        stdout(&p)
    );
    let a = sb.xacct(&["apply", "-f", &file, "--auto-approve", "--adopt"]);
    assert_eq!(a.status.code(), Some(0), "{}\n{}", stdout(&a), stderr(&a));
    let second = sb.xacct(&["plan", "-f", &file, "--detailed-exitcode"]);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&second),
        stderr(&second)
    );
    let verify = sb.xacct(&[
        "verify",
        "-f",
        &file,
        "--cert",
        &file_arg(&h.cert),
        "--key",
        &file_arg(&h.key),
        "--json",
    ]);
    let vj: Value = serde_json::from_slice(&verify.stdout).unwrap_or(Value::Null);
    assert_eq!(verify.status.code(), Some(0), "{vj}\n{}", stderr(&verify));
    let (after, function_role) = rt().block_on(async {
        let p = sdk_at(&sb.gateway, &h.prd, &h.region).await;
        let f = p
            .lambda
            .get_function()
            .function_name(&h.function)
            .send()
            .await
            .unwrap();
        (
            role_state(&p, "ingest-role").await,
            f.configuration().unwrap().role().unwrap().to_string(),
        )
    });
    assert_eq!(after, before, "the execution role is exactly as it was");
    assert_eq!(function_role, h.exec_arn);

    let d = sb.xacct(&["destroy", "-f", &file, "--auto-approve"]);
    assert_eq!(d.status.code(), Some(0), "{}\n{}", stdout(&d), stderr(&d));
    let end = rt().block_on(async {
        let p = sdk_at(&sb.gateway, &h.prd, &h.region).await;
        role_state(&p, "ingest-role").await
    });
    assert_eq!(end, before, "destroy leaves the execution role as it was");
}

/// An account import cannot reach with the default chain makes it say which --access it needs,
/// and write nothing.
#[test]
fn an_account_without_access_is_named_and_nothing_is_written() {
    let sb = sandbox();
    let h = build();
    let out = h.dir.join("nothing.yaml");
    let o = sb.xacct(&[
        "import",
        "--iot-account",
        &h.iot,
        "--role-alias",
        &h.alias,
        "--region",
        &h.region,
        "--access",
        &format!("{}=role:{}", h.iot, Fleet::admin(&h.iot)),
        "--out",
        &file_arg(&out),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("--access {}=", h.prd)),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

fn s3_of(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(true)
            .build(),
    )
}

/// The typical hand-built workload chain: a Lambda execution role with a customer managed policy
/// allowing sts:* on *, assuming a role in another account that trusts the source account's root
/// and holds an S3-wide managed policy. import finds the target role among the roles of the
/// accounts it may read that trust the source, lists the account's buckets for the `*` (exit 2: to
/// review), takes the target role over, and its verdict holds and names the weaknesses; then
/// apply --adopt → verify holds, a second plan is empty, destroy exits 0.
#[test]
fn a_hand_built_workload_chain_is_imported_and_taken_over() {
    let sb = sandbox();
    let region = region().to_string();
    let (src, tgt) = (account(), account());
    let role_name = name("app-exec-");
    let bucket = name("reports-");
    let dir = std::env::temp_dir().join(name("xacct-import-"));
    std::fs::create_dir_all(&dir).unwrap();
    let source_arn = format!("arn:aws:iam::{src}:role/service-role/{role_name}");
    rt().block_on(async {
        let s = admin_config(&sb.gateway, &src, &region).await;
        let iam = aws_sdk_iam::Client::new(&s);
        // the operator stands in for Lambda in the sandbox (verify --assume-source)
        let trust = json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},
            {"Effect":"Allow","Principal":{"AWS":Fleet::admin(&src)},"Action":"sts:AssumeRole"}]});
        iam.create_role()
            .role_name(&role_name)
            .path("/service-role/")
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
        let any = iam
            .create_policy()
            .policy_name("assume-anything")
            .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]}).to_string())
            .send()
            .await
            .unwrap();
        iam.attach_role_policy()
            .role_name(&role_name)
            .policy_arn(any.policy().unwrap().arn().unwrap())
            .send()
            .await
            .unwrap();
        let t = admin_config(&sb.gateway, &tgt, &region).await;
        let iam = aws_sdk_iam::Client::new(&t);
        iam.create_role()
            .role_name("reports-reader")
            .assume_role_policy_document(
                json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{src}:root")},"Action":"sts:AssumeRole"}]}).to_string(),
            )
            .send()
            .await
            .unwrap();
        // AmazonS3FullAccess's document, as a policy of the account (moto loads no AWS managed ones)
        let full = iam
            .create_policy()
            .policy_name("AmazonS3FullAccess")
            .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","s3-object-lambda:*"],"Resource":"*"}]}).to_string())
            .send()
            .await
            .unwrap();
        iam.attach_role_policy()
            .role_name("reports-reader")
            .policy_arn(full.policy().unwrap().arn().unwrap())
            .send()
            .await
            .unwrap();
        let s3 = s3_of(&t);
        let mut req = s3.create_bucket().bucket(&bucket);
        if region != "us-east-1" {
            req = req.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                        region.as_str(),
                    ))
                    .build(),
            );
        }
        req.send().await.unwrap();
        s3.put_object()
            .bucket(&bucket)
            .key("daily/2026-12-01.csv")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"a,b\n"))
            .send()
            .await
            .unwrap();
    });
    let out = dir.join("imported.yaml");
    let o = sb.xacct(&[
        "import",
        "--source-role",
        &source_arn,
        "--region",
        &region,
        "--access",
        &format!("{src}=role:{}", Fleet::admin(&src)),
        "--access",
        &format!("{tgt}=role:{}", Fleet::admin(&tgt)),
        "--out",
        &file_arg(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("objects was *"), "{}", stderr(&o));
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(yaml.contains("role_name: reports-reader"), "{yaml}");
    assert!(yaml.contains(&format!("arn:aws:s3:::{bucket}/*")), "{yaml}");
    assert!(
        yaml.contains(&format!("trusts arn:aws:iam::{src}:root")),
        "{yaml}"
    );
    assert!(yaml.contains("allows sts:AssumeRole on *"), "{yaml}");
    let v = sb.xacct(&["validate", "-f", &file_arg(&out)]);
    assert_eq!(v.status.code(), Some(0), "{}\n{yaml}", stderr(&v));
    let verdict = stdout(&o);
    assert!(
        verdict.contains("Every hop of 1 environment(s) holds"),
        "{verdict}"
    );
    for rule in ["broad-managed-policy", "trust-root"] {
        assert!(verdict.contains(rule), "{rule}: {verdict}");
    }
    let file = file_arg(&out);
    let a = sb.xacct(&["apply", "-f", &file, "--auto-approve", "--adopt"]);
    assert_eq!(a.status.code(), Some(0), "{}\n{}", stdout(&a), stderr(&a));
    let second = sb.xacct(&["plan", "-f", &file, "--detailed-exitcode"]);
    assert_eq!(second.status.code(), Some(0), "{}", stdout(&second));
    let verify = sb.xacct(&["verify", "-f", &file, "--assume-source", "--json"]);
    let vj: Value = serde_json::from_slice(&verify.stdout).unwrap_or(Value::Null);
    assert_eq!(verify.status.code(), Some(0), "{vj}\n{}", stderr(&verify));
    let d = sb.xacct(&["destroy", "-f", &file, "--auto-approve"]);
    assert_eq!(d.status.code(), Some(0), "{}\n{}", stdout(&d), stderr(&d));
}

/// A hand-built direct chain: the IoT role may invoke a function of another account whose resource
/// policy names the IoT account's root. import writes the environment in direct mode; after
/// apply --adopt the function's policy holds xacct's statement naming the exact IoT role beside the
/// hand-built one, verify holds, and destroy removes only xacct's statement.
#[test]
fn a_hand_built_direct_chain_is_imported_in_direct_mode() {
    let sb = sandbox();
    let h = build();
    // the IoT role also invokes the function directly, allowed by the function's own policy
    rt().block_on(async {
        let i = sdk_at(&sb.gateway, &h.iot, &h.region).await;
        i.iam
            .delete_role_policy()
            .role_name("device-role")
            .policy_name("assume-prd")
            .send()
            .await
            .unwrap();
        i.iam
            .put_role_policy()
            .role_name("device-role")
            .policy_name("invoke-prd")
            .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":h.function}]}).to_string())
            .send()
            .await
            .unwrap();
        let p = sdk_at(&sb.gateway, &h.prd, &h.region).await;
        p.lambda
            .add_permission()
            .function_name(&h.function)
            .statement_id("from-iot-account")
            .action("lambda:InvokeFunction")
            .principal(&h.iot)
            .send()
            .await
            .unwrap();
    });
    let out = h.dir.join("direct.yaml");
    let o = sb.xacct(&[
        "import",
        "--iot-account",
        &h.iot,
        "--role-alias",
        &h.alias,
        "--region",
        &h.region,
        "--access",
        &format!("{}=role:{}", h.iot, Fleet::admin(&h.iot)),
        "--access",
        &format!("{}=role:{}", h.prd, Fleet::admin(&h.prd)),
        "--out",
        &file_arg(&out),
    ]);
    let yaml = std::fs::read_to_string(&out).unwrap_or_default();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}\n{yaml}",
        stdout(&o),
        stderr(&o)
    );
    assert!(yaml.contains("mode: direct"), "{yaml}");
    assert!(
        stdout(&o).contains("Every hop of 1 environment(s) holds"),
        "{}",
        stdout(&o)
    );
    let file = file_arg(&out);
    let a = sb.xacct(&["apply", "-f", &file, "--auto-approve", "--adopt"]);
    assert_eq!(a.status.code(), Some(0), "{}\n{}", stdout(&a), stderr(&a));
    let verify = sb.xacct(&[
        "verify",
        "-f",
        &file,
        "--cert",
        &file_arg(&h.cert),
        "--key",
        &file_arg(&h.key),
    ]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    let policy_sids = || {
        rt().block_on(async {
            let p = sdk_at(&sb.gateway, &h.prd, &h.region).await;
            let doc = p
                .lambda
                .get_policy()
                .function_name(&h.function)
                .send()
                .await
                .unwrap();
            let d: Value = serde_json::from_str(doc.policy().unwrap()).unwrap();
            d["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["Sid"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        })
    };
    let sids = policy_sids();
    assert!(sids.contains(&"from-iot-account".to_string()), "{sids:?}");
    assert!(sids.iter().any(|s| s.starts_with("xacct-")), "{sids:?}");
    let d = sb.xacct(&["destroy", "-f", &file, "--auto-approve"]);
    assert_eq!(d.status.code(), Some(0), "{}\n{}", stdout(&d), stderr(&d));
    assert_eq!(policy_sids(), vec!["from-iot-account".to_string()]);
}
