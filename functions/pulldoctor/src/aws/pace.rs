//! CloudTrail answers `LookupEvents` at most 2 times per second per account and region, and the
//! function's concurrent containers share that budget with each other and with everyone else in
//! the account. Each [`Clients`](super::Clients) (one account) paces its own lookups at
//! 2 ÷ concurrency per second (concurrency: the function's reserved concurrency, set once at
//! start). A lookup whose turn is more than [`MAX_WAIT`] away is not sent: the history section
//! says so, and the diagnosis is not held back for it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
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

/// Lookups of one account from this process, spaced by `interval`.
#[derive(Debug)]
pub struct LookupPace {
    interval: Duration,
    max_wait: Duration,
    next: Mutex<Option<Instant>>,
}

impl Default for LookupPace {
    /// Spaced for the concurrency set with [`set_concurrency`].
    fn default() -> Self {
        let interval = Duration::from_secs_f64(f64::from(CONCURRENCY.load(Ordering::Relaxed)) / LOOKUPS_PER_SECOND);
        LookupPace::every(interval, MAX_WAIT)
    }
}

impl LookupPace {
    pub fn every(interval: Duration, max_wait: Duration) -> LookupPace {
        LookupPace { interval, max_wait, next: Mutex::new(None) }
    }

    /// Waits for this process's next turn. `Err(wait)` when the turn is more than [`MAX_WAIT`]
    /// away ([`MAX_WAIT`] unless built otherwise; nothing is reserved then).
    pub async fn turn(&self) -> Result<(), Duration> {
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

    #[tokio::test]
    async fn lookups_are_spaced_and_a_far_turn_is_refused() {
        // Scaled down: one lookup every 100 ms, at most 150 ms of waiting.
        let pace = LookupPace::every(Duration::from_millis(100), Duration::from_millis(150));
        let start = Instant::now();
        let (a, b, c) = tokio::join!(pace.turn(), pace.turn(), pace.turn());
        assert!(a.is_ok() && b.is_ok(), "now, then 100 ms later");
        assert!(matches!(c, Err(w) if w > Duration::from_millis(150)), "about 200 ms away is past the wait allowed: {c:?}");
        let took = Instant::now() - start;
        assert!(took >= Duration::from_millis(100) && took < Duration::from_millis(150), "{took:?}");
        // Later, the next turn is free at once.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = Instant::now();
        pace.turn().await.unwrap();
        assert!(Instant::now() - before < Duration::from_millis(50));
    }
}
