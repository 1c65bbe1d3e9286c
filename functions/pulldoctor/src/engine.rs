//! The engine: collect → checks → rank for one failure. The CLI and the Lambda both call this.

use std::time::Instant;

use crate::checks;
use crate::collect::{self, Clients};
use crate::diagnosis::{Diagnosis, FailureSummary, TaskSummary, SCHEMA};
use crate::facts::Facts;
use crate::intake::PullFailure;
use crate::rank::rank;

/// Diagnose one failure against AWS.
pub async fn diagnose(clients: &Clients, failure: &PullFailure) -> (Facts, Diagnosis) {
    let started = Instant::now();
    let facts = collect::collect(clients, failure).await;
    let mut diagnosis = judge(&facts);
    diagnosis.duration_ms = started.elapsed().as_millis() as u64;
    (facts, diagnosis)
}

/// Judge a Facts snapshot: pure, so a saved snapshot can be re-judged offline.
pub fn judge(facts: &Facts) -> Diagnosis {
    let findings = checks::run_all(facts);
    let (root_cause, _) = rank(&findings, &facts.failure.classification);
    let task = &facts.task;
    Diagnosis {
        schema: SCHEMA.to_string(),
        event_id: facts.event_id.clone(),
        account: facts.account.clone(),
        region: facts.region.clone(),
        task: TaskSummary {
            arn: task.arn.clone(),
            cluster: task.cluster_arn.as_deref().map(cluster_name).map(str::to_string),
            group: task.group.clone(),
            launch_type: task.launch_type.clone().or_else(|| task.capacity_provider.clone()),
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
    }
}

/// `arn:aws:ecs:r:a:cluster/prod` → `prod`; a bare name stays as it is.
pub fn cluster_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
