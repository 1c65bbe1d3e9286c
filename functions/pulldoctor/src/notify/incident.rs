//! Incidents in the dedup table (partition key `pk`, TTL attribute `expires_at`), beside the
//! event ids of [`super::dedup`]:
//!
//! * `inc#<incident id>`: one item per failure (see [`IncidentKey`]). The first failure opens it
//!   with a conditional write; later ones in its window only add to its counters (one
//!   `UpdateItem` each). After the window the next failure claims a reminder; a standalone task
//!   family's incident expires instead (no recovery signal exists for it).
//! * `svc#<account/region/cluster/service>`: the ids of the service's open incidents, and a
//!   failed deployment that arrived before any of them. A service event reads this item once and
//!   stops there when nothing is open.
//!
//! Every transition is a conditional write, so redelivered events and concurrent Lambdas agree:
//! exactly one invocation opens, reminds, resolves or joins a deployment. Any unexpected DynamoDB
//! error fails open: the caller notifies and records why.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use crate::aws::error::short_error;
use crate::model::diagnosis::{Confidence, Diagnosis, RootCause};
use crate::model::incident::{
    traits_of, FailedDeployment, Incident, IncidentKey, IncidentStatus, SlackMessageRef,
};

/// How long a resolved incident is remembered (so a late failure is seen as a new incident).
const RESOLVED_MEMORY_SECS: i64 = 24 * 3600;
/// An open service incident without a failure or a recovery for this long is treated as expired.
const STALE_SECS: i64 = 24 * 3600;
/// A failed deployment waits this long for its pull-failure incident to open.
const PENDING_DEPLOYMENT_SECS: i64 = 3600;

#[derive(Clone, Debug)]
pub struct IncidentStore {
    client: Client,
    table: String,
    window: Duration,
    /// Chat and paging updates of an open incident without news: at most one per interval.
    update_interval: Duration,
}

/// What a pull failure did to its incident.
#[allow(clippy::large_enum_variant)] // one per invocation, moved once: a box would buy nothing
#[derive(Debug, Clone, PartialEq)]
pub enum FailureStep {
    /// This invocation opened the incident. `expired`: the previous incident of the same standalone
    /// family, which ended with its window (tell the sinks it expired).
    Opened {
        incident: Incident,
        suppressed_before: u64,
        expired: Option<Incident>,
    },
    /// The incident was open and its window had passed: this invocation reminds.
    Reminder {
        incident: Incident,
        suppressed_before: u64,
        news: Vec<String>,
        cause_changed: bool,
    },
    /// Counted in an open window.
    Counted(Counted),
    /// DynamoDB did not answer as expected: notify anyway.
    Unavailable { error: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub incident: Incident,
    /// Failures held back in this window so far, this one included.
    pub count_in_window: u64,
    pub notified_by: Option<String>,
    /// What this failure adds (empty: nothing new).
    pub news: Vec<String>,
    /// The root cause was replaced by a better one.
    pub cause_changed: bool,
    /// Chat and paging should show the new count (news, a new cause, or the interval passed).
    pub update_sinks: bool,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn ss(values: &[String]) -> AttributeValue {
    AttributeValue::Ss(values.to_vec())
}

type Item = HashMap<String, AttributeValue>;

fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}
fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}
fn get_ss(item: &Item, k: &str) -> BTreeSet<String> {
    item.get(k)
        .and_then(|v| v.as_ss().ok())
        .map(|v| v.iter().cloned().collect())
        .unwrap_or_default()
}

/// The incident an item holds (None for a missing or foreign item).
fn incident_of(item: &Item) -> Option<Incident> {
    let key: IncidentKey = serde_json::from_str(&get_s(item, "incident_key")?).ok()?;
    let status = match get_s(item, "incident_state")?.as_str() {
        "open" => IncidentStatus::Open,
        "resolved" => IncidentStatus::Resolved,
        _ => IncidentStatus::Expired,
    };
    Some(Incident {
        id: key.id(),
        subject: get_s(item, "subject_name").unwrap_or_default(),
        status,
        opened_at: get_n(item, "opened_at").unwrap_or_default(),
        last_failure_at: get_n(item, "last_failure_at").unwrap_or_default(),
        failures: get_n(item, "failure_count").unwrap_or(1).max(1) as u64,
        root_cause: get_s(item, "cause_code").unwrap_or_default(),
        title: get_s(item, "cause_title").unwrap_or_default(),
        task_definition: get_s(item, "task_definition"),
        slack: get_s(item, "slack_channel")
            .zip(get_s(item, "slack_ts"))
            .map(|(channel, ts)| SlackMessageRef { channel, ts }),
        deployment: get_s(item, "deployment_json").and_then(|j| serde_json::from_str(&j).ok()),
        key,
    })
}

/// What `d` says that the incident (its item before this failure) had not seen: another subnet,
/// another failing image. A new root cause is not news here: it replaces the cause instead.
fn news(old: &Item, d: &Diagnosis) -> Vec<String> {
    let seen = get_ss(old, "seen_traits");
    traits_of(d)
        .into_iter()
        .filter(|(k, _)| !seen.contains(k) && !k.starts_with("cause:"))
        .map(|(_, t)| t)
        .collect()
}

/// Confidence as a number (UNKNOWN lowest): a later diagnosis replaces the incident's root cause
/// when it is at least as sure and names another cause, or the incident had none.
fn cause_rank(code: RootCause, confidence: Confidence) -> i64 {
    match (code, confidence) {
        (RootCause::Unknown, _) => 0,
        (_, Confidence::Low) => 1,
        (_, Confidence::Medium) => 2,
        (_, Confidence::High) => 3,
    }
}

fn conditional_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// The failure as the incident records it.
pub struct FailureRecord<'a> {
    pub diagnosis: &'a Diagnosis,
    /// The failing task definition (`family:revision`).
    pub task_definition: Option<String>,
    pub event_id: &'a str,
    pub now: i64,
}

impl IncidentStore {
    pub fn new(
        client: Client,
        table: String,
        window: Duration,
        update_interval: Duration,
    ) -> IncidentStore {
        IncidentStore {
            client,
            table,
            window,
            update_interval,
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    fn pk(id: &str) -> AttributeValue {
        s(format!("inc#{id}"))
    }

    fn update_incident(
        &self,
        id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
    }

    fn update_service(
        &self,
        service_key: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("svc#{service_key}")))
    }

    /// Count a pull failure into its incident, opening or reminding when this invocation wins.
    pub async fn record_failure(&self, f: &FailureRecord<'_>) -> FailureStep {
        // The common case of a storm, one write: the incident is open and its window runs.
        match self.count(f).await {
            Ok(Some(counted)) => return FailureStep::Counted(counted),
            Ok(None) => {}
            Err(error) => return FailureStep::Unavailable { error },
        }
        match self.claim(f).await {
            Ok(Some(step)) => step,
            // Another invocation claimed it between our two writes: we are counted in its window.
            Ok(None) => match self.count(f).await {
                Ok(Some(counted)) => FailureStep::Counted(counted),
                Ok(None) => FailureStep::Counted(Counted {
                    incident: self.incident_now(f),
                    count_in_window: 0,
                    notified_by: None,
                    news: vec![],
                    cause_changed: false,
                    update_sinks: false,
                }),
                Err(error) => FailureStep::Unavailable { error },
            },
            Err(error) => FailureStep::Unavailable { error },
        }
    }

    /// The incident as this failure alone describes it (when DynamoDB says nothing more).
    fn incident_now(&self, f: &FailureRecord<'_>) -> Incident {
        Incident::opening(f.diagnosis, f.task_definition.clone(), f.now)
    }

    /// `Ok(None)`: not open, or its window has passed (the caller claims it).
    async fn count(&self, f: &FailureRecord<'_>) -> Result<Option<Counted>, String> {
        let d = f.diagnosis;
        let id = IncidentKey::of(d).id();
        let traits: Vec<String> = traits_of(d).into_iter().map(|(k, _)| k).collect();
        let out = self.update_incident(&id)
            .update_expression("ADD failure_count :one, suppressed :one, seen_traits :traits SET last_failure_at = :now")
            .condition_expression("incident_state = :open AND window_until > :now AND last_failure_at > :stale")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":traits", ss(&traits))
            .expression_attribute_values(":now", n(f.now))
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":stale", n(f.now - STALE_SECS))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match out {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if conditional_failed(&e) => return Ok(None),
            Err(e) => return Err(short_error(&e)),
        };
        let Some(mut incident) = incident_of(&old) else {
            return Ok(None);
        };
        incident.failures += 1;
        incident.last_failure_at = f.now;
        let news = news(&old, d);
        let cause_changed = self.maybe_replace_cause(&old, &mut incident, d).await;
        let since_update = f.now - get_n(&old, "sinks_updated_at").unwrap_or(0);
        let update_sinks = !news.is_empty()
            || cause_changed
            || (since_update >= self.update_interval.as_secs() as i64
                && self.claim_sink_update(&id, &old, f.now).await);
        Ok(Some(Counted {
            count_in_window: get_n(&old, "suppressed").unwrap_or(0) as u64 + 1,
            notified_by: get_s(&old, "notified_by"),
            incident,
            news,
            cause_changed,
            update_sinks,
        }))
    }

    /// Replace the incident's root cause when this diagnosis is better (one conditional write,
    /// only then). Returns whether it did.
    async fn maybe_replace_cause(
        &self,
        old: &Item,
        incident: &mut Incident,
        d: &Diagnosis,
    ) -> bool {
        let code = d.root_cause.code.code();
        let new_rank = cause_rank(d.root_cause.code, d.root_cause.confidence);
        let old_rank = get_n(old, "cause_rank").unwrap_or(0);
        if code == incident.root_cause || new_rank == 0 || new_rank < old_rank {
            return false;
        }
        let replaced = self
            .update_incident(&incident.id)
            .update_expression("SET cause_code = :code, cause_title = :title, cause_rank = :rank")
            .condition_expression("cause_code = :old")
            .expression_attribute_values(":code", s(code))
            .expression_attribute_values(":title", s(&d.root_cause.title))
            .expression_attribute_values(":rank", n(new_rank))
            .expression_attribute_values(":old", s(&incident.root_cause))
            .send()
            .await
            .is_ok();
        if replaced {
            incident.root_cause = code.to_string();
            incident.title = d.root_cause.title.clone();
        }
        replaced
    }

    /// One invocation per interval updates chat and paging with the count.
    async fn claim_sink_update(&self, id: &str, old: &Item, now: i64) -> bool {
        let mut req = self
            .update_incident(id)
            .update_expression("SET sinks_updated_at = :now")
            .expression_attribute_values(":now", n(now));
        req = match get_n(old, "sinks_updated_at") {
            Some(at) => req
                .condition_expression("sinks_updated_at = :at")
                .expression_attribute_values(":at", n(at)),
            None => req.condition_expression("attribute_not_exists(sinks_updated_at)"),
        };
        req.send().await.is_ok()
    }

    /// Claim the incident: open it (new, resolved, expired or stale) or remind (open, window over).
    /// `Ok(None)`: another invocation holds the window.
    async fn claim(&self, f: &FailureRecord<'_>) -> Result<Option<FailureStep>, String> {
        let d = f.diagnosis;
        let key = IncidentKey::of(d);
        let id = key.id();
        let until = f.now + self.window.as_secs() as i64;
        let traits: Vec<String> = traits_of(d).into_iter().map(|(k, _)| k).collect();
        let out = self.update_incident(&id)
            .update_expression(
                "SET incident_state = :open, window_until = :until, suppressed = :zero, notified_by = :event, \
                 notified_at = :now, last_failure_at = :now, expires_at = :expires, incident_key = :key, \
                 subject_name = :subject, sinks_updated_at = :now \
                 ADD failure_count :one, seen_traits :traits",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR incident_state <> :open OR window_until <= :now OR last_failure_at <= :stale",
            )
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":event", s(f.event_id))
            .expression_attribute_values(":now", n(f.now))
            .expression_attribute_values(":stale", n(f.now - STALE_SECS))
            .expression_attribute_values(":expires", n(until + STALE_SECS + RESOLVED_MEMORY_SECS))
            .expression_attribute_values(":key", s(serde_json::to_string(&key).expect("a key serializes")))
            .expression_attribute_values(":subject", s(d.subject_name()))
            .expression_attribute_values(":traits", ss(&traits))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match out {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if conditional_failed(&e) => return Ok(None),
            Err(e) => return Err(short_error(&e)),
        };
        let suppressed_before = get_n(&old, "suppressed").unwrap_or(0) as u64;
        let previous = incident_of(&old);
        let standalone = key.service.is_none();
        let stale = get_n(&old, "last_failure_at").is_some_and(|t| t <= f.now - STALE_SECS);
        match previous {
            Some(mut incident)
                if incident.status == IncidentStatus::Open && !standalone && !stale =>
            {
                // A reminder: the same incident goes on.
                incident.failures += 1;
                incident.last_failure_at = f.now;
                let news = news(&old, d);
                let cause_changed = self.maybe_replace_cause(&old, &mut incident, d).await;
                Ok(Some(FailureStep::Reminder {
                    incident,
                    suppressed_before,
                    news,
                    cause_changed,
                }))
            }
            previous => {
                let expired = previous
                    .filter(|p| p.status == IncidentStatus::Open)
                    .map(|mut p| {
                        p.status = IncidentStatus::Expired;
                        p
                    });
                let mut incident = self.incident_now(f);
                incident.deployment = self.start(f, &incident, &traits).await;
                Ok(Some(FailureStep::Opened {
                    incident,
                    suppressed_before,
                    expired,
                }))
            }
        }
    }

    /// A new incident's own fields (the claim kept counters of the previous one), and its
    /// service's index; returns a failed deployment that was waiting for it.
    async fn start(
        &self,
        f: &FailureRecord<'_>,
        incident: &Incident,
        traits: &[String],
    ) -> Option<FailedDeployment> {
        let d = f.diagnosis;
        let pending = match incident.key.service_key() {
            Some(service_key) => self.index_open(&service_key, &incident.id, f.now).await,
            None => None,
        };
        let mut set = vec![
            "opened_at = :now",
            "failure_count = :one",
            "cause_code = :code",
            "cause_title = :title",
            "cause_rank = :rank",
            "seen_traits = :traits",
        ];
        let mut remove = vec!["slack_channel", "slack_ts", "deployment_id"];
        let mut values = vec![
            (":now", n(f.now)),
            (":one", n(1)),
            (":code", s(d.root_cause.code.code())),
            (":title", s(&d.root_cause.title)),
            (
                ":rank",
                n(cause_rank(d.root_cause.code, d.root_cause.confidence)),
            ),
            (":traits", ss(traits)),
            (":event", s(f.event_id)),
        ];
        match &f.task_definition {
            Some(td) => {
                set.push("task_definition = :td");
                values.push((":td", s(td)));
            }
            None => remove.push("task_definition"),
        }
        match &pending {
            Some(deployment) => {
                set.push("deployment_json = :deployment");
                values.push((
                    ":deployment",
                    s(serde_json::to_string(deployment).expect("a deployment serializes")),
                ));
            }
            None => remove.push("deployment_json"),
        }
        let mut req = self
            .update_incident(&incident.id)
            .update_expression(format!(
                "SET {} REMOVE {}",
                set.join(", "),
                remove.join(", ")
            ))
            .condition_expression("notified_by = :event");
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        let _ = req.send().await;
        pending
    }

    /// Add the incident to its service's open set; take a failed deployment waiting there.
    async fn index_open(&self, service_key: &str, id: &str, now: i64) -> Option<FailedDeployment> {
        let out = self
            .update_service(service_key)
            .update_expression(
                "ADD open_incidents :id SET expires_at = :expires REMOVE pending_deployment",
            )
            .expression_attribute_values(":id", ss(&[id.to_string()]))
            .expression_attribute_values(":expires", n(now + STALE_SECS + RESOLVED_MEMORY_SECS))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .ok()?;
        let pending: FailedDeployment =
            serde_json::from_str(&get_s(&out.attributes?, "pending_deployment")?).ok()?;
        (pending.at >= now - PENDING_DEPLOYMENT_SECS).then_some(pending)
    }

    /// Give back a claimed window (nothing was delivered), so that the retry notifies.
    pub async fn release(&self, id: &str, event_id: &str) {
        let _ = self
            .update_incident(id)
            .update_expression("SET window_until = :zero")
            .condition_expression("notified_by = :event")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":event", s(event_id))
            .send()
            .await;
    }

    /// Remember where the Slack app posted the incident's message.
    pub async fn set_slack_message(&self, id: &str, message: &SlackMessageRef) {
        let _ = self
            .update_incident(id)
            .update_expression("SET slack_channel = :c, slack_ts = :ts")
            .expression_attribute_values(":c", s(&message.channel))
            .expression_attribute_values(":ts", s(&message.ts))
            .send()
            .await;
    }

    /// The ids of a service's open incidents (one read). Also the way every steady-state event of a
    /// healthy service ends: an empty list.
    pub async fn open_incident_ids(&self, service_key: &str) -> Result<Vec<String>, String> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("svc#{service_key}")))
            .projection_expression("open_incidents")
            .send()
            .await
            .map_err(|e| short_error(&e))?;
        Ok(out
            .item
            .map(|i| get_ss(&i, "open_incidents").into_iter().collect())
            .unwrap_or_default())
    }

    /// Resolve a service's open incidents (those with no failure after `event_at`). Returns the
    /// ones this invocation resolved (each exactly once across invocations).
    pub async fn resolve(
        &self,
        service_key: &str,
        ids: &[String],
        event_at: i64,
        now: i64,
    ) -> Vec<Incident> {
        let mut resolved = vec![];
        let mut closed = vec![];
        for id in ids {
            let out = self
                .update_incident(id)
                .update_expression(
                    "SET incident_state = :resolved, resolved_at = :now, expires_at = :expires",
                )
                // A failure after the steady-state event means it is not over.
                .condition_expression("incident_state = :open AND last_failure_at <= :event_at")
                .expression_attribute_values(":resolved", s("resolved"))
                .expression_attribute_values(":open", s("open"))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":event_at", n(event_at))
                .expression_attribute_values(":expires", n(now + RESOLVED_MEMORY_SECS))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match out {
                Ok(out) => {
                    closed.push(id.clone());
                    if let Some(i) = out.attributes.as_ref().and_then(incident_of) {
                        resolved.push(i);
                    }
                }
                // Resolved by another invocation, or gone: no longer open either way.
                Err(e) if conditional_failed(&e) => {
                    if self.state_of(id).await.as_deref() != Some("open") {
                        closed.push(id.clone());
                    }
                }
                Err(_) => {}
            }
        }
        if !closed.is_empty() {
            let _ = self
                .update_service(service_key)
                .update_expression("DELETE open_incidents :ids")
                .expression_attribute_values(":ids", ss(&closed))
                .send()
                .await;
        }
        resolved
    }

    async fn state_of(&self, id: &str) -> Option<String> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .send()
            .await
            .ok()?;
        get_s(&out.item?, "incident_state")
    }

    /// Join a failed deployment to the service's open incidents (each once per deployment id).
    /// Returns the incidents it joined; none open → the deployment waits in the service's item.
    pub async fn join_deployment(
        &self,
        service_key: &str,
        ids: &[String],
        deployment: &FailedDeployment,
        now: i64,
    ) -> Result<Vec<Incident>, String> {
        let json = serde_json::to_string(deployment).expect("a deployment serializes");
        if ids.is_empty() {
            self.update_service(service_key)
                .update_expression("SET pending_deployment = :d, expires_at = :expires")
                .expression_attribute_values(":d", s(json))
                .expression_attribute_values(":expires", n(now + STALE_SECS + RESOLVED_MEMORY_SECS))
                .send()
                .await
                .map_err(|e| short_error(&e))?;
            return Ok(vec![]);
        }
        let mut joined = vec![];
        for id in ids {
            let out = self.update_incident(id)
                .update_expression("SET deployment_json = :d, deployment_id = :id")
                .condition_expression("incident_state = :open AND (attribute_not_exists(deployment_id) OR deployment_id <> :id)")
                .expression_attribute_values(":d", s(&json))
                .expression_attribute_values(":id", s(&deployment.deployment_id))
                .expression_attribute_values(":open", s("open"))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match out {
                Ok(out) => joined.extend(out.attributes.as_ref().and_then(incident_of)),
                Err(e) if conditional_failed(&e) => {}
                Err(e) => return Err(short_error(&e)),
            }
        }
        Ok(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_better_cause_outranks_unknown_and_lower_confidence() {
        assert!(
            cause_rank(RootCause::NetNoRoute, Confidence::Medium)
                > cause_rank(RootCause::Unknown, Confidence::High)
        );
        assert!(
            cause_rank(RootCause::NetNoRoute, Confidence::High)
                > cause_rank(RootCause::EcrImageNotFound, Confidence::Low)
        );
    }

    #[test]
    fn an_item_without_a_key_is_no_incident() {
        let mut item = Item::new();
        item.insert("incident_state".into(), s("open"));
        assert!(incident_of(&item).is_none());
        let key = IncidentKey {
            account: Some("1".into()),
            region: None,
            cluster: None,
            service: Some("web".into()),
            family: None,
            image: None,
        };
        item.insert(
            "incident_key".into(),
            s(serde_json::to_string(&key).unwrap()),
        );
        item.insert("failure_count".into(), n(7));
        item.insert("slack_channel".into(), s("C1"));
        item.insert("slack_ts".into(), s("1.2"));
        let i = incident_of(&item).unwrap();
        assert_eq!(
            (i.id, i.failures, i.status),
            (key.id(), 7, IncidentStatus::Open)
        );
        assert_eq!(
            i.slack,
            Some(SlackMessageRef {
                channel: "C1".into(),
                ts: "1.2".into()
            })
        );
    }
}
