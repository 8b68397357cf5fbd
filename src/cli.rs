//! Command-line entry: every flag defined once (clap derive; help and completions come from these
//! definitions), `main` → `try_main`, one call per command into `commands`, errors printed once and
//! the exit code decided here.

use crate::commands::{self, check, init, plan, runtime, verify, Error};
use crate::config;
use crate::output::{print_json, print_out};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const ABOUT: &str = "Plan, apply, prove and verify cross-account access chains on AWS: a device (its IoT \
certificate → the IoT credentials provider → a role) or a workload (an existing role) assumes a role \
in another account to invoke Lambda functions, call API Gateway methods with IAM authorization \
(SigV4), or read S3 objects (SSE-KMS included)";
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
    /// The least-privilege IAM policy each account's credentials need for a command
    #[command(
        after_help = "Examples:\n  xacct permissions -f environments/prd.yaml --for apply\n  xacct permissions -f environments/prd.yaml --for plan --json"
    )]
    Permissions {
        #[command(flatten)]
        file: FileArg,
        /// The command whose calls the policies allow
        #[arg(
            long = "for",
            value_enum,
            default_value = "apply",
            value_name = "COMMAND"
        )]
        command: crate::permissions::For,
        /// Print the policies as JSON
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
        /// Invoke for real (RequestResponse with --payload); by default verify invokes with
        /// InvocationType=DryRun, which proves the permission and runs no code
        #[arg(long)]
        execute: bool,
        /// The invocation payload (with --execute)
        #[arg(
            long,
            value_name = "JSON",
            default_value = "{\"source\":\"xacct verify\"}",
            requires = "execute"
        )]
        payload: String,
        /// Retry an AccessDenied at the assume and invoke hops for up to this many seconds when the
        /// documents prove the call should work (IAM propagation right after an apply)
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        settle: u64,
        /// For a `source:` file: assume the source role with the ambient credentials first (by
        /// default the ambient credentials must already act as the source role)
        #[arg(long)]
        assume_source: bool,
        /// What replaces a `*` in an API method's path when verify calls it
        #[arg(long, value_name = "SEGMENT", default_value = "verify")]
        api_path_arg: String,
        /// Connect API calls to this host:port instead of the API's own host (TLS SNI, Host and the
        /// signature keep the API's host; env XACCT_EXECUTE_API_ENDPOINT)
        #[arg(long, value_name = "HOST:PORT", env = "XACCT_EXECUTE_API_ENDPOINT")]
        execute_api_endpoint: Option<String>,
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
        /// Send x-amzn-iot-thingname (the thing must be attached to the certificate; needed for
        /// environments gated on devices)
        #[arg(long, value_name = "NAME")]
        thing_name: Option<String>,
        /// The cache directory (default: $XDG_CACHE_HOME/xacct, else ~/.cache/xacct)
        #[arg(long, value_name = "DIR", env = "XACCT_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
        /// Neither read nor write the cache: one request to the credentials endpoint per call
        #[arg(long)]
        no_cache: bool,
        /// Refresh cached credentials this long before they expire (seconds, or 5m)
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::device::parse_duration)]
        refresh_before: i64,
        /// Refresh cached credentials older than this, so that a device removed from a thing group
        /// stops getting new ones soon (seconds, or 15m)
        #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = crate::device::parse_duration)]
        max_age: i64,
    },
    /// Serve a device's credentials to local processes in the form AWS SDKs read from a container
    /// credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE),
    /// refreshed ahead of expiry; loopback only
    ServeCredentials(crate::commands::verify::ServeArgs),
    /// Write what a device needs: an AWS config file with a credential_process profile per
    /// environment its thing may reach, and the fleet file reduced to what `creds` reads
    #[command(
        name = "device-config",
        after_help = "Example:\n  xacct device-config -f fleet.yaml --cert /etc/device.pem.crt --key /etc/device.private.key --thing-name gw-0042 --out /etc/xacct\n  AWS_CONFIG_FILE=/etc/xacct/config aws lambda invoke --profile prd --function-name ingest out.json"
    )]
    DeviceConfig {
        /// The environment file (env XACCT_FILE)
        #[arg(short = 'f', long = "file", value_name = "FILE", env = "XACCT_FILE")]
        file: PathBuf,
        /// The device certificate (PEM), as the device holds it
        #[arg(long, value_name = "PEM")]
        cert: PathBuf,
        /// The device private key (PEM), as the device holds it (never copied)
        #[arg(long, value_name = "PEM")]
        key: PathBuf,
        /// The device's thing name (sent as x-amzn-iot-thingname)
        #[arg(long, value_name = "NAME")]
        thing_name: String,
        /// Where to write `config` and `fleet.yaml`
        #[arg(long, value_name = "DIR", default_value = "xacct-device")]
        out: PathBuf,
        /// Credentials endpoint host[:port] (default: iot.credentials_endpoint, else DescribeEndpoint;
        /// env XACCT_CREDENTIALS_ENDPOINT)
        #[arg(long, value_name = "HOST", env = "XACCT_CREDENTIALS_ENDPOINT")]
        credentials_endpoint: Option<String>,
        /// CA bundle that signs the credentials endpoint (env XACCT_CA_BUNDLE)
        #[arg(long, value_name = "PEM", env = "XACCT_CA_BUNDLE")]
        ca_bundle: Option<PathBuf>,
        /// Also write a systemd unit (xacct-credentials.service) that runs serve-credentials for
        /// this device
        #[arg(long)]
        systemd: bool,
        /// The user the unit runs serve-credentials as (default: the user running device-config)
        #[arg(long, value_name = "USER", requires = "systemd")]
        service_user: Option<String>,
        /// The group whose members' apps may read the unit's token file (0640)
        #[arg(long, value_name = "GROUP", requires = "systemd")]
        token_group: Option<String>,
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
    /// Discover a chain built by hand (from a role alias or a workload role) and write the
    /// environment file that brings it under xacct; then check and lint it as it was found.
    /// Exit 0: a complete file; 2: written, but something needs editing; 1: nothing written
    #[command(group(clap::ArgGroup::new("start").required(true).args(["iot_account", "source_role"])))]
    Import {
        /// The IoT account of the role alias
        #[arg(long, value_name = "ID", requires = "role_alias")]
        iot_account: Option<String>,
        /// The role alias devices get their credentials from
        #[arg(long, value_name = "NAME", requires = "iot_account")]
        role_alias: Option<String>,
        /// The workload role the chain starts at
        #[arg(long, value_name = "ARN", conflicts_with_all = ["iot_account", "role_alias"])]
        source_role: Option<String>,
        /// The region of the chain (default: AWS_REGION)
        #[arg(long)]
        region: Option<String>,
        /// AWS profile for the account the chain starts in
        #[arg(long, conflicts_with = "assume_role")]
        profile: Option<String>,
        /// Role assumed in the account the chain starts in
        #[arg(long, value_name = "ARN")]
        assume_role: Option<String>,
        /// How to reach another account: ACCOUNT=profile:NAME or ACCOUNT=role:ARN (repeatable;
        /// default: the standard credential chain)
        #[arg(long = "access", value_name = "ACCOUNT=HOW")]
        access: Vec<String>,
        /// Write the file here instead of stdout (never overwrites)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The local sandbox: moto behind an IAM-enforcing gateway (STS, Lambda, S3 and KMS decisions),
    /// an emulator of the IoT credentials provider (mutual TLS) and of API Gateway (SigV4)
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
    /// Start the sandbox (moto, the IAM-enforcing gateway, the IoT credentials provider and the API
    /// Gateway emulator); prints the environment to use it, serves until SIGINT/SIGTERM
    #[command(after_help = "Example:\n  xacct sandbox up --bootstrap environments/sandbox.yaml")]
    Up {
        /// Use this moto server instead of starting one
        #[arg(long, value_name = "URL")]
        moto_url: Option<String>,
        /// Create what an organization already has for this file (admin roles, functions, a device
        /// certificate; a source role, buckets with objects, REST APIs); repeatable
        #[arg(long, value_name = "FILE")]
        bootstrap: Vec<PathBuf>,
        /// Where the CA bundle and the bootstrap's device certificate are written
        #[arg(long, value_name = "DIR", default_value = ".xacct/sandbox")]
        dir: PathBuf,
    },
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

fn try_main(cli: Cli) -> Result<ExitCode, Error> {
    let style = crate::output::style(cli.no_color);
    match cli.command {
        Command::Validate(f) => init::validate(&f.file),
        Command::Plan {
            file,
            json,
            detailed_exitcode,
            out,
            envs,
        } => runtime().block_on(plan::plan_cmd(
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
        } => runtime().block_on(plan::apply_cmd(
            planfile.as_deref(),
            file.as_deref(),
            auto_approve,
            adopt,
            &envs,
            style,
        )),
        Command::Destroy { file, auto_approve } => {
            runtime().block_on(plan::destroy_cmd(&file.file, auto_approve, style))
        }
        Command::Check {
            file,
            envs,
            json,
            desired,
        } => runtime().block_on(check::check_cmd(&file.file, &envs, json, desired, style)),
        Command::Import {
            iot_account,
            role_alias,
            source_role,
            region,
            profile,
            assume_role,
            access,
            out,
        } => {
            let from = match (&iot_account, &role_alias, &source_role) {
                (Some(account), Some(alias), None) => {
                    crate::commands::import::From::Alias { account, alias }
                }
                (None, None, Some(role)) => crate::commands::import::From::Source { role },
                _ => return Err(Error::Usage(
                    "import starts at --iot-account ID --role-alias NAME, or at --source-role ARN"
                        .into(),
                )),
            };
            runtime().block_on(crate::commands::import::import_cmd(
                from,
                region.as_deref(),
                profile.as_deref(),
                assume_role.as_deref(),
                &access,
                out.as_deref(),
                style,
            ))
        }
        Command::Lint { file, live, json } => {
            runtime().block_on(check::lint_cmd(&file.file, live, json, style))
        }
        Command::Policy(PolicyCommand::Eval) => check::policy_eval(),
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
            execute,
            payload,
            settle,
            assume_source,
            api_path_arg,
            execute_api_endpoint,
            json,
        } => {
            let opts = crate::verify::Options {
                endpoint: credentials_endpoint,
                ca_bundle,
                thing_name,
                function,
                payload,
                execute,
                settle: std::time::Duration::from_secs(settle),
                assume_source,
                api_path_arg,
                execute_api_endpoint,
            };
            let device = match (cert, key) {
                (Some(c), Some(k)) => Some((c, k)),
                _ => None,
            };
            runtime().block_on(verify::verify_cmd(
                &file.file, &envs, device, ephemeral, opts, json, style,
            ))
        }
        Command::Creds {
            file,
            env,
            cert,
            key,
            ca_bundle,
            credentials_endpoint,
            thing_name,
            cache_dir,
            no_cache,
            refresh_before,
            max_age,
        } => {
            let cache = verify::CacheOptions {
                dir: if no_cache { None } else { Some(cache_dir) },
                policy: crate::device::cache::Policy {
                    refresh_before,
                    max_age,
                },
            };
            let opts = crate::verify::Options {
                endpoint: credentials_endpoint,
                ca_bundle,
                thing_name,
                ..Default::default()
            };
            runtime().block_on(verify::creds_cmd(&file, &env, &cert, &key, opts, cache))
        }
        Command::ServeCredentials(args) => runtime().block_on(verify::serve_credentials_cmd(args)),
        Command::DeviceConfig {
            file,
            cert,
            key,
            thing_name,
            out,
            credentials_endpoint,
            ca_bundle,
            systemd,
            service_user,
            token_group,
        } => runtime().block_on(commands::device::device_config_cmd(
            &file,
            &cert,
            &key,
            &thing_name,
            &out,
            credentials_endpoint,
            ca_bundle,
            systemd.then_some(commands::device::Unit {
                user: service_user,
                token_group,
            }),
        )),
        Command::Schema => {
            print_json(&config::schema());
            Ok(ExitCode::SUCCESS)
        }
        Command::Permissions {
            file,
            command,
            json,
        } => {
            let cfg = config::load(&file.file)?;
            let p = crate::permissions::permissions(&cfg, command);
            if json {
                print_json(&p);
            } else {
                print_out(&crate::permissions::render_human(&p));
            }
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
        } => init::init_cmd(&fleet, &iot_account, &envs, &region, out.as_deref()),
        Command::Sandbox(SandboxCommand::Up {
            moto_url,
            bootstrap,
            dir,
        }) => commands::sandbox::up_cmd(moto_url.as_deref(), &bootstrap, &dir),
    }
}
