//! `iot_policy_attachment`: the fleet's IoT policy attached to a certificate (or, gated, to a thing
//! group). Owned when the IoT policy it attaches is; nothing to update in place.

use super::{gone, Diff, Found, IotPolicy, Managed, Owners, Spec, Step, Writing};
use crate::aws::{AwsError, Clients};
use crate::aws::{Call, Use};
use crate::config::Config;
use crate::model::{Addr, Kind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IotPolicyAttachment {
    pub policy_name: String,
    /// The certificate id, or `thinggroup/<name>`.
    pub certificate_id: String,
    /// The ARN the policy is attached to.
    pub target: String,
}

impl Managed for IotPolicyAttachment {
    const KIND: Kind = Kind::IotPolicyAttachment;

    fn of(s: &Spec) -> Option<&Self> {
        if let Spec::IotPolicyAttachment(x) = s {
            Some(x)
        } else {
            None
        }
    }

    fn addr_name(&self) -> String {
        format!("{}/{}", self.policy_name, self.certificate_id)
    }

    fn attrs(&self) -> Value {
        json!({"policy_name": self.policy_name, "certificate_id": self.certificate_id,
            "target": self.target})
    }

    fn differs(&self, _: &Self) -> bool {
        false
    }

    fn broadens(&self, before: Option<&Self>) -> Vec<String> {
        if before.is_some() {
            return vec![];
        }
        match self.certificate_id.strip_prefix("thinggroup/") {
            Some(g) => vec![format!(
                "the things of thing group {g} (and of its child groups) gain the fleet's IoT policy"
            )],
            None => vec![format!(
                "certificate {} gains the fleet's IoT policy",
                self.certificate_id
            )],
        }
    }

    fn owned(&self, o: &Owners, _: &Addr) -> bool {
        o.snap
            .live
            .iter()
            .find(|(a, _)| a.kind == Kind::IotPolicy && a.name == self.policy_name)
            .is_some_and(|(a, l)| IotPolicy::of(&l.spec).is_some_and(|p| p.owned(o, a)))
    }

    fn plan(&self, _: &Self, _: &Addr, _: &Diff) -> Step {
        Step::Keep
    }

    fn leftover(&self, addr: &Addr, d: &Diff) -> Option<String> {
        // not while the policy itself is not ours (its attachments are not ours either)
        let policy_adopted = d.adopted.iter().any(|a| a.kind == Kind::IotPolicy);
        (!policy_adopted && self.owned(&d.owners, addr)).then(|| {
            if self.certificate_id.starts_with("thinggroup/") {
                "the thing group no longer gates an environment of this policy"
            } else {
                "certificate is no longer listed in iot.certificates"
            }
            .to_string()
        })
    }

    fn calls(&self, cfg: &Config, account: &str, u: Use) -> Vec<Call> {
        let policy = super::iot_arn(cfg, account, &format!("policy/{}", self.policy_name));
        match u {
            Use::Read => Call::each(&["iot:ListTargetsForPolicy"], &policy),
            Use::Write => Call::each(&["iot:AttachPolicy"], &self.target),
            Use::Delete => Call::each(&["iot:DetachPolicy"], &self.target),
        }
    }

    async fn read(&self, c: &Clients) -> Result<Option<Found>, AwsError> {
        let found = targets(c, &self.policy_name)
            .await?
            .iter()
            .any(|t| t == &self.target);
        Ok(found.then(|| Found::new(Spec::IotPolicyAttachment(self.clone()), None)))
    }

    async fn create(&self, c: &Clients, _: &Writing) -> Result<(), AwsError> {
        self.update(c).await
    }

    async fn update(&self, c: &Clients) -> Result<(), AwsError> {
        let _slot = c.slot().await?;
        c.iot()
            .attach_policy()
            .policy_name(&self.policy_name)
            .target(&self.target)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                c.err(
                    "iot:AttachPolicy",
                    &format!("{} → {}", self.policy_name, self.target),
                    e,
                )
            })
    }

    async fn delete(&self, c: &Clients) -> Result<(), AwsError> {
        let _slot = c.slot().await?;
        match c
            .iot()
            .detach_policy()
            .policy_name(&self.policy_name)
            .target(&self.target)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => gone(c.err(
                "iot:DetachPolicy",
                &format!("{} → {}", self.policy_name, self.target),
                e,
            )),
        }
    }
}

/// The targets (certificate ARNs, thing groups and others) the IoT policy `name` is attached to.
pub async fn targets(c: &Clients, name: &str) -> Result<Vec<String>, AwsError> {
    let _slot = c.slot().await?;
    let r = c
        .iot()
        .list_targets_for_policy()
        .policy_name(name)
        .page_size(250)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    match r {
        Ok(ts) => Ok(ts),
        Err(e) => gone(c.err("iot:ListTargetsForPolicy", name, e)).map(|_| vec![]),
    }
}
