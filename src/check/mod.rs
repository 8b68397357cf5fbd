//! `xacct check`: prove each hop of the chain from the policy documents alone, with the evaluation
//! engine. The proof is pure (`prove` over `Facts`); the facts come from the live accounts or from the
//! desired state of the file (`--desired`).

mod desired;
pub mod proof;
mod render;
mod source_policy;

pub use crate::targets::apis::{method_matches, serves};
pub use desired::desired_facts;
use proof::{
    boundary_words, depends, hop, labels, organization_words, removal, two_sided_ask, Step,
    StepResult,
};
pub use render::render_human;
use source_policy::hop_source_policy;

use crate::chain::{self, Device, Start};
pub use crate::chain::{Hop, Part};
use crate::config::{Config, Origin, Target};
pub use crate::model::live::{CertFacts, Facts, FunctionFacts, RoleFacts};
use crate::policy::eval::{evaluate, evaluate_identity, Decision};
use serde::Serialize;
use serde_json::{json, Value};

/// The result of one hop for one environment (`check --json`'s `hops`).
#[derive(Debug, Clone, Serialize)]
pub struct HopResult {
    pub hop: Hop,
    pub ok: bool,
    /// What was proven, or what is wrong, in plain words (of every part, in order).
    pub detail: Vec<String>,
    /// Statements that allowed (ok) or denied (not ok), as "policy NAME statement SID".
    pub statements: Vec<String>,
    /// A statement that would fix it, and where it goes (the first failing part's).
    pub fix: Option<Value>,
    /// Condition keys the decision depends on that xacct cannot know (no ✓ or ✗ can be given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The parts proven one by one (`credentials`, `assume_role`), each as a hop is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartResult>,
    /// The organization policies (SCPs, RCPs) that denied it: `layer`, `level`, `name`, `id`,
    /// `target`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organization: Vec<crate::policy::eval::OrgDecider>,
    /// The hop's request as the chain defines it: `caller`, and its `asks` (`part`, `action`,
    /// `resource`, `decided_by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<crate::chain::Request>,
}

/// The result of one part of a hop.
#[derive(Debug, Clone, Serialize)]
pub struct PartResult {
    pub part: Part,
    pub ok: bool,
    pub detail: Vec<String>,
    pub statements: Vec<String>,
    pub fix: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organization: Vec<crate::policy::eval::OrgDecider>,
}

/// The steps of one environment as its hops, in chain order, parts within their hop.
fn group(steps: Vec<StepResult>, requests: Vec<crate::chain::Request>) -> Vec<HopResult> {
    let mut hops: Vec<HopResult> = Vec::new();
    for s in steps {
        let (hop, part) = s.step.place();
        let i = match hops.iter().position(|h| h.hop == hop) {
            Some(i) => i,
            None => {
                hops.push(HopResult {
                    hop,
                    ok: true,
                    detail: vec![],
                    statements: vec![],
                    fix: None,
                    depends_on: vec![],
                    parts: vec![],
                    organization: vec![],
                    request: None,
                });
                hops.len() - 1
            }
        };
        let h = &mut hops[i];
        h.ok &= s.ok;
        h.detail.extend(s.detail.iter().cloned());
        h.statements.extend(s.statements.iter().cloned());
        for k in &s.depends_on {
            if !h.depends_on.contains(k) {
                h.depends_on.push(k.clone());
            }
        }
        for d in &s.organization {
            if !h.organization.contains(d) {
                h.organization.push(d.clone());
            }
        }
        match part {
            // a hop of parts: the first failing part's fix
            Some(part) => {
                if h.fix.is_none() && !s.ok {
                    h.fix = s.fix.clone();
                }
                h.parts.push(PartResult {
                    part,
                    ok: s.ok,
                    detail: s.detail,
                    statements: s.statements,
                    fix: s.fix,
                    depends_on: s.depends_on,
                    organization: s.organization,
                })
            }
            // a hop of one step: the step's own
            None => h.fix = s.fix,
        }
    }
    hops.sort_by_key(|h| h.hop);
    for r in requests {
        if let Some(h) = hops.iter_mut().find(|h| h.hop == r.hop) {
            h.request = Some(r);
        }
    }
    hops
}

/// What the proof does not see, said once under every human report.
pub const NOT_MODELLED: &str = "A ✓ means the documents xacct can read allow it: each account's organization is known (aws:PrincipalOrgID); service and resource control policies are proven only when the file's organization: section lets xacct read them; session policies are not modelled.";

#[derive(Debug, Clone, Serialize)]
pub struct EnvReport {
    pub env: String,
    pub account: String,
    pub ok: bool,
    /// The devices the environment admits (`thing group NAME`, `thing type NAME`), when gated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<String>,
    pub hops: Vec<HopResult>,
}

fn hop_iot_policy(dev: &Device, f: &Facts) -> StepResult {
    let iot = &dev.iot;
    let alias = &dev.alias_arn;
    let mut ok = true;
    let mut detail = Vec::new();
    let mut statements = Vec::new();
    let mut fix = json!({"policy": iot.policy_name, "attach_to": "each certificate",
        "statement": {"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":alias}});
    for c in &f.certs {
        let who = if c.id.is_empty() {
            "the fleet's IoT policy".to_string()
        } else if let Some(g) = c.id.strip_prefix("thinggroup/") {
            format!("thing group {g}")
        } else {
            format!("certificate {}", short(&c.id))
        };
        if !c.exists {
            ok = false;
            detail.push(format!(
                "{who} is not registered in IoT account {}",
                iot.account
            ));
            continue;
        }
        if let Some(s) = &c.status {
            if s != "ACTIVE" {
                ok = false;
                detail.push(format!(
                    "{who} is {s}, not ACTIVE: the credentials provider refuses it"
                ));
            }
        }
        if c.policies.is_empty() {
            ok = false;
            detail.push(format!("{who} has no IoT policy attached"));
            continue;
        }
        let docs: Vec<Value> = c.policies.iter().map(|(_, d)| d.clone()).collect();
        let names: Vec<&str> = c.policies.iter().map(|(n, _)| n.as_str()).collect();
        // a certificate's own policies see its id; a thing group's apply whatever the certificate
        let cert_id =
            (!c.id.is_empty() && !c.id.starts_with("thinggroup/")).then_some(c.id.as_str());
        let req = xacct_policy::requests::assume_role_with_certificate(alias, cert_id, None);
        match evaluate_identity(&docs, &req.action, &req.resource, &req.context) {
            Ok(o) if o.decision == Decision::Allow => {
                detail.push(format!(
                    "{who}: iot:AssumeRoleWithCertificate on {alias} allowed"
                ));
                statements.extend(labels(&o, &names, ""));
            }
            Ok(o) => {
                ok = false;
                let why = if o.decision == Decision::ExplicitDeny {
                    "explicitly denies"
                } else {
                    "does not allow"
                };
                detail.push(format!("the IoT policy attached to {who} {why} iot:AssumeRoleWithCertificate on {alias}"));
                if o.decision == Decision::ExplicitDeny {
                    fix = removal(&o, &names, "");
                }
                statements.extend(labels(&o, &names, ""));
            }
            Err(e) => {
                ok = false;
                detail.push(format!("{who}: malformed IoT policy: {e}"));
            }
        }
    }
    hop(
        Step::IotPolicy,
        ok,
        detail,
        statements,
        if ok { None } else { Some(fix) },
    )
}

fn hop_alias(dev: &Device, f: &Facts) -> StepResult {
    let iot = &dev.iot;
    let fix = json!({"role_alias": iot.role_alias, "role_arn": dev.role_arn, "credential_duration": iot.credential_duration});
    let Some((role_arn, duration)) = &f.alias else {
        return hop(
            Step::RoleAlias,
            false,
            vec![format!("role alias {} does not exist", iot.role_alias)],
            vec![],
            Some(fix),
        );
    };
    let mut detail = Vec::new();
    let mut ok = true;
    if role_arn != &dev.role_arn {
        ok = false;
        detail.push(format!(
            "role alias {} points at {role_arn}, not {}",
            iot.role_alias, dev.role_arn
        ));
    }
    match &f.origin_role {
        None => {
            ok = false;
            detail.push(format!("the IoT role {} does not exist", dev.role_arn));
        }
        Some(r) if *duration > r.max_session => {
            ok = false;
            detail.push(format!(
                "the alias issues {duration} s credentials but the role's MaxSessionDuration is {} s: the credentials provider answers 400",
                r.max_session
            ));
        }
        Some(_) => {}
    }
    if ok {
        detail.push(format!(
            "role alias {} → {role_arn}, {duration} s",
            iot.role_alias
        ));
    }
    hop(
        Step::RoleAlias,
        ok,
        detail,
        vec![],
        if ok { None } else { Some(fix) },
    )
}

fn hop_iot_trust(dev: &Device, f: &Facts) -> StepResult {
    let iot = &dev.iot;
    let fix = json!({"trust_policy_of": dev.role_arn, "statement": {"Effect":"Allow",
        "Principal":{"Service":"credentials.iot.amazonaws.com"},"Action":"sts:AssumeRole",
        "Condition":{"StringEquals":{"aws:SourceAccount":iot.account},"ArnEquals":{"aws:SourceArn":dev.alias_arn}}}});
    let Some(r) = &f.origin_role else {
        return hop(
            Step::IotTrust,
            false,
            vec![format!("the IoT role {} does not exist", dev.role_arn)],
            vec![],
            Some(fix),
        );
    };
    let case = xacct_policy::requests::provider_assumes_role(
        &r.arn,
        r.trust.clone(),
        &iot.account,
        &dev.alias_arn,
    );
    let trust_name = format!("trust policy of {}", iot.role_name);
    let h = match evaluate(&case) {
        Ok(o) if o.decision == Decision::Allow => hop(
            Step::IotTrust,
            true,
            vec![format!("credentials.iot.amazonaws.com may assume {} (SourceAccount {}, SourceArn {})", r.arn, iot.account, dev.alias_arn)],
            labels(&o, &[], &trust_name),
            None,
        ),
        Ok(o) => hop(
            Step::IotTrust,
            false,
            vec![format!(
                "the {trust_name} {} sts:AssumeRole by credentials.iot.amazonaws.com with aws:SourceAccount {} and aws:SourceArn {} (the file's iot.source_arn_condition is {}; relax it to account or none if the credentials provider sends another aws:SourceArn)",
                if o.decision == Decision::ExplicitDeny { "explicitly denies" } else { "does not allow" },
                iot.account,
                dev.alias_arn,
                serde_json::to_value(iot.source_arn_condition).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
            )],
            labels(&o, &[], &trust_name),
            Some(fix),
        ),
        Err(e) => hop(Step::IotTrust, false, vec![format!("malformed {trust_name}: {e}")], vec![], Some(fix)),
    };
    depends(h, &case)
}

fn hop_assume_target(cfg: &Config, t: &Target, f: &Facts, ask: &crate::chain::Ask) -> StepResult {
    let target_arn = &ask.resource;
    let Some(iot) = &f.origin_role else {
        return hop(
            Step::AssumeTarget,
            false,
            vec![format!(
                "the {} {} does not exist",
                origin_words(cfg),
                cfg.iot_role_arn_for(t)
            )],
            vec![],
            None,
        );
    };
    let Some(Some(target)) = f.targets.get(&t.name) else {
        return hop(
            Step::AssumeTarget,
            false,
            vec![format!("the target role {target_arn} does not exist")],
            vec![],
            Some(json!({"create_role": target_arn, "trusting": cfg.iot_role_arn_for(t)})),
        );
    };
    let names: Vec<&str> = iot.policies.iter().map(|(n, _)| n.as_str()).collect();
    let trust_name = format!("trust policy of {}", t.role_name);
    // the target role is under the RCPs of its own account (STS is among the services they cover)
    // the role as it is (a role read live may carry a path the file's name does not)
    let ask = crate::chain::Ask {
        resource: target.arn.clone(),
        ..ask.clone()
    };
    match two_sided_ask(iot, &ask, Some(&target.trust), Some(target)) {
        Err(e) => hop(
            Step::AssumeTarget,
            false,
            vec![format!("malformed policy: {e}")],
            vec![],
            None,
        ),
        Ok((o, _, _, _)) if o.decision == Decision::Allow => hop(
            Step::AssumeTarget,
            true,
            vec![format!("{} may assume {}", iot.arn, target.arn)],
            labels(&o, &names, &trust_name),
            None,
        ),
        Ok((o, _, true, _))
            if cfg.source_role().is_some()
                && o.organization.is_empty()
                && !o.statements.iter().any(|s| s.starts_with("resource.")) =>
        {
            // a source chain proves the source role's side in `source_policy`: here only the trust
            hop(
                Step::AssumeTarget,
                true,
                vec![format!(
                    "the {trust_name} lets {} assume it (the source role's own side: source_policy)",
                    iot.arn
                )],
                vec![],
                None,
            )
        }
        Ok((o, id_ok, res_ok, case)) => {
            let mut detail = Vec::new();
            let mut fix = Vec::new();
            let source_chain = cfg.source_role().is_some();
            if let Some((w, f)) = organization_words(&o, "sts:AssumeRole") {
                detail.push(w);
                fix.push(f);
            }
            if let Some(w) =
                boundary_words(&o, iot, "sts:AssumeRole", &target.arn).filter(|_| !source_chain)
            {
                detail.push(w);
            }
            if o.decision == Decision::ExplicitDeny {
                detail.push("an explicit Deny blocks sts:AssumeRole".to_string());
            }
            if o.decision == Decision::ExplicitDeny {
                fix.push(removal(&o, &names, &trust_name));
            } else if !id_ok && !source_chain {
                detail.push(format!(
                    "the IoT role's policies do not allow sts:AssumeRole on {}",
                    target.arn
                ));
                fix.push(json!({"identity_policy_of": iot.arn, "statement": {"Effect":"Allow","Action":"sts:AssumeRole","Resource":target.arn}}));
            }
            if !res_ok {
                detail.push(format!("the {trust_name} does not name {}", iot.arn));
                fix.push(json!({"trust_policy_of": target.arn, "statement": {"Effect":"Allow","Principal":{"AWS":iot.arn},"Action":"sts:AssumeRole"}}));
            }
            let mut h = hop(
                Step::AssumeTarget,
                false,
                detail,
                labels(&o, &names, &trust_name),
                Some(Value::Array(fix)),
            );
            h.organization = o.organization.clone();
            depends(h, &case)
        }
    }
}

/// A workload chain's start: the source role's sessions are the workload's own (xacct neither makes
/// nor proves them), so what the documents can show is that the role is there.
fn hop_source(cfg: &Config, f: &Facts) -> StepResult {
    let arn = cfg.origin_role_arn();
    match &f.origin_role {
        Some(src) => hop(
            Step::Source,
            true,
            vec![format!(
                "the source role {} exists; its sessions are the workload's own",
                src.arn
            )],
            vec![],
            None,
        ),
        None => hop(
            Step::Source,
            false,
            vec![format!("the source role {arn} does not exist")],
            vec![],
            None,
        ),
    }
}

/// "IoT role" or "source role".
fn origin_words(cfg: &Config) -> &'static str {
    match cfg.origin {
        Origin::Iot(_) => "IoT role",
        Origin::Role(_) => "source role",
    }
}

fn short(id: &str) -> String {
    format!("{}…", &id[..id.len().min(12)])
}

/// Prove every hop of every selected environment.
pub fn prove(cfg: &Config, facts: &Facts, selected: &[String]) -> Vec<EnvReport> {
    let iot_hops = |dev: &Device, facts: &Facts| {
        vec![
            hop_iot_policy(dev, facts),
            hop_alias(dev, facts),
            hop_iot_trust(dev, facts),
        ]
    };
    // the fleet's shared layout is proven once for every environment it serves
    let shared = Device::of(cfg, None)
        .filter(|_| !cfg.gated())
        .map(|dev| iot_hops(&dev, facts))
        .unwrap_or_default();
    chain::chains(cfg, selected)
        .into_iter()
        .map(|chain| {
            let t = chain.env;
            let own;
            let (facts, mut hops) = match &chain.start {
                // gated: the environment's own IoT role, alias and policy
                Start::Device(dev) if dev.gate.is_some() => {
                    own = facts.for_env(&t.name);
                    let hops = iot_hops(dev, &own);
                    (&own, hops)
                }
                Start::Device(_) => (facts, shared.clone()),
                Start::Workload(_) => (
                    facts,
                    vec![hop_source(cfg, facts), hop_source_policy(cfg, t, facts)],
                ),
            };
            let requests = chain.requests(cfg);
            if let Some(ask) = requests
                .iter()
                .find(|r| r.hop == Hop::AssumeRole)
                .and_then(|r| r.asks_of(Some(Part::TargetTrust)).next())
            {
                hops.push(hop_assume_target(cfg, t, facts, ask));
            }
            for ty in crate::targets::listed(t) {
                let asks = requests
                    .iter()
                    .find(|r| r.hop == ty.hop())
                    .map(|r| r.asks.as_slice())
                    .unwrap_or_default();
                hops.push(ty.prove(cfg, t, facts, asks));
            }
            EnvReport {
                env: t.name.clone(),
                account: t.account.clone(),
                ok: hops.iter().all(|h| h.ok),
                devices: t.devices.as_ref().map(|d| d.to_string()),
                hops: group(hops, requests),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        crate::config::parse(
            Path::new("t.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\"}\nenvironments:\n  a: {account: \"222222222222\", functions: [x]}\n  b: {account: \"333333333333\", functions: [y]}\n",
        )
        .unwrap()
    }

    #[test]
    fn desired_state_proves_every_hop() {
        let c = cfg();
        let r = prove(&c, &desired_facts(&c), &[]);
        assert_eq!(r.len(), 2);
        for e in &r {
            assert!(e.ok, "{e:#?}");
        }
        // `--json` carries each hop's request: the caller, the asks and what decides them
        let j = serde_json::to_value(&r[1]).unwrap();
        let assume = &j["hops"][1];
        assert_eq!(assume["hop"], "assume_role");
        assert_eq!(
            assume["request"]["caller"]["role"],
            "arn:aws:iam::111111111111:role/f-device"
        );
        let ask = &assume["request"]["asks"][0];
        assert_eq!(ask["part"], "target_trust");
        assert_eq!(ask["resource"], "arn:aws:iam::333333333333:role/f-b");
        assert!(ask["decided_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "resource" && d["policy"] == "trust"));
        assert_eq!(
            j["hops"][2]["request"]["asks"][0]["resource"],
            "arn:aws:lambda:eu-west-1:333333333333:function:y"
        );
    }

    #[test]
    fn a_trust_naming_root_without_identity_allow_breaks_assume_target_only_for_that_env() {
        let c = cfg();
        let mut f = desired_facts(&c);
        let t = f.targets.get_mut("b").unwrap().as_mut().unwrap();
        t.trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:role/other"},"Action":"sts:AssumeRole"}]});
        let r = prove(&c, &f, &[]);
        assert!(r[0].ok);
        assert!(!r[1].ok);
        let h = r[1].hops.iter().find(|h| h.hop == Hop::AssumeRole).unwrap();
        assert!(!h.ok);
        assert!(
            !h.parts
                .iter()
                .find(|p| p.part == Part::TargetTrust)
                .unwrap()
                .ok
        );
        assert!(
            h.detail
                .iter()
                .any(|d| d.contains("does not name arn:aws:iam::111111111111:role/f-device")),
            "{h:?}"
        );
        assert!(r[1].hops.iter().filter(|h| !h.ok).count() == 1);
    }

    #[test]
    fn a_deny_in_the_iot_policy_is_named() {
        let c = cfg();
        let mut f = desired_facts(&c);
        f.certs[0].policies.push((
            "blocker".into(),
            json!({"Version":"2012-10-17","Statement":[{"Sid":"NoCreds","Effect":"Deny","Action":"iot:*","Resource":"*"}]}),
        ));
        let r = prove(&c, &f, &[]);
        let h = &r[0].hops[0];
        assert!(!h.ok);
        assert!(
            h.statements
                .iter()
                .any(|s| s == "denied by policy blocker statement NoCreds"),
            "{h:?}"
        );
    }

    #[test]
    fn alias_duration_above_role_max_session_fails() {
        let c = cfg();
        let mut f = desired_facts(&c);
        f.alias = Some((c.origin_role_arn(), 7200));
        let r = prove(&c, &f, &[]);
        let alias = &r[0].hops[0].parts[1];
        assert_eq!(alias.part, Part::RoleAlias);
        assert!(!alias.ok && !r[0].hops[0].ok);
        assert!(alias.detail[0].contains("MaxSessionDuration"));
    }

    #[test]
    fn a_condition_on_a_key_xacct_cannot_know_is_reported_as_depending_on_it() {
        let c = cfg();
        let mut f = desired_facts(&c);
        let iot = c.origin_role_arn();
        let t = f.targets.get_mut("b").unwrap().as_mut().unwrap();
        t.trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":iot},"Action":"sts:AssumeRole","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]});
        let r = prove(&c, &f, &[]);
        let h = r[1].hops.iter().find(|h| h.hop == Hop::AssumeRole).unwrap();
        assert!(!h.ok);
        assert_eq!(h.depends_on, vec!["aws:SourceIp".to_string()]);
        assert!(
            h.detail
                .iter()
                .any(|d| d.starts_with("depends on aws:SourceIp")),
            "{h:#?}"
        );
        let human = render_human(&r, crate::output::Style { color: false });
        assert!(human.contains("? assume-role"), "{human}");
        assert!(human.contains("? target-trust"), "{human}");
        assert!(human.contains(NOT_MODELLED), "{human}");
    }

    #[test]
    fn the_keys_aws_sets_are_in_the_context() {
        let c = cfg();
        let mut f = desired_facts(&c);
        let iot = c.origin_role_arn();
        let t = f.targets.get_mut("b").unwrap().as_mut().unwrap();
        // conditions on keys AWS sets for this request hold
        t.trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":iot},"Action":"sts:AssumeRole","Condition":{
            "StringEquals":{"aws:PrincipalType":"AssumedRole","aws:PrincipalAccount":"111111111111"},
            "Bool":{"aws:SecureTransport":"true"},
            "DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}}]});
        let r = prove(&c, &f, &[]);
        assert!(r[1].ok, "{:#?}", r[1]);
    }

    /// A resource perimeter in the caller's own policy (`aws:ResourceOrgID` equal to its own
    /// organization) holds for a target role of the same organization and fails for one of another:
    /// the target's organization is the resource's.
    #[test]
    fn the_resource_organization_is_the_target_role_accounts() {
        let c = cfg();
        let mut f = desired_facts(&c);
        let o = f.origin_role.as_mut().unwrap();
        o.org_id = Some("o-aaaaaaaaaa".into());
        o.policies = vec![(
            "perimeter".into(),
            json!({"Version":"2012-10-17","Statement":[{"Sid":"InOrg","Effect":"Allow","Action":"sts:AssumeRole","Resource":"*",
                "Condition":{"StringEquals":{"aws:ResourceOrgID":"${aws:PrincipalOrgID}"}}}]}),
        )];
        for (env, org) in [("a", "o-aaaaaaaaaa"), ("b", "o-bbbbbbbbbb")] {
            f.targets.get_mut(env).unwrap().as_mut().unwrap().org_id = Some(org.into());
        }
        let r = prove(&c, &f, &[]);
        let hop = |i: usize| {
            r[i].hops
                .iter()
                .find(|h| h.hop == Hop::AssumeRole)
                .unwrap()
                .ok
        };
        assert!(hop(0), "{:#?}", r[0]);
        assert!(!hop(1), "{:#?}", r[1]);
    }

    #[test]
    fn api_routes_match_as_api_gateway_serves_them() {
        assert!(method_matches("*", "orders/*", "PUT", "/orders/{id}"));
        assert!(method_matches("GET", "orders/*", "ANY", "/orders/{proxy+}"));
        assert!(!method_matches("GET", "orders/*", "POST", "/orders/{id}"));
        assert!(method_matches("POST", "orders", "POST", "/orders"));
    }
}
