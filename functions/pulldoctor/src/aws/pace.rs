//! CloudTrail answers `LookupEvents` at most 2 times per second per account and region, and the
//! function's concurrent containers share that budget. Where they share a table ([`LookupSlots`],
//! the Lambda's dedup table), each lookup first takes one of the 2 slots of the current second for
//! its account and region, so that all containers together never ask more than twice in a second.
//! Without one (the CLI), each [`Clients`](super::Clients) spaces its own lookups at
//! 2 ÷ concurrency per second. A lookup whose turn is more than [`MAX_WAIT`] away is not sent: the
//! history section says so, and the diagnosis is not held back for it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// CloudTrail's documented `LookupEvents` rate per account and region.
pub const LOOKUPS_PER_SECOND: f64 = 2.0;
/// The longest a diagnosis waits for its turn.
pub const MAX_WAIT: Duration = Duration::from_secs(3);

static CONCURRENCY: AtomicU32 = AtomicU32::new(1);

/// How many processes share the budget (the Lambda's reserved concurrency; 1 for the CLI).
pub fn set_concurrency(processes: u32) {
    CONCURRENCY.store(processes.max(1), Ordering::Relaxed);
}

/// The slots of each second, shared by every container: `take` claims one of the 2 of wall-clock
/// second `second` for `key` (account and region), false when both are taken.
pub trait LookupSlots: Send + Sync {
    fn take<'a>(&'a self, key: &'a str, second: i64) -> futures_util::future::BoxFuture<'a, bool>;
}

/// Lookups of one account from this process: through the shared slots, or spaced by `interval`.
pub struct LookupPace {
    interval: Duration,
    max_wait: Duration,
    next: Mutex<Option<Instant>>,
    shared: Option<(Arc<dyn LookupSlots>, String)>,
}

impl std::fmt::Debug for LookupPace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupPace")
            .field("interval", &self.interval)
            .field("shared", &self.shared.as_ref().map(|(_, k)| k))
            .finish()
    }
}

impl Default for LookupPace {
    /// Spaced for the concurrency set with [`set_concurrency`].
    fn default() -> Self {
        let interval = Duration::from_secs_f64(
            f64::from(CONCURRENCY.load(Ordering::Relaxed)) / LOOKUPS_PER_SECOND,
        );
        LookupPace::every(interval, MAX_WAIT)
    }
}

impl LookupPace {
    pub fn every(interval: Duration, max_wait: Duration) -> LookupPace {
        LookupPace {
            interval,
            max_wait,
            next: Mutex::new(None),
            shared: None,
        }
    }

    /// Through the slots all containers share, for account and region `key`.
    pub fn shared(slots: Arc<dyn LookupSlots>, key: String) -> LookupPace {
        LookupPace {
            shared: Some((slots, key)),
            ..LookupPace::default()
        }
    }

    /// Waits for a turn: a shared slot of this or a later second, else this process's spacing.
    pub async fn turn(&self) -> Result<(), Duration> {
        let Some((slots, key)) = &self.shared else {
            return self.local_turn().await;
        };
        let started = Instant::now();
        loop {
            let now = chrono::Utc::now();
            if slots.take(key, now.timestamp()).await {
                return Ok(());
            }
            // Both slots of this second are taken: try the next second, within the wait allowed.
            let to_next =
                Duration::from_millis(1000 - u64::from(now.timestamp_subsec_millis().min(999)));
            if started.elapsed() + to_next > self.max_wait {
                return Err(started.elapsed() + to_next);
            }
            tokio::time::sleep(to_next).await;
        }
    }

    /// Waits for this process's next turn. `Err(wait)` when the turn is more than [`MAX_WAIT`]
    /// away ([`MAX_WAIT`] unless built otherwise; nothing is reserved then).
    async fn local_turn(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = next.map_or(now, |n| n.max(now));
            if slot - now > self.max_wait {
                return Err(slot - now);
            }
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two slots per second for everyone, as the dedup table keeps them.
    struct TwoPerSecond(Mutex<std::collections::HashMap<(String, i64), u32>>);
    impl LookupSlots for TwoPerSecond {
        fn take<'a>(
            &'a self,
            key: &'a str,
            second: i64,
        ) -> futures_util::future::BoxFuture<'a, bool> {
            let mut taken = self.0.lock().unwrap();
            let n = taken.entry((key.to_string(), second)).or_default();
            *n += 1;
            let ok = *n <= 2;
            Box::pin(async move { ok })
        }
    }

    #[tokio::test]
    async fn shared_slots_allow_two_lookups_a_second_across_containers() {
        let slots: Arc<dyn LookupSlots> = Arc::new(TwoPerSecond(Mutex::default()));
        // Four containers' paces for the same account, five lookups at once.
        let paces: Vec<LookupPace> = (0..4)
            .map(|_| LookupPace::shared(slots.clone(), "111122223333/us-east-1".into()))
            .collect();
        let turns = futures_util::future::join_all(
            paces
                .iter()
                .chain(paces.iter().take(1))
                .map(|p| async move { p.turn().await.map(|_| chrono::Utc::now().timestamp()) }),
        )
        .await;
        let mut per_second = std::collections::BTreeMap::new();
        for second in turns.iter().flatten() {
            *per_second.entry(*second).or_insert(0) += 1;
        }
        assert!(per_second.values().all(|n| *n <= 2), "{per_second:?}");
        assert_eq!(
            turns.iter().filter(|t| t.is_ok()).count(),
            5,
            "all within the 3 s a diagnosis waits: {turns:?}"
        );
    }

    #[tokio::test]
    async fn lookups_are_spaced_and_a_far_turn_is_refused() {
        // Scaled down: one lookup every 100 ms, at most 150 ms of waiting.
        let pace = LookupPace::every(Duration::from_millis(100), Duration::from_millis(150));
        let start = Instant::now();
        let (a, b, c) = tokio::join!(pace.turn(), pace.turn(), pace.turn());
        assert!(a.is_ok() && b.is_ok(), "now, then 100 ms later");
        assert!(
            matches!(c, Err(w) if w > Duration::from_millis(150)),
            "about 200 ms away is past the wait allowed: {c:?}"
        );
        let took = Instant::now() - start;
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(150),
            "{took:?}"
        );
        // Later, the next turn is free at once.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = Instant::now();
        pace.turn().await.unwrap();
        assert!(Instant::now() - before < Duration::from_millis(50));
    }
}
