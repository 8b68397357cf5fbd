//! The proof of the source role's side of `assume_role` (its part `source_policy`) and of the API
//! and object targets (`call_api`, `get_object`), with how a listed method reaches an API's method
//! (API Gateway's own routing is the policy engine's `routes`).

use super::{
    boundary_words, depends, hop, json, labels, removal, serves, two_sided, Case, Config, Decision,
    Facts, RoleFacts, Step, StepResult, Target, Value,
};

/// The source role's own side of `sts:AssumeRole` on the target role: its identity policies and its
/// permissions boundary (the trust is `assume_target`'s).
pub(super) fn hop_source_policy(cfg: &Config, t: &Target, f: &Facts) -> StepResult {
    let target_arn = cfg.target_role_arn(t);
    let policy_name = crate::desired::source_policy_name(cfg);
    let fix = json!({"inline_policy": policy_name, "of": cfg.origin_role_arn(),
        "statement": {"Effect":"Allow","Action":"sts:AssumeRole","Resource":target_arn}});
    let Some(src) = &f.origin_role else {
        return hop(
            Step::SourcePolicy,
            false,
            vec![format!(
                "the source role {} does not exist",
                cfg.origin_role_arn()
            )],
            vec![],
            None,
        );
    };
    let names: Vec<&str> = src.policies.iter().map(|(n, _)| n.as_str()).collect();
    // the side of the source role alone: the trust is taken as allowing it
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":src.arn},"Action":"sts:AssumeRole"}]});
    match two_sided(src, "sts:AssumeRole", &target_arn, Some(&trust)) {
        Err(e) => hop(
            Step::SourcePolicy,
            false,
            vec![format!("malformed policy: {e}")],
            vec![],
            None,
        ),
        Ok((o, true, _, _)) if o.decision == Decision::Allow => hop(
            Step::SourcePolicy,
            true,
            vec![format!(
                "the policies of {} allow sts:AssumeRole on {target_arn}",
                src.arn
            )],
            labels(&o, &names, ""),
            None,
        ),
        Ok((o, id_ok, _, case)) => {
            let mut detail = Vec::new();
            if let Some(w) = boundary_words(&o, src, "sts:AssumeRole", &target_arn) {
                detail.push(w);
            } else if o.decision == Decision::ExplicitDeny {
                detail.push(format!(
                    "an explicit Deny in the policies of the source role {} blocks sts:AssumeRole on {target_arn}",
                    src.arn
                ));
            } else if !id_ok {
                detail.push(format!(
                    "the source role's policies do not allow sts:AssumeRole on {target_arn} (xacct's inline policy {policy_name} on {} is missing or changed)",
                    src.arn
                ));
            }
            let fix = if o.decision == Decision::ExplicitDeny {
                removal(&o, &names, "")
            } else {
                fix
            };
            let h = hop(
                Step::SourcePolicy,
                false,
                detail,
                labels(&o, &names, ""),
                Some(fix),
            );
            depends(h, &case)
        }
    }
}

/// Does the listed method (`GET`, `*`) with its path (which may hold `*`) reach the API method
/// `http_method` on `resource_path`? A `*` in the path stands for the value verify sends
/// (`verify`), or matches the resource path as written.
pub fn method_matches(listed: &str, path: &str, http_method: &str, resource_path: &str) -> bool {
    let method_ok =
        listed == "*" || http_method == "ANY" || listed.eq_ignore_ascii_case(http_method);
    if !method_ok {
        return false;
    }
    let concrete = path.replace('*', "verify");
    serves(resource_path, &concrete)
        || crate::policy::eval::matching::glob(path, resource_path.trim_start_matches('/'), false)
}

/// The failed hop that says the environment's target role does not exist.
fn missing_target(cfg: &Config, t: &Target, which: Step) -> StepResult {
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

pub(super) fn hop_call_api(cfg: &Config, t: &Target, f: &Facts) -> StepResult {
    let Some(Some(target)) = f.targets.get(&t.name) else {
        return missing_target(cfg, t, Step::CallApi);
    };
    let names: Vec<&str> = target.policies.iter().map(|(n, _)| n.as_str()).collect();
    let (mut ok, mut detail, mut statements, mut fixes, mut failing) =
        (true, Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for api in &t.apis {
        let facts = f.apis.get(&format!("{}/{}", t.account, api.api_id));
        let route = format!("{} /{}", api.method, api.path);
        if let Some(a) = facts.filter(|a| a.exists.is_some()) {
            if a.exists == Some(false) {
                ok = false;
                detail.push(format!(
                    "{}: REST API {} does not exist in account {}",
                    api.arn, api.api_id, t.account
                ));
                continue;
            }
            if !a.stages.contains(&api.stage) {
                ok = false;
                detail.push(format!(
                    "{}: API {} has no deployed stage {} (it has: {})",
                    api.arn,
                    api.api_id,
                    api.stage,
                    if a.stages.is_empty() {
                        "none".to_string()
                    } else {
                        a.stages.join(", ")
                    }
                ));
            }
            let matching: Vec<_> = a
                .methods
                .iter()
                .filter(|m| method_matches(&api.method, &api.path, &m.http_method, &m.path))
                .collect();
            if matching.is_empty() {
                ok = false;
                detail.push(format!(
                    "{}: API {} has no method {route}",
                    api.arn, api.api_id
                ));
            }
            for m in matching.iter().filter(|m| m.authorization != "AWS_IAM") {
                ok = false;
                detail.push(format!(
                    "{}: method {} {} of API {} uses authorization {}, not AWS_IAM: IAM policies do not protect it and the signature is not checked",
                    api.arn, m.http_method, m.path, api.api_id, m.authorization
                ));
                fixes.push(json!({"api": api.api_id, "method": m.http_method, "resource": m.path, "authorization_type": "AWS_IAM"}));
            }
        }
        let policy = facts.and_then(|a| a.policy.as_ref());
        let rname = format!("resource policy of API {}", api.api_id);
        let r = target_access(
            target,
            &names,
            "execute-api:Invoke",
            &api.arn,
            policy,
            &rname,
        );
        ok &= r.ok;
        detail.extend(r.detail);
        statements.extend(r.statements);
        fixes.extend(r.fix);
        failing.extend(r.case);
    }
    finish(Step::CallApi, ok, detail, statements, fixes, &failing)
}

/// What the target role's `action` on `resource` comes to under the resource's policy (named
/// `rname` in the words): for `call_api` and `get_object`.
struct Access {
    ok: bool,
    detail: Option<String>,
    statements: Vec<String>,
    fix: Option<Value>,
    /// The case that failed, to tell what the decision depends on.
    case: Option<Case>,
}

fn target_access(
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
            r.detail = if let Some(w) = boundary_words(&o, target, action, resource) {
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
            r.fix = if o.decision == Decision::ExplicitDeny {
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

fn finish(
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

pub(super) fn hop_get_object(cfg: &Config, t: &Target, f: &Facts) -> StepResult {
    use crate::model::live::Encryption;
    let Some(Some(target)) = f.targets.get(&t.name) else {
        return missing_target(cfg, t, Step::GetObject);
    };
    let names: Vec<&str> = target.policies.iter().map(|(n, _)| n.as_str()).collect();
    let (mut ok, mut detail, mut statements, mut fixes, mut failing) =
        (true, Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for o in &t.objects {
        let bucket = f.buckets.get(&o.bucket);
        if bucket.is_some_and(|b| b.exists == Some(false)) {
            ok = false;
            detail.push(format!("{}: bucket {} does not exist", o.arn, o.bucket));
            continue;
        }
        let policy = bucket.and_then(|b| b.policy.as_ref());
        let rname = format!("bucket policy of {}", o.bucket);
        let r = target_access(target, &names, "s3:GetObject", &o.arn, policy, &rname);
        detail.extend(r.detail);
        statements.extend(r.statements);
        fixes.extend(r.fix);
        failing.extend(r.case);
        if !r.ok {
            ok = false;
            continue;
        }
        // SSE-KMS with a customer key: the key policy must allow the role to decrypt
        let Some(b) = bucket else { continue };
        let Encryption::KmsCustomer(key) = &b.encryption else {
            continue;
        };
        let kname = format!("key policy of {key}");
        let Some(kp) = &b.key_policy else {
            ok = false;
            detail.push(format!(
                "{}: the bucket encrypts with KMS key {key}, whose key policy could not be read",
                o.arn
            ));
            continue;
        };
        match two_sided(target, "kms:Decrypt", key, Some(kp)) {
            Err(e) => {
                ok = false;
                detail.push(format!("{}: malformed key policy: {e}", o.arn));
            }
            Ok((out, _, _, _)) if out.decision == Decision::Allow => {
                detail.push(format!("{} may decrypt with {key}", target.arn));
                statements.extend(labels(&out, &names, &kname));
            }
            Ok((out, id_ok, res_ok, case)) => {
                ok = false;
                failing.push(case);
                if out.decision == Decision::ExplicitDeny {
                    detail.push(format!(
                        "{}: kms:Decrypt with {key} is explicitly denied",
                        o.arn
                    ));
                    fixes.push(removal(&out, &names, &kname));
                } else {
                    if !res_ok {
                        detail.push(format!(
                            "{}: the bucket encrypts with KMS key {key}, and its key policy does not let {} decrypt (a key policy must allow explicitly, even in the same account)",
                            o.arn, target.arn
                        ));
                        fixes.push(json!({"key_policy_of": key, "statement": {"Effect":"Allow","Principal":{"AWS":target.arn},"Action":"kms:Decrypt","Resource":"*"}}));
                    }
                    if !id_ok {
                        detail.push(format!(
                            "{}: the target role's policies do not allow kms:Decrypt on {key}",
                            o.arn
                        ));
                        fixes.push(json!({"identity_policy_of": target.arn, "statement": {"Effect":"Allow","Action":"kms:Decrypt","Resource":key}}));
                    }
                }
                statements.extend(labels(&out, &names, &kname));
            }
        }
    }
    finish(Step::GetObject, ok, detail, statements, fixes, &failing)
}
