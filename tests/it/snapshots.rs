//! Snapshots of what people read: the human plan, check and verify outputs (no colour), built from
//! fixed inputs through the library, so a change in what users see is reviewed as a diff.

use serde_json::json;
use std::path::Path;
use xacct::check::{desired_facts, prove, render_human as check_human};
use xacct::model::{IamRole, IamRolePolicy, Live, Spec};
use xacct::plan::render::{human, Style};
use xacct::plan::{diff, Mode, Plan, Snapshot};
use xacct::verify::{render_human as verify_human, EnvOutcome, Hop, HopOutcome, Invocation};

const FILE: &str = r#"fleet: telemetry
region: ap-northeast-1
iot:
  account: "111111111111"
  certificates: ["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
environments:
  prd:
    account: "222222222222"
    functions: [ingest, alerts]
  stg: { account: "333333333333", functions: [ingest] }
"#;

fn cfg() -> xacct::config::Config {
    xacct::config::parse(Path::new("fleet.yaml"), FILE).unwrap()
}

const PLAIN: Style = Style { color: false };

#[test]
fn plan_human_output() {
    let c = cfg();
    let desired = xacct::desired::desired(&c);
    // live: the IoT account applied; prd trusts the whole IoT account; stg missing
    let mut snap = Snapshot::default();
    for r in desired
        .iter()
        .filter(|r| r.addr.env.as_deref() != Some("stg"))
    {
        let mut spec = r.spec.clone();
        if r.addr.env.as_deref() == Some("prd") {
            if let Spec::IamRole(IamRole {
                assume_role_policy, ..
            }) = &mut spec
            {
                *assume_role_policy = json!({"Version":"2012-10-17","Statement":[{"Sid":"IotDeviceRole","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]});
            }
        }
        if let Spec::IamRolePolicy(IamRolePolicy {
            role_name, policy, ..
        }) = &mut spec
        {
            if role_name == "telemetry-device" {
                *policy = json!({"Version":"2012-10-17","Statement":[{"Sid":"AssumeTargetRoles","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::222222222222:role/telemetry-prd"}]});
            }
        }
        if matches!(spec, Spec::IotPolicyAttachment(_)) {
            continue;
        }
        snap.live.insert(r.addr.clone(), Live { spec, arn: None });
    }
    let plan = Plan {
        format_version: "1".into(),
        mode: Mode::Apply,
        config: c.clone(),
        selected: vec![],
        changes: diff(&c, &desired, &snap),
        untouched: vec![],
        prior_fingerprint: snap.fingerprint(),
        discovered: Default::default(),
    };
    insta::assert_snapshot!("plan_human", human(&plan, PLAIN));
}

#[test]
fn check_human_output() {
    let c = cfg();
    let mut f = desired_facts(&c);
    let t = f.targets.get_mut("stg").unwrap().as_mut().unwrap();
    t.trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/other"},"Action":"sts:AssumeRole"}]});
    insta::assert_snapshot!("check_human", check_human(&prove(&c, &f, &[]), PLAIN));
}

#[test]
fn verify_human_output() {
    // built with the constructors the command uses: an environment passes only when all its hops do
    let mut failing = HopOutcome::finished(Hop::AssumeRole, false, 41, "AssumeRole denied: arn:aws:iam::333333333333:role/telemetry-stg may not be assumed with the IoT role's credentials (AccessDenied)".into());
    failing.cause = vec!["the trust policy of telemetry-stg does not name arn:aws:iam::111111111111:role/telemetry-device".into()];
    let outcomes = vec![
        EnvOutcome::from_hops(
            "prd",
            "222222222222",
            vec![
                HopOutcome::finished(Hop::Credentials, true, 312, "ok".into()),
                HopOutcome::finished(Hop::AssumeRole, true, 95, "ok".into()),
                HopOutcome::finished(Hop::Invoke, true, 120, "ok".into()),
            ],
            vec![Invocation {
                function: "arn:aws:lambda:ap-northeast-1:222222222222:function:ingest".into(),
                status: Some(200),
                function_error: None,
                payload_excerpt: "{\"source\":\"xacct verify\"}".into(),
            }],
        ),
        EnvOutcome::from_hops(
            "stg",
            "333333333333",
            vec![
                HopOutcome::finished(Hop::Credentials, true, 298, "ok".into()),
                failing,
                HopOutcome::not_reached(Hop::Invoke),
            ],
            vec![],
        ),
    ];
    assert!(outcomes[0].ok && !outcomes[1].ok);
    insta::assert_snapshot!("verify_human", verify_human(&outcomes, PLAIN));
}
