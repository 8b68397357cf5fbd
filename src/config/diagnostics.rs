//! Diagnostics of the file's text that YAML itself does not give, or gives at the wrong place: tabs
//! used for indentation, keys indented deeper than their siblings, keys with no value, a second
//! document, and the rule and help for each error of the YAML parser.

use super::{Pos, Problem, SourceIndex};

/// A tab in a line's indentation: YAML allows only spaces there, and its parser reports the line
/// after as an indentation mismatch. Reported at the tab itself.
pub(super) fn tab_indentation(text: &str) -> Option<Problem> {
    text.lines().enumerate().find_map(|(i, l)| {
        let indent_end = l.len() - l.trim_start_matches([' ', '\t']).len();
        let col = l[..indent_end].find('\t')?;
        Some(Problem {
            pos: Pos {
                line: i + 1,
                col: col + 1,
            },
            rule: "tab-indentation",
            message: "a tab is used for indentation; YAML indents with spaces only".into(),
            help: Some(
                "replace the tab with spaces, as many as the other keys of its mapping".into(),
            ),
        })
    })
}

/// Problems of the document's shape that YAML itself accepts but that are not what was meant: a key
/// with no value, and a key indented deeper than its siblings (YAML folds it into the value before).
pub(super) fn structure_problems(idx: &SourceIndex, text: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    for (path, pos) in &idx.empty_values {
        out.push(Problem {
            pos: *pos,
            rule: "empty-value",
            message: format!("`{}` has no value", path.join(".")),
            help: Some("give it a value, or remove the key".into()),
        });
    }
    for (pos, key, sibling) in deeper_keys(text) {
        out.push(Problem {
            pos,
            rule: "indentation",
            message: format!(
                "`{key}:` is indented deeper than `{sibling}:` above it, so YAML reads it as part of the value of `{sibling}`"
            ),
            help: Some(format!(
                "indent `{key}:` exactly as `{sibling}:` (or the other keys of its mapping)"
            )),
        });
    }
    out.sort_by_key(|p| p.pos);
    out
}

/// Keys written deeper than the `key: value` line above them: YAML folds such a line into that value
/// (`credential_duration: 3600` then `   certificates: []` reads as "3600 certificates: []"), so the
/// key silently disappears. Lines inside a flow collection (`{…}`/`[…]` over several lines) or a
/// block scalar are not keys. Returns (position, key, the key above).
fn deeper_keys(text: &str) -> Vec<(Pos, String, String)> {
    fn key_of(l: &str) -> Option<(&str, &str)> {
        let t = l.trim_start();
        let end = t.find(':')?;
        let key = &t[..end];
        let rest = &t[end + 1..];
        let is_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && (rest.is_empty() || rest.starts_with(' '));
        is_key.then_some((key, rest.trim()))
    }
    /// Net `{`/`[` depth a line opens, outside quotes and comments.
    fn depth_change(l: &str) -> i32 {
        let (mut d, mut quote) = (0, None);
        for c in l.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '{' | '[') => d += 1,
                (None, '}' | ']') => d -= 1,
                _ => {}
            }
        }
        d
    }
    let mut out = Vec::new();
    let mut flow = 0;
    let mut block_scalar: Option<usize> = None;
    // (indent, key) of the previous line when it was `key: scalar`
    let mut prev: Option<(usize, String)> = None;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        let indent = l.len() - t.len();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(b) = block_scalar {
            if indent > b {
                continue;
            }
            block_scalar = None;
        }
        if flow > 0 {
            flow += depth_change(l);
            prev = None;
            continue;
        }
        let here = key_of(l);
        if let (Some((key, _)), Some((p_indent, p_key))) = (here, &prev) {
            if indent > *p_indent {
                out.push((
                    Pos {
                        line: i + 1,
                        col: indent + 1,
                    },
                    key.to_string(),
                    p_key.clone(),
                ));
            }
        }
        flow += depth_change(l);
        prev = match here {
            Some((key, v))
                if !v.is_empty() && !v.starts_with('#') && !v.starts_with(['|', '>']) =>
            {
                Some((indent, key.to_string()))
            }
            Some((_, v)) if v.starts_with(['|', '>']) => {
                block_scalar = Some(indent);
                None
            }
            _ => None,
        };
    }
    out
}

/// Where a second YAML document starts (its `---` line).
pub(super) fn second_document(text: &str) -> Option<Pos> {
    let mut content = false;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_end();
        if t == "---" || t.starts_with("--- ") || t == "..." {
            if content {
                return Some(Pos {
                    line: i + 1,
                    col: 1,
                });
            }
        } else if !t.trim_start().is_empty() && !t.trim_start().starts_with('#') {
            content = true;
        }
    }
    None
}

pub(super) fn classify_serde_error(msg: &str) -> (&'static str, Option<String>) {
    if msg.contains("more than one document") {
        (
            "multiple-documents",
            Some("an environment file holds one YAML document: remove the `---` and what follows, or put it in a file of its own".into()),
        )
    } else if msg.contains("did not find expected key") {
        (
            "indentation",
            Some("indent this key exactly as the other keys of its mapping".into()),
        )
    } else if msg.contains("unknown field") {
        (
            "unknown-key",
            Some("remove the key or fix its spelling".into()),
        )
    } else if msg.contains("missing field") {
        ("missing-key", Some("add the required key".into()))
    } else if msg.contains("invalid type")
        || msg.contains("invalid value")
        || msg.contains("invalid length")
    {
        let help = if msg.contains("12-digit AWS account id") {
            "write the account id as a quoted string, e.g. account: \"111111111111\""
        } else {
            "see the environment file format in the README"
        };
        ("wrong-type", Some(help.into()))
    } else if msg.contains("duplicate") {
        ("duplicate-key", Some("each key may appear once".into()))
    } else {
        (
            "yaml-syntax",
            Some("fix the YAML syntax at this position".into()),
        )
    }
}
