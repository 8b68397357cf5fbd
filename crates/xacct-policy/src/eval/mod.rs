//! Offline IAM / IoT policy evaluation engine.
//!
//! Decides whether a request (principal, action, resource, request context) is allowed by a set
//! of identity-based policies and an optional resource-based policy (for IAM roles: the trust
//! policy), following the evaluation logic documented in the IAM User Guide:
//!
//! * "Policy evaluation logic" / "How AWS enforcement code logic evaluates requests to allow or
//!   deny access" (reference_policies_evaluation-logic_policy-eval-denyallow): an explicit deny in
//!   any policy overrides any allow; without an allow the request is implicitly denied; the
//!   account root user has full access unless explicitly denied.
//! * "Policy evaluation for requests within a single account"
//!   (reference_policies_evaluation-logic_policy-eval-basics): within one account an allow in
//!   either the identity-based or the resource-based policy suffices; role trust policies are an
//!   exception and must always allow the caller.
//! * "Cross-account policy evaluation logic" (reference_policies_evaluation-logic-cross-account):
//!   across accounts both the identity-based policy and the resource-based policy must allow.
//! * "IAM JSON policy elements: Condition operators"
//!   (reference_policies_elements_condition_operators): "If the key that you specify in a policy
//!   condition is not present in the request context, the values do not match and the condition
//!   is false. If the policy condition requires that the key is not matched, such as
//!   StringNotLike or ArnNotLike, and the right key is not present, the condition is true. This
//!   logic applies to all condition operators except ...IfExists and Null check."
//! * "Conditions with multiple context keys or values"
//!   (reference_policies_condition-logic-multiple-context-keys-or-values): operators and keys are
//!   ANDed, values of one key are ORed, values of a negated operator are NORed.
//! * "Single-valued vs. multivalued context keys": `ForAllValues` is true when the key is
//!   missing or empty, `ForAnyValue` is false when the key is missing.
//! * "IAM policy elements: Variables and tags" (reference_policies_variables): variables only
//!   with `"Version": "2012-10-17"`, special variables `${*}`, `${?}`, `${$}`, default values
//!   `${key, 'default'}`, and "Policy variables with no value": a Resource containing a variable
//!   with no value matches no resource, positive operators (StringEquals, StringLike) do not match
//!   such a value while inverted operators (StringNotEquals, StringNotLike) do.
//! * "AWS JSON policy elements: Principal" and "NotPrincipal".
//!
//! Choices made where the documentation is silent are marked `DECISION:` below.

mod conditions;
mod decision;
mod document;
pub mod matching;
mod principals;

pub use decision::*;
pub use document::*;

use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Public request / result types
// ---------------------------------------------------------------------------------------------

/// One authorization request together with the policies that apply to it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Case {
    /// ARN of the caller (role, assumed-role session, user, root, federated user) or a service
    /// principal such as `credentials.iot.amazonaws.com`.
    pub principal: String,
    /// The action, e.g. `sts:AssumeRole`.
    pub action: String,
    /// ARN of the resource.
    pub resource: String,
    /// Identity-based policies attached to the caller (objects or JSON strings).
    #[serde(default)]
    pub identity_policies: Vec<Value>,
    /// Resource-based policy of the resource (for an IAM role: its trust policy).
    #[serde(default)]
    pub resource_policy: Option<Value>,
    /// Request context: key -> string | number | bool | list of those.
    #[serde(default)]
    pub context: Map<String, Value>,
    /// The permissions boundary of the caller's role or user, if it has one: nothing outside it is
    /// allowed, whatever the identity policies or a resource policy naming the role allow.
    #[serde(default)]
    pub permissions_boundary: Option<Value>,
    /// The service control policies that limit the caller, by level: the root first, each OU, the
    /// account last. Empty when none apply — no organization, or a principal SCPs do not limit (a
    /// principal of the management account, a service-linked role): the caller leaves them out.
    /// AWS service principals are never limited by SCPs.
    #[serde(default)]
    pub service_control_policies: Vec<Vec<OrgPolicy>>,
    /// The resource control policies of the resource's account, by level (root first, the account
    /// last). Empty when none apply (a resource of the management account, an AWS managed key).
    /// They apply only to the services AWS lists for RCPs (`rcp_service`), to every caller.
    #[serde(default)]
    pub resource_control_policies: Vec<Vec<OrgPolicy>>,
}

/// A service or resource control policy, and where it is attached.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrgPolicy {
    pub name: String,
    pub policy: Value,
    /// Its id (`p-…`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The root, OU or account it is attached to (`r-…`, `ou-…`, an account id), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Which organization layer an organization policy belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgLayer {
    Scp,
    Rcp,
}

/// An organization policy that decided (denied, or at whose level nothing allowed), as the case
/// gave it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrgDecider {
    pub layer: OrgLayer,
    /// Its level (0: the root).
    pub level: usize,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Final decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// Decision plus the statements that produced it (see [`evaluate`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    pub decision: Decision,
    pub statements: Vec<String>,
    /// The organization policies that decided a denial (their statements are labelled
    /// `scp[LEVEL].NAME.SID` / `rcp[LEVEL].NAME.SID`; a level where nothing allows, `scp[LEVEL]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organization: Vec<OrgDecider>,
}

/// A malformed policy document, case or batch.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The document is a string that does not hold JSON.
    #[error("{policy}: document is not valid JSON: {detail}")]
    NotJson { policy: String, detail: String },
    /// The document is JSON but its top level is wrong.
    #[error("{policy}: {detail}")]
    Document { policy: String, detail: String },
    /// One statement of the document is wrong.
    #[error("{policy}: statement {statement}: {field}: {detail}")]
    Statement {
        policy: String,
        statement: String,
        field: String,
        detail: String,
    },
    /// A request-context value has an unsupported type.
    #[error("context key {key:?}: {detail}")]
    Context { key: String, detail: String },
    /// A batch element is not a valid case.
    #[error("malformed case: {detail}")]
    Case { detail: String },
    /// The batch input is not a JSON array.
    #[error("batch input must be a JSON array of cases: {detail}")]
    Batch { detail: String },
}

#[cfg(test)]
mod tests {
    use super::conditions::{base64_decode, parse_date};
    use super::document::percent_decode;
    use super::matching::glob;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400.0));
        assert_eq!(parse_date("1970-01-01T09:00:00+09:00"), Some(0.0));
        assert_eq!(parse_date("86400"), Some(86_400.0));
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800.0));
        assert_eq!(
            parse_date("20240131T120000Z"),
            parse_date("2024-01-31T12:00:00Z")
        );
        assert_eq!(
            parse_date("2024-01-31T12:00"),
            parse_date("2024-01-31T12:00:00+00:00")
        );
        assert_eq!(parse_date("2024-01-31T12:00:00X"), None);
        assert_eq!(parse_date("1969-12-31T23:59:59Z"), Some(-1.0));
        assert_eq!(
            parse_date("2024-03-01T00:00:00Z").unwrap() - parse_date("2024-02-28").unwrap(),
            2.0 * 86_400.0
        );
    }

    #[test]
    fn globbing() {
        assert!(glob("s3:Get*", "S3:GETOBJECT", true));
        assert!(!glob("s3:Get*", "s3:PutObject", true));
        assert!(glob("a?c", "abc", false));
        assert!(glob(
            "*:function:ingest*",
            "arn:aws:lambda:r:1:function:ingest:live",
            false
        ));
        assert!(!glob("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket", false));
    }

    #[test]
    fn base64_and_percent() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert!(base64_decode("a$b").is_none());
        assert_eq!(percent_decode("%7B%22a%22%3A1%7D").unwrap(), "{\"a\":1}");
        assert_eq!(percent_decode("100%").unwrap(), "100%");
    }
}
