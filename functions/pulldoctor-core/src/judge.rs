//! Judge a Facts snapshot: checks → rank → the history sections. Pure, so a saved snapshot can be
//! re-judged offline, and every front door (CLI, Lambda, preflight, tests) judges the same way.

use crate::checks;
use crate::history;
use crate::model::arn::cluster_name;
use crate::model::diagnosis::{
    Diagnosis, FailureSummary, OtherFailure, Status, TaskSummary, SCHEMA,
};
use crate::model::facts::{Facts, LaunchType};
use crate::rank::rank;

/// Judge the Facts of another failing image of the task: its root cause and the checks that did
/// not pass.
pub fn judge_other(facts: &Facts) -> OtherFailure {
    let d = judge(facts);
    OtherFailure {
        failure: d.failure,
        root_cause: d.root_cause,
        findings: d
            .findings
            .into_iter()
            .filter(|f| f.status != Status::Pass)
            .collect(),
    }
}

/// Judge a Facts snapshot: pure, so a saved snapshot can be re-judged offline. The history
/// sections come from the history facts, if the snapshot has them.
pub fn judge(facts: &Facts) -> Diagnosis {
    let findings = checks::run_all(facts);
    let (root_cause, _) = rank(&findings, &facts.failure.classification);
    let task = &facts.task;
    let mut diagnosis = Diagnosis {
        schema: SCHEMA.to_string(),
        event_id: facts.event_id.clone(),
        account: facts.account.clone(),
        region: facts.region.clone(),
        task: TaskSummary {
            arn: task.arn.clone(),
            cluster: task
                .cluster_arn
                .as_deref()
                .map(cluster_name)
                .map(str::to_string),
            group: task.group.clone(),
            launch_type: task
                .launch_type
                .as_ref()
                .map(LaunchType::to_string)
                .or_else(|| task.capacity_provider.clone()),
            platform_version: task.platform_version.clone(),
            source: task.source,
        },
        failure: FailureSummary {
            container: facts.failure.container.clone(),
            image: facts.failure.image.clone(),
            message: facts.failure.message.clone(),
            category: facts.failure.classification.category,
        },
        root_cause,
        findings,
        aws_calls: facts.aws_calls,
        duration_ms: 0,
        other_failures: vec![],
        deploy: None,
        changes: None,
        blast_radius: None,
    };
    history::attach(facts, &mut diagnosis);
    diagnosis
}
