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
    /// The kind of policy AWS's AccessDenied message says denied (and its ARN, when it names one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_by: Option<Quoted>,
}

/// What an AWS AccessDenied message says of the policy that denied: its `layer` (`scp`, `rcp`,
/// `identity`, `resource`, `boundary`, `session`, `vpc_endpoint`), whether it denied explicitly,
/// and the policy's ARN when the message names one (AWS does so for same-account and
/// same-organization requests). A message names one policy type at most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quoted {
    pub layer: &'static str,
    pub explicit: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
}

const POLICY_TYPES: [(&str, &str); 7] = [
    ("service control policy", "scp"),
    ("resource control policy", "rcp"),
    ("identity-based policy", "identity"),
    ("resource-based policy", "resource"),
    ("permissions boundary", "boundary"),
    ("session policy", "session"),
    ("VPC endpoint policy", "vpc_endpoint"),
];

/// The policy type (and ARN) an AccessDenied message names: "… with an explicit deny in a
/// service control policy[: ARN]", "… because no service control policy allows the ACTION action".
pub fn quoted(message: &str) -> Option<Quoted> {
    let lower = message.to_ascii_lowercase();
    for (words, layer) in POLICY_TYPES {
        let w = words.to_ascii_lowercase();
        for (lead, explicit) in [
            (format!("explicit deny in a {w}"), true),
            (format!("explicit deny in an {w}"), true),
            (format!("because no {w} allows"), false),
        ] {
            if let Some(i) = lower.find(&lead) {
                let rest = &message[i + lead.len()..];
                let policy_arn = rest
                    .strip_prefix(':')
                    .map(str::trim_start)
                    .and_then(|r| r.split_whitespace().next())
                    .map(|a| a.trim_end_matches(['.', ',', ')', '"', '\'']).to_string())
                    .filter(|a| a.starts_with("arn:"));
                return Some(Quoted {
                    layer,
                    explicit,
                    policy_arn,
                });
            }
        }
    }
    None
}

/// Quote, as the first cause of each denied hop, the policy type AWS's message names.
pub fn quote_layers(outcomes: &mut [EnvOutcome]) {
    for o in outcomes.iter_mut() {
        for h in o.hops.iter_mut().filter(|h| h.ok == Some(false)) {
            let Some(q) = quoted(&h.detail) else { continue };
            let words = POLICY_TYPES
                .iter()
                .find(|(_, l)| *l == q.layer)
                .map(|(w, _)| *w)
                .unwrap_or(q.layer);
            let arn = q
                .policy_arn
                .as_ref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default();
            h.cause.insert(
                0,
                if q.explicit {
                    format!("AWS says: an explicit deny in a {words}{arn}")
                } else {
                    format!("AWS says: no {words} allows it{arn}")
                },
            );
            h.denied_by = Some(q);
        }
    }
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
            denied_by: None,
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
            denied_by: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_denied_message_is_quoted_by_its_policy_type_and_arn() {
        let scp = quoted("AccessDenied: User: arn:aws:sts::111111111111:assumed-role/r/s is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/t with an explicit deny in a service control policy: arn:aws:organizations::333333333333:policy/o-abc/service_control_policy/p-123").unwrap();
        assert_eq!(scp.layer, "scp");
        assert!(scp.explicit);
        assert_eq!(
            scp.policy_arn.as_deref(),
            Some("arn:aws:organizations::333333333333:policy/o-abc/service_control_policy/p-123")
        );
        let none = quoted("User: x is not authorized to perform: lambda:InvokeFunction on resource: f because no service control policy allows the lambda:InvokeFunction action").unwrap();
        assert_eq!(
            (none.layer, none.explicit, none.policy_arn),
            ("scp", false, None)
        );
        assert_eq!(
            quoted("... with an explicit deny in an identity-based policy")
                .unwrap()
                .layer,
            "identity"
        );
        assert_eq!(
            quoted("... because no resource-based policy allows the s3:GetObject action")
                .unwrap()
                .layer,
            "resource"
        );
        assert_eq!(
            quoted("... with an explicit deny in a resource control policy")
                .unwrap()
                .layer,
            "rcp"
        );
        assert!(quoted("The security token included in the request is invalid").is_none());
    }
}
