//! The reads of `xacct import`: from the chain's start (a role alias in the IoT account, or a
//! workload role) to its roles, their policies, the targets those allow, and the IoT policies and
//! certificates that admit devices. Every call is a read; the accounts are reached with `--access`
//! or the default credential chain, proven before the first read (`aws::connect`).

use super::{
    action_matches, clean_name, statements_of, strings, Found, FoundEnv, FoundIotPolicy, FoundRole,
    FoundStart,
};
use crate::aws::{AwsError, Call, Clients};
use crate::config::Access;
use crate::policy;
use std::collections::BTreeMap;

/// How to reach each account: `--access ACCOUNT=profile:NAME|role:ARN`, else the default chain.
#[derive(Debug, Clone, Default)]
pub struct AccessMap(pub BTreeMap<String, Access>);

impl AccessMap {
    /// Parse `ACCOUNT=profile:NAME` / `ACCOUNT=role:ARN` flags.
    pub fn parse(flags: &[String]) -> Result<AccessMap, String> {
        let mut m = BTreeMap::new();
        for f in flags {
            let Some((account, how)) = f.split_once('=') else {
                return Err(format!(
                    "--access {f}: write ACCOUNT=profile:NAME or ACCOUNT=role:ARN"
                ));
            };
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "--access {f}: {account} is not a 12-digit account id"
                ));
            }
            let access = if let Some(p) = how.strip_prefix("profile:") {
                Access {
                    profile: Some(p.to_string()),
                    assume_role: None,
                }
            } else if let Some(r) = how.strip_prefix("role:") {
                if !r.starts_with("arn:") || !r.contains(":role/") {
                    return Err(format!("--access {f}: {r} is not a role ARN"));
                }
                Access {
                    profile: None,
                    assume_role: Some(r.to_string()),
                }
            } else {
                return Err(format!(
                    "--access {f}: write ACCOUNT=profile:NAME or ACCOUNT=role:ARN"
                ));
            };
            m.insert(account.to_string(), access);
        }
        Ok(AccessMap(m))
    }

    pub fn of(&self, account: &str) -> Access {
        self.0.get(account).cloned().unwrap_or_default()
    }
}

/// What import reads in the account the chain starts in, and in each account it reaches
/// (`xacct permissions --for import`).
pub fn calls(device: bool) -> (Vec<Call>, Vec<Call>) {
    let mut start = vec![
        Call::new("iam:GetRole", "*"),
        Call::new("iam:ListRolePolicies", "*"),
        Call::new("iam:GetRolePolicy", "*"),
        Call::new("iam:ListAttachedRolePolicies", "*"),
        Call::new("iam:GetPolicy", "*"),
        Call::new("iam:GetPolicyVersion", "*"),
        Call::new("lambda:ListFunctions", "*"),
    ];
    if device {
        start.extend([
            Call::new("iot:DescribeRoleAlias", "*"),
            Call::new("iot:ListPolicies", "*"),
            Call::new("iot:GetPolicy", "*"),
            Call::new("iot:ListTargetsForPolicy", "*"),
        ]);
    }
    let env = vec![
        Call::new("iam:GetRole", "*"),
        Call::new("iam:ListRolePolicies", "*"),
        Call::new("iam:GetRolePolicy", "*"),
        Call::new("iam:ListAttachedRolePolicies", "*"),
        Call::new("iam:GetPolicy", "*"),
        Call::new("iam:GetPolicyVersion", "*"),
        Call::new("iam:ListAccountAliases", "*"),
        Call::new("iam:ListRoles", "*"),
        Call::new("lambda:ListFunctions", "*"),
        Call::new("s3:ListAllMyBuckets", "*"),
    ];
    (start, env)
}

/// The clients of each account, connected once.
struct Reach<'a> {
    region: &'a str,
    access: &'a AccessMap,
    connected: BTreeMap<String, Clients>,
}

impl Reach<'_> {
    async fn clients(&mut self, account: &str, label: &str) -> Result<Clients, ImportError> {
        if let Some(c) = self.connected.get(account) {
            return Ok(c.clone());
        }
        let access = self.access.of(account);
        let c = crate::aws::connect(self.region, account, Some(label), &access)
            .await
            .map_err(|e| ImportError::Access {
                account: account.to_string(),
                given: self.access.0.contains_key(account),
                error: e,
            })?;
        self.connected.insert(account.to_string(), c.clone());
        Ok(c)
    }
}

/// Why import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{error}{}", if *.given { String::new() } else { format!("\nimport needs --access {account}=profile:NAME or --access {account}=role:ARN to read account {account}") })]
    Access {
        account: String,
        given: bool,
        error: AwsError,
    },
    #[error("{0}")]
    Aws(#[from] AwsError),
    #[error("{0}")]
    NotFound(String),
}

fn role_name_and_path(arn: &str) -> (String, String) {
    let rest = arn.split_once(":role/").map(|(_, r)| r).unwrap_or(arn);
    match rest.rsplit_once('/') {
        Some((path, name)) => (name.to_string(), format!("/{path}/")),
        None => (rest.to_string(), "/".to_string()),
    }
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

/// A role, its trust and its policies (None: it does not exist).
pub async fn read_role(c: &Clients, arn: &str) -> Result<Option<FoundRole>, AwsError> {
    let (name, path) = role_name_and_path(arn);
    let got = {
        let _slot = c.slot().await?;
        c.iam().get_role().role_name(&name).send().await
    };
    let role = match got {
        Ok(r) => r,
        Err(e) => {
            let e = c.err("iam:GetRole", &name, e);
            return if e.not_found() { Ok(None) } else { Err(e) };
        }
    };
    let r = role.role();
    let trust = match r.and_then(|r| r.assume_role_policy_document()) {
        Some(d) => policy::parse_document(d).map_err(|m| c.unreadable("iam:GetRole", &name, m))?,
        None => serde_json::Value::Null,
    };
    let path = r.map(|r| r.path().to_string()).unwrap_or(path);
    let crate::aws::read::RolePolicies { inline, managed } =
        crate::aws::read::role_policies(c, &name).await?;
    Ok(Some(FoundRole {
        arn: r.map(|r| r.arn().to_string()).unwrap_or(arn.to_string()),
        name,
        path,
        trust,
        inline,
        managed,
    }))
}

/// The roles of `c`'s account whose trust lets `principal` (a role ARN) assume them: naming it, its
/// account's root or its account id.
async fn trusting_roles(c: &Clients, principal: &str) -> Result<Vec<String>, AwsError> {
    let account = account_of(principal).to_string();
    let roles: Vec<aws_sdk_iam::types::Role> = {
        let _slot = c.slot().await?;
        c.iam()
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("iam:ListRoles", "*", e))?
    };
    let mut out = Vec::new();
    for r in &roles {
        let Some(doc) = r.assume_role_policy_document() else {
            continue;
        };
        let Ok(trust) = policy::parse_document(doc) else {
            continue;
        };
        let role = FoundRole {
            trust,
            ..Default::default()
        };
        let names = role.trusted_principals();
        if names.iter().any(|p| {
            p == principal
                || *p == format!("arn:aws:iam::{account}:root")
                || *p == account
                || p.ends_with(&format!(":iam::{account}:root"))
        }) {
            out.push(r.arn().to_string());
        }
    }
    Ok(out)
}

/// Every function of the account in the clients' region: (ARN, execution role ARN).
async fn functions(c: &Clients) -> Result<Vec<(String, String)>, AwsError> {
    let _slot = c.slot().await?;
    let all: Vec<aws_sdk_lambda::types::FunctionConfiguration> = c
        .lambda()
        .list_functions()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| c.err("lambda:ListFunctions", "*", e))?;
    Ok(all
        .iter()
        .filter_map(|f| {
            f.function_arn()
                .map(|a| (a.to_string(), f.role().unwrap_or_default().to_string()))
        })
        .collect())
}

/// A function ARN without its qualifier.
fn unqualified(arn: &str) -> String {
    arn.splitn(8, ':').take(7).collect::<Vec<_>>().join(":")
}

/// The functions `patterns` (with where each was allowed) reach in `c`'s account and region, and the
/// wildcard that stood for them, if any; what cannot be listed goes to `notes`.
async fn reachable_functions(
    c: &Clients,
    region: &str,
    patterns: &[(String, String)],
    notes: &mut Vec<String>,
) -> Result<(Vec<String>, Option<String>), AwsError> {
    let mut out: Vec<String> = Vec::new();
    let mut wildcard = None;
    let mut listed: Option<Vec<(String, String)>> = None;
    for (p, at) in patterns {
        if p.contains('*') || p.contains('?') {
            if listed.is_none() {
                listed = Some(functions(c).await?);
            }
            let matching: Vec<String> = listed
                .as_ref()
                .unwrap()
                .iter()
                .filter(|(arn, _)| {
                    crate::policy::eval::matching::glob(p, arn, false)
                        || crate::policy::eval::matching::glob(p, &format!("{arn}:x"), false)
                })
                .map(|(arn, _)| arn.clone())
                .collect();
            if matching.is_empty() {
                notes.push(format!(
                    "lambda:InvokeFunction on {p} ({at}) matches no function of account {} in {region}",
                    c.account
                ));
            }
            wildcard.get_or_insert_with(|| p.clone());
            out.extend(matching);
        } else if account_of(p) == c.account && p.split(':').nth(3) == Some(region) {
            out.push(unqualified(p));
        } else {
            notes.push(format!(
                "lambda:InvokeFunction on {p} ({at}): not a function of account {} in {region}",
                c.account
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok((out, wildcard))
}

/// What a target role reaches: functions, API methods, objects.
async fn fill_targets(
    c: &Clients,
    region: &str,
    role: &FoundRole,
    e: &mut FoundEnv,
) -> Result<(), AwsError> {
    let (f, w) = reachable_functions(
        c,
        region,
        &role.allowed("lambda:InvokeFunction"),
        &mut e.notes,
    )
    .await?;
    e.functions = f;
    e.functions_were_wildcard = w;
    for (r, at) in role.allowed("execute-api:Invoke") {
        let parts: Vec<&str> = r.splitn(6, ':').collect();
        let path = parts.get(5).copied().unwrap_or_default();
        let segs: Vec<&str> = path.splitn(4, '/').collect();
        let exact = segs.len() >= 3
            && !segs[0].contains(['*', '?'])
            && !segs[1].contains(['*', '?'])
            && parts.get(4) == Some(&c.account.as_str());
        if exact {
            e.apis.push(if segs.len() == 3 {
                format!("{r}/*")
            } else {
                r.clone()
            });
        } else {
            e.notes.push(format!(
                "execute-api:Invoke on {r} ({at}): name each API method (API-ID/STAGE/METHOD/PATH) under apis"
            ));
        }
    }
    for (r, at) in role.allowed("s3:GetObject") {
        let rest = r
            .strip_prefix("arn:aws:s3:::")
            .or_else(|| r.split_once(":s3:::").map(|(_, x)| x));
        match rest {
            Some(b) if b.contains('/') && !b.split('/').next().unwrap_or("").contains(['*', '?']) => {
                e.objects.push(r.clone())
            }
            _ if r == "*" || rest == Some("*") => {
                let buckets = {
                    let _slot = c.slot().await?;
                    c.s3()
                        .list_buckets()
                        .send()
                        .await
                        .map_err(|x| c.err("s3:ListAllMyBuckets", "*", x))?
                };
                for b in buckets.buckets() {
                    if let Some(n) = b.name() {
                        e.objects.push(format!("arn:aws:s3:::{n}/*"));
                    }
                }
                e.objects_were_wildcard.get_or_insert(r.clone());
            }
            _ => e.notes.push(format!(
                "s3:GetObject on {r} ({at}): name the objects (BUCKET/KEY, KEY ending in * for a prefix) under objects"
            )),
        }
    }
    e.apis.dedup();
    e.objects.sort();
    e.objects.dedup();
    Ok(())
}

/// An environment's name: the account's alias, or the role's name; unique among `taken`.
async fn env_name(c: &Clients, fallback: &str, taken: &[FoundEnv]) -> String {
    let alias = {
        let got = match c.slot().await {
            Ok(_slot) => c.iam().list_account_aliases().send().await.ok(),
            Err(_) => None,
        };
        got.and_then(|a| a.account_aliases().first().cloned())
    };
    let mut base = clean_name(alias.as_deref().unwrap_or(fallback));
    if taken.iter().any(|e| e.name == base) {
        base = clean_name(&format!("{base}-{fallback}"));
    }
    let mut name = base.clone();
    let mut i = 2;
    while taken.iter().any(|e| e.name == name) {
        name = format!("{base}-{i}");
        i += 1;
    }
    name
}

/// The environments a start role reaches: one per role it may assume, and (a device's IoT role) one
/// per account whose functions it may invoke directly.
async fn environments(
    reach: &mut Reach<'_>,
    start: &FoundRole,
    device: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<FoundEnv>, ImportError> {
    let mut envs: Vec<FoundEnv> = Vec::new();
    let mut assumed: Vec<(String, String)> = Vec::new();
    for (r, at) in start.allowed("sts:AssumeRole") {
        if r.contains('*') || r.contains('?') || !r.contains(":role/") {
            // a wildcard: the roles of the other accounts import may read that trust the start
            let mut matched = false;
            let others: Vec<String> = reach
                .access
                .0
                .keys()
                .filter(|a| *a != account_of(&start.arn))
                .cloned()
                .collect();
            for account in others {
                let c = reach.clients(&account, "import").await?;
                for arn in trusting_roles(&c, &start.arn).await? {
                    if crate::policy::eval::matching::glob(&r, &arn, false)
                        && !assumed.iter().any(|(x, _)| *x == arn)
                    {
                        matched = true;
                        assumed.push((arn, format!("{at}, which allows sts:AssumeRole on {r}")));
                    }
                }
            }
            notes.push(format!(
                "the {at} of {} allows sts:AssumeRole on {r}: {}",
                start.arn,
                if matched {
                    "import took the roles of the accounts given with --access that trust it; xacct adds its own exact policy, remove the broad one when nothing else needs it"
                } else {
                    "import cannot tell which roles that means (give --access for the accounts of the target roles); add an environment per target role"
                }
            ));
            continue;
        }
        if !assumed.iter().any(|(x, _)| *x == r) {
            assumed.push((r, at));
        }
    }
    for (r, at) in assumed {
        let account = account_of(&r).to_string();
        let c = reach.clients(&account, "import").await?;
        let Some(role) = read_role(&c, &r).await? else {
            notes.push(format!(
                "sts:AssumeRole on {r} ({at}): the role does not exist"
            ));
            continue;
        };
        let mut e = FoundEnv {
            account: account.clone(),
            access: reach.access.of(&account),
            ..Default::default()
        };
        fill_targets(&c, reach.region, &role, &mut e).await?;
        if role.trusts_service("lambda.amazonaws.com") {
            e.notes.push(format!(
                "target role {} also trusts lambda.amazonaws.com",
                role.name
            ));
            e.execution_role_of = functions(&c)
                .await?
                .into_iter()
                .filter(|(_, exec)| *exec == role.arn)
                .map(|(f, _)| f)
                .collect();
        }
        for p in role.trusted_principals() {
            if p.ends_with(":root") || (p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit())) {
                e.notes.push(format!(
                    "target role {} trusts {p} (every principal of that account its policies allow), not the chain's role: xacct's trust names the exact role",
                    role.name
                ));
            }
        }
        for (n, arn, _) in &role.managed {
            e.notes.push(format!(
                "managed policy {n} ({arn}) attached to target role {}",
                role.name
            ));
        }
        e.name = env_name(&c, &role.name, &envs).await;
        e.target = Some(role);
        envs.push(e);
    }
    if device {
        // direct mode: the IoT role's session invokes functions of other accounts
        let mut by_account: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (r, at) in start.allowed("lambda:InvokeFunction") {
            let a = account_of(&r);
            if a.len() == 12 {
                by_account.entry(a.to_string()).or_default().push((r, at));
            } else {
                notes.push(format!(
                    "the {at} of {} allows lambda:InvokeFunction on {r}: name the functions of each account under an environment with mode: direct",
                    start.arn
                ));
            }
        }
        for (account, patterns) in by_account {
            let c = reach.clients(&account, "import").await?;
            let mut e = FoundEnv {
                account: account.clone(),
                access: reach.access.of(&account),
                ..Default::default()
            };
            let (f, w) = reachable_functions(&c, reach.region, &patterns, &mut e.notes).await?;
            e.functions = f;
            e.functions_were_wildcard = w;
            e.name = env_name(&c, &format!("direct-{account}"), &envs).await;
            envs.push(e);
        }
    }
    Ok(envs)
}

/// The chain that starts at role alias `alias` of IoT account `account`.
pub async fn from_alias(
    region: &str,
    account: &str,
    alias: &str,
    access: &AccessMap,
) -> Result<Found, ImportError> {
    let mut reach = Reach {
        region,
        access,
        connected: BTreeMap::new(),
    };
    let c = reach.clients(account, "IoT").await?;
    let described = {
        let _slot = c.slot().await?;
        c.iot().describe_role_alias().role_alias(alias).send().await
    };
    let d = match described {
        Ok(d) => d,
        Err(e) => {
            let e = c.err("iot:DescribeRoleAlias", alias, e);
            return Err(if e.not_found() {
                ImportError::NotFound(format!(
                    "role alias {alias} does not exist in account {account} ({region})"
                ))
            } else {
                ImportError::Aws(e)
            });
        }
    };
    let desc = d.role_alias_description();
    let role_arn = desc
        .and_then(|x| x.role_arn())
        .unwrap_or_default()
        .to_string();
    let alias_arn = desc
        .and_then(|x| x.role_alias_arn())
        .unwrap_or_default()
        .to_string();
    let duration = desc
        .and_then(|x| x.credential_duration_seconds())
        .map(i64::from)
        .unwrap_or(3600);
    let Some(role) = read_role(&c, &role_arn).await? else {
        return Err(ImportError::NotFound(format!(
            "role alias {alias} points at {role_arn}, which does not exist"
        )));
    };
    let (policies, certificates, thing_groups) = iot_policies(&c, &alias_arn).await?;
    let mut notes = Vec::new();
    if policies.is_empty() {
        notes.push(format!(
            "no IoT policy of account {account} allows iot:AssumeRoleWithCertificate on {alias_arn}"
        ));
    }
    let envs = environments(&mut reach, &role, true, &mut notes).await?;
    Ok(Found {
        region: region.to_string(),
        start: FoundStart::Device {
            account: account.to_string(),
            access: access.of(account),
            role,
            alias: alias.to_string(),
            duration,
            policies,
            certificates,
            thing_groups,
        },
        envs,
        notes,
    })
}

/// The chain that starts at workload role `role_arn`.
pub async fn from_source(
    region: &str,
    role_arn: &str,
    access: &AccessMap,
) -> Result<Found, ImportError> {
    let account = account_of(role_arn).to_string();
    let mut reach = Reach {
        region,
        access,
        connected: BTreeMap::new(),
    };
    let c = reach.clients(&account, "source").await?;
    let Some(role) = read_role(&c, role_arn).await? else {
        return Err(ImportError::NotFound(format!(
            "the source role {role_arn} does not exist"
        )));
    };
    let mut notes = Vec::new();
    let envs = environments(&mut reach, &role, false, &mut notes).await?;
    Ok(Found {
        region: region.to_string(),
        start: FoundStart::Workload {
            account: account.clone(),
            access: access.of(&account),
            role,
        },
        envs,
        notes,
    })
}

/// The IoT policies that allow `iot:AssumeRoleWithCertificate` on the alias, and the certificates
/// and thing groups they are attached to.
async fn iot_policies(
    c: &Clients,
    alias_arn: &str,
) -> Result<(Vec<FoundIotPolicy>, Vec<String>, Vec<String>), AwsError> {
    let names: Vec<String> = {
        let _slot = c.slot().await?;
        let all: Vec<aws_sdk_iot::types::Policy> = c
            .iot()
            .list_policies()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("iot:ListPolicies", "*", e))?;
        all.iter()
            .filter_map(|p| p.policy_name().map(String::from))
            .collect()
    };
    let (mut found, mut certs, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    for n in names {
        let doc = {
            let _slot = c.slot().await?;
            c.iot()
                .get_policy()
                .policy_name(&n)
                .send()
                .await
                .map_err(|e| c.err("iot:GetPolicy", &n, e))?
        };
        let Some(text) = doc.policy_document() else {
            continue;
        };
        let Ok(d) = policy::parse_document(text) else {
            continue;
        };
        let allows =
            |s: &serde_json::Value| s.get("Effect").and_then(|e| e.as_str()) == Some("Allow");
        let stmts = statements_of(&d);
        let admits = stmts.iter().any(|s| {
            allows(s)
                && strings(s.get("Action"))
                    .iter()
                    .any(|a| action_matches(a, "iot:AssumeRoleWithCertificate"))
                && strings(s.get("Resource"))
                    .iter()
                    .any(|r| crate::policy::eval::matching::glob(r, alias_arn, false))
        });
        if !admits {
            continue;
        }
        let grants_more = stmts.iter().any(|s| {
            allows(s)
                && strings(s.get("Action"))
                    .iter()
                    .any(|a| !a.eq_ignore_ascii_case("iot:AssumeRoleWithCertificate"))
        });
        let targets = {
            let _slot = c.slot().await?;
            c.iot()
                .list_targets_for_policy()
                .policy_name(&n)
                .send()
                .await
                .map_err(|e| c.err("iot:ListTargetsForPolicy", &n, e))?
        };
        for t in targets.targets() {
            if let Some(id) = t.split_once(":cert/").map(|(_, id)| id) {
                if !certs.iter().any(|x: &String| x == id) {
                    certs.push(id.to_string());
                }
            } else if let Some(g) = t.split_once(":thinggroup/").map(|(_, g)| g) {
                if !groups.iter().any(|x: &String| x == g) {
                    groups.push(g.to_string());
                }
            }
        }
        found.push(FoundIotPolicy {
            name: n,
            grants_more,
        });
    }
    Ok((found, certs, groups))
}
