//! The resources xacct manages, as values shared by the desired state, the live model, the plan and
//! the proof: addresses, specs, the table of kinds (`kind`) and the live model (`live`).

pub mod kind;
pub mod live;

pub use kind::{Kind, Lane, Ownership, KINDS};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Where a resource lives and what it is called. `env` is None for IoT-account resources.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    pub account: String,
    pub env: Option<String>,
    pub kind: Kind,
    /// Role name; `role/policy` for inline role policies; alias; policy; `policy/certificate-id`.
    pub name: String,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.env {
            Some(e) => write!(
                f,
                "{}.{} ({}, env {})",
                self.kind.as_str(),
                self.name,
                self.account,
                e
            ),
            None => write!(f, "{}.{} ({})", self.kind.as_str(), self.name, self.account),
        }
    }
}

/// The attributes of a resource that xacct manages (desired or live).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Spec {
    IamRole {
        role_name: String,
        path: String,
        assume_role_policy: Value,
        max_session_duration: i32,
        tags: BTreeMap<String, String>,
    },
    IamRolePolicy {
        role_name: String,
        policy_name: String,
        policy: Value,
    },
    IotRoleAlias {
        role_alias: String,
        role_arn: String,
        credential_duration: i32,
    },
    IotPolicy {
        policy_name: String,
        policy: Value,
    },
    IotPolicyAttachment {
        policy_name: String,
        certificate_id: String,
        target: String,
    },
    /// xacct's inline policy on an existing workload role it does not own.
    SourceRolePolicy {
        role_name: String,
        policy_name: String,
        policy: Value,
    },
    /// xacct's statement in a Lambda function's resource policy (direct mode): `principal` may
    /// `lambda:InvokeFunction` the function. The rest of the function's policy is not xacct's.
    LambdaPermission {
        /// The unqualified function ARN.
        function: String,
        statement_id: String,
        /// The exact IoT role ARN.
        principal: String,
    },
}

impl Spec {
    /// The attributes shown as `before`/`after` (documents normalized).
    pub fn attrs(&self) -> Value {
        match self {
            Spec::IamRole {
                role_name,
                path,
                assume_role_policy,
                max_session_duration,
                tags,
            } => json!({
                "role_name": role_name, "path": path, "max_session_duration": max_session_duration,
                "tags": tags, "assume_role_policy": crate::policy::normalize(assume_role_policy)}),
            Spec::IamRolePolicy {
                role_name,
                policy_name,
                policy,
            }
            | Spec::SourceRolePolicy {
                role_name,
                policy_name,
                policy,
            } => json!({
                "role_name": role_name, "policy_name": policy_name, "policy": crate::policy::normalize(policy)}),
            Spec::IotRoleAlias {
                role_alias,
                role_arn,
                credential_duration,
            } => json!({
                "role_alias": role_alias, "role_arn": role_arn, "credential_duration": credential_duration}),
            Spec::IotPolicy {
                policy_name,
                policy,
            } => json!({
                "policy_name": policy_name, "policy": crate::policy::normalize(policy)}),
            Spec::IotPolicyAttachment {
                policy_name,
                certificate_id,
                target,
            } => json!({
                "policy_name": policy_name, "certificate_id": certificate_id, "target": target}),
            Spec::LambdaPermission {
                function,
                statement_id,
                principal,
            } => json!({
                "function": function, "statement_id": statement_id, "principal": principal,
                "action": "lambda:InvokeFunction"}),
        }
    }

    /// The kind of resource this spec describes.
    pub fn kind(&self) -> Kind {
        match self {
            Spec::IamRole { .. } => Kind::IamRole,
            Spec::IamRolePolicy { .. } => Kind::IamRolePolicy,
            Spec::IotRoleAlias { .. } => Kind::IotRoleAlias,
            Spec::IotPolicy { .. } => Kind::IotPolicy,
            Spec::IotPolicyAttachment { .. } => Kind::IotPolicyAttachment,
            Spec::SourceRolePolicy { .. } => Kind::SourceRolePolicy,
            Spec::LambdaPermission { .. } => Kind::LambdaPermission,
        }
    }

    /// The name of this resource in its address (role; `role/policy`; alias; policy; `policy/cert`).
    pub fn addr_name(&self) -> String {
        match self {
            Spec::IamRole { role_name, .. } => role_name.clone(),
            Spec::IamRolePolicy {
                role_name,
                policy_name,
                ..
            }
            | Spec::SourceRolePolicy {
                role_name,
                policy_name,
                ..
            } => format!("{role_name}/{policy_name}"),
            Spec::IotRoleAlias { role_alias, .. } => role_alias.clone(),
            Spec::IotPolicy { policy_name, .. } => policy_name.clone(),
            Spec::IotPolicyAttachment {
                policy_name,
                certificate_id,
                ..
            } => format!("{policy_name}/{certificate_id}"),
            Spec::LambdaPermission {
                function,
                statement_id,
                ..
            } => format!(
                "{}/{statement_id}",
                function.rsplit(':').next().unwrap_or(function)
            ),
        }
    }

    /// The policy document this resource carries, if any (for diffs).
    pub fn document(&self) -> Option<&Value> {
        match self {
            Spec::IamRole {
                assume_role_policy, ..
            } => Some(assume_role_policy),
            Spec::IamRolePolicy { policy, .. }
            | Spec::IotPolicy { policy, .. }
            | Spec::SourceRolePolicy { policy, .. } => Some(policy),
            _ => None,
        }
    }
}

/// A desired resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Resource {
    pub addr: Addr,
    pub spec: Spec,
}

/// What the live read found for one resource address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Live {
    pub spec: Spec,
    /// The resource's ARN where AWS reports one.
    pub arn: Option<String>,
}
