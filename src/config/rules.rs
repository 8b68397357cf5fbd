//! The semantic rules of the environment file: names, accounts, regions, ARNs, durations and access,
//! checked on the parsed file before any AWS call; each problem is recorded with its position.

use super::*;

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn chars_ok(s: &str, extra: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(c))
}

/// IAM role names: 1..64 of `[A-Za-z0-9+=,.@_-]`.
pub fn valid_role_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && chars_ok(s, "+=,.@-")
}
/// IoT role alias names: 1..128 of `[A-Za-z0-9=,@_-]`.
pub fn valid_alias_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && chars_ok(s, "=,@-")
}
/// IoT policy names: 1..128 of `[A-Za-z0-9+=.,@_-]`.
pub fn valid_iot_policy_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && chars_ok(s, "+=,.@-")
}
fn valid_region(s: &str) -> bool {
    // e.g. ap-northeast-1, us-gov-west-1, cn-north-1
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}
use crate::arn::{partition_of, Arn};

fn valid_function_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
/// Environment names: what an IAM role name allows (the default target role is `<fleet>-<env>`).
fn valid_env_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && chars_ok(s, "+=,.@-")
}
fn valid_cert_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn account(c: &mut Checker, path: &[&str], f: AccountField) -> String {
    match f {
        AccountField::Text(s) if c.idx.is_plain(path) => {
            c.at(
                path,
                "account-id",
                format!("account id {s} is written without quotes"),
                Some(format!(
                    "quote it, e.g. account: \"{s}\" (unquoted, some YAML parsers read it as a number and drop its leading zeros)"
                )),
            );
            s
        }
        AccountField::Text(s) => {
            if !is_account(&s) {
                c.at(
                    path,
                    "account-id",
                    format!("account id `{s}` is not 12 digits"),
                    Some("an AWS account id is exactly 12 digits, e.g. \"111111111111\"".into()),
                );
            }
            s
        }
        AccountField::Number(n) => {
            c.at(
                path,
                "account-id",
                format!("account id {n} is written as a number"),
                Some(format!(
                    "quote it as a string of 12 digits, e.g. account: \"{:0>12}\" (YAML drops leading zeros)",
                    n
                )),
            );
            n
        }
    }
}

fn access(
    c: &mut Checker,
    base: &[&str],
    account: &str,
    profile: Option<String>,
    assume_role: Option<String>,
) -> Access {
    if let Some(p) = &profile {
        if p.trim().is_empty() {
            let mut path = base.to_vec();
            path.push("profile");
            c.at(
                &path,
                "profile",
                "profile is empty".into(),
                Some("name an AWS profile or remove the key".into()),
            );
        }
    }
    if let Some(r) = &assume_role {
        let mut path = base.to_vec();
        path.push("assume_role");
        let arn = Arn::parse(r);
        let ok = arn.as_ref().is_some_and(|a| {
            a.partition.starts_with("aws")
                && a.service == "iam"
                && a.region.is_empty()
                && is_account(&a.account)
        }) && arn
            .as_ref()
            .and_then(|a| a.resource.strip_prefix("role/"))
            .is_some_and(|n| {
                let name = n.rsplit('/').next().unwrap_or("");
                valid_role_name(name)
            });
        if !ok {
            c.at(
                &path,
                "assume-role-arn",
                format!("assume_role `{r}` is not an IAM role ARN"),
                Some(format!("write it as arn:aws:iam::{account}:role/NAME")),
            );
        } else if let Some(a) = arn.filter(|a| a.account != account) {
            c.at(
                &path,
                "assume-role-account",
                format!(
                    "assume_role is in account {} but this account is {account}",
                    a.account
                ),
                Some(format!(
                    "assume a role of account {account}, e.g. arn:{}:iam::{account}:role/{}",
                    a.partition,
                    &a.resource["role/".len()..]
                )),
            );
        }
    }
    Access {
        profile,
        assume_role,
    }
}

fn name_rule(
    c: &mut Checker,
    path: &[&str],
    what: &str,
    value: &str,
    ok: bool,
    rule: &'static str,
    spec: &str,
) {
    if !ok {
        c.at(
            path,
            rule,
            format!("{what} `{value}` is not a valid name"),
            Some(spec.to_string()),
        );
    }
}

const ROLE_SPEC: &str = "IAM role names are 1-64 characters of letters, digits and + = , . @ _ -";
const ALIAS_SPEC: &str =
    "IoT role alias names are 1-128 characters of letters, digits and = , @ _ -";
const POLICY_SPEC: &str =
    "IoT policy names are 1-128 characters of letters, digits and + = , . @ _ -";

pub(super) fn validate(path: &Path, raw: RawFile, c: &mut Checker) -> Config {
    let fleet = raw.fleet;
    let fleet_ok = !fleet.is_empty() && fleet.len() <= 57 && chars_ok(&fleet, "+=,.@-");
    if !fleet_ok {
        c.at(
            &["fleet"],
            "fleet-name",
            format!("fleet `{fleet}` is not a valid name prefix"),
            Some("use 1-57 characters of letters, digits and + = , . @ _ - (it prefixes every role and policy name)".into()),
        );
    }
    let region = raw.region;
    if !valid_region(&region) {
        c.at(
            &["region"],
            "region",
            format!("region `{region}` is not an AWS region name"),
            Some("write a region code such as ap-northeast-1 or us-east-1".into()),
        );
    }
    let partition = partition_of(&region).to_string();

    let iot_account = account(c, &["iot", "account"], raw.iot.account);
    let iot_access = access(
        c,
        &["iot"],
        &iot_account,
        raw.iot.profile,
        raw.iot.assume_role,
    );
    // A name derived from an invalid fleet is not reported again.
    let role_name_set = raw.iot.role_name.is_some();
    let role_name = raw
        .iot
        .role_name
        .unwrap_or_else(|| format!("{fleet}-device"));
    if role_name_set || fleet_ok {
        name_rule(
            c,
            &["iot", "role_name"],
            "role_name",
            &role_name,
            valid_role_name(&role_name),
            "role-name",
            ROLE_SPEC,
        );
    }
    let alias_set = raw.iot.role_alias.is_some();
    let role_alias = raw
        .iot
        .role_alias
        .unwrap_or_else(|| format!("{fleet}-device"));
    if alias_set || fleet_ok {
        name_rule(
            c,
            &["iot", "role_alias"],
            "role_alias",
            &role_alias,
            valid_alias_name(&role_alias),
            "alias-name",
            ALIAS_SPEC,
        );
    }
    let policy_set = raw.iot.policy_name.is_some();
    let policy_name = raw
        .iot
        .policy_name
        .unwrap_or_else(|| format!("{fleet}-device-credentials"));
    if policy_set || fleet_ok {
        name_rule(
            c,
            &["iot", "policy_name"],
            "policy_name",
            &policy_name,
            valid_iot_policy_name(&policy_name),
            "policy-name",
            POLICY_SPEC,
        );
    }
    let credential_duration = match raw.iot.credential_duration {
        None => DEFAULT_CREDENTIAL_DURATION,
        Some(d) if (900..=43200).contains(&d) => d as i32,
        Some(d) => {
            c.at(
                &["iot", "credential_duration"],
                "duration",
                format!("credential_duration {d} is out of range"),
                Some("a role alias issues credentials for 900 to 43200 seconds".into()),
            );
            DEFAULT_CREDENTIAL_DURATION
        }
    };
    let mut certificates = Vec::new();
    for (i, CertificateId(cert)) in raw.iot.certificates.iter().enumerate() {
        let i_s = i.to_string();
        if !valid_cert_id(cert) {
            c.at(
                &["iot", "certificates", &i_s],
                "certificate-id",
                format!("certificate id `{cert}` is not an IoT certificate id"),
                Some("an IoT certificate id is 64 lowercase hex characters (aws iot list-certificates)".into()),
            );
        } else if certificates.contains(cert) {
            c.at(
                &["iot", "certificates", &i_s],
                "duplicate-certificate",
                format!("certificate {cert} is listed twice"),
                Some("list each certificate once".into()),
            );
        }
        certificates.push(cert.clone());
    }

    if raw.environments.is_empty() {
        c.at(
            &["environments"],
            "no-environments",
            "`environments` is empty".into(),
            Some("name at least one environment, e.g. prd: { account: \"222222222222\", functions: [ingest] }".into()),
        );
    }
    let mut environments = Vec::new();
    let mut role_names: Vec<(String, String, String)> = vec![(
        iot_account.clone(),
        role_name.clone(),
        "the IoT role".into(),
    )];
    for (name, t) in raw.environments {
        let base = ["environments", name.as_str()];
        let env_ok = valid_env_name(&name);
        if !env_ok {
            c.at(
                &base,
                "environment-name",
                format!("environment name `{name}` is not valid"),
                Some("use 1-63 letters, digits and + = , . @ _ - (the default target role is <fleet>-<environment>)".into()),
            );
        }
        let p = |k: &'static str| -> Vec<&str> { vec!["environments", name.as_str(), k] };
        let acct = account(c, &p("account"), t.account);
        let acc = access(c, &base, &acct, t.profile, t.assume_role);
        let tr_set = t.role_name.is_some();
        let tr = t.role_name.unwrap_or_else(|| format!("{fleet}-{name}"));
        if tr_set || (fleet_ok && env_ok) {
            let spec = if tr_set {
                ROLE_SPEC.to_string()
            } else {
                format!("{ROLE_SPEC}; the default is <fleet>-<environment>: set role_name for this environment")
            };
            name_rule(
                c,
                &p("role_name"),
                "role_name",
                &tr,
                valid_role_name(&tr),
                "role-name",
                &spec,
            );
        }
        if let Some((_, _, owner)) = role_names.iter().find(|(a, r, _)| a == &acct && r == &tr) {
            c.at(
                &p("role_name"),
                "duplicate-role",
                format!("role name `{tr}` in account {acct} is already used by {owner}"),
                Some("give this environment its own role_name".into()),
            );
        }
        role_names.push((acct.clone(), tr.clone(), format!("environment `{name}`")));
        let session_duration = match t.session_duration {
            None => ROLE_CHAINING_CAP,
            Some(d) if d > ROLE_CHAINING_CAP as i64 => {
                c.at(
                    &p("session_duration"),
                    "role-chaining",
                    format!("session_duration {d} is impossible: the target role is assumed with IoT-issued role credentials, and role chaining caps a session at 3600 seconds"),
                    Some("use 900 to 3600 seconds".into()),
                );
                ROLE_CHAINING_CAP
            }
            Some(d) if d < 900 => {
                c.at(
                    &p("session_duration"),
                    "duration",
                    format!("session_duration {d} is below the AWS minimum of 900 seconds"),
                    Some("use 900 to 3600 seconds".into()),
                );
                ROLE_CHAINING_CAP
            }
            Some(d) => d as i32,
        };
        if t.functions.is_empty() {
            c.at(
                &p("functions"),
                "no-functions",
                format!("environment `{name}` lists no functions"),
                Some("list the Lambda functions the devices may invoke, by name or ARN".into()),
            );
        }
        let mut functions: Vec<String> = Vec::new();
        for (i, f) in t.functions.iter().enumerate() {
            let i_s = i.to_string();
            let fp = ["environments", name.as_str(), "functions", i_s.as_str()];
            let arn = if f.starts_with("arn:") {
                let parsed = Arn::parse(f);
                let ok = parsed.as_ref().is_some_and(|a| {
                    let r = a.resource_parts();
                    a.service == "lambda"
                        && r.len() == 2
                        && r[0] == "function"
                        && valid_function_name(r[1])
                        && is_account(&a.account)
                });
                if !ok {
                    c.at(
                        &fp,
                        "function-arn",
                        format!("`{f}` is not an unqualified Lambda function ARN"),
                        Some(format!("write arn:{partition}:lambda:{region}:{acct}:function:NAME, or just NAME")),
                    );
                    continue;
                }
                let a = parsed.expect("checked above");
                let fname = a.resource_name();
                if a.account != *acct {
                    c.at(
                        &fp,
                        "function-account",
                        format!("function `{fname}` is in account {}, outside environment `{name}` (account {acct})", a.account),
                        Some(format!("use arn:{partition}:lambda:{region}:{acct}:function:{fname} or move it to the environment of account {}", a.account)),
                    );
                }
                if a.region != *region {
                    c.at(
                        &fp,
                        "function-region",
                        format!(
                            "function `{fname}` is in region {}, but the fleet is in {region}",
                            a.region
                        ),
                        Some(format!(
                            "use arn:{partition}:lambda:{region}:{acct}:function:{fname}"
                        )),
                    );
                }
                f.clone()
            } else {
                if !valid_function_name(f) {
                    c.at(
                        &fp,
                        "function-name",
                        format!("`{f}` is not a Lambda function name"),
                        Some("a function name is 1-64 letters, digits, - or _ (or give the full ARN)".into()),
                    );
                    continue;
                }
                format!("arn:{partition}:lambda:{region}:{acct}:function:{f}")
            };
            if functions.contains(&arn) {
                c.at(
                    &fp,
                    "duplicate-function",
                    format!("function `{f}` is listed twice"),
                    Some("list each function once".into()),
                );
                continue;
            }
            functions.push(arn);
        }
        environments.push(Target {
            name,
            account: acct,
            access: acc,
            role_name: tr,
            functions,
            session_duration,
        });
    }

    Config {
        source: path.to_path_buf(),
        text: String::new(),
        fleet,
        region,
        partition,
        iot: IotAccount {
            account: iot_account,
            access: iot_access,
            role_name,
            role_alias,
            policy_name,
            credential_duration,
            source_arn_condition: raw.iot.source_arn_condition.unwrap_or_default(),
            certificates,
        },
        environments,
    }
}
