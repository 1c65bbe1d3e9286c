//! The command line: the same engine as the Lambda, for on-call engineers and for replaying events.
//!
//! Exit codes (docs/cli.md): 0 diagnosis produced, 1 usage or input error (an unknown code for
//! `explain` too), 2 AWS access failed entirely. `preflight` adds 3: a check fails (or warns, with
//! `--strict`).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::checks::catalog;
use crate::classify::classify;
use crate::collect::{self, Clients};
use crate::engine;
use crate::intake::{intake, pull_failure_of, Intake, PullFailure};
use crate::model::facts::Facts;
use crate::report::{self, Format};

#[derive(Parser, Debug)]
#[command(
    name = "pulldoctor",
    version,
    about = "Explains why an ECS task could not pull its container image"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Diagnose a failed pull, from a saved EventBridge event or from a stopped task.
    Diagnose(DiagnoseArgs),
    /// Classify a CannotPullContainerError message (no AWS access).
    Classify {
        /// The stopped reason or container reason.
        message: String,
        #[arg(long, value_enum, default_value_t = ClassifyFormat::Text)]
        format: ClassifyFormat,
    },
    /// Check, before a deploy, that the tasks a service or task definition would start can pull
    /// their images (exit 3 when a check fails).
    Preflight(Box<PreflightArgs>),
    /// Explain a root-cause code: what breaks, why, how to fix it, where the check runs and what
    /// it reads (no AWS access).
    Explain {
        /// A root-cause code (`NET_NO_ROUTE`) or a check name (`subnet_route`).
        code: String,
    },
    /// List every root-cause code with its title, where its check runs and the AWS reads it needs
    /// (no AWS access).
    Checks {
        #[arg(long, value_enum, default_value_t = ChecksFormat::Text)]
        format: ChecksFormat,
    },
    /// Re-judge a saved Facts snapshot offline (see `diagnose --save-facts`).
    Judge {
        #[arg(long, value_name = "FILE")]
        facts: PathBuf,
        #[arg(long, default_value = "text", value_parser = parse_format, value_name = FORMATS)]
        format: Format,
    },
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["event", "task"])))]
pub struct DiagnoseArgs {
    /// An EventBridge `ECS Task State Change` event as JSON (`-` reads standard input).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cluster", "task"])]
    pub event: Option<PathBuf>,
    /// Cluster name or ARN of the stopped task.
    #[arg(long, requires = "task")]
    pub cluster: Option<String>,
    /// Task id or ARN (stopped tasks stay visible for about an hour).
    #[arg(long, requires = "cluster")]
    pub task: Option<String>,
    /// AWS region (default: from the environment or the task ARN).
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, default_value = "text", value_parser = parse_format, value_name = FORMATS)]
    pub format: Format,
    /// Also write the collected Facts snapshot to FILE, for `pulldoctor judge` or a bug report.
    #[arg(long, value_name = "FILE")]
    pub save_facts: Option<PathBuf>,
    /// Skip what changed and who else is hit (the deploy's history, CloudTrail, other services):
    /// the diagnosis alone, with fewer AWS reads.
    #[arg(long)]
    pub no_history: bool,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit codes: 0 nothing fails, 1 usage or input error, 2 AWS access failed entirely, \
3 a check fails (or warns, with --strict)."
)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PreflightArgs {
    #[command(subcommand)]
    pub target: Option<PreflightTarget>,
    /// ECS cluster name or ARN.
    #[arg(long, required = true)]
    pub cluster: Option<String>,
    /// The service whose next tasks to check: its task definition (unless --task-definition),
    /// subnets, security groups, assignPublicIp, launch type and platform version.
    #[arg(long)]
    pub service: Option<String>,
    /// A registered revision (ARN, family:revision) or a task definition JSON file not registered
    /// yet (register-task-definition input or describe-task-definition output).
    #[arg(long, value_name = "ARN|FILE.json")]
    pub task_definition: Option<String>,
    /// Subnets to check (comma-separated); default: the service's.
    #[arg(long, value_delimiter = ',', value_name = "SUBNET,...")]
    pub subnets: Vec<String>,
    /// Task security groups (comma-separated); default: the service's.
    #[arg(long, value_delimiter = ',', value_name = "SG,...")]
    pub security_groups: Vec<String>,
    /// The task gets a public IP (assignPublicIp ENABLED).
    #[arg(long)]
    pub assign_public_ip: bool,
    /// FARGATE, EC2 or MANAGED_INSTANCES (default: the service's, else from the task definition).
    #[arg(long)]
    pub launch_type: Option<String>,
    /// Fargate platform version (default: the service's, else LATEST).
    #[arg(long)]
    pub platform_version: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_enum, default_value_t = PreflightFormat::Text)]
    pub format: PreflightFormat,
    /// Exit 3 on warnings too.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Subcommand, Debug)]
pub enum PreflightTarget {
    /// An EKS managed node group or Fargate profile: can its nodes / pods pull these images?
    Eks(EksPreflightArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("eks_target").required(true).multiple(false)))]
#[command(
    after_help = "Exit codes: 0 nothing fails, 1 usage or input error, 2 AWS access failed entirely, \
3 a check fails (or warns, with --strict)."
)]
pub struct EksPreflightArgs {
    /// EKS cluster name.
    #[arg(long)]
    pub cluster: String,
    /// Managed node group whose nodes would pull.
    #[arg(long, group = "eks_target")]
    pub nodegroup: Option<String>,
    /// Fargate profile whose pods would pull (with its pod execution role).
    #[arg(long, group = "eks_target")]
    pub fargate_profile: Option<String>,
    /// Images the pods will use (repeat, or comma-separated).
    #[arg(
        long = "image",
        value_delimiter = ',',
        required = true,
        value_name = "IMAGE"
    )]
    pub images: Vec<String>,
    /// Node / pod subnets to check (default: the node group's or Fargate profile's).
    #[arg(long, value_delimiter = ',', value_name = "SUBNET,...")]
    pub subnets: Vec<String>,
    /// Node / pod security groups (default: the launch template's, else the cluster security group;
    /// Fargate pods: the cluster security group).
    #[arg(long, value_delimiter = ',', value_name = "SG,...")]
    pub security_groups: Vec<String>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_enum, default_value_t = PreflightFormat::Text)]
    pub format: PreflightFormat,
    /// Exit 3 on warnings too.
    #[arg(long)]
    pub strict: bool,
}

/// The formats `report::Format` renders (one list: the report's parser is the CLI's).
const FORMATS: &str = "text|markdown|json|slack|sns|chatbot";

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// A preflight report is for a pipeline log or a pull-request comment, not a page.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PreflightFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClassifyFormat {
    Text,
    Json,
}

/// `markdown` is the code table of docs/root-causes.md.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChecksFormat {
    Text,
    Markdown,
    Json,
}

/// An error that ends the command, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Input(String),
    #[error("AWS access failed: {0}")]
    Aws(String),
    /// Preflight: a check fails (the report is on standard output).
    #[error("{0}")]
    ChecksFailed(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Input(_) => ExitCode::from(1),
            CliError::Aws(_) => ExitCode::from(2),
            CliError::ChecksFailed(_) => ExitCode::from(3),
        }
    }
}

/// Parse arguments and run; usage errors exit 1 (clap's own default would be 2, which here means
/// an AWS failure).
pub async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli).await {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err((output, err)) => {
            if let Some(out) = output {
                print!("{out}");
            }
            eprintln!("pulldoctor: {err}");
            err.exit_code()
        }
    }
}

type RunResult = Result<String, (Option<String>, CliError)>;

pub async fn run(cli: Cli) -> RunResult {
    match cli.command {
        Command::Classify { message, format } => {
            let c = classify(&message);
            Ok(match format {
                ClassifyFormat::Json => {
                    format!("{}\n", serde_json::to_string(&c).expect("serializable"))
                }
                ClassifyFormat::Text => classify_text(&c),
            })
        }
        Command::Explain { code } => match catalog::find(&code) {
            Some(entry) => Ok(catalog::explain(&entry)),
            None => Err((
                None,
                CliError::Input(format!(
                    "{code} is not a root-cause code or check name; `pulldoctor checks` lists them"
                )),
            )),
        },
        Command::Checks { format } => Ok(match format {
            ChecksFormat::Text => catalog::list_text(),
            ChecksFormat::Markdown => catalog::list_markdown(),
            ChecksFormat::Json => format!(
                "{}\n",
                serde_json::to_string_pretty(&catalog::list_json()).expect("serializable")
            ),
        }),
        Command::Judge { facts, format } => {
            let text = read_input(&facts).map_err(|e| (None, e))?;
            let not_facts = |e: String| {
                (
                    None,
                    CliError::Input(format!("{} is not a Facts snapshot: {e}", facts.display())),
                )
            };
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| not_facts(e.to_string()))?;
            // A saved case written as a base and a patch (tests/fixtures/checks) is judged whole.
            let value = match value.get("$base") {
                Some(_) => crate::snapshot::load_file(&facts).map_err(not_facts)?,
                None => value,
            };
            let facts: Facts =
                serde_json::from_value(value).map_err(|e| not_facts(e.to_string()))?;
            Ok(with_newline(report::render(&engine::judge(&facts), format)))
        }
        Command::Diagnose(args) => diagnose(args).await,
        Command::Preflight(args) => preflight_ecs(*args).await,
    }
}

async fn preflight_ecs(args: PreflightArgs) -> RunResult {
    use crate::preflight::{self, Request, TaskDefinitionInput};
    let input_err = |e: CliError| (None, e);
    if let Some(PreflightTarget::Eks(eks)) = args.target {
        return preflight_eks(eks).await;
    }
    let cluster = args
        .cluster
        .clone()
        .ok_or_else(|| input_err(CliError::Input("give --cluster".into())))?;
    let task_definition = match &args.task_definition {
        None => None,
        Some(given) => {
            let path = PathBuf::from(given);
            if given.ends_with(".json") || path.is_file() || given == "-" {
                let text = read_input(&path).map_err(input_err)?;
                let td = preflight::inputs::task_definition_from_json(&text, given)
                    .map_err(|e| input_err(CliError::Input(e)))?;
                Some(TaskDefinitionInput::Document {
                    source: given.clone(),
                    task_definition: Box::new(td),
                })
            } else {
                Some(TaskDefinitionInput::Registered(given.clone()))
            }
        }
    };
    if args.service.is_none() && (task_definition.is_none() || args.subnets.is_empty()) {
        return Err(input_err(CliError::Input(
            "give --service, or --task-definition with --subnets and --security-groups".into(),
        )));
    }
    let request = Request {
        cluster: cluster.clone(),
        service: args.service.clone(),
        task_definition,
        subnets: args.subnets.clone(),
        security_groups: args.security_groups.clone(),
        assign_public_ip: args.assign_public_ip,
        launch_type: args.launch_type.clone(),
        platform_version: args.platform_version.clone(),
    };
    let region = args
        .region
        .clone()
        .or_else(|| crate::model::arn::region(&cluster).map(str::to_string));
    let clients = Clients::new(&load_config(region).await);
    let plan = preflight::plan(&clients, &request)
        .await
        .map_err(|e| input_err(e.into()))?;
    preflight_report(&clients, &plan, args.format, args.strict).await
}

async fn preflight_eks(args: EksPreflightArgs) -> RunResult {
    use crate::preflight::eks::{self, EksRequest};
    let request = EksRequest {
        cluster: args.cluster.clone(),
        target: match (&args.nodegroup, &args.fargate_profile) {
            (_, Some(profile)) => eks::EksTarget::FargateProfile(profile.clone()),
            (Some(nodegroup), None) => eks::EksTarget::Nodegroup(nodegroup.clone()),
            (None, None) => {
                return Err((
                    None,
                    CliError::Input("give --nodegroup or --fargate-profile".into()),
                ))
            }
        },
        images: args.images.clone(),
        subnets: args.subnets.clone(),
        security_groups: args.security_groups.clone(),
    };
    let clients = Clients::new(&load_config(args.region.clone()).await);
    let plan = eks::plan(&clients, &request)
        .await
        .map_err(|e| (None, e.into()))?;
    preflight_report(&clients, &plan, args.format, args.strict).await
}

impl From<crate::preflight::PreflightError> for CliError {
    fn from(e: crate::preflight::PreflightError) -> CliError {
        match e {
            crate::preflight::PreflightError::Input(m) => CliError::Input(m),
            crate::preflight::PreflightError::Aws(m) => CliError::Aws(m),
        }
    }
}

/// Run a plan, render it, and map the verdict to the exit code.
async fn preflight_report(
    clients: &Clients,
    plan: &crate::preflight::Plan,
    format: PreflightFormat,
    strict: bool,
) -> RunResult {
    use crate::preflight;
    let (report, facts) = preflight::run(clients, plan).await;
    let output = with_newline(match format {
        PreflightFormat::Text => preflight::report::text(&report),
        PreflightFormat::Markdown => preflight::report::markdown(&report),
        PreflightFormat::Json => preflight::report::json(&report),
    });
    if let Some(reason) = facts
        .iter()
        .map(all_reads_failed)
        .collect::<Option<Vec<_>>>()
        .and_then(|r| r.into_iter().next())
    {
        return Err((Some(output), CliError::Aws(reason)));
    }
    if report.blocks(strict) {
        let failing: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| match f.finding.status {
                crate::model::diagnosis::Status::Fail => true,
                crate::model::diagnosis::Status::Warn => strict,
                _ => false,
            })
            .map(|f| f.finding.code.code())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return Err((
            Some(output),
            CliError::ChecksFailed(format!(
                "preflight {}: {}",
                report.verdict.as_str(),
                failing.join(", ")
            )),
        ));
    }
    Ok(output)
}

async fn diagnose(args: DiagnoseArgs) -> RunResult {
    let input_err = |e: CliError| (None, e);
    let failure = match (&args.event, &args.cluster, &args.task) {
        (Some(path), _, _) => {
            let text = read_input(path).map_err(input_err)?;
            let event: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                input_err(CliError::Input(format!(
                    "{} is not JSON: {e}",
                    path.display()
                )))
            })?;
            match intake(&event) {
                Intake::PullFailure(f) => *f,
                Intake::Ignored { reason, .. } => {
                    return Err(input_err(CliError::Input(format!("the event is not an image pull failure: {reason}"))))
                }
                Intake::Service(e) => {
                    return Err(input_err(CliError::Input(format!(
                        "the event is a service event of {}/{}, not an image pull failure (only the Lambda acts on it)",
                        e.cluster, e.service
                    ))))
                }
            }
        }
        (None, Some(cluster), Some(task)) => {
            let region = args
                .region
                .clone()
                .or_else(|| crate::model::arn::region(task).map(str::to_string));
            let config = load_config(region).await;
            describe_stopped_task(&Clients::new(&config), cluster, task)
                .await
                .map_err(input_err)?
        }
        _ => {
            return Err(input_err(CliError::Input(
                "give --event FILE, or --cluster and --task".into(),
            )))
        }
    };
    // The task's own region wins over the environment's default: that is where its resources are.
    let config = load_config(args.region.clone().or_else(|| failure.region.clone())).await;
    let options = crate::collect::Options {
        history: !args.no_history,
        ..Default::default()
    };
    let engine::Run {
        facts, diagnosis, ..
    } = engine::diagnose_with(&Clients::new(&config), &failure, options).await;
    if let Some(path) = &args.save_facts {
        let json = serde_json::to_string_pretty(&facts).expect("serializable");
        std::fs::write(path, json).map_err(|e| {
            input_err(CliError::Input(format!(
                "cannot write {}: {e}",
                path.display()
            )))
        })?;
    }
    let output = with_newline(report::render(&diagnosis, args.format));
    match all_reads_failed(&facts) {
        Some(reason) => Err((Some(output), CliError::Aws(reason))),
        None => Ok(output),
    }
}

async fn load_config(region: Option<String>) -> aws_config::SdkConfig {
    let mut loader = crate::aws::config_loader();
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    loader.load().await
}

/// The first failure reason when every AWS read failed (nothing at all was learned from AWS).
fn all_reads_failed(facts: &Facts) -> Option<String> {
    if facts.aws_calls == 0 || facts.aws_failures < facts.aws_calls {
        return None;
    }
    let gaps = [
        facts.task.source_note.clone(),
        facts.task_definition.gap().map(str::to_string),
        facts.repository.gap().map(str::to_string),
    ];
    Some(
        gaps.into_iter()
            .flatten()
            .next()
            .unwrap_or_else(|| "every AWS call failed".into()),
    )
}

/// `diagnose --cluster --task`: read the task, then treat it like an event.
async fn describe_stopped_task(
    clients: &Clients,
    cluster: &str,
    task: &str,
) -> Result<PullFailure, CliError> {
    let out = clients
        .ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(task)
        .send()
        .await
        .map_err(|e| {
            CliError::Aws(format!(
                "{:?}",
                collect::read_failure("ecs:DescribeTasks", &[], &e)
            ))
        })?;
    let Some(t) = out.tasks().first() else {
        let why = out
            .failures()
            .first()
            .and_then(|f| f.reason())
            .unwrap_or("not returned");
        return Err(CliError::Input(format!(
            "task {task} not found in cluster {cluster} ({why}); stopped tasks stay visible for about an hour — \
             use --event with the saved EventBridge event instead"
        )));
    };
    let facts = collect::ecs::task_facts(t);
    let mut failure = pull_failure_of(facts).map_err(CliError::Input)?;
    failure.region = failure
        .task
        .arn
        .as_deref()
        .and_then(crate::model::arn::region)
        .map(str::to_string);
    failure.account = failure
        .task
        .arn
        .as_deref()
        .and_then(crate::model::arn::account)
        .map(str::to_string);
    Ok(failure)
}

fn read_input(path: &PathBuf) -> Result<String, CliError> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Input(format!("cannot read standard input: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))
}

fn with_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn classify_text(c: &crate::model::message::Classification) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = format!(
        "category:    {}\nregistry:    {}\nrepository:  {}\nreference:   {}\nhttp_status: {}\nphase:       {}\n",
        c.category.as_str(),
        or_dash(c.registry.clone()),
        or_dash(c.repository.clone()),
        or_dash(c.reference.clone()),
        or_dash(c.http_status.map(|s| s.to_string())),
        or_dash(c.phase.map(|p| serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())),
    );
    if c.categories.len() > 1 {
        let kinds: Vec<&str> = c.categories.iter().map(|k| k.as_str()).collect();
        out.push_str(&format!("consistent with: {}\n", kinds.join(", ")));
    }
    if !c.consistent_with.is_empty() && c.category != crate::model::message::Category::Unknown {
        let codes: Vec<&str> = c.consistent_with.iter().map(|r| r.code()).collect();
        out.push_str(&format!("possible root causes: {}\n", codes.join(", ")));
    }
    if !c.hints.is_empty() {
        out.push_str("likely causes to verify:\n");
        for h in &c.hints {
            out.push_str(&format!("  - {}\n", report::clean(h)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> RunResult {
        let cli = Cli::try_parse_from(std::iter::once("pulldoctor").chain(args.iter().copied()))
            .expect("valid arguments");
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run(cli))
    }

    #[test]
    fn explain_prints_the_rule() {
        let out = run_args(&["explain", "NET_NO_ROUTE"]).unwrap();
        assert!(
            out.starts_with("NET_NO_ROUTE (subnet_route)\nThe subnet has no route to ECR"),
            "{out}"
        );
        assert!(out.contains("\nFix\n  Add a 0.0.0.0/0 route"), "{out}");
        assert!(
            out.contains("\nRuns on:   ECS, EKS nodes, EKS Fargate\n"),
            "{out}"
        );
        assert_eq!(
            run_args(&["explain", "s3_endpoint_policy"]).unwrap(),
            run_args(&["explain", "net_s3_endpoint_policy"]).unwrap()
        );
    }

    #[test]
    fn explain_of_an_unknown_code_is_an_input_error() {
        let Err((output, err)) = run_args(&["explain", "NET_NO_WAY"]) else {
            panic!("an unknown code must fail")
        };
        assert!(output.is_none());
        assert_eq!(
            err.to_string(),
            "NET_NO_WAY is not a root-cause code or check name; `pulldoctor checks` lists them"
        );
        assert_eq!(err.exit_code(), ExitCode::from(1));
    }

    #[test]
    fn checks_lists_every_code_in_each_format() {
        let text = run_args(&["checks"]).unwrap();
        assert!(
            text.starts_with(
                "NET_DNS                         The VPC's DNS setup may not resolve ECR\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("UNKNOWN                         No check explains the failure"),
            "{text}"
        );
        let markdown = run_args(&["checks", "--format", "markdown"]).unwrap();
        assert_eq!(markdown, catalog::list_markdown());
        let json: serde_json::Value =
            serde_json::from_str(&run_args(&["checks", "--format", "json"]).unwrap()).unwrap();
        assert_eq!(json["schema"], "pulldoctor.checks/v1");
        assert_eq!(
            json["checks"].as_array().unwrap().len(),
            crate::model::diagnosis::RootCause::ALL.len()
        );
    }
}
