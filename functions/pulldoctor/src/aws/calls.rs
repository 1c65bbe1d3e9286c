//! The call executor: every read of a collection goes through one [`CallLog`], which counts and
//! times it, enforces the deadline, shares a read asked twice, and consults the warm cache.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;
use serde::Serialize;

use super::actions::READ_ACTIONS;
use super::cache::WarmCache;
use super::error::{read_failure, ErrorKind, ReadFailure, THROTTLED};
use crate::model::facts::Fact;

/// One AWS read as the collection saw it (for the call log, the benchmark and the round count).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRecord {
    pub action: String,
    /// Milliseconds since the collection started.
    pub start_ms: f64,
    pub end_ms: f64,
    pub outcome: CallOutcome,
}

/// How one read ended; serialized as `ok`, `not_found`, `failed`, `deadline`, `cached`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Ok,
    NotFound,
    Failed,
    /// The diagnosis deadline passed before AWS answered.
    Deadline,
    /// Answered by the warm cache: no request.
    Cached,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::NotFound => "not_found",
            CallOutcome::Failed => "failed",
            CallOutcome::Deadline => "deadline",
            CallOutcome::Cached => "cached",
        }
    }
}

impl std::fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one collection cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CallStats {
    /// AWS requests issued (cache hits and deduplicated reads are not requests).
    pub calls: u32,
    pub failed: u32,
    /// Reads answered by the warm cache.
    pub cached: u32,
    /// Dependent rounds: the longest chain of calls each of which started after the previous
    /// one had answered. With a fixed latency per call, wall time ≈ rounds × latency.
    pub rounds: u32,
    /// Whether the overall deadline cut the collection short.
    pub deadline_hit: bool,
    pub records: Vec<CallRecord>,
}

/// Longest chain of records where each starts after the previous ended (cache hits excluded).
pub fn dependent_rounds(records: &[CallRecord]) -> u32 {
    let mut calls: Vec<&CallRecord> = records
        .iter()
        .filter(|r| r.outcome != CallOutcome::Cached)
        .collect();
    calls.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let mut depth = vec![0u32; calls.len()];
    for i in 0..calls.len() {
        let before = (0..i)
            .filter(|&j| calls[j].end_ms <= calls[i].start_ms)
            .map(|j| depth[j])
            .max()
            .unwrap_or(0);
        depth[i] = before + 1;
    }
    depth.into_iter().max().unwrap_or(0)
}

/// The fact a read without output records.
fn gap_fact<T>(gap: ReadFailure) -> Fact<T> {
    match gap {
        ReadFailure::NotFound(detail) => Fact::NotFound { detail },
        ReadFailure::Failed { kind, reason } => Fact::Unreadable { reason, kind },
    }
}

/// Answers without output that the warm cache keeps: "does not exist" and "access denied" (a
/// denial will still be one in a minute; throttling, 5xx and timeouts may not).
struct CachedGap(ReadFailure);

impl CachedGap {
    fn keep(gap: &ReadFailure) -> Option<CachedGap> {
        matches!(gap.kind(), ErrorKind::NotFound | ErrorKind::AccessDenied)
            .then(|| CachedGap(gap.clone()))
    }
}

type Shared<O> = tokio::sync::OnceCell<Result<Arc<O>, ReadFailure>>;

/// Issues the reads of one collection: counts and times them, enforces the overall deadline,
/// answers a read asked twice (identity and network both need an EC2 instance) with the first
/// answer, and consults the warm cache.
pub(crate) struct CallLog {
    calls: AtomicU32,
    failed: AtomicU32,
    cached: AtomicU32,
    deadline_hit: AtomicBool,
    started: Instant,
    deadline: Option<tokio::time::Instant>,
    records: Mutex<Vec<CallRecord>>,
    in_flight: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
    cache: Option<Arc<WarmCache>>,
    /// Paces `cloudtrail:LookupEvents` (see [`super::pace`]).
    lookup_pace: Option<Arc<super::pace::LookupPace>>,
}

impl Default for CallLog {
    fn default() -> CallLog {
        CallLog::new(None, None)
    }
}

impl CallLog {
    pub(crate) fn new(
        deadline: Option<tokio::time::Instant>,
        cache: Option<Arc<WarmCache>>,
    ) -> CallLog {
        CallLog {
            calls: AtomicU32::new(0),
            failed: AtomicU32::new(0),
            cached: AtomicU32::new(0),
            deadline_hit: AtomicBool::new(false),
            started: Instant::now(),
            deadline,
            records: Mutex::new(vec![]),
            in_flight: Mutex::new(HashMap::new()),
            cache,
            lookup_pace: None,
        }
    }

    /// Pace CloudTrail lookups with this account's share of the budget.
    pub(crate) fn with_lookup_pace(mut self, pace: Arc<super::pace::LookupPace>) -> CallLog {
        self.lookup_pace = Some(pace);
        self
    }

    fn record(&self, action: &str, start: Instant, outcome: CallOutcome) {
        let ms = |t: Instant| t.duration_since(self.started).as_secs_f64() * 1000.0;
        let record = CallRecord {
            action: action.to_string(),
            start_ms: ms(start),
            end_ms: ms(Instant::now()),
            outcome,
        };
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }

    /// Issue one request, within the deadline, and classify its failure.
    async fn issue<O, E, R>(
        &self,
        action: &str,
        not_found: &[&str],
        call: impl Future<Output = Result<O, SdkError<E, R>>>,
    ) -> Result<O, ReadFailure>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        debug_assert!(
            READ_ACTIONS.contains(&action),
            "{action} is not in READ_ACTIONS (nor in the deployed policy)"
        );
        let start = Instant::now();
        if self
            .deadline
            .is_some_and(|d| tokio::time::Instant::now() >= d)
        {
            self.deadline_hit.store(true, Ordering::Relaxed);
            self.failed.fetch_add(1, Ordering::Relaxed);
            let reason =
                format!("Deadline: {action} was not read (the diagnosis deadline had passed)");
            return Err(ReadFailure::Failed {
                kind: ErrorKind::Deadline,
                reason,
            });
        }
        if let (Some(pace), "cloudtrail:LookupEvents") = (&self.lookup_pace, action) {
            if let Err(wait) = pace.turn().await {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let reason = format!(
                    "Throttled: {action} was not asked (CloudTrail allows 2 lookups per second per account and region, shared \
                     by the function's concurrent diagnoses; the next turn was {:.1} s away)",
                    wait.as_secs_f64()
                );
                return Err(ReadFailure::Failed {
                    kind: ErrorKind::Throttled,
                    reason,
                });
            }
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let throttled = Arc::new(AtomicBool::new(false));
        let call = THROTTLED.scope(throttled.clone(), call);
        let answered = match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, call).await.ok(),
            None => Some(call.await),
        };
        let result = match answered {
            None => {
                self.deadline_hit.store(true, Ordering::Relaxed);
                self.record(action, start, CallOutcome::Deadline);
                let reason = format!(
                    "Deadline: {action} had not answered when the diagnosis deadline passed"
                );
                Err(ReadFailure::Failed {
                    kind: ErrorKind::Deadline,
                    reason,
                })
            }
            Some(Ok(output)) => {
                self.record(action, start, CallOutcome::Ok);
                Ok(output)
            }
            Some(Err(err)) => match read_failure(action, not_found, &err) {
                gap @ ReadFailure::NotFound(_) => {
                    self.record(action, start, CallOutcome::NotFound);
                    Err(gap)
                }
                // Throttled, then out of time while the adaptive retry waited: say so.
                ReadFailure::Failed {
                    kind: ErrorKind::Timeout,
                    ..
                } if throttled.load(Ordering::Relaxed) => {
                    self.record(action, start, CallOutcome::Failed);
                    let reason = format!("Throttled: {action} (AWS throttled it and the retries did not get through in time)");
                    Err(ReadFailure::Failed {
                        kind: ErrorKind::Throttled,
                        reason,
                    })
                }
                gap => {
                    self.record(action, start, CallOutcome::Failed);
                    Err(gap)
                }
            },
        };
        if let Err(ReadFailure::Failed { reason, .. }) = &result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(action, %reason, "AWS read failed");
        }
        result
    }

    /// Issue one AWS read and record its outcome as a [`Fact`].
    pub(crate) async fn read<T, O, E, R>(
        &self,
        action: &str,
        not_found: &[&str],
        call: impl Future<Output = Result<O, SdkError<E, R>>>,
        convert: impl FnOnce(O) -> Fact<T>,
    ) -> Fact<T>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        // Boxed: SDK futures are large, and debug builds poll them on small stacks.
        match Box::pin(self.issue(action, not_found, Box::pin(call))).await {
            Ok(output) => convert(output),
            Err(gap) => gap_fact(gap),
        }
    }

    /// Like [`read`](Self::read) for a read of a shared resource, identified by `key` (the
    /// request's parameters): asked twice in one collection it is issued once, and with a warm
    /// cache a recent answer is reused.
    pub(crate) async fn read_shared<T, O, E, R>(
        &self,
        action: &str,
        key: String,
        not_found: &[&str],
        call: impl Future<Output = Result<O, SdkError<E, R>>>,
        convert: impl FnOnce(&O) -> Fact<T>,
    ) -> Fact<T>
    where
        O: Send + Sync + 'static,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        self.read_shared_kept(action, key, false, not_found, call, convert)
            .await
    }

    /// [`read_shared`](Self::read_shared) of an answer that cannot change (`lasting`): the warm
    /// cache keeps it past its TTL (see [`WarmCache::put_lasting`]).
    pub(crate) async fn read_shared_kept<T, O, E, R>(
        &self,
        action: &str,
        key: String,
        lasting: bool,
        not_found: &[&str],
        call: impl Future<Output = Result<O, SdkError<E, R>>>,
        convert: impl FnOnce(&O) -> Fact<T>,
    ) -> Fact<T>
    where
        O: Send + Sync + 'static,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let key = format!("{action} {key}");
        if let Some(cache) = &self.cache {
            if let Some(output) = cache.get::<O>(&key) {
                self.cached.fetch_add(1, Ordering::Relaxed);
                self.record(action, Instant::now(), CallOutcome::Cached);
                return convert(&output);
            }
            if let Some(gap) = cache.get::<CachedGap>(&key) {
                self.cached.fetch_add(1, Ordering::Relaxed);
                self.record(action, Instant::now(), CallOutcome::Cached);
                return gap_fact(gap.0.clone());
            }
        }
        let cell: Arc<Shared<O>> = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let entry = in_flight
                .entry(key.clone())
                .or_insert_with(|| Arc::new(Shared::<O>::new()));
            match entry.clone().downcast::<Shared<O>>() {
                Ok(cell) => cell,
                // Same key, other output type: cannot happen (the action is in the key); just read.
                Err(_) => Arc::new(Shared::<O>::new()),
            }
        };
        let answer = cell
            .get_or_init(|| async {
                match Box::pin(self.issue(action, not_found, call)).await {
                    Ok(output) => {
                        let output = Arc::new(output);
                        match &self.cache {
                            Some(cache) if lasting => {
                                cache.put_lasting(key.clone(), output.clone())
                            }
                            Some(cache) => cache.put(key.clone(), output.clone()),
                            None => {}
                        }
                        Ok(output)
                    }
                    Err(gap) => {
                        if let (Some(cache), Some(kept)) = (&self.cache, CachedGap::keep(&gap)) {
                            cache.put(key.clone(), Arc::new(kept));
                        }
                        Err(gap)
                    }
                }
            })
            .await;
        match answer {
            Ok(output) => convert(output),
            Err(gap) => gap_fact(gap.clone()),
        }
    }

    pub(crate) fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }
    pub(crate) fn failed(&self) -> u32 {
        self.failed.load(Ordering::Relaxed)
    }
    pub(crate) fn stats(&self) -> CallStats {
        let records = self
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        CallStats {
            calls: self.calls(),
            failed: self.failed(),
            cached: self.cached.load(Ordering::Relaxed),
            rounds: dependent_rounds(&records),
            deadline_hit: self.deadline_hit.load(Ordering::Relaxed),
            records,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_outcomes_keep_their_names() {
        let names = [
            (CallOutcome::Ok, "ok"),
            (CallOutcome::NotFound, "not_found"),
            (CallOutcome::Failed, "failed"),
            (CallOutcome::Deadline, "deadline"),
            (CallOutcome::Cached, "cached"),
        ];
        for (outcome, name) in names {
            assert_eq!(serde_json::to_value(outcome).unwrap(), name);
            assert_eq!(outcome.to_string(), name);
        }
    }

    #[test]
    fn cache_hits_are_not_rounds() {
        let at = |start_ms, end_ms, outcome| CallRecord {
            action: "ecs:DescribeTasks".into(),
            start_ms,
            end_ms,
            outcome,
        };
        let records = [
            at(0.0, 10.0, CallOutcome::Ok),
            at(10.0, 10.0, CallOutcome::Cached),
            at(11.0, 20.0, CallOutcome::Failed),
        ];
        assert_eq!(dependent_rounds(&records), 2);
    }
}
