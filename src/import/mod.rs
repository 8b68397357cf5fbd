//! `xacct import`: bring a chain built by hand under xacct. `discover` reads the live chain from its
//! start (a role alias, or a workload role) into a [`Found`] value; this module turns it, purely, into
//! the environment file xacct should manage it with (`write`), the file that names the chain exactly
//! as it was found (`as_found`, for `check`'s verdict on it), and the findings on what hand-built
//! chains do (`findings`).
//!
//! What the file names: the resources xacct may take over (the IoT role, the role alias, a target
//! role that is nothing else's, an IoT policy that grants only `iot:AssumeRoleWithCertificate`), and
//! new ones where taking over would break a workload (a target role that is a function's execution
//! role: a dedicated target role; an IoT policy that also grants `iot:Connect`…: xacct's own beside
//! it). What the file cannot express is a comment where it belongs.

pub mod discover;

use crate::config::Access;
use crate::lint::{Finding, Severity};
use serde_json::Value;
use std::fmt::Write;

/// A role as it was found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoundRole {
    pub arn: String,
    pub name: String,
    /// Its path (`/` for none).
    pub path: String,
    pub trust: Value,
    /// (name, document) of each inline policy.
    pub inline: Vec<(String, Value)>,
    /// (name, ARN, document) of each attached managed policy.
    pub managed: Vec<(String, String, Value)>,
}

impl FoundRole {
    /// Every identity policy's statements, each with where it is written.
    pub fn statements(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (n, d) in &self.inline {
            for s in statements_of(d) {
                out.push((format!("inline policy {n}"), s));
            }
        }
        for (n, _, d) in &self.managed {
            for s in statements_of(d) {
                out.push((format!("managed policy {n}"), s));
            }
        }
        out
    }

    /// The resources its Allow statements give `action` on (as written: exact or with wildcards),
    /// each with where the statement is.
    pub fn allowed(&self, action: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (at, s) in self.statements() {
            if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            if !strings(s.get("Action"))
                .iter()
                .any(|a| action_matches(a, action))
            {
                continue;
            }
            for r in strings(s.get("Resource")) {
                if !out.iter().any(|(x, _): &(String, String)| *x == r) {
                    out.push((r, at.clone()));
                }
            }
        }
        out
    }

    /// Whether its trust lets AWS service `service` (`lambda.amazonaws.com`) assume it.
    pub fn trusts_service(&self, service: &str) -> bool {
        statements_of(&self.trust).iter().any(|s| {
            s.get("Effect").and_then(Value::as_str) == Some("Allow")
                && s.get("Principal")
                    .and_then(|p| p.get("Service"))
                    .map(|v| strings(Some(v)).iter().any(|x| x == service))
                    .unwrap_or(false)
        })
    }

    /// The `AWS` principals its trust names.
    pub fn trusted_principals(&self) -> Vec<String> {
        statements_of(&self.trust)
            .iter()
            .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
            .flat_map(|s| strings(s.get("Principal").and_then(|p| p.get("AWS"))))
            .collect()
    }
}

/// The statements of a document (one or many).
pub fn statements_of(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => vec![],
    }
}

/// A string or list of strings.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => vec![],
    }
}

/// Does the action pattern (`sts:*`, `*`, `lambda:Invoke*`) cover `action`?
pub fn action_matches(pattern: &str, action: &str) -> bool {
    crate::policy::eval::matching::glob(pattern, action, true)
}

/// An IoT policy that allows `iot:AssumeRoleWithCertificate` on the alias.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundIotPolicy {
    pub name: String,
    /// Whether it also grants other actions (`iot:Connect`, `iot:Publish`…).
    pub grants_more: bool,
}

/// Where the chain starts.
#[derive(Debug, Clone, PartialEq)]
pub enum FoundStart {
    Device {
        account: String,
        access: Access,
        role: FoundRole,
        alias: String,
        duration: i64,
        policies: Vec<FoundIotPolicy>,
        /// Ids of the certificates the policies are attached to.
        certificates: Vec<String>,
        /// Thing groups the policies are attached to.
        thing_groups: Vec<String>,
    },
    Workload {
        account: String,
        access: Access,
        role: FoundRole,
    },
}

/// One environment as found: a target role (or none: direct), and what it reaches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoundEnv {
    pub name: String,
    pub account: String,
    pub access: Access,
    /// The role the start assumes (None: direct mode, the start's own session invokes).
    pub target: Option<FoundRole>,
    /// Functions whose execution role the target role is.
    pub execution_role_of: Vec<String>,
    pub functions: Vec<String>,
    /// The functions were allowed as `*` (or a pattern): listed as the account has them now.
    pub functions_were_wildcard: Option<String>,
    pub apis: Vec<String>,
    pub objects: Vec<String>,
    /// The objects were allowed as `*`: every bucket of the account, listed as it has them now.
    pub objects_were_wildcard: Option<String>,
    /// What the file cannot express, as comments on the environment.
    pub notes: Vec<String>,
}

impl FoundEnv {
    pub fn has_targets(&self) -> bool {
        !(self.functions.is_empty() && self.apis.is_empty() && self.objects.is_empty())
    }

    /// The target role may not be taken over: it is a function's execution role.
    pub fn target_is_execution_role(&self) -> bool {
        !self.execution_role_of.is_empty()
    }
}

/// A chain as found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub region: String,
    pub start: FoundStart,
    pub envs: Vec<FoundEnv>,
    /// What the file cannot express about the chain as a whole.
    pub notes: Vec<String>,
}

/// Something the user must edit before the file is complete (exit 2).
pub type Review = String;

fn access_lines(y: &mut String, indent: &str, a: &Access) {
    if let Some(p) = &a.profile {
        let _ = writeln!(y, "{indent}profile: {p}");
    }
    if let Some(r) = &a.assume_role {
        let _ = writeln!(y, "{indent}assume_role: {r}");
    }
}

/// A name the file accepts (fleet, environment): lowercase letters, digits, `-`.
pub fn clean_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "imported".into()
    } else {
        out.chars().take(40).collect()
    }
}

impl Found {
    fn fleet(&self) -> String {
        match &self.start {
            FoundStart::Device { alias, .. } => clean_name(alias),
            FoundStart::Workload { role, .. } => clean_name(&role.name),
        }
    }

    /// The environment file xacct should manage the chain with, and what needs editing.
    pub fn write(&self, origin_words: &str) -> (String, Vec<Review>) {
        self.render(false, origin_words)
    }

    /// The file that names the chain exactly as it was found (the hand-built target roles and IoT
    /// policy), for `check`'s verdict on it; never written out.
    pub fn as_found(&self) -> String {
        self.render(true, "").0
    }

    fn render(&self, as_found: bool, origin_words: &str) -> (String, Vec<Review>) {
        let mut reviews = Vec::new();
        let mut y = String::new();
        let fleet = self.fleet();
        if !as_found {
            y.push_str("# yaml-language-server: $schema=./environment.schema.json\n");
            let _ = writeln!(y, "# Imported by `xacct import` from {origin_words}.");
            y.push_str(
                "# Review the comments, then: xacct plan -f FILE; xacct apply -f FILE --adopt\n",
            );
        }
        let _ = writeln!(y, "fleet: {fleet}");
        let _ = writeln!(y, "region: {}", self.region);
        for n in &self.notes {
            let _ = writeln!(y, "# {n}");
        }
        match &self.start {
            FoundStart::Device {
                account,
                access,
                role,
                alias,
                duration,
                policies,
                certificates,
                thing_groups,
            } => {
                y.push_str("iot:\n");
                let _ = writeln!(y, "  account: \"{account}\"");
                access_lines(&mut y, "  ", access);
                if role.path == "/" {
                    let _ = writeln!(
                        y,
                        "  role_name: {}   # the existing IoT role: xacct takes it over (apply --adopt)",
                        role.name
                    );
                } else {
                    let _ = writeln!(
                        y,
                        "  # the existing IoT role {} has the path {}: xacct makes its IoT role {fleet}-device beside it",
                        role.arn, role.path
                    );
                }
                let _ = writeln!(
                    y,
                    "  role_alias: {alias}   # the existing role alias: xacct takes it over and points it at the IoT role"
                );
                let own: Vec<&FoundIotPolicy> =
                    policies.iter().filter(|p| !p.grants_more).collect();
                let more: Vec<&FoundIotPolicy> =
                    policies.iter().filter(|p| p.grants_more).collect();
                if let (Some(p), true) = (own.first(), more.is_empty() || as_found) {
                    let _ = writeln!(
                        y,
                        "  policy_name: {}   # the existing IoT policy: it grants only iot:AssumeRoleWithCertificate, xacct takes it over",
                        p.name
                    );
                } else if as_found {
                    if let Some(p) = more.first() {
                        let _ = writeln!(y, "  policy_name: {}", p.name);
                    }
                }
                if !as_found {
                    for p in &more {
                        let _ = writeln!(
                            y,
                            "  # IoT policy {} also grants more than iot:AssumeRoleWithCertificate (iot:Connect, iot:Publish…): it stays as it is, and xacct's own IoT policy is attached beside it",
                            p.name
                        );
                    }
                }
                let _ = writeln!(y, "  credential_duration: {duration}");
                if !thing_groups.is_empty() {
                    let _ = writeln!(
                        y,
                        "  # the IoT policy is also attached to thing group(s) {}: to admit only their devices, set devices: {{thing_group: …}} on an environment",
                        thing_groups.join(", ")
                    );
                }
                if certificates.is_empty() {
                    y.push_str(
                        "  certificates: []   # no certificate carries the IoT policy now\n",
                    );
                } else {
                    y.push_str("  certificates:\n");
                    for c in certificates {
                        let _ = writeln!(y, "    - {c}");
                    }
                }
            }
            FoundStart::Workload {
                account,
                access,
                role,
            } => {
                y.push_str("source:\n");
                let _ = writeln!(y, "  account: \"{account}\"");
                let _ = writeln!(y, "  role: {}", role.arn);
                access_lines(&mut y, "  ", access);
                for (r, at) in role.allowed("sts:AssumeRole") {
                    if r.contains('*') || r.contains('?') {
                        let _ = writeln!(
                            y,
                            "  # the source role's {at} allows sts:AssumeRole on {r}: xacct adds its own exact policy; remove the broad one when nothing else needs it"
                        );
                    }
                }
            }
        }
        y.push_str("environments:\n");
        let mut written = 0;
        for e in &self.envs {
            let mut body = String::new();
            let _ = writeln!(body, "account: \"{}\"", e.account);
            access_lines(&mut body, "", &e.access);
            match &e.target {
                None => body.push_str(
                    "mode: direct   # the functions' resource policies name the IoT role\n",
                ),
                Some(r) if as_found || (!e.target_is_execution_role() && r.path == "/") => {
                    let _ = writeln!(body, "role_name: {}", r.name);
                }
                Some(r) if e.target_is_execution_role() => {
                    let _ = writeln!(
                        body,
                        "# the target role {} is also the execution role of {}: xacct makes a dedicated target role ({fleet}-{}) and leaves it as it is",
                        r.arn,
                        e.execution_role_of.join(", "),
                        e.name
                    );
                }
                Some(r) => {
                    let _ = writeln!(
                        body,
                        "# the target role {} has the path {}: xacct makes its target role {fleet}-{} beside it",
                        r.arn, r.path, e.name
                    );
                }
            }
            if !as_found {
                for n in &e.notes {
                    let _ = writeln!(body, "# {n}");
                }
            }
            let list = |body: &mut String, key: &str, items: &[String], was: &Option<String>| {
                if items.is_empty() {
                    return;
                }
                if let (Some(w), false) = (was, as_found) {
                    let _ = writeln!(
                        body,
                        "# {key} was {w}: these are all the account has now; remove what the chain never calls"
                    );
                }
                let _ = writeln!(body, "{key}:");
                for i in items {
                    let _ = writeln!(body, "  - \"{i}\"");
                }
            };
            list(
                &mut body,
                "functions",
                &e.functions,
                &e.functions_were_wildcard,
            );
            list(&mut body, "apis", &e.apis, &None);
            list(&mut body, "objects", &e.objects, &e.objects_were_wildcard);
            if e.functions_were_wildcard.is_some() && !e.functions.is_empty() {
                reviews.push(format!(
                    "environment {}: functions was {}; keep only what the chain calls",
                    e.name,
                    e.functions_were_wildcard.as_deref().unwrap_or("*")
                ));
            }
            if e.objects_were_wildcard.is_some() && !e.objects.is_empty() {
                reviews.push(format!(
                    "environment {}: objects was {}; keep only what the chain reads",
                    e.name,
                    e.objects_were_wildcard.as_deref().unwrap_or("*")
                ));
            }
            if e.has_targets() {
                written += 1;
                let _ = writeln!(y, "  {}:", e.name);
                for l in body.lines() {
                    let _ = writeln!(y, "    {l}");
                }
            } else {
                reviews.push(format!(
                    "environment {}: nothing it reaches could be listed; it is written commented out",
                    e.name
                ));
                let _ = writeln!(
                    y,
                    "  # {}:   (nothing this environment reaches could be listed: add functions, apis or objects)",
                    e.name
                );
                for l in body.lines() {
                    let _ = writeln!(y, "  #   {l}");
                }
            }
        }
        if written == 0 {
            reviews.push(
                "no environment could be written: the file does not validate until one is".into(),
            );
        }
        (y, reviews)
    }

    /// The findings on what hand-built chains do that xacct's would not: an execution role used as a
    /// target role, managed policies broader than the chain needs; each with what replaces it.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        let fleet = self.fleet();
        let broad = |out: &mut Vec<Finding>, role: &FoundRole, needs: &str| {
            for (name, arn, doc) in &role.managed {
                let wide = statements_of(doc).iter().any(|s| {
                    s.get("Effect").and_then(Value::as_str) == Some("Allow")
                        && (strings(s.get("Resource")).iter().any(|r| r == "*")
                            || strings(s.get("Action"))
                                .iter()
                                .any(|a| a == "*" || a.ends_with(":*")))
                });
                if wide {
                    out.push(Finding {
                        severity: Severity::Warning,
                        rule: "broad-managed-policy",
                        document: format!("managed policy {name} ({arn}) of {}", role.arn),
                        statement: "-".into(),
                        message: format!(
                            "grants more than the chain needs (a * resource or a whole service); replace it with {needs}"
                        ),
                    });
                }
            }
        };
        {
            let (FoundStart::Device { role, .. } | FoundStart::Workload { role, .. }) = &self.start;
            let targets: Vec<String> = self
                .envs
                .iter()
                .filter_map(|e| e.target.as_ref().map(|r| r.arn.clone()))
                .collect();
            broad(
                &mut out,
                role,
                &format!(
                    "{{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\",\"Resource\":{}}}",
                    serde_json::to_string(&targets).unwrap_or_default()
                ),
            );
        }
        for e in &self.envs {
            let Some(r) = &e.target else { continue };
            let mut needs = Vec::new();
            if !e.functions.is_empty() {
                needs.push(format!(
                    "{{\"Effect\":\"Allow\",\"Action\":\"lambda:InvokeFunction\",\"Resource\":{}}}",
                    serde_json::to_string(&e.functions).unwrap_or_default()
                ));
            }
            if !e.objects.is_empty() {
                needs.push(format!(
                    "{{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":{}}}",
                    serde_json::to_string(&e.objects).unwrap_or_default()
                ));
            }
            if !e.apis.is_empty() {
                needs.push(format!(
                    "{{\"Effect\":\"Allow\",\"Action\":\"execute-api:Invoke\",\"Resource\":{}}}",
                    serde_json::to_string(&e.apis).unwrap_or_default()
                ));
            }
            broad(&mut out, r, &needs.join(" and "));
            if e.target_is_execution_role() {
                out.push(Finding {
                    severity: Severity::Warning,
                    rule: "execution-role-as-target",
                    document: format!("role {}", r.arn),
                    statement: "-".into(),
                    message: format!(
                        "is the execution role of {} and also the chain's target role: the function's permissions and the devices' are one; use a dedicated target role ({fleet}-{}, trusting only the chain's role)",
                        e.execution_role_of.join(", "),
                        e.name
                    ),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(arn: &str, trust: Value, inline: Vec<(&str, Value)>) -> FoundRole {
        FoundRole {
            arn: arn.into(),
            name: arn.rsplit('/').next().unwrap().into(),
            path: if arn.contains("/service-role/") {
                "/service-role/".into()
            } else {
                "/".into()
            },
            trust,
            inline: inline.into_iter().map(|(n, d)| (n.into(), d)).collect(),
            managed: vec![],
        }
    }

    fn found() -> Found {
        let iot_role = role(
            "arn:aws:iam::111111111111:role/device-role",
            json!({"Statement":[{"Effect":"Allow","Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole"}]}),
            vec![(
                "assume",
                json!({"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::222222222222:role/service-role/ingest-role"}]}),
            )],
        );
        let mut exec = role(
            "arn:aws:iam::222222222222:role/service-role/ingest-role",
            json!({"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}),
            vec![],
        );
        exec.managed.push((
            "AWSLambdaRole".into(),
            "arn:aws:iam::aws:policy/service-role/AWSLambdaRole".into(),
            json!({"Statement":[{"Effect":"Allow","Action":["lambda:InvokeFunction"],"Resource":["*"]}]}),
        ));
        Found {
            region: "eu-west-1".into(),
            start: FoundStart::Device {
                account: "111111111111".into(),
                access: Access::default(),
                role: iot_role,
                alias: "Device_Alias".into(),
                duration: 3600,
                policies: vec![FoundIotPolicy {
                    name: "DevicePolicy".into(),
                    grants_more: true,
                }],
                certificates: vec!["a".repeat(64)],
                thing_groups: vec![],
            },
            envs: vec![
                FoundEnv {
                    name: "prod".into(),
                    account: "222222222222".into(),
                    target: Some(exec),
                    execution_role_of: vec![
                        "arn:aws:lambda:eu-west-1:222222222222:function:ingest".into(),
                    ],
                    functions: vec![
                        "arn:aws:lambda:eu-west-1:222222222222:function:ingest".into(),
                        "arn:aws:lambda:eu-west-1:222222222222:function:other".into(),
                    ],
                    functions_were_wildcard: Some("*".into()),
                    notes: vec!["target role also trusts lambda.amazonaws.com".into()],
                    ..Default::default()
                },
                FoundEnv {
                    name: "empty".into(),
                    account: "333333333333".into(),
                    target: Some(role("arn:aws:iam::333333333333:role/t", json!({}), vec![])),
                    ..Default::default()
                },
            ],
            notes: vec![],
        }
    }

    /// The written file validates, takes over what it may (IoT role, alias), makes a dedicated
    /// target role for an execution role, keeps a broad IoT policy beside its own, lists the
    /// functions a `*` covered with a comment, and writes an environment with nothing to reach
    /// commented out; each of those that needs the user is a review (exit 2).
    #[test]
    fn the_written_file_validates_and_says_what_to_review() {
        let f = found();
        let (y, reviews) = f.write("role alias Device_Alias in account 111111111111");
        let cfg = crate::config::parse(std::path::Path::new("imported.yaml"), &y)
            .unwrap_or_else(|e| panic!("{e}\n{y}"));
        assert_eq!(cfg.fleet, "device-alias");
        assert_eq!(cfg.environments.len(), 1, "{y}");
        let t = &cfg.environments[0];
        assert_eq!(
            t.role_name, "device-alias-prod",
            "a dedicated target role: {y}"
        );
        assert_eq!(t.functions.len(), 2);
        let iot = cfg.iot().unwrap();
        assert_eq!(iot.role_name, "device-role");
        assert_eq!(iot.role_alias, "Device_Alias");
        assert_eq!(iot.policy_name, "device-alias-device-credentials", "{y}");
        assert!(
            y.contains("IoT policy DevicePolicy also grants more"),
            "{y}"
        );
        assert!(y.contains("is also the execution role of"), "{y}");
        assert!(
            y.contains("# target role also trusts lambda.amazonaws.com"),
            "{y}"
        );
        assert!(y.contains("functions was *"), "{y}");
        assert!(y.contains("  # empty:"), "{y}");
        assert_eq!(reviews.len(), 2, "{reviews:?}");
        // as found: the execution role is the target, the hand-built IoT policy is the policy
        let found_cfg =
            crate::config::parse(std::path::Path::new("found.yaml"), &f.as_found()).unwrap();
        assert_eq!(found_cfg.environments[0].role_name, "ingest-role");
        assert_eq!(found_cfg.iot().unwrap().policy_name, "DevicePolicy");
    }

    #[test]
    fn findings_name_the_execution_role_and_the_broad_managed_policy_with_their_replacements() {
        let f = found();
        let v = f.findings();
        let rules: Vec<&str> = v.iter().map(|x| x.rule).collect();
        assert!(rules.contains(&"execution-role-as-target"), "{v:?}");
        let broad = v.iter().find(|x| x.rule == "broad-managed-policy").unwrap();
        assert!(broad.document.contains("AWSLambdaRole"));
        assert!(
            broad
                .message
                .contains("\"Action\":\"lambda:InvokeFunction\"")
                && broad.message.contains("function:ingest"),
            "{}",
            broad.message
        );
    }

    #[test]
    fn allowed_resources_follow_action_wildcards() {
        let r = role(
            "arn:aws:iam::1:role/r",
            json!({}),
            vec![(
                "p",
                json!({"Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"},{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"x"}]}),
            )],
        );
        assert_eq!(
            r.allowed("sts:AssumeRole"),
            vec![("*".to_string(), "inline policy p".to_string())]
        );
        assert!(r.allowed("lambda:InvokeFunction").is_empty());
        assert_eq!(clean_name("My_Alias.v2"), "my-alias-v2");
    }
}
