//! CloudTrail writes to the resources the root cause names (`cloudtrail:LookupEvents`, one
//! `ResourceName` per call). LookupEvents allows 2 requests per second per account and region,
//! shared with every other caller, so the look is bounded: at most [`MAX_RESOURCES`] first pages
//! at once, then at most [`MAX_CALLS`] in all for the next pages (two dependent rounds). The
//! window's ends are rounded to [`WINDOW_STEP`] so the failures of a storm ask the same question
//! and the warm cache answers all but the first. A failed lookup (throttled, denied) leaves its
//! resource `Unreadable`: the section says `unknown`, the diagnosis is unchanged.

use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_smithy_types::DateTime as SmithyTime;
use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::aws::{CallLog, Clients};
use crate::model::diagnosis::Diagnosis;
use crate::model::facts::ErrorKind;
use crate::model::facts::{
    resources_named, ChangeFacts, Fact, Facts, ResourceLookup, TrailEvent, MAX_RESOURCES,
};

/// How far before the failure the writes are looked up.
pub const WINDOW_HOURS: u32 = 24;
/// LookupEvents calls per diagnosis, first pages included.
pub const MAX_CALLS: usize = 5;
/// The window's ends are rounded outwards to this (what a storm's failures share).
pub const WINDOW_STEP: Duration = Duration::minutes(5);
/// Warm-cache key of "CloudTrail throttled us": kept for the cache's TTL.
const BACKOFF_KEY: &str = "cloudtrail:LookupEvents throttled";
/// Events per page (LookupEvents' maximum).
const PAGE: i32 = 50;

type Page = (Vec<TrailEvent>, Option<String>);

pub(super) async fn read(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    diagnosis: &Diagnosis,
) -> Fact<ChangeFacts> {
    let resources = resources_named(facts, diagnosis);
    if resources.is_empty() {
        return Fact::NotCollected {
            reason: format!(
                "{} names no resource CloudTrail records",
                diagnosis.root_cause.code
            ),
        };
    }
    debug_assert!(resources.len() <= MAX_RESOURCES);
    // CloudTrail throttled this warm container a moment ago: asking again in a storm would only
    // take more of the account's 2 requests per second from everyone else.
    if clients
        .cache
        .as_ref()
        .is_some_and(|c| c.get::<()>(BACKOFF_KEY).is_some())
    {
        let reason = "Throttled: cloudtrail:LookupEvents (throttled within the last minute; not asked again, to leave \
                      CloudTrail's 2 requests per second to other callers)";
        let lookups = resources
            .iter()
            .map(|r| ResourceLookup {
                resource: r.clone(),
                complete: false,
                events: Fact::Unreadable {
                    reason: reason.into(),
                    kind: ErrorKind::Throttled,
                },
            })
            .collect();
        return Fact::found(ChangeFacts {
            until: facts.failure.time,
            window_hours: WINDOW_HOURS,
            lookups,
        });
    }
    let until = facts.failure.time.unwrap_or_else(Utc::now);
    let (start, end) = window(until);
    let first = futures_util::future::join_all(
        resources
            .iter()
            .map(|r| Box::pin(page(clients, log, r, start, end, None))),
    )
    .await;
    if first.iter().any(|f| {
        matches!(
            f,
            Fact::Unreadable {
                kind: ErrorKind::Throttled,
                ..
            }
        )
    }) {
        if let Some(cache) = &clients.cache {
            cache.put(BACKOFF_KEY.to_string(), std::sync::Arc::new(()));
        }
    }
    let mut lookups: Vec<(ResourceLookup, Option<String>)> = resources
        .iter()
        .zip(first)
        .map(|(resource, fact)| match fact {
            Fact::Found {
                value: (events, next),
            } => (
                ResourceLookup {
                    resource: resource.clone(),
                    complete: next.is_none(),
                    events: Fact::found(events),
                },
                next,
            ),
            other => (
                ResourceLookup {
                    resource: resource.clone(),
                    complete: false,
                    events: other.map(|(e, _)| e),
                },
                None,
            ),
        })
        .collect();
    // Second round: the next pages, the root cause's first resource first, within the budget.
    let budget = MAX_CALLS.saturating_sub(resources.len());
    let wanted: Vec<(usize, String)> = lookups
        .iter()
        .enumerate()
        .filter_map(|(i, (_, next))| Some((i, next.clone()?)))
        .take(budget)
        .collect();
    let second = futures_util::future::join_all(wanted.iter().map(|(i, token)| {
        Box::pin(page(
            clients,
            log,
            &lookups[*i].0.resource,
            start,
            end,
            Some(token.clone()),
        ))
    }))
    .await;
    for ((i, _), fact) in wanted.iter().zip(second) {
        let lookup = &mut lookups[*i].0;
        if let (
            Fact::Found {
                value: (more, next),
            },
            Fact::Found { value: events },
        ) = (fact, &mut lookup.events)
        {
            events.extend(more);
            lookup.complete = next.is_none();
        }
    }
    Fact::found(ChangeFacts {
        until: Some(until),
        window_hours: WINDOW_HOURS,
        lookups: lookups.into_iter().map(|(l, _)| l).collect(),
    })
}

/// `[until − 24 h, until]`, rounded outwards to [`WINDOW_STEP`].
pub fn window(until: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let floor = |t: DateTime<Utc>| t.duration_trunc(WINDOW_STEP).unwrap_or(t);
    let end = floor(until);
    let end = if end < until { end + WINDOW_STEP } else { end };
    (floor(until - Duration::hours(WINDOW_HOURS.into())), end)
}

/// One page of the events on `resource` (read-only ones included: `summarize` keeps the writes
/// and the lifecycle expiries).
async fn page(
    clients: &Clients,
    log: &CallLog,
    resource: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    next: Option<String>,
) -> Fact<Page> {
    let attribute = match LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::ResourceName)
        .attribute_value(resource)
        .build()
    {
        Ok(a) => a,
        Err(e) => {
            return Fact::NotCollected {
                reason: e.to_string(),
            }
        }
    };
    shared!(
        log,
        "cloudtrail:LookupEvents",
        &[],
        clients
            .cloudtrail
            .lookup_events()
            .lookup_attributes(attribute)
            .start_time(SmithyTime::from_secs(start.timestamp()))
            .end_time(SmithyTime::from_secs(end.timestamp()))
            .max_results(PAGE)
            .set_next_token(next),
        |out: &LookupEventsOutput| Fact::found((
            out.events().iter().map(trail_event).collect(),
            out.next_token().map(str::to_string)
        )),
    )
    .await
}

fn trail_event(e: &aws_sdk_cloudtrail::types::Event) -> TrailEvent {
    let record: serde_json::Value = e
        .cloud_trail_event()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let field = |name: &str| record.get(name).filter(|v| !v.is_null()).cloned();
    TrailEvent {
        event_id: e.event_id().unwrap_or_default().to_string(),
        event_name: e.event_name().unwrap_or_default().to_string(),
        event_time: e
            .event_time()
            .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        event_source: e.event_source().map(str::to_string),
        read_only: e.read_only() == Some("true"),
        username: e.username().map(str::to_string),
        resources: e
            .resources()
            .iter()
            .map(|r| {
                (
                    r.resource_type().unwrap_or_default().to_string(),
                    r.resource_name().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        user_identity: field("userIdentity"),
        source_ip: field("sourceIPAddress").and_then(|v| v.as_str().map(str::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_shares_one_window() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let (start, end) = window(at("2026-11-30T14:14:10Z"));
        assert_eq!(
            (start, end),
            (at("2026-11-29T14:10:00Z"), at("2026-11-30T14:15:00Z"))
        );
        assert_eq!(
            window(at("2026-11-30T14:11:59Z")),
            (start, end),
            "failures minutes apart ask the same question"
        );
        assert_eq!(
            window(at("2026-11-30T14:15:00Z")).1,
            at("2026-11-30T14:15:00Z")
        );
    }
}
