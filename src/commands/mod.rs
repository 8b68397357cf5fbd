//! The body of every command: one entry function per command, each called by `cli::try_main` with
//! its parsed flags. Shared steps (reading the live state, making a plan, confirming) live here.

pub mod check;
pub mod device;
mod error;
pub mod import;
pub mod init;
pub mod plan;
pub mod sandbox;
pub mod verify;

use crate::aws;
use crate::config::{self, Config};
use crate::plan::{Mode, Plan};
pub use error::Error;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// The runtime of a command that talks to AWS: one thread. Its work is waiting on the network; on
/// one thread the fan-out over many accounts costs less CPU (no cross-thread wake-ups) and no more
/// wall time.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The runtime of the sandbox's servers, which serve many clients at once.
pub fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn check_selection(cfg: &Config, envs: &[String]) -> Result<(), Error> {
    cfg.check_selection(envs).map_err(Error::Selection)
}

pub fn selected_desired(
    cfg: &Config,
    envs: &[String],
    found: &crate::model::live::Discovered,
) -> Vec<crate::model::Resource> {
    crate::desired::desired_with(cfg, found)
        .into_iter()
        .filter(|r| {
            r.addr
                .env
                .as_ref()
                .is_none_or(|e| config::is_selected(envs, e))
        })
        .collect()
}

/// Connect to every account, discover what the desired state depends on (the source role, the
/// buckets' owners and keys), and read the live state of the desired resources. The accounts are
/// proven while the reads run: each account's reads start as soon as that account is proven (its
/// requests wait for the proof), so the slowest account does not hold back the others; when a proof
/// fails, its error is reported, not the reads that could not run. Returns the desired state the
/// reads were made for, too.
pub async fn read_live(
    cfg: &Config,
    envs: &[String],
) -> Result<
    (
        aws::Accounts,
        crate::plan::Snapshot,
        Vec<crate::model::Resource>,
    ),
    Error,
> {
    let accts = aws::Accounts::connect(cfg, envs).await;
    let reads = async {
        let found = aws::read::discover(cfg, envs, &accts).await?;
        let desired = selected_desired(cfg, envs, &found);
        let mut snap = aws::read::live(cfg, &desired, &accts, aws::read::Want::Plan)
            .await?
            .resources;
        snap.discovered = found;
        Ok::<_, Vec<aws::AwsError>>((snap, desired))
    };
    let (proved, read) = tokio::join!(accts.prove(), reads);
    proved.map_err(Error::Aws)?;
    let (snap, desired) = read.map_err(Error::Aws)?;
    Ok((accts, snap, desired))
}

/// Whether a plan needs the fingerprint of the live state it was made from: only a plan that is
/// saved, or compared with a saved one, does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fingerprint {
    Compute,
    Skip,
}

/// Compute the plan for `cfg` from the live state.
pub async fn make_plan(
    cfg: &Config,
    envs: &[String],
    mode: Mode,
    fingerprint: Fingerprint,
) -> Result<(aws::Accounts, Plan), Error> {
    let (accts, snap, desired) = read_live(cfg, envs).await?;
    let (changes, untouched) = match mode {
        Mode::Apply => (crate::plan::diff(cfg, &desired, &snap), vec![]),
        Mode::Destroy => crate::plan::destroy(cfg, &desired, &snap),
    };
    let plan = Plan {
        format_version: crate::plan::FORMAT_VERSION.into(),
        mode,
        config: cfg.clone(),
        selected: envs.to_vec(),
        changes,
        untouched,
        prior_fingerprint: match fingerprint {
            Fingerprint::Compute => snap.fingerprint(),
            Fingerprint::Skip => String::new(),
        },
        discovered: snap.discovered.clone(),
    };
    Ok((accts, plan))
}

/// Ask on the terminal; refuse without one.
pub fn confirm(question: &str, auto_approve: bool) -> Result<(), Error> {
    if auto_approve {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Refused(
            "no terminal to confirm on: pass --auto-approve, or apply a saved plan (plan --out FILE, then apply FILE)".into(),
        ));
    }
    eprint!("{question}\n  Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::Io(e.to_string()))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Refused("cancelled: nothing was changed".into()))
    }
}

pub fn refuse_conflicts(plan: &Plan, adopt: bool) -> Result<(), Error> {
    let conflicts: Vec<String> = plan
        .conflicts()
        .map(|c| format!("  {}: {}", c.addr, c.notes.join("; ")))
        .collect();
    if !conflicts.is_empty() && !adopt {
        return Err(Error::Refused(format!(
            "refusing to change resources xacct does not own (nothing was changed):\n{}\n  rerun with --adopt to take them over",
            conflicts.join("\n")
        )));
    }
    Ok(())
}

/// Progress lines on stderr as each change lands.
struct Progress;

impl crate::apply::Reporter for Progress {
    fn landed(&self, ch: &crate::plan::Change) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "  {} {}.{} ({}{}) {}",
            ch.action().marker(),
            ch.addr.kind.as_str(),
            ch.addr.name,
            ch.addr.account,
            ch.addr
                .env
                .as_ref()
                .map(|e| format!(", env {e}"))
                .unwrap_or_default(),
            ch.action().done()
        );
    }
}

/// Apply `plan`; `adopt` (`--adopt`) lets a create that meets a resource xacct does not own take it
/// over.
pub async fn execute(plan: &Plan, accts: &aws::Accounts, adopt: bool) -> Result<ExitCode, Error> {
    eprintln!("Applying {} change(s)…", plan.changes.len());
    match crate::apply::apply(plan, accts, adopt, &Progress).await {
        Ok(n) => {
            eprintln!("Apply complete: {n} change(s).");
            Ok(ExitCode::SUCCESS)
        }
        Err((n, errors)) => {
            eprintln!("Apply stopped after {n} change(s); run apply again to converge.");
            Err(Error::Aws(errors))
        }
    }
}
