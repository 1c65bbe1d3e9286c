//! An ECS Managed Instances task event, through intake, judged end to end (checks + rank). The
//! other identity and registry worlds of issue 3 are saved-Facts cases in
//! `tests/fixtures/checks/` (`world-*`); the same worlds run against moto in `tests/tests/identity.rs`.

use serde_json::json;

use crate::checks::iam::identity_fixtures::*;
use crate::classify::classify;
use crate::judge::judge;
use crate::model::diagnosis::{Diagnosis, RootCause};
use crate::model::facts::{Fact, Facts, LaunchType};

const MANIFEST_403: &str = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1: pulling from host 111122223333.dkr.ecr.us-east-1.amazonaws.com failed with status code [manifests v1]: 403 Forbidden";

fn with_message(mut f: Facts, message: &str) -> Facts {
    f.failure.message = message.into();
    f.failure.classification = classify(message);
    f
}

fn deciding(d: &Diagnosis) -> &crate::model::diagnosis::Finding {
    d.deciding_finding()
        .unwrap_or_else(|| panic!("no deciding finding: {:?}", d.root_cause))
}

fn assert_root(d: &Diagnosis, code: RootCause, evidence: &[&str]) {
    assert_eq!(d.root_cause.code, code, "{:#?}", d.findings);
    let f = deciding(d);
    let text = format!(
        "{} {} {}",
        f.title,
        f.evidence,
        f.remediation.as_deref().unwrap_or("")
    );
    for e in evidence {
        assert!(text.contains(e), "{code}: evidence lacks {e:?}: {text}");
    }
}

/// An `ECS Task State Change` event of a task on ECS Managed Instances, through intake, into the
/// checks. `launch_type` is `None` for an event that names only the capacity provider.
fn managed_instances_event(launch_type: Option<&str>) -> Facts {
    let image = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1";
    let mut detail = json!({
        "taskArn": TASK, "clusterArn": CLUSTER, "lastStatus": "STOPPED", "group": "service:web",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:111122223333:task-definition/web:7",
        "capacityProviderName": "mi-general",
        "containerInstanceArn": "arn:aws:ecs:us-east-1:111122223333:container-instance/prod/0f1e2d",
        "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        "containers": [{"name": "web", "image": image, "lastStatus": "STOPPED", "reason": MANIFEST_403}],
        "attachments": [{"id": "a1", "type": "eni", "status": "DELETED",
            "details": [{"name": "subnetId", "value": "subnet-0ab"}, {"name": "networkInterfaceId", "value": "eni-0ab"}]}]
    });
    if let Some(l) = launch_type {
        detail["launchType"] = json!(l);
    }
    let event = json!({"version": "0", "id": "mi-1", "detail-type": "ECS Task State Change", "source": "aws.ecs",
        "account": ACCOUNT, "time": "2026-11-23T08:00:00Z", "region": "us-east-1", "resources": [TASK], "detail": detail});
    let crate::intake::Intake::PullFailure(failure) = crate::intake::intake(&event) else {
        panic!("not a pull failure")
    };
    let mut f = with_message(world(), &failure.message);
    f.task = failure.task.clone();
    if let Fact::Found { value } = &mut f.task_definition {
        value.execution_role_arn = None;
        value.requires_compatibilities = vec!["MANAGED_INSTANCES".into()];
        value.network_mode = Some("awsvpc".into());
    }
    f.identity.execution_role = Fact::NotCollected {
        reason: "the task definition has no execution role".into(),
    };
    f.identity.pull_simulation = Fact::NotCollected {
        reason: "no role pulls the image".into(),
    };
    f
}

/// On ECS Managed Instances the execution role pulls, as on Fargate: without one the culprit is
/// the missing execution role, never the instance profile's role — whether the event gives the
/// launch type or only the capacity provider (then the task definition's compatibility tells).
#[test]
fn managed_instances_task_without_an_execution_role() {
    for launch_type in [Some("MANAGED_INSTANCES"), None] {
        let f = managed_instances_event(launch_type);
        assert_eq!(
            f.task.launch_type.as_ref().map(LaunchType::as_str),
            launch_type
        );
        assert_eq!(f.task.capacity_provider.as_deref(), Some("mi-general"));
        let d = judge(&f);
        assert_root(
            &d,
            RootCause::IamExecutionRoleMissing,
            &[
                "no execution role",
                "ECS Managed Instances",
                "AmazonECSTaskExecutionRolePolicy",
            ],
        );
        assert!(
            d.findings
                .iter()
                .all(|x| x.code != RootCause::IamInstanceRolePermissions),
            "{launch_type:?}: {:#?}",
            d.findings
        );
    }
}
