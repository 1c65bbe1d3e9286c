//! An incident: one failure — *what* is failing (account, region, cluster, service or family,
//! image), not *why* — from its first notification to its recovery or expiry. A later diagnosis
//! of the same failure that finds a better root cause updates the incident; it never opens a
//! second one. The notify side keeps incidents in DynamoDB ([`crate::notify::incident`]); every
//! sink renders what it says from a [`Notice`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::diagnosis::Diagnosis;

/// What is failing. Two diagnoses with the same key are the same incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentKey {
    pub account: Option<String>,
    pub region: Option<String>,
    pub cluster: Option<String>,
    /// The service's name (a service task), else None.
    pub service: Option<String>,
    /// The task definition family (a standalone task), else None.
    pub family: Option<String>,
    pub image: Option<String>,
}

impl IncidentKey {
    pub fn of(d: &Diagnosis) -> IncidentKey {
        let service = d.service_name().map(str::to_string);
        let family = match service {
            Some(_) => None,
            // A standalone task's group is `family:NAME` (RunTask's default).
            None => d
                .task
                .group
                .as_deref()
                .and_then(|g| g.strip_prefix("family:"))
                .or_else(|| d.task.arn.as_deref().and_then(|a| a.rsplit('/').next()))
                .map(str::to_string),
        };
        IncidentKey {
            account: d.account.clone(),
            region: d.region.clone(),
            cluster: d.task.cluster.clone(),
            service,
            family,
            image: d.failure.image.clone(),
        }
    }

    /// 32 hex characters: the incident's id, the dedup table's key and (prefixed) PagerDuty's
    /// `dedup_key`.
    pub fn id(&self) -> String {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let subject = match (&self.service, &self.family) {
            (Some(s), _) => format!("service:{s}"),
            (None, Some(f)) => format!("family:{f}"),
            (None, None) => "-".into(),
        };
        let parts = [
            or_dash(&self.account),
            or_dash(&self.region),
            or_dash(&self.cluster),
            subject,
            or_dash(&self.image),
        ];
        let digest = Sha256::digest(parts.join("\n").as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// The service this incident recovers with (`SERVICE_STEADY_STATE`): `account/region/cluster/service`.
    /// None for a standalone task family, which has no recovery signal.
    pub fn service_key(&self) -> Option<String> {
        Some(service_key(
            self.account.as_deref()?,
            self.region.as_deref()?,
            self.cluster.as_deref()?,
            self.service.as_deref()?,
        ))
    }
}

/// `account/region/cluster/service`: how service events find a service's incidents.
pub fn service_key(account: &str, region: &str, cluster: &str, service: &str) -> String {
    format!("{account}/{region}/{cluster}/{service}")
}

/// PagerDuty's `dedup_key` for an incident id (the Events API allows 255 characters).
pub fn dedup_key(incident_id: &str) -> String {
    format!("pulldoctor/{incident_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Resolved,
    /// A standalone task family's incident at the end of its window (no recovery signal exists).
    Expired,
}

/// Where the Slack app posted the incident's message, so later notices edit it and reply in its
/// thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackMessageRef {
    pub channel: String,
    pub ts: String,
}

/// One incident, as the notify side keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// [`IncidentKey::id`].
    pub id: String,
    pub key: IncidentKey,
    /// What failed, for headlines: the service name, else the family (see `report::subject_name`).
    pub subject: String,
    pub status: IncidentStatus,
    /// Unix seconds of the first notification.
    pub opened_at: i64,
    /// Unix seconds of the latest failure counted.
    pub last_failure_at: i64,
    /// Failed tasks counted so far, the first included.
    pub failures: u64,
    /// The current root cause code and title (a later, better diagnosis replaces them).
    pub root_cause: String,
    pub title: String,
    /// The failing task definition (`family:revision`), when known.
    #[serde(default)]
    pub task_definition: Option<String>,
    #[serde(default)]
    pub slack: Option<SlackMessageRef>,
    /// The failed deployment joined to this incident, if ECS reported one.
    #[serde(default)]
    pub deployment: Option<FailedDeployment>,
}

impl Incident {
    /// The incident `d` opens at `now` (or belongs to, when the table cannot say more).
    pub fn opening(d: &Diagnosis, task_definition: Option<String>, now: i64) -> Incident {
        let key = IncidentKey::of(d);
        Incident {
            id: key.id(),
            subject: d.subject_name(),
            status: IncidentStatus::Open,
            opened_at: now,
            last_failure_at: now,
            failures: 1,
            root_cause: d.root_cause.code.code().to_string(),
            title: d.root_cause.title.clone(),
            task_definition,
            slack: None,
            deployment: None,
            key,
        }
    }

    pub fn dedup_key(&self) -> String {
        dedup_key(&self.id)
    }
}

/// An `ECS Deployment State Change` / `SERVICE_DEPLOYMENT_FAILED` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedDeployment {
    pub deployment_id: String,
    /// ECS's reason, e.g. "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/…".
    pub reason: Option<String>,
    /// The deployment ECS rolls back to, when the reason names one.
    pub rollback_deployment_id: Option<String>,
    /// The task definition rolled back to (`family:revision`), when known.
    pub rolled_back_to: Option<String>,
    /// The task definition that failed (`family:revision`), when known.
    pub failed_revision: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

/// How an incident ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resolution {
    /// The service reached steady state (`SERVICE_STEADY_STATE`).
    SteadyState {
        at: i64,
        /// The task definition the service is steady on, when read.
        steady_on: Option<String>,
        /// The service got there by rolling back (or being redeployed) away from the failing
        /// revision: that revision's image still cannot be pulled.
        rolled_back: bool,
    },
    /// A standalone task family's incident at the end of its window.
    Expired { at: i64 },
}

/// What one invocation tells the sinks about an incident.
#[derive(Debug, Clone, Copy)]
pub enum Notice<'a> {
    /// The first failure: page.
    Opened {
        incident: &'a Incident,
        diagnosis: &'a Diagnosis,
    },
    /// A later failure of an open incident: the counter moves; `news` lists what this diagnosis
    /// adds (another subnet, another image, a better root cause), empty when nothing.
    Updated {
        incident: &'a Incident,
        diagnosis: &'a Diagnosis,
        news: &'a [String],
        cause_changed: bool,
    },
    /// Recovery or expiry.
    Resolved {
        incident: &'a Incident,
        resolution: &'a Resolution,
    },
    /// A circuit-breaker failure of the service the incidents belong to (at least one).
    DeploymentFailed {
        deployment: &'a FailedDeployment,
        service: &'a str,
        incidents: &'a [Incident],
    },
}

/// What a diagnosis says about where and why the failure happens, as `kind:value` keys an
/// incident remembers, with their wording. A later failure with keys the incident has not seen
/// brings news (another subnet, another failing image, another root cause).
pub fn traits_of(d: &Diagnosis) -> Vec<(String, String)> {
    let mut traits = vec![(
        format!("cause:{}", d.root_cause.code.code()),
        format!(
            "root cause {}: {}",
            d.root_cause.code.code(),
            d.root_cause.title
        ),
    )];
    if let Some(subnet) = d.subnet() {
        traits.push((
            format!("subnet:{subnet}"),
            format!("a task in subnet {subnet} failed too"),
        ));
    }
    for other in &d.other_failures {
        if let Some(image) = &other.failure.image {
            traits.push((
                format!("image:{image}"),
                format!(
                    "{image} fails in the same task ({})",
                    other.root_cause.code.code()
                ),
            ));
        }
    }
    traits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn the_key_is_what_fails_not_why() {
        let a = sample();
        let mut other_task = sample();
        other_task.task.arn = Some("arn:aws:ecs:us-east-1:111122223333:task/prod/ffff".into());
        let mut other_cause = sample();
        other_cause.root_cause.code = crate::model::diagnosis::RootCause::NetNoRoute;
        let mut other_image = sample();
        other_image.failure.image = Some("x:v10".into());
        let id = IncidentKey::of(&a).id();
        assert_eq!(IncidentKey::of(&other_task).id(), id);
        assert_eq!(
            IncidentKey::of(&other_cause).id(),
            id,
            "a better root cause is the same incident"
        );
        assert_ne!(IncidentKey::of(&other_image).id(), id);
        assert_eq!(id.len(), 32);
        assert!(dedup_key(&id).len() <= 255);
    }
}
