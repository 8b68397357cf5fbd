//! Policy documents as AWS holds them: decoding (IAM returns documents URL-encoded), the canonical
//! form that makes comparison semantic (keys reordered, single values un-listed), and what a change of
//! a document newly grants.

use crate::eval;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Decode `%XX` sequences of a URL part (lossy).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Decode a policy document as an AWS API returns it: JSON, possibly URL-encoded (IAM). This is the
/// one decoder of documents: the engine (`eval::normalize_document`) decodes through it too.
pub fn parse_document(raw: &str) -> Result<Value, eval::PolicyError> {
    eval::normalize_document(&Value::String(raw.to_string()), "policy document")
}

/// A policy document as a service returns it: JSON, URL-encoded JSON (IAM), or JSON with its quotes
/// escaped (API Gateway).
pub fn parse_service_document(text: &str) -> Result<Value, eval::PolicyError> {
    match parse_document(text) {
        Ok(d) => Ok(d),
        Err(e) => {
            let unescaped = text.replace("\\\"", "\"").replace("\\\\", "\\");
            parse_document(&unescaped).map_err(|_| e)
        }
    }
}

/// A function's resource policy as Lambda returns it. Some emulators write a statement's principal as
/// a bare ARN, account id or service name where Lambda writes `{"AWS": …}` / `{"Service": …}`:
/// such a principal is read as Lambda would have written it.
pub fn parse_function_policy(raw: &str) -> Result<Value, eval::PolicyError> {
    let mut v: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(_) => return parse_document(raw),
    };
    let fix = |st: &mut Value| {
        if let Some(Value::String(p)) = st.get("Principal").cloned() {
            if p != "*" {
                let key = if p.ends_with(".amazonaws.com") {
                    "Service"
                } else {
                    "AWS"
                };
                st["Principal"] = serde_json::json!({ key: p });
            }
        }
    };
    match v.get_mut("Statement") {
        Some(Value::Array(a)) => a.iter_mut().for_each(fix),
        Some(st @ Value::Object(_)) => fix(st),
        _ => {}
    }
    parse_document(&v.to_string())
}

/// Decode and parse a document into the typed policy the engine evaluates.
pub fn parse(doc: &Value) -> Result<eval::Policy, eval::PolicyError> {
    eval::parse_policy(doc)
}

fn listify(v: &Value) -> Value {
    let mut items: Vec<Value> = match v {
        Value::Array(a) => a.iter().map(scalar_string).collect(),
        other => vec![scalar_string(other)],
    };
    if items.len() > 1 {
        if items.iter().all(Value::is_string) {
            // the usual list (actions, ARNs, condition values): sorted as strings, not serialized
            items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        } else {
            items.sort_by_cached_key(|a| a.to_string());
        }
        items.dedup();
    }
    Value::Array(items)
}

fn scalar_string(v: &Value) -> Value {
    match v {
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

fn sorted_object(pairs: impl Iterator<Item = (String, Value)>) -> Value {
    let m: BTreeMap<String, Value> = pairs.collect();
    Value::Object(m.into_iter().collect::<Map<_, _>>())
}

/// Canonical form of a policy document: keys sorted, single values listed, lists sorted and
/// de-duplicated, scalars in conditions as strings, statements sorted. Two documents that AWS treats as
/// the same policy normalize to equal values.
pub fn normalize(doc: &Value) -> Value {
    let doc = match doc {
        Value::String(s) => match parse_document(s) {
            Ok(v) => v,
            Err(_) => return doc.clone(),
        },
        other => other.clone(),
    };
    let Value::Object(o) = doc else { return doc };
    let mut out = BTreeMap::new();
    for (k, v) in o {
        if k == "Statement" {
            let stmts: Vec<Value> = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            let mut stmts: Vec<Value> = stmts.iter().map(normalize_statement).collect();
            stmts.sort_by_cached_key(|s| s.to_string());
            out.insert(k, Value::Array(stmts));
        } else {
            out.insert(k, v);
        }
    }
    Value::Object(out.into_iter().collect())
}

fn normalize_statement(s: &Value) -> Value {
    let Value::Object(o) = s else {
        return s.clone();
    };
    sorted_object(o.iter().map(|(k, v)| {
        let v = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => listify(v),
            "Principal" | "NotPrincipal" => match v {
                Value::Object(p) => {
                    sorted_object(p.iter().map(|(pk, pv)| (pk.clone(), listify(pv))))
                }
                other => other.clone(),
            },
            "Condition" => match v {
                Value::Object(ops) => sorted_object(ops.iter().map(|(op, keys)| {
                    let keys = match keys {
                        Value::Object(km) => {
                            sorted_object(km.iter().map(|(ck, cv)| (ck.clone(), listify(cv))))
                        }
                        other => other.clone(),
                    };
                    (op.clone(), keys)
                })),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        (k.clone(), v)
    }))
}

/// Semantic equality of two documents.
pub fn same(a: &Value, b: &Value) -> bool {
    // normalizing is idempotent: when `b` is already normal (a live document as read), comparing with
    // it as is decides without normalizing it again
    let a = normalize(a);
    a == *b || a == normalize(b)
}

/// Pretty JSON of the normalized document, for diffs and display.
pub fn pretty(doc: &Value) -> String {
    serde_json::to_string_pretty(&normalize(doc)).unwrap_or_default()
}

/// All strings of the `AWS` principals of a policy's statements.
pub fn aws_principals(doc: &Value) -> Vec<String> {
    let Ok(p) = parse(doc) else { return vec![] };
    let mut out = Vec::new();
    for s in &p.statements {
        if let Some(eval::PrincipalElement {
            set: eval::PrincipalSet::Map(m),
            ..
        }) = &s.principal
        {
            for (t, v) in m {
                if *t == eval::PrincipalType::Aws {
                    out.extend(v.iter().cloned());
                }
            }
        }
    }
    out
}

/// The Allow grants of a typed policy: (principals, actions, resources).
fn grants(p: &eval::Policy) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut principals = Vec::new();
    let mut actions = Vec::new();
    let mut resources = Vec::new();
    for s in p
        .statements
        .iter()
        .filter(|s| s.effect == eval::Effect::Allow)
    {
        match &s.principal {
            Some(eval::PrincipalElement {
                set: eval::PrincipalSet::Everyone,
                ..
            }) => principals.push("*".to_string()),
            Some(eval::PrincipalElement {
                set: eval::PrincipalSet::Map(m),
                ..
            }) => {
                for (t, v) in m {
                    principals.extend(v.iter().map(|x| format!("{}:{x}", t.as_str())));
                }
            }
            None => {}
        }
        let not = |negated: bool, x: &str| {
            if negated {
                format!("not {x}")
            } else {
                x.to_string()
            }
        };
        actions.extend(
            s.action
                .values
                .iter()
                .map(|x| not(s.action.negated, &x.to_ascii_lowercase())),
        );
        if let Some(r) = &s.resource {
            resources.extend(r.values.iter().map(|x| not(r.negated, x)));
        }
    }
    (principals, actions, resources)
}

/// What replacing the live document `before` with `after` newly grants: a new principal, action or
/// resource in an Allow statement, a Deny statement that goes away, or a condition that is removed
/// from an Allow statement that stays. A `before` that does not parse counts as granting nothing.
pub fn broadening(before: &Value, after: &Value) -> Vec<String> {
    let Ok(a) = parse(after) else { return vec![] };
    let b = parse(before).ok();
    let empty = (vec![], vec![], vec![]);
    let (bp, ba, br) = b.as_ref().map(grants).unwrap_or(empty);
    let (ap, aa, ar) = grants(&a);
    let mut out = Vec::new();
    // a role of an account that was trusted as a whole (`:root`, the id, `*`) is no broadening
    let covered = |x: &str| {
        // "AWS:arn:…": the account of the ARN after the principal type
        let acct = x
            .split_once(':')
            .and_then(|(_, arn)| crate::arn::Arn::account_of(arn))
            .unwrap_or_default();
        bp.iter().any(|b| {
            b == "AWS:*"
                || b == "*"
                || (!acct.is_empty()
                    && (*b == format!("AWS:{acct}") || b.ends_with(&format!("::{acct}:root"))))
        })
    };
    for x in ap.iter().filter(|x| !bp.contains(x) && !covered(x)) {
        out.push(format!("new principal {x}"));
    }
    for x in aa.iter().filter(|x| !ba.contains(x)) {
        out.push(format!("new action {x}"));
    }
    for x in ar.iter().filter(|x| !br.contains(x)) {
        out.push(format!("new resource {x}"));
    }
    let Some(b) = b else { return out };
    // statements compared in their canonical form
    let canon = |doc: &Value| -> Vec<Value> {
        match normalize(doc).get("Statement") {
            Some(Value::Array(s)) => s.clone(),
            _ => vec![],
        }
    };
    let as_ = canon(after);
    for (typed, raw) in b.statements.iter().zip(statements_in_order(before)) {
        if typed.effect == eval::Effect::Deny && !as_.contains(&normalize_statement(&raw)) {
            out.push(format!("removes the Deny statement {}", typed.label()));
        }
    }
    for s in b
        .statements
        .iter()
        .filter(|s| s.effect == eval::Effect::Allow)
    {
        if s.conditions.is_empty() {
            continue;
        }
        let same_statement = |t: &&eval::Statement| {
            t.effect == eval::Effect::Allow
                && match (&s.sid, &t.sid) {
                    (Some(x), Some(y)) if !x.is_empty() => x == y,
                    _ => {
                        t.action == s.action
                            && t.resource == s.resource
                            && t.principal == s.principal
                    }
                }
        };
        let Some(t) = a.statements.iter().find(same_statement) else {
            continue;
        };
        for c in &s.conditions {
            let kept = t.conditions.iter().any(|d| {
                d.operator == c.operator
                    && d.key.eq_ignore_ascii_case(&c.key)
                    && d.values == c.values
            });
            if !kept {
                out.push(format!(
                    "removes the condition {} {} from statement {}",
                    c.operator,
                    c.key,
                    s.label()
                ));
            }
        }
    }
    out
}

/// The raw statements of a document in their written order (`Statement` object or list).
fn statements_in_order(doc: &Value) -> Vec<Value> {
    let doc = match doc {
        Value::String(s) => match parse_document(s) {
            Ok(v) => v,
            Err(_) => return vec![],
        },
        other => other.clone(),
    };
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(v @ Value::Object(_)) => vec![v.clone()],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_encoded_reordered_and_unlisted_documents_are_the_same() {
        let ours = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:role/a"]},"Action":["sts:AssumeRole"],"Condition":{"Bool":{"aws:SecureTransport":true}}}]});
        let theirs_text = r#"{"Statement":{"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:SecureTransport":"true"}},"Principal":{"AWS":"arn:aws:iam::1:role/a"},"Effect":"Allow"},"Version":"2012-10-17"}"#;
        let encoded: String =
            percent_encoding::utf8_percent_encode(theirs_text, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(encoded.starts_with("%7B"));
        let theirs = parse_document(&encoded).unwrap();
        assert!(same(&ours, &theirs));
        assert!(same(&ours, &Value::String(encoded)));
    }

    #[test]
    fn different_principal_is_different() {
        let a = json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:role/a"},"Action":"sts:AssumeRole"}]});
        let b = json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":"AROAEXAMPLE"},"Action":"sts:AssumeRole"}]});
        assert!(!same(&a, &b));
        assert_eq!(aws_principals(&b), vec!["AROAEXAMPLE".to_string()]);
    }

    #[test]
    fn statement_order_and_list_order_do_not_matter() {
        let a = json!({"Statement":[{"Sid":"a","Effect":"Allow","Action":["x:B","x:A"],"Resource":"r"},{"Sid":"b","Effect":"Deny","Action":"x:C","Resource":"r"}]});
        let b = json!({"Statement":[{"Sid":"b","Effect":"Deny","Action":"x:C","Resource":["r"]},{"Sid":"a","Effect":"Allow","Action":["x:A","x:B","x:A"],"Resource":"r"}]});
        assert!(same(&a, &b));
    }
}
