//! Workload chains (`source:` files) end to end in the sandbox: an existing workload role assumes a
//! target role per environment that calls an API Gateway method with IAM authorization, reads S3
//! objects, or reads CloudTrail logs from an SSE-KMS bucket. Random accounts, names and regions; each
//! link broken on its own fails `check` and `verify` at its hop with its words while the other
//! environments pass; destroy leaves the source role as it was.

use crate::common::*;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Admin clients of one account through the sandbox gateway (S3 path-style).
struct Admin {
    iam: aws_sdk_iam::Client,
    s3: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
    gw: aws_sdk_apigateway::Client,
}

async fn admin(account: &str, region: &str) -> Admin {
    let conf = admin_config(&sandbox().gateway, account, region).await;
    Admin {
        iam: aws_sdk_iam::Client::new(&conf),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        ),
        kms: aws_sdk_kms::Client::new(&conf),
        gw: aws_sdk_apigateway::Client::new(&conf),
    }
}

fn api_id() -> String {
    format!("{:010x}", rand_u64() % 0xff_ffff_ffff)
}

/// A workload chain with three environments (API, S3, CloudTrail logs with SSE-KMS), each in its own
/// account, what an organization already has created, and the file applied.
struct Setup {
    fleet: String,
    region: String,
    source_account: String,
    source_role: String,
    source_arn: String,
    /// (env name, account)
    api: (String, String),
    s3: (String, String),
    trail: (String, String),
    api_id: String,
    bucket: String,
    trail_bucket: String,
    key_arn: String,
    file: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let region = region().to_string();
        let source_account = account();
        let source_role = name("fn-exec-");
        let source_arn = format!("arn:aws:iam::{source_account}:role/service-role/{source_role}");
        let api = (format!("{}a", name("api")), account());
        let s3 = (format!("{}s", name("rep")), account());
        let trail = (format!("{}t", name("aud")), account());
        let api_id = api_id();
        let bucket = name("reports-");
        let trail_bucket = name("audit-logs-");
        let key_arn = rt().block_on(async {
            // the workload's role, with what the workload already has
            let a = admin(&source_account, &region).await;
            let trust = json!({"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},
                {"Effect":"Allow","Principal":{"AWS":Fleet::admin(&source_account)},"Action":"sts:AssumeRole"}]});
            a.iam
                .create_role()
                .role_name(&source_role)
                .path("/service-role/")
                .assume_role_policy_document(trust.to_string())
                .tags(aws_sdk_iam::types::Tag::builder().key("team").value("reports").build().unwrap())
                .send()
                .await
                .unwrap();
            a.iam
                .put_role_policy()
                .role_name(&source_role)
                .policy_name("logs")
                .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}).to_string())
                .send()
                .await
                .unwrap();
            // the API: POST /orders and GET /orders/{proxy+}, IAM auth, MOCK, stage prod
            let g = admin(&api.1, &region).await.gw;
            g.create_rest_api()
                .name(&api_id)
                .tags("_custom_id_", &api_id)
                .send()
                .await
                .unwrap();
            let root = g
                .get_resources()
                .rest_api_id(&api_id)
                .send()
                .await
                .unwrap()
                .items()[0]
                .id()
                .unwrap()
                .to_string();
            let orders = g
                .create_resource()
                .rest_api_id(&api_id)
                .parent_id(&root)
                .path_part("orders")
                .send()
                .await
                .unwrap()
                .id()
                .unwrap()
                .to_string();
            let proxy = g
                .create_resource()
                .rest_api_id(&api_id)
                .parent_id(&orders)
                .path_part("{proxy+}")
                .send()
                .await
                .unwrap()
                .id()
                .unwrap()
                .to_string();
            for (res, method) in [(&orders, "POST"), (&proxy, "GET")] {
                g.put_method()
                    .rest_api_id(&api_id)
                    .resource_id(res)
                    .http_method(method)
                    .authorization_type("AWS_IAM")
                    .send()
                    .await
                    .unwrap();
                g.put_integration()
                    .rest_api_id(&api_id)
                    .resource_id(res)
                    .http_method(method)
                    .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
                    .send()
                    .await
                    .unwrap();
            }
            g.create_deployment()
                .rest_api_id(&api_id)
                .stage_name("prod")
                .send()
                .await
                .unwrap();
            // the reports bucket
            let b = admin(&s3.1, &region).await.s3;
            create_bucket(&b, &bucket, &region).await;
            for k in ["daily/summary.json", "monthly/2026-11.csv", "private/salaries.csv"] {
                put(&b, &bucket, k).await;
            }
            // the CloudTrail bucket: SSE-KMS with a customer key that delegates to IAM
            let t = admin(&trail.1, &region).await;
            create_bucket(&t.s3, &trail_bucket, &region).await;
            let key = t
                .kms
                .create_key()
                .policy(root_key_policy(&trail.1))
                .send()
                .await
                .unwrap();
            let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
            use aws_sdk_s3::types::*;
            t.s3.put_bucket_encryption()
                .bucket(&trail_bucket)
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(
                            ServerSideEncryptionRule::builder()
                                .apply_server_side_encryption_by_default(
                                    ServerSideEncryptionByDefault::builder()
                                        .sse_algorithm(ServerSideEncryption::AwsKms)
                                        .kms_master_key_id(&key_arn)
                                        .build()
                                        .unwrap(),
                                )
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            put(
                &t.s3,
                &trail_bucket,
                &format!("AWSLogs/{}/CloudTrail/{region}/2026/11/28/log.json.gz", trail.1),
            )
            .await;
            key_arn
        });
        let s = Setup {
            fleet: name("wl"),
            region,
            source_account,
            source_role,
            source_arn,
            api,
            s3,
            trail,
            api_id,
            bucket,
            trail_bucket,
            key_arn,
            file: PathBuf::new(),
        };
        let dir = std::env::temp_dir().join(name("xacct-wl-"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("reports.yaml");
        std::fs::write(&file, s.yaml()).unwrap();
        let s = Setup { file, ..s };
        let o = s.run(&["apply", "-f", &s.f(), "--auto-approve"]);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        s
    }

    fn yaml(&self) -> String {
        format!(
            "fleet: {fleet}\nregion: {region}\nsource:\n  account: \"{sa}\"\n  role: {sarn}\n  assume_role: {sadmin}\nenvironments:\n  {api}:\n    account: \"{aa}\"\n    assume_role: {aadmin}\n    apis:\n      - arn:aws:execute-api:{region}:{aa}:{id}/prod/POST/orders\n      - {id}/prod/GET/orders/*\n  {rep}:\n    account: \"{ra}\"\n    assume_role: {radmin}\n    objects:\n      - {bucket}/daily/summary.json\n      - arn:aws:s3:::{bucket}/monthly/*\n  {aud}:\n    account: \"{ta}\"\n    assume_role: {tadmin}\n    objects:\n      - {tb}/AWSLogs/{ta}/CloudTrail/*\n",
            fleet = self.fleet,
            region = self.region,
            sa = self.source_account,
            sarn = self.source_arn,
            sadmin = Fleet::admin(&self.source_account),
            api = self.api.0,
            aa = self.api.1,
            aadmin = Fleet::admin(&self.api.1),
            id = self.api_id,
            rep = self.s3.0,
            ra = self.s3.1,
            radmin = Fleet::admin(&self.s3.1),
            bucket = self.bucket,
            aud = self.trail.0,
            ta = self.trail.1,
            tadmin = Fleet::admin(&self.trail.1),
            tb = self.trail_bucket,
        )
    }

    fn f(&self) -> String {
        file_arg(&self.file)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        sandbox().xacct(args)
    }

    fn target(&self, env: &str) -> String {
        format!("{}-{env}", self.fleet)
    }

    fn target_arn(&self, env: &(String, String)) -> String {
        format!("arn:aws:iam::{}:role/{}-{}", env.1, self.fleet, env.0)
    }

    fn policy_name(&self) -> String {
        format!("xacct-{}-assume-targets", self.fleet)
    }

    fn check(&self) -> (i32, Value) {
        let o = self.run(&["check", "-f", &self.f(), "--json"]);
        (
            o.status.code().unwrap_or(-1),
            serde_json::from_slice(&o.stdout)
                .unwrap_or_else(|_| panic!("check --json: {}{}", stdout(&o), stderr(&o))),
        )
    }

    fn verify(&self) -> (i32, Value) {
        let o = self.run(&["verify", "-f", &self.f(), "--assume-source", "--json"]);
        (
            o.status.code().unwrap_or(-1),
            serde_json::from_slice(&o.stdout)
                .unwrap_or_else(|_| panic!("verify --json: {}{}", stdout(&o), stderr(&o))),
        )
    }
}

async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) {
    let mut req = s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                .build(),
        );
    }
    req.send().await.unwrap();
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"sample"))
        .send()
        .await
        .unwrap();
}

fn root_key_policy(account: &str) -> String {
    json!({"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{account}:root")},"Action":"kms:*","Resource":"*"}]}).to_string()
}

/// The words of a hop: its detail and (verify) cause.
fn words(h: &Value) -> String {
    let mut out = Vec::new();
    for k in ["detail", "cause"] {
        match &h[k] {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => out.extend(a.iter().filter_map(|x| x.as_str().map(String::from))),
            _ => {}
        }
    }
    out.join(" | ")
}

/// `env` fails `check` and `verify` at the same hop `hop_name`, both with `text` (in check, in the
/// hop's part `part` when one is given); every other environment passes both.
fn fails_only(s: &Setup, env_name: &str, part: Option<&str>, hop_name: &str, text: &str) {
    let (code, c) = s.check();
    assert_eq!(code, 1, "{c}");
    let h = report_hop(&c, env_name, hop_name);
    assert_eq!(h["ok"], false, "{h}");
    assert!(words(h).contains(text), "check {hop_name}: {h}");
    if let Some(part) = part {
        let p = report_part(&c, env_name, part);
        assert_eq!(p["ok"], false, "{p}");
        assert!(words(p).contains(text), "check {hop_name} {part}: {p}");
    }
    let (code, v) = s.verify();
    assert_eq!(code, 1, "{v}");
    let h = report_hop(&v, env_name, hop_name);
    assert_eq!(h["ok"], false, "{h}");
    assert!(words(h).contains(text), "verify {hop_name}: {h}");
    for e in [&s.api.0, &s.s3.0, &s.trail.0] {
        if e != env_name {
            assert_eq!(report_env(&c, e)["ok"], true, "check {e}: {c}");
            assert_eq!(report_env(&v, e)["ok"], true, "verify {e}: {v}");
        }
    }
}

#[test]
fn applies_exact_documents_then_plans_nothing_and_every_hop_holds_and_works() {
    let s = Setup::new();
    rt().block_on(async {
        // the source role: exactly one inline policy of xacct's, sts:AssumeRole on the three roles
        let a = admin(&s.source_account, &s.region).await;
        let p = a
            .iam
            .get_role_policy()
            .role_name(&s.source_role)
            .policy_name(s.policy_name())
            .send()
            .await
            .unwrap();
        let d = doc(p.policy_document());
        let mut res: Vec<String> = match &d["Statement"][0]["Resource"] {
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            x => vec![x.as_str().unwrap().to_string()],
        };
        res.sort();
        let mut want = vec![
            s.target_arn(&s.api),
            s.target_arn(&s.s3),
            s.target_arn(&s.trail),
        ];
        want.sort();
        assert_eq!(res, want);
        assert_eq!(d["Statement"][0]["Action"], "sts:AssumeRole");
        // each target role trusts exactly the source role's ARN, path included
        let t = admin(&s.trail.1, &s.region).await;
        let r = t
            .iam
            .get_role()
            .role_name(s.target(&s.trail.0))
            .send()
            .await
            .unwrap();
        let trust = doc(r.role().unwrap().assume_role_policy_document().unwrap());
        assert_eq!(trust["Statement"][0]["Principal"]["AWS"], s.source_arn);
        // the CloudTrail environment: s3:GetObject on the prefix and kms:Decrypt on the key
        let p = t
            .iam
            .get_role_policy()
            .role_name(s.target(&s.trail.0))
            .policy_name("xacct-invoke-functions")
            .send()
            .await
            .unwrap();
        let d = doc(p.policy_document());
        let text = d.to_string();
        assert!(text.contains("\"kms:Decrypt\""), "{d}");
        assert!(text.contains(&s.key_arn), "{d}");
        assert!(
            text.contains(&format!(
                "arn:aws:s3:::{}/AWSLogs/{}/CloudTrail/*",
                s.trail_bucket, s.trail.1
            )),
            "{d}"
        );
        assert!(
            !text.contains("\"*\"") && !text.contains("s3:*") && !text.contains("lambda"),
            "{d}"
        );
        // the API environment: execute-api:Invoke on the two method ARNs only
        let g = admin(&s.api.1, &s.region).await;
        let p = g
            .iam
            .get_role_policy()
            .role_name(s.target(&s.api.0))
            .policy_name("xacct-invoke-functions")
            .send()
            .await
            .unwrap();
        let d = doc(p.policy_document());
        assert_eq!(d["Statement"].as_array().unwrap().len(), 1, "{d}");
        assert_eq!(d["Statement"][0]["Action"], "execute-api:Invoke");
    });
    let o = s.run(&["plan", "-f", &s.f(), "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let (code, c) = s.check();
    assert_eq!(code, 0, "{c}");
    assert_eq!(
        report_hop_names(&c, &s.api.0),
        ["source", "assume_role", "call_api"]
    );
    assert_eq!(
        report_hop_names(&c, &s.trail.0),
        ["source", "assume_role", "get_object"]
    );
    let (code, v) = s.verify();
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        report_hop_names(&v, &s.api.0),
        ["source", "assume_role", "call_api"]
    );
    assert_eq!(
        report_hop_names(&v, &s.s3.0),
        ["source", "assume_role", "get_object"]
    );
    for e in [&s.api.0, &s.s3.0, &s.trail.0] {
        assert_eq!(report_hop_names(&c, e), report_hop_names(&v, e), "{e}");
    }
    // without --assume-source the ambient credentials must be the source role's
    let o = s.run(&["verify", "-f", &s.f(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = report_hop(&v, &s.s3.0, "source");
    assert!(words(h).contains("--assume-source"), "{h}");
    assert!(words(h).contains("not as the source role"), "{h}");
}

#[test]
fn drift_on_each_new_statement_is_planned_back() {
    let s = Setup::new();
    rt().block_on(async {
        // the source policy loses a target; the API role gains s3:*; the trail role loses kms:Decrypt
        let a = admin(&s.source_account, &s.region).await;
        a.iam
            .put_role_policy()
            .role_name(&s.source_role)
            .policy_name(s.policy_name())
            .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":s.target_arn(&s.api)}]}).to_string())
            .send()
            .await
            .unwrap();
        let g = admin(&s.api.1, &s.region).await;
        g.iam
            .put_role_policy()
            .role_name(s.target(&s.api.0))
            .policy_name("xacct-invoke-functions")
            .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}).to_string())
            .send()
            .await
            .unwrap();
        let t = admin(&s.trail.1, &s.region).await;
        t.iam
            .put_role_policy()
            .role_name(s.target(&s.trail.0))
            .policy_name("xacct-invoke-functions")
            .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":format!("arn:aws:s3:::{}/AWSLogs/{}/CloudTrail/*", s.trail_bucket, s.trail.1)}]}).to_string())
            .send()
            .await
            .unwrap();
    });
    let p = plan_json_sb(&s);
    let changes = p["changes"].as_array().unwrap();
    let addrs: Vec<(String, String)> = changes
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap_or_default().to_string(),
                c["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(changes.len(), 3, "{p}");
    assert!(
        addrs.contains(&("source_role_policy".into(), "update".into())),
        "{p}"
    );
    assert_eq!(
        addrs
            .iter()
            .filter(|a| a.0 == "iam_role_policy" && a.1 == "update")
            .count(),
        2,
        "{p}"
    );
    let o = s.run(&["apply", "-f", &s.f(), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = s.run(&["plan", "-f", &s.f(), "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

fn plan_json_sb(s: &Setup) -> Value {
    let o = s.run(&["plan", "-f", &s.f(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_source_policy_without_one_target_fails_that_env_at_source_policy() {
    let s = Setup::new();
    rt().block_on(async {
        let a = admin(&s.source_account, &s.region).await;
        a.iam
            .put_role_policy()
            .role_name(&s.source_role)
            .policy_name(s.policy_name())
            .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":[s.target_arn(&s.api), s.target_arn(&s.trail)]}]}).to_string())
            .send()
            .await
            .unwrap();
    });
    fails_only(
        &s,
        &s.s3.0,
        Some("source_policy"),
        "assume_role",
        "the source role's policies do not allow sts:AssumeRole",
    );
    // deleted altogether: every environment fails there
    rt().block_on(async {
        let a = admin(&s.source_account, &s.region).await;
        a.iam
            .delete_role_policy()
            .role_name(&s.source_role)
            .policy_name(s.policy_name())
            .send()
            .await
            .unwrap();
    });
    let (_, c) = s.check();
    for e in [&s.api.0, &s.s3.0, &s.trail.0] {
        let h = report_part(&c, e, "source_policy");
        assert_eq!(h["ok"], false);
        assert!(words(h).contains("is missing or changed"), "{h}");
    }
}

#[test]
fn a_target_trust_naming_another_role_fails_at_assume() {
    let s = Setup::new();
    rt().block_on(async {
        let t = admin(&s.api.1, &s.region).await;
        t.iam
            .update_assume_role_policy()
            .role_name(s.target(&s.api.0))
            .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{}:role/other", s.source_account)},"Action":"sts:AssumeRole"}]}).to_string())
            .send()
            .await
            .unwrap();
    });
    fails_only(
        &s,
        &s.api.0,
        Some("target_trust"),
        "assume_role",
        &format!("does not name {}", s.source_arn),
    );
}

#[test]
fn an_object_outside_the_granted_prefix_fails_at_get_object() {
    let s = Setup::new();
    rt().block_on(async {
        let t = admin(&s.s3.1, &s.region).await;
        t.iam
            .put_role_policy()
            .role_name(s.target(&s.s3.0))
            .policy_name("xacct-invoke-functions")
            .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":[format!("arn:aws:s3:::{}/daily/summary.json", s.bucket), format!("arn:aws:s3:::{}/weekly/*", s.bucket)]}]}).to_string())
            .send()
            .await
            .unwrap();
    });
    fails_only(&s, &s.s3.0, None, "get_object", "do not allow s3:GetObject");
}

#[test]
fn a_bucket_policy_that_denies_the_target_role_fails_at_get_object() {
    let s = Setup::new();
    rt().block_on(async {
        let t = admin(&s.s3.1, &s.region).await;
        t.s3.put_bucket_policy()
            .bucket(&s.bucket)
            .policy(json!({"Version":"2012-10-17","Statement":[{"Sid":"NoReports","Effect":"Deny","Principal":{"AWS":s.target_arn(&s.s3)},"Action":"s3:GetObject","Resource":format!("arn:aws:s3:::{}/*", s.bucket)}]}).to_string())
            .send()
            .await
            .unwrap();
    });
    fails_only(
        &s,
        &s.s3.0,
        None,
        "get_object",
        &format!("the bucket policy of {} denies s3:GetObject", s.bucket),
    );
}

#[test]
fn a_key_policy_without_the_role_fails_at_get_object() {
    let s = Setup::new();
    rt().block_on(async {
        let t = admin(&s.trail.1, &s.region).await;
        t.kms
            .put_key_policy()
            .key_id(&s.key_arn)
            .policy_name("default")
            .policy(json!({"Version":"2012-10-17","Statement":[{"Sid":"KeyAdmins","Effect":"Allow","Principal":{"AWS":Fleet::admin(&s.trail.1)},"Action":"kms:*","Resource":"*"}]}).to_string())
            .send()
            .await
            .unwrap();
    });
    fails_only(
        &s,
        &s.trail.0,
        None,
        "get_object",
        "its key policy does not let",
    );
}

/// A change to an API takes effect only when a stage is deployed: before that, check judges (and
/// the emulator serves) what is deployed, and says on the hop that the API changed since; after
/// deploying stage prod the change is in force.
fn not_in_force_until_deployed(s: &Setup, what: &str) {
    let (code, c) = s.check();
    assert_eq!(code, 0, "{c}");
    let h = report_hop(&c, &s.api.0, "call_api");
    assert_eq!(h["ok"], true, "{h}");
    assert!(
        words(h).contains(&format!("{what} changed since stage prod was deployed"))
            && words(h).contains("deploy it for this to take effect"),
        "{h}"
    );
    let (code, v) = s.verify();
    assert_eq!(code, 0, "the stage still serves the deployed API: {v}");
    rt().block_on(async {
        admin(&s.api.1, &s.region)
            .await
            .gw
            .create_deployment()
            .rest_api_id(&s.api_id)
            .stage_name("prod")
            .send()
            .await
            .unwrap();
    });
}

#[test]
fn an_api_resource_policy_that_denies_fails_at_call_api() {
    let s = Setup::new();
    rt().block_on(async {
        let g = admin(&s.api.1, &s.region).await.gw;
        let policy = json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":format!("arn:aws:execute-api:{}:{}:{}/*", s.region, s.api.1, s.api_id)}]});
        g.update_rest_api()
            .rest_api_id(&s.api_id)
            .patch_operations(
                aws_sdk_apigateway::types::PatchOperation::builder()
                    .op(aws_sdk_apigateway::types::Op::Replace)
                    .path("/policy")
                    .value(policy.to_string())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    not_in_force_until_deployed(&s, "its resource policy");
    let (_, c) = s.check();
    let h = report_hop(&c, &s.api.0, "call_api");
    assert_eq!(h["ok"], false, "{h}");
    assert!(
        words(h).contains(&format!("the resource policy of API {} denies", s.api_id)),
        "{h}"
    );
    let (code, v) = s.verify();
    assert_eq!(code, 1);
    let h = report_hop(&v, &s.api.0, "call_api");
    assert_eq!(h["ok"], false, "{h}");
    assert!(words(h).contains("answered 403"), "{h}");
    assert!(
        words(h).contains(&format!("the resource policy of API {} denies", s.api_id)),
        "{h}"
    );
    assert_eq!(report_env(&v, &s.s3.0)["ok"], true);
}

#[test]
fn a_method_without_iam_authorization_fails_at_call_api() {
    let s = Setup::new();
    rt().block_on(async {
        let g = admin(&s.api.1, &s.region).await.gw;
        let res = g
            .get_resources()
            .rest_api_id(&s.api_id)
            .send()
            .await
            .unwrap();
        let orders = res
            .items()
            .iter()
            .find(|r| r.path() == Some("/orders"))
            .unwrap()
            .id()
            .unwrap()
            .to_string();
        // switched to no authorization (deleted and put again, as a console user might)
        g.delete_method()
            .rest_api_id(&s.api_id)
            .resource_id(&orders)
            .http_method("POST")
            .send()
            .await
            .unwrap();
        g.put_method()
            .rest_api_id(&s.api_id)
            .resource_id(&orders)
            .http_method("POST")
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
        g.put_integration()
            .rest_api_id(&s.api_id)
            .resource_id(&orders)
            .http_method("POST")
            .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
            .send()
            .await
            .unwrap();
    });
    not_in_force_until_deployed(&s, "its method POST /orders");
    fails_only(
        &s,
        &s.api.0,
        None,
        "call_api",
        "uses authorization NONE, not AWS_IAM",
    );
}

#[test]
fn the_api_emulator_refuses_a_wrong_signature() {
    let s = Setup::new();
    let sb = sandbox();
    // a session of the target role, as the chain would have it
    let (status, body) = rt().block_on(async {
        use aws_config::{BehaviorVersion, Region};
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(s.region.clone()))
            .endpoint_url(&sb.gateway)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await;
        let sts = aws_sdk_sts::Client::new(&base);
        let src = sts
            .assume_role()
            .role_arn(&s.source_arn)
            .role_session_name("wl")
            .send()
            .await
            .unwrap();
        let c = src.credentials().unwrap();
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(s.region.clone()))
            .endpoint_url(&sb.gateway)
            .credentials_provider(aws_credential_types::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "src",
            ))
            .load()
            .await;
        let t = aws_sdk_sts::Client::new(&conf)
            .assume_role()
            .role_arn(s.target_arn(&s.api))
            .role_session_name("wl")
            .send()
            .await
            .unwrap();
        let tc = t.credentials().unwrap();
        // signed with a secret that is not the session's
        let host = format!("{}.execute-api.{}.amazonaws.com", s.api_id, s.region);
        let url = format!("https://{host}/prod/orders/x");
        let identity = aws_credential_types::Credentials::new(
            tc.access_key_id(),
            "not-the-secret",
            Some(tc.session_token().to_string()),
            None,
            "bad",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&s.region)
            .name("execute-api")
            .time(std::time::SystemTime::now())
            .settings(aws_sigv4::http_request::SigningSettings::default())
            .build()
            .unwrap();
        let mut req = http::Request::builder()
            .method("GET")
            .uri(&url)
            .header("host", &host)
            .body(String::new())
            .unwrap();
        let signable = aws_sigv4::http_request::SignableRequest::new(
            "GET",
            url.as_str(),
            [("host", host.as_str())].into_iter(),
            aws_sigv4::http_request::SignableBody::Bytes(b""),
        )
        .unwrap();
        let (ins, _) = aws_sigv4::http_request::sign(signable, &params.into())
            .unwrap()
            .into_parts();
        ins.apply_to_request_http1x(&mut req);
        // raw HTTPS to the emulator with the API's host as SNI
        let pem = std::fs::read(&sb.ca_bundle).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(c.unwrap()).unwrap();
        }
        let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(sb.execute_api.as_str())
            .await
            .unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
            .connect(
                rustls::pki_types::ServerName::try_from(host.clone()).unwrap(),
                tcp,
            )
            .await
            .unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut head = "GET /prod/orders/x HTTP/1.1\r\n".to_string();
        for (k, v) in req.headers() {
            head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
        }
        head.push_str("connection: close\r\n\r\n");
        tls.write_all(head.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        (status, text)
    });
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("signature we calculated does not match"),
        "{body}"
    );
}

#[test]
fn destroy_leaves_the_source_role_as_it_was_apart_from_its_policy() {
    let s = Setup::new();
    let o = s.run(&["destroy", "-f", &s.f(), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    rt().block_on(async {
        let a = admin(&s.source_account, &s.region).await;
        let r = a
            .iam
            .get_role()
            .role_name(&s.source_role)
            .send()
            .await
            .unwrap();
        let role = r.role().unwrap();
        assert_eq!(role.arn(), s.source_arn);
        let trust = doc(role.assume_role_policy_document().unwrap());
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            "lambda.amazonaws.com"
        );
        let tags = a
            .iam
            .list_role_tags()
            .role_name(&s.source_role)
            .send()
            .await
            .unwrap();
        assert_eq!(tags.tags().len(), 1);
        assert_eq!(tags.tags()[0].key(), "team");
        let names = a
            .iam
            .list_role_policies()
            .role_name(&s.source_role)
            .send()
            .await
            .unwrap();
        assert_eq!(names.policy_names(), ["logs"]);
        // the target roles are gone
        let t = admin(&s.api.1, &s.region).await;
        assert!(t
            .iam
            .get_role()
            .role_name(s.target(&s.api.0))
            .send()
            .await
            .is_err());
    });
}

#[test]
fn a_missing_source_role_or_a_bucket_of_another_account_is_refused_before_any_write() {
    let s = Setup::new();
    // a file whose source role does not exist
    let missing = s
        .yaml()
        .replace(&s.source_role, "no-such-role")
        .replace(&s.fleet, &format!("{}x", s.fleet));
    let p = s.file.with_file_name("missing.yaml");
    std::fs::write(&p, missing).unwrap();
    let o = s.run(&["apply", "-f", &file_arg(&p), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("the source role") && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("never creates it"), "{err}");
    rt().block_on(async {
        let t = admin(&s.api.1, &s.region).await;
        let gone = t
            .iam
            .get_role()
            .role_name(format!("{}x-{}", s.fleet, s.api.0))
            .send()
            .await;
        assert!(gone.is_err(), "no write happened");
    });
    // the reports bucket listed under the CloudTrail environment's account
    let wrong = s.yaml().replace(
        &format!("{}/AWSLogs/{}/CloudTrail/*", s.trail_bucket, s.trail.1),
        &format!("{}/daily/*", s.bucket),
    );
    let p = s.file.with_file_name("wrong.yaml");
    std::fs::write(&p, wrong).unwrap();
    let o = s.run(&["plan", "-f", &file_arg(&p)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "bucket {} listed in environment {} is not a bucket of account {}",
            s.bucket, s.trail.0, s.trail.1
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "it belongs to account {} (environment {})",
            s.s3.1, s.s3.0
        )),
        "{err}"
    );
}

#[test]
fn an_entry_that_matches_no_object_fails_verify_with_words_that_say_so() {
    let s = Setup::new();
    rt().block_on(async {
        let t = admin(&s.s3.1, &s.region).await;
        t.s3.delete_object()
            .bucket(&s.bucket)
            .key("monthly/2026-11.csv")
            .send()
            .await
            .unwrap();
    });
    // the documents still allow it: check holds, verify finds nothing to read
    let (code, c) = s.check();
    assert_eq!(code, 0, "{c}");
    let (code, v) = s.verify();
    assert_eq!(code, 1, "{v}");
    let h = report_hop(&v, &s.s3.0, "get_object");
    assert_eq!(h["ok"], false, "{h}");
    assert!(
        words(h).contains(&format!(
            "arn:aws:s3:::{}/monthly/*: no object of bucket {} matches it",
            s.bucket, s.bucket
        )),
        "{h}"
    );
    assert_eq!(report_env(&v, &s.api.0)["ok"], true);
}

/// S3 answers a ranged GET of an empty object 416: verify reads an object with content when one
/// matches (a "folder" marker sorts first), and an empty one whole.
#[test]
fn an_empty_object_is_read_whole_and_one_with_content_is_preferred() {
    let s = Setup::new();
    let put_marker = async {
        let t = admin(&s.s3.1, &s.region).await;
        t.s3.put_object()
            .bucket(&s.bucket)
            .key("monthly/")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b""))
            .send()
            .await
            .unwrap();
    };
    rt().block_on(put_marker);
    let (code, v) = s.verify();
    assert_eq!(code, 0, "{v}");
    // the object with content is the one read, not the marker listed before it
    let h = report_hop(&v, &s.s3.0, "get_object");
    assert!(words(h).contains("/monthly/2026-11.csv"), "{h}");
    // only the empty marker matches now: it is read whole
    rt().block_on(async {
        let t = admin(&s.s3.1, &s.region).await;
        let listed =
            t.s3.list_objects_v2()
                .bucket(&s.bucket)
                .prefix("monthly/")
                .send()
                .await
                .unwrap();
        for o in listed.contents() {
            let k = o.key().unwrap();
            if k != "monthly/" {
                t.s3.delete_object()
                    .bucket(&s.bucket)
                    .key(k)
                    .send()
                    .await
                    .unwrap();
            }
        }
    });
    let (code, v) = s.verify();
    assert_eq!(code, 0, "{v}");
    let h = report_hop(&v, &s.s3.0, "get_object");
    let read = h["detail"].as_str().unwrap();
    assert!(read.split("; ").any(|l| l.ends_with("/monthly/")), "{h}");
}

/// CloudTrail encrypts log files with the trail's key whatever the bucket's default, and any writer
/// may choose its key per object: the key of the newest objects an entry names is granted too (the
/// plan after a new key appears updates the target role's policy), proven, and works live.
#[test]
fn the_key_that_encrypts_the_objects_is_granted_not_only_the_bucket_default() {
    let s = Setup::new();
    let key2 = rt().block_on(async {
        let t = admin(&s.trail.1, &s.region).await;
        let k = t
            .kms
            .create_key()
            .policy(root_key_policy(&s.trail.1))
            .send()
            .await
            .unwrap();
        let arn = k.key_metadata().unwrap().arn().unwrap().to_string();
        // the newest log file, encrypted with the trail's own key (S3 reports its ARN)
        t.s3.put_object()
            .bucket(&s.trail_bucket)
            .key(format!(
                "AWSLogs/{}/CloudTrail/{}/2026/11/29/log.json.gz",
                s.trail.1, s.region
            ))
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"sample"))
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            .ssekms_key_id(&arn)
            .send()
            .await
            .unwrap();
        arn
    });
    let o = s.run(&["plan", "-f", &s.f(), "--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = plan.to_string();
    assert!(text.contains(&key2) && text.contains(&s.key_arn), "{text}");
    let o = s.run(&["apply", "-f", &s.f(), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = s.run(&["plan", "-f", &s.f(), "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let (code, c) = s.check();
    assert_eq!(code, 0, "{c}");
    let h = report_hop(&c, &s.trail.0, "get_object");
    assert!(words(h).contains(&format!("decrypt with {key2}")), "{h}");
    let (code, v) = s.verify();
    assert_eq!(code, 0, "{v}");
}

/// A key in an account outside the file (an organization trail's key in a security account): its
/// policy cannot be read across accounts, so the hop is `?` naming the key, its account and the
/// statement its policy must hold, and the other environments are still proven.
#[test]
fn a_key_in_an_account_outside_the_file_makes_the_hop_depend_on_its_policy() {
    let s = Setup::new();
    let security = account();
    let key3 = rt().block_on(async {
        let sec = admin(&security, &s.region).await;
        let k = sec
            .kms
            .create_key()
            .policy(root_key_policy(&security))
            .send()
            .await
            .unwrap();
        let arn = k.key_metadata().unwrap().arn().unwrap().to_string();
        let t = admin(&s.trail.1, &s.region).await;
        t.s3.put_object()
            .bucket(&s.trail_bucket)
            .key(format!(
                "AWSLogs/{}/CloudTrail/{}/2026/11/30/log.json.gz",
                s.trail.1, s.region
            ))
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"sample"))
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            .ssekms_key_id(&arn)
            .send()
            .await
            .unwrap();
        arn
    });
    let o = s.run(&["apply", "-f", &s.f(), "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (code, c) = s.check();
    assert_eq!(code, 1, "{c}");
    let h = report_hop(&c, &s.trail.0, "get_object");
    assert_eq!(h["ok"], false, "{h}");
    let deps: Vec<&str> = h["depends_on"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    assert_eq!(deps, [format!("the key policy of {key3}")], "{h}");
    let w = words(h);
    assert!(
        w.contains(&security) && w.contains("kms:Decrypt") && w.contains(&s.target_arn(&s.trail)),
        "{w}"
    );
    for e in [&s.api.0, &s.s3.0] {
        assert_eq!(report_env(&c, e)["ok"], true, "check {e}: {c}");
    }
    let o = s.run(&["check", "-f", &s.f()]);
    assert!(stdout(&o).contains('?'), "{}", stdout(&o));
}

/// A bucket in another region than the fleet's: every S3 call for it goes to the bucket's region
/// (found once with HeadBucket), as S3 redirects (301) a request signed for another region and the
/// SDK does not follow; plan, apply, check and verify all work through a proxy that redirects as
/// S3 does.
#[test]
fn a_bucket_in_another_region_is_called_in_its_region() {
    use crate::common::injector::{Config, Injector};
    let s = Setup::new();
    let other = ["eu-west-1", "us-east-2", "ap-northeast-1"]
        .into_iter()
        .find(|r| *r != s.region)
        .unwrap();
    let bucket = name("reports-far-");
    rt().block_on(async {
        let b = admin(&s.s3.1, other).await.s3;
        create_bucket(&b, &bucket, other).await;
        put(&b, &bucket, "weekly/2026-48.csv").await;
    });
    let yaml = s.yaml().replace(
        "      - arn:aws:s3:::",
        &format!("      - {bucket}/weekly/*\n      - arn:aws:s3:::"),
    );
    assert!(yaml.contains(&bucket));
    let file = s.file.with_file_name("far.yaml");
    std::fs::write(&file, yaml).unwrap();
    let inj = Injector::start(
        moto(),
        Config {
            bucket_regions: vec![(bucket.clone(), other.to_string())],
            ..Config::default()
        },
    );
    let f = file_arg(&file);
    for (args, code) in [
        (vec!["apply", "-f", &f, "--auto-approve"], 0),
        (vec!["plan", "-f", &f, "--detailed-exitcode"], 0),
        (vec!["check", "-f", &f, "--json", "--env", &s.s3.0], 0),
        // (the objects' environment: the API emulator is the sandbox's, not behind this proxy)
        (
            vec![
                "verify",
                "-f",
                &f,
                "--assume-source",
                "--json",
                "--env",
                &s.s3.0,
            ],
            0,
        ),
    ] {
        let o = xacct_at(&inj.url, &args, None);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?}: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    assert!(
        inj.counters
            .redirects
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0,
        "the proxy redirected the first request for the bucket"
    );
}

/// A bucket policy conditioned on the caller's organization (`aws:PrincipalOrgID`), the usual data
/// perimeter: while the account's organization is unknown (DescribeOrganization refused: the
/// account is in none) the hop depends on the key (`?`); once the account is in an organization
/// xacct knows it (DescribeOrganization works from a member account) and proves the hop, and a
/// policy naming another organization is ✗. (Only check: moto evaluates a bucket policy's Deny
/// without any request context, so it refuses this GetObject whatever the caller's organization.)
#[test]
fn a_bucket_policy_conditioned_on_the_organization_holds_once_the_organization_is_known() {
    let s = Setup::new();
    let perimeter = |org: &str| {
        json!({"Version":"2012-10-17","Statement":[{"Sid":"OrgOnly","Effect":"Deny","Principal":"*","Action":"s3:GetObject",
            "Resource":format!("arn:aws:s3:::{}/*", s.bucket),
            "Condition":{"StringNotEquals":{"aws:PrincipalOrgID":org}}}]})
        .to_string()
    };
    let put_policy = |doc: String| {
        rt().block_on(async {
            admin(&s.s3.1, &s.region)
                .await
                .s3
                .put_bucket_policy()
                .bucket(&s.bucket)
                .policy(doc)
                .send()
                .await
                .unwrap();
        })
    };
    put_policy(perimeter("o-abcdef1234"));
    let (code, c) = s.check();
    assert_eq!(code, 1, "{c}");
    let h = report_hop(&c, &s.s3.0, "get_object");
    assert_eq!(h["depends_on"], json!(["aws:PrincipalOrgID"]), "{h}");
    let org = rt().block_on(async { new_organization(moto(), &s.s3.1, &s.region).await.id });
    put_policy(perimeter(&org));
    let (code, c) = s.check();
    assert_eq!(code, 0, "{c}");
    put_policy(perimeter("o-elsewhere0"));
    let (code, c) = s.check();
    assert_eq!(code, 1, "{c}");
    let h = report_hop(&c, &s.s3.0, "get_object");
    assert!(h.get("depends_on").is_none(), "{h}");
    assert!(words(h).contains("denies s3:GetObject"), "{h}");
    for e in [&s.api.0, &s.trail.0] {
        assert_eq!(report_env(&c, e)["ok"], true, "{e}: {c}");
    }
}

/// A deployment the sandbox did not see being made (straight on moto, as `sandbox up --bootstrap`
/// makes the demo's, or before the sandbox started): the sandbox takes the API as it is when first
/// asked about it as what is deployed, so the stage is judged (✓), never left unknown (`?`).
#[test]
fn a_deployment_made_before_the_sandbox_saw_it_is_judged() {
    let s = Setup::new();
    rt().block_on(async {
        let conf = admin_config(moto(), &s.api.1, &s.region).await;
        aws_sdk_apigateway::Client::new(&conf)
            .create_deployment()
            .rest_api_id(&s.api_id)
            .stage_name("prod")
            .send()
            .await
            .unwrap();
    });
    let (code, c) = s.check();
    assert_eq!(code, 0, "{c}");
    let h = report_hop(&c, &s.api.0, "call_api");
    assert!(h.get("depends_on").is_none(), "{h}");
    let (code, v) = s.verify();
    assert_eq!(code, 0, "{v}");
}
