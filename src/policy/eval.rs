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

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

// ---------------------------------------------------------------------------------------------
// Public request / result types
// ---------------------------------------------------------------------------------------------

/// One authorization request together with the policies that apply to it.
#[derive(Debug, Clone, serde::Deserialize)]
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

// ---------------------------------------------------------------------------------------------
// Parsed policy representation
// ---------------------------------------------------------------------------------------------

/// Whether a document is an identity-based policy (no Principal) or a resource-based policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Identity,
    Resource,
}

/// A parsed and validated policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub kind: PolicyKind,
    /// `Version` element, if present (`2012-10-17` or `2008-10-17`).
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Policy variables are only substituted with `"Version": "2012-10-17"`.
    pub fn supports_variables(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Principal` / `NotPrincipal` content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalSet {
    /// `"*"`
    Everyone,
    /// `{"AWS": [...], "Service": [...], ...}`
    Map(Vec<(PrincipalType, Vec<String>)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

/// A list of patterns, possibly negated (`NotAction`, `NotResource`, `NotPrincipal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    pub negated: bool,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalElement {
    pub negated: bool,
    pub set: PrincipalSet,
}

#[derive(Debug, Clone)]
pub struct Statement {
    /// Position in the `Statement` list (0-based).
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<PrincipalElement>,
    pub action: Patterns,
    pub resource: Option<Patterns>,
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// `Sid` when present and non-empty, else the statement index.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(s) if !s.is_empty() => s.clone(),
            _ => self.index.to_string(),
        }
    }
}

/// Set qualifier of a condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    ForAllValues,
    ForAnyValue,
}

/// Condition operator without qualifier / IfExists suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseOp {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const BASE_OPS: &[(&str, BaseOp)] = &[
    ("StringEquals", BaseOp::StringEquals),
    ("StringNotEquals", BaseOp::StringNotEquals),
    ("StringEqualsIgnoreCase", BaseOp::StringEqualsIgnoreCase),
    (
        "StringNotEqualsIgnoreCase",
        BaseOp::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", BaseOp::StringLike),
    ("StringNotLike", BaseOp::StringNotLike),
    ("NumericEquals", BaseOp::NumericEquals),
    ("NumericNotEquals", BaseOp::NumericNotEquals),
    ("NumericLessThan", BaseOp::NumericLessThan),
    ("NumericLessThanEquals", BaseOp::NumericLessThanEquals),
    ("NumericGreaterThan", BaseOp::NumericGreaterThan),
    ("NumericGreaterThanEquals", BaseOp::NumericGreaterThanEquals),
    ("DateEquals", BaseOp::DateEquals),
    ("DateNotEquals", BaseOp::DateNotEquals),
    ("DateLessThan", BaseOp::DateLessThan),
    ("DateLessThanEquals", BaseOp::DateLessThanEquals),
    ("DateGreaterThan", BaseOp::DateGreaterThan),
    ("DateGreaterThanEquals", BaseOp::DateGreaterThanEquals),
    ("Bool", BaseOp::Bool),
    ("BinaryEquals", BaseOp::BinaryEquals),
    ("IpAddress", BaseOp::IpAddress),
    ("NotIpAddress", BaseOp::NotIpAddress),
    ("ArnEquals", BaseOp::ArnEquals),
    ("ArnLike", BaseOp::ArnLike),
    ("ArnNotEquals", BaseOp::ArnNotEquals),
    ("ArnNotLike", BaseOp::ArnNotLike),
    ("Null", BaseOp::Null),
];

impl BaseOp {
    /// Negated ("inverted") operators: a missing key makes them true and several policy values
    /// are combined with NOR.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            BaseOp::StringNotEquals
                | BaseOp::StringNotEqualsIgnoreCase
                | BaseOp::StringNotLike
                | BaseOp::NumericNotEquals
                | BaseOp::DateNotEquals
                | BaseOp::NotIpAddress
                | BaseOp::ArnNotEquals
                | BaseOp::ArnNotLike
        )
    }

    /// Policy variables may only be used with the string and ARN operators.
    fn takes_variables(self) -> bool {
        matches!(
            self,
            BaseOp::StringEquals
                | BaseOp::StringNotEquals
                | BaseOp::StringEqualsIgnoreCase
                | BaseOp::StringNotEqualsIgnoreCase
                | BaseOp::StringLike
                | BaseOp::StringNotLike
                | BaseOp::ArnEquals
                | BaseOp::ArnLike
                | BaseOp::ArnNotEquals
                | BaseOp::ArnNotLike
        )
    }

    fn name(self) -> &'static str {
        BASE_OPS
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

/// A full condition operator such as `ForAllValues:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub set: Option<SetOp>,
    pub base: BaseOp,
    pub if_exists: bool,
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.set {
            Some(SetOp::ForAllValues) => write!(f, "ForAllValues:")?,
            Some(SetOp::ForAnyValue) => write!(f, "ForAnyValue:")?,
            None => {}
        }
        write!(f, "{}", self.base.name())?;
        if self.if_exists {
            write!(f, "IfExists")?;
        }
        Ok(())
    }
}

impl Operator {
    /// Parse an operator name; `None` for unknown operators.
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetOp::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetOp::ForAnyValue), r)
        } else {
            (None, name)
        };
        let lookup = |n: &str| BASE_OPS.iter().find(|(s, _)| *s == n).map(|(_, op)| *op);
        if let Some(base) = lookup(rest) {
            return Some(Operator {
                set,
                base,
                if_exists: false,
            });
        }
        let stem = rest.strip_suffix("IfExists")?;
        let base = lookup(stem)?;
        if base == BaseOp::Null {
            // The Null check has no IfExists form.
            return None;
        }
        Some(Operator {
            set,
            base,
            if_exists: true,
        })
    }
}

/// One `operator: { key: values }` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    /// Condition key as written (matched case-insensitively).
    pub key: String,
    /// Policy values as text (numbers and booleans rendered as JSON text).
    pub values: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Document decoding and parsing
// ---------------------------------------------------------------------------------------------

/// Percent-decode `%XX` sequences (`+` is kept as is). `None` if the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Turn a document given as an object, a JSON string, or a URL-encoded JSON string (as IAM
/// returns trust policies) into a JSON value.
///
/// # Errors
/// [`PolicyError::NotJson`] when a string does not hold JSON.
pub fn normalize_document(doc: &Value, label: &str) -> Result<Value, PolicyError> {
    match doc {
        Value::String(s) => {
            let trimmed = s.trim();
            let text = if trimmed
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case("%7B"))
            {
                percent_decode(trimmed).ok_or_else(|| PolicyError::NotJson {
                    policy: label.to_string(),
                    detail: "percent-decoded text is not UTF-8".to_string(),
                })?
            } else {
                trimmed.to_string()
            };
            serde_json::from_str::<Value>(&text).map_err(|e| PolicyError::NotJson {
                policy: label.to_string(),
                detail: e.to_string(),
            })
        }
        other => Ok(other.clone()),
    }
}

/// Parse and validate a document without evaluating it. The kind is inferred: a document whose
/// statements carry `Principal`/`NotPrincipal` is a resource-based policy (then every statement
/// must carry one), otherwise an identity-based policy (then every statement needs `Resource` or
/// `NotResource`).
///
/// # Errors
/// [`PolicyError`] (labelled `policy`) for a malformed document.
pub fn parse_policy(doc: &Value) -> Result<Policy, PolicyError> {
    parse_policy_labeled(doc, "policy", None)
}

/// Parse a document as an identity-based policy (`Principal` is an error).
///
/// # Errors
/// [`PolicyError`] naming `label` and the offending statement / field.
pub fn parse_identity_policy(doc: &Value, label: &str) -> Result<Policy, PolicyError> {
    parse_policy_labeled(doc, label, Some(PolicyKind::Identity))
}

/// Parse a document as a resource-based policy (`Principal` or `NotPrincipal` required).
///
/// # Errors
/// [`PolicyError`] naming `label` and the offending statement / field.
pub fn parse_resource_policy(doc: &Value, label: &str) -> Result<Policy, PolicyError> {
    parse_policy_labeled(doc, label, Some(PolicyKind::Resource))
}

fn doc_err(label: &str, detail: impl Into<String>) -> PolicyError {
    PolicyError::Document {
        policy: label.to_string(),
        detail: detail.into(),
    }
}

fn parse_policy_labeled(
    doc: &Value,
    label: &str,
    kind: Option<PolicyKind>,
) -> Result<Policy, PolicyError> {
    let doc = normalize_document(doc, label)?;
    let obj = doc
        .as_object()
        .ok_or_else(|| doc_err(label, "document must be a JSON object"))?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
            return Err(doc_err(
                label,
                format!("unknown top-level element {k:?} (expected Version, Id, Statement)"),
            ));
        }
    }
    let version = match obj.get("Version") {
        None => None,
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.clone()),
        Some(other) => {
            return Err(doc_err(
                label,
                format!("\"Version\" must be \"2012-10-17\" or \"2008-10-17\", found {other}"),
            ))
        }
    };
    let id = match obj.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(doc_err(
                label,
                format!("\"Id\" must be a string, found {other}"),
            ))
        }
    };
    let raw_statements: Vec<&Value> = match obj.get("Statement") {
        None => return Err(doc_err(label, "missing \"Statement\"")),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        Some(other) => {
            return Err(doc_err(
                label,
                format!("\"Statement\" must be an object or a list of objects, found {other}"),
            ))
        }
    };
    let mut statements = Vec::with_capacity(raw_statements.len());
    for (index, raw) in raw_statements.into_iter().enumerate() {
        statements.push(parse_statement(raw, index, label)?);
    }
    let has_principal = statements.iter().filter(|s| s.principal.is_some()).count();
    let kind = match kind {
        Some(k) => k,
        None if has_principal > 0 => PolicyKind::Resource,
        None => PolicyKind::Identity,
    };
    for s in &statements {
        let err = |field: &str, detail: &str| PolicyError::Statement {
            policy: label.to_string(),
            statement: stmt_name(s.index, s.sid.as_deref()),
            field: field.to_string(),
            detail: detail.to_string(),
        };
        match kind {
            PolicyKind::Identity => {
                if let Some(p) = &s.principal {
                    let f = if p.negated {
                        "NotPrincipal"
                    } else {
                        "Principal"
                    };
                    return Err(err(f, "not allowed in an identity-based policy"));
                }
                if s.resource.is_none() {
                    return Err(err(
                        "Resource",
                        "an identity-based policy statement needs \"Resource\" or \"NotResource\"",
                    ));
                }
            }
            PolicyKind::Resource => {
                if s.principal.is_none() {
                    return Err(err(
                        "Principal",
                        "a resource-based policy statement needs \"Principal\" or \"NotPrincipal\"",
                    ));
                }
            }
        }
    }
    Ok(Policy {
        kind,
        version,
        id,
        statements,
    })
}

fn stmt_name(index: usize, sid: Option<&str>) -> String {
    match sid {
        Some(s) if !s.is_empty() => format!("{index} (Sid {s:?})"),
        _ => index.to_string(),
    }
}

fn parse_statement(raw: &Value, index: usize, label: &str) -> Result<Statement, PolicyError> {
    let obj = raw.as_object().ok_or_else(|| PolicyError::Statement {
        policy: label.to_string(),
        statement: index.to_string(),
        field: "Statement".to_string(),
        detail: format!("must be an object, found {raw}"),
    })?;
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(PolicyError::Statement {
                policy: label.to_string(),
                statement: index.to_string(),
                field: "Sid".to_string(),
                detail: format!("must be a string, found {other}"),
            })
        }
    };
    let name = stmt_name(index, sid.as_deref());
    let err = |field: &str, detail: String| PolicyError::Statement {
        policy: label.to_string(),
        statement: name.clone(),
        field: field.to_string(),
        detail,
    };
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(err(k, "unknown statement element".to_string()));
        }
    }
    let effect = match obj.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(err(
                "Effect",
                format!("must be \"Allow\" or \"Deny\", found {other}"),
            ))
        }
        None => return Err(err("Effect", "missing".to_string())),
    };
    // Action / NotAction: exactly one.
    let action = match (obj.get("Action"), obj.get("NotAction")) {
        (Some(_), Some(_)) => {
            return Err(err(
                "Action",
                "\"Action\" and \"NotAction\" are mutually exclusive".to_string(),
            ))
        }
        (None, None) => {
            return Err(err(
                "Action",
                "missing (a statement needs \"Action\" or \"NotAction\")".to_string(),
            ))
        }
        (Some(v), None) => Patterns {
            negated: false,
            values: string_list(v).map_err(|d| err("Action", d))?,
        },
        (None, Some(v)) => Patterns {
            negated: true,
            values: string_list(v).map_err(|d| err("NotAction", d))?,
        },
    };
    let action_field = if action.negated {
        "NotAction"
    } else {
        "Action"
    };
    for a in &action.values {
        if a != "*" && !a.contains(':') {
            return Err(err(
                action_field,
                format!("{a:?} is not \"*\" or \"service:action\""),
            ));
        }
    }
    let resource = match (obj.get("Resource"), obj.get("NotResource")) {
        (Some(_), Some(_)) => {
            return Err(err(
                "Resource",
                "\"Resource\" and \"NotResource\" are mutually exclusive".to_string(),
            ))
        }
        (None, None) => None,
        (Some(v), None) => Some(Patterns {
            negated: false,
            values: string_list(v).map_err(|d| err("Resource", d))?,
        }),
        (None, Some(v)) => Some(Patterns {
            negated: true,
            values: string_list(v).map_err(|d| err("NotResource", d))?,
        }),
    };
    let principal = match (obj.get("Principal"), obj.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return Err(err(
                "Principal",
                "\"Principal\" and \"NotPrincipal\" are mutually exclusive".to_string(),
            ))
        }
        (None, None) => None,
        (Some(v), None) => Some(PrincipalElement {
            negated: false,
            set: parse_principal(v).map_err(|d| err("Principal", d))?,
        }),
        (None, Some(v)) => {
            if effect == Effect::Allow {
                // NotPrincipal page: "NotPrincipal must be used with "Effect":"Deny". Using it
                // with "Effect":"Allow" is not supported."
                return Err(err(
                    "NotPrincipal",
                    "must be used with \"Effect\": \"Deny\"".to_string(),
                ));
            }
            Some(PrincipalElement {
                negated: true,
                set: parse_principal(v).map_err(|d| err("NotPrincipal", d))?,
            })
        }
    };
    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(v) => parse_conditions(v).map_err(|d| err("Condition", d))?,
    };
    Ok(Statement {
        index,
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn string_list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err("must not be an empty list".to_string());
            }
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(format!("list items must be strings, found {other}")),
                })
                .collect()
        }
        other => Err(format!(
            "must be a string or a list of strings, found {other}"
        )),
    }
}

fn parse_principal(v: &Value) -> Result<PrincipalSet, String> {
    match v {
        Value::String(s) if s == "*" => Ok(PrincipalSet::Everyone),
        Value::String(s) => Err(format!(
            "a bare string must be \"*\"; use {{\"AWS\": {s:?}}} (or Service/Federated)"
        )),
        Value::Object(map) => {
            if map.is_empty() {
                return Err("must not be an empty object".to_string());
            }
            let mut out = Vec::new();
            for (k, vals) in map {
                let t = match k.as_str() {
                    "AWS" => PrincipalType::Aws,
                    "Service" => PrincipalType::Service,
                    "Federated" => PrincipalType::Federated,
                    "CanonicalUser" => PrincipalType::CanonicalUser,
                    other => {
                        return Err(format!(
                            "unknown principal type {other:?} (expected AWS, Service, Federated, CanonicalUser)"
                        ))
                    }
                };
                out.push((t, string_list(vals).map_err(|d| format!("{k}: {d}"))?));
            }
            Ok(PrincipalSet::Map(out))
        }
        other => Err(format!("must be \"*\" or an object, found {other}")),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_conditions(v: &Value) -> Result<Vec<Condition>, String> {
    let block = v
        .as_object()
        .ok_or_else(|| format!("must be an object, found {v}"))?;
    let mut out = Vec::new();
    for (op_name, keys) in block {
        let operator = Operator::parse(op_name).ok_or_else(|| {
            if op_name.ends_with("NullIfExists") {
                format!("{op_name:?}: the Null check has no IfExists form")
            } else {
                format!("unknown condition operator {op_name:?}")
            }
        })?;
        if operator.base == BaseOp::Null && operator.set.is_some() {
            return Err(format!(
                "{op_name:?}: the Null check cannot take a set qualifier"
            ));
        }
        let keys = keys
            .as_object()
            .ok_or_else(|| format!("{op_name}: must map condition keys to values, found {keys}"))?;
        if keys.is_empty() {
            return Err(format!("{op_name}: has no condition keys"));
        }
        for (key, vals) in keys {
            let values: Vec<String> = match vals {
                Value::Array(items) => {
                    if items.is_empty() {
                        return Err(format!("{op_name}: {key}: empty list of values"));
                    }
                    items
                        .iter()
                        .map(|i| {
                            scalar_text(i).ok_or_else(|| {
                                format!("{op_name}: {key}: values must be strings, numbers or booleans, found {i}")
                            })
                        })
                        .collect::<Result<_, _>>()?
                }
                other => vec![scalar_text(other).ok_or_else(|| {
                    format!("{op_name}: {key}: values must be strings, numbers or booleans, found {other}")
                })?],
            };
            for value in &values {
                validate_condition_value(operator.base, value)
                    .map_err(|d| format!("{op_name}: {key}: {d}"))?;
            }
            out.push(Condition {
                operator,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

fn validate_condition_value(op: BaseOp, value: &str) -> Result<(), String> {
    use BaseOp::*;
    match op {
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => parse_number(value)
            .map(|_| ())
            .ok_or_else(|| format!("{value:?} is not a number")),
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => parse_date(value)
            .map(|_| ())
            .ok_or_else(|| format!("{value:?} is not an ISO 8601 date or epoch seconds")),
        Bool | Null => {
            if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err(format!("{value:?} is not \"true\" or \"false\""))
            }
        }
        BinaryEquals => base64_decode(value)
            .map(|_| ())
            .ok_or_else(|| format!("{value:?} is not base64")),
        IpAddress | NotIpAddress => parse_cidr(value)
            .map(|_| ())
            .ok_or_else(|| format!("{value:?} is not an IP address or CIDR block")),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Request context
// ---------------------------------------------------------------------------------------------

/// Request context with lower-cased keys (condition keys are case-insensitive).
struct Context {
    values: HashMap<String, CtxValue>,
}

struct CtxValue {
    items: Vec<String>,
    is_list: bool,
}

impl Context {
    fn build(map: &Map<String, Value>) -> Result<Context, PolicyError> {
        let mut values = HashMap::new();
        for (k, v) in map {
            let cv = match v {
                // DECISION: a JSON null is the same as an absent key.
                Value::Null => continue,
                Value::Array(items) => CtxValue {
                    items: items
                        .iter()
                        .map(|i| {
                            scalar_text(i).ok_or_else(|| PolicyError::Context {
                                key: k.clone(),
                                detail: format!(
                                    "list items must be strings, numbers or booleans, found {i}"
                                ),
                            })
                        })
                        .collect::<Result<_, _>>()?,
                    is_list: true,
                },
                other => CtxValue {
                    items: vec![scalar_text(other).ok_or_else(|| PolicyError::Context {
                        key: k.clone(),
                        detail: format!(
                            "must be a string, number, boolean or list of those, found {other}"
                        ),
                    })?],
                    is_list: false,
                },
            };
            values.insert(k.to_lowercase(), cv);
        }
        Ok(Context { values })
    }

    /// Values of a key; `None` when absent. DECISION: an empty list counts as absent (this is
    /// what makes `ForAllValues` true "if there are no context keys in the request").
    fn get(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(&key.to_lowercase())
            .map(|v| v.items.as_slice())
            .filter(|v| !v.is_empty())
    }

    /// Value of a key usable as a policy variable: single-valued only ("you cannot use
    /// multivalued context keys as policy variables").
    fn variable(&self, key: &str) -> Option<&str> {
        let v = self.values.get(&key.to_lowercase())?;
        if v.is_list || v.items.len() != 1 {
            return None;
        }
        Some(v.items[0].as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Patterns, variables and wildcards
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Star,
    Quest,
}

enum VarValue {
    Text(String),
    Missing,
    Invalid,
}

fn resolve_variable(inner: &str, ctx: &Context) -> VarValue {
    let t = inner.trim();
    match t {
        "*" => return VarValue::Text("*".to_string()),
        "?" => return VarValue::Text("?".to_string()),
        "$" => return VarValue::Text("$".to_string()),
        _ => {}
    }
    let (key, default) = match t.find(',') {
        None => (t, None),
        Some(pos) => {
            let key = t[..pos].trim();
            let d = t[pos + 1..].trim();
            if d.len() < 2 || !d.starts_with('\'') || !d.ends_with('\'') {
                return VarValue::Invalid;
            }
            (key, Some(d[1..d.len() - 1].replace("''", "'")))
        }
    };
    if key.is_empty() {
        return VarValue::Invalid;
    }
    match (ctx.variable(key), default) {
        (Some(v), _) => VarValue::Text(v.to_string()),
        (None, Some(d)) => VarValue::Text(d),
        (None, None) => VarValue::Missing,
    }
}

/// Expand policy text into wildcard tokens. With `vars`, `${...}` variables are substituted and
/// the substituted text is literal (DECISION: a `*` or `?` coming from a variable value or a
/// default is not a wildcard, matching how `${*}` is documented to insert a literal `*`).
/// Returns `None` when a variable has no value and no default ("Policy variables with no
/// value": such a value matches nothing).
fn expand(text: &str, vars: bool, ctx: &Context) -> Option<Vec<Tok>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if vars && c == '$' && chars.get(i + 1) == Some(&'{') {
            // Find the closing brace outside a quoted default value.
            let mut j = i + 2;
            let mut quoted = false;
            let mut end = None;
            while j < chars.len() {
                match chars[j] {
                    '\'' => quoted = !quoted,
                    '}' if !quoted => {
                        end = Some(j);
                        break;
                    }
                    _ => {}
                }
                j += 1;
            }
            if let Some(end) = end {
                let inner: String = chars[i + 2..end].iter().collect();
                match resolve_variable(&inner, ctx) {
                    VarValue::Text(s) => {
                        out.extend(s.chars().map(Tok::Lit));
                        i = end + 1;
                        continue;
                    }
                    VarValue::Missing => return None,
                    VarValue::Invalid => {}
                }
            }
        }
        out.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Quest,
            other => Tok::Lit(other),
        });
        i += 1;
    }
    Some(out)
}

fn toks_to_string(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Lit(c) => *c,
            Tok::Star => '*',
            Tok::Quest => '?',
        })
        .collect()
}

fn chars_eq(a: char, b: char, ci: bool) -> bool {
    a == b || (ci && a.to_lowercase().eq(b.to_lowercase()))
}

/// Glob match: `*` any run of characters (including `:` and `/`), `?` one character.
fn wild_match(pat: &[Tok], s: &[char], ci: bool) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() {
            match pat[p] {
                Tok::Star => {
                    star = Some((p, i));
                    p += 1;
                    continue;
                }
                Tok::Quest => {
                    p += 1;
                    i += 1;
                    continue;
                }
                Tok::Lit(c) if chars_eq(c, s[i], ci) => {
                    p += 1;
                    i += 1;
                    continue;
                }
                Tok::Lit(_) => {}
            }
        }
        match star {
            Some((sp, si)) => {
                p = sp + 1;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|t| *t == Tok::Star)
}

fn glob(pattern: &str, s: &str, ci: bool) -> bool {
    let toks: Vec<Tok> = pattern
        .chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::Quest,
            o => Tok::Lit(o),
        })
        .collect();
    let chars: Vec<char> = s.chars().collect();
    wild_match(&toks, &chars, ci)
}

/// ARN comparison of ArnEquals/ArnLike: each of the six `:`-separated parts is compared on its
/// own with wildcards. DECISION: a policy value with fewer than six parts (e.g. `*`) is matched
/// against the whole string.
fn arn_match(pat: &[Tok], value: &str) -> bool {
    let v_parts: Vec<&str> = value.splitn(6, ':').collect();
    let mut p_parts: Vec<&[Tok]> = Vec::new();
    let mut start = 0;
    for (idx, t) in pat.iter().enumerate() {
        if p_parts.len() == 5 {
            break;
        }
        if *t == Tok::Lit(':') {
            p_parts.push(&pat[start..idx]);
            start = idx + 1;
        }
    }
    p_parts.push(&pat[start..]);
    if p_parts.len() < 6 {
        let chars: Vec<char> = value.chars().collect();
        return wild_match(pat, &chars, false);
    }
    if v_parts.len() < 6 {
        return false;
    }
    p_parts.iter().zip(v_parts.iter()).all(|(p, v)| {
        let chars: Vec<char> = v.chars().collect();
        wild_match(p, &chars, false)
    })
}

// ---------------------------------------------------------------------------------------------
// Typed value parsers (numbers, dates, base64, IP)
// ---------------------------------------------------------------------------------------------

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

fn take_digits(b: &[u8], pos: &mut usize, n: usize) -> Option<i64> {
    if *pos + n > b.len() || !b[*pos..*pos + n].iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v = std::str::from_utf8(&b[*pos..*pos + n]).ok()?.parse().ok()?;
    *pos += n;
    Some(v)
}

/// Seconds since the epoch for an ISO 8601 date/time (`2024-01-31`, `2024-01-31T12:00:00Z`,
/// `2024-01-31T12:00:00.5+09:00`, `20240131T120000Z`) or an epoch-seconds number.
fn parse_date(s: &str) -> Option<f64> {
    let s = s.trim();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && !s[1..].contains('-')
    {
        // Epoch seconds (a date always has '-' after the year, or is 8 digits followed by 'T').
        return parse_number(s);
    }
    let b = s.as_bytes();
    let mut pos = 0;
    let year = take_digits(b, &mut pos, 4)?;
    let basic = b.get(pos) != Some(&b'-');
    if !basic {
        pos += 1;
    }
    let month = take_digits(b, &mut pos, 2)?;
    if !basic {
        if b.get(pos) != Some(&b'-') {
            return None;
        }
        pos += 1;
    }
    let day = take_digits(b, &mut pos, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) as f64 * 86_400.0;
    if pos == b.len() {
        return Some(secs);
    }
    if b[pos] != b'T' && b[pos] != b't' && b[pos] != b' ' {
        return None;
    }
    pos += 1;
    let hour = take_digits(b, &mut pos, 2)?;
    if !basic && b.get(pos) == Some(&b':') {
        pos += 1;
    }
    let minute = take_digits(b, &mut pos, 2)?;
    let mut second = 0;
    if pos < b.len() && (b[pos].is_ascii_digit() || b[pos] == b':') {
        if b[pos] == b':' {
            pos += 1;
        }
        second = take_digits(b, &mut pos, 2)?;
    }
    if hour > 24 || minute > 59 || second > 60 || (hour == 24 && (minute > 0 || second > 0)) {
        return None;
    }
    let mut frac = 0.0;
    if pos < b.len() && (b[pos] == b'.' || b[pos] == b',') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return None;
        }
        frac = format!("0.{}", &s[start..pos]).parse().ok()?;
    }
    secs += (hour * 3600 + minute * 60 + second) as f64 + frac;
    if pos == b.len() {
        return Some(secs);
    }
    match b[pos] {
        b'Z' | b'z' if pos + 1 == b.len() => Some(secs),
        sign @ (b'+' | b'-') => {
            pos += 1;
            let oh = take_digits(b, &mut pos, 2)?;
            if b.get(pos) == Some(&b':') {
                pos += 1;
            }
            let om = if pos < b.len() {
                take_digits(b, &mut pos, 2)?
            } else {
                0
            };
            if pos != b.len() || oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 3600 + om * 60) as f64;
            Some(if sign == b'+' { secs - off } else { secs + off })
        }
        _ => None,
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    let mut padding = 0;
    for c in s.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return None;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    if padding > 2 || bits >= 6 {
        return None;
    }
    Some(out)
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => {
            let n: u8 = p.parse().ok()?;
            if n > max {
                return None;
            }
            n
        }
        None => max,
    };
    Some((ip, prefix))
}

fn ip_in(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix as u32)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix as u32)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Condition evaluation
// ---------------------------------------------------------------------------------------------

/// Positive comparison of one request value against one (expanded) policy value.
fn base_match(op: BaseOp, ctx_value: &str, pol: &[Tok]) -> bool {
    use BaseOp::*;
    let text = || toks_to_string(pol);
    match op {
        StringEquals | StringNotEquals => ctx_value == text(),
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
            ctx_value.to_lowercase() == text().to_lowercase()
        }
        StringLike | StringNotLike => {
            let chars: Vec<char> = ctx_value.chars().collect();
            wild_match(pol, &chars, false)
        }
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => match (parse_number(ctx_value), parse_number(&text())) {
            (Some(c), Some(p)) => compare(op, c, p),
            _ => false,
        },
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => match (parse_date(ctx_value), parse_date(&text())) {
            (Some(c), Some(p)) => compare(op, c, p),
            _ => false,
        },
        Bool => ctx_value.eq_ignore_ascii_case(&text()),
        BinaryEquals => match (base64_decode(ctx_value), base64_decode(&text())) {
            (Some(c), Some(p)) => c == p,
            _ => false,
        },
        IpAddress | NotIpAddress => {
            match (ctx_value.trim().parse::<IpAddr>(), parse_cidr(&text())) {
                (Ok(ip), Some((net, prefix))) => ip_in(ip, net, prefix),
                _ => false,
            }
        }
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => arn_match(pol, ctx_value),
        Null => false,
    }
}

fn compare(op: BaseOp, c: f64, p: f64) -> bool {
    use BaseOp::*;
    match op {
        NumericEquals | NumericNotEquals | DateEquals | DateNotEquals => c == p,
        NumericLessThan | DateLessThan => c < p,
        NumericLessThanEquals | DateLessThanEquals => c <= p,
        NumericGreaterThan | DateGreaterThan => c > p,
        NumericGreaterThanEquals | DateGreaterThanEquals => c >= p,
        _ => false,
    }
}

fn condition_holds(cond: &Condition, vars: bool, ctx: &Context) -> bool {
    let op = cond.operator;
    let present = ctx.get(&cond.key);
    if op.base == BaseOp::Null {
        // "Null": {"key": "true"} holds when the key is absent; "false" when it is present.
        // Several values are ORed.
        return cond
            .values
            .iter()
            .any(|v| v.eq_ignore_ascii_case("true") == present.is_none());
    }
    let Some(ctx_values) = present else {
        if op.if_exists {
            return true;
        }
        return match op.set {
            Some(SetOp::ForAllValues) => true,
            Some(SetOp::ForAnyValue) => false,
            None => op.base.is_negated(),
        };
    };
    let use_vars = vars && op.base.takes_variables();
    // Unresolvable values (variable with no value) are "effectively null": they match nothing.
    let policy_values: Vec<Vec<Tok>> = cond
        .values
        .iter()
        .filter_map(|v| {
            if op.base.takes_variables() {
                expand(v, use_vars, ctx)
            } else {
                Some(v.chars().map(Tok::Lit).collect())
            }
        })
        .collect();
    let negated = op.base.is_negated();
    // One request value against all policy values: OR for positive operators, NOR for negated.
    let single = |cv: &String| {
        let any = policy_values.iter().any(|p| base_match(op.base, cv, p));
        if negated {
            !any
        } else {
            any
        }
    };
    match op.set {
        Some(SetOp::ForAllValues) => ctx_values.iter().all(single),
        Some(SetOp::ForAnyValue) => ctx_values.iter().any(single),
        // DECISION: a plain operator given a list in the request context behaves as if the key
        // were single-valued with any of those values: a positive operator holds if any request
        // value matches any policy value; a negated operator holds only if no request value
        // matches any policy value.
        None => {
            if negated {
                ctx_values.iter().all(single)
            } else {
                ctx_values.iter().any(single)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Principals
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Arn {
    partition: String,
    service: String,
    region: String,
    account: String,
    resource: String,
}

fn parse_arn(s: &str) -> Option<Arn> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return None;
    }
    Some(Arn {
        partition: parts[1].to_string(),
        service: parts[2].to_string(),
        region: parts[3].to_string(),
        account: parts[4].to_string(),
        resource: parts[5].to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CallerKind {
    /// A service principal such as `credentials.iot.amazonaws.com`.
    Service,
    /// An identity provider (`oidc-provider/...`, `saml-provider/...`) for web identity / SAML.
    Provider,
    Root,
    Role,
    Session {
        role_name: String,
    },
    Other,
}

struct Caller {
    raw: String,
    arn: Option<Arn>,
    kind: CallerKind,
}

impl Caller {
    fn new(raw: &str) -> Caller {
        let arn = parse_arn(raw);
        let kind = match &arn {
            None => CallerKind::Service,
            Some(a) => {
                if a.service == "iam" && a.resource == "root" {
                    CallerKind::Root
                } else if a.service == "iam"
                    && (a.resource.starts_with("oidc-provider/")
                        || a.resource.starts_with("saml-provider/"))
                {
                    CallerKind::Provider
                } else if a.service == "iam" && a.resource.starts_with("role/") {
                    CallerKind::Role
                } else if a.service == "sts" && a.resource.starts_with("assumed-role/") {
                    let mut it = a.resource.splitn(3, '/');
                    it.next();
                    CallerKind::Session {
                        role_name: it.next().unwrap_or_default().to_string(),
                    }
                } else {
                    CallerKind::Other
                }
            }
        };
        Caller {
            raw: raw.to_string(),
            arn,
            kind,
        }
    }

    fn account(&self) -> Option<&str> {
        self.arn
            .as_ref()
            .map(|a| a.account.as_str())
            .filter(|a| !a.is_empty())
    }

    /// Only the resource-based policy decides for services and identity providers.
    fn resource_policy_only(&self) -> bool {
        matches!(self.kind, CallerKind::Service | CallerKind::Provider)
    }
}

/// How a `Principal` element matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PrincipalMatch {
    /// Via `*`, an account (`123456789012` / `:root`) or `NotPrincipal`.
    Broad,
    /// The caller's own ARN (or, for a session, its role's ARN) is named.
    Exact,
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Match one `"AWS"` entry against the caller.
fn aws_entry_match(entry: &str, caller: &Caller) -> Option<PrincipalMatch> {
    if caller.resource_policy_only() {
        // {"AWS": ...} never names a service principal or an identity provider (those are
        // named with "Service" / "Federated").
        return None;
    }
    if entry == "*" {
        return Some(PrincipalMatch::Broad);
    }
    let c_arn = caller.arn.as_ref()?;
    if is_account_id(entry) {
        return (caller.account() == Some(entry)).then_some(PrincipalMatch::Broad);
    }
    if entry == caller.raw {
        return Some(PrincipalMatch::Exact);
    }
    // Unique ids (AROA..., AIDA...) and anything else that is not an ARN match nothing.
    let e = parse_arn(entry)?;
    if e.partition != c_arn.partition || e.account != c_arn.account || e.account.is_empty() {
        return None;
    }
    if e.service == "iam" && e.resource == "root" {
        return Some(PrincipalMatch::Broad);
    }
    if e.service == "iam" {
        if let (Some(role_path), CallerKind::Session { role_name }) =
            (e.resource.strip_prefix("role/"), &caller.kind)
        {
            // A role ARN (possibly with a path) names every session of that role; the session
            // ARN carries the role name without the path.
            let name = role_path.rsplit('/').next().unwrap_or(role_path);
            if name == role_name {
                return Some(PrincipalMatch::Exact);
            }
        }
    }
    None
}

fn principal_match(set: &PrincipalSet, caller: &Caller) -> Option<PrincipalMatch> {
    match set {
        PrincipalSet::Everyone => Some(PrincipalMatch::Broad),
        PrincipalSet::Map(entries) => {
            let mut best = None;
            for (t, values) in entries {
                for v in values {
                    let m = match t {
                        PrincipalType::Aws => aws_entry_match(v, caller),
                        PrincipalType::Service
                        | PrincipalType::Federated
                        | PrincipalType::CanonicalUser => {
                            (v == &caller.raw).then_some(PrincipalMatch::Exact)
                        }
                    };
                    best = best.max(m);
                }
            }
            best
        }
    }
}

/// DECISION: `NotPrincipal` excludes the caller only when the caller's own ARN is listed
/// (`*` excludes everyone; an account entry excludes only that account's root user). A role
/// ARN does not exclude the role's sessions: the NotPrincipal page tells to list the
/// assumed-role session ARN as well.
fn not_principal_excludes(set: &PrincipalSet, caller: &Caller) -> bool {
    match set {
        PrincipalSet::Everyone => true,
        PrincipalSet::Map(entries) => entries.iter().any(|(t, values)| {
            values.iter().any(|v| match t {
                PrincipalType::Aws => {
                    v == "*"
                        || v == &caller.raw
                        || (caller.kind == CallerKind::Root
                            && is_account_id(v)
                            && caller.account() == Some(v.as_str()))
                }
                _ => v == &caller.raw,
            })
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Statement and policy evaluation
// ---------------------------------------------------------------------------------------------

struct Request<'a> {
    action: &'a str,
    resource: &'a str,
    ctx: &'a Context,
}

fn patterns_match_resource(p: &Patterns, vars: bool, req: &Request) -> bool {
    let chars: Vec<char> = req.resource.chars().collect();
    let any = p.values.iter().any(|v| match expand(v, vars, req.ctx) {
        Some(toks) => wild_match(&toks, &chars, false),
        // "Policy variables with no value": the entry matches no resource.
        None => false,
    });
    any != p.negated
}

fn action_matches(p: &Patterns, action: &str) -> bool {
    let any = p.values.iter().any(|v| glob(v, action, true));
    any != p.negated
}

/// Whether the statement applies; for resource policies also how the principal matched.
fn statement_applies(
    stmt: &Statement,
    vars: bool,
    req: &Request,
    caller: Option<&Caller>,
) -> Option<Option<PrincipalMatch>> {
    if !action_matches(&stmt.action, req.action) {
        return None;
    }
    if let Some(r) = &stmt.resource {
        if !patterns_match_resource(r, vars, req) {
            return None;
        }
    }
    let pm = match (&stmt.principal, caller) {
        (Some(p), Some(c)) => {
            if p.negated {
                if not_principal_excludes(&p.set, c) {
                    return None;
                }
                Some(PrincipalMatch::Broad)
            } else {
                Some(principal_match(&p.set, c)?)
            }
        }
        _ => None,
    };
    if !stmt
        .conditions
        .iter()
        .all(|c| condition_holds(c, vars, req.ctx))
    {
        return None;
    }
    Some(pm)
}

#[derive(Default)]
struct SideResult {
    allows: Vec<String>,
    denies: Vec<String>,
    exact_allow: bool,
}

fn eval_policy(
    policy: &Policy,
    label: &str,
    req: &Request,
    caller: Option<&Caller>,
    out: &mut SideResult,
) {
    let vars = policy.supports_variables();
    for stmt in &policy.statements {
        if let Some(pm) = statement_applies(stmt, vars, req, caller) {
            let name = format!("{label}.{}", stmt.label());
            match stmt.effect {
                Effect::Allow => {
                    out.exact_allow |= pm == Some(PrincipalMatch::Exact);
                    out.allows.push(name);
                }
                Effect::Deny => out.denies.push(name),
            }
        }
    }
}

const TRUST_ACTIONS: &[&str] = &[
    "sts:assumerole",
    "sts:assumerolewithwebidentity",
    "sts:assumerolewithsaml",
    "sts:tagsession",
    "sts:setsourceidentity",
];

fn is_role_arn(resource: &str) -> bool {
    parse_arn(resource).is_some_and(|a| a.service == "iam" && a.resource.starts_with("role/"))
}

/// Evaluate one request against the caller's identity policies and the resource's policy.
///
/// `statements` of the outcome: for `Allow` every matching Allow statement (identity first, then
/// resource); for `ExplicitDeny` every matching Deny statement; for `ImplicitDeny` the Allow
/// statements that matched on one side only (else empty). Labels are `identity[N].<Sid|index>`
/// and `resource.<Sid|index>`.
///
/// # Errors
/// [`PolicyError`] when a document (`identity[N]` / `resource`) or the context is malformed.
pub fn evaluate(case: &Case) -> Result<Outcome, PolicyError> {
    let ctx = Context::build(&case.context)?;
    let caller = Caller::new(&case.principal);
    let role_trust = is_role_arn(&case.resource);
    let trust_action = TRUST_ACTIONS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&case.action));

    let mut identity = Vec::with_capacity(case.identity_policies.len());
    for (i, doc) in case.identity_policies.iter().enumerate() {
        let label = format!("identity[{i}]");
        identity.push((parse_identity_policy(doc, &label)?, label));
    }
    let resource_policy = match &case.resource_policy {
        None | Some(Value::Null) => None,
        Some(doc) => {
            let p = parse_resource_policy(doc, "resource")?;
            if role_trust {
                // A role's resource-based policy is its trust policy: IAM refuses Resource /
                // NotResource there, and NotPrincipal "cannot be used in an IAM role trust
                // policy" (NotPrincipal page).
                for s in &p.statements {
                    let bad = if s.resource.as_ref().is_some_and(|r| r.negated) {
                        Some(("NotResource", "not allowed in a role trust policy"))
                    } else if s.resource.is_some() {
                        Some(("Resource", "not allowed in a role trust policy"))
                    } else if s.principal.as_ref().is_some_and(|p| p.negated) {
                        Some(("NotPrincipal", "not allowed in a role trust policy"))
                    } else {
                        None
                    };
                    if let Some((field, detail)) = bad {
                        return Err(PolicyError::Statement {
                            policy: "resource".to_string(),
                            statement: stmt_name(s.index, s.sid.as_deref()),
                            field: field.to_string(),
                            detail: detail.to_string(),
                        });
                    }
                }
            }
            Some(p)
        }
    };

    let req = Request {
        action: &case.action,
        resource: &case.resource,
        ctx: &ctx,
    };
    let mut id_side = SideResult::default();
    if !caller.resource_policy_only() {
        for (p, label) in &identity {
            eval_policy(p, label, &req, None, &mut id_side);
        }
    }
    let mut res_side = SideResult::default();
    if let Some(p) = &resource_policy {
        eval_policy(p, "resource", &req, Some(&caller), &mut res_side);
    }

    if !id_side.denies.is_empty() || !res_side.denies.is_empty() {
        let mut statements = id_side.denies;
        statements.extend(res_side.denies);
        return Ok(Outcome {
            decision: Decision::ExplicitDeny,
            statements,
        });
    }

    // The account root user has full access unless explicitly denied ("How AWS enforcement code
    // logic evaluates requests"), but it cannot assume roles (STS AssumeRole refuses root
    // credentials).
    let is_root = caller.kind == CallerKind::Root;
    let id_allow = !id_side.allows.is_empty() || (is_root && !(role_trust && trust_action));
    let res_allow = !res_side.allows.is_empty();
    let resource_account = parse_arn(&case.resource)
        .map(|a| a.account)
        .filter(|a| !a.is_empty())
        .or_else(|| ctx.variable("aws:ResourceAccount").map(str::to_string));
    // DECISION: a resource ARN without an account (e.g. S3) and no aws:ResourceAccount in the
    // context is taken to be in the caller's account.
    let same_account = match (caller.account(), resource_account.as_deref()) {
        (Some(c), Some(r)) => c == r,
        (Some(_), None) => true,
        (None, _) => false,
    };

    let allowed = if caller.resource_policy_only() {
        res_allow
    } else if role_trust && trust_action {
        if is_root || resource_policy.is_none() {
            false
        } else if same_account {
            // Naming the caller's ARN in the trust policy suffices; trusting only the account
            // (or "*") delegates to the account, whose identity policies must also allow.
            res_side.exact_allow || (res_allow && id_allow)
        } else {
            res_allow && id_allow
        }
    } else if same_account {
        id_allow || res_allow
    } else {
        id_allow && res_allow
    };

    let mut statements = id_side.allows;
    statements.extend(res_side.allows);
    Ok(Outcome {
        decision: if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        },
        statements,
    })
}

/// Identity-only evaluation (AWS IoT Core policies, e.g. `iot:AssumeRoleWithCertificate` on
/// `arn:aws:iot:<region>:<account>:rolealias/<name>`): explicit deny wins, an allow is enough,
/// otherwise implicit deny. IoT policy variables (`${iot:Connection.Thing.ThingName}`, ...) are
/// looked up in `context`.
///
/// # Errors
/// [`PolicyError`] when a document (`identity[N]`) or the context is malformed.
pub fn evaluate_identity(
    policies: &[Value],
    action: &str,
    resource: &str,
    context: &Map<String, Value>,
) -> Result<Outcome, PolicyError> {
    let ctx = Context::build(context)?;
    let req = Request {
        action,
        resource,
        ctx: &ctx,
    };
    let mut side = SideResult::default();
    for (i, doc) in policies.iter().enumerate() {
        let label = format!("identity[{i}]");
        let p = parse_identity_policy(doc, &label)?;
        eval_policy(&p, &label, &req, None, &mut side);
    }
    Ok(if !side.denies.is_empty() {
        Outcome {
            decision: Decision::ExplicitDeny,
            statements: side.denies,
        }
    } else if !side.allows.is_empty() {
        Outcome {
            decision: Decision::Allow,
            statements: side.allows,
        }
    } else {
        Outcome {
            decision: Decision::ImplicitDeny,
            statements: Vec::new(),
        }
    })
}

/// Evaluate a JSON array of cases. Each slot holds the outcome (`{"decision", "statements"}`) or
/// `{"error": "..."}` for a malformed case.
///
/// # Errors
/// [`PolicyError::Batch`] only when the input is not a JSON array.
pub fn evaluate_batch(input: &str) -> Result<Value, PolicyError> {
    let parsed: Value = serde_json::from_str(input).map_err(|e| PolicyError::Batch {
        detail: e.to_string(),
    })?;
    let Value::Array(items) = parsed else {
        return Err(PolicyError::Batch {
            detail: "top level is not an array".to_string(),
        });
    };
    let results = items
        .into_iter()
        .map(|item| {
            let res = serde_json::from_value::<Case>(item)
                .map_err(|e| PolicyError::Case {
                    detail: e.to_string(),
                })
                .and_then(|case| evaluate(&case));
            match res {
                Ok(outcome) => serde_json::json!({
                    "decision": outcome.decision,
                    "statements": outcome.statements,
                }),
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            }
        })
        .collect();
    Ok(Value::Array(results))
}

#[cfg(test)]
mod tests {
    use super::*;

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
