//! `xacct permissions`: per account of the file, the least-privilege IAM policy the credentials
//! xacct uses there need for one command, built from the calls each managed kind
//! (`model::kinds`, `Managed::calls`) and each target type (`targets`, `TargetType::calls`) declares
//! beside its SDK calls, and the calls of the chain's start and of verify. Pure: no AWS call.

use crate::aws::{Call, Use};
use crate::chain;
use crate::config::{Access, Config, Origin};
use crate::model::{Kind, Resource};
use crate::targets::{Phase, TYPES};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The commands whose permissions can be asked for (`--for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum For {
    Plan,
    Apply,
    Destroy,
    Check,
    Verify,
    DeviceConfig,
    /// `xacct import` (of the chain this file describes), and the check it ends with.
    Import,
}

impl For {
    pub fn as_str(self) -> &'static str {
        match self {
            For::Plan => "plan",
            For::Apply => "apply",
            For::Destroy => "destroy",
            For::Check => "check",
            For::Verify => "verify",
            For::DeviceConfig => "device-config",
            For::Import => "import",
        }
    }
}

/// `permissions --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Permissions {
    pub command: &'static str,
    /// What the base credentials need to reach the accounts (`sts:AssumeRole` on each
    /// `assume_role`), None when no account is reached through a role.
    pub reach: Option<Value>,
    pub accounts: Vec<AccountPermissions>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountPermissions {
    pub account: String,
    pub access: Access,
    pub policy: Value,
    /// The statements whose resource is `*`, and why AWS allows nothing narrower (human output).
    #[serde(skip)]
    pub wildcards: Vec<String>,
}

/// Why an action that xacct calls has no narrower resource than `*`.
fn why_wildcard(action: &str) -> &'static str {
    match action {
        "iot:ListPolicies" => {
            "IoT lists policies only account-wide (plan looks for the other device layout's policy)"
        }
        "iot:DescribeEndpoint" => "the endpoint of an account has no ARN",
        "iot:ListCertificates" | "iot:ListThings" => "IoT lists them only account-wide",
        "iot:CreateKeysAndCertificate" => "a certificate has no ARN before it exists",
        "s3:ListAllMyBuckets" => {
            "S3 lists buckets only account-wide (that each bucket is the account's own)"
        }
        "lambda:ListFunctions" | "iam:ListAccountAliases" => {
            "AWS allows no narrower resource for it"
        }
        a if a.starts_with("iam:") || a.starts_with("iot:") => {
            "import reads roles and policies before it knows their names"
        }
        _ => "AWS allows no narrower resource for it",
    }
}

/// The calls of `command`, by account.
fn calls(cfg: &Config, command: For) -> BTreeMap<String, BTreeSet<Call>> {
    if command == For::Import {
        // import discovers the chain before it knows its roles, then checks it
        let mut by = calls(cfg, For::Check);
        let (start, env) = crate::import::discover::calls(cfg.iot().is_some());
        by.entry(cfg.origin_account().to_string())
            .or_default()
            .extend(start);
        for t in &cfg.environments {
            by.entry(t.account.clone()).or_default().extend(env.clone());
        }
        return by;
    }
    let mut by: BTreeMap<String, BTreeSet<Call>> = BTreeMap::new();
    let mut add = |account: &str, cs: Vec<Call>| {
        by.entry(account.to_string()).or_default().extend(cs);
    };
    let desired = crate::desired::desired(cfg);
    let other = crate::desired::other_layout(cfg, &desired);
    let uses: &[Use] = match command {
        For::Plan | For::Check | For::Verify => &[Use::Read],
        For::Apply => &[Use::Read, Use::Write],
        For::Destroy => &[Use::Read, Use::Delete],
        For::DeviceConfig | For::Import => &[],
    };
    let resource_calls = |r: &Resource, u: Use| r.spec.calls(cfg, &r.addr.account, u);
    for &u in uses {
        for r in &desired {
            add(&r.addr.account, resource_calls(r, u));
        }
        // the other layout is read, and deleted once the new one exists
        for r in &other {
            add(&r.addr.account, resource_calls(r, Use::Read));
        }
    }
    let iot = cfg.iot();
    let origin = cfg.origin_account().to_string();
    let cert_any = crate::model::kinds::iot_arn(cfg, &origin, "cert/*");
    let group_any = crate::model::kinds::iot_arn(cfg, &origin, "thinggroup/*");
    if matches!(command, For::Apply | For::Destroy) {
        for r in desired.iter().chain(&other) {
            // apply deletes the other layout and replaces a role whose path changed; destroy all
            let deleted = command == For::Destroy
                || other.contains(r)
                || matches!(r.addr.kind, Kind::IamRole | Kind::IamRolePolicy);
            if deleted {
                add(&r.addr.account, resource_calls(r, Use::Delete));
            }
        }
        if iot.is_some() {
            // attachments of certificates and thing groups no longer listed
            add(
                &origin,
                vec![
                    Call::new("iot:DetachPolicy", &cert_any),
                    Call::new("iot:DetachPolicy", &group_any),
                ],
            );
        }
    }
    if command != For::DeviceConfig {
        if iot.is_some() {
            add(&origin, vec![Call::new("iot:ListPolicies", "*")]);
        }
        if let Some(src) = cfg.source_role() {
            add(&src.account, vec![Call::new("iam:GetRole", &src.arn)]);
        }
        for t in &cfg.environments {
            for ty in TYPES.iter().filter(|ty| ty.listed(t)) {
                add(&t.account, ty.calls(cfg, t, Phase::Plan));
            }
        }
    }
    if matches!(command, For::Check | For::Verify) {
        // the roles of the chain: their policies, managed policies and boundaries
        let role_facts = |account: &str, role_arn: &str| {
            let mut v = Call::each(
                &[
                    "iam:GetRole",
                    "iam:ListRolePolicies",
                    "iam:GetRolePolicy",
                    "iam:ListAttachedRolePolicies",
                ],
                role_arn,
            );
            // the account's organization (aws:PrincipalOrgID of the role's sessions)
            v.push(Call::new("organizations:DescribeOrganization", "*"));
            for policies in [
                format!("arn:{}:iam::{account}:policy/*", cfg.partition),
                format!("arn:{}:iam::aws:policy/*", cfg.partition),
            ] {
                v.extend(Call::each(
                    &["iam:GetPolicy", "iam:GetPolicyVersion"],
                    &policies,
                ));
            }
            v
        };
        for dev in chain::layouts(cfg) {
            add(
                &dev.iot.account,
                role_facts(&dev.iot.account, &dev.role_arn),
            );
            let mut v = Vec::new();
            match dev.thing_group() {
                Some(g) => {
                    let group = crate::model::kinds::iot_arn(
                        cfg,
                        &dev.iot.account,
                        &format!("thinggroup/{g}"),
                    );
                    v.push(Call::new("iot:DescribeThingGroup", &group));
                    // its parents' policies too (found at run time)
                    v.push(Call::new("iot:ListAttachedPolicies", &group_any));
                }
                None => {
                    for id in &dev.iot.certificates {
                        let cert = cfg.certificate_arn(id);
                        v.extend(Call::each(
                            &["iot:DescribeCertificate", "iot:ListAttachedPolicies"],
                            &cert,
                        ));
                    }
                }
            }
            add(&dev.iot.account, v);
        }
        if let Some(src) = cfg.source_role() {
            add(&src.account, role_facts(&src.account, &src.arn));
        }
        for t in &cfg.environments {
            if !t.direct() {
                add(&t.account, role_facts(&t.account, &cfg.target_role_arn(t)));
            }
            for ty in TYPES.iter().filter(|ty| ty.listed(t)) {
                add(&t.account, ty.calls(cfg, t, Phase::Check));
            }
        }
    }
    if let (Some(org), For::Check | For::Verify) = (&cfg.organization, command) {
        // the organization's structure and control policies (its ARNs are not known before it is
        // read)
        add(
            &org.account,
            [
                "organizations:DescribeOrganization",
                "organizations:ListParents",
                "organizations:ListPoliciesForTarget",
                "organizations:DescribePolicy",
            ]
            .iter()
            .map(|a| Call::new(a, "*"))
            .collect(),
        );
    }
    if command == For::Verify {
        for t in &cfg.environments {
            for ty in TYPES.iter().filter(|ty| ty.listed(t)) {
                add(&t.account, ty.calls(cfg, t, Phase::Verify));
            }
        }
        if let Some(iot) = iot {
            let thing_any = crate::model::kinds::iot_arn(cfg, &iot.account, "thing/*");
            let mut v = vec![
                Call::new("iot:DescribeEndpoint", "*"),
                // the certificate verify runs with, found by its id or its content
                Call::new("iot:DescribeCertificate", &cert_any),
                Call::new("iot:ListCertificates", "*"),
                // --ephemeral: a throw-away certificate and thing, removed afterwards
                Call::new("iot:CreateKeysAndCertificate", "*"),
                Call::new("iot:ListThings", "*"),
            ];
            v.extend(Call::each(
                &[
                    "iot:AttachPolicy",
                    "iot:DetachPolicy",
                    "iot:ListAttachedPolicies",
                    "iot:ListPrincipalThings",
                    "iot:UpdateCertificate",
                    "iot:DeleteCertificate",
                ],
                &cert_any,
            ));
            v.extend(Call::each(
                &[
                    "iot:CreateThing",
                    "iot:DeleteThing",
                    "iot:AttachThingPrincipal",
                    "iot:DetachThingPrincipal",
                    "iot:ListThingPrincipals",
                ],
                &thing_any,
            ));
            add(&iot.account, v);
        }
    }
    if command == For::DeviceConfig {
        if let Some(iot) = iot {
            let thing_any = crate::model::kinds::iot_arn(cfg, &iot.account, "thing/*");
            let mut v = vec![Call::new("iot:DescribeEndpoint", "*")];
            v.extend(Call::each(
                &["iot:DescribeThing", "iot:ListThingGroupsForThing"],
                &thing_any,
            ));
            v.push(Call::new("iot:DescribeThingGroup", &group_any));
            add(&iot.account, v);
        }
    }
    by
}

/// A policy document of `calls`: one statement per set of actions sharing the same resources
/// (`iam:PassRole` limited to IoT, which alone is handed the role).
fn document(calls: &BTreeSet<Call>) -> (Value, Vec<String>) {
    let mut resources: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for c in calls {
        resources.entry(c.action).or_default().insert(&c.resource);
    }
    let mut groups: BTreeMap<(bool, Vec<&str>), Vec<&str>> = BTreeMap::new();
    for (action, rs) in &resources {
        let pass = *action == "iam:PassRole";
        groups
            .entry((pass, rs.iter().copied().collect()))
            .or_default()
            .push(action);
    }
    let mut statements = Vec::new();
    let mut wildcards = Vec::new();
    for (i, ((pass, rs), actions)) in groups.into_iter().enumerate() {
        let mut s = json!({
            "Sid": format!("Xacct{}", i + 1),
            "Effect": "Allow",
            "Action": actions,
            "Resource": rs,
        });
        if pass {
            s["Condition"] = json!({"StringEquals": {"iam:PassedToService": "iot.amazonaws.com"}});
        }
        if rs == ["*"] {
            for a in &actions {
                wildcards.push(format!("Xacct{} {a}: {}", i + 1, why_wildcard(a)));
            }
        }
        statements.push(s);
    }
    (
        json!({"Version": "2012-10-17", "Statement": statements}),
        wildcards,
    )
}

/// The permissions of `command` for every account of the file.
pub fn permissions(cfg: &Config, command: For) -> Permissions {
    let mut access: BTreeMap<String, Access> = BTreeMap::new();
    let origin_access = cfg.origin_access().clone();
    access.insert(cfg.origin_account().to_string(), origin_access);
    for t in &cfg.environments {
        access
            .entry(t.account.clone())
            .or_insert_with(|| t.access.clone());
    }
    if let Some(o) = &cfg.organization {
        access
            .entry(o.account.clone())
            .or_insert_with(|| o.access.clone());
    }
    let by = calls(cfg, command);
    let accounts: Vec<AccountPermissions> = access
        .iter()
        .filter_map(|(account, a)| {
            let cs = by.get(account).filter(|cs| !cs.is_empty())?;
            let (policy, wildcards) = document(cs);
            Some(AccountPermissions {
                account: account.clone(),
                access: a.clone(),
                policy,
                wildcards,
            })
        })
        .collect();
    let mut roles: BTreeSet<String> = accounts
        .iter()
        .filter_map(|a| a.access.assume_role.clone())
        .collect();
    // verify of a workload chain starts by assuming the source role with the base credentials
    if let (For::Verify, Origin::Role(src)) = (command, &cfg.origin) {
        roles.insert(src.arn.clone());
    }
    let reach = (!roles.is_empty()).then(|| {
        json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "XacctReach", "Effect": "Allow", "Action": "sts:AssumeRole",
            "Resource": roles.into_iter().collect::<Vec<_>>()}]})
    });
    Permissions {
        command: command.as_str(),
        reach,
        accounts,
    }
}

/// The human output: per account, how xacct reaches it and the policy, with a comment on each
/// statement whose resource is `*`.
pub fn render_human(p: &Permissions) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let mut out = format!("Permissions for `xacct {}`\n", p.command);
    if let Some(reach) = &p.reach {
        out.push_str("\nThe base credentials (to reach the accounts):\n");
        out.push_str(&pretty(reach));
        out.push('\n');
    }
    for a in &p.accounts {
        let how = match (&a.access.profile, &a.access.assume_role) {
            (_, Some(r)) => format!("through {r}"),
            (Some(pr), None) => format!("profile {pr}"),
            (None, None) => "the default credentials".to_string(),
        };
        out.push_str(&format!("\nAccount {} ({how}):\n", a.account));
        for w in &a.wildcards {
            out.push_str(&format!("# {w}\n"));
        }
        out.push_str(&pretty(&a.policy));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        crate::config::parse(
            Path::new("t.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\", assume_role: \"arn:aws:iam::111111111111:role/Ci\", certificates: [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}\nenvironments:\n  a: {account: \"222222222222\", assume_role: \"arn:aws:iam::222222222222:role/Ci\", functions: [x], objects: [\"arn:aws:s3:::logs/*\"]}\n  b: {account: \"333333333333\", functions: [y], mode: direct}\n",
        )
        .unwrap()
    }

    fn actions(p: &Permissions, account: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let a = p.accounts.iter().find(|a| a.account == account).unwrap();
        for s in a.policy["Statement"].as_array().unwrap() {
            for act in s["Action"].as_array().unwrap() {
                for r in s["Resource"].as_array().unwrap() {
                    out.entry(act.as_str().unwrap().into())
                        .or_default()
                        .insert(r.as_str().unwrap().into());
                }
            }
        }
        out
    }

    /// import reads (no write), from the alias in the IoT account to the roles, functions and
    /// buckets of every environment's account, and what check reads after.
    #[test]
    fn import_reads_the_chain_from_its_start_and_checks_it() {
        let c = cfg();
        let p = permissions(&c, For::Import);
        assert_eq!(p.command, "import");
        let iot = actions(&p, "111111111111");
        for a in [
            "iot:DescribeRoleAlias",
            "iot:ListTargetsForPolicy",
            "iam:GetRole",
        ] {
            assert!(iot.contains_key(a), "{a}: {iot:?}");
        }
        let env = actions(&p, "222222222222");
        for a in [
            "iam:ListRoles",
            "lambda:ListFunctions",
            "s3:ListAllMyBuckets",
            "lambda:GetPolicy",
        ] {
            assert!(env.contains_key(a), "{a}: {env:?}");
        }
        for a in &p.accounts {
            for s in a.policy["Statement"].as_array().unwrap() {
                for act in s["Action"].as_array().unwrap() {
                    let act = act.as_str().unwrap();
                    assert!(
                        ["get", "list", "describe"].iter().any(|v| act
                            .split(':')
                            .nth(1)
                            .unwrap_or("")
                            .to_ascii_lowercase()
                            .starts_with(v)),
                        "import only reads: {act}"
                    );
                }
            }
        }
    }

    /// plan reads only; apply adds the writes on exact ARNs (PassRole on the IoT role, for IoT
    /// only); destroy deletes; `*` only where AWS allows nothing narrower; reach names each
    /// assume_role.
    #[test]
    fn each_command_needs_its_own_calls_on_exact_arns() {
        let c = cfg();
        let plan = permissions(&c, For::Plan);
        let iot = actions(&plan, "111111111111");
        // the fleet's role, and those of the other layout (read to clean up after a move)
        assert_eq!(
            iot["iam:GetRole"],
            BTreeSet::from(
                ["f-a-device", "f-b-device", "f-device"]
                    .map(|r| format!("arn:aws:iam::111111111111:role/{r}"))
            )
        );
        assert!(iot
            .keys()
            .all(|a| !a.contains("Create") && !a.contains("Delete")));
        assert_eq!(iot["iot:ListPolicies"], BTreeSet::from(["*".to_string()]));
        assert!(plan.accounts[0].wildcards[0].contains("iot:ListPolicies"));
        let reach = plan.reach.as_ref().unwrap();
        assert_eq!(
            reach["Statement"][0]["Resource"],
            json!([
                "arn:aws:iam::111111111111:role/Ci",
                "arn:aws:iam::222222222222:role/Ci"
            ])
        );

        let apply = permissions(&c, For::Apply);
        let iot = actions(&apply, "111111111111");
        assert!(iot["iot:CreateRoleAlias"]
            .contains("arn:aws:iot:eu-west-1:111111111111:rolealias/f-device"));
        assert_eq!(
            iot["iam:PassRole"],
            BTreeSet::from(["arn:aws:iam::111111111111:role/f-device".to_string()]),
            "only the role the alias hands out"
        );
        let pass = apply.accounts[0].policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Action"] == json!(["iam:PassRole"]))
            .unwrap();
        assert_eq!(
            pass["Condition"]["StringEquals"]["iam:PassedToService"],
            "iot.amazonaws.com"
        );
        assert!(iot["iot:AttachPolicy"].contains(&c.certificate_arn(&"a".repeat(64))));
        let a = actions(&apply, "222222222222");
        assert!(a["iam:CreateRole"].contains("arn:aws:iam::222222222222:role/f-a"));
        assert!(a["s3:GetEncryptionConfiguration"].contains("arn:aws:s3:::logs"));
        let b = actions(&apply, "333333333333");
        assert_eq!(
            b["lambda:AddPermission"],
            BTreeSet::from(["arn:aws:lambda:eu-west-1:333333333333:function:y".to_string()])
        );
        assert!(
            !b.contains_key("iam:CreateRole"),
            "direct mode has no target role"
        );
        // every resource is an ARN of its account, or `*`
        for acct in &apply.accounts {
            for (_, rs) in actions(&apply, &acct.account) {
                for r in rs {
                    assert!(
                        r == "*"
                            || r.contains(&acct.account)
                            || r.starts_with("arn:aws:s3:::")
                            || r.starts_with("arn:aws:iam::aws:"),
                        "{r}"
                    );
                }
            }
        }

        let destroy = permissions(&c, For::Destroy);
        let iot = actions(&destroy, "111111111111");
        assert!(iot.contains_key("iot:DeletePolicy") && !iot.contains_key("iot:CreatePolicy"));

        let check = permissions(&c, For::Check);
        let a = actions(&check, "222222222222");
        assert!(a.contains_key("s3:GetBucketPolicy") && a.contains_key("kms:GetKeyPolicy"));
        assert!(!a.keys().any(|k| k.contains("Put") || k.contains("Create")));
    }
}

/// docs/PERMISSIONS.md: the policies of `plan` and `apply` for environments/example.yaml (kept
/// current by a test; `XACCT_UPDATE_DOCS=1 cargo test --lib permissions` rewrites it).
pub fn example_doc(cfg: &Config) -> String {
    let mut out = String::from(
        "# Permissions for environments/example.yaml\n\nGenerated by `xacct permissions -f environments/example.yaml --for COMMAND` (a test keeps\nthis file current). `--json` prints the same as `{\"command\", \"reach\", \"accounts\": [{\"account\", \"access\", \"policy\"}]}`.\n",
    );
    for command in [For::Plan, For::Apply] {
        out.push_str(&format!("\n## `--for {}`\n\n```\n", command.as_str()));
        out.push_str(render_human(&permissions(cfg, command)).trim_end());
        out.push_str("\n```\n");
    }
    out
}

#[cfg(test)]
mod doc {
    use super::*;

    #[test]
    fn the_permissions_doc_is_generated_from_the_example_file() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let cfg = crate::config::load(&root.join("environments/example.yaml")).unwrap();
        let want = example_doc(&cfg);
        let path = root.join("docs/PERMISSIONS.md");
        if std::env::var_os("XACCT_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/PERMISSIONS.md is stale: run XACCT_UPDATE_DOCS=1 cargo test --lib permissions"
        );
    }
}
