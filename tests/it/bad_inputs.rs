//! The bad-input corpus: every file under tests/bad-inputs/ must be refused by `validate` and by
//! `plan` with exit 1, a `file:line:column` location, the rule's name, and zero AWS requests.
//! Each file's expected rule and position are listed here, next to the file name.

use crate::common::*;

const CASES: &[(&str, &str, &str)] = &[
    ("01-unknown-top-key.yaml", "unknown-key", "3:1"),
    ("02-unknown-env-key.yaml", "unknown-key", "8:5"),
    ("03-duplicate-key.yaml", "duplicate-key", "5:3"),
    (
        "04-duplicate-environment.yaml",
        "duplicate-environment",
        "8:3",
    ),
    ("05-account-short.yaml", "account-id", "4:12"),
    ("06-account-number.yaml", "account-id", "7:14"),
    ("07-function-other-account.yaml", "function-account", "8:25"),
    ("08-function-other-region.yaml", "function-region", "9:9"),
    ("09-function-arn-malformed.yaml", "function-arn", "8:17"),
    ("10-function-name.yaml", "function-name", "8:25"),
    ("11-role-name-chars.yaml", "role-name", "5:14"),
    ("12-role-name-long.yaml", "role-name", "8:16"),
    ("13-alias-name.yaml", "alias-name", "5:15"),
    ("14-policy-name.yaml", "policy-name", "5:16"),
    ("15-duration-low.yaml", "duration", "5:24"),
    ("16-duration-high.yaml", "duration", "5:24"),
    ("17-role-chaining.yaml", "role-chaining", "8:23"),
    ("18-duplicate-role.yaml", "duplicate-role", "7:46"),
    ("19-no-environments.yaml", "no-environments", "5:15"),
    ("20-broken-yaml.yaml", "yaml-syntax", "6:54"),
    ("21-wrong-type.yaml", "wrong-type", "8:16"),
    ("22-empty.yaml", "empty-file", "1:1"),
    ("23-missing-region.yaml", "missing-key", "1:1"),
    ("24-region.yaml", "region", "2:9"),
    ("25-assume-role-account.yaml", "assume-role-account", "8:18"),
    ("26-certificate-id.yaml", "certificate-id", "5:18"),
    ("27-environment-name.yaml", "environment-name", "6:14"),
    ("28-fleet-name.yaml", "fleet-name", "1:8"),
    ("29-no-functions.yaml", "no-targets", "6:46"),
    ("30-assume-role-arn.yaml", "assume-role-arn", "5:16"),
    ("31-not-a-mapping.yaml", "wrong-type", "1:1"),
    ("32-duplicate-function.yaml", "duplicate-function", "8:25"),
    ("33-indentation.yaml", "indentation", "6:4"),
    ("34-second-document.yaml", "multiple-documents", "7:1"),
    ("35-not-utf8.yaml", "encoding", "6:53"),
    ("36-empty-value.yaml", "empty-value", "5:1"),
    ("37-account-unquoted.yaml", "account-id", "4:12"),
    ("38-iot-and-source.yaml", "iot-and-source", "5:1"),
    ("39-source-role-account.yaml", "source-role-account", "5:9"),
    ("40-api-other-account.yaml", "api-account", "10:9"),
    ("41-api-method.yaml", "api-method", "9:12"),
    ("42-bucket-name.yaml", "bucket-name", "10:9"),
    ("43-object-key.yaml", "object-key", "9:15"),
    ("44-source-role-arn.yaml", "source-role-arn", "5:9"),
    ("45-api-region.yaml", "api-region", "9:12"),
    ("46-direct-with-apis.yaml", "direct-mode", "8:11"),
    ("47-devices-both.yaml", "devices", "8:14"),
    ("48-devices-in-source-file.yaml", "devices", "9:14"),
    (
        "49-credentials-endpoint.yaml",
        "credentials-endpoint",
        "5:25",
    ),
    // the tab is on line 5; YAML's parser alone reports line 6 as an indentation mismatch
    ("50-tab-indentation.yaml", "tab-indentation", "5:1"),
    // IAM role names are case-insensitive: `Shared` and `shared` are one role
    ("51-duplicate-role-case.yaml", "duplicate-role", "7:46"),
    // a gated environment's derived IoT role `telemetry-prd-device` against a role of that account
    ("52-duplicate-derived-role.yaml", "duplicate-role", "6:3"),
    // a gated environment named `eu.prod` makes the role alias `telemetry-eu.prod`: IoT refuses `.`
    ("53-gated-alias-name.yaml", "alias-name", "6:3"),
    // mode: direct writes the statement `xacct-tele.metry`: Lambda refuses `.` in statement ids
    ("54-direct-statement-id.yaml", "statement-id", "1:8"),
];

#[test]
fn every_corpus_file_is_listed() {
    let dir = root().join("tests/bad-inputs");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let listed: Vec<String> = CASES.iter().map(|c| c.0.to_string()).collect();
    assert_eq!(files, listed);
    assert!(CASES.len() >= 20);
}

#[test]
fn bad_inputs_are_refused_with_location_and_rule_and_no_request() {
    let trip = Tripwire::new();
    let mut failures = Vec::new();
    for (file, rule, at) in CASES {
        let path = root().join("tests/bad-inputs").join(file);
        let p = path.to_string_lossy().into_owned();
        for cmd in [
            vec!["validate", "-f", &p],
            vec!["plan", "-f", &p],
            vec!["apply", "-f", &p, "--auto-approve"],
        ] {
            let o = xacct_at(&trip.url, &cmd, None);
            let err = stderr(&o);
            let want = format!("{p}:{at}: ");
            if o.status.code() != Some(1)
                || !err.contains(&want)
                || !err.contains(&format!("[{rule}]"))
                || !err.contains("help: ")
            {
                failures.push(format!(
                    "{cmd:?}: exit {:?}, wanted {want}…[{rule}], got:\n{err}",
                    o.status.code()
                ));
            }
            if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
                failures.push(format!("{cmd:?} panicked:\n{err}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        trip.count(),
        0,
        "a bad input must not cause any AWS request"
    );
}

#[test]
fn a_directory_or_missing_file_is_refused_without_requests() {
    let trip = Tripwire::new();
    let dir = root().join("tests/bad-inputs");
    let d = dir.to_string_lossy().into_owned();
    let o = xacct_at(&trip.url, &["plan", "-f", &d], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("{d}:1:1: is a directory")),
        "{}",
        stderr(&o)
    );
    let missing = dir.join("does-not-exist.yaml");
    let m = missing.to_string_lossy().into_owned();
    let o = xacct_at(&trip.url, &["validate", "-f", &m], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    assert_eq!(trip.count(), 0);
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let dir = std::env::temp_dir().join(name("xacct-bad-"));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("many.yaml");
    std::fs::write(
        &f,
        "fleet: t\nregion: eu-west-1\niot:\n  account: \"1\"\n  credential_duration: 1\nenvironments:\n  a: { account: \"222222222222\", functions: [\"arn:aws:lambda:eu-west-1:333333333333:function:x\"] }\n",
    )
    .unwrap();
    let o = xacct_at(
        "http://127.0.0.1:9",
        &["validate", "-f", &file_arg(&f)],
        None,
    );
    let err = stderr(&o);
    for rule in ["[account-id]", "[duration]", "[function-account]"] {
        assert!(err.contains(rule), "{rule} missing:\n{err}");
    }
}
