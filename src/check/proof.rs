//! The proof's building blocks, shared by the chain's own hops (`check`) and the hops of each target
//! type (`targets`): the steps a proof is made of, the two sides of a request evaluated together (the
//! caller's policies and boundary, the resource's policy), and the words, statement labels and fixes
//! a step reports. A leaf of `check`: it imports neither `check` nor `targets`.

use crate::chain::{Hop, Part};
use crate::config::{Config, Target};
use crate::model::live::RoleFacts;
use crate::policy::eval::{evaluate, evaluate_identity, Case, Decision, OrgPolicy, Outcome};
use serde_json::{json, Value};

/// What the proof evaluates one at a time: a hop, or a part of one (`Step::place`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    IotPolicy,
    RoleAlias,
    IotTrust,
    Source,
    SourcePolicy,
    AssumeTarget,
    /// The hop of a target type (`targets`), proven as one step.
    Target(Hop),
}

impl Step {
    /// The hop this step proves, and the part of it when it is one.
    pub(crate) fn place(self) -> (Hop, Option<Part>) {
        match self {
            Step::IotPolicy => (Hop::Credentials, Some(Part::IotPolicy)),
            Step::RoleAlias => (Hop::Credentials, Some(Part::RoleAlias)),
            Step::IotTrust => (Hop::Credentials, Some(Part::IotTrust)),
            Step::Source => (Hop::Source, None),
            Step::SourcePolicy => (Hop::AssumeRole, Some(Part::SourcePolicy)),
            Step::AssumeTarget => (Hop::AssumeRole, Some(Part::TargetTrust)),
            Step::Target(hop) => (hop, None),
        }
    }
}

/// One step's result, before the steps are grouped into hops.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub(crate) step: Step,
    pub(crate) ok: bool,
    pub(crate) detail: Vec<String>,
    pub(crate) statements: Vec<String>,
    pub(crate) fix: Option<Value>,
    pub(crate) depends_on: Vec<String>,
    /// The organization policies that decided a denial (`organization` in `--json`).
    pub(crate) organization: Vec<crate::policy::eval::OrgDecider>,
}

pub(crate) fn label(names: &[&str], resource_name: &str, s: &str) -> String {
    // "identity[1].Sid" → "policy NAME statement Sid"; "resource.Sid" → "RESOURCE statement Sid"
    if let Some(rest) = s.strip_prefix("identity[") {
        if let Some((i, sid)) = rest.split_once("].") {
            let name = i
                .parse::<usize>()
                .ok()
                .and_then(|i| names.get(i))
                .copied()
                .unwrap_or("?");
            return format!("policy {name} statement {sid}");
        }
    }
    if let Some(sid) = s.strip_prefix("resource.") {
        return format!("{resource_name} statement {sid}");
    }
    if let Some(sid) = s.strip_prefix("boundary.") {
        return format!("the permissions boundary statement {sid}");
    }
    if s == "boundary" {
        return "the permissions boundary (none of its statements allows it)".into();
    }
    // "scp[1].NAME.Sid" → "SCP NAME statement Sid"; "scp[1]" → a level where nothing allows
    for (tag, layer) in [("scp[", "SCP"), ("rcp[", "RCP")] {
        if let Some(rest) = s.strip_prefix(tag) {
            return match rest.split_once("].") {
                Some((_, named)) => match named.rsplit_once('.') {
                    Some((name, sid)) => format!("{layer} {name} statement {sid}"),
                    None => format!("{layer} {named}"),
                },
                None => format!(
                    "the {layer}s at level {} (none of them allows it)",
                    rest.trim_end_matches(']')
                ),
            };
        }
    }
    s.to_string()
}

/// What the organization's layers did to a denied request, in words, and whom to ask: an SCP or
/// RCP is the organization's, usually not the team's that owns the chain.
pub(crate) fn organization_words(o: &Outcome, action: &str) -> Option<(String, Value)> {
    let d = o.organization.first()?;
    let layer = match d.layer {
        crate::policy::eval::OrgLayer::Scp => "SCP",
        crate::policy::eval::OrgLayer::Rcp => "RCP",
    };
    let at = match (&d.id, &d.target) {
        (Some(id), Some(t)) => format!(" ({id} on {t})"),
        (None, Some(t)) => format!(" (on {t})"),
        (Some(id), None) => format!(" ({id})"),
        (None, None) => String::new(),
    };
    let words = if o.decision == Decision::ExplicitDeny {
        format!("{layer} {}{at} denies {action}", d.name)
    } else {
        format!(
            "no {layer} at level {} allows {action} ({}{at} and the others attached there)",
            d.level, d.name
        )
    };
    let fix = json!({"ask": "the organization's administrators", "layer": layer.to_lowercase(),
        "policy": {"name": d.name, "id": d.id, "target": d.target},
        "change": format!("let {action} through, or move the account")});
    Some((words, fix))
}

/// The statements of an outcome, saying what they did: allowed, denied, or allowed one side only.
pub(crate) fn labels(o: &Outcome, names: &[&str], resource_name: &str) -> Vec<String> {
    let how = match o.decision {
        Decision::Allow => "allowed by",
        Decision::ExplicitDeny => "denied by",
        Decision::ImplicitDeny => "allowed on one side only by",
    };
    o.statements
        .iter()
        .map(|s| format!("{how} {}", label(names, resource_name, s)))
        .collect()
}

/// The fix for an explicit deny: remove the statements that deny.
pub(crate) fn removal(o: &Outcome, names: &[&str], resource_name: &str) -> Value {
    let stmts: Vec<String> = o
        .statements
        .iter()
        .map(|s| label(names, resource_name, s))
        .collect();
    json!({ "remove": stmts })
}

pub(crate) fn allow_all() -> Value {
    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})
}

pub(crate) fn session_arn(role_arn: &str, session: &str) -> String {
    // arn:aws:iam::ACCT:role/path/name → arn:aws:sts::ACCT:assumed-role/name/session
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    if parts.len() < 6 {
        return role_arn.to_string();
    }
    let name = parts[5].rsplit('/').next().unwrap_or("");
    format!(
        "arn:{}:sts::{}:assumed-role/{name}/{session}",
        parts[1], parts[4]
    )
}

pub(crate) fn hop(
    step: Step,
    ok: bool,
    detail: Vec<String>,
    statements: Vec<String>,
    fix: Option<Value>,
) -> StepResult {
    StepResult {
        step,
        ok,
        detail,
        statements,
        fix,
        depends_on: vec![],
        organization: vec![],
    }
}

/// Mark a hop that failed as depending on condition keys xacct cannot know, if the case has any.
pub(crate) fn depends(mut h: StepResult, case: &Case) -> StepResult {
    if h.ok {
        return h;
    }
    if let Ok(keys) = crate::policy::eval::missing_condition_keys(case) {
        for k in keys {
            h.detail.push(format!(
                "depends on {k}: a condition on a key xacct cannot know the value of"
            ));
            h.depends_on.push(k);
        }
    }
    h
}

/// Evaluate a cross-account (or same-account) request and say which side is missing. Also returns
/// the case, to tell what the decision depends on.
pub(crate) fn two_sided(
    principal_role: &RoleFacts,
    action: &str,
    resource: &str,
    resource_policy: Option<&Value>,
) -> Result<(Outcome, bool, bool, Case), crate::policy::eval::PolicyError> {
    two_sided_as(principal_role, action, resource, resource_policy, None)
}

pub(crate) fn two_sided_as(
    principal_role: &RoleFacts,
    action: &str,
    resource: &str,
    resource_policy: Option<&Value>,
    device: Option<crate::policy::context::IotDevice>,
) -> Result<(Outcome, bool, bool, Case), crate::policy::eval::PolicyError> {
    let ask =
        crate::chain::request::role_ask(&principal_role.arn, device, None, action, resource, None);
    two_sided_own(principal_role, &ask, resource_policy)
}

/// `two_sided_ask` for a resource whose account's RCPs are known only when it is the caller's own
/// (a resource in another account: none read).
pub(crate) fn two_sided_own(
    principal_role: &RoleFacts,
    ask: &crate::chain::Ask,
    resource_policy: Option<&Value>,
) -> Result<(Outcome, bool, bool, Case), crate::policy::eval::PolicyError> {
    fn account_of(arn: &str) -> Option<&str> {
        arn.split(':').nth(4).filter(|a| !a.is_empty())
    }
    let owner = match account_of(&ask.resource) {
        Some(a) if Some(a) != account_of(&principal_role.arn) => None,
        _ => Some(principal_role),
    };
    two_sided_ask(principal_role, ask, resource_policy, owner)
}

/// A hop's ask (`chain::Request`) evaluated as AWS would with the documents read: the caller's
/// identity policies, boundary and SCPs (`RoleFacts`), the resource's policy and, when the facts of a
/// role of the resource's account are given (`owner`), that account's RCPs and organization
/// (`aws:ResourceOrgID`, `aws:ResourceOrgPaths`), over the ask's context and the organization keys
/// AWS sets on the caller's requests.
pub(crate) fn two_sided_ask(
    principal_role: &RoleFacts,
    ask: &crate::chain::Ask,
    resource_policy: Option<&Value>,
    owner: Option<&RoleFacts>,
) -> Result<(Outcome, bool, bool, Case), crate::policy::eval::PolicyError> {
    let resource_rcps: &[Vec<OrgPolicy>] = owner.map(|o| o.rcps.as_slice()).unwrap_or_default();
    let (action, resource) = (ask.action.as_str(), ask.resource.as_str());
    let session = session_arn(&principal_role.arn, "device");
    let mut context = ask.context.clone();
    // AWS sets the caller's organization on every request of a principal of an organization
    if let Some(org) = &principal_role.org_id {
        context.insert("aws:PrincipalOrgID".into(), Value::String(org.clone()));
    }
    if let Some(path) = &principal_role.org_path {
        context.insert(
            "aws:PrincipalOrgPaths".into(),
            Value::Array(vec![Value::String(path.clone())]),
        );
    }
    if let Some(o) = owner {
        if let Some(org) = &o.org_id {
            context.insert("aws:ResourceOrgID".into(), Value::String(org.clone()));
        }
        if let Some(path) = &o.org_path {
            context.insert(
                "aws:ResourceOrgPaths".into(),
                Value::Array(vec![Value::String(path.clone())]),
            );
        }
    }
    let docs: Vec<Value> = principal_role
        .policies
        .iter()
        .map(|(_, d)| d.clone())
        .collect();
    let case = Case {
        principal: session.clone(),
        action: action.into(),
        resource: resource.into(),
        identity_policies: docs.clone(),
        resource_policy: resource_policy.cloned(),
        context: context.clone(),
        permissions_boundary: principal_role.boundary.as_ref().map(|(_, d)| d.clone()),
        service_control_policies: principal_role.scps.clone(),
        resource_control_policies: resource_rcps.to_vec(),
    };
    let o = evaluate(&case)?;
    let id_ok = evaluate_identity(&docs, action, resource, &context)?.decision == Decision::Allow;
    let res_ok = match resource_policy {
        None => true,
        Some(_) => {
            let mut c = case.clone();
            c.identity_policies = vec![allow_all()];
            c.permissions_boundary = None;
            c.service_control_policies.clear();
            c.resource_control_policies.clear();
            evaluate(&c)?.decision == Decision::Allow
        }
    };
    Ok((o, id_ok, res_ok, case))
}

/// Words for a denial that the caller's permissions boundary causes, if it does.
pub(crate) fn boundary_words(
    o: &Outcome,
    role: &RoleFacts,
    action: &str,
    resource: &str,
) -> Option<String> {
    let (arn, _) = role.boundary.as_ref()?;
    let blocking: Vec<&str> = o
        .statements
        .iter()
        .filter_map(|s| s.strip_prefix("boundary."))
        .collect();
    if !blocking.is_empty() {
        Some(format!(
            "the permissions boundary {arn} of {} denies {action} on {resource} (statement {})",
            role.arn,
            blocking.join(", ")
        ))
    } else if o.statements.iter().any(|s| s == "boundary") {
        Some(format!(
            "the permissions boundary {arn} of {} does not allow {action} on {resource}, whatever the role's policies allow",
            role.arn
        ))
    } else {
        None
    }
}

/// The failed hop that says the environment's target role does not exist.
pub(crate) fn missing_target(cfg: &Config, t: &Target, which: Step) -> StepResult {
    hop(
        which,
        false,
        vec![format!(
            "the target role {} does not exist",
            cfg.target_role_arn(t)
        )],
        vec![],
        None,
    )
}

/// What the target role's `action` on `resource` comes to under the resource's policy (named
/// `rname` in the words): for `call_api` and `get_object`.
pub(crate) struct Access {
    pub(crate) ok: bool,
    pub(crate) detail: Option<String>,
    pub(crate) statements: Vec<String>,
    pub(crate) fix: Option<Value>,
    /// The case that failed, to tell what the decision depends on.
    pub(crate) case: Option<Case>,
    /// The organization policies that denied it.
    pub(crate) organization: Vec<crate::policy::eval::OrgDecider>,
}

pub(crate) fn target_access(
    target: &RoleFacts,
    names: &[&str],
    action: &str,
    resource: &str,
    policy: Option<&Value>,
    rname: &str,
) -> Access {
    let mut r = Access {
        ok: false,
        detail: None,
        statements: vec![],
        fix: None,
        case: None,
        organization: vec![],
    };
    match two_sided(target, action, resource, policy) {
        Err(e) => r.detail = Some(format!("{resource}: malformed policy: {e}")),
        Ok((o, _, _, _)) if o.decision == Decision::Allow => {
            r.ok = true;
            r.detail = Some(format!("{} may {action} {resource}", target.arn));
            r.statements = labels(&o, names, rname);
        }
        Ok((o, id_ok, res_ok, case)) => {
            let by_resource = o.statements.iter().any(|s| s.starts_with("resource."));
            let org = organization_words(&o, action);
            r.organization = o.organization.clone();
            r.detail = if let Some((w, _)) = &org {
                Some(format!("{resource}: {w}"))
            } else if let Some(w) = boundary_words(&o, target, action, resource) {
                Some(format!("{resource}: {w}"))
            } else if o.decision == Decision::ExplicitDeny && by_resource {
                Some(format!(
                    "{resource}: the {rname} denies {action} to {}",
                    target.arn
                ))
            } else if o.decision == Decision::ExplicitDeny {
                Some(format!(
                    "{resource}: an explicit Deny in the target role's policies blocks {action}"
                ))
            } else if !id_ok {
                Some(format!(
                    "{resource}: the target role's policies do not allow {action} on it"
                ))
            } else if !res_ok {
                Some(format!(
                    "{resource}: the {rname} does not allow {}",
                    target.arn
                ))
            } else {
                None
            };
            r.statements = labels(&o, names, rname);
            r.fix = if let Some((_, f)) = org {
                Some(f)
            } else if o.decision == Decision::ExplicitDeny {
                Some(removal(&o, names, rname))
            } else if !id_ok {
                Some(
                    json!({"identity_policy_of": target.arn, "statement": {"Effect":"Allow","Action":action,"Resource":resource}}),
                )
            } else {
                None
            };
            r.case = Some(case);
        }
    }
    r
}

pub(crate) fn finish(
    which: Step,
    ok: bool,
    detail: Vec<String>,
    statements: Vec<String>,
    mut fixes: Vec<Value>,
    failing: &[Case],
) -> StepResult {
    let mut seen = Vec::new();
    fixes.retain(|f| {
        let new = !seen.contains(f);
        seen.push(f.clone());
        new
    });
    let mut h = hop(
        which,
        ok,
        detail,
        statements,
        if fixes.is_empty() {
            None
        } else {
            Some(Value::Array(fixes))
        },
    );
    for case in failing {
        h = depends(h, case);
    }
    h
}
