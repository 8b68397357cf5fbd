//! The request context, policy variables, and wildcard and ARN matching.

use super::document::scalar_text;
use super::PolicyError;
use serde_json::{Map, Value};
use std::collections::HashMap;

// ---------------------------------------------------------------------------------------------
// Request context
// ---------------------------------------------------------------------------------------------

/// Request context with lower-cased keys (condition keys are case-insensitive).
pub(crate) struct Context {
    pub(crate) values: HashMap<String, CtxValue>,
}

pub(crate) struct CtxValue {
    pub(crate) items: Vec<String>,
    pub(crate) is_list: bool,
}

impl Context {
    pub(crate) fn build(map: &Map<String, Value>) -> Result<Context, PolicyError> {
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
    pub(crate) fn get(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(&key.to_lowercase())
            .map(|v| v.items.as_slice())
            .filter(|v| !v.is_empty())
    }

    /// Value of a key usable as a policy variable: single-valued only ("you cannot use
    /// multivalued context keys as policy variables").
    pub(crate) fn variable(&self, key: &str) -> Option<&str> {
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
pub(crate) enum Tok {
    Lit(char),
    Star,
    Quest,
}

pub(crate) enum VarValue {
    Text(String),
    Missing,
    Invalid,
}

pub(crate) fn resolve_variable(inner: &str, ctx: &Context) -> VarValue {
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
pub(crate) fn expand(text: &str, vars: bool, ctx: &Context) -> Option<Vec<Tok>> {
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

pub(crate) fn toks_to_string(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Lit(c) => *c,
            Tok::Star => '*',
            Tok::Quest => '?',
        })
        .collect()
}

pub(crate) fn chars_eq(a: char, b: char, ci: bool) -> bool {
    a == b || (ci && a.to_lowercase().eq(b.to_lowercase()))
}

/// Glob match: `*` any run of characters (including `:` and `/`), `?` one character.
pub(crate) fn wild_match(pat: &[Tok], s: &[char], ci: bool) -> bool {
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

pub fn glob(pattern: &str, s: &str, ci: bool) -> bool {
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
pub(crate) fn arn_match(pat: &[Tok], value: &str) -> bool {
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

/// Match a `Resource` pattern against a resource ARN as the IAM user guide documents it ("Using
/// wildcards in resource ARNs"): `*` and `?` work within the individual segments of an ARN (the
/// parts separated by colons); `?` is one character of a segment; `*` is any run of characters of its
/// segment (including `/`), and only a `*` that is the last character of a segment can expand beyond
/// the colon boundaries. A wildcard in the service segment identifies no AWS product: such a
/// pattern matches nothing. A pattern that is not an ARN (`*`) is a plain glob.
pub(crate) fn resource_match(pat: &[Tok], value: &str) -> bool {
    let s: Vec<char> = value.chars().collect();
    let is_arn =
        pat.len() > 4 && pat[..4] == [Tok::Lit('a'), Tok::Lit('r'), Tok::Lit('n'), Tok::Lit(':')];
    if !is_arn {
        return wild_match(pat, &s, false);
    }
    // the service segment: between the second and the third colon
    let colons: Vec<usize> = pat
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == Tok::Lit(':'))
        .map(|(i, _)| i)
        .take(3)
        .collect();
    if let [_, a, b] = colons[..] {
        if pat[a + 1..b]
            .iter()
            .any(|t| *t != Tok::Lit(':') && !matches!(t, Tok::Lit(_)))
        {
            return false;
        }
    }
    let mut memo = vec![None; (pat.len() + 1) * (s.len() + 1)];
    segment_match(pat, &s, 0, 0, &mut memo)
}

fn segment_match(
    pat: &[Tok],
    s: &[char],
    p: usize,
    i: usize,
    memo: &mut Vec<Option<bool>>,
) -> bool {
    let key = p * (s.len() + 1) + i;
    if let Some(r) = memo[key] {
        return r;
    }
    let r = match pat.get(p) {
        None => i == s.len(),
        Some(Tok::Lit(c)) => s.get(i) == Some(c) && segment_match(pat, s, p + 1, i + 1, memo),
        Some(Tok::Quest) => {
            s.get(i).is_some_and(|c| *c != ':') && segment_match(pat, s, p + 1, i + 1, memo)
        }
        Some(Tok::Star) => {
            // the last character of its segment: may run over colons
            let crosses = matches!(pat.get(p + 1), None | Some(Tok::Lit(':')));
            let mut k = i;
            loop {
                if segment_match(pat, s, p + 1, k, memo) {
                    break true;
                }
                if k == s.len() || (!crosses && s[k] == ':') {
                    break false;
                }
                k += 1;
            }
        }
    };
    memo[key] = Some(r);
    r
}
