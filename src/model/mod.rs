//! The resources xacct manages, as values shared by the desired state, the live model, the plan and
//! the proof: addresses, the table of kinds (`kind`), each kind's spec and behaviour (`kinds`, one
//! file each) and the live model (`live`).

pub mod kind;
pub mod kinds;
pub mod live;

pub use kind::{Kind, Lane, KINDS};
pub use kinds::{
    IamRole, IamRolePolicy, IotPolicy, IotPolicyAttachment, IotRoleAlias, LambdaPermission,
    Managed, SourceRolePolicy, Spec,
};

use serde::{Deserialize, Serialize};
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
