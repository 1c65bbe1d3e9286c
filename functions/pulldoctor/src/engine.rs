//! The engine: collect → checks → rank for one failure. The CLI and the Lambda both call this.
//! Judging (checks → rank → history) is pure and lives in the core crate ([`judge`]).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::collect::{self, Clients};
use crate::intake::{self, PullFailure};
pub use crate::judge::{judge, judge_other};
use crate::model::diagnosis::Diagnosis;
use crate::model::facts::Facts;

/// Diagnose one failure against AWS (and the task's other failing images, if any: see
/// [`Diagnosis::other_failures`]).
pub async fn diagnose(clients: &Clients, failure: &PullFailure) -> (Facts, Diagnosis) {
    let run = diagnose_with(clients, failure, collect::Options::default()).await;
    (run.facts, run.diagnosis)
}

/// Diagnose one failure, giving up reads still unanswered at `deadline`: the diagnosis then
/// says what it has, and the checks whose facts were cut short are `unknown` ("Deadline: …").
/// The Lambda passes a deadline well inside its own timeout, keeping time to publish.
pub async fn diagnose_within(
    clients: &Clients,
    failure: &PullFailure,
    deadline: Instant,
    history: bool,
) -> (Facts, Diagnosis) {
    let run = diagnose_with(
        clients,
        failure,
        collect::Options {
            deadline: Some(deadline.into()),
            history,
        },
    )
    .await;
    (run.facts, run.diagnosis)
}

/// How long a diagnosis may read at most, whatever the Lambda timeout.
pub const READ_BUDGET: Duration = Duration::from_secs(20);
/// Time kept after the reads to judge, publish and log before the Lambda is cut off.
pub const PUBLISH_RESERVE: Duration = Duration::from_secs(10);

/// The read deadline inside a Lambda invocation whose own deadline is `lambda_deadline_ms`
/// (milliseconds since the Unix epoch, as the Runtime API gives it): [`READ_BUDGET`] from now,
/// or earlier so that [`PUBLISH_RESERVE`] remains. `0` (no deadline known, as in a test
/// context) gives the full budget.
pub fn deadline_for(lambda_deadline_ms: u64) -> Instant {
    if lambda_deadline_ms == 0 {
        return Instant::now() + READ_BUDGET;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(lambda_deadline_ms.saturating_sub(now_ms));
    Instant::now() + READ_BUDGET.min(left.saturating_sub(PUBLISH_RESERVE))
}

/// One diagnosis with what its reads cost (calls, dependent rounds, each call's timing).
#[derive(Debug)]
pub struct Run {
    pub facts: Facts,
    pub diagnosis: Diagnosis,
    pub stats: collect::CallStats,
    /// What the history reads cost (what changed, who else is hit), beside the diagnosis's own
    /// reads; `None` with history off.
    pub history_stats: Option<collect::CallStats>,
}

/// [`diagnose`] with collection options, returning the call statistics too.
pub async fn diagnose_with(
    clients: &Clients,
    failure: &PullFailure,
    options: collect::Options,
) -> Run {
    let started = Instant::now();
    let others = intake::other_failures(failure);
    let (facts, other_facts, stats) = collect::collect_group(
        clients,
        failure,
        &others,
        &collect::Supplied::default(),
        options,
    )
    .await;
    let mut diagnosis = judge(&facts);
    diagnosis.other_failures = other_facts.iter().map(judge_other).collect();
    let mut run = Run {
        facts,
        diagnosis,
        stats,
        history_stats: None,
    };
    if options.history {
        add_history(clients, &mut run, options).await;
    }
    run.diagnosis.duration_ms = started.elapsed().as_millis() as u64;
    run
}

/// The history stage on its own, after the root cause (its reads look up the resources the root
/// cause names): what changed and who else is hit. The Lambda runs it only for a diagnosis it
/// will send: the rest of a storm is counted, and needs none of it.
pub async fn add_history(clients: &Clients, run: &mut Run, options: collect::Options) {
    let started = Instant::now();
    let history = Box::pin(collect::history::read(
        clients,
        &mut run.facts,
        &run.diagnosis,
        options,
    ))
    .await;
    run.facts.aws_calls += history.calls;
    run.facts.aws_failures += history.failed;
    let others = std::mem::take(&mut run.diagnosis.other_failures);
    let duration = run.diagnosis.duration_ms;
    run.diagnosis = judge(&run.facts);
    run.diagnosis.other_failures = others;
    run.diagnosis.duration_ms = duration + started.elapsed().as_millis() as u64;
    run.history_stats = Some(history);
}
