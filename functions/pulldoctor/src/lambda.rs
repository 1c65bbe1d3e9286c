//! The Lambda handler: intake → (duplicate delivery?) → engine → (same failure already
//! notified?) → SNS and Slack, with one JSON audit line per invocation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::collect::Clients;
use crate::engine;
use crate::intake::{intake, Intake, PullFailure};
use crate::notify::dedup::{self, Dedup, EventMark, Gate};
use crate::notify::slack::Slack;
use crate::notify::sns;
use crate::report::sns::{message as sns_message, SnsFormat};
use crate::model::audit::{AuditRecord, Decision, DedupStatus, Delivery};
use crate::model::diagnosis::Diagnosis;
use crate::notify;

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
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl Settings {
    /// Reads the `PULLDOCTOR_*` environment. A malformed value is an error (the function must not
    /// start half-configured).
    pub fn from_env() -> Result<Settings, String> {
        let number = |name: &str| -> Result<Option<u64>, String> {
            env(name).map(|v| v.parse::<u64>().map_err(|_| format!("{name}={v:?} is not a whole number"))).transpose()
        };
        Ok(Settings {
            topic_arn: env("PULLDOCTOR_TOPIC_ARN"),
            sns_format: env("PULLDOCTOR_OUTPUT_FORMAT").map(|f| f.parse()).transpose()?,
            slack_secret_arn: env("PULLDOCTOR_SLACK_SECRET_ARN"),
            slack_timeout: number("PULLDOCTOR_SLACK_TIMEOUT_MS")?.map(Duration::from_millis),
            dedup_table: env("PULLDOCTOR_DEDUP_TABLE"),
            dedup_window: number("PULLDOCTOR_DEDUP_WINDOW_MINUTES")?.map(|m| Duration::from_secs(m * 60)),
            member_role_name: env("PULLDOCTOR_MEMBER_ROLE_NAME"),
            member_external_id: env("PULLDOCTOR_MEMBER_EXTERNAL_ID"),
            home_account: env("PULLDOCTOR_HOME_ACCOUNT"),
            history: match env("PULLDOCTOR_HISTORY").as_deref() {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => return Err(format!("PULLDOCTOR_HISTORY={other:?} is neither on nor off")),
            },
        })
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
    dedup: Option<Dedup>,
    /// Clients for member accounts, by account id (assumed-role credentials refresh themselves).
    members: Arc<Mutex<HashMap<String, Clients>>>,
}

impl App {
    /// Reads the `PULLDOCTOR_*` settings and the standard AWS SDK environment.
    pub async fn from_env() -> Result<App, String> {
        let config = aws_config::load_from_env().await;
        Ok(App::with_settings(&config, Settings::from_env()?))
    }

    /// SNS only: no Slack, no deduplication.
    pub fn new(config: &aws_config::SdkConfig, topic_arn: Option<String>) -> App {
        App::with_settings(config, Settings { topic_arn, ..Settings::default() })
    }

    pub fn with_settings(config: &aws_config::SdkConfig, settings: Settings) -> App {
        App {
            config: config.clone(),
            topic_arn: settings.topic_arn.clone(),
            clients: Clients::for_lambda(config),
            sns: aws_sdk_sns::Client::new(config),
            slack: settings.slack_secret_arn.clone().map(|arn| {
                Arc::new(Slack::new(config, arn, crate::notify::http::Http::new(), settings.slack_timeout.unwrap_or(Duration::from_secs(3))))
            }),
            dedup: settings.dedup_table.clone().map(|table| {
                Dedup::new(config, table, settings.dedup_window.unwrap_or(Duration::from_secs(30 * 60)))
            }),
            members: Arc::new(Mutex::new(HashMap::new())),
            settings,
        }
    }

    /// The clients to diagnose an event of `account` with: ours, or an assumed role in a member
    /// account (multi-account setups forward member events to this function's bus).
    async fn clients_for(&self, account: Option<&str>, home: Option<&str>) -> Clients {
        let (Some(account), Some(role)) = (account, self.settings.member_role_name.as_deref()) else {
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
        let clients = Clients::assumed_role(&self.config, &role_arn, self.settings.member_external_id.as_deref()).await.with_lambda_cache();
        members.insert(account.to_string(), clients.clone());
        clients
    }
}

fn home_partition(config: &aws_config::SdkConfig) -> &'static str {
    crate::model::arn::partition_of(config.region().map_or("", |r| r.as_ref()))
}

/// Handles one EventBridge event. Returns a small JSON outcome:
/// `{"decision": "notified" | "suppressed" | "duplicate_event" | "diagnosed" | "ignored", "reason": …, "root_cause": …}`.
///
/// Unrelated or malformed events are ignored with `Ok`: retrying them cannot help. A diagnosis
/// that could not be published to SNS returns `Err` (after giving back its dedup claims), so
/// Lambda's async retries and finally the on-failure destination keep it: nothing is lost silently.
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    let started = Instant::now();
    let now = chrono::Utc::now().timestamp();
    let failure = match intake(&event.payload) {
        Intake::Ignored { kind, reason } => {
            let reason = format!("{}: {reason}", serde_json::to_value(&kind)?.as_str().unwrap_or("ignored"));
            return Ok(ignored(&event.payload, reason, started));
        }
        Intake::PullFailure(failure) => failure,
    };

    // 1. The same EventBridge event delivered again: drop it before any AWS read.
    let event_check = match mark_event(app, &failure, now, started).await {
        Ok(status) => status,
        Err(duplicate) => return Ok(duplicate),
    };

    // 2. Diagnose, in the event's account.
    let diagnosis = diagnose(app, &event.context, &failure).await;
    let code = diagnosis.root_cause.code.code();
    let fingerprint = dedup::fingerprint(&diagnosis);
    let event_id = diagnosis.event_id.clone().unwrap_or_else(|| event.context.request_id.clone());
    let mut record = AuditRecord::new(Decision::Diagnosed).with_diagnosis(&diagnosis);
    record.fingerprint = Some(fingerprint.clone());

    // 3. The same failure already notified in this window: count it, do not page again.
    let Some(window) = gate(app, &mut record, &fingerprint, &event_id, event_check).await else {
        finish(&mut record, started);
        return Ok(outcome(Decision::Suppressed, Some("same failure already notified in this window"), Some(code)));
    };

    // 4. Deliver: SNS and Slack independently.
    (record.deliveries.sns, record.deliveries.slack) = deliver(app, &diagnosis, window.suppressed_before).await;
    let delivered = [&record.deliveries.sns, &record.deliveries.slack].into_iter().flatten().any(Delivery::sent);
    record.decision = match (&record.deliveries.sns, delivered) {
        (Some(Delivery::Failed { .. }), _) => Decision::PublishFailed,
        (_, true) => Decision::Notified,
        _ => Decision::Diagnosed,
    };
    finish(&mut record, started);

    if let Some(Delivery::Failed { error }) = &record.deliveries.sns {
        give_back(app, &window, &fingerprint, &event_id, diagnosis.event_id.as_deref()).await;
        return Err(format!("diagnosis {code} could not be published: {error}").into());
    }
    Ok(outcome(record.decision, None, Some(code)))
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
    record.event_id = payload.get("id").and_then(Value::as_str).map(str::to_string);
    record.task_arn = payload.pointer("/detail/taskArn").and_then(Value::as_str).map(str::to_string);
    record.reason = Some(reason.clone());
    finish(&mut record, started);
    outcome(Decision::Ignored, Some(&reason), None)
}

/// Records the event id. `Err` holds the answer for a duplicate delivery (already audited);
/// `Ok` what deduplication said so far (`Disabled` also when the event has no id).
async fn mark_event(app: &App, failure: &PullFailure, now: i64, started: Instant) -> Result<DedupStatus, Value> {
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
            Err(outcome(Decision::DuplicateEvent, record.reason.as_deref(), None))
        }
        EventMark::Unavailable(error) => Ok(DedupStatus::Unavailable { error }),
        EventMark::First => Ok(DedupStatus::Disabled),
    }
}

/// Diagnoses `failure` with the clients of its account (ours, or a member account's role).
async fn diagnose(app: &App, context: &lambda_runtime::Context, failure: &PullFailure) -> Diagnosis {
    let home = crate::model::arn::account(&context.invoked_function_arn).map(str::to_string).or(app.settings.home_account.clone());
    let clients = app.clients_for(failure.account.as_deref(), home.as_deref()).await;
    // Boxed: the collection future is large (keeps worker and test-thread stacks small).
    let deadline = engine::deadline_for(context.deadline);
    let (_, diagnosis) = Box::pin(engine::diagnose_within(&clients, failure, deadline, app.settings.history)).await;
    diagnosis
}

/// A notification may go out; `claimed` when this invocation holds the fingerprint's window.
struct Window {
    suppressed_before: u64,
    claimed: bool,
}

/// Asks the fingerprint gate and notes its answer in `record`. `None`: suppressed (the record
/// says so; the caller prints it).
async fn gate(app: &App, record: &mut AuditRecord, fingerprint: &str, event_id: &str, event_check: DedupStatus) -> Option<Window> {
    let mut window = Window { suppressed_before: 0, claimed: false };
    record.dedup = event_check;
    // Only when the event id check answered (an unavailable table is not asked again).
    let Some(dedup) = app.dedup.as_ref().filter(|_| record.dedup == DedupStatus::Disabled) else {
        return Some(window);
    };
    match dedup.gate(fingerprint, event_id, chrono::Utc::now().timestamp()).await {
        Gate::Suppressed { count, notified_by } => {
            record.decision = Decision::Suppressed;
            record.dedup =
                DedupStatus::Suppressed { count_in_window: count, notified_by, window_seconds: dedup.window().as_secs() };
            record.deliveries.sns = app.topic_arn.as_ref().map(|_| Delivery::Skipped { reason: "suppressed".into() });
            record.deliveries.slack = app.slack.as_ref().map(|_| Delivery::Skipped { reason: "suppressed".into() });
            return None;
        }
        Gate::Notify { suppressed_before } => {
            window = Window { suppressed_before, claimed: true };
            record.dedup = DedupStatus::First { suppressed_before };
        }
        Gate::Unavailable { error } => record.dedup = DedupStatus::Unavailable { error },
    }
    Some(window)
}

/// Publishing failed: give back the dedup claims so that Lambda's retry of this event is neither
/// dropped as a duplicate nor suppressed.
async fn give_back(app: &App, window: &Window, fingerprint: &str, event_id: &str, eventbridge_id: Option<&str>) {
    let Some(dedup) = &app.dedup else { return };
    if window.claimed {
        dedup.release(fingerprint, event_id).await;
    }
    if let Some(id) = eventbridge_id {
        dedup.forget_event(id).await;
    }
}

/// SNS and Slack, concurrently; `None` for a sink that is not configured.
async fn deliver(app: &App, diagnosis: &Diagnosis, suppressed_before: u64) -> (Option<Delivery>, Option<Delivery>) {
    let format = app.settings.sns_format.unwrap_or(SnsFormat::Text);
    let sns_delivery = async {
        match &app.topic_arn {
            Some(topic) => Some(sns::publish(&app.sns, topic, &sns_message(diagnosis, format, suppressed_before)).await),
            None => None,
        }
    };
    let slack_delivery = async {
        match &app.slack {
            Some(slack) => Some(slack.post(&crate::report::slack::render(diagnosis, suppressed_before)).await),
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
