//! The ecosystem around the CLI: the JSON Schema of the environment file, completions, `init`, help
//! examples, and snapshots of what people read (plan, check, verify).

use crate::common::*;
use serde_json::Value;

fn schema() -> Value {
    let o = xacct_at("http://127.0.0.1:9", &["schema"], None);
    assert_eq!(o.status.code(), Some(0));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn validator(schema: &Value) -> (boon::Schemas, boon::SchemaIndex) {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("xacct-environment.schema.json", schema.clone())
        .unwrap();
    let idx = compiler
        .compile("xacct-environment.schema.json", &mut schemas)
        .unwrap();
    (schemas, idx)
}

fn yaml_json(path: &std::path::Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    yaml_serde::from_str::<Value>(&text).ok()
}

#[test]
fn the_committed_schema_is_the_generated_one_and_draft_2020_12() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/environment.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s, committed, "schema/environment.schema.json is stale: run `xacct schema > schema/environment.schema.json`");
    // descriptions and defaults come from the Rust types
    let text = s.to_string();
    assert!(text.contains("Prefix of every name xacct manages"));
    assert!(text.contains("\"default\":3600"));
}

#[test]
fn every_example_file_validates_against_the_schema_and_names_it() {
    let s = schema();
    let (schemas, idx) = validator(&s);
    let mut n = 0;
    for e in std::fs::read_dir(root().join("environments")).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schema/environment.schema.json"),
            "{} lacks the schema line",
            p.display()
        );
        let v = yaml_json(&p).unwrap();
        if let Err(e) = schemas.validate(&v, idx) {
            panic!("{} does not validate: {e}", p.display());
        }
        let o = xacct_at(
            "http://127.0.0.1:9",
            &["validate", "-f", &file_arg(&p)],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        n += 1;
    }
    assert!(n >= 2);
}

/// Bad inputs whose problem the schema itself can see.
const SCHEMA_ERRORS: &[&str] = &[
    "01-unknown-top-key.yaml",
    "02-unknown-env-key.yaml",
    "05-account-short.yaml",
    "06-account-number.yaml",
    "11-role-name-chars.yaml",
    "12-role-name-long.yaml",
    "13-alias-name.yaml",
    "14-policy-name.yaml",
    "15-duration-low.yaml",
    "16-duration-high.yaml",
    "17-role-chaining.yaml",
    "19-no-environments.yaml",
    "21-wrong-type.yaml",
    "23-missing-region.yaml",
    "24-region.yaml",
    "26-certificate-id.yaml",
    "28-fleet-name.yaml",
    "29-no-functions.yaml",
    "30-assume-role-arn.yaml",
    "31-not-a-mapping.yaml",
    "38-iot-and-source.yaml",
    "41-api-method.yaml",
    "42-bucket-name.yaml",
    "43-object-key.yaml",
    "44-source-role-arn.yaml",
    "47-devices-both.yaml",
    "49-credentials-endpoint.yaml",
];

#[test]
fn bad_inputs_that_are_schema_errors_fail_the_schema() {
    let s = schema();
    let (schemas, idx) = validator(&s);
    let mut passed = Vec::new();
    for f in SCHEMA_ERRORS {
        let v = yaml_json(&root().join("tests/bad-inputs").join(f)).unwrap();
        if schemas.validate(&v, idx).is_ok() {
            passed.push(*f);
        }
    }
    assert!(passed.is_empty(), "the schema accepts: {passed:?}");
}

#[test]
fn init_writes_a_commented_file_that_validates() {
    let dir = std::env::temp_dir().join(name("xacct-init-"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("fleet.yaml");
    let (iot, a, b) = (account(), account(), account());
    let o = xacct_at(
        "http://127.0.0.1:9",
        &[
            "init",
            "--fleet",
            "edge",
            "--iot-account",
            &iot,
            "--env",
            &format!("prd={a}"),
            "--env",
            &format!("qa={b}"),
            "--out",
            &file_arg(&out),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("# prefix of every name xacct manages"));
    assert!(text.contains(&format!("account: \"{b}\"")));
    let o = xacct_at(
        "http://127.0.0.1:9",
        &["validate", "-f", &file_arg(&out)],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 environment(s): prd, qa"));
    // never overwrites
    let o = xacct_at(
        "http://127.0.0.1:9",
        &[
            "init",
            "--fleet",
            "x",
            "--iot-account",
            &iot,
            "--env",
            "a=1",
            "--out",
            &file_arg(&out),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    // a bad account id is refused with the validation message
    let o = xacct_at(
        "http://127.0.0.1:9",
        &[
            "init",
            "--fleet",
            "x",
            "--iot-account",
            "12",
            "--env",
            &format!("a={a}"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("[account-id]"), "{}", stderr(&o));
}

#[test]
fn completions_and_help_examples() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = xacct_at("http://127.0.0.1:9", &["completions", shell], None);
        assert_eq!(o.status.code(), Some(0));
        let out = stdout(&o);
        assert!(
            out.contains("xacct") && out.contains("verify") && out.contains("detailed-exitcode"),
            "{shell}"
        );
    }
    let o = xacct_at("http://127.0.0.1:9", &["--help"], None);
    assert!(stdout(&o).contains("Examples:"));
    for cmd in [
        "validate",
        "plan",
        "apply",
        "destroy",
        "check",
        "lint",
        "verify",
        "creds",
        "schema",
        "completions",
        "init",
    ] {
        let o = xacct_at("http://127.0.0.1:9", &[cmd, "--help"], None);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            stdout(&o).contains("Example"),
            "`xacct {cmd} --help` shows no example"
        );
    }
    let o = xacct_at("http://127.0.0.1:9", &["sandbox", "up", "--help"], None);
    assert!(stdout(&o).contains("Example"));
    let o = xacct_at("http://127.0.0.1:9", &["policy", "eval", "--help"], None);
    assert!(stdout(&o).contains("Example"));
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, usize)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let n = std::fs::read_to_string(&p).unwrap().lines().count();
                out.push((p.display().to_string(), n));
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    walk(&root().join("crates"), &mut files);
    assert!(files.len() > 20);
    let long: Vec<_> = files.into_iter().filter(|(_, n)| *n > 1000).collect();
    assert!(long.is_empty(), "split these by concern: {long:?}");
}

/// GitHub removed the node20 runtime from its runners in September 2026: every JavaScript action the
/// CI example uses must be at a major that runs on node24 (actionlint, run by scripts/test, checks the
/// rest of the workflow).
#[test]
fn the_ci_example_uses_actions_that_run_on_node24() {
    let text = std::fs::read_to_string(root().join("examples/github-actions.yml")).unwrap();
    // the first major of each action whose action.yml declares `runs.using: node24`
    let node24 = [
        ("actions/checkout", 5),
        ("aws-actions/configure-aws-credentials", 6),
        ("actions/upload-artifact", 6),
    ];
    let mut seen = 0;
    for line in text.lines() {
        let Some(uses) = line.trim().trim_start_matches("- ").strip_prefix("uses: ") else {
            continue;
        };
        let (action, version) = uses.split_once('@').expect("an action with a version");
        if let Some((_, min)) = node24.iter().find(|(a, _)| *a == action) {
            let major: u32 = version
                .trim_start_matches('v')
                .split('.')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                major >= *min,
                "{action}@{version} runs on node20; use v{min} or later"
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 5,
        "the example's uses: lines were not found ({seen})"
    );
}

/// `--help` names every chain and target xacct serves; `sandbox --help` every emulator it runs.
#[test]
fn help_describes_every_chain_and_the_sandbox_every_emulator() {
    let o = xacct_at("http://127.0.0.1:9", &["--help"], None);
    let help = stdout(&o);
    for words in ["device", "workload", "Lambda", "API Gateway", "S3", "IoT"] {
        assert!(help.contains(words), "--help lacks {words}: {help}");
    }
    let o = xacct_at("http://127.0.0.1:9", &["sandbox", "--help"], None);
    let help = stdout(&o);
    for words in ["moto", "gateway", "credentials provider", "API Gateway"] {
        assert!(help.contains(words), "sandbox --help lacks {words}: {help}");
    }
}

/// `permissions --json` is the contract CI scripts read: per account of the file its access and one
/// policy document; `reach` the AssumeRole of each `assume_role`; no AWS call (a tripwire endpoint
/// counts any); a file with a mistake is refused with its line and nothing printed to stdout.
#[test]
fn permissions_json_names_each_account_its_access_and_policy_without_calling_aws() {
    let f = Fleet::new(3);
    let file = f.write();
    let trip = Tripwire::new();
    for command in [
        "plan",
        "apply",
        "destroy",
        "check",
        "verify",
        "device-config",
    ] {
        let o = xacct_at(
            &trip.url,
            &[
                "permissions",
                "-f",
                &file_arg(&file),
                "--for",
                command,
                "--json",
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["command"], command);
        // the base credentials reach exactly the accounts the command calls
        let reach = v["reach"]["Statement"][0]["Resource"].as_array().unwrap();
        let called: Vec<Value> = v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| Fleet::admin(a["account"].as_str().unwrap()).into())
            .collect();
        assert_eq!(reach, &called, "{command}");
        let expected = if command == "device-config" { 1 } else { 4 };
        assert_eq!(called.len(), expected, "{command}");
        for a in v["accounts"].as_array().unwrap() {
            assert!(a["access"]["assume_role"]
                .as_str()
                .unwrap()
                .ends_with(":role/Admin"));
            assert!(a["access"].get("profile").is_some());
            assert_eq!(a["policy"]["Version"], "2012-10-17");
            assert!(!a["policy"]["Statement"].as_array().unwrap().is_empty());
        }
    }
    let o = xacct_at(
        &trip.url,
        &["permissions", "-f", &file_arg(&file), "--json"],
        None,
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["command"], "apply", "apply is the default");
    let accounts: Vec<&str> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts.len(), 4, "{accounts:?}");
    let text = serde_json::to_string(&v).unwrap();
    assert!(text.contains(&format!(
        "arn:aws:iam::{}:role/{}-device",
        f.iot_account, f.fleet
    )));
    assert!(text.contains("iam:PassRole"));
    let bad = f.dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "fleet: x\nregion: eu-west-1\niot: {account: \"12\"}\nenvironments: {}\n",
    )
    .unwrap();
    let o = xacct_at(&trip.url, &["permissions", "-f", &file_arg(&bad)], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.yaml:3"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(trip.count(), 0, "no AWS call");
}
