//! Statement and policy evaluation, and the final decision.

use super::conditions::condition_holds;
use super::document::{
    parse_identity_policy, parse_resource_policy, stmt_name, Effect, Patterns, Policy,
    PrincipalElement, PrincipalSet, PrincipalType, Statement,
};
use super::matching::{expand, glob, resource_match, Context};
use super::principals::{
    not_principal_excludes, parse_arn, principal_match, Caller, CallerKind, PrincipalMatch,
};
use super::{Case, Decision, OrgDecider, OrgLayer, OrgPolicy, Outcome, PolicyError};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Statement and policy evaluation
// ---------------------------------------------------------------------------------------------

pub(crate) struct Request<'a> {
    pub(crate) action: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) ctx: &'a Context,
}

pub(crate) fn patterns_match_resource(p: &Patterns, vars: bool, req: &Request) -> bool {
    let any = p.values.iter().any(|v| match expand(v, vars, req.ctx) {
        Some(toks) => resource_match(&toks, req.resource),
        // "Policy variables with no value": the entry matches no resource.
        None => false,
    });
    any != p.negated
}

pub(crate) fn action_matches(p: &Patterns, action: &str) -> bool {
    let any = p.values.iter().any(|v| glob(v, action, true));
    any != p.negated
}

/// Whether the statement applies; for resource policies also how the principal matched.
pub(crate) fn statement_applies(
    stmt: &Statement,
    vars: bool,
    req: &Request,
    caller: Option<&Caller>,
) -> Option<Option<PrincipalMatch>> {
    if !action_matches(&stmt.action, req.action) {
        return None;
    }
    if let Some(r) = &stmt.resource {
        if !patterns_match_resource(r, vars, req) {
            return None;
        }
    }
    let pm = match (&stmt.principal, caller) {
        (Some(p), Some(c)) => {
            if p.negated {
                if not_principal_excludes(&p.set, c) {
                    return None;
                }
                Some(PrincipalMatch::Broad)
            } else {
                Some(principal_match(&p.set, c)?)
            }
        }
        _ => None,
    };
    if !stmt
        .conditions
        .iter()
        .all(|c| condition_holds(c, vars, req.ctx))
    {
        return None;
    }
    Some(pm)
}

#[derive(Default)]
pub(crate) struct SideResult {
    pub(crate) allows: Vec<String>,
    pub(crate) denies: Vec<String>,
    /// An Allow whose principal names the caller itself or everyone (`*`): it grants on its own. An
    /// Allow that matched through the caller's account delegates to that account instead.
    pub(crate) direct_allow: bool,
}

pub(crate) fn eval_policy(
    policy: &Policy,
    label: &str,
    req: &Request,
    caller: Option<&Caller>,
    out: &mut SideResult,
) {
    let vars = policy.supports_variables();
    for stmt in &policy.statements {
        if let Some(pm) = statement_applies(stmt, vars, req, caller) {
            let name = format!("{label}.{}", stmt.label());
            match stmt.effect {
                Effect::Allow => {
                    out.direct_allow |=
                        matches!(pm, Some(PrincipalMatch::Exact | PrincipalMatch::Everyone));
                    out.allows.push(name);
                }
                Effect::Deny => out.denies.push(name),
            }
        }
    }
}

pub(crate) const TRUST_ACTIONS: &[&str] = &[
    "sts:assumerole",
    "sts:assumerolewithwebidentity",
    "sts:assumerolewithsaml",
    "sts:tagsession",
    "sts:setsourceidentity",
];

pub(crate) fn is_role_arn(resource: &str) -> bool {
    parse_arn(resource).is_some_and(|a| a.service == "iam" && a.resource.starts_with("role/"))
}

/// Evaluate one request against the caller's identity policies and the resource's policy.
///
/// `statements` of the outcome: for `Allow` every matching Allow statement (identity first, then
/// resource); for `ExplicitDeny` every matching Deny statement; for `ImplicitDeny` the Allow
/// statements that matched on one side only (else empty). Labels are `identity[N].<Sid|index>`
/// and `resource.<Sid|index>`.
///
/// # Errors
/// [`PolicyError`] when a document (`identity[N]` / `resource`) or the context is malformed.
pub fn evaluate(case: &Case) -> Result<Outcome, PolicyError> {
    let inner = evaluate_account(case)?;
    organization(case, inner)
}

/// The services whose resources resource control policies protect (AWS Organizations User Guide,
/// "Resource control policies": the list of supported services) — not Lambda, API Gateway or IoT.
pub const RCP_SERVICES: &[&str] = &[
    "s3",
    "sts",
    "kms",
    "sqs",
    "secretsmanager",
    "ecr",
    "aoss",
    "cognito-identity",
    "dynamodb",
    "logs",
];

/// Whether resource control policies apply to `action`.
pub fn rcp_service(action: &str) -> bool {
    let service = action.split(':').next().unwrap_or("");
    RCP_SERVICES.iter().any(|s| s.eq_ignore_ascii_case(service))
}

/// The organization's layers over the account's decision `inner`: an explicit deny in any SCP or
/// RCP at any level denies; at every SCP level some statement must allow the action (an implicit
/// deny otherwise); RCPs only deny (the one Allow, `RCPFullAWSAccess`, stands at every level, so a
/// level where nothing allows is one the case gave without it: an implicit deny as well). SCPs never
/// limit an AWS service principal; RCPs apply to every caller, AWS services included, for the
/// services in `RCP_SERVICES` only. ("Policy evaluation logic" in the IAM User Guide; "SCP
/// evaluation" and "RCP evaluation" in the AWS Organizations User Guide.)
fn organization(case: &Case, inner: Outcome) -> Result<Outcome, PolicyError> {
    let caller = Caller::new(&case.principal);
    let scps: &[Vec<OrgPolicy>] = if caller.kind == CallerKind::Service {
        &[]
    } else {
        &case.service_control_policies
    };
    let rcps: &[Vec<OrgPolicy>] = if rcp_service(&case.action) {
        &case.resource_control_policies
    } else {
        &[]
    };
    if scps.is_empty() && rcps.is_empty() {
        return Ok(inner);
    }
    let ctx = Context::build(&case.context)?;
    let req = Request {
        action: &case.action,
        resource: &case.resource,
        ctx: &ctx,
    };
    let mut denies: Vec<String> = Vec::new();
    let mut deciders: Vec<OrgDecider> = Vec::new();
    let mut unallowed: Vec<(String, Vec<OrgDecider>)> = Vec::new();
    for (layer, levels) in [(OrgLayer::Scp, scps), (OrgLayer::Rcp, rcps)] {
        let tag = match layer {
            OrgLayer::Scp => "scp",
            OrgLayer::Rcp => "rcp",
        };
        for (level, policies) in levels.iter().enumerate() {
            let mut allowed = false;
            for p in policies {
                let label = format!("{tag}[{level}].{}", p.name);
                let parsed = match layer {
                    OrgLayer::Scp => parse_identity_policy(&p.policy, &label)?,
                    OrgLayer::Rcp => parse_resource_policy(&p.policy, &label)?,
                };
                let mut side = SideResult::default();
                let who = (layer == OrgLayer::Rcp).then_some(&caller);
                eval_policy(&parsed, &label, &req, who, &mut side);
                let decider = || OrgDecider {
                    layer,
                    level,
                    name: p.name.clone(),
                    id: p.id.clone(),
                    target: p.target.clone(),
                };
                if !side.denies.is_empty() {
                    denies.extend(side.denies);
                    deciders.push(decider());
                }
                allowed |= !side.allows.is_empty();
            }
            if !allowed {
                unallowed.push((
                    format!("{tag}[{level}]"),
                    policies
                        .iter()
                        .map(|p| OrgDecider {
                            layer,
                            level,
                            name: p.name.clone(),
                            id: p.id.clone(),
                            target: p.target.clone(),
                        })
                        .collect(),
                ));
            }
        }
    }
    if !denies.is_empty() {
        let mut statements = if inner.decision == Decision::ExplicitDeny {
            inner.statements
        } else {
            Vec::new()
        };
        statements.extend(denies);
        return Ok(Outcome {
            decision: Decision::ExplicitDeny,
            statements,
            organization: deciders,
        });
    }
    if inner.decision == Decision::ExplicitDeny || unallowed.is_empty() {
        return Ok(inner);
    }
    let mut statements = inner.statements;
    let mut organization = Vec::new();
    for (label, ds) in unallowed {
        statements.push(label);
        organization.extend(ds);
    }
    Ok(Outcome {
        decision: Decision::ImplicitDeny,
        statements,
        organization,
    })
}

/// The decision of the account's own policies (identity, resource, boundary), before the
/// organization's layers.
fn evaluate_account(case: &Case) -> Result<Outcome, PolicyError> {
    let ctx = Context::build(&case.context)?;
    let caller = Caller::new(&case.principal);
    let role_trust = is_role_arn(&case.resource);
    let trust_action = TRUST_ACTIONS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&case.action));

    let mut identity = Vec::with_capacity(case.identity_policies.len());
    for (i, doc) in case.identity_policies.iter().enumerate() {
        let label = format!("identity[{i}]");
        identity.push((parse_identity_policy(doc, &label)?, label));
    }
    let resource_policy = match &case.resource_policy {
        None | Some(Value::Null) => None,
        Some(doc) => {
            let p = parse_resource_policy(doc, "resource")?;
            if role_trust {
                // A role's resource-based policy is its trust policy: IAM refuses Resource /
                // NotResource there, and NotPrincipal "cannot be used in an IAM role trust
                // policy" (NotPrincipal page).
                for s in &p.statements {
                    let bad = if s.resource.as_ref().is_some_and(|r| r.negated) {
                        Some(("NotResource", "not allowed in a role trust policy"))
                    } else if s.resource.is_some() {
                        Some(("Resource", "not allowed in a role trust policy"))
                    } else if s.principal.as_ref().is_some_and(|p| p.negated) {
                        Some(("NotPrincipal", "not allowed in a role trust policy"))
                    } else {
                        None
                    };
                    if let Some((field, detail)) = bad {
                        return Err(PolicyError::Statement {
                            policy: "resource".to_string(),
                            statement: stmt_name(s.index, s.sid.as_deref()),
                            field: field.to_string(),
                            detail: detail.to_string(),
                        });
                    }
                }
            }
            Some(p)
        }
    };

    let req = Request {
        action: &case.action,
        resource: &case.resource,
        ctx: &ctx,
    };
    let mut id_side = SideResult::default();
    if !caller.resource_policy_only() {
        for (p, label) in &identity {
            eval_policy(p, label, &req, None, &mut id_side);
        }
    }
    let mut res_side = SideResult::default();
    if let Some(p) = &resource_policy {
        eval_policy(p, "resource", &req, Some(&caller), &mut res_side);
    }

    if !id_side.denies.is_empty() || !res_side.denies.is_empty() {
        let mut statements = id_side.denies;
        statements.extend(res_side.denies);
        return Ok(Outcome {
            decision: Decision::ExplicitDeny,
            statements,
            organization: Vec::new(),
        });
    }

    // The account root user has full access unless explicitly denied ("How AWS enforcement code
    // logic evaluates requests"), but it cannot assume roles (STS AssumeRole refuses root
    // credentials).
    let is_root = caller.kind == CallerKind::Root;
    let id_allow = !id_side.allows.is_empty() || (is_root && !(role_trust && trust_action));
    let res_allow = !res_side.allows.is_empty();
    let resource_account = parse_arn(&case.resource)
        .map(|a| a.account)
        .filter(|a| !a.is_empty())
        .or_else(|| ctx.variable("aws:ResourceAccount").map(str::to_string));
    // DECISION: a resource ARN without an account (e.g. S3) and no aws:ResourceAccount in the
    // context is taken to be in the caller's account.
    let same_account = match (caller.account(), resource_account.as_deref()) {
        (Some(c), Some(r)) => c == r,
        (Some(_), None) => true,
        (None, _) => false,
    };

    // A KMS key policy must allow explicitly, even in the key's own account: the identity policy
    // alone never suffices unless the key policy delegates to the account.
    let kms_key = parse_arn(&case.resource).is_some_and(|a| a.service == "kms");
    let allowed = if caller.resource_policy_only() {
        res_allow
    } else if role_trust && trust_action {
        if is_root || resource_policy.is_none() {
            false
        } else if same_account {
            // Naming the caller's ARN (or "*") in the trust policy suffices; trusting only the
            // account delegates to the account, whose identity policies must also allow.
            res_side.direct_allow || (res_allow && id_allow)
        } else {
            res_allow && id_allow
        }
    } else if kms_key {
        if resource_policy.is_none() {
            false
        } else if same_account {
            res_side.direct_allow || (res_allow && id_allow)
        } else {
            res_allow && id_allow
        }
    } else if same_account {
        // Every resource-based policy: a statement naming the caller (or "*") grants on its own;
        // one naming only the account delegates to it, so the identity policy must allow as well.
        id_allow || res_side.direct_allow
    } else {
        id_allow && res_allow
    };

    // The permissions boundary caps what the caller's own policies (and resource policies naming
    // its role) can grant: an explicit deny in it denies, and without an allow in it nothing is
    // allowed. Only a resource policy naming the exact session or user ARN is outside its reach.
    if let (Some(doc), false) = (&case.permissions_boundary, caller.resource_policy_only()) {
        let boundary = parse_identity_policy(doc, "boundary")?;
        let mut b = SideResult::default();
        eval_policy(&boundary, "boundary", &req, None, &mut b);
        if !b.denies.is_empty() {
            return Ok(Outcome {
                decision: Decision::ExplicitDeny,
                statements: b.denies,
                organization: Vec::new(),
            });
        }
        let names_session = res_side_names_exact_caller(resource_policy.as_ref(), &req, &caller);
        if allowed && b.allows.is_empty() && !names_session {
            let mut statements = id_side.allows;
            statements.extend(res_side.allows);
            statements.push("boundary".to_string());
            return Ok(Outcome {
                decision: Decision::ImplicitDeny,
                statements,
                organization: Vec::new(),
            });
        }
    }

    let mut statements = id_side.allows;
    statements.extend(res_side.allows);
    Ok(Outcome {
        decision: if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        },
        statements,
        organization: Vec::new(),
    })
}

/// Does an Allow of the resource policy name the caller's own session or user ARN (which a
/// permissions boundary does not limit)?
fn res_side_names_exact_caller(policy: Option<&Policy>, req: &Request, caller: &Caller) -> bool {
    let Some(p) = policy else { return false };
    let vars = p.supports_variables();
    p.statements.iter().any(|s| {
        s.effect == Effect::Allow
            && matches!(&s.principal, Some(PrincipalElement { negated: false, set: PrincipalSet::Map(m) })
                if m.iter().any(|(t, v)| *t == PrincipalType::Aws && v.iter().any(|x| x == &caller.raw)))
            && statement_applies(s, vars, req, Some(caller)).is_some()
    })
}

/// The condition keys a decision depends on that the request context does not hold: keys of
/// conditions in statements (identity, resource, boundary) whose action, resource and principal
/// match the request. A decision that is not Allow may change once such a key is known.
///
/// # Errors
/// [`PolicyError`] when a document or the context is malformed.
pub fn missing_condition_keys(case: &Case) -> Result<Vec<String>, PolicyError> {
    let ctx = Context::build(&case.context)?;
    let caller = Caller::new(&case.principal);
    let req = Request {
        action: &case.action,
        resource: &case.resource,
        ctx: &ctx,
    };
    let mut docs: Vec<(Policy, bool)> = Vec::new();
    for (i, d) in case.identity_policies.iter().enumerate() {
        docs.push((parse_identity_policy(d, &format!("identity[{i}]"))?, false));
    }
    if let Some(d) = case.permissions_boundary.as_ref() {
        docs.push((parse_identity_policy(d, "boundary")?, false));
    }
    if let Some(d) = case.resource_policy.as_ref().filter(|d| !d.is_null()) {
        docs.push((parse_resource_policy(d, "resource")?, true));
    }
    let mut out: Vec<String> = Vec::new();
    for (p, is_resource) in &docs {
        let vars = p.supports_variables();
        for s in &p.statements {
            let unconditional = Statement {
                conditions: vec![],
                ..s.clone()
            };
            let who = if *is_resource { Some(&caller) } else { None };
            if statement_applies(&unconditional, vars, &req, who).is_none() {
                continue;
            }
            for c in &s.conditions {
                if ctx.get(&c.key).is_none() && !out.iter().any(|k| k.eq_ignore_ascii_case(&c.key))
                {
                    out.push(c.key.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Identity-only evaluation (AWS IoT Core policies, e.g. `iot:AssumeRoleWithCertificate` on
/// `arn:aws:iot:<region>:<account>:rolealias/<name>`): explicit deny wins, an allow is enough,
/// otherwise implicit deny. IoT policy variables (`${iot:Connection.Thing.ThingName}`, ...) are
/// looked up in `context`.
///
/// # Errors
/// [`PolicyError`] when a document (`identity[N]`) or the context is malformed.
pub fn evaluate_identity(
    policies: &[Value],
    action: &str,
    resource: &str,
    context: &Map<String, Value>,
) -> Result<Outcome, PolicyError> {
    let ctx = Context::build(context)?;
    let req = Request {
        action,
        resource,
        ctx: &ctx,
    };
    let mut side = SideResult::default();
    for (i, doc) in policies.iter().enumerate() {
        let label = format!("identity[{i}]");
        let p = parse_identity_policy(doc, &label)?;
        eval_policy(&p, &label, &req, None, &mut side);
    }
    Ok(if !side.denies.is_empty() {
        Outcome {
            decision: Decision::ExplicitDeny,
            statements: side.denies,
            organization: Vec::new(),
        }
    } else if !side.allows.is_empty() {
        Outcome {
            decision: Decision::Allow,
            statements: side.allows,
            organization: Vec::new(),
        }
    } else {
        Outcome {
            decision: Decision::ImplicitDeny,
            statements: Vec::new(),
            organization: Vec::new(),
        }
    })
}

/// Evaluate a JSON array of cases. Each slot holds the outcome (`{"decision", "statements"}`) or
/// `{"error": "..."}` for a malformed case.
///
/// # Errors
/// [`PolicyError::Batch`] only when the input is not a JSON array.
pub fn evaluate_batch(input: &str) -> Result<Value, PolicyError> {
    let parsed: Value = serde_json::from_str(input).map_err(|e| PolicyError::Batch {
        detail: e.to_string(),
    })?;
    let Value::Array(items) = parsed else {
        return Err(PolicyError::Batch {
            detail: "top level is not an array".to_string(),
        });
    };
    let results = items
        .into_iter()
        .map(|item| {
            let res = serde_json::from_value::<Case>(item)
                .map_err(|e| PolicyError::Case {
                    detail: e.to_string(),
                })
                .and_then(|case| evaluate(&case));
            match res {
                Ok(outcome) => serde_json::to_value(&outcome)
                    .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            }
        })
        .collect();
    Ok(Value::Array(results))
}
