//! Lambda functions (`functions:`): the `invoke` hop. The target role (the IoT role in direct mode)
//! may `lambda:InvokeFunction` each listed function and its qualifiers; the proof evaluates the role's
//! policies with each function's resource policy; verify invokes each (`DryRun` unless `--execute`).

use super::{gather, Phase, Reach, Read, TargetType};
use crate::aws::{Accounts, AwsError, Call, Clients};
use crate::chain::hop::Hop;
use crate::check::proof::{
    boundary_words, depends, hop, labels, organization_words, removal, two_sided_own, Step,
    StepResult,
};
use crate::config::{Config, Target};
use crate::model::live::{Discovered, Facts, FunctionFacts};
use crate::policy::eval::Decision;
use crate::policy::{self, Var};
use crate::verify::hops::{hop_done, settled, with_creds, HopError, Options, Proofs};
use crate::verify::report::{HopOutcome, Invocation};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Instant;

pub struct Functions;

impl TargetType for Functions {
    fn hop(&self) -> Hop {
        Hop::Invoke
    }

    fn listed(&self, t: &Target) -> bool {
        !t.functions.is_empty()
    }

    fn vars(&self, t: &Target, _: &Discovered, vars: &mut BTreeMap<&'static str, Var>) {
        let mut arns = Vec::new();
        for f in &t.functions {
            arns.push(f.clone());
            arns.push(format!("{f}:*"));
        }
        vars.insert("function_arns", Var::List(arns));
    }

    fn asks(
        &self,
        _: &Config,
        t: &Target,
        caller: &str,
        device: Option<crate::policy::context::IotDevice>,
    ) -> Vec<crate::chain::Ask> {
        use crate::chain::{request::role_ask, ResourcePolicy};
        t.functions
            .iter()
            .map(|f| {
                role_ask(
                    caller,
                    device.clone(),
                    None,
                    "lambda:InvokeFunction",
                    f,
                    Some(ResourcePolicy::Function),
                )
            })
            .collect()
    }

    fn facts<'a>(
        &'a self,
        _: &'a Config,
        t: &'a Target,
        c: &'a Clients,
        _: &'a Accounts,
    ) -> BoxFuture<'a, Read> {
        Box::pin(async move {
            let read = futures::future::join_all(
                t.functions
                    .iter()
                    .map(|f| async move { (f.clone(), function_facts(c, f).await) }),
            )
            .await;
            let (mut f, mut errors) = (Facts::default(), Vec::new());
            gather(&mut f.functions, read, &mut errors);
            (f, errors)
        })
    }

    fn prove(&self, cfg: &Config, t: &Target, f: &Facts, asks: &[crate::chain::Ask]) -> StepResult {
        prove_invoke(t, f, cfg, asks)
    }

    fn calls(&self, _: &Config, t: &Target, phase: Phase) -> Vec<Call> {
        match phase {
            Phase::Check => t
                .functions
                .iter()
                .flat_map(|f| Call::each(&["lambda:GetFunction", "lambda:GetPolicy"], f))
                .collect(),
            Phase::Plan | Phase::Verify => vec![],
        }
    }

    fn perform<'a, 'p: 'a>(
        &'a self,
        r: &'a Reach<'a, 'p>,
    ) -> BoxFuture<'a, (HopOutcome, Vec<Invocation>)> {
        Box::pin(invoke_hop(r.cfg, r.t, r.creds, r.opts, r.proofs))
    }
}

async fn function_facts(c: &Clients, arn: &str) -> Result<FunctionFacts, AwsError> {
    let _slot = c.slot().await?;
    if let Err(e) = c.lambda().get_function().function_name(arn).send().await {
        let e = c.err("lambda:GetFunction", arn, e);
        return if e.not_found() {
            Ok(FunctionFacts {
                exists: Some(false),
                policy: None,
            })
        } else {
            Err(e)
        };
    }
    match c.lambda().get_policy().function_name(arn).send().await {
        Ok(p) => {
            let doc = match p.policy() {
                Some(d) => Some(
                    policy::parse_function_policy(d)
                        .map_err(|m| c.unreadable("lambda:GetPolicy", arn, m))?,
                ),
                None => None,
            };
            Ok(FunctionFacts {
                exists: Some(true),
                policy: doc,
            })
        }
        Err(e) => {
            let e = c.err("lambda:GetPolicy", arn, e);
            if e.not_found() {
                Ok(FunctionFacts {
                    exists: Some(true),
                    policy: None,
                })
            } else {
                Err(e)
            }
        }
    }
}

fn prove_invoke(t: &Target, f: &Facts, cfg: &Config, asks: &[crate::chain::Ask]) -> StepResult {
    // direct mode: the IoT role's session invokes; otherwise the target role's
    let principal = if t.direct() {
        f.origin_role.as_ref()
    } else {
        f.targets.get(&t.name).and_then(|r| r.as_ref())
    };
    let Some(target) = principal else {
        return hop(
            Step::Target(Hop::Invoke),
            false,
            vec![if t.direct() {
                format!("the IoT role {} does not exist", cfg.iot_role_arn_for(t))
            } else {
                format!("the target role {} does not exist", cfg.target_role_arn(t))
            }],
            vec![],
            None,
        );
    };
    let role_words = if t.direct() {
        "IoT role"
    } else {
        "target role"
    };
    let names: Vec<&str> = target.policies.iter().map(|(n, _)| n.as_str()).collect();
    let mut ok = true;
    let mut detail = Vec::new();
    let mut statements = Vec::new();
    let mut fixes = Vec::new();
    let mut failing = Vec::new();
    let mut organization = Vec::new();
    for ask in asks {
        let func = &ask.resource;
        let facts = f.functions.get(func);
        if let Some(FunctionFacts {
            exists: Some(false),
            ..
        }) = facts
        {
            ok = false;
            detail.push(format!("function {func} does not exist"));
            continue;
        }
        let policy = facts.and_then(|x| x.policy.as_ref());
        let fname = format!(
            "resource policy of {}",
            func.rsplit(':').next().unwrap_or(func)
        );
        match two_sided_own(target, ask, policy) {
            Err(e) => {
                ok = false;
                detail.push(format!("{func}: malformed policy: {e}"));
            }
            Ok((o, _, _, _)) if o.decision == Decision::Allow => {
                detail.push(format!("{} may invoke {func}", target.arn));
                statements.extend(labels(&o, &names, &fname));
            }
            Ok((o, id_ok, res_ok, case)) => {
                ok = false;
                failing.push(case);
                organization.extend(o.organization.clone());
                if let Some((w, f)) = organization_words(&o, "lambda:InvokeFunction") {
                    detail.push(format!("{func}: {w}"));
                    fixes.push(f);
                } else if let Some(w) = boundary_words(&o, target, "lambda:InvokeFunction", func) {
                    detail.push(format!("{func}: {w}"));
                } else if o.decision == Decision::ExplicitDeny {
                    detail.push(format!(
                        "{func}: an explicit Deny blocks lambda:InvokeFunction"
                    ));
                } else if !id_ok {
                    detail.push(format!(
                        "{func}: the {role_words}'s policies do not allow lambda:InvokeFunction"
                    ));
                } else if !res_ok || t.direct() {
                    detail.push(format!(
                        "{func}: the function policy of {} does not allow {} (cross-account, the function's resource policy must name the role: xacct's statement {} is missing or changed)",
                        func.rsplit(':').next().unwrap_or(func),
                        target.arn,
                        crate::desired::permission_sid(cfg)
                    ));
                }
                statements.extend(labels(&o, &names, &fname));
                if o.decision == Decision::ExplicitDeny {
                    fixes.push(removal(&o, &names, &fname));
                } else if !id_ok {
                    fixes.push(json!({"identity_policy_of": target.arn, "statement": {"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":[func, format!("{func}:*")]}}));
                } else if !res_ok || t.direct() {
                    fixes.push(json!({"function_policy_of": func, "statement": {"Sid": crate::desired::permission_sid(cfg), "Effect":"Allow","Principal":{"AWS":target.arn},"Action":"lambda:InvokeFunction","Resource":func}}));
                }
            }
        }
    }
    let mut h = hop(
        Step::Target(Hop::Invoke),
        ok,
        detail,
        statements,
        if fixes.is_empty() {
            None
        } else {
            Some(Value::Array(fixes))
        },
    );
    for case in &failing {
        h = depends(h, case);
    }
    h.organization = organization;
    h
}

async fn invoke(
    cfg: &Config,
    creds: &aws_sdk_sts::types::Credentials,
    function: &str,
    opts: &Options,
) -> Result<Invocation, HopError> {
    let sdk = with_creds(
        &cfg.region,
        creds.access_key_id(),
        creds.secret_access_key(),
        creds.session_token(),
    )
    .await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    // DryRun proves the permission and runs no code; --execute runs it. Never LogType=Tail: AWS
    // refuses it across accounts.
    let mut req = lambda.invoke().function_name(function);
    req = if opts.execute {
        req.invocation_type(aws_sdk_lambda::types::InvocationType::RequestResponse)
            .payload(aws_smithy_types::Blob::new(
                opts.payload.as_bytes().to_vec(),
            ))
    } else {
        req.invocation_type(aws_sdk_lambda::types::InvocationType::DryRun)
    };
    let out = req.send().await.map_err(|e| {
        use aws_smithy_types::error::metadata::ProvideErrorMetadata;
        let denied = crate::aws::error::denied(e.code());
        let message = match (e.code(), e.message()) {
            (Some(c), m) if denied => {
                format!("Invoke of {function} denied: {}", m.unwrap_or(c))
            }
            (Some(c), _) if crate::aws::Code::parse(c).not_found() => {
                format!("function {function} does not exist")
            }
            (Some(c), m) => format!("Invoke of {function} failed: {c}: {}", m.unwrap_or("")),
            _ => format!("Invoke of {function} failed: {}", crate::aws::chain(&e)),
        };
        HopError { denied, message }
    })?;
    let payload = out
        .payload()
        .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
        .unwrap_or_default();
    Ok(Invocation {
        function: function.to_string(),
        status: Some(out.status_code()),
        function_error: out.function_error().map(String::from),
        payload_excerpt: payload.chars().take(120).collect(),
    })
}

async fn invoke_hop(
    cfg: &Config,
    t: &Target,
    target: &aws_sdk_sts::types::Credentials,
    opts: &Options,
    proofs: &Proofs<'_>,
) -> (HopOutcome, Vec<Invocation>) {
    let t3 = Instant::now();
    let functions: Vec<String> = match &opts.function {
        Some(f) => t
            .functions
            .iter()
            .filter(|a| a.rsplit(':').next() == Some(f.as_str()) || *a == f)
            .cloned()
            .collect(),
        None => t.functions.clone(),
    };
    let mut errors = Vec::new();
    let mut invocations = Vec::new();
    let results = futures::future::join_all(functions.iter().map(|f| {
        settled(opts, proofs, &t.name, Hop::Invoke, || {
            invoke(cfg, target, f, opts)
        })
    }))
    .await;
    for r in results {
        match r {
            Ok(i) => {
                if let Some(fe) = &i.function_error {
                    errors.push(format!(
                        "{} answered {:?} with FunctionError {fe}",
                        i.function, i.status
                    ));
                }
                invocations.push(i);
            }
            Err(e) => errors.push(e.message),
        }
    }
    if functions.is_empty() {
        errors.push(format!(
            "no function of environment {} matches --function",
            t.name
        ));
    }
    let detail = if errors.is_empty() {
        format!("invoked {} function(s)", invocations.len())
    } else {
        errors.join("; ")
    };
    (
        hop_done(Hop::Invoke, errors.is_empty(), t3, detail),
        invocations,
    )
}
