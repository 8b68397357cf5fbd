//! The target types, one file each: Lambda functions (`functions`), API Gateway methods (`apis`),
//! S3 objects (`objects`). A type implements `TargetType`: whether an environment lists targets of
//! it, the hop it adds after the target role, the template variables of its statements in the target
//! role's policy (`policies/target-role-permissions.json`), the facts the proof reads, the proof of
//! its hop, and the live call verify makes. `TYPES` registers them, in the order of their hops.
//!
//! Adding a target type: its file here and its line in `TYPES`; its hop in `chain::hop`; its
//! entry in the file's schema (`config`); its statement in the template; its facts' field in
//! `model::live::Facts`; and, when the service is new, an emulator in the sandbox.

pub mod apis;
pub mod functions;
pub mod objects;

use crate::aws::{Accounts, AwsError, Call, Clients};
use crate::chain::hop::Hop;
use crate::check::proof::StepResult;
use crate::config::{Config, Target};
use crate::model::live::{Discovered, Facts};
use crate::policy::Var;
use crate::verify::hops::{Options, Proofs};
use crate::verify::report::{HopOutcome, Invocation};
use futures::future::BoxFuture;
use std::collections::BTreeMap;

/// What a hop after the target role is performed with.
pub struct Reach<'a, 'p> {
    pub cfg: &'a Config,
    pub t: &'a Target,
    /// The session the calls are made with: the target role's (the IoT role's in direct mode).
    pub creds: &'a aws_sdk_sts::types::Credentials,
    pub opts: &'a Options,
    pub proofs: &'a Proofs<'p>,
    /// The environment account's own clients (to find what to call, to explain an answer), when
    /// they could be connected.
    pub env: Option<&'a Clients>,
}

/// When a target type reads with the operator's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// What the desired state depends on (plan, apply, destroy).
    Plan,
    /// The proof's facts (check, and verify's explanations).
    Check,
    /// What verify reads to perform the hop (the calls themselves use the chain's credentials).
    Verify,
}

/// The facts one target type read for one environment, and the reads that failed.
pub type Read = (Facts, Vec<AwsError>);

/// One target type.
pub trait TargetType: Sync {
    /// The hop it adds after the target role.
    fn hop(&self) -> Hop;

    /// Whether environment `t` lists targets of this type.
    fn listed(&self, t: &Target) -> bool;

    /// Its variables of the target role's policy template: the resources its statements name.
    fn vars(&self, t: &Target, found: &Discovered, vars: &mut BTreeMap<&'static str, Var>);

    /// Its hop's asks, made by the session of `caller` (the target role, or the IoT role in direct
    /// mode; `device`: the keys a device's session carries): one per listed resource.
    fn asks(
        &self,
        cfg: &Config,
        t: &Target,
        caller: &str,
        device: Option<crate::policy::context::IotDevice>,
    ) -> Vec<crate::chain::Ask>;

    /// The facts the proof of its hop needs, read with the environment account's clients.
    fn facts<'a>(
        &'a self,
        cfg: &'a Config,
        t: &'a Target,
        c: &'a Clients,
        accts: &'a Accounts,
    ) -> BoxFuture<'a, Read>;

    /// The proof of its hop from the facts, ask by ask (`asks`: its request's, as `asks` made them).
    fn prove(&self, cfg: &Config, t: &Target, f: &Facts, asks: &[crate::chain::Ask]) -> StepResult;

    /// The permissions its reads with the operator's credentials need in environment `t`'s account,
    /// for `phase` (`xacct permissions`).
    fn calls(&self, cfg: &Config, t: &Target, phase: Phase) -> Vec<Call>;

    /// Its hop, performed live (and the functions' answers, for the report).
    fn perform<'a, 'p: 'a>(
        &'a self,
        r: &'a Reach<'a, 'p>,
    ) -> BoxFuture<'a, (HopOutcome, Vec<Invocation>)>;
}

/// The target types, in the order of their hops.
pub static TYPES: [&dyn TargetType; 3] = [&functions::Functions, &apis::Apis, &objects::Objects];

/// The target types environment `t` lists, in the order of their hops.
pub fn listed(t: &Target) -> impl Iterator<Item = &'static dyn TargetType> + '_ {
    TYPES.iter().copied().filter(move |ty| ty.listed(t))
}

/// Read keyed facts one by one into `into`, keeping every error.
pub(crate) fn gather<K: Ord, V>(
    into: &mut BTreeMap<K, V>,
    results: impl IntoIterator<Item = (K, Result<V, AwsError>)>,
    errors: &mut Vec<AwsError>,
) {
    for (k, r) in results {
        match r {
            Ok(v) => {
                into.insert(k, v);
            }
            Err(e) => errors.push(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        crate::config::parse(
            Path::new("t.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\"}\nenvironments:\n  a:\n    account: \"222222222222\"\n    functions: [x]\n    apis: [\"abc123/prod/GET/orders\"]\n    objects: [\"arn:aws:s3:::logs/AWSLogs/*\"]\n  b: {account: \"333333333333\", functions: [y]}\n",
        )
        .unwrap()
    }

    /// The registry gives each target type its own hop, in the order of the hops, and the chain's
    /// hops after the target role are the registry's for what an environment lists.
    #[test]
    fn the_registry_orders_the_hops_after_the_target_role() {
        let hops: Vec<Hop> = TYPES.iter().map(|t| t.hop()).collect();
        assert!(hops.windows(2).all(|w| w[0] < w[1]), "{hops:?}");
        assert!(hops.iter().all(|h| *h > Hop::AssumeRole));
        let c = cfg();
        let a = &c.environments[0];
        assert_eq!(
            crate::chain::target_hops(a),
            [Hop::Invoke, Hop::CallApi, Hop::GetObject]
        );
        assert_eq!(crate::chain::target_hops(&c.environments[1]), [Hop::Invoke]);
    }

    /// Every variable a target type sets is one the target role's policy template uses, and the
    /// rendered policy names each listed resource.
    #[test]
    fn each_type_fills_the_target_policy_template() {
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/target-role-permissions.json"),
        )
        .unwrap();
        let c = cfg();
        let a = &c.environments[0];
        for ty in TYPES {
            let mut vars = BTreeMap::new();
            ty.vars(a, &Discovered::default(), &mut vars);
            assert!(!vars.is_empty(), "{:?}", ty.hop());
            for k in vars.keys() {
                assert!(template.contains(&format!("${{{k}}}")), "{k}");
            }
        }
        let policy = crate::desired::desired(&c)
            .into_iter()
            .find(|r| r.addr.name.starts_with("f-a/"))
            .map(|r| serde_json::to_string(&r.spec).unwrap())
            .unwrap();
        for want in [
            "function:x",
            "execute-api:eu-west-1:222222222222:abc123/prod/GET/orders",
            "arn:aws:s3:::logs/AWSLogs/*",
        ] {
            assert!(policy.contains(want), "{want} in {policy}");
        }
    }
}
