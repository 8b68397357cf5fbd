//! Rendering a plan for people (Terraform-like, coloured unified diffs) and for machines (`--json`).

use super::{Action, Change, Mode, Plan};
pub use crate::output::Style;
use serde::Serialize;
use serde_json::Value;
use similar::{ChangeTag, TextDiff};
use std::fmt::Write;

fn marker(style: Style, a: Action) -> String {
    let m = a.marker();
    match a {
        Action::Create => style.green(m),
        Action::Delete => style.red(m),
        Action::Replace => style.red(m),
        Action::Update => style.yellow(m),
        Action::Adopt => style.paint("35", m),
    }
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::Replace => "must be replaced",
        Action::Delete => "will be destroyed",
        Action::Adopt => "exists but is not owned by xacct (apply needs --adopt)",
    }
}

/// The one-line summary, Terraform-style.
pub fn summary_line(plan: &Plan) -> String {
    let s = plan.summary();
    if plan.is_empty() {
        return "No changes. The live state matches the environment file.".into();
    }
    let mut line = format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete",
        s.create, s.update, s.replace, s.delete
    );
    if s.adopt > 0 {
        let _ = write!(line, ", {} to adopt", s.adopt);
    }
    line.push('.');
    line
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// The unified diff of a change's attributes (whole text for create and delete).
pub fn attr_diff(style: Style, c: &Change, indent: &str) -> String {
    let before = c.before().map(|s| pretty(&s.attrs())).unwrap_or_default();
    let after = c.after().map(|s| pretty(&s.attrs())).unwrap_or_default();
    let mut out = String::new();
    let diff = TextDiff::from_lines(&before, &after);
    let whole = c.before().is_none() || c.after().is_none();
    if whole {
        for ch in diff.iter_all_changes() {
            let line = ch.value().trim_end_matches('\n');
            let _ = match ch.tag() {
                ChangeTag::Insert => writeln!(out, "{indent}{}", style.green(&format!("+ {line}"))),
                ChangeTag::Delete => writeln!(out, "{indent}{}", style.red(&format!("- {line}"))),
                ChangeTag::Equal => writeln!(out, "{indent}  {line}"),
            };
        }
        return out;
    }
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        let _ = writeln!(out, "{indent}{}", style.dim(&hunk.header().to_string()));
        for ch in hunk.iter_changes() {
            let line = ch.value().trim_end_matches('\n');
            let _ = match ch.tag() {
                ChangeTag::Insert => writeln!(out, "{indent}{}", style.green(&format!("+ {line}"))),
                ChangeTag::Delete => writeln!(out, "{indent}{}", style.red(&format!("- {line}"))),
                ChangeTag::Equal => writeln!(out, "{indent}  {line}"),
            };
        }
    }
    out
}

/// The human plan.
pub fn human(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    let cfg = &plan.config;
    let title = match plan.mode {
        Mode::Apply => "plan",
        Mode::Destroy => "destroy plan",
    };
    let _ = writeln!(
        out,
        "{}",
        style.bold(&format!(
            "xacct {title} for fleet {} ({})",
            cfg.fleet, cfg.region
        ))
    );
    let _ = writeln!(out, "{}", summary_line(plan));
    // group by account and environment, IoT account first
    let mut groups: Vec<(Option<String>, String)> = Vec::new();
    for c in &plan.changes {
        let g = (c.addr.env.clone(), c.addr.account.clone());
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    groups.sort_by_key(|(e, _)| e.is_some());
    for (env, account) in &groups {
        let _ = writeln!(out);
        let head = match env {
            None => match cfg.origin {
                crate::config::Origin::Iot(_) => format!("IoT account {account}"),
                crate::config::Origin::Role(_) => {
                    format!("source account {account} — role {}", cfg.origin_role_arn())
                }
            },
            Some(e) => format!("environment {e} — account {account}"),
        };
        let _ = writeln!(out, "{}", style.bold(&head));
        for c in plan
            .changes
            .iter()
            .filter(|c| &c.addr.env == env && &c.addr.account == account)
        {
            let _ = writeln!(
                out,
                "  {} {}.{} {}",
                marker(style, c.action()),
                c.addr.kind.as_str(),
                c.addr.name,
                style.dim(verb(c.action()))
            );
            for n in &c.notes {
                let _ = writeln!(out, "      {}", style.yellow(&format!("note: {n}")));
            }
            for b in &c.broadens {
                let _ = writeln!(
                    out,
                    "      {}",
                    style.paint("1;33", &format!("⚠ broadens access: {b}"))
                );
            }
            out.push_str(&attr_diff(style, c, "      "));
        }
    }
    if !plan.untouched.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Left alone (not owned by xacct):");
        for a in &plan.untouched {
            let _ = writeln!(out, "    {a}");
        }
    }
    if !plan.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", summary_line(plan));
    }
    out
}

/// `plan --json`: exactly the contract's fields (notes and broadening marks are for people).
#[derive(Debug, Serialize)]
pub struct PlanJson<'a> {
    pub format_version: &'static str,
    pub changes: Vec<ChangeJson<'a>>,
    pub summary: super::Summary,
}

/// One change in `plan --json` (`env` is null for IoT-account resources).
#[derive(Debug, Serialize)]
pub struct ChangeJson<'a> {
    pub env: Option<&'a str>,
    pub account: &'a str,
    pub kind: &'static str,
    pub name: &'a str,
    pub action: Action,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The `--json` plan.
pub fn json(plan: &Plan) -> PlanJson<'_> {
    PlanJson {
        format_version: super::FORMAT_VERSION,
        changes: plan
            .changes
            .iter()
            .map(|c| ChangeJson {
                env: c.addr.env.as_deref(),
                account: &c.addr.account,
                kind: c.addr.kind.as_str(),
                name: &c.addr.name,
                action: c.action(),
                before: c.before().map(|s| s.attrs()),
                after: c.after().map(|s| s.attrs()),
            })
            .collect(),
        summary: plan.summary(),
    }
}
