//! Runs every case of tests/policy_corpus/*.json through `xacct_policy::eval`.
//!
//! Corpus file format: `{"description": "...", "cases": [case, ...]}`. A case has an `id`, a
//! `doc` (the documented behaviour it checks), the fields of `Case` (`principal`, `action`,
//! `resource`, `identity_policies`, `resource_policy`, `context`) and either
//! `"expect": {"decision": "...", "statements": [...]?}` or `"expect_error": true`.
//! An optional `mode` selects the entry point: `"evaluate"` (default), `"identity"`
//! (`evaluate_identity` over `identity_policies`), or `"parse"` (`parse_policy` on `document`,
//! with `expect_error` or `"expect": {"ok": true}`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde_json::{Map, Value};
use xacct_policy::eval::*;

const MIN_CASES: usize = 150;

fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/policy_corpus"))
}

fn load_corpus() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/policy_corpus must exist")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files found");
    let mut cases = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let list = v
            .get("cases")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{name}: needs a \"cases\" array"));
        for c in list {
            cases.push((name.clone(), c.clone()));
        }
    }
    cases
}

/// What a case produced, in the shape of its expectation.
fn run_case(case: &Value) -> Result<Value, String> {
    let mode = case
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("evaluate");
    match mode {
        "evaluate" => {
            let c: Case =
                serde_json::from_value(case.clone()).map_err(|e| format!("bad case: {e}"))?;
            let out = evaluate(&c).map_err(|e| e.to_string())?;
            Ok(serde_json::to_value(out).unwrap())
        }
        "identity" => {
            let policies = case
                .get("identity_policies")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ctx = case
                .get("context")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_else(Map::new);
            let action = case
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let resource = case
                .get("resource")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let out =
                evaluate_identity(&policies, action, resource, &ctx).map_err(|e| e.to_string())?;
            Ok(serde_json::to_value(out).unwrap())
        }
        "parse" => {
            let doc = case.get("document").cloned().unwrap_or(Value::Null);
            parse_policy(&doc).map_err(|e| e.to_string())?;
            Ok(serde_json::json!({"ok": true}))
        }
        other => Err(format!("unknown mode {other:?}")),
    }
}

fn sorted_strings(v: &Value) -> Option<Vec<String>> {
    let mut out: Vec<String> = v
        .as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect::<Option<_>>()?;
    out.sort();
    Some(out)
}

/// `None` when the result satisfies the expectation, else a description of the difference.
fn check(case: &Value, got: &Result<Value, String>) -> Option<(String, String)> {
    let expect_error = case.get("expect_error").and_then(Value::as_bool) == Some(true);
    if expect_error {
        return match got {
            Err(_) => None,
            Ok(v) => Some(("an error".to_string(), v.to_string())),
        };
    }
    let Some(expect) = case.get("expect") else {
        return Some((
            "an \"expect\" or \"expect_error\" field".to_string(),
            "none".to_string(),
        ));
    };
    let got_v = match got {
        Ok(v) => v,
        Err(e) => return Some((expect.to_string(), format!("error: {e}"))),
    };
    if let Some(ok) = expect.get("ok") {
        return (got_v.get("ok") != Some(ok)).then(|| (expect.to_string(), got_v.to_string()));
    }
    let mut mismatch = got_v.get("decision") != expect.get("decision");
    if let Some(st) = expect.get("statements") {
        mismatch |= sorted_strings(st) != got_v.get("statements").and_then(sorted_strings);
    }
    if let Some(org) = expect.get("organization") {
        mismatch |= got_v.get("organization").unwrap_or(&Value::Array(vec![])) != org;
    }
    mismatch.then(|| (expect.to_string(), got_v.to_string()))
}

#[test]
fn corpus_cases_match_expectations() {
    let cases = load_corpus();
    let mut per_file: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = HashSet::new();
    let mut failures = Vec::new();
    for (file, case) in &cases {
        *per_file.entry(file.clone()).or_default() += 1;
        let id = case
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("<missing id>")
            .to_string();
        if !ids.insert(id.clone()) {
            failures.push(format!("{file}: duplicate case id {id}"));
        }
        if case
            .get("doc")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            failures.push(format!("{file}: {id}: missing \"doc\""));
        }
        let got = run_case(case);
        if let Some((expected, actual)) = check(case, &got) {
            failures.push(format!(
                "{file}: {id}\n    expected: {expected}\n    got:      {actual}"
            ));
        }
    }
    assert!(
        cases.len() >= MIN_CASES,
        "corpus holds {} cases, at least {MIN_CASES} required ({per_file:?})",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn batch_keeps_order_and_isolates_malformed_cases() {
    let input = serde_json::json!([
        {
            "principal": "arn:aws:iam::111111111111:role/a",
            "action": "lambda:InvokeFunction",
            "resource": "arn:aws:lambda:ap-northeast-1:111111111111:function:f",
            "identity_policies": [{"Version": "2012-10-17", "Statement": {"Sid": "Inv", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}}]
        },
        {
            "principal": "arn:aws:iam::111111111111:role/a",
            "action": "lambda:InvokeFunction",
            "resource": "arn:aws:lambda:ap-northeast-1:111111111111:function:f",
            "identity_policies": [{"Statement": {"Effect": "Permit", "Action": "*", "Resource": "*"}}]
        },
        {"principal": "x"},
        {
            "principal": "arn:aws:iam::111111111111:role/a",
            "action": "lambda:InvokeFunction",
            "resource": "arn:aws:lambda:ap-northeast-1:111111111111:function:f"
        }
    ]);
    let out = evaluate_batch(&input.to_string()).expect("array input");
    let arr = out.as_array().expect("array output");
    assert_eq!(arr.len(), 4);
    assert_eq!(arr[0]["decision"], "Allow");
    assert_eq!(arr[0]["statements"], serde_json::json!(["identity[0].Inv"]));
    let err = arr[1]["error"].as_str().expect("error slot");
    assert!(
        err.contains("identity[0]") && err.contains("Effect"),
        "{err}"
    );
    assert!(arr[2]["error"].is_string());
    assert_eq!(arr[3]["decision"], "ImplicitDeny");
    assert!(evaluate_batch("{\"principal\": \"x\"}").is_err());
    assert!(evaluate_batch("not json").is_err());
    assert_eq!(evaluate_batch("[]").unwrap(), serde_json::json!([]));
}

#[test]
fn error_messages_name_policy_and_statement() {
    let case = Case {
        principal: "arn:aws:iam::111111111111:role/a".into(),
        action: "sts:AssumeRole".into(),
        resource: "arn:aws:iam::222222222222:role/b".into(),
        identity_policies: vec![
            serde_json::json!({"Version": "2012-10-17", "Statement": []}),
            serde_json::json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Ok", "Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Sid": "Bad", "Effect": "Allow", "Action": "*", "Resource": "*",
                 "Condition": {"StringEqualz": {"aws:username": "x"}}}
            ]}),
        ],
        resource_policy: None,
        context: Map::new(),
        permissions_boundary: None,
        ..Default::default()
    };
    let msg = evaluate(&case).unwrap_err().to_string();
    assert!(msg.contains("identity[1]"), "{msg}");
    assert!(msg.contains("Bad"), "{msg}");
    assert!(msg.contains("StringEqualz"), "{msg}");

    let case = Case {
        identity_policies: vec![],
        resource_policy: Some(serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole"}
        ]})),
        ..case
    };
    let msg = evaluate(&case).unwrap_err().to_string();
    assert!(msg.starts_with("resource"), "{msg}");
    assert!(msg.contains("Principal"), "{msg}");
}

#[test]
fn parse_policy_reports_kind() {
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": {"Service": "credentials.iot.amazonaws.com"}, "Action": "sts:AssumeRole"}});
    assert_eq!(parse_policy(&trust).unwrap().kind, PolicyKind::Resource);
    let ident = serde_json::json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}});
    let p = parse_policy(&ident).unwrap();
    assert_eq!(p.kind, PolicyKind::Identity);
    assert!(p.supports_variables());
    assert_eq!(p.statements.len(), 1);
}
