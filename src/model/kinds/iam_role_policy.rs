//! `iam_role_policy`: an inline policy on a role xacct owns (the IoT role's `xacct-assume-targets`,
//! a target role's permissions). Owned when its role is; created with the role when the role is
//! created or replaced.

use super::{
    absent, doc, gone, role_addr, Diff, Found, IamRole, Managed, Owners, Spec, Step, Writing,
};
use crate::aws::{AwsError, Clients};
use crate::aws::{Call, Use};
use crate::config::Config;
use crate::model::{Addr, Kind};
use crate::policy;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IamRolePolicy {
    pub role_name: String,
    pub policy_name: String,
    pub policy: Value,
}

impl Managed for IamRolePolicy {
    const KIND: Kind = Kind::IamRolePolicy;

    fn of(s: &Spec) -> Option<&Self> {
        if let Spec::IamRolePolicy(x) = s {
            Some(x)
        } else {
            None
        }
    }

    fn addr_name(&self) -> String {
        format!("{}/{}", self.role_name, self.policy_name)
    }

    fn attrs(&self) -> Value {
        json!({"role_name": self.role_name, "policy_name": self.policy_name,
            "policy": policy::normalize(&self.policy)})
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

    fn owned(&self, o: &Owners, addr: &Addr) -> bool {
        o.live_at(&role_addr(addr, &self.role_name))
            .is_some_and(|(a, l)| IamRole::of(&l.spec).is_some_and(|r| r.owned(o, a)))
    }

    fn plan(&self, live: &Self, addr: &Addr, d: &Diff) -> Step {
        let role = role_addr(addr, &self.role_name);
        if d.fresh.contains(&role) {
            // the role is created or replaced: its inline policy goes with it
            Step::Create
        } else if self.differs(live) {
            Step::Update(if d.adopted.contains(&role) {
                vec!["part of adopting the role".to_string()]
            } else {
                vec![]
            })
        } else {
            Step::Keep
        }
    }

    fn leftover(&self, addr: &Addr, d: &Diff) -> Option<String> {
        self.owned(&d.owners, addr).then(|| d.layout_note())
    }

    fn calls(&self, cfg: &Config, account: &str, u: Use) -> Vec<Call> {
        inline_calls(cfg, account, &self.role_name, u)
    }

    async fn read(&self, c: &Clients) -> Result<Option<Found>, AwsError> {
        Ok(read(c, &self.role_name, &self.policy_name)
            .await?
            .map(|policy| {
                Found::new(
                    Spec::IamRolePolicy(IamRolePolicy {
                        role_name: self.role_name.clone(),
                        policy_name: self.policy_name.clone(),
                        policy,
                    }),
                    None,
                )
            }))
    }

    async fn create(&self, c: &Clients, _: &Writing) -> Result<(), AwsError> {
        self.update(c).await
    }

    async fn update(&self, c: &Clients) -> Result<(), AwsError> {
        put(c, &self.role_name, &self.policy_name, &self.policy).await
    }

    async fn delete(&self, c: &Clients) -> Result<(), AwsError> {
        remove(c, &self.role_name, &self.policy_name).await
    }
}

/// The permissions of xacct's calls on an inline policy of role `role`.
pub fn inline_calls(cfg: &Config, account: &str, role: &str, u: Use) -> Vec<Call> {
    inline_calls_on(&super::role_arn(cfg, account, role), u)
}

/// The permissions of xacct's calls on an inline policy of the role `role_arn`.
pub fn inline_calls_on(role_arn: &str, u: Use) -> Vec<Call> {
    Call::each(
        match u {
            Use::Read => &["iam:GetRolePolicy"],
            Use::Write => &["iam:PutRolePolicy"],
            Use::Delete => &["iam:DeleteRolePolicy"],
        },
        role_arn,
    )
}

/// An inline role policy's document, normalized (None: absent).
pub async fn read(c: &Clients, role: &str, name: &str) -> Result<Option<Value>, AwsError> {
    let _slot = c.slot().await?;
    let res = format!("{role}/{name}");
    match c
        .iam()
        .get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
    {
        Ok(out) => {
            let doc = policy::parse_document(out.policy_document())
                .map_err(|m| c.unreadable("iam:GetRolePolicy", &res, m))?;
            Ok(Some(policy::normalize(&doc)))
        }
        Err(e) => absent(c.err("iam:GetRolePolicy", &res, e)),
    }
}

/// Write an inline role policy.
pub async fn put(c: &Clients, role: &str, name: &str, policy: &Value) -> Result<(), AwsError> {
    let _slot = c.slot().await?;
    c.iam()
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(doc(policy))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| c.err("iam:PutRolePolicy", &format!("{role}/{name}"), e))
}

/// Delete an inline role policy (absent already is done).
pub async fn remove(c: &Clients, role: &str, name: &str) -> Result<(), AwsError> {
    let _slot = c.slot().await?;
    match c
        .iam()
        .delete_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => gone(c.err("iam:DeleteRolePolicy", &format!("{role}/{name}"), e)),
    }
}
