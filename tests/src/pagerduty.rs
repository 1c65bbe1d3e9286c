//! A local stand-in for PagerDuty's Events API v2 (`POST /v2/enqueue`), answering as PagerDuty
//! documents it: 202 `{"status": "success", "message": "Event processed", "dedup_key": …}` for
//! an event it takes, 400 `{"status": "invalid event", "message": "Event object is invalid",
//! "errors": […]}` for one it cannot, and on demand 429 with `Retry-After`, 500, a refused
//! connection or a slow answer. It keeps the alerts as PagerDuty would: a trigger opens an
//! alert or, while one with its `dedup_key` (and routing key) is open, is applied to it; a
//! resolve closes it; a trigger after the resolve opens a new one. (PagerDuty groups alerts
//! into incidents; without grouping rules, as here, an alert is an incident.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{Message, Reply, Server};

/// How the stub answers.
#[derive(Debug, Clone, PartialEq)]
pub enum PagerDutyBehaviour {
    /// Validate, then 202 or 400, as PagerDuty does.
    Normal,
    /// 429 with `Retry-After: <seconds>`.
    RateLimited(u64),
    /// 500 with an error body.
    ServerError,
    /// Connections refused (the port is closed); a standing behaviour only.
    Down,
    /// [`PagerDutyBehaviour::Normal`], after this delay.
    Slow(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

/// One PagerDuty alert (here: one incident).
#[derive(Debug, Clone)]
pub struct Alert {
    pub dedup_key: String,
    pub routing_key: String,
    pub status: AlertStatus,
    /// Trigger events applied to it, the first included.
    pub triggers: usize,
    /// The events applied to it, in order.
    pub events: Vec<Value>,
}

impl Alert {
    /// The latest trigger's payload.
    pub fn payload(&self) -> &Value {
        self.events
            .iter()
            .rev()
            .find(|e| e["event_action"] == "trigger")
            .map(|e| &e["payload"])
            .unwrap_or(&Value::Null)
    }
}

#[derive(Default)]
struct State {
    standing: Option<PagerDutyBehaviour>,
    next: VecDeque<PagerDutyBehaviour>,
    requests: Vec<Value>,
    accepted: Vec<Value>,
    alerts: Vec<Alert>,
}

pub struct PagerDutyStub {
    server: Server,
    state: Arc<Mutex<State>>,
}

const SEVERITIES: &[&str] = &["critical", "error", "warning", "info"];
const ACTIONS: &[&str] = &["trigger", "acknowledge", "resolve"];
/// PagerDuty's size limit of one event.
const EVENT_MAX: usize = 512 * 1024;

impl PagerDutyStub {
    pub fn start() -> PagerDutyStub {
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let server = Server::start(move |request| answer(&s, request));
        PagerDutyStub { server, state }
    }

    /// The enqueue URL (`PULLDOCTOR_PAGERDUTY_URL`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v2/enqueue", self.server.port())
    }

    /// Answer every request like this from now on.
    pub fn answer(&self, behaviour: PagerDutyBehaviour) {
        self.server.set_down(behaviour == PagerDutyBehaviour::Down);
        self.state.lock().unwrap().standing = Some(behaviour);
    }

    /// Answer the next `times` requests like this, then as before.
    pub fn answer_next(&self, behaviour: PagerDutyBehaviour, times: usize) {
        assert_ne!(
            behaviour,
            PagerDutyBehaviour::Down,
            "down is a standing behaviour (answer)"
        );
        self.state
            .lock()
            .unwrap()
            .next
            .extend(std::iter::repeat_n(behaviour, times));
    }

    /// Every request body received, answered or not (`null` for a body that is not JSON).
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The events answered with 202.
    pub fn accepted(&self) -> Vec<Value> {
        self.state.lock().unwrap().accepted.clone()
    }

    /// Every alert, in the order they were opened.
    pub fn alerts(&self) -> Vec<Alert> {
        self.state.lock().unwrap().alerts.clone()
    }
}

fn answer(state: &Mutex<State>, request: &Message) -> Reply {
    let event: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let behaviour = {
        let mut s = state.lock().unwrap();
        s.requests.push(event.clone());
        let standing = s.standing.clone().unwrap_or(PagerDutyBehaviour::Normal);
        s.next.pop_front().unwrap_or(standing)
    };
    match behaviour {
        PagerDutyBehaviour::RateLimited(after) => {
            return Reply::json(429, &json!({"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."}))
                .header("retry-after", after.to_string())
        }
        PagerDutyBehaviour::ServerError => return Reply::json(500, &json!({"status": "error", "message": "Internal server error"})),
        PagerDutyBehaviour::Slow(delay) => std::thread::sleep(delay),
        PagerDutyBehaviour::Normal | PagerDutyBehaviour::Down => {}
    }
    if request.method() != "POST" || request.path() != "/v2/enqueue" {
        return Reply::json(404, &json!({"status": "not found", "message": "Not found"}));
    }
    let errors = if request.body.len() > EVENT_MAX {
        vec!["Event object is too large".to_string()]
    } else {
        invalid(&event)
    };
    if !errors.is_empty() {
        return Reply::json(
            400,
            &json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
        );
    }
    let dedup_key = event["dedup_key"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(crate::util::random_hex32);
    apply(&mut state.lock().unwrap(), &event, &dedup_key);
    Reply::json(
        202,
        &json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
    )
}

/// What PagerDuty would refuse in this event (empty: valid).
fn invalid(event: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if !event.is_object() {
        return vec!["Event object is not a JSON object".into()];
    }
    let blank = |v: &Value| v.as_str().is_none_or(|s| s.trim().is_empty());
    match event["routing_key"].as_str() {
        None | Some("") => errors.push("'routing_key' is missing or blank".into()),
        Some(k) if k.chars().count() != 32 => {
            errors.push("Length of 'routing_key' is incorrect (should be 32 characters)".into())
        }
        Some(_) => {}
    }
    let action = event["event_action"].as_str().unwrap_or_default();
    if !ACTIONS.contains(&action) {
        errors.push(
            "'event_action' is missing or invalid (must be trigger, acknowledge or resolve)".into(),
        );
    }
    match event.get("dedup_key") {
        Some(Value::String(k)) if k.chars().count() > 255 => {
            errors.push("Length of 'dedup_key' is too long (at most 255 characters)".into())
        }
        Some(Value::String(k)) if !k.trim().is_empty() => {}
        None if action == "trigger" => {}
        _ => errors.push("'dedup_key' is missing or blank".into()),
    }
    if action == "trigger" {
        let p = &event["payload"];
        if !p.is_object() {
            errors.push("'payload' is missing or not an object".into());
            return errors;
        }
        match p["summary"].as_str() {
            _ if blank(&p["summary"]) => {
                errors.push("'payload.summary' is missing or blank".into())
            }
            Some(s) if s.chars().count() > 1024 => errors
                .push("Length of 'payload.summary' is too long (at most 1024 characters)".into()),
            _ => {}
        }
        if blank(&p["source"]) {
            errors.push("'payload.source' is missing or blank".into());
        }
        if !p["severity"]
            .as_str()
            .is_some_and(|s| SEVERITIES.contains(&s))
        {
            errors.push("'payload.severity' is missing or invalid (must be critical, error, warning or info)".into());
        }
        if let Some(t) = p.get("timestamp") {
            if t.as_str()
                .is_none_or(|t| chrono::DateTime::parse_from_rfc3339(t).is_err())
            {
                errors.push("'payload.timestamp' is not an ISO 8601 timestamp".into());
            }
        }
        if p.get("custom_details").is_some_and(|c| !c.is_object()) {
            errors.push("'payload.custom_details' is not an object".into());
        }
        for field in ["component", "group", "class"] {
            if p.get(field).is_some_and(|v| !v.is_string()) {
                errors.push(format!("'payload.{field}' is not a string"));
            }
        }
    }
    if let Some(links) = event.get("links") {
        let ok = links.as_array().is_some_and(|l| {
            l.iter()
                .all(|l| l["href"].as_str().is_some_and(|h| !h.is_empty()))
        });
        if !ok {
            errors.push("'links' must be a list of objects with an 'href'".into());
        }
    }
    errors
}

/// Apply an accepted event to the alerts, as PagerDuty's de-duplication does.
fn apply(state: &mut State, event: &Value, dedup_key: &str) {
    state.accepted.push(event.clone());
    let routing_key = event["routing_key"].as_str().unwrap_or_default();
    let open = state.alerts.iter_mut().find(|a| {
        a.dedup_key == dedup_key
            && a.routing_key == routing_key
            && a.status != AlertStatus::Resolved
    });
    match (event["event_action"].as_str(), open) {
        (Some("trigger"), Some(alert)) => {
            alert.triggers += 1;
            alert.events.push(event.clone());
        }
        (Some("trigger"), None) => state.alerts.push(Alert {
            dedup_key: dedup_key.to_string(),
            routing_key: routing_key.to_string(),
            status: AlertStatus::Triggered,
            triggers: 1,
            events: vec![event.clone()],
        }),
        (Some("acknowledge"), Some(alert)) => {
            alert.status = AlertStatus::Acknowledged;
            alert.events.push(event.clone());
        }
        (Some("resolve"), Some(alert)) => {
            alert.status = AlertStatus::Resolved;
            alert.events.push(event.clone());
        }
        // An acknowledge or resolve without an open alert is dropped.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger() -> Value {
        json!({
            "routing_key": "0123456789abcdef0123456789abcdef",
            "event_action": "trigger",
            "dedup_key": "pulldoctor/x",
            "payload": {"summary": "s", "source": "aws:ecs:x", "severity": "critical", "timestamp": "2024-01-01T00:00:00Z"},
        })
    }

    #[test]
    fn validates_as_pagerduty_documents() {
        assert!(invalid(&trigger()).is_empty());
        let table: [(&str, Value, &str); 8] = [
            (
                "routing_key",
                json!("short"),
                "Length of 'routing_key' is incorrect",
            ),
            ("routing_key", Value::Null, "'routing_key' is missing"),
            (
                "event_action",
                json!("page"),
                "'event_action' is missing or invalid",
            ),
            (
                "dedup_key",
                json!("k".repeat(256)),
                "'dedup_key' is too long",
            ),
            (
                "payload",
                json!({"source": "x", "severity": "critical"}),
                "'payload.summary' is missing",
            ),
            (
                "payload",
                json!({"summary": "x".repeat(1025), "source": "x", "severity": "critical"}),
                "'payload.summary' is too long",
            ),
            (
                "payload",
                json!({"summary": "x", "severity": "critical"}),
                "'payload.source' is missing",
            ),
            (
                "payload",
                json!({"summary": "x", "source": "x", "severity": "high"}),
                "'payload.severity' is missing or invalid",
            ),
        ];
        for (field, value, says) in table {
            let mut e = trigger();
            e[field] = value;
            let errors = invalid(&e);
            assert!(
                errors.iter().any(|m| m.contains(says)),
                "{field}: {errors:?}"
            );
        }
        let resolve =
            json!({"routing_key": "0123456789abcdef0123456789abcdef", "event_action": "resolve"});
        assert_eq!(invalid(&resolve), vec!["'dedup_key' is missing or blank"]);
    }

    #[test]
    fn triggers_fold_into_the_open_alert_and_a_resolve_closes_it() {
        let mut state = State::default();
        let t = trigger();
        let mut resolve = t.clone();
        resolve["event_action"] = json!("resolve");
        apply(&mut state, &t, "pulldoctor/x");
        apply(&mut state, &t, "pulldoctor/x");
        apply(&mut state, &resolve, "pulldoctor/x");
        apply(&mut state, &resolve, "pulldoctor/x"); // dropped: nothing open
        assert_eq!(state.alerts.len(), 1);
        assert_eq!(
            (state.alerts[0].status, state.alerts[0].triggers),
            (AlertStatus::Resolved, 2)
        );
        apply(&mut state, &t, "pulldoctor/x");
        assert_eq!(
            state.alerts.len(),
            2,
            "a trigger after the resolve opens a new alert"
        );
    }
}
