//! A hop's request as data: who calls, which action on which resource, which documents decide it,
//! and the request context AWS sets for it. `Chain::requests` compiles them once per environment;
//! `check` proves each ask of a request from the documents it names (and reports the request in its
//! `--json`, `request` on each hop), `verify` performs the same hops live. What only the live
//! accounts can say (a bucket's KMS key, the organization's keys, a session's id) is added by the
//! proof from the facts it reads, never guessed here.

use super::hop::{Hop, Part};
use serde::Serialize;
use serde_json::{Map, Value};

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Caller {
    /// A device, by its X.509 certificate over mutual TLS (the credentials provider's check).
    Certificate,
    /// An AWS service principal (the credentials provider assuming the IoT role).
    Service(String),
    /// A session of a role (its ARN).
    Role(String),
}

/// The kind of a resource-based policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourcePolicy {
    /// A role's trust policy.
    Trust,
    /// A Lambda function's resource policy.
    Function,
    /// A REST API's resource policy.
    Api,
    /// An S3 bucket policy.
    Bucket,
    /// A KMS key policy.
    Key,
}

/// A document (or set of documents) that decides a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Decider {
    /// The IoT policies attached to the certificate (or to its thing's groups).
    IotPolicies,
    /// The role alias: which role it names and for how long.
    RoleAlias { alias: String },
    /// The identity policies of a role (inline and attached).
    IdentityPolicies { role: String },
    /// A role's permissions boundary, when it has one.
    Boundary { role: String },
    /// A resource-based policy of some kind, on a resource.
    Resource { policy: ResourcePolicy, of: String },
    /// The service control policies over the caller's account (when it is a member account).
    Scps { account: String },
    /// The resource control policies over the resource's account, for the services they cover.
    Rcps { account: String },
}

/// One authorization a hop needs: an action on a resource, decided by some documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ask {
    /// The part of its hop this ask is proven as, when the hop has parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
    pub action: String,
    pub resource: String,
    pub decided_by: Vec<Decider>,
    /// The context keys AWS sets for the request that are known before anything is read.
    #[serde(skip)]
    pub context: Map<String, Value>,
}

/// A hop's request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    #[serde(skip)]
    pub hop: Hop,
    pub caller: Caller,
    pub asks: Vec<Ask>,
}

impl Request {
    /// The asks proven as part `p` (None: the hop's own).
    pub fn asks_of(&self, p: Option<Part>) -> impl Iterator<Item = &Ask> {
        self.asks.iter().filter(move |a| a.part == p)
    }
}

/// The entries of a file's list (`items`, each with its ARN) that the asks for `action` name, in the
/// asks' order: what a target type's proof walks.
pub fn listed<'a, T>(
    asks: &'a [Ask],
    action: &'a str,
    items: &'a [T],
    arn: impl Fn(&T) -> &str + 'a,
) -> impl Iterator<Item = &'a T> + 'a {
    asks.iter()
        .filter(move |a| a.action == action)
        .filter_map(move |a| items.iter().find(|x| arn(x) == a.resource))
}

pub(crate) fn account_of(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or_default().to_string()
}

/// A role session's request for `action` on `resource` whose resource-based policy is of kind
/// `policy` (None: identity policies alone decide), with the context keys a session of `role` sets
/// (`device`: the keys the credentials provider puts in a device's session).
pub fn role_ask(
    role: &str,
    device: Option<xacct_policy::context::IotDevice>,
    part: Option<Part>,
    action: &str,
    resource: &str,
    policy: Option<ResourcePolicy>,
) -> Ask {
    let caller_account = account_of(role);
    let mut decided_by = vec![
        Decider::IdentityPolicies { role: role.into() },
        Decider::Boundary { role: role.into() },
        Decider::Scps {
            account: caller_account.clone(),
        },
    ];
    if let Some(p) = policy {
        decided_by.push(Decider::Resource {
            policy: p,
            of: resource.into(),
        });
    }
    // RCPs cover STS, S3 and KMS among others, not Lambda, execute-api or IoT
    if crate::policy::eval::rcp_service(action) {
        let acct = account_of(resource);
        decided_by.push(Decider::Rcps {
            account: if acct.is_empty() {
                "the resource's".into()
            } else {
                acct
            },
        });
    }
    Ask {
        part,
        action: action.into(),
        resource: resource.into(),
        decided_by,
        context: xacct_policy::context::request_context(&xacct_policy::context::Session {
            role_arn: role,
            iot: device,
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_ask_names_each_layer_and_rcps_only_for_the_services_they_cover() {
        let role = "arn:aws:iam::111111111111:role/r";
        let a = role_ask(
            role,
            None,
            None,
            "sts:AssumeRole",
            "arn:aws:iam::222222222222:role/t",
            Some(ResourcePolicy::Trust),
        );
        assert!(a.decided_by.contains(&Decider::Rcps {
            account: "222222222222".into()
        }));
        assert!(a.decided_by.contains(&Decider::Scps {
            account: "111111111111".into()
        }));
        assert_eq!(a.context["aws:PrincipalArn"], role);
        let l = role_ask(
            role,
            None,
            None,
            "lambda:InvokeFunction",
            "arn:aws:lambda:eu-west-1:222222222222:function:f",
            Some(ResourcePolicy::Function),
        );
        assert!(!l
            .decided_by
            .iter()
            .any(|d| matches!(d, Decider::Rcps { .. })));
    }
}
