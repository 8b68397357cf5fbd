//! Lint findings for the documents of a chain: what is broader than it needs to be, or fragile.

use crate::check::Facts;
use crate::config::{Config, ROLE_CHAINING_CAP};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub rule: &'static str,
    /// Which document: "trust policy of ROLE", "policy NAME of ROLE", "IoT policy NAME".
    pub document: String,
    /// Sid, or the statement's index.
    pub statement: String,
    pub message: String,
}

/// What kind of document is linted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Trust,
    Identity,
    IotPolicy,
}

/// Lint one document (decoded once into the typed policy the engine evaluates; a document that
/// does not parse has no findings here: `check` reports it as malformed).
pub fn lint_document(document: &str, doc: &Value, kind: DocKind) -> Vec<Finding> {
    use crate::policy::eval::{Effect, PrincipalElement, PrincipalSet, PrincipalType};
    let Ok(policy) = crate::policy::parse(doc) else {
        return vec![];
    };
    let mut out = Vec::new();
    for s in policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
    {
        let mut find = |severity, rule, message: String| {
            out.push(Finding {
                severity,
                rule,
                document: document.to_string(),
                statement: s.label(),
                message,
            })
        };
        if let Some(r) = s.resource.as_ref().filter(|r| !r.negated) {
            if r.values.iter().any(|r| r == "*") {
                find(
                    Severity::Error,
                    "resource-star",
                    "Allow on Resource \"*\": name the exact ARNs".into(),
                );
            }
        }
        if s.action.negated {
            find(
                Severity::Warning,
                "not-action-allow",
                "Allow with NotAction grants every other action, including future ones".into(),
            );
        }
        if s.resource.as_ref().is_some_and(|r| r.negated) {
            find(
                Severity::Warning,
                "not-resource-allow",
                "Allow with NotResource grants every other resource".into(),
            );
        }
        if !s.action.negated {
            for a in &s.action.values {
                if a.contains('*') || a.contains('?') {
                    find(
                        Severity::Warning,
                        "wildcard-action",
                        format!("wildcard action {a}: list the exact actions"),
                    );
                }
            }
        }
        if kind != DocKind::Trust {
            continue;
        }
        let of_type = |want: PrincipalType| -> Vec<String> {
            match &s.principal {
                Some(PrincipalElement {
                    negated: false,
                    set: PrincipalSet::Everyone,
                }) if want == PrincipalType::Aws => vec!["*".into()],
                Some(PrincipalElement {
                    negated: false,
                    set: PrincipalSet::Map(m),
                }) => m
                    .iter()
                    .filter(|(t, _)| *t == want)
                    .flat_map(|(_, v)| v.iter().cloned())
                    .collect(),
                _ => vec![],
            }
        };
        for p in &of_type(PrincipalType::Aws) {
            if p == "*" {
                find(
                    Severity::Error,
                    "trust-star",
                    "trust in \"*\": anyone may assume this role".into(),
                );
            } else if p.ends_with(":root")
                || (p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()))
            {
                find(
                    Severity::Warning,
                    "trust-root",
                    format!("trust in the whole account {p}: name the exact role ARN that assumes this role"),
                );
            } else if p.starts_with("AROA") || p.starts_with("AIDA") {
                find(
                    Severity::Error,
                    "deleted-principal",
                    format!("principal {p} is the unique id of a deleted role or user: nobody can assume through it; name the ARN again"),
                );
            }
        }
        let iot_service = of_type(PrincipalType::Service)
            .iter()
            .any(|x| x == "credentials.iot.amazonaws.com");
        let source_account = s
            .conditions
            .iter()
            .any(|c| c.key.eq_ignore_ascii_case("aws:SourceAccount"));
        if iot_service && !source_account {
            find(
                Severity::Error,
                "iot-trust-source-account",
                "credentials.iot.amazonaws.com is trusted without an aws:SourceAccount condition (confused deputy)".into(),
            );
        }
    }
    // in any statement, Deny included (where it matters most): a condition that can never hold
    for s in &policy.statements {
        for c in &s.conditions {
            if let Some(why) = c.type_mismatch() {
                out.push(Finding {
                    severity: Severity::Error,
                    rule: "condition-type-mismatch",
                    document: document.to_string(),
                    statement: s.label(),
                    message: format!(
                        "{} {why}: a value of the wrong type for the operator never matches, so this condition never holds{}",
                        c.operator,
                        if s.effect == Effect::Deny {
                            " and the Deny never applies"
                        } else {
                            ""
                        }
                    ),
                });
            }
        }
    }
    out
}

/// Lint the documents xacct would write for this file.
pub fn lint_desired(cfg: &Config) -> Vec<Finding> {
    lint_facts(cfg, &crate::check::desired_facts(cfg))
}

/// Lint the documents of a chain (live or desired).
pub fn lint_facts(cfg: &Config, f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut role = |name: &str, r: &crate::check::RoleFacts, target: bool| {
        out.extend(lint_document(
            &format!("trust policy of {name}"),
            &r.trust,
            DocKind::Trust,
        ));
        for (p, d) in &r.policies {
            out.extend(lint_document(
                &format!("policy {p} of {name}"),
                d,
                DocKind::Identity,
            ));
        }
        if target && r.max_session > ROLE_CHAINING_CAP {
            out.push(Finding {
                severity: Severity::Warning,
                rule: "role-chaining",
                document: format!("role {name}"),
                statement: "-".into(),
                message: format!(
                    "MaxSessionDuration {} s is above the role-chaining cap: sessions assumed with IoT credentials last at most 3600 s",
                    r.max_session
                ),
            });
        }
    };
    if let Some(r) = &f.origin_role {
        role(cfg.origin_role_name(), r, false);
    }
    // gated devices: each environment's own IoT role
    for t in &cfg.environments {
        if let (Some(own), Some(n)) = (f.per_env.get(&t.name), cfg.iot_names(t)) {
            if let Some(r) = &own.iot_role {
                role(&n.role_name, r, false);
            }
        }
    }
    for t in &cfg.environments {
        if let Some(Some(r)) = f.targets.get(&t.name) {
            role(&t.role_name, r, true);
        }
    }
    let mut seen = Vec::new();
    for c in f
        .certs
        .iter()
        .chain(f.per_env.values().flat_map(|e| e.certs.iter()))
    {
        for (n, d) in &c.policies {
            if !seen.contains(n) {
                seen.push(n.clone());
                out.extend(lint_document(
                    &format!("IoT policy {n}"),
                    d,
                    DocKind::IotPolicy,
                ));
            }
        }
    }
    out
}

pub fn render_human(findings: &[Finding], style: crate::output::Style) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for f in findings {
        let sev = match f.severity {
            Severity::Error => style.red("error"),
            Severity::Warning => style.yellow("warning"),
        };
        let _ = writeln!(
            out,
            "{sev}[{}]: {} statement {}: {}",
            f.rule, f.document, f.statement, f.message
        );
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let _ = writeln!(
        out,
        "lint: {} finding(s), {errors} error(s)",
        findings.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn generated_documents_have_no_findings() {
        let c = crate::config::parse(
            Path::new("t.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\", credential_duration: 43200, certificates: [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}\nenvironments:\n  a: {account: \"222222222222\", functions: [x, y]}\n  b: {account: \"111111111111\", functions: [z]}\n",
        )
        .unwrap();
        assert_eq!(lint_desired(&c), vec![]);
    }

    #[test]
    fn every_rule_fires_on_its_pattern() {
        let trust = json!({"Statement":[
            {"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"sts:AssumeRole"},
            {"Sid":"star","Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
            {"Sid":"gone","Effect":"Allow","Principal":{"AWS":"AROAEXAMPLEID"},"Action":"sts:AssumeRole"},
            {"Sid":"iot","Effect":"Allow","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole"}]});
        let rules: Vec<&str> = lint_document("t", &trust, DocKind::Trust)
            .iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(
            rules,
            vec![
                "trust-root",
                "trust-star",
                "deleted-principal",
                "iot-trust-source-account"
            ]
        );
        let id = json!({"Statement":[
            {"Sid":"a","Effect":"Allow","Action":"lambda:*","Resource":"*"},
            {"Sid":"b","Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:iam::1:role/x"},
            {"Sid":"c","Effect":"Deny","Action":"*","Resource":"*"},
            {"Sid":"d","Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":"foo"}}}]});
        let rules: Vec<&str> = lint_document("p", &id, DocKind::Identity)
            .iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(
            rules,
            vec![
                "resource-star",
                "wildcard-action",
                "not-action-allow",
                "not-resource-allow",
                "condition-type-mismatch"
            ]
        );
    }
}
