//! The Lambda handler, with one JSON audit line per invocation:
//! * a pull failure: intake → (duplicate delivery?) → engine → its incident (open, remind or
//!   count) → SNS, Slack, PagerDuty, Teams;
//! * a service event: its open incidents (one DynamoDB read; none → done) → resolve them, or
//!   join the failed deployment to them → the same sinks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::collect::Clients;
use crate::engine;
use crate::intake::{intake, Intake, PullFailure, ServiceEvent, ServiceSignal};
use crate::model::audit::{AuditRecord, Decision, DedupStatus, Deliveries, Delivery, IncidentStep};
use crate::model::diagnosis::Diagnosis;
use crate::model::incident::{FailedDeployment, Incident, Notice, Resolution};
use crate::notify;
use crate::notify::dedup::{Dedup, EventMark};
use crate::notify::http::Http;
use crate::notify::incident::{Counted, FailureRecord, FailureStep, IncidentStore};
use crate::notify::pagerduty::PagerDuty;
use crate::notify::slack::Slack;
use crate::notify::slack_app::SlackApp;
use crate::notify::sns;
use crate::notify::teams::Teams;
use crate::report::sns::{message as sns_message, SnsFormat};

/// Deployment settings (environment variables of the function; see template.yaml).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `PULLDOCTOR_TOPIC_ARN`
    pub topic_arn: Option<String>,
    /// `PULLDOCTOR_OUTPUT_FORMAT`: `text` (default) or `chatbot`.
    pub sns_format: Option<SnsFormat>,
    /// `PULLDOCTOR_SLACK_SECRET_ARN`
    pub slack_secret_arn: Option<String>,
    /// `PULLDOCTOR_SLACK_TIMEOUT_MS` (default 3000).
    pub slack_timeout: Option<Duration>,
    /// `PULLDOCTOR_DEDUP_TABLE`
    pub dedup_table: Option<String>,
    /// `PULLDOCTOR_DEDUP_WINDOW_MINUTES` (default 30).
    pub dedup_window: Option<Duration>,
    /// `PULLDOCTOR_MEMBER_ROLE_NAME`: role assumed in an event's account when it is not ours.
    pub member_role_name: Option<String>,
    /// `PULLDOCTOR_MEMBER_EXTERNAL_ID`
    pub member_external_id: Option<String>,
    /// `PULLDOCTOR_HOME_ACCOUNT`: our account, when the invocation context does not say it.
    pub home_account: Option<String>,
    /// `PULLDOCTOR_HISTORY`: `on` (default) reads what changed and who else is hit; `off` skips it.
    pub history: bool,
    /// `PULLDOCTOR_UPDATE_INTERVAL_SECONDS` (default 60): at most one chat and paging update of an
    /// open incident per interval when a failure brings nothing new.
    pub update_interval: Option<Duration>,
    /// `PULLDOCTOR_PAGERDUTY_SECRET_ARN`: the Events API v2 routing key.
    pub pagerduty_secret_arn: Option<String>,
    /// `PULLDOCTOR_PAGERDUTY_URL`: the Events API enqueue URL (EU service region, tests).
    pub pagerduty_url: Option<String>,
    /// `PULLDOCTOR_SLACK_APP_SECRET_ARN`: `{"bot_token": …, "channel": …}`.
    pub slack_app_secret_arn: Option<String>,
    /// `PULLDOCTOR_SLACK_API_URL`: the Slack Web API base URL (tests).
    pub slack_api_url: Option<String>,
    /// `PULLDOCTOR_TEAMS_SECRET_ARN`: a Teams Workflows webhook URL.
    pub teams_secret_arn: Option<String>,
    /// `PULLDOCTOR_CACHE_TTL_SECONDS` (default 60): how long a warm container keeps shared reads.
    pub cache_ttl: Option<Duration>,
    /// `PULLDOCTOR_CONCURRENCY` (the reserved concurrency, default 1): how many containers share
    /// CloudTrail's 2 lookups per second per account and region.
    pub concurrency: Option<u32>,
}

/// Reads the settings' variables, noting every malformed one (the function must not start
/// half-configured, and whoever fixes the template wants the whole list at once).
struct Variables<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    bad: Vec<String>,
}

impl Variables<'_> {
    fn text(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn number(&mut self, name: &str) -> Option<u64> {
        let v = self.text(name)?;
        v.parse::<u64>()
            .map_err(|_| self.bad.push(format!("{name}={v:?} is not a whole number")))
            .ok()
    }

    fn on_off(&mut self, name: &str, default: bool) -> bool {
        match self.text(name).as_deref() {
            None => default,
            Some("on") => true,
            Some("off") => false,
            Some(other) => {
                self.bad
                    .push(format!("{name}={other:?} is neither on nor off"));
                default
            }
        }
    }

    fn parsed<T: std::str::FromStr<Err = String>>(&mut self, name: &str) -> Option<T> {
        let v = self.text(name)?;
        v.parse()
            .map_err(|e: String| self.bad.push(format!("{name}: {e}")))
            .ok()
    }
}

impl Settings {
    /// Reads the `PULLDOCTOR_*` environment. Malformed values are an error naming every one.
    pub fn from_env() -> Result<Settings, String> {
        Settings::from_lookup(&|name| std::env::var(name).ok())
    }

    /// The settings from any source of variables (the environment, or a table in a test).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut v = Variables {
            lookup,
            bad: vec![],
        };
        let settings = Settings {
            topic_arn: v.text("PULLDOCTOR_TOPIC_ARN"),
            sns_format: v.parsed("PULLDOCTOR_OUTPUT_FORMAT"),
            slack_secret_arn: v.text("PULLDOCTOR_SLACK_SECRET_ARN"),
            slack_timeout: v
                .number("PULLDOCTOR_SLACK_TIMEOUT_MS")
                .map(Duration::from_millis),
            dedup_table: v.text("PULLDOCTOR_DEDUP_TABLE"),
            dedup_window: v
                .number("PULLDOCTOR_DEDUP_WINDOW_MINUTES")
                .map(|m| Duration::from_secs(m * 60)),
            member_role_name: v.text("PULLDOCTOR_MEMBER_ROLE_NAME"),
            member_external_id: v.text("PULLDOCTOR_MEMBER_EXTERNAL_ID"),
            home_account: v.text("PULLDOCTOR_HOME_ACCOUNT"),
            history: v.on_off("PULLDOCTOR_HISTORY", true),
            update_interval: v
                .number("PULLDOCTOR_UPDATE_INTERVAL_SECONDS")
                .map(Duration::from_secs),
            pagerduty_secret_arn: v.text("PULLDOCTOR_PAGERDUTY_SECRET_ARN"),
            pagerduty_url: v.text("PULLDOCTOR_PAGERDUTY_URL"),
            slack_app_secret_arn: v.text("PULLDOCTOR_SLACK_APP_SECRET_ARN"),
            slack_api_url: v.text("PULLDOCTOR_SLACK_API_URL"),
            teams_secret_arn: v.text("PULLDOCTOR_TEAMS_SECRET_ARN"),
            cache_ttl: v
                .number("PULLDOCTOR_CACHE_TTL_SECONDS")
                .map(Duration::from_secs),
            concurrency: v
                .number("PULLDOCTOR_CONCURRENCY")
                .map(|n| n.clamp(1, 1000) as u32),
        };
        match v.bad.is_empty() {
            true => Ok(settings),
            false => Err(format!("bad settings: {}", v.bad.join("; "))),
        }
    }
}

/// Clients and settings built once per cold start and shared by every invocation.
#[derive(Clone)]
pub struct App {
    pub config: aws_config::SdkConfig,
    pub topic_arn: Option<String>,
    settings: Settings,
    clients: Clients,
    sns: aws_sdk_sns::Client,
    slack: Option<Arc<Slack>>,
    slack_app: Option<Arc<SlackApp>>,
    pagerduty: Option<Arc<PagerDuty>>,
    teams: Option<Arc<Teams>>,
    dedup: Option<Dedup>,
    incidents: Option<IncidentStore>,
    /// Clients for member accounts, by account id (assumed-role credentials refresh themselves).
    members: Arc<Mutex<HashMap<String, Clients>>>,
}

impl App {
    /// Reads the `PULLDOCTOR_*` settings and the standard AWS SDK environment.
    pub async fn from_env() -> Result<App, String> {
        let config = crate::aws::config_loader().load().await;
        Ok(App::with_settings(&config, Settings::from_env()?))
    }

    /// SNS only: no Slack, no deduplication.
    pub fn new(config: &aws_config::SdkConfig, topic_arn: Option<String>) -> App {
        App::with_settings(
            config,
            Settings {
                topic_arn,
                ..Settings::default()
            },
        )
    }

    pub fn with_settings(config: &aws_config::SdkConfig, settings: Settings) -> App {
        // Before any Clients exist: each paces its CloudTrail lookups with this share.
        crate::aws::pace::set_concurrency(settings.concurrency.unwrap_or(1));
        // One connection pool for every chat and paging sink; each request's own timeout.
        let http = Http::new();
        let timeout = settings.slack_timeout.unwrap_or(Duration::from_secs(3));
        let dedup = settings.dedup_table.clone().map(|table| {
            Dedup::new(
                config,
                table,
                settings
                    .dedup_window
                    .unwrap_or(Duration::from_secs(30 * 60)),
            )
        });
        App {
            config: config.clone(),
            topic_arn: settings.topic_arn.clone(),
            clients: lookup_slots(
                Clients::new(config).with_warm_cache(
                    settings.cache_ttl.unwrap_or(crate::aws::LAMBDA_CACHE_TTL),
                    512,
                ),
                dedup.as_ref(),
                "home",
                config,
            ),
            sns: aws_sdk_sns::Client::new(config),
            slack: settings
                .slack_secret_arn
                .clone()
                .map(|arn| Arc::new(Slack::new(config, arn, http.clone(), timeout))),
            slack_app: settings.slack_app_secret_arn.clone().map(|arn| {
                Arc::new(SlackApp::new(
                    config,
                    arn,
                    settings.slack_api_url.clone(),
                    http.clone(),
                    timeout,
                ))
            }),
            pagerduty: settings.pagerduty_secret_arn.clone().map(|arn| {
                Arc::new(PagerDuty::new(
                    config,
                    arn,
                    settings.pagerduty_url.clone(),
                    http.clone(),
                    timeout,
                ))
            }),
            teams: settings
                .teams_secret_arn
                .clone()
                .map(|arn| Arc::new(Teams::new(config, arn, http.clone(), timeout))),
            incidents: dedup
                .as_ref()
                .map(|d| d.incidents(settings.update_interval.unwrap_or(Duration::from_secs(60)))),
            dedup,
            members: Arc::new(Mutex::new(HashMap::new())),
            settings,
        }
    }

    /// The clients to diagnose an event of `account` with: ours, or an assumed role in a member
    /// account (multi-account setups forward member events to this function's bus).
    async fn clients_for(&self, account: Option<&str>, home: Option<&str>) -> Clients {
        let (Some(account), Some(role)) = (account, self.settings.member_role_name.as_deref())
        else {
            return self.clients.clone();
        };
        if home.is_none_or(|h| h == account) {
            return self.clients.clone();
        }
        let mut members = self.members.lock().await;
        if let Some(c) = members.get(account) {
            return c.clone();
        }
        let partition = home_partition(&self.config);
        let role_arn = format!("arn:{partition}:iam::{account}:role/{role}");
        let clients = Clients::assumed_role(
            &self.config,
            &role_arn,
            self.settings.member_external_id.as_deref(),
        )
        .await
        .with_warm_cache(
            self.settings
                .cache_ttl
                .unwrap_or(crate::aws::LAMBDA_CACHE_TTL),
            512,
        );
        let clients = lookup_slots(clients, self.dedup.as_ref(), account, &self.config);
        members.insert(account.to_string(), clients.clone());
        clients
    }
}

/// With a dedup table, CloudTrail lookups take the slots every container shares (see
/// [`crate::aws::pace`]) for this account and the function's region.
fn lookup_slots(
    clients: Clients,
    dedup: Option<&Dedup>,
    account: &str,
    config: &aws_config::SdkConfig,
) -> Clients {
    match dedup {
        Some(d) => {
            let region = config.region().map_or("-", |r| r.as_ref());
            clients.with_lookup_slots(Arc::new(d.clone()), format!("{account}/{region}"))
        }
        None => clients,
    }
}

fn home_partition(config: &aws_config::SdkConfig) -> &'static str {
    crate::model::arn::partition_of(config.region().map_or("", |r| r.as_ref()))
}

/// Handles one EventBridge event. Returns a small JSON outcome:
/// `{"decision": "notified" | "suppressed" | "duplicate_event" | "diagnosed" | "ignored" | "resolved" | …, "reason": …, "root_cause": …}`.
///
/// Unrelated or malformed events are ignored with `Ok`: retrying them cannot help. A diagnosis
/// that could not be published to SNS returns `Err` (after giving back its dedup claims), so
/// Lambda's async retries and finally the on-failure destination keep it: nothing is lost silently.
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    let started = Instant::now();
    match intake(&event.payload) {
        Intake::Ignored { kind, reason } => {
            let reason = format!(
                "{}: {reason}",
                serde_json::to_value(&kind)?.as_str().unwrap_or("ignored")
            );
            Ok(ignored(&event.payload, reason, started))
        }
        Intake::PullFailure(failure) => {
            handle_failure(app, &event.context, &failure, started).await
        }
        Intake::Service(service_event) => {
            handle_service_event(app, &event.context, &service_event, started).await
        }
    }
}

async fn handle_failure(
    app: &App,
    context: &lambda_runtime::Context,
    failure: &PullFailure,
    started: Instant,
) -> Result<Value, lambda_runtime::Error> {
    let now = chrono::Utc::now().timestamp();
    // 1. The same EventBridge event delivered again: drop it before any AWS read.
    let event_check = match mark_event(app, failure, now, started).await {
        Ok(status) => status,
        Err(duplicate) => return Ok(duplicate),
    };

    // 2. Diagnose, in the event's account.
    let clients = clients_of(app, context, failure.account.as_deref()).await;
    let run = diagnose(&clients, context, failure).await;
    let diagnosis = run.diagnosis.clone();
    let code = diagnosis.root_cause.code.code();
    let event_id = diagnosis
        .event_id
        .clone()
        .unwrap_or_else(|| context.request_id.clone());
    let mut record = AuditRecord::new(Decision::Diagnosed).with_diagnosis(&diagnosis);
    record.dedup = event_check;
    let deadline = sink_deadline(context.deadline);

    // 3. Its incident: opened or reminded here, or only counted (no page).
    let step = incident_step(app, failure, &diagnosis, &event_id, now, &record.dedup).await;
    let (incident, suppressed_before, claimed) = match step {
        FailureStep::Counted(counted) => {
            let answer = suppress(app, &counted, &diagnosis, deadline, &mut record).await;
            finish(&mut record, started);
            return Ok(answer);
        }
        FailureStep::Opened {
            incident,
            suppressed_before,
            expired,
        } => {
            record.dedup = DedupStatus::First { suppressed_before };
            if let Some(old) = expired {
                expire(app, &old, deadline, &mut record).await;
            }
            record.incidents.push(IncidentStep::of(&incident, "opened"));
            (incident, suppressed_before, true)
        }
        FailureStep::Reminder {
            incident,
            suppressed_before,
            ..
        } => {
            record.dedup = DedupStatus::First { suppressed_before };
            record
                .incidents
                .push(IncidentStep::of(&incident, "reminded"));
            (incident, suppressed_before, true)
        }
        FailureStep::Unavailable { error } => {
            if !error.is_empty() {
                record.dedup = DedupStatus::Unavailable { error };
            }
            (app.incident_of(&diagnosis, failure, now), 0, false)
        }
    };
    record.fingerprint = Some(incident.id.clone());

    // 4. What changed and who else is hit: only for a diagnosis that is sent.
    let diagnosis = match app.settings.history {
        true => with_history(context, &clients, run, &mut record).await,
        false => diagnosis,
    };

    // 5. Deliver: every sink independently.
    deliver_all(
        app,
        &diagnosis,
        &incident,
        suppressed_before,
        deadline,
        &mut record,
    )
    .await;
    finish(&mut record, started);

    if let Some(Delivery::Failed { error }) = &record.deliveries.sns {
        give_back(
            app,
            claimed,
            &incident.id,
            &event_id,
            diagnosis.event_id.as_deref(),
        )
        .await;
        return Err(format!("diagnosis {code} could not be published: {error}").into());
    }
    Ok(outcome(record.decision, None, Some(code)))
}

/// What this failure does to its incident: recorded in the store when the event id check
/// answered (an unavailable table is not asked again).
async fn incident_step(
    app: &App,
    failure: &PullFailure,
    diagnosis: &Diagnosis,
    event_id: &str,
    now: i64,
    dedup: &DedupStatus,
) -> FailureStep {
    match (&app.incidents, dedup) {
        (Some(store), DedupStatus::Disabled) => {
            let task_definition = failure
                .task
                .task_definition_arn
                .as_deref()
                .map(task_definition_name);
            store
                .record_failure(&FailureRecord {
                    diagnosis,
                    task_definition,
                    event_id,
                    now,
                })
                .await
        }
        (_, DedupStatus::Unavailable { error }) => FailureStep::Unavailable {
            error: error.clone(),
        },
        _ => FailureStep::Unavailable {
            error: String::new(),
        },
    }
}

/// A failure counted in its incident's window: no page; chat and paging hear of it only when it
/// brings news, a better cause, or the update interval passed.
async fn suppress(
    app: &App,
    counted: &Counted,
    diagnosis: &Diagnosis,
    deadline: tokio::time::Instant,
    record: &mut AuditRecord,
) -> Value {
    record.fingerprint = Some(counted.incident.id.clone());
    record.decision = Decision::Suppressed;
    let window_seconds = app.dedup.as_ref().map_or(0, |d| d.window().as_secs());
    record.dedup = DedupStatus::Suppressed {
        count_in_window: counted.count_in_window,
        notified_by: counted.notified_by.clone(),
        window_seconds,
    };
    let step = if counted.cause_changed {
        "cause_updated"
    } else {
        "counted"
    };
    record
        .incidents
        .push(IncidentStep::of(&counted.incident, step));
    record.deliveries = app.skipped("suppressed");
    if counted.update_sinks {
        let notice = Notice::Updated {
            incident: &counted.incident,
            diagnosis,
            news: &counted.news,
            cause_changed: counted.cause_changed,
        };
        app.tell(&notice, deadline, &mut record.deliveries).await;
    }
    outcome(
        Decision::Suppressed,
        Some("same failure already notified in this window"),
        Some(diagnosis.root_cause.code.code()),
    )
}

/// The family's previous incident ended with its window: say so where it was paged.
async fn expire(
    app: &App,
    old: &Incident,
    deadline: tokio::time::Instant,
    record: &mut AuditRecord,
) {
    let resolution = Resolution::Expired {
        at: old.last_failure_at + app.window_seconds() as i64,
    };
    let notice = Notice::Resolved {
        incident: old,
        resolution: &resolution,
    };
    app.tell(&notice, deadline, &mut record.deliveries).await;
    record.incidents.push(IncidentStep::of(old, "expired"));
}

/// The diagnosis with what changed and who else is hit, and the audit record rebuilt for it
/// (keeping what the incident steps recorded).
async fn with_history(
    context: &lambda_runtime::Context,
    clients: &Clients,
    mut run: engine::Run,
    record: &mut AuditRecord,
) -> Diagnosis {
    let options = crate::collect::Options {
        deadline: Some(engine::deadline_for(context.deadline).into()),
        history: true,
    };
    Box::pin(engine::add_history(clients, &mut run, options)).await;
    *record = AuditRecord {
        dedup: record.dedup.clone(),
        incidents: record.incidents.clone(),
        fingerprint: record.fingerprint.clone(),
        ..AuditRecord::new(Decision::Diagnosed).with_diagnosis(&run.diagnosis)
    };
    run.diagnosis
}

/// SNS and the webhook, then the incident sinks; the decision says whether anything was sent.
async fn deliver_all(
    app: &App,
    diagnosis: &Diagnosis,
    incident: &Incident,
    suppressed_before: u64,
    deadline: tokio::time::Instant,
    record: &mut AuditRecord,
) {
    let (sns_delivery, slack_delivery) = deliver(app, diagnosis, incident, suppressed_before).await;
    record.deliveries.sns = sns_delivery;
    record.deliveries.slack = slack_delivery;
    let reminded = record.incidents.iter().any(|i| i.step == "reminded");
    let notice = if reminded {
        Notice::Updated {
            incident,
            diagnosis,
            news: &[],
            cause_changed: false,
        }
    } else {
        Notice::Opened {
            incident,
            diagnosis,
        }
    };
    app.tell(&notice, deadline, &mut record.deliveries).await;
    let delivered = record.deliveries.any_sent();
    record.decision = match (&record.deliveries.sns, delivered) {
        (Some(Delivery::Failed { .. }), _) => Decision::PublishFailed,
        (_, true) => Decision::Notified,
        _ => Decision::Diagnosed,
    };
}

/// A steady state or a failed deployment: touches only the service's open incidents. A healthy
/// service's periodic steady state costs one DynamoDB read and no AWS read.
async fn handle_service_event(
    app: &App,
    context: &lambda_runtime::Context,
    e: &ServiceEvent,
    started: Instant,
) -> Result<Value, lambda_runtime::Error> {
    let mut record = AuditRecord::new(Decision::NoOpenIncident);
    record.event_id = e.event_id.clone();
    record.account = Some(e.account.clone());
    let Some(store) = &app.incidents else {
        record.decision = Decision::Ignored;
        record.reason = Some(
            "no dedup table: incidents are not tracked, so service events change nothing".into(),
        );
        finish(&mut record, started);
        return Ok(outcome(Decision::Ignored, record.reason.as_deref(), None));
    };
    let service_key = e.service_key();
    let ids = match store.open_incident_ids(&service_key).await {
        Ok(ids) => ids,
        Err(error) => {
            // Nothing can be resolved without the table: let Lambda retry the event.
            record.decision = Decision::Ignored;
            record.dedup = DedupStatus::Unavailable {
                error: error.clone(),
            };
            finish(&mut record, started);
            return Err(
                format!("the incidents of {service_key} could not be read: {error}").into(),
            );
        }
    };
    let now = chrono::Utc::now().timestamp();
    let deadline = sink_deadline(context.deadline);
    let call = ServiceCall {
        app,
        context,
        e,
        store,
        service_key: &service_key,
        ids: &ids,
        now,
        deadline,
    };
    match &e.signal {
        ServiceSignal::SteadyState if ids.is_empty() => {
            record.reason = Some(format!(
                "{}/{} is steady and has no open incident",
                e.cluster, e.service
            ));
            finish(&mut record, started);
            Ok(outcome(
                Decision::NoOpenIncident,
                record.reason.as_deref(),
                None,
            ))
        }
        ServiceSignal::SteadyState => {
            call.steady_state(&mut record).await;
            finish(&mut record, started);
            Ok(outcome(record.decision, record.reason.as_deref(), None))
        }
        ServiceSignal::DeploymentFailed {
            deployment_id,
            reason,
            rollback_to,
        } => {
            let failed = FailedDeployment {
                deployment_id: deployment_id.clone(),
                reason: reason.clone(),
                rollback_deployment_id: rollback_to.clone(),
                rolled_back_to: None,
                failed_revision: None,
                at: e.time.map_or(now, |t| t.timestamp()),
            };
            let answer = call.deployment_failed(failed, &mut record).await;
            finish(&mut record, started);
            answer
        }
    }
}

/// What a service event's handling needs: the app, the event, its service's open incidents.
struct ServiceCall<'a> {
    app: &'a App,
    context: &'a lambda_runtime::Context,
    e: &'a ServiceEvent,
    store: &'a IncidentStore,
    service_key: &'a str,
    ids: &'a [String],
    now: i64,
    deadline: tokio::time::Instant,
}

impl ServiceCall<'_> {
    /// The service is steady: resolve its open incidents (unless a failure came after the event),
    /// saying whether it got there by rolling back.
    async fn steady_state(&self, record: &mut AuditRecord) {
        let (app, e) = (self.app, self.e);
        let event_at = e.time.map_or(self.now, |t| t.timestamp());
        let resolved = self
            .store
            .resolve(self.service_key, self.ids, event_at, self.now)
            .await;
        let steady_on = match resolved.is_empty() {
            true => None,
            false => app.steady_revision(self.context, e, record).await,
        };
        record.decision = match resolved.is_empty() {
            true => Decision::NoOpenIncident,
            false => Decision::Resolved,
        };
        for incident in &resolved {
            let rolled_back = incident
                .deployment
                .as_ref()
                .is_some_and(|d| d.rollback_deployment_id.is_some() || d.rolled_back_to.is_some())
                || matches!((&steady_on, &incident.task_definition), (Some(on), Some(failing)) if on != failing);
            let resolution = Resolution::SteadyState {
                at: event_at,
                steady_on: steady_on.clone(),
                rolled_back,
            };
            record
                .incidents
                .push(IncidentStep::of(incident, "resolved"));
            let summary = crate::report::incident::resolved(incident, &resolution);
            let body =
                crate::report::incident::json(&summary, &[incident], Some(&resolution), None);
            app.announce(&summary, Some(incident), &body, &mut record.deliveries)
                .await;
            let notice = Notice::Resolved {
                incident,
                resolution: &resolution,
            };
            app.tell(&notice, self.deadline, &mut record.deliveries)
                .await;
        }
        if resolved.is_empty() {
            record.reason = Some("its open incidents were resolved by another invocation or failed again after this event".into());
        }
    }

    /// A deployment failed (circuit breaker): join it to the open incidents and say so once, or
    /// keep it for the incident that opens next.
    async fn deployment_failed(
        &self,
        mut deployment: FailedDeployment,
        record: &mut AuditRecord,
    ) -> Result<Value, lambda_runtime::Error> {
        let (app, e) = (self.app, self.e);
        let deployment_id = deployment.deployment_id.clone();
        if !self.ids.is_empty() {
            app.name_revisions(self.context, e, &mut deployment, record)
                .await;
        }
        let joined = match self
            .store
            .join_deployment(self.service_key, self.ids, &deployment, self.now)
            .await
        {
            Ok(joined) => joined,
            Err(error) => {
                record.decision = Decision::Ignored;
                record.dedup = DedupStatus::Unavailable {
                    error: error.clone(),
                };
                return Err(
                    format!("deployment {deployment_id} could not be recorded: {error}").into(),
                );
            }
        };
        if joined.is_empty() {
            record.decision = Decision::Recorded;
            record.reason = Some(if self.ids.is_empty() {
                format!("deployment {deployment_id} failed before any pull failure of {} was diagnosed: it joins the incident when one opens", e.service)
            } else {
                format!("deployment {deployment_id} was already joined to the open incidents")
            });
            return Ok(outcome(Decision::Recorded, record.reason.as_deref(), None));
        }
        for incident in &joined {
            record
                .incidents
                .push(IncidentStep::of(incident, "deployment_joined"));
        }
        let summary = crate::report::incident::deployment_failed(&deployment, &e.service, &joined);
        let refs: Vec<&Incident> = joined.iter().collect();
        let body = crate::report::incident::json(&summary, &refs, None, Some(&deployment));
        app.announce(&summary, joined.first(), &body, &mut record.deliveries)
            .await;
        let notice = Notice::DeploymentFailed {
            deployment: &deployment,
            service: &e.service,
            incidents: &joined,
        };
        app.tell(&notice, self.deadline, &mut record.deliveries)
            .await;
        let sent = record.deliveries.any_sent();
        record.decision = if sent {
            Decision::Notified
        } else {
            Decision::Diagnosed
        };
        if let Some(Delivery::Failed { error }) = &record.deliveries.sns {
            return Err(format!(
                "the failed deployment {deployment_id} could not be published: {error}"
            )
            .into());
        }
        Ok(outcome(record.decision, None, None))
    }
}

/// `family:revision` of a task definition ARN (or the name as given).
fn task_definition_name(arn: &str) -> String {
    arn.rsplit_once(":task-definition/")
        .map_or(arn, |(_, name)| name)
        .to_string()
}

/// Chat and paging sinks must answer before Lambda's deadline (1 s kept for the audit line);
/// at most 10 s in any case.
fn sink_deadline(lambda_deadline_ms: u64) -> tokio::time::Instant {
    let cap = tokio::time::Instant::now() + Duration::from_secs(10);
    if lambda_deadline_ms == 0 {
        return cap;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(lambda_deadline_ms.saturating_sub(now_ms))
        .saturating_sub(Duration::from_secs(1));
    cap.min(tokio::time::Instant::now() + left)
}

impl App {
    fn window_seconds(&self) -> u64 {
        self.dedup
            .as_ref()
            .map_or(30 * 60, |d| d.window().as_secs())
    }

    /// Every configured sink, skipped for `reason`.
    fn skipped(&self, reason: &str) -> Deliveries {
        let skip = || Delivery::Skipped {
            reason: reason.into(),
        };
        Deliveries {
            sns: self.topic_arn.as_ref().map(|_| skip()),
            slack: self.slack.as_ref().map(|_| skip()),
            slack_app: self.slack_app.as_ref().map(|_| skip()),
            pagerduty: self.pagerduty.as_ref().map(|_| skip()),
            teams: self.teams.as_ref().map(|_| skip()),
        }
    }

    /// The incident a diagnosis belongs to when the table cannot say more.
    fn incident_of(&self, d: &Diagnosis, failure: &PullFailure, now: i64) -> Incident {
        Incident::opening(
            d,
            failure
                .task
                .task_definition_arn
                .as_deref()
                .map(task_definition_name),
            now,
        )
    }

    /// An incident message without a diagnosis (resolved, deployment failed) to SNS and the
    /// Slack webhook.
    async fn announce(
        &self,
        summary: &crate::report::incident::Summary,
        first: Option<&Incident>,
        body: &Value,
        deliveries: &mut Deliveries,
    ) {
        let format = self.settings.sns_format.unwrap_or(SnsFormat::Text);
        let sns_delivery = async {
            match &self.topic_arn {
                Some(topic) => Some(
                    sns::publish(
                        &self.sns,
                        topic,
                        &crate::report::incident::sns_message(summary, first, body, format),
                    )
                    .await,
                ),
                None => None,
            }
        };
        let slack_delivery = async {
            match &self.slack {
                Some(slack) => Some(
                    slack
                        .post(&crate::report::incident::slack_message(summary))
                        .await,
                ),
                None => None,
            }
        };
        let (sns_delivery, slack_delivery) =
            tokio::join!(Box::pin(sns_delivery), Box::pin(slack_delivery));
        deliveries.sns = fold(deliveries.sns.take(), sns_delivery);
        deliveries.slack = fold(deliveries.slack.take(), slack_delivery);
    }

    /// The chat and paging sinks that follow an incident's life (PagerDuty, the Slack app, Teams),
    /// concurrently and independently. Where the Slack app posted a new message, the incident
    /// remembers it, so later notices edit it.
    async fn tell(
        &self,
        notice: &Notice<'_>,
        deadline: tokio::time::Instant,
        deliveries: &mut Deliveries,
    ) {
        let pagerduty = async {
            match &self.pagerduty {
                Some(p) => Some(p.send(notice, deadline).await),
                None => None,
            }
        };
        // A storm's second failure can come before the first one's message is posted and
        // remembered: an update then waits for the next one instead of posting a second message
        // (after a minute without one, the opening post failed, and the update posts it).
        let opening_in_flight = matches!(notice, Notice::Updated { incident, .. }
            if incident.slack.is_none() && chrono::Utc::now().timestamp() - incident.opened_at < 60);
        let slack_app = async {
            match &self.slack_app {
                Some(_) if opening_in_flight => Some(crate::notify::slack_app::SlackAppOutcome {
                    delivery: Delivery::Skipped {
                        reason: "the incident's first message is still being posted".into(),
                    },
                    posted: None,
                }),
                Some(s) => Some(s.send(notice, deadline).await),
                None => None,
            }
        };
        let teams = async {
            match &self.teams {
                Some(t) => Some(t.send(notice, deadline).await),
                None => None,
            }
        };
        let (pagerduty, slack_app, teams) =
            tokio::join!(Box::pin(pagerduty), Box::pin(slack_app), Box::pin(teams));
        if let (
            Some(posted),
            Some(store),
            Notice::Opened { incident, .. } | Notice::Updated { incident, .. },
        ) = (
            slack_app.as_ref().and_then(|o| o.posted.as_ref()),
            &self.incidents,
            notice,
        ) {
            store.set_slack_message(&incident.id, posted).await;
        }
        deliveries.pagerduty = fold(deliveries.pagerduty.take(), pagerduty);
        deliveries.slack_app = fold(deliveries.slack_app.take(), slack_app.map(|o| o.delivery));
        deliveries.teams = fold(deliveries.teams.take(), teams);
    }

    /// The task definition a recovered service is steady on (its PRIMARY deployment): one
    /// `DescribeServices` in the service's account, only when incidents were open.
    async fn steady_revision(
        &self,
        context: &lambda_runtime::Context,
        e: &ServiceEvent,
        record: &mut AuditRecord,
    ) -> Option<String> {
        let deployments = self.service_deployments(context, e, record).await?;
        deployments
            .iter()
            .find(|d| d.status.as_deref() == Some("PRIMARY"))
            .and_then(|d| d.task_definition.as_deref())
            .map(task_definition_name)
    }

    /// The revisions of a failed deployment and of the one ECS rolled back to.
    async fn name_revisions(
        &self,
        context: &lambda_runtime::Context,
        e: &ServiceEvent,
        deployment: &mut FailedDeployment,
        record: &mut AuditRecord,
    ) {
        let Some(deployments) = self.service_deployments(context, e, record).await else {
            return;
        };
        let revision_of = |id: &str| {
            deployments
                .iter()
                .find(|d| d.id == id)
                .and_then(|d| d.task_definition.as_deref())
                .map(task_definition_name)
        };
        #[allow(clippy::redundant_closure_call)] // a false positive: it is called again below
        {
            deployment.failed_revision = revision_of(&deployment.deployment_id);
        }
        deployment.rolled_back_to = deployment
            .rollback_deployment_id
            .as_deref()
            .and_then(revision_of);
    }

    async fn service_deployments(
        &self,
        context: &lambda_runtime::Context,
        e: &ServiceEvent,
        record: &mut AuditRecord,
    ) -> Option<Vec<crate::model::facts::DeploymentFacts>> {
        let home = crate::model::arn::account(&context.invoked_function_arn)
            .map(str::to_string)
            .or(self.settings.home_account.clone());
        let clients = self.clients_for(Some(&e.account), home.as_deref()).await;
        let (deployments, calls) =
            crate::collect::service_deployments(&clients, &e.cluster, &e.service).await;
        record.aws_calls += calls;
        deployments.value().cloned()
    }
}

/// Two deliveries to the same sink in one invocation: the failure wins, else the latest.
fn fold(before: Option<Delivery>, now: Option<Delivery>) -> Option<Delivery> {
    match (before, now) {
        (Some(b @ Delivery::Failed { .. }), _) => Some(b),
        (b, None) => b,
        (_, n) => n,
    }
}

/// The handler's answer (the audit line says more).
fn outcome(decision: Decision, reason: Option<&str>, root_cause: Option<&str>) -> Value {
    json!({"decision": decision.as_str(), "reason": reason, "root_cause": root_cause})
}

/// Stamp the duration and print the audit line.
fn finish(record: &mut AuditRecord, started: Instant) {
    record.duration_ms = started.elapsed().as_millis() as u64;
    notify::audit(record);
}

/// Not a pull failure: audited, and answered `ignored`.
fn ignored(payload: &Value, reason: String, started: Instant) -> Value {
    let mut record = AuditRecord::new(Decision::Ignored);
    record.event_id = payload
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string);
    record.task_arn = payload
        .pointer("/detail/taskArn")
        .and_then(Value::as_str)
        .map(str::to_string);
    record.reason = Some(reason.clone());
    finish(&mut record, started);
    outcome(Decision::Ignored, Some(&reason), None)
}

/// Records the event id. `Err` holds the answer for a duplicate delivery (already audited);
/// `Ok` what deduplication said so far (`Disabled` also when the event has no id).
async fn mark_event(
    app: &App,
    failure: &PullFailure,
    now: i64,
    started: Instant,
) -> Result<DedupStatus, Value> {
    let (Some(dedup), Some(event_id)) = (&app.dedup, failure.event_id.as_deref()) else {
        return Ok(DedupStatus::Disabled);
    };
    match dedup.mark_event(event_id, now).await {
        EventMark::Duplicate => {
            let mut record = AuditRecord::new(Decision::DuplicateEvent);
            record.event_id = Some(event_id.to_string());
            record.task_arn = failure.task.arn.clone();
            record.reason = Some("this EventBridge event id was already handled".into());
            record.dedup = DedupStatus::DuplicateEvent;
            finish(&mut record, started);
            Err(outcome(
                Decision::DuplicateEvent,
                record.reason.as_deref(),
                None,
            ))
        }
        EventMark::Unavailable(error) => Ok(DedupStatus::Unavailable { error }),
        EventMark::First => Ok(DedupStatus::Disabled),
    }
}

/// The clients of `failure`'s account (ours, or a member account's role).
async fn clients_of(
    app: &App,
    context: &lambda_runtime::Context,
    account: Option<&str>,
) -> Clients {
    let home = crate::model::arn::account(&context.invoked_function_arn)
        .map(str::to_string)
        .or(app.settings.home_account.clone());
    app.clients_for(account, home.as_deref()).await
}

/// Diagnoses `failure`, without the history stage (see [`engine::add_history`]).
async fn diagnose(
    clients: &Clients,
    context: &lambda_runtime::Context,
    failure: &PullFailure,
) -> engine::Run {
    let deadline = engine::deadline_for(context.deadline);
    let options = crate::collect::Options {
        deadline: Some(deadline.into()),
        history: false,
    };
    // Boxed: the collection future is large (keeps worker and test-thread stacks small).
    Box::pin(engine::diagnose_with(clients, failure, options)).await
}

/// Publishing failed: give back the claims so that Lambda's retry of this event is neither
/// dropped as a duplicate nor suppressed.
async fn give_back(
    app: &App,
    claimed: bool,
    incident_id: &str,
    event_id: &str,
    eventbridge_id: Option<&str>,
) {
    if let (true, Some(store)) = (claimed, &app.incidents) {
        store.release(incident_id, event_id).await;
    }
    if let (Some(dedup), Some(id)) = (&app.dedup, eventbridge_id) {
        dedup.forget_event(id).await;
    }
}

/// SNS and the Slack webhook, concurrently; `None` for a sink that is not configured.
async fn deliver(
    app: &App,
    diagnosis: &Diagnosis,
    incident: &Incident,
    suppressed_before: u64,
) -> (Option<Delivery>, Option<Delivery>) {
    let format = app.settings.sns_format.unwrap_or(SnsFormat::Text);
    let context = crate::report::incident::context_lines(incident, app.window_seconds());
    let sns_delivery = async {
        match &app.topic_arn {
            Some(topic) => {
                let mut message = sns_message(diagnosis, format, suppressed_before);
                message.attributes.push(("status", "open".into()));
                if !context.is_empty() && format == SnsFormat::Text {
                    message.body = format!("{}\n{}", context.join("\n"), message.body);
                }
                Some(sns::publish(&app.sns, topic, &message).await)
            }
            None => None,
        }
    };
    let slack_delivery = async {
        match &app.slack {
            Some(slack) => {
                let mut message = crate::report::slack::render(diagnosis, suppressed_before);
                if let (false, Some(blocks)) = (
                    context.is_empty(),
                    message.get_mut("blocks").and_then(Value::as_array_mut),
                ) {
                    let text = context
                        .iter()
                        .map(|l| crate::report::slack::escape(l))
                        .collect::<Vec<_>>()
                        .join("\n");
                    blocks.insert(
                        1,
                        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}),
                    );
                }
                Some(slack.post(&message).await)
            }
            None => None,
        }
    };
    tokio::join!(Box::pin(sns_delivery), Box::pin(slack_delivery))
}

/// Logging for Lambda: JSON lines on stdout, level from `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(true)
        .without_time()
        .with_env_filter(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(&move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn settings_are_read_typed_with_their_defaults() {
        let s = settings(&[
            (
                "PULLDOCTOR_TOPIC_ARN",
                " arn:aws:sns:us-east-1:111122223333:pulldoctor ",
            ),
            ("PULLDOCTOR_DEDUP_WINDOW_MINUTES", "15"),
            ("PULLDOCTOR_HISTORY", "off"),
            ("PULLDOCTOR_CONCURRENCY", "0"),
            ("PULLDOCTOR_SLACK_SECRET_ARN", ""),
        ])
        .unwrap();
        assert_eq!(
            s.topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:111122223333:pulldoctor")
        );
        assert_eq!(s.dedup_window, Some(Duration::from_secs(15 * 60)));
        assert!(!s.history);
        assert_eq!(s.concurrency, Some(1), "at least one container");
        assert_eq!(s.slack_secret_arn, None, "an empty value is no value");
        assert!(settings(&[]).unwrap().history, "history is on by default");
    }

    /// One error names every bad variable, so the template is fixed in one go.
    #[test]
    fn every_malformed_variable_is_named_at_once() {
        let err = settings(&[
            ("PULLDOCTOR_DEDUP_WINDOW_MINUTES", "half an hour"),
            ("PULLDOCTOR_HISTORY", "maybe"),
            ("PULLDOCTOR_OUTPUT_FORMAT", "xml"),
            ("PULLDOCTOR_CACHE_TTL_SECONDS", "-5"),
        ])
        .unwrap_err();
        for name in [
            "PULLDOCTOR_DEDUP_WINDOW_MINUTES=\"half an hour\"",
            "PULLDOCTOR_HISTORY=\"maybe\"",
            "PULLDOCTOR_OUTPUT_FORMAT",
            "PULLDOCTOR_CACHE_TTL_SECONDS=\"-5\"",
        ] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
    }
}
