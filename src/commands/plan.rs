//! `xacct plan`, `apply` and `destroy`.

use super::{check_selection, confirm, execute, make_plan, refuse_conflicts, Fingerprint};
use crate::commands::Error;
use crate::config;
use crate::output::{print_json, print_out, Style};
use crate::plan::{self, render, Mode};
use std::path::Path;
use std::process::ExitCode;

/// `xacct plan`.
pub async fn plan_cmd(
    file: &Path,
    json: bool,
    detailed: bool,
    out: Option<&Path>,
    envs: &[String],
    style: Style,
) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    check_selection(&cfg, envs)?;
    let fingerprint = match out {
        Some(_) => Fingerprint::Compute,
        None => Fingerprint::Skip,
    };
    let (accts, plan) = make_plan(&cfg, envs, Mode::Apply, fingerprint).await?;
    // the process ends with the command: tearing down every account's SDK clients (a run over fifty
    // accounts holds fifty) would only cost time
    std::mem::forget(accts);
    if json {
        print_json(&render::json(&plan));
    } else {
        print_out(&render::human(&plan, style));
    }
    if let Some(path) = out {
        plan::file::save(&plan, path)?;
        eprintln!(
            "Saved the plan to {}; apply it with: xacct apply {}",
            path.display(),
            path.display()
        );
    }
    Ok(if detailed && !plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `xacct apply`.
pub async fn apply_cmd(
    planfile: Option<&Path>,
    file: Option<&Path>,
    auto_approve: bool,
    adopt: bool,
    envs: &[String],
    style: Style,
) -> Result<ExitCode, Error> {
    match (planfile, file) {
        (Some(pf), None) => {
            let saved = plan::file::load(pf)?;
            refuse_conflicts(&saved, adopt)?;
            let (accts, now) = make_plan(
                &saved.config,
                &saved.selected,
                saved.mode,
                Fingerprint::Compute,
            )
            .await?;
            if now.prior_fingerprint != saved.prior_fingerprint {
                return Err(Error::Refused(format!(
                    "the live state changed since {} was made; nothing was applied. Run plan again.",
                    pf.display()
                )));
            }
            if saved.is_empty() {
                println!("No changes. Nothing to apply.");
                return Ok(ExitCode::SUCCESS);
            }
            execute(&saved, &accts, adopt).await
        }
        (None, Some(f)) => {
            let cfg = config::load(f)?;
            check_selection(&cfg, envs)?;
            let (accts, plan) = make_plan(&cfg, envs, Mode::Apply, Fingerprint::Skip).await?;
            print_out(&render::human(&plan, style));
            if plan.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            refuse_conflicts(&plan, adopt)?;
            confirm("Do you want to perform these actions?", auto_approve)?;
            let broad: Vec<String> = plan
                .changes
                .iter()
                .flat_map(|c| {
                    c.broadens
                        .iter()
                        .map(move |b| format!("  ⚠ {}.{}: {b}", c.addr.kind.as_str(), c.addr.name))
                })
                .collect();
            if !broad.is_empty() {
                confirm(
                    &format!(
                        "These changes broaden access:\n{}\nConfirm them too?",
                        broad.join("\n")
                    ),
                    auto_approve,
                )?;
            }
            execute(&plan, &accts, adopt).await
        }
        _ => Err(Error::Usage(
            "apply needs either -f FILE or a PLANFILE".into(),
        )),
    }
}

/// `xacct destroy`.
pub async fn destroy_cmd(file: &Path, auto_approve: bool, style: Style) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    let (accts, plan) = make_plan(&cfg, &[], Mode::Destroy, Fingerprint::Skip).await?;
    print_out(&render::human(&plan, style));
    if plan.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    confirm(
        "Do you really want to destroy these resources?",
        auto_approve,
    )?;
    execute(&plan, &accts, false).await
}
