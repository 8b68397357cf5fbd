//! The policy document model, and decoding and parsing documents into it.

use super::conditions::{base64_decode, parse_cidr, parse_date, parse_number};
use super::PolicyError;
use serde_json::Value;
use std::fmt;

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

impl PrincipalType {
    /// The key as written in a `Principal` element.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Service => "Service",
            PrincipalType::Federated => "Federated",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }
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

pub(crate) const BASE_OPS: &[(&str, BaseOp)] = &[
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
    pub(crate) fn takes_variables(self) -> bool {
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

    pub(crate) fn name(self) -> &'static str {
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
    pub(crate) fn hex(b: u8) -> Option<u8> {
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
            // IAM returns documents URL-encoded: anything that is not a JSON object as written is
            // percent-decoded first.
            let text = if !trimmed.starts_with('{') {
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

pub(crate) fn doc_err(label: &str, detail: impl Into<String>) -> PolicyError {
    PolicyError::Document {
        policy: label.to_string(),
        detail: detail.into(),
    }
}

pub(crate) fn parse_policy_labeled(
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

pub(crate) fn stmt_name(index: usize, sid: Option<&str>) -> String {
    match sid {
        Some(s) if !s.is_empty() => format!("{index} (Sid {s:?})"),
        _ => index.to_string(),
    }
}

pub(crate) fn parse_statement(
    raw: &Value,
    index: usize,
    label: &str,
) -> Result<Statement, PolicyError> {
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

pub(crate) fn string_list(v: &Value) -> Result<Vec<String>, String> {
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

pub(crate) fn parse_principal(v: &Value) -> Result<PrincipalSet, String> {
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

pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn parse_conditions(v: &Value) -> Result<Vec<Condition>, String> {
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
            // A value of the wrong type for its operator (`NumericEquals` with "foo") is accepted,
            // as IAM accepts the document (Access Analyzer reports a type mismatch); the condition
            // then never holds (`Condition::type_mismatch`, and `lint` reports it).
            out.push(Condition {
                operator,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

impl Condition {
    /// The first of its values whose type does not fit the operator (a number for `Numeric*`, a date
    /// for `Date*`, `true`/`false` for `Bool` and `Null`, base64 for `BinaryEquals`, an address or
    /// CIDR block for `IpAddress`), and why: such a condition never holds.
    pub fn type_mismatch(&self) -> Option<String> {
        self.values.iter().find_map(|v| {
            validate_condition_value(self.operator.base, v)
                .err()
                .map(|d| format!("{}: {d}", self.key))
        })
    }
}

pub(crate) fn validate_condition_value(op: BaseOp, value: &str) -> Result<(), String> {
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
