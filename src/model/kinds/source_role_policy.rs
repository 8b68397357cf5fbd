//! `source_role_policy`: xacct's one inline policy on an existing workload role it does not own
//! (`xacct-<fleet>-assume-targets`). Owned by its name, which is in xacct's namespace and per fleet.

use super::{iam_role_policy, Found, Managed, Owners, Spec, Writing};
use crate::aws::{AwsError, Clients};
use crate::aws::{Call, Use};
use crate::config::Config;
use crate::model::{Addr, Kind};
use crate::policy;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceRolePolicy {
    pub role_name: String,
    pub policy_name: String,
    pub policy: Value,
}

impl Managed for SourceRolePolicy {
    const KIND: Kind = Kind::SourceRolePolicy;

    fn of(s: &Spec) -> Option<&Self> {
        if let Spec::SourceRolePolicy(x) = s {
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

    fn owned(&self, _: &Owners, _: &Addr) -> bool {
        true
    }

    fn calls(&self, cfg: &Config, _: &str, u: Use) -> Vec<Call> {
        // the workload's role keeps its own path (often /service-role/): its ARN is the file's
        let arn = cfg.source_role().map(|s| s.arn.clone()).unwrap_or_default();
        iam_role_policy::inline_calls_on(&arn, u)
    }

    async fn read(&self, c: &Clients) -> Result<Option<Found>, AwsError> {
        Ok(iam_role_policy::read(c, &self.role_name, &self.policy_name)
            .await?
            .map(|policy| {
                Found::new(
                    Spec::SourceRolePolicy(SourceRolePolicy {
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
        iam_role_policy::put(c, &self.role_name, &self.policy_name, &self.policy).await
    }

    async fn delete(&self, c: &Clients) -> Result<(), AwsError> {
        iam_role_policy::remove(c, &self.role_name, &self.policy_name).await
    }
}
