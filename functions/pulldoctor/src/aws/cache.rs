//! Warm-container cache: successful reads of shared resources, kept for a short TTL.
//!
//! A storm of pull failures of one service (every retried task fails the same way) asks the same
//! questions about the same task definition, image, VPC, roles and policies. A Lambda container
//! that stays warm answers them from here for about a minute; the task and its ENI, which differ
//! per task, come from the event (the ENI of a stopped task is gone), so such an event costs no read. Bounded: at most `capacity` entries,
//! the oldest evicted first. Kept: answers, "does not exist", and "access denied"; a throttled,
//! failed (5xx) or timed-out read is asked again. Keys include every request parameter.
//!
//! A few answers never change (a version of an AWS managed policy): those are *lasting*, kept
//! past the TTL for the container's life, within the same bound.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (stored at, lasting, answer)
type Entry = (Instant, bool, Arc<dyn Any + Send + Sync>);

#[derive(Debug)]
pub struct WarmCache {
    ttl: Duration,
    capacity: usize,
    hits: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Insertion order, for eviction.
    order: VecDeque<String>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl WarmCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> WarmCache {
        WarmCache {
            ttl,
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub(crate) fn get<O: Send + Sync + 'static>(&self, key: &str) -> Option<Arc<O>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (at, lasting, value) = inner.entries.get(key)?;
        if !lasting && at.elapsed() > self.ttl {
            return None; // removed by the next `put`
        }
        let value = value.clone().downcast::<O>().ok()?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(value)
    }

    pub(crate) fn put<O: Send + Sync + 'static>(&self, key: String, value: Arc<O>) {
        self.insert(key, false, value);
    }

    /// Like [`put`](Self::put) for an answer that cannot change: it outlives the TTL (evicted
    /// only by the capacity bound).
    pub(crate) fn put_lasting<O: Send + Sync + 'static>(&self, key: String, value: Arc<O>) {
        self.insert(key, true, value);
    }

    fn insert<O: Send + Sync + 'static>(&self, key: String, lasting: bool, value: Arc<O>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if inner
            .entries
            .insert(key.clone(), (now, lasting, value))
            .is_none()
        {
            inner.order.push_back(key);
        }
        // Drop expired entries first, then the oldest, until within capacity.
        while inner.entries.len() > self.capacity
            || inner.order.front().is_some_and(|k| {
                inner
                    .entries
                    .get(k)
                    .is_none_or(|(at, lasting, _)| !lasting && at.elapsed() > self.ttl)
            })
        {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            inner.entries.remove(&old);
        }
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let cache = WarmCache::new(Duration::from_millis(50), 3);
        for i in 0..10 {
            cache.put(format!("k{i}"), Arc::new(i));
        }
        assert_eq!(cache.len(), 3, "capacity is a hard bound");
        assert_eq!(cache.get::<i32>("k9").as_deref(), Some(&9));
        assert!(cache.get::<i32>("k0").is_none(), "oldest evicted");
        assert!(
            cache.get::<String>("k9").is_none(),
            "another type under the same key is a miss"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get::<i32>("k9").is_none(), "expired after the TTL");
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn lasting_entries_outlive_the_ttl_but_not_the_bound() {
        let cache = WarmCache::new(Duration::from_millis(20), 3);
        cache.put_lasting("policy v1".into(), Arc::new(1));
        cache.put("role".into(), Arc::new(2));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            cache.get::<i32>("policy v1").as_deref(),
            Some(&1),
            "kept past the TTL"
        );
        assert!(
            cache.get::<i32>("role").is_none(),
            "an ordinary answer expires"
        );
        for i in 0..3 {
            cache.put(format!("k{i}"), Arc::new(i));
        }
        assert!(
            cache.get::<i32>("policy v1").is_none(),
            "evicted by the capacity bound like any entry"
        );
        assert_eq!(cache.len(), 3);
    }
}
