//! The command line: the same engine as the Lambda, for on-call engineers and for replaying events.
//!
//! Exit codes (DESIGN.md): 0 diagnosis produced, 1 usage or input error, 2 AWS access failed
//! entirely.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::classify::classify;
use crate::collect::{self, Clients};
use crate::engine;
use crate::facts::Facts;
use crate::intake::{intake, pull_failure_of, Intake, PullFailure};
use crate::report::{self, Format};

#[derive(Parser, Debug)]
#[command(name = "pulldoctor", version, about = "Explains why an ECS task could not pull its container image")]
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
    /// Re-judge a saved Facts snapshot offline (see `diagnose --save-facts`).
    Judge {
        #[arg(long, value_name = "FILE")]
        facts: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
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
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Also write the collected Facts snapshot to FILE, for `pulldoctor judge` or a bug report.
    #[arg(long, value_name = "FILE")]
    pub save_facts: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Text,
    Markdown,
    Json,
    Slack,
    Sns,
    Chatbot,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Format {
        match f {
            OutputFormat::Text => Format::Text,
            OutputFormat::Markdown => Format::Markdown,
            OutputFormat::Json => Format::Json,
            OutputFormat::Slack => Format::Slack,
            OutputFormat::Sns => Format::Sns,
            OutputFormat::Chatbot => Format::Chatbot,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClassifyFormat {
    Text,
    Json,
}

/// An error that ends the command, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Input(String),
    #[error("AWS access failed: {0}")]
    Aws(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Input(_) => ExitCode::from(1),
            CliError::Aws(_) => ExitCode::from(2),
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
            return if e.use_stderr() { ExitCode::from(1) } else { ExitCode::SUCCESS };
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
                ClassifyFormat::Json => format!("{}\n", serde_json::to_string(&c).expect("serializable")),
                ClassifyFormat::Text => classify_text(&c),
            })
        }
        Command::Judge { facts, format } => {
            let text = read_input(&facts).map_err(|e| (None, e))?;
            let facts: Facts = serde_json::from_str(&text)
                .map_err(|e| (None, CliError::Input(format!("{} is not a Facts snapshot: {e}", facts.display()))))?;
            Ok(with_newline(report::render(&engine::judge(&facts), format.into())))
        }
        Command::Diagnose(args) => diagnose(args).await,
    }
}

async fn diagnose(args: DiagnoseArgs) -> RunResult {
    let input_err = |e: CliError| (None, e);
    let failure = match (&args.event, &args.cluster, &args.task) {
        (Some(path), _, _) => {
            let text = read_input(path).map_err(input_err)?;
            let event: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| input_err(CliError::Input(format!("{} is not JSON: {e}", path.display()))))?;
            match intake(&event) {
                Intake::PullFailure(f) => *f,
                Intake::Ignored { reason, .. } => {
                    return Err(input_err(CliError::Input(format!("the event is not an image pull failure: {reason}"))))
                }
            }
        }
        (None, Some(cluster), Some(task)) => {
            let region = args.region.clone().or_else(|| collect::arn_region(Some(task)));
            let config = load_config(region).await;
            describe_stopped_task(&Clients::new(&config), cluster, task).await.map_err(input_err)?
        }
        _ => return Err(input_err(CliError::Input("give --event FILE, or --cluster and --task".into()))),
    };
    // The task's own region wins over the environment's default: that is where its resources are.
    let config = load_config(args.region.clone().or_else(|| failure.region.clone())).await;
    let (facts, diagnosis) = engine::diagnose(&Clients::new(&config), &failure).await;
    if let Some(path) = &args.save_facts {
        let json = serde_json::to_string_pretty(&facts).expect("serializable");
        std::fs::write(path, json)
            .map_err(|e| input_err(CliError::Input(format!("cannot write {}: {e}", path.display()))))?;
    }
    let output = with_newline(report::render(&diagnosis, args.format.into()));
    match all_reads_failed(&facts) {
        Some(reason) => Err((Some(output), CliError::Aws(reason))),
        None => Ok(output),
    }
}

async fn load_config(region: Option<String>) -> aws_config::SdkConfig {
    let mut loader = aws_config::from_env();
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
    Some(gaps.into_iter().flatten().next().unwrap_or_else(|| "every AWS call failed".into()))
}

/// `diagnose --cluster --task`: read the task, then treat it like an event.
async fn describe_stopped_task(clients: &Clients, cluster: &str, task: &str) -> Result<PullFailure, CliError> {
    let out = clients
        .ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(task)
        .send()
        .await
        .map_err(|e| CliError::Aws(format!("{:?}", collect::read_failure("ecs:DescribeTasks", &[], &e))))?;
    let Some(t) = out.tasks().first() else {
        let why = out.failures().first().and_then(|f| f.reason()).unwrap_or("not returned");
        return Err(CliError::Input(format!(
            "task {task} not found in cluster {cluster} ({why}); stopped tasks stay visible for about an hour — \
             use --event with the saved EventBridge event instead"
        )));
    };
    let facts = collect::ecs::task_facts(t);
    let mut failure = pull_failure_of(facts).map_err(CliError::Input)?;
    failure.region = collect::arn_region(failure.task.arn.as_deref());
    failure.account = collect::arn_account(failure.task.arn.as_deref());
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
    std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))
}

fn with_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn classify_text(c: &crate::classify::Classification) -> String {
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
    if !c.hints.is_empty() {
        out.push_str("likely causes to verify:\n");
        for h in &c.hints {
            out.push_str(&format!("  - {}\n", report::clean(h)));
        }
    }
    out
}

