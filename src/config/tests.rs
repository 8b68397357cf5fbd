//! Unit tests of the environment file: parsing, the semantic rules and their error positions.
use super::*;

const GOOD: &str = r#"fleet: telemetry
region: ap-northeast-1
iot:
  account: "111111111111"
  credential_duration: 7200
environments:
  prd:
    account: "222222222222"
    functions: [ingest, "arn:aws:lambda:ap-northeast-1:222222222222:function:alerts"]
  stg: { account: "333333333333", functions: [ingest] }
"#;

fn problems(text: &str) -> Vec<Problem> {
    parse(Path::new("f.yaml"), text).unwrap_err().problems
}

#[test]
fn defaults_are_derived_from_the_fleet() {
    let c = parse(Path::new("f.yaml"), GOOD).unwrap();
    assert_eq!(c.iot().unwrap().role_name, "telemetry-device");
    assert_eq!(c.iot().unwrap().policy_name, "telemetry-device-credentials");
    assert_eq!(c.environments[0].role_name, "telemetry-prd");
    assert_eq!(
        c.environments[0].functions[0],
        "arn:aws:lambda:ap-northeast-1:222222222222:function:ingest"
    );
    assert_eq!(c.iot_max_session(), 7200);
    assert_eq!(
        c.alias_arn(c.iot().unwrap()),
        "arn:aws:iot:ap-northeast-1:111111111111:rolealias/telemetry-device"
    );
}

#[test]
fn function_arn_in_another_account_points_at_its_line() {
    let text = GOOD.replace(
        "222222222222:function:alerts",
        "999999999999:function:alerts",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].rule, "function-account");
    assert_eq!(p[0].pos.line, 9);
    assert_eq!(p[0].pos.col, 25);
}

#[test]
fn several_problems_are_reported_together() {
    let text = GOOD
        .replace("\"333333333333\"", "\"3333\"")
        .replace("7200", "60");
    let p = problems(&text);
    let rules: Vec<&str> = p.iter().map(|p| p.rule).collect();
    assert_eq!(rules, vec!["duration", "account-id"]);
}

#[test]
fn environment_names_follow_iam_role_name_rules() {
    let text = GOOD.replace("  stg: {", "  stg.eu@2: {");
    let c = parse(Path::new("f.yaml"), &text).unwrap();
    assert_eq!(c.environments[1].role_name, "telemetry-stg.eu@2");
    let p = problems(&GOOD.replace("  stg: {", "  \"stg/eu\": {"));
    assert_eq!(p[0].rule, "environment-name");
}

#[test]
fn unknown_key_has_a_location() {
    let text = GOOD.replace("  credential_duration", "  credentail_duration");
    let p = problems(&text);
    assert_eq!(p[0].rule, "unknown-key");
    assert_eq!(p[0].pos.line, 5);
}

#[test]
fn apis_and_objects_take_the_long_and_the_short_form() {
    let text = "fleet: r\nregion: eu-west-1\nsource: {account: \"111111111111\", role: \"arn:aws:iam::111111111111:role/a/b/fn\"}\nenvironments:\n  e:\n    account: \"222222222222\"\n    apis: [\"arn:aws:execute-api:eu-west-1:222222222222:abc123/prod/*/items/*\", \"abc123/v1/GET/\"]\n    objects: [\"arn:aws:s3:::my.bucket-1/logs/*\", \"b12/k\"]\n";
    let c = parse(Path::new("f.yaml"), text).unwrap();
    let src = c.source_role().unwrap();
    assert_eq!(src.role_name, "fn");
    assert_eq!(c.origin_role_arn(), "arn:aws:iam::111111111111:role/a/b/fn");
    let t = &c.environments[0];
    assert_eq!(t.apis[0].method, "*");
    assert_eq!(t.apis[0].path, "items/*");
    assert_eq!(
        t.apis[1].arn,
        "arn:aws:execute-api:eu-west-1:222222222222:abc123/v1/GET/"
    );
    assert_eq!(t.apis[1].path, "");
    assert_eq!(t.objects[0].bucket, "my.bucket-1");
    assert_eq!(t.objects[0].list_prefix(), "logs/");
    assert_eq!(t.objects[1].arn, "arn:aws:s3:::b12/k");
    assert_eq!(t.objects[1].list_prefix(), "k");
    assert!(t.functions.is_empty());
    // neither iot nor source
    let p = problems("fleet: r\nregion: eu-west-1\nenvironments:\n  e: {account: \"222222222222\", functions: [f]}\n");
    assert_eq!(p[0].rule, "missing-key");
    assert!(p[0].message.contains("neither `iot:` nor `source:`"));
    // bucket names by S3's rules
    for bad in [
        "ab",
        "192.168.1.1",
        "a..b",
        "xn--abc",
        "Abc",
        "abc-",
        "x-s3alias",
    ] {
        assert!(!valid_bucket_name(bad), "{bad}");
    }
    assert!(valid_bucket_name("audit-logs.123"));
}
