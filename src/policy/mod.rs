//! xacct's policy templates (the JSON files under `policies/`) and their rendering. Everything about
//! documents as AWS holds them — decoding, normalization, evaluation, the request context — is the
//! policy engine's (`xacct-policy`), re-exported here.

pub use xacct_policy::document::*;
pub use xacct_policy::{context, eval};

use serde_json::Value;
use std::collections::BTreeMap;

/// The templates, compiled in so the binary works from any directory.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "iot-role-trust",
        include_str!("../../policies/iot-role-trust.json"),
    ),
    (
        "iot-role-trust-account",
        include_str!("../../policies/iot-role-trust-account.json"),
    ),
    (
        "iot-role-trust-none",
        include_str!("../../policies/iot-role-trust-none.json"),
    ),
    (
        "iot-role-permissions",
        include_str!("../../policies/iot-role-permissions.json"),
    ),
    (
        "target-role-trust",
        include_str!("../../policies/target-role-trust.json"),
    ),
    (
        "target-role-permissions",
        include_str!("../../policies/target-role-permissions.json"),
    ),
    (
        "target-role-trust-source",
        include_str!("../../policies/target-role-trust-source.json"),
    ),
    (
        "source-role-permissions",
        include_str!("../../policies/source-role-permissions.json"),
    ),
    ("iot-policy", include_str!("../../policies/iot-policy.json")),
];

/// Render a template whose statements each grant one list, leaving out every statement whose
/// `Resource` list rendered empty (an environment that lists no APIs has no `InvokeApis` statement).
pub fn render_nonempty(name: &str, vars: &impl Vars) -> Value {
    let mut v = render(name, vars);
    if let Some(Value::Array(st)) = v.get_mut("Statement") {
        st.retain(|s| !matches!(s.get("Resource"), Some(Value::Array(a)) if a.is_empty()));
    }
    v
}

/// A template variable: a single string, or a list (a string that is exactly `${name}` becomes the list).
#[derive(Debug, Clone)]
pub enum Var {
    One(String),
    List(Vec<String>),
}

/// Where a template's variables are looked up.
pub trait Vars {
    fn var(&self, name: &str) -> Option<&Var>;
}

impl Vars for BTreeMap<&str, Var> {
    fn var(&self, name: &str) -> Option<&Var> {
        self.get(name)
    }
}

/// Variables of one environment over those shared by every environment, without copying the shared
/// ones (some are lists as long as the file's environments).
pub struct Layered<'a> {
    pub own: BTreeMap<&'static str, Var>,
    pub shared: &'a BTreeMap<&'static str, Var>,
}

impl Vars for Layered<'_> {
    fn var(&self, name: &str) -> Option<&Var> {
        self.own.get(name).or_else(|| self.shared.get(name))
    }
}

/// The templates, each parsed once per process.
fn parsed_templates() -> &'static BTreeMap<&'static str, Value> {
    static PARSED: std::sync::OnceLock<BTreeMap<&'static str, Value>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        TEMPLATES
            .iter()
            .map(|(n, t)| {
                let v: Value =
                    serde_json::from_str(t).unwrap_or_else(|e| panic!("template {n}: {e}"));
                (*n, v)
            })
            .collect()
    })
}

/// Render the named template with `vars`. Panics only on a programming error (unknown template or
/// unbound variable), which the unit tests cover for every template.
pub fn render(name: &str, vars: &impl Vars) -> Value {
    let v = parsed_templates()
        .get(name)
        .unwrap_or_else(|| panic!("no policy template {name}"));
    subst(v, vars, name)
}

fn subst(v: &Value, vars: &impl Vars, tpl: &str) -> Value {
    match v {
        Value::String(s) => {
            if let Some(inner) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                if let Some(Var::List(l)) = vars.var(inner) {
                    return if l.len() == 1 {
                        Value::String(l[0].clone())
                    } else {
                        Value::Array(l.iter().cloned().map(Value::String).collect())
                    };
                }
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("${") {
                out.push_str(&rest[..i]);
                let end = rest[i..]
                    .find('}')
                    .map(|e| i + e)
                    .unwrap_or_else(|| panic!("template {tpl}: unclosed ${{"));
                let key = &rest[i + 2..end];
                match vars.var(key) {
                    Some(Var::One(val)) => out.push_str(val),
                    _ => panic!("template {tpl}: unbound variable {key}"),
                }
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| subst(x, vars, tpl)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), subst(x, vars, tpl)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_without_placeholders() {
        let mut vars = BTreeMap::new();
        vars.insert("iot_account", Var::One("111111111111".into()));
        vars.insert(
            "alias_arn",
            Var::One("arn:aws:iot:r:111111111111:rolealias/a".into()),
        );
        vars.insert(
            "any_alias_arn",
            Var::One("arn:aws:iot:r:111111111111:rolealias/*".into()),
        );
        vars.insert(
            "iot_role_arn",
            Var::One("arn:aws:iam::111111111111:role/d".into()),
        );
        vars.insert(
            "target_role_arns",
            Var::List(vec![
                "arn:aws:iam::2:role/a".into(),
                "arn:aws:iam::3:role/b".into(),
            ]),
        );
        vars.insert(
            "function_arns",
            Var::List(vec!["arn:aws:lambda:r:2:function:f".into()]),
        );
        vars.insert(
            "source_role_arn",
            Var::One("arn:aws:iam::111111111111:role/service-role/w".into()),
        );
        for k in [
            "api_arns",
            "object_arns",
            "key_arns",
            "direct_function_arns",
        ] {
            vars.insert(k, Var::List(vec!["arn:aws:s3:::b/k".into()]));
        }
        for (name, _) in TEMPLATES {
            let v = render(name, &vars);
            assert!(!v.to_string().contains("${"), "{name}: {v}");
        }
    }
}
