//! `iot_policy`: the IoT policy that lets a certificate assume the role alias. Owned once the fleet
//! is established in the IoT account, or when it grants nothing but `iot:AssumeRoleWithCertificate`
//! on the fleet's aliases. IoT keeps at most five versions of a policy: an update prunes the oldest.

use super::{absent, doc, gone, Found, Managed, Owners, Spec, Writing};
use crate::aws::{AwsError, Clients};
use crate::aws::{Call, Use};
use crate::config::Config;
use crate::model::{Addr, Kind};
use crate::policy;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IotPolicy {
    pub policy_name: String,
    pub policy: Value,
}

/// An IoT policy is the fleet's when it grants nothing but `iot:AssumeRoleWithCertificate` on the
/// fleet's role aliases (`aliases`).
pub fn iot_policy_owned(aliases: &[String], doc: &Value) -> bool {
    let Ok(p) = policy::parse(doc) else {
        return false;
    };
    p.statements.iter().all(|s| {
        s.effect == policy::eval::Effect::Deny
            || (!s.action.negated
                && s.action
                    .values
                    .iter()
                    .all(|a| a.eq_ignore_ascii_case("iot:AssumeRoleWithCertificate"))
                && s.resource
                    .as_ref()
                    .is_some_and(|r| !r.negated && r.values.iter().all(|x| aliases.contains(x))))
    })
}

impl Managed for IotPolicy {
    const KIND: Kind = Kind::IotPolicy;

    fn of(s: &Spec) -> Option<&Self> {
        if let Spec::IotPolicy(x) = s {
            Some(x)
        } else {
            None
        }
    }

    fn addr_name(&self) -> String {
        self.policy_name.clone()
    }

    fn attrs(&self) -> Value {
        json!({"policy_name": self.policy_name, "policy": policy::normalize(&self.policy)})
    }

    fn document(&self) -> Option<&Value> {
        Some(&self.policy)
    }

    fn differs(&self, live: &Self) -> bool {
        !policy::same(&self.policy, &live.policy)
    }

    fn broadens(&self, before: Option<&Self>) -> Vec<String> {
        before.map_or(vec![], |b| policy::broadening(&b.policy, &self.policy))
    }

    fn owned(&self, o: &Owners, _: &Addr) -> bool {
        o.established || iot_policy_owned(&super::fleet_iot_arns(o.cfg).1, &self.policy)
    }

    fn conflict(&self, _: &Owners) -> String {
        "conflict: policy grants more than iot:AssumeRoleWithCertificate on the fleet's role aliases; xacct does not own it".to_string()
    }

    fn leftover(&self, addr: &Addr, d: &super::Diff) -> Option<String> {
        self.owned(&d.owners, addr).then(|| d.layout_note())
    }

    fn calls(&self, cfg: &Config, account: &str, u: Use) -> Vec<Call> {
        let arn = super::iot_arn(cfg, account, &format!("policy/{}", self.policy_name));
        Call::each(
            match u {
                Use::Read => &["iot:GetPolicy", "iot:ListTargetsForPolicy"],
                Use::Write => &[
                    "iot:GetPolicy",
                    "iot:CreatePolicy",
                    "iot:ListPolicyVersions",
                    "iot:DeletePolicyVersion",
                    "iot:CreatePolicyVersion",
                ],
                Use::Delete => &[
                    "iot:ListPolicyVersions",
                    "iot:DeletePolicyVersion",
                    "iot:DeletePolicy",
                ],
            },
            &arn,
        )
    }

    async fn read(&self, c: &Clients) -> Result<Option<Found>, AwsError> {
        read(c, &self.policy_name).await
    }

    async fn create(&self, c: &Clients, w: &Writing) -> Result<(), AwsError> {
        let r = {
            let _slot = c.slot().await?;
            c.iot()
                .create_policy()
                .policy_name(&self.policy_name)
                .policy_document(doc(&self.policy))
                .send()
                .await
                .map_err(|e| c.err("iot:CreatePolicy", &self.policy_name, e))
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.already_exists() => {
                let owner = read(c, &self.policy_name).await?.and_then(|f| {
                    let l = IotPolicy::of(&f.live.spec)?;
                    (!iot_policy_owned(&w.fleet_aliases, &l.policy)).then(|| {
                        "it grants more than iot:AssumeRoleWithCertificate on the fleet's role aliases"
                            .to_string()
                    })
                });
                w.may_take(c, "iot:CreatePolicy", &self.policy_name, owner)?;
                self.update(c).await
            }
            Err(e) => Err(e),
        }
    }

    async fn update(&self, c: &Clients) -> Result<(), AwsError> {
        let _slot = c.slot().await?;
        let name = &self.policy_name;
        // Idempotent: an interrupted or concurrent apply may already have written this document.
        if let Ok(cur) = c.iot().get_policy().policy_name(name).send().await {
            let same = cur
                .policy_document()
                .and_then(|d| policy::parse_document(d).ok())
                .is_some_and(|d| policy::same(&d, &self.policy));
            if same {
                return Ok(());
            }
        }
        // IoT keeps at most 5 versions: prune the oldest non-default one first.
        // (ListPolicyVersions is not paginated: one response holds every version.)
        let versions = c
            .iot()
            .list_policy_versions()
            .policy_name(name)
            .send()
            .await
            .map_err(|e| c.err("iot:ListPolicyVersions", name, e))?;
        let mut old: Vec<_> = versions
            .policy_versions()
            .iter()
            .filter(|v| !v.is_default_version())
            .collect();
        if versions.policy_versions().len() >= 5 {
            old.sort_by_key(|v| {
                (
                    v.create_date().map(|d| d.as_nanos()).unwrap_or(0),
                    v.version_id()
                        .and_then(|i| i.parse::<u64>().ok())
                        .unwrap_or(0),
                )
            });
            if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
                c.iot()
                    .delete_policy_version()
                    .policy_name(name)
                    .policy_version_id(oldest)
                    .send()
                    .await
                    .map_err(|e| {
                        c.err(
                            "iot:DeletePolicyVersion",
                            &format!("{name} version {oldest}"),
                            e,
                        )
                    })?;
            }
        }
        c.iot()
            .create_policy_version()
            .policy_name(name)
            .policy_document(doc(&self.policy))
            .set_as_default(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| c.err("iot:CreatePolicyVersion", name, e))
    }

    async fn delete(&self, c: &Clients) -> Result<(), AwsError> {
        let _slot = c.slot().await?;
        let name = &self.policy_name;
        let versions = match c
            .iot()
            .list_policy_versions()
            .policy_name(name)
            .send()
            .await
        {
            Ok(v) => v,
            Err(e) => return gone(c.err("iot:ListPolicyVersions", name, e)),
        };
        for v in versions
            .policy_versions()
            .iter()
            .filter(|v| !v.is_default_version())
        {
            if let Some(id) = v.version_id() {
                if let Err(e) = c
                    .iot()
                    .delete_policy_version()
                    .policy_name(name)
                    .policy_version_id(id)
                    .send()
                    .await
                {
                    gone(c.err(
                        "iot:DeletePolicyVersion",
                        &format!("{name} version {id}"),
                        e,
                    ))?;
                }
            }
        }
        match c.iot().delete_policy().policy_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) => gone(c.err("iot:DeletePolicy", name, e)),
        }
    }
}

/// The IoT policy named `name`, its document normalized (None: absent).
pub async fn read(c: &Clients, name: &str) -> Result<Option<Found>, AwsError> {
    let _slot = c.slot().await?;
    match c.iot().get_policy().policy_name(name).send().await {
        Ok(out) => {
            let doc = policy::parse_document(out.policy_document().unwrap_or("{}"))
                .map_err(|m| c.unreadable("iot:GetPolicy", name, m))?;
            Ok(Some(Found::new(
                Spec::IotPolicy(IotPolicy {
                    policy_name: name.into(),
                    policy: policy::normalize(&doc),
                }),
                out.policy_arn().map(String::from),
            )))
        }
        Err(e) => absent(c.err("iot:GetPolicy", name, e)),
    }
}
