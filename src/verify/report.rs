//! What verify reports: each hop's outcome, each environment's, the `--json` document, the causes
//! the static proof adds to a failed hop, and the human table.

use crate::chain::Hop;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct HopOutcome {
    pub hop: Hop,
    /// None when the hop was not reached (an earlier one failed).
    pub ok: Option<bool>,
    pub ms: u64,
    /// What happened, in plain words.
    pub detail: String,
    /// The cause found in the live documents (the static proof of that hop), when it failed.
    pub cause: Vec<String>,
    pub fix: Option<serde_json::Value>,
}

impl HopOutcome {
    /// A hop that ran, for `ms` milliseconds.
    pub fn finished(hop: Hop, ok: bool, ms: u64, detail: String) -> HopOutcome {
        HopOutcome {
            hop,
            ok: Some(ok),
            ms,
            detail,
            cause: vec![],
            fix: None,
        }
    }

    /// A hop not reached because an earlier one failed.
    pub fn not_reached(hop: Hop) -> HopOutcome {
        HopOutcome {
            hop,
            ok: None,
            ms: 0,
            detail: "not reached".into(),
            cause: vec![],
            fix: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    pub function: String,
    pub status: Option<i32>,
    pub function_error: Option<String>,
    pub payload_excerpt: String,
}

/// `xacct verify --json`.
#[derive(Debug, Serialize)]
pub struct VerifyOutput<'a> {
    /// `chain::FORMAT_VERSION`: the hop names `check --json` uses too.
    pub format_version: &'static str,
    pub ok: bool,
    pub endpoint: &'a str,
    pub environments: &'a [EnvOutcome],
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvOutcome {
    pub env: String,
    pub account: String,
    pub ok: bool,
    pub hops: Vec<HopOutcome>,
    pub invocations: Vec<Invocation>,
}

impl EnvOutcome {
    /// An environment's outcome: it passes when every hop ran and passed.
    pub fn from_hops(
        env: &str,
        account: &str,
        hops: Vec<HopOutcome>,
        invocations: Vec<Invocation>,
    ) -> EnvOutcome {
        EnvOutcome {
            env: env.to_string(),
            account: account.to_string(),
            ok: hops.iter().all(|h| h.ok == Some(true)),
            hops,
            invocations,
        }
    }
}

/// Fill in the cause of each failed hop from the static proof of the live documents: the proof's
/// hop of the same name (one name per hop in both).
pub fn explain(outcomes: &mut [EnvOutcome], proofs: &[crate::check::EnvReport]) {
    for o in outcomes.iter_mut() {
        let Some(p) = proofs.iter().find(|p| p.env == o.env) else {
            continue;
        };
        for h in o.hops.iter_mut().filter(|h| h.ok == Some(false)) {
            for r in p.hops.iter().filter(|r| r.hop == h.hop && !r.ok) {
                h.cause.extend(r.detail.iter().cloned());
                if h.fix.is_none() {
                    h.fix = r.fix.clone();
                }
            }
        }
    }
}

pub fn render_human(outcomes: &[EnvOutcome], style: crate::output::Style) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let w = outcomes
        .iter()
        .map(|r| r.env.len())
        .max()
        .unwrap_or(3)
        .max(3);
    // the columns: every hop some environment has, in chain order
    let all = [
        Hop::Credentials,
        Hop::Source,
        Hop::AssumeRole,
        Hop::Invoke,
        Hop::CallApi,
        Hop::GetObject,
    ];
    let columns: Vec<Hop> = all
        .into_iter()
        .filter(|c| outcomes.iter().any(|o| o.hops.iter().any(|h| h.hop == *c)))
        .collect();
    let _ = write!(out, "{:<w$}  ", "env");
    for c in &columns {
        let _ = write!(out, "{:<16}", c.title());
    }
    out.push('\n');
    for o in outcomes {
        let _ = write!(out, "{:<w$}", o.env);
        for c in &columns {
            let Some(h) = o.hops.iter().find(|h| h.hop == *c) else {
                let _ = write!(out, "  {:<14}", "");
                continue;
            };
            let cell = match h.ok {
                Some(true) => format!("{} {:>5} ms", style.green("✓"), h.ms),
                Some(false) => format!("{} {:>5} ms", style.red("✗"), h.ms),
                None => "·".to_string(),
            };
            let pad = 16usize.saturating_sub(if h.ok.is_some() { 10 } else { 1 });
            let _ = write!(out, "  {cell}{}", " ".repeat(pad.saturating_sub(2)));
        }
        out.push('\n');
    }
    for o in outcomes.iter().filter(|o| !o.ok) {
        let _ = writeln!(out, "\n{} (account {}):", style.bold(&o.env), o.account);
        for h in o.hops.iter().filter(|h| h.ok == Some(false)) {
            let _ = writeln!(out, "  {} {}: {}", style.red("✗"), h.hop.title(), h.detail);
            for c in &h.cause {
                let _ = writeln!(out, "      cause: {c}");
            }
            if let Some(f) = &h.fix {
                let _ = writeln!(
                    out,
                    "      fix: {}",
                    serde_json::to_string(f).unwrap_or_default()
                );
            }
        }
    }
    for o in outcomes.iter().filter(|o| o.ok) {
        for h in o
            .hops
            .iter()
            .filter(|h| matches!(h.hop, Hop::CallApi | Hop::GetObject))
        {
            let _ = writeln!(out, "{}: {}", o.env, h.detail);
        }
        for i in &o.invocations {
            // a DryRun answers 204 with no payload: say what it proved
            let what = match (i.status, i.payload_excerpt.as_str()) {
                (Some(204), "") => "(DryRun: the invocation is allowed; no code ran)",
                (_, p) => p,
            };
            let _ = writeln!(
                out,
                "{}: {} → {:?} {what}",
                o.env,
                i.function,
                i.status.unwrap_or(0),
            );
        }
    }
    let bad = outcomes.iter().filter(|o| !o.ok).count();
    let _ = writeln!(
        out,
        "\n{}",
        if bad == 0 {
            format!(
                "Every hop of {} environment(s) works end to end.",
                outcomes.len()
            )
        } else {
            format!("{bad} of {} environment(s) failed.", outcomes.len())
        }
    );
    out
}
