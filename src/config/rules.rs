//! The semantic rules of the environment file: names, accounts, regions, ARNs, durations and access,
//! checked on the parsed file before any AWS call; each problem is recorded with its position.

use super::targets::{apis, objects};
use super::{
    Access, AccountField, CertificateId, Checker, Config, Devices, IotAccount, OrgAccess, Origin,
    Path, RawDevices, RawFile, RawIot, RawSource, RawTarget, SourceRole, Target, TargetMode,
    DEFAULT_CREDENTIAL_DURATION, ROLE_CHAINING_CAP,
};

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
    let origin = validate_origin(c, raw.iot, raw.source, &fleet, fleet_ok);
    if raw.environments.is_empty() {
        c.at(
            &["environments"],
            "no-environments",
            "`environments` is empty".into(),
            Some("name at least one environment, e.g. prd: { account: \"222222222222\", functions: [ingest] }".into()),
        );
    }
    let file = FileFacts {
        fleet: &fleet,
        fleet_ok,
        region: &region,
        partition: &partition,
        is_iot: matches!(origin, Origin::Iot(_)),
    };
    let mut role_names: Vec<RoleName> = match &origin {
        Origin::Iot(i) => vec![RoleName {
            account: i.account.clone(),
            name: i.role_name.clone(),
            whose: "the IoT role".into(),
            line: c.idx.value(&["iot", "role_name"]).line,
        }],
        Origin::Role(r) => vec![RoleName {
            account: r.account.clone(),
            name: r.role_name.clone(),
            whose: "the source role".into(),
            line: c.idx.value(&["source", "arn"]).line,
        }],
    };
    let environments: Vec<Target> = raw
        .environments
        .into_iter()
        .map(|(name, t)| validate_env(c, &file, &mut role_names, name, t))
        .collect();
    if file.is_iot && environments.iter().any(|t| t.devices.is_some()) {
        gated_role_names(c, &file, &environments, &mut role_names);
    }
    direct_statement_ids(c, &file, &environments);
    let organization = raw.organization.map(|o| {
        let account = account(c, &["organization", "account"], o.account);
        let access = access(c, &["organization"], &account, o.profile, o.assume_role);
        OrgAccess { account, access }
    });
    Config {
        source: path.to_path_buf(),
        text: String::new(),
        fleet,
        region,
        partition,
        origin,
        environments,
        organization,
    }
}

/// A role the file names or derives, to refuse two that IAM would take for one.
struct RoleName {
    account: String,
    name: String,
    /// "environment `prd`", "the IoT role", …
    whose: String,
    line: usize,
}

/// A role of `account` named `name` that IAM cannot create beside one already named: IAM role
/// names are case-insensitive (`PRD` and `prd` are one role).
fn role_collision<'a>(names: &'a [RoleName], account: &str, name: &str) -> Option<&'a RoleName> {
    names
        .iter()
        .find(|r| r.account == account && r.name.eq_ignore_ascii_case(name))
}

/// What every section's validation needs to know of the file.
struct FileFacts<'a> {
    fleet: &'a str,
    fleet_ok: bool,
    region: &'a str,
    partition: &'a str,
    /// A device chain (`iot:`), not a workload's (`source:`).
    is_iot: bool,
}

/// Where the chain starts: `iot:` or `source:`, exactly one of them.
fn validate_origin(
    c: &mut Checker,
    iot: Option<RawIot>,
    source: Option<RawSource>,
    fleet: &str,
    fleet_ok: bool,
) -> Origin {
    match (iot, source) {
        (Some(iot), None) => Origin::Iot(validate_iot(c, iot, fleet, fleet_ok)),
        (None, Some(src)) => Origin::Role(validate_source(c, src)),
        (Some(iot), Some(_)) => {
            c.at_key(
                &["source"],
                "iot-and-source",
                "the file has both `iot:` and `source:`".into(),
                Some("a chain starts either at a device certificate (`iot:`) or at an existing workload role (`source:`): keep one, and put the other chain in a file of its own".into()),
            );
            Origin::Iot(validate_iot(c, iot, fleet, fleet_ok))
        }
        (None, None) => {
            c.at(
                &["fleet"],
                "missing-key",
                "the file has neither `iot:` nor `source:`".into(),
                Some("add `iot:` (the chain starts at a device certificate) or `source:` (it starts at an existing workload role), see README".into()),
            );
            Origin::Role(SourceRole {
                account: String::new(),
                access: Access {
                    profile: None,
                    assume_role: None,
                },
                arn: String::new(),
                role_name: String::new(),
            })
        }
    }
}

/// One environment. `role_names` holds the roles named so far, to refuse a second role of the same
/// name (in any case) in one account.
fn validate_env(
    c: &mut Checker,
    file: &FileFacts,
    role_names: &mut Vec<RoleName>,
    name: String,
    t: RawTarget,
) -> Target {
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
    let tr = t
        .role_name
        .unwrap_or_else(|| format!("{}-{name}", file.fleet));
    if tr_set || (file.fleet_ok && env_ok) {
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
    if let Some(other) = role_collision(role_names, &acct, &tr) {
        let same = if other.name == tr {
            String::new()
        } else {
            format!(" as `{}` (IAM role names are case-insensitive)", other.name)
        };
        c.at(
            &p("role_name"),
            "duplicate-role",
            format!(
                "role name `{tr}` in account {acct} is already used{same} by {} at line {}",
                other.whose, other.line
            ),
            Some("give this environment its own role_name".into()),
        );
    }
    role_names.push(RoleName {
        account: acct.clone(),
        name: tr.clone(),
        whose: format!("environment `{name}`"),
        line: c.idx.value(&p("role_name")).line,
    });
    let session_duration = session_duration(c, &p("session_duration"), t.session_duration);
    if t.functions.is_empty() && t.apis.is_empty() && t.objects.is_empty() {
        c.at(
            &p("functions"),
            "no-targets",
            format!("environment `{name}` lists no functions, apis or objects"),
            Some("list what the chain may reach: Lambda functions (`functions`), API Gateway methods (`apis`) or S3 objects (`objects`)".into()),
        );
    }
    let functions = functions(c, file, &name, &acct, &t.functions);
    let apis = apis(c, &name, &t.apis, file.partition, file.region, &acct);
    let objects = objects(c, &name, &t.objects, file.partition);
    let mode = t.mode.unwrap_or_default();
    if mode == TargetMode::Direct {
        let listed = (
            !apis.is_empty() || !objects.is_empty(),
            tr_set,
            t.session_duration.is_some(),
        );
        direct_mode(c, file, &name, listed);
    }
    let devices = t.devices.and_then(|d| devices(c, file, &name, d));
    Target {
        name,
        account: acct,
        access: acc,
        role_name: tr,
        functions,
        apis,
        objects,
        session_duration,
        mode,
        devices,
    }
}

/// The target role's session duration: 900 s to the role-chaining cap (the default).
fn session_duration(c: &mut Checker, path: &[&str], d: Option<i64>) -> i32 {
    match d {
        None => ROLE_CHAINING_CAP,
        Some(d) if d > ROLE_CHAINING_CAP as i64 => {
            c.at(
                path,
                "role-chaining",
                format!("session_duration {d} is impossible: the target role is assumed with role credentials (IoT-issued, or the source role's), and role chaining caps a session at 3600 seconds"),
                Some("use 900 to 3600 seconds".into()),
            );
            ROLE_CHAINING_CAP
        }
        Some(d) if d < 900 => {
            c.at(
                path,
                "duration",
                format!("session_duration {d} is below the AWS minimum of 900 seconds"),
                Some("use 900 to 3600 seconds".into()),
            );
            ROLE_CHAINING_CAP
        }
        Some(d) => d as i32,
    }
}

/// An environment's functions as unqualified ARNs in its account and the fleet's region: names, or
/// ARNs that must be exactly there; each once.
fn functions(
    c: &mut Checker,
    file: &FileFacts,
    name: &str,
    acct: &str,
    list: &[String],
) -> Vec<String> {
    let (partition, region) = (file.partition, file.region);
    let mut functions: Vec<String> = Vec::new();
    for (i, f) in list.iter().enumerate() {
        let i_s = i.to_string();
        let fp = ["environments", name, "functions", i_s.as_str()];
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
                    Some(format!(
                        "write arn:{partition}:lambda:{region}:{acct}:function:NAME, or just NAME"
                    )),
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
                    Some(
                        "a function name is 1-64 letters, digits, - or _ (or give the full ARN)"
                            .into(),
                    ),
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
    functions
}

/// `mode: direct`: device chains only, functions only, no target role. `listed`: whether the
/// environment lists apis or objects, sets role_name, sets session_duration.
fn direct_mode(c: &mut Checker, file: &FileFacts, name: &str, listed: (bool, bool, bool)) {
    let (targets, role_name, duration) = listed;
    let p = |k: &'static str| -> Vec<&str> { vec!["environments", name, k] };
    if !file.is_iot {
        c.at(
            &p("mode"),
            "direct-mode",
            "mode: direct is for device chains (a file with `iot:`)".into(),
            Some("a workload role assumes the target role: remove `mode`".into()),
        );
    } else if targets {
        c.at(
            &p("mode"),
            "direct-mode",
            format!("environment `{name}` is in mode direct, which reaches Lambda functions only, but it lists apis or objects"),
            Some("use mode: assume_role (the default) for APIs and objects, or list only functions".into()),
        );
    } else if role_name || duration {
        c.at(
            &p(if role_name {
                "role_name"
            } else {
                "session_duration"
            }),
            "direct-mode",
            format!("environment `{name}` is in mode direct, which has no target role"),
            Some("remove role_name and session_duration, or use mode: assume_role".into()),
        );
    }
}

/// The devices an environment admits: one thing group or one thing type (device chains only).
fn devices(c: &mut Checker, file: &FileFacts, name: &str, d: RawDevices) -> Option<Devices> {
    let dp = ["environments", name, "devices"];
    let name_ok = |v: &str| {
        !v.is_empty()
            && v.len() <= 128
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":_-".contains(&b))
    };
    match (d.thing_group, d.thing_type) {
        _ if !file.is_iot => {
            c.at(
                &dp,
                "devices",
                "devices gates device chains (a file with `iot:`)".into(),
                Some("remove `devices`".into()),
            );
            None
        }
        (Some(g), None) if name_ok(&g) => Some(Devices::ThingGroup(g)),
        (None, Some(ty)) if name_ok(&ty) => Some(Devices::ThingType(ty)),
        (Some(v), None) | (None, Some(v)) => {
            c.at(
                &dp,
                "devices",
                format!("`{v}` is not a thing group or thing type name"),
                Some("names are 1-128 letters, digits, : _ and -".into()),
            );
            None
        }
        _ => {
            c.at(
                &dp,
                "devices",
                "devices names neither or both of thing_group and thing_type".into(),
                Some(
                    "write devices: { thing_group: NAME } or devices: { thing_type: NAME }".into(),
                ),
            );
            None
        }
    }
}

/// Gated devices give every environment its own IoT role, `<fleet>-<env>-device`, in the IoT
/// account: a valid IAM name, and one no other role of that account takes (in any case).
fn gated_role_names(
    c: &mut Checker,
    file: &FileFacts,
    environments: &[Target],
    role_names: &mut Vec<RoleName>,
) {
    let iot_account = role_names
        .first()
        .map(|r| r.account.clone())
        .unwrap_or_default();
    for t in environments {
        let role = format!("{}-{}-device", file.fleet, t.name);
        let here = c.idx.key(&["environments", t.name.as_str()]).line;
        if let Some(other) = role_collision(role_names, &iot_account, &role) {
            let message = format!(
                "gated devices give environment `{}` the IoT role `{role}` in account {iot_account}, which {} at line {} already names (IAM role names are case-insensitive)",
                t.name, other.whose, other.line
            );
            c.at_key(
                &["environments", t.name.as_str()],
                "duplicate-role",
                message,
                Some("rename the environment or the other role".into()),
            );
        }
        role_names.push(RoleName {
            account: iot_account.clone(),
            name: role.clone(),
            whose: format!("the IoT role of environment `{}`", t.name),
            line: here,
        });
        if file.fleet_ok && !valid_role_name(&role) {
            c.at_key(
                &["environments", t.name.as_str()],
                "role-name",
                format!(
                    "gated devices give environment `{}` its own IoT role `{role}`, longer than IAM's 64 characters",
                    t.name
                ),
                Some("shorten the fleet or the environment name".into()),
            );
        }
        // its own role alias and IoT policy, named after it
        let alias = format!("{}-{}", file.fleet, t.name);
        if file.fleet_ok && !valid_alias_name(&alias) {
            c.at_key(
                &["environments", t.name.as_str()],
                "alias-name",
                format!(
                    "gated devices give environment `{}` its own role alias `{alias}`, which IoT refuses: {ALIAS_SPEC}",
                    t.name
                ),
                Some("rename the environment without `.` or `+`".into()),
            );
        }
        let policy = format!("{}-{}-credentials", file.fleet, t.name);
        if file.fleet_ok && !valid_iot_policy_name(&policy) {
            c.at_key(
                &["environments", t.name.as_str()],
                "policy-name",
                format!(
                    "gated devices give environment `{}` its own IoT policy `{policy}`, which IoT refuses: {POLICY_SPEC}",
                    t.name
                ),
                Some("shorten the fleet or the environment name".into()),
            );
        }
    }
}

/// Lambda statement ids: 1..100 of `[A-Za-z0-9_-]`.
fn valid_statement_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Direct mode writes xacct's statement `xacct-<fleet>` into each function's policy: a valid
/// statement id, or Lambda refuses it.
fn direct_statement_ids(c: &mut Checker, file: &FileFacts, environments: &[Target]) {
    let sid = format!("xacct-{}", file.fleet);
    if file.fleet_ok && environments.iter().any(|t| t.direct()) && !valid_statement_id(&sid) {
        c.at(
            &["fleet"],
            "statement-id",
            format!(
                "mode: direct names xacct's statement in each function's policy `{sid}`, which Lambda refuses: statement ids are 1-100 letters, digits, - and _"
            ),
            Some("use a fleet name of letters, digits, - and _ for a file with mode: direct".into()),
        );
    }
}

fn validate_iot(c: &mut Checker, iot: RawIot, fleet: &str, fleet_ok: bool) -> IotAccount {
    let iot_account = account(c, &["iot", "account"], iot.account);
    let iot_access = access(c, &["iot"], &iot_account, iot.profile, iot.assume_role);
    // A name derived from an invalid fleet is not reported again.
    let role_name_set = iot.role_name.is_some();
    let role_name = iot.role_name.unwrap_or_else(|| format!("{fleet}-device"));
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
    let alias_set = iot.role_alias.is_some();
    let role_alias = iot.role_alias.unwrap_or_else(|| format!("{fleet}-device"));
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
    let policy_set = iot.policy_name.is_some();
    let policy_name = iot
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
    let credential_duration = match iot.credential_duration {
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
    let certificates = iot_certificates(c, &iot.certificates);
    let credentials_endpoint = iot.credentials_endpoint;
    if let Some(e) = &credentials_endpoint {
        credentials_endpoint_rule(c, e);
    }
    IotAccount {
        account: iot_account,
        access: iot_access,
        role_name,
        role_alias,
        policy_name,
        credential_duration,
        source_arn_condition: iot.source_arn_condition.unwrap_or_default(),
        certificates,
        credentials_endpoint,
    }
}

/// `iot.certificates`: each an IoT certificate id, listed once.
fn iot_certificates(c: &mut Checker, listed: &[CertificateId]) -> Vec<String> {
    let mut certificates = Vec::new();
    for (i, CertificateId(cert)) in listed.iter().enumerate() {
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
    certificates
}

/// `iot.credentials_endpoint`: a host[:port], not a URL.
fn credentials_endpoint_rule(c: &mut Checker, e: &str) {
    let (host, port) = match e.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (e, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if !host_ok || !port_ok {
        c.at(
            &["iot", "credentials_endpoint"],
            "credentials-endpoint",
            format!("credentials_endpoint `{e}` is not a host[:port]"),
            Some("write the host `aws iot describe-endpoint --endpoint-type iot:CredentialProvider` prints, e.g. c1a2b3c4d5e6f7.credentials.iot.ap-northeast-1.amazonaws.com (no https://)".into()),
        );
    }
}

fn validate_source(c: &mut Checker, src: RawSource) -> SourceRole {
    let acct = account(c, &["source", "account"], src.account);
    let access = access(c, &["source"], &acct, src.profile, src.assume_role);
    let arn = Arn::parse(&src.role);
    let name = arn
        .as_ref()
        .and_then(|a| a.resource.strip_prefix("role/"))
        .map(|r| r.rsplit('/').next().unwrap_or("").to_string())
        .unwrap_or_default();
    let ok = arn.as_ref().is_some_and(|a| {
        a.partition.starts_with("aws") && a.service == "iam" && a.region.is_empty()
    }) && valid_role_name(&name)
        && arn
            .as_ref()
            .and_then(|a| a.resource.strip_prefix("role/"))
            .is_some_and(|r| !r.starts_with('/') && !r.contains("//"));
    if !ok {
        c.at(
            &["source", "role"],
            "source-role-arn",
            format!("source.role `{}` is not an IAM role ARN", src.role),
            Some(format!(
                "write the role's ARN as IAM shows it, e.g. arn:aws:iam::{acct}:role/service-role/NAME"
            )),
        );
    } else if let Some(a) = arn.as_ref().filter(|a| a.account != acct) {
        c.at(
            &["source", "role"],
            "source-role-account",
            format!(
                "source.role is in account {} but source.account is {acct}",
                a.account
            ),
            Some(format!(
                "name a role of account {acct} (arn:{}:iam::{acct}:{}), or correct source.account",
                a.partition, a.resource
            )),
        );
    }
    SourceRole {
        account: acct,
        access,
        arn: src.role,
        role_name: name,
    }
}
