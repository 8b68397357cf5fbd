//! `xacct import`: discover a hand-built chain, write the environment file that brings it under
//! xacct, and give the verdict on it as found (check's table and the lint findings).
//!
//! Exit 0: a complete file that validates; 2: written, but something needs editing (said on
//! stderr); 1: nothing written.

use crate::commands::Error;
use crate::config::{self, Access};
use crate::import::discover::{self, AccessMap, ImportError};
use crate::output::{print_out, Style};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Where the chain starts, as the flags name it.
pub enum From<'a> {
    Alias { account: &'a str, alias: &'a str },
    Source { role: &'a str },
}

/// The region: `--region`, else `AWS_REGION` / `AWS_DEFAULT_REGION`.
fn region_of(flag: Option<&str>) -> Result<String, Error> {
    flag.map(String::from)
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .or_else(|| {
            std::env::var("AWS_DEFAULT_REGION")
                .ok()
                .filter(|r| !r.is_empty())
        })
        .ok_or_else(|| {
            Error::Usage("import needs the region of the chain: --region R (or AWS_REGION)".into())
        })
}

impl std::convert::From<ImportError> for Error {
    fn from(e: ImportError) -> Error {
        match e {
            ImportError::Aws(a) => Error::Aws(vec![a]),
            other => Error::Refused(other.to_string()),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn import_cmd(
    from: From<'_>,
    region: Option<&str>,
    profile: Option<&str>,
    assume_role: Option<&str>,
    access: &[String],
    out: Option<&Path>,
    style: Style,
) -> Result<ExitCode, Error> {
    let region = region_of(region)?;
    let mut map = AccessMap::parse(access).map_err(Error::Usage)?;
    let start_account = match &from {
        From::Alias { account, .. } => {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Usage(format!(
                    "--iot-account {account}: not a 12-digit account id"
                )));
            }
            account.to_string()
        }
        From::Source { role } => {
            let a = role.split(':').nth(4).unwrap_or_default();
            if !role.starts_with("arn:") || !role.contains(":role/") || a.len() != 12 {
                return Err(Error::Usage(format!(
                    "--source-role {role}: not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
                )));
            }
            a.to_string()
        }
    };
    if profile.is_some() || assume_role.is_some() {
        map.0.insert(
            start_account.clone(),
            Access {
                profile: profile.map(String::from),
                assume_role: assume_role.map(String::from),
            },
        );
    }
    if let Some(p) = out {
        if p.exists() {
            return Err(Error::Refused(format!(
                "{} exists; import never overwrites a file (nothing was written)",
                p.display()
            )));
        }
    }
    let (found, words) = match from {
        From::Alias { account, alias } => (
            discover::from_alias(&region, account, alias, &map).await?,
            format!("role alias {alias} in account {account} ({region})"),
        ),
        From::Source { role } => (
            discover::from_source(&region, role, &map).await?,
            format!("source role {role} ({region})"),
        ),
    };
    let (yaml, mut reviews) = found.write(&words);
    let label = out
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| std::path::PathBuf::from("<import>"));
    if let Err(e) = config::parse(&label, &yaml) {
        reviews.push(format!("the file does not validate yet: {e}"));
    }
    match out {
        Some(p) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|e| {
                    Error::Refused(format!(
                        "cannot write {}: {e} (nothing was written)",
                        p.display()
                    ))
                })?;
            f.write_all(yaml.as_bytes())
                .map_err(|e| Error::Io(format!("cannot write {}: {e}", p.display())))?;
            eprintln!("import: wrote {}", p.display());
        }
        None => print_out(&yaml),
    }
    // the verdict on the chain as it was found: on stdout beside a written file, else on stderr
    let verdict = verdict(&found, style).await;
    if out.is_some() {
        print_out(&verdict);
    } else {
        eprint!("{verdict}");
    }
    if reviews.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("import: the file needs editing:");
        for r in &reviews {
            eprintln!("  - {r}");
        }
        Ok(ExitCode::from(2))
    }
}

/// check's table and the lint findings on the chain as it was found.
async fn verdict(found: &crate::import::Found, style: Style) -> String {
    let mut out = String::from("\nThe chain as it was found:\n");
    let mut findings = found.findings();
    match config::parse(Path::new("<as found>"), &found.as_found()) {
        Ok(cfg) => match crate::aws::connect_all(&cfg, &[]).await {
            Ok(accts) => match crate::aws::read::check_facts(&cfg, &[], &accts).await {
                Ok(facts) => {
                    let reports = crate::check::prove(&cfg, &facts, &[]);
                    out.push_str(&crate::check::render_human(&reports, style));
                    let mut live = crate::lint::lint_facts(&cfg, &facts);
                    live.append(&mut findings);
                    findings = live;
                }
                Err(e) => out.push_str(&format!("(check could not read it: {})\n", Error::Aws(e))),
            },
            Err(e) => out.push_str(&format!("(check could not reach it: {})\n", Error::Aws(e))),
        },
        Err(e) => out.push_str(&format!("(check cannot prove it: {e})\n")),
    }
    if !findings.is_empty() {
        out.push('\n');
        out.push_str(&crate::lint::render_human(&findings, style));
    }
    out
}
