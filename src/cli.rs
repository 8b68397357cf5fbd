//! Command-line entry: parse flags, run one command, print errors once, decide the exit code.

use crate::aws::{self, AwsError};
use crate::config::{self, Config, ConfigError};
use crate::plan::{self, render, Mode, Plan};
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const ABOUT: &str = "Plan, apply, check and verify cross-account IoT → Lambda access chains";
const EXAMPLES: &str = "Examples:
  xacct validate -f environments/sandbox.yaml
  xacct plan -f environments/sandbox.yaml --out sandbox.plan
  xacct apply sandbox.plan
  xacct plan -f environments/sandbox.yaml --detailed-exitcode --json";

#[derive(Parser, Debug)]
#[command(name = "xacct", version, about = ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    /// Never colour the output (also: NO_COLOR=1)
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct FileArg {
    /// The environment file
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check an environment file without calling AWS
    #[command(after_help = "Example:\n  xacct validate -f environments/prd.yaml")]
    Validate(FileArg),
    /// Show what apply would change, from the live state of every account
    #[command(
        after_help = "Examples:\n  xacct plan -f environments/prd.yaml\n  xacct plan -f environments/prd.yaml --json --detailed-exitcode --out prd.plan"
    )]
    Plan {
        #[command(flatten)]
        file: FileArg,
        /// Print the plan as JSON
        #[arg(long)]
        json: bool,
        /// Exit 2 when there are changes (0 none, 1 error)
        #[arg(long)]
        detailed_exitcode: bool,
        /// Save the plan, to apply exactly this plan later
        #[arg(long, value_name = "PLANFILE")]
        out: Option<PathBuf>,
        /// Only these environments (repeatable); IoT-account resources are always planned
        #[arg(long = "env", value_name = "NAME")]
        envs: Vec<String>,
    },
    /// Make the live state match the environment file (or apply a saved plan)
    #[command(
        after_help = "Examples:\n  xacct apply -f environments/prd.yaml --auto-approve\n  xacct apply prd.plan"
    )]
    Apply {
        /// A plan saved by `plan --out`
        #[arg(value_name = "PLANFILE", conflicts_with = "file")]
        planfile: Option<PathBuf>,
        /// The environment file
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        /// Do not ask for confirmation
        #[arg(long)]
        auto_approve: bool,
        /// Take over resources with our names that xacct does not own
        #[arg(long)]
        adopt: bool,
        /// Only these environments (repeatable)
        #[arg(long = "env", value_name = "NAME")]
        envs: Vec<String>,
    },
    /// Prove each hop of the chain from the policy documents (live, or --desired)
    #[command(
        after_help = "Examples:\n  xacct check -f environments/prd.yaml\n  xacct check -f environments/prd.yaml --desired --json"
    )]
    Check {
        #[command(flatten)]
        file: FileArg,
        /// Only these environments (repeatable)
        #[arg(long = "env", value_name = "NAME")]
        envs: Vec<String>,
        /// Print the proof as JSON
        #[arg(long)]
        json: bool,
        /// Prove the desired state of the file, without calling AWS
        #[arg(long)]
        desired: bool,
    },
    /// Lint the documents of the chain (the ones xacct generates, or --live ones)
    #[command(after_help = "Example:\n  xacct lint -f environments/prd.yaml --live")]
    Lint {
        #[command(flatten)]
        file: FileArg,
        /// Lint the live documents instead of the generated ones
        #[arg(long)]
        live: bool,
        /// Print the findings as JSON
        #[arg(long)]
        json: bool,
    },
    /// Policy tools
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// End-to-end smoke test with a device certificate: credentials provider → AssumeRole → Invoke
    #[command(
        after_help = "Examples:\n  xacct verify -f environments/prd.yaml --cert device.pem.crt --key device.private.key\n  xacct verify -f environments/prd.yaml --ephemeral --json"
    )]
    Verify {
        #[command(flatten)]
        file: FileArg,
        /// Only these environments (repeatable)
        #[arg(long = "env", value_name = "NAME")]
        envs: Vec<String>,
        /// The device certificate (PEM)
        #[arg(
            long,
            value_name = "PEM",
            requires = "key",
            conflicts_with = "ephemeral"
        )]
        cert: Option<PathBuf>,
        /// The device private key (PEM)
        #[arg(long, value_name = "PEM", requires = "cert")]
        key: Option<PathBuf>,
        /// Use a fresh certificate, removed afterwards (also on failure and Ctrl-C)
        #[arg(long)]
        ephemeral: bool,
        /// CA bundle that signs the credentials endpoint (default: the system roots; env XACCT_CA_BUNDLE)
        #[arg(long, value_name = "PEM", env = "XACCT_CA_BUNDLE")]
        ca_bundle: Option<PathBuf>,
        /// Credentials endpoint host[:port] (default: DescribeEndpoint; env XACCT_CREDENTIALS_ENDPOINT)
        #[arg(long, value_name = "HOST", env = "XACCT_CREDENTIALS_ENDPOINT")]
        credentials_endpoint: Option<String>,
        /// Send x-amzn-iot-thingname (the thing must be attached to the certificate)
        #[arg(long, value_name = "NAME")]
        thing_name: Option<String>,
        /// Invoke only this function (name or ARN)
        #[arg(long, value_name = "NAME")]
        function: Option<String>,
        /// The invocation payload
        #[arg(
            long,
            value_name = "JSON",
            default_value = "{\"source\":\"xacct verify\"}"
        )]
        payload: String,
        /// Print the results as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print credential_process JSON for a device: credentials provider → AssumeRole into the env's role
    #[command(
        after_help = "Example (~/.aws/config):\n  [profile prd-device]\n  credential_process = xacct creds -f fleet.yaml --env prd --cert /etc/device.pem.crt --key /etc/device.key"
    )]
    Creds {
        /// The environment file (env XACCT_FILE)
        #[arg(short = 'f', long = "file", value_name = "FILE", env = "XACCT_FILE")]
        file: PathBuf,
        /// The environment whose role to assume
        #[arg(long = "env", value_name = "NAME")]
        env: String,
        #[arg(long, value_name = "PEM")]
        cert: PathBuf,
        #[arg(long, value_name = "PEM")]
        key: PathBuf,
        #[arg(long, value_name = "PEM", env = "XACCT_CA_BUNDLE")]
        ca_bundle: Option<PathBuf>,
        #[arg(long, value_name = "HOST", env = "XACCT_CREDENTIALS_ENDPOINT")]
        credentials_endpoint: Option<String>,
        #[arg(long, value_name = "NAME")]
        thing_name: Option<String>,
    },
    /// Print the JSON Schema (draft 2020-12) of the environment file
    #[command(after_help = "Example:\n  xacct schema > environment.schema.json")]
    Schema,
    /// Print shell completions
    #[command(after_help = "Example:\n  xacct completions bash > /etc/bash_completion.d/xacct")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a commented starter environment file for the accounts you name
    #[command(
        after_help = "Example:\n  xacct init --fleet telemetry --iot-account 111111111111 --env prd=222222222222 --env stg=333333333333 --out environments/telemetry.yaml"
    )]
    Init {
        /// Fleet name (prefix of every name xacct manages)
        #[arg(long)]
        fleet: String,
        /// The IoT account id
        #[arg(long, value_name = "ID")]
        iot_account: String,
        /// An environment and its account (repeatable)
        #[arg(long = "env", value_name = "NAME=ID", required = true)]
        envs: Vec<String>,
        /// AWS region
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Write here instead of stdout (refuses to overwrite)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The local sandbox (moto, an IAM-enforcing gateway, the IoT credentials endpoint)
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Remove everything xacct owns for this file (never anything it does not own)
    #[command(after_help = "Example:\n  xacct destroy -f environments/dev.yaml --auto-approve")]
    Destroy {
        #[command(flatten)]
        file: FileArg,
        /// Do not ask for confirmation
        #[arg(long)]
        auto_approve: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Evaluate a JSON array of requests (stdin) with the IAM policy engine; prints a JSON array of
    /// {"decision","statements"} in the same order
    #[command(
        after_help = "Example:\n  echo '[{\"principal\":\"arn:aws:iam::111111111111:role/a\",\"action\":\"s3:GetObject\",\"resource\":\"arn:aws:s3:::b/k\",\"identity_policies\":[]}]' | xacct policy eval"
    )]
    Eval,
}

#[derive(Subcommand, Debug)]
pub enum SandboxCommand {
    /// Start the sandbox; prints the environment to use it, serves until SIGINT/SIGTERM
    #[command(after_help = "Example:\n  xacct sandbox up --bootstrap environments/sandbox.yaml")]
    Up {
        /// Use this moto server instead of starting one
        #[arg(long, value_name = "URL")]
        moto_url: Option<String>,
        /// Create what an organization already has for this file (admin roles, functions, a device certificate)
        #[arg(long, value_name = "FILE")]
        bootstrap: Option<PathBuf>,
        /// Where the CA bundle and the bootstrap's device certificate are written
        #[arg(long, value_name = "DIR", default_value = ".xacct/sandbox")]
        dir: PathBuf,
    },
}

/// Everything that can end a command unsuccessfully.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Aws(Vec<AwsError>),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    PlanFile(#[from] plan::file::PlanFileError),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match try_main(cli) {
        Ok(code) => code,
        Err(e) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: {e}");
            ExitCode::from(1)
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn style(no_color: bool) -> render::Style {
    let color = !no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    render::Style { color }
}

fn try_main(cli: Cli) -> Result<ExitCode, Error> {
    let style = style(cli.no_color);
    match cli.command {
        Command::Validate(f) => validate(&f.file),
        Command::Plan {
            file,
            json,
            detailed_exitcode,
            out,
            envs,
        } => runtime().block_on(plan_cmd(
            &file.file,
            json,
            detailed_exitcode,
            out.as_deref(),
            &envs,
            style,
        )),
        Command::Apply {
            planfile,
            file,
            auto_approve,
            adopt,
            envs,
        } => runtime().block_on(apply_cmd(
            planfile.as_deref(),
            file.as_deref(),
            auto_approve,
            adopt,
            &envs,
            style,
        )),
        Command::Destroy { file, auto_approve } => {
            runtime().block_on(destroy_cmd(&file.file, auto_approve, style))
        }
        Command::Check {
            file,
            envs,
            json,
            desired,
        } => runtime().block_on(check_cmd(&file.file, &envs, json, desired, style)),
        Command::Lint { file, live, json } => {
            runtime().block_on(lint_cmd(&file.file, live, json, style))
        }
        Command::Policy(PolicyCommand::Eval) => policy_eval(),
        Command::Verify {
            file,
            envs,
            cert,
            key,
            ephemeral,
            ca_bundle,
            credentials_endpoint,
            thing_name,
            function,
            payload,
            json,
        } => {
            let opts = crate::verify::Options {
                endpoint: credentials_endpoint,
                ca_bundle,
                thing_name,
                function,
                payload,
            };
            let device = match (cert, key) {
                (Some(c), Some(k)) => Some((c, k)),
                _ => None,
            };
            if device.is_none() && !ephemeral {
                return Err(Error::Usage(
                    "verify needs --cert PEM --key PEM, or --ephemeral".into(),
                ));
            }
            runtime().block_on(verify_cmd(&file.file, &envs, device, opts, json, style))
        }
        Command::Creds {
            file,
            env,
            cert,
            key,
            ca_bundle,
            credentials_endpoint,
            thing_name,
        } => {
            let opts = crate::verify::Options {
                endpoint: credentials_endpoint,
                ca_bundle,
                thing_name,
                function: None,
                payload: String::new(),
            };
            runtime().block_on(creds_cmd(&file, &env, &cert, &key, opts))
        }
        Command::Schema => {
            print_out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&config::schema()).unwrap_or_default()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "xacct", &mut buf);
            print_out(&String::from_utf8_lossy(&buf));
            Ok(ExitCode::SUCCESS)
        }
        Command::Init {
            fleet,
            iot_account,
            envs,
            region,
            out,
        } => init_cmd(&fleet, &iot_account, &envs, &region, out.as_deref()),
        Command::Sandbox(SandboxCommand::Up {
            moto_url,
            bootstrap,
            dir,
        }) => runtime()
            .block_on(crate::sandbox::up(
                moto_url.as_deref(),
                bootstrap.as_deref(),
                &dir,
            ))
            .map(|_| ExitCode::SUCCESS)
            .map_err(Error::Usage),
    }
}

/// `xacct validate`: parse and check the file; no AWS call.
fn validate(file: &Path) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    println!(
        "{}: valid — fleet {}, IoT account {}, {} environment(s): {}",
        file.display(),
        cfg.fleet,
        cfg.iot.account,
        cfg.environments.len(),
        cfg.environments
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn check_selection(cfg: &Config, envs: &[String]) -> Result<(), Error> {
    cfg.check_selection(envs).map_err(Error::Usage)
}

fn selected_desired(cfg: &Config, envs: &[String]) -> Vec<crate::model::Resource> {
    crate::desired::desired(cfg)
        .into_iter()
        .filter(|r| {
            r.addr
                .env
                .as_ref()
                .is_none_or(|e| config::is_selected(envs, e))
        })
        .collect()
}

/// Connect to every account and read the live state.
async fn read_live(
    cfg: &Config,
    envs: &[String],
) -> Result<(aws::Accounts, plan::Snapshot), Error> {
    let accts = aws::connect_all(cfg, envs).await.map_err(Error::Aws)?;
    let desired = selected_desired(cfg, envs);
    let snap = aws::read::snapshot(cfg, &desired, &accts)
        .await
        .map_err(Error::Aws)?;
    Ok((accts, snap))
}

/// Compute the plan for `cfg` from the live state.
pub async fn make_plan(
    cfg: &Config,
    envs: &[String],
    mode: Mode,
) -> Result<(aws::Accounts, Plan), Error> {
    let (accts, snap) = read_live(cfg, envs).await?;
    let desired = selected_desired(cfg, envs);
    let (changes, untouched) = match mode {
        Mode::Apply => (plan::diff(cfg, &desired, &snap), vec![]),
        Mode::Destroy => plan::destroy(cfg, &desired, &snap),
    };
    let plan = Plan {
        format_version: plan::FORMAT_VERSION.into(),
        mode,
        config: cfg.clone(),
        selected: envs.to_vec(),
        changes,
        untouched,
        prior_fingerprint: snap.fingerprint(),
    };
    Ok((accts, plan))
}

fn print_out(s: &str) {
    let mut out = std::io::stdout().lock();
    // a closed pipe (`xacct plan | head`) is a quiet end, not an error
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// `xacct plan`.
async fn plan_cmd(
    file: &Path,
    json: bool,
    detailed: bool,
    out: Option<&Path>,
    envs: &[String],
    style: render::Style,
) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    check_selection(&cfg, envs)?;
    let (_, plan) = make_plan(&cfg, envs, Mode::Apply).await?;
    if json {
        print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&render::json(&plan)).unwrap_or_default()
        ));
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

/// Ask on the terminal; refuse without one.
fn confirm(question: &str, auto_approve: bool) -> Result<(), Error> {
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

fn refuse_conflicts(plan: &Plan, adopt: bool) -> Result<(), Error> {
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
    fn landed(&self, ch: &plan::Change) {
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

async fn execute(plan: &Plan, accts: &aws::Accounts) -> Result<ExitCode, Error> {
    eprintln!("Applying {} change(s)…", plan.changes.len());
    match crate::apply::apply(plan, accts, &Progress).await {
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

/// `xacct apply`.
async fn apply_cmd(
    planfile: Option<&Path>,
    file: Option<&Path>,
    auto_approve: bool,
    adopt: bool,
    envs: &[String],
    style: render::Style,
) -> Result<ExitCode, Error> {
    match (planfile, file) {
        (Some(pf), None) => {
            let saved = plan::file::load(pf)?;
            refuse_conflicts(&saved, adopt)?;
            let (accts, now) = make_plan(&saved.config, &saved.selected, saved.mode).await?;
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
            execute(&saved, &accts).await
        }
        (None, Some(f)) => {
            let cfg = config::load(f)?;
            check_selection(&cfg, envs)?;
            let (accts, plan) = make_plan(&cfg, envs, Mode::Apply).await?;
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
            execute(&plan, &accts).await
        }
        _ => Err(Error::Usage(
            "apply needs either -f FILE or a PLANFILE".into(),
        )),
    }
}

/// `xacct destroy`.
async fn destroy_cmd(
    file: &Path,
    auto_approve: bool,
    style: render::Style,
) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    let (accts, plan) = make_plan(&cfg, &[], Mode::Destroy).await?;
    print_out(&render::human(&plan, style));
    if plan.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    confirm(
        "Do you really want to destroy these resources?",
        auto_approve,
    )?;
    execute(&plan, &accts).await
}

/// `xacct check`: prove every hop from the documents (live, or the desired state).
async fn check_cmd(
    file: &Path,
    envs: &[String],
    json: bool,
    desired: bool,
    style: render::Style,
) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    check_selection(&cfg, envs)?;
    let facts = if desired {
        crate::check::desired_facts(&cfg)
    } else {
        let accts = aws::connect_all(&cfg, envs).await.map_err(Error::Aws)?;
        aws::read::check_facts(&cfg, &accts)
            .await
            .map_err(Error::Aws)?
    };
    let reports = crate::check::prove(&cfg, &facts, envs);
    let findings = crate::lint::lint_facts(&cfg, &facts);
    let ok = reports.iter().all(|r| r.ok);
    if json {
        let v = serde_json::json!({"ok": ok, "source": if desired { "desired" } else { "live" }, "environments": reports, "lint": findings});
        print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
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
async fn lint_cmd(
    file: &Path,
    live: bool,
    json: bool,
    style: render::Style,
) -> Result<ExitCode, Error> {
    let cfg = config::load(file)?;
    let findings = if live {
        let accts = aws::connect_all(&cfg, &[]).await.map_err(Error::Aws)?;
        let facts = aws::read::check_facts(&cfg, &accts)
            .await
            .map_err(Error::Aws)?;
        crate::lint::lint_facts(&cfg, &facts)
    } else {
        crate::lint::lint_desired(&cfg)
    };
    if json {
        print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&findings).unwrap_or_default()
        ));
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
fn policy_eval() -> Result<ExitCode, Error> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
        .map_err(|e| Error::Io(format!("cannot read stdin: {e}")))?;
    let out =
        crate::policy::eval::evaluate_batch(&input).map_err(|e| Error::Usage(e.to_string()))?;
    print_out(&format!(
        "{}\n",
        serde_json::to_string_pretty(&out).unwrap_or_default()
    ));
    Ok(ExitCode::SUCCESS)
}

/// `xacct verify`.
async fn verify_cmd(
    file: &Path,
    envs: &[String],
    device: Option<(PathBuf, PathBuf)>,
    opts: crate::verify::Options,
    json: bool,
    style: render::Style,
) -> Result<ExitCode, Error> {
    use crate::verify;
    let cfg = config::load(file)?;
    check_selection(&cfg, envs)?;
    let targets: Vec<config::Target> = cfg.selected(envs).cloned().collect();
    let identity = match &device {
        Some((c, k)) => Some(verify::mtls::DeviceIdentity::from_files(c, k).map_err(Error::Usage)?),
        None => None,
    };
    // the IoT account is needed for --ephemeral, for DescribeEndpoint, and to explain failures
    let iot = if identity.is_none() || opts.endpoint.is_none() {
        Some(
            aws::connect(&cfg.region, &cfg.iot.account, None, &cfg.iot.access)
                .await
                .map_err(|e| Error::Aws(vec![e]))?,
        )
    } else {
        None
    };
    let endpoint = match &iot {
        Some(c) => verify::endpoint(&opts, c)
            .await
            .map_err(|e| Error::Aws(vec![e]))?,
        None => opts.endpoint.clone().unwrap_or_default(),
    };
    // the certificate whose IoT policies explain a failure of hop 1
    let mut cert_id: Option<String> = None;
    let mut outcomes = match identity {
        Some(id) => {
            let o = verify::run(&cfg, &targets, &endpoint, &id, &opts, false).await;
            if o.iter().any(|o| !o.ok) {
                if let Ok(iot) =
                    aws::connect(&cfg.region, &cfg.iot.account, None, &cfg.iot.access).await
                {
                    cert_id = Some(
                        verify::locate_certificate(&iot, &id)
                            .await
                            .unwrap_or(id.certificate_id.clone()),
                    );
                }
            }
            o
        }
        None => {
            let iot = iot.as_ref().expect("connected above");
            let removed = verify::cleanup_leftovers(iot, &cfg).await;
            if removed > 0 {
                eprintln!(
                    "verify: removed {removed} certificate(s) left by an earlier interrupted run"
                );
            }
            // catch SIGINT/SIGTERM from before the certificate exists, so it is always removed
            use tokio::signal::unix::{signal, SignalKind};
            let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::Io(e.to_string()))?;
            let mut term = signal(SignalKind::terminate()).map_err(|e| Error::Io(e.to_string()))?;
            let eph = verify::ephemeral_create(iot, &cfg, opts.thing_name.as_deref())
                .await
                .map_err(|e| Error::Aws(vec![e]))?;
            eprintln!(
                "verify: ephemeral certificate {}… created",
                &eph.certificate_id[..12]
            );
            let result = tokio::select! {
                r = verify::run(&cfg, &targets, &endpoint, &eph.identity, &opts, true) => Some(r),
                _ = int.recv() => None,
                _ = term.recv() => None,
            };
            cert_id = Some(eph.certificate_id.clone());
            verify::ephemeral_cleanup(iot, &eph).await;
            eprintln!(
                "verify: ephemeral certificate {}… removed",
                &eph.certificate_id[..12]
            );
            match result {
                Some(r) => r,
                None => {
                    return Err(Error::Refused(
                        "interrupted; the ephemeral certificate was removed".into(),
                    ))
                }
            }
        }
    };
    let ok = outcomes.iter().all(|o| o.ok);
    if !ok {
        // explain each failure with the static proof of the live documents, when they can be read
        let mut cfg = cfg.clone();
        if let Some(id) = cert_id {
            cfg.iot.certificates = vec![id];
        }
        if let Ok(accts) = aws::connect_all(&cfg, envs).await {
            if let Ok(facts) = aws::read::check_facts(&cfg, &accts).await {
                let proofs = crate::check::prove(&cfg, &facts, envs);
                verify::explain(&mut outcomes, &proofs);
            }
        }
    }
    if json {
        let v = serde_json::json!({"ok": ok, "endpoint": endpoint, "environments": outcomes});
        print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    } else {
        print_out(&verify::render_human(&outcomes, style));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `xacct creds`: hops 1 and 2, printed as credential_process JSON.
async fn creds_cmd(
    file: &Path,
    env: &str,
    cert: &Path,
    key: &Path,
    opts: crate::verify::Options,
) -> Result<ExitCode, Error> {
    use crate::verify;
    let cfg = config::load(file)?;
    check_selection(&cfg, &[env.to_string()])?;
    let t = cfg
        .environments
        .iter()
        .find(|t| t.name == env)
        .cloned()
        .expect("selected");
    let id = verify::mtls::DeviceIdentity::from_files(cert, key).map_err(Error::Usage)?;
    let endpoint = match &opts.endpoint {
        Some(e) => e.clone(),
        None => {
            let iot = aws::connect(&cfg.region, &cfg.iot.account, None, &cfg.iot.access)
                .await
                .map_err(|e| Error::Aws(vec![e]))?;
            verify::endpoint(&opts, &iot)
                .await
                .map_err(|e| Error::Aws(vec![e]))?
        }
    };
    let iot_creds = verify::mtls::fetch(
        &endpoint,
        &cfg.iot.role_alias,
        &id,
        opts.ca_bundle.as_deref(),
        opts.thing_name.as_deref(),
    )
    .await
    .map_err(|e| Error::Refused(e.message))?;
    let c = verify::assume_target(&cfg, &t, &iot_creds)
        .await
        .map_err(Error::Refused)?;
    let expiration = c
        .expiration()
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let v = serde_json::json!({
        "Version": 1,
        "AccessKeyId": c.access_key_id(),
        "SecretAccessKey": c.secret_access_key(),
        "SessionToken": c.session_token(),
        "Expiration": expiration,
    });
    print_out(&format!("{v}\n"));
    Ok(ExitCode::SUCCESS)
}

/// `xacct init`: a commented starter file that validates as written.
fn init_cmd(
    fleet: &str,
    iot_account: &str,
    envs: &[String],
    region: &str,
    out: Option<&Path>,
) -> Result<ExitCode, Error> {
    let mut pairs = Vec::new();
    for e in envs {
        let Some((name, id)) = e.split_once('=') else {
            return Err(Error::Usage(format!(
                "--env {e}: write NAME=ACCOUNT_ID, e.g. --env prd=222222222222"
            )));
        };
        pairs.push((name.trim().to_string(), id.trim().to_string()));
    }
    let mut y = String::new();
    y.push_str("# yaml-language-server: $schema=./environment.schema.json\n");
    y.push_str(
        "# (write the schema beside this file with: xacct schema > environment.schema.json)\n",
    );
    y.push_str("# xacct environment file: `xacct plan -f FILE`, then `xacct apply -f FILE`.\n");
    y.push_str(&format!(
        "fleet: {fleet}                 # prefix of every name xacct manages\n"
    ));
    y.push_str(&format!("region: {region}\n"));
    y.push_str("iot:\n");
    y.push_str(&format!("  account: \"{iot_account}\"    # holds the device certificates, the IoT role, alias and policy\n"));
    y.push_str("  # profile: iot-admin          # optional: AWS profile for this account\n");
    y.push_str(&format!("  # assume_role: arn:aws:iam::{iot_account}:role/Admin   # optional: role assumed in this account\n"));
    y.push_str("  credential_duration: 3600     # seconds, 900..43200\n");
    y.push_str("  certificates: []              # ids of the device certificates that get the IoT policy\n");
    y.push_str("environments:\n");
    for (name, id) in &pairs {
        y.push_str(&format!("  {name}:\n"));
        y.push_str(&format!("    account: \"{id}\"\n"));
        y.push_str(&format!(
            "    # assume_role: arn:aws:iam::{id}:role/OrganizationAccountAccessRole\n"
        ));
        y.push_str("    functions: [ingest]         # the Lambda functions devices may invoke (names or ARNs)\n");
    }
    let label = out
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("<init>"));
    config::parse(&label, &y)?;
    match out {
        Some(p) => {
            if p.exists() {
                return Err(Error::Refused(format!(
                    "{} exists; not overwriting it",
                    p.display()
                )));
            }
            std::fs::write(p, &y)
                .map_err(|e| Error::Io(format!("cannot write {}: {e}", p.display())))?;
            eprintln!(
                "wrote {}; next: xacct validate -f {}",
                p.display(),
                p.display()
            );
        }
        None => print_out(&y),
    }
    Ok(ExitCode::SUCCESS)
}
