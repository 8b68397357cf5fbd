//! `check`'s human output: env × hop with ✓/✗/?, then the details of every failure.

use super::{EnvReport, Hop, Value, NOT_MODELLED};

/// Human table: env × hop with ✓/✗, then the details of every ✗.
pub fn render_human(reports: &[EnvReport], style: crate::output::Style) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let w = reports
        .iter()
        .map(|r| r.env.len())
        .max()
        .unwrap_or(3)
        .max(3);
    // the columns: every hop some environment has, in chain order
    let columns: Vec<Hop> = Hop::ALL
        .into_iter()
        .filter(|h| reports.iter().any(|r| r.hops.iter().any(|x| x.hop == *h)))
        .collect();
    let _ = write!(out, "{:<w$}", "env");
    for h in &columns {
        let _ = write!(out, "  {:<13}", h.title());
    }
    out.push('\n');
    for r in reports {
        let _ = write!(out, "{:<w$}", r.env);
        for c in &columns {
            let Some(h) = r.hops.iter().find(|h| h.hop == *c) else {
                let _ = write!(out, "  {:<13}", "");
                continue;
            };
            let mark = if h.ok {
                style.green("✓")
            } else if !h.depends_on.is_empty() {
                style.yellow("?")
            } else {
                style.red("✗")
            };
            let _ = write!(out, "  {mark}{:<12}", "");
        }
        out.push('\n');
    }
    // which devices each gated environment admits
    for r in reports {
        if let Some(d) = &r.devices {
            let _ = writeln!(out, "{}: only the devices of {d}", r.env);
        }
    }
    for r in reports.iter().filter(|r| !r.ok) {
        let _ = writeln!(out, "\n{} (account {}):", style.bold(&r.env), r.account);
        for h in r.hops.iter().filter(|h| !h.ok) {
            let _ = writeln!(out, "  {} {}", mark(style, &h.depends_on), h.hop.title());
            if h.parts.is_empty() {
                findings(&mut out, "      ", &h.detail, &h.statements, &h.fix);
            }
            for p in h.parts.iter().filter(|p| !p.ok) {
                let _ = writeln!(out, "    {} {}", mark(style, &p.depends_on), p.part.title());
                findings(&mut out, "        ", &p.detail, &p.statements, &p.fix);
            }
        }
    }
    let bad = reports.iter().filter(|r| !r.ok).count();
    let _ = writeln!(
        out,
        "\n{}",
        if bad == 0 {
            format!("Every hop of {} environment(s) holds.", reports.len())
        } else {
            format!(
                "{bad} of {} environment(s) have a broken hop.",
                reports.len()
            )
        }
    );
    let _ = writeln!(out, "{}", style.dim(NOT_MODELLED));
    out
}

/// ✗, or ? when the decision depends on keys xacct cannot know.
fn mark(style: crate::output::Style, depends_on: &[String]) -> String {
    if depends_on.is_empty() {
        style.red("✗")
    } else {
        style.yellow("?")
    }
}

/// The details, statements and fix of a failed hop or part, indented.
fn findings(
    out: &mut String,
    indent: &str,
    detail: &[String],
    statements: &[String],
    fix: &Option<Value>,
) {
    use std::fmt::Write;
    for d in detail {
        let _ = writeln!(out, "{indent}{d}");
    }
    for s in statements {
        let _ = writeln!(out, "{indent}statement: {s}");
    }
    if let Some(fix) = fix {
        let _ = writeln!(
            out,
            "{indent}fix: {}",
            serde_json::to_string(fix).unwrap_or_default()
        );
    }
}
