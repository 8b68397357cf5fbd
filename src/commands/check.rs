//! `xacct check`, `lint` and `policy eval`.

use super::check_selection;
use crate::commands::Error;
use crate::output::{print_json, print_out, Style};
use crate::{aws, config};
use std::path::Path;
use std::process::ExitCode;

/// `xacct check`: prove every hop from the documents (live, or the desired state).
pub async fn check_cmd(
    file: &Path,
    envs: &[String],
    json: bool,
    desired: bool,
    style: Style,
) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    check_selection(&cfg, envs)?;
    let facts = if desired {
        crate::check::desired_facts(&cfg)
    } else {
        let accts = aws::connect_all(&cfg, envs).await.map_err(Error::Aws)?;
        aws::read::check_facts(&cfg, envs, &accts)
            .await
            .map_err(Error::Aws)?
    };
    let reports = crate::check::prove(&cfg, &facts, envs);
    let findings = crate::lint::lint_facts(&cfg, &facts);
    let ok = reports.iter().all(|r| r.ok);
    if json {
        print_json(&CheckOutput {
            format_version: crate::chain::FORMAT_VERSION,
            ok,
            source: if desired { "desired" } else { "live" },
            environments: &reports,
            lint: &findings,
        });
    } else {
        let mut out = crate::check::render_human(&reports, style);
        if !findings.is_empty() {
            out.push('\n');
            out.push_str(&crate::lint::render_human(&findings, style));
        }
        print_out(&out);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `xacct lint`: findings on the generated (or live) documents; exit 1 when any is an error.
pub async fn lint_cmd(
    file: &Path,
    live: bool,
    json: bool,
    style: Style,
) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    let findings = if live {
        let accts = aws::connect_all(&cfg, &[]).await.map_err(Error::Aws)?;
        let facts = aws::read::check_facts(&cfg, &[], &accts)
            .await
            .map_err(Error::Aws)?;
        crate::lint::lint_facts(&cfg, &facts)
    } else {
        crate::lint::lint_desired(&cfg)
    };
    if json {
        print_json(&findings);
    } else {
        print_out(&crate::lint::render_human(&findings, style));
    }
    let errors = findings
        .iter()
        .any(|f| f.severity == crate::lint::Severity::Error);
    Ok(if errors {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `xacct policy eval`: batch evaluation, stdin → stdout.
pub fn policy_eval() -> Result<ExitCode, Error> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
        .map_err(|e| Error::Io(format!("cannot read stdin: {e}")))?;
    let out =
        crate::policy::eval::evaluate_batch(&input).map_err(|e| Error::Usage(e.to_string()))?;
    print_json(&out);
    Ok(ExitCode::SUCCESS)
}

/// `xacct check --json`: the proof's reports and the lint findings beside them.
#[derive(Debug, serde::Serialize)]
struct CheckOutput<'a> {
    /// `chain::FORMAT_VERSION`: the hop names `verify --json` uses too.
    format_version: &'static str,
    ok: bool,
    /// `live` or `desired`.
    source: &'static str,
    environments: &'a [crate::check::EnvReport],
    lint: &'a [crate::lint::Finding],
}
