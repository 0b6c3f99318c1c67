//! Per-user, per-tool rate limits.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

pub use crate::store::StoreFuture;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{RedisOptions, RedisRateLimiter, RedisSetupError};

/// A budget: `count` calls per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Calls allowed in one period.
    pub count: NonZeroU32,
    /// The period.
    pub per: Duration,
}

impl Quota {
    /// `count` calls per `per`.
    ///
    /// # Panics
    ///
    /// If `count` is 0 or `per` is zero. Generated code calls this in a `const` whose inputs the
    /// macro has already checked, so the panic can only come from a hand-written call.
    pub const fn new(count: u32, per: Duration) -> Quota {
        let Some(count) = NonZeroU32::new(count) else {
            panic!("a rate limit quota needs a count of at least 1");
        };
        assert!(!per.is_zero(), "a rate limit quota needs a non-zero period");
        Quota { count, per }
    }

    /// Parses `"N/sec"`, `"N/min"` or `"N/hour"`, with N at least 1: the grammar of
    /// `#[secure_tool(rate_limit = ...)]`, from the one place both read it.
    pub fn parse(s: &str) -> Result<Quota, String> {
        let rate = tool_rules::parse_rate(s)?;
        let count = NonZeroU32::new(rate.count)
            .ok_or_else(|| "a rate limit of 0 calls would disable the tool".to_owned())?;
        Ok(Quota {
            count,
            per: rate.per,
        })
    }

    fn to_governor(self) -> governor::Quota {
        // Below a nanosecond per call governor has no period to replenish with; such a quota
        // (billions of calls per second) is no limit at all in practice.
        let replenish_one = (self.per / self.count.get()).max(Duration::from_nanos(1));
        governor::Quota::with_period(replenish_one)
            .expect("the replenish period is at least one nanosecond")
            .allow_burst(self.count)
    }
}

impl FromStr for Quota {
    type Err = String;

    fn from_str(s: &str) -> Result<Quota, String> {
        Quota::parse(s)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.count;
        match (self.per.as_secs(), self.per.subsec_nanos()) {
            (1, 0) => write!(f, "{count}/sec"),
            (60, 0) => write!(f, "{count}/min"),
            (3600, 0) => write!(f, "{count}/hour"),
            _ => write!(f, "{count}/{:?}", self.per),
        }
    }
}

/// Why a call was not let through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The budget is spent; the next call would be allowed after this long.
    #[error("the budget is spent; retry after {0:?}")]
    Exceeded(Duration),
    /// The limiter could not decide (its store is unreachable or slow). The toolbox fails the
    /// call closed: `internal`, and the handler does not run.
    #[error("the rate limiter's store failed: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

impl RateLimitError {
    /// Wraps a store's failure.
    pub fn unavailable(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        RateLimitError::Unavailable(error.into())
    }
}

impl RateLimitError {
    /// The reply a refused call gets: `rate_limited` with its retry-after, or `internal`.
    pub fn into_tool_error(self) -> crate::ToolError {
        match self {
            RateLimitError::Exceeded(retry_after) => crate::ToolError::rate_limited(retry_after),
            RateLimitError::Unavailable(cause) => crate::ToolError::internal(cause),
        }
    }
}

/// Decides whether a user may call a tool now.
///
/// The toolbox calls [`check`](Self::check) once per call of a tool that declares a
/// `rate_limit`, before the handler runs. Implement it to share budgets between processes (a
/// Redis or database backend); [`InMemoryRateLimiter`] is the default. A limiter that decides in
/// memory answers with [`StoreFuture::ready`]; one that asks a server answers with
/// [`StoreFuture::new`] around its `async` block.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a rate limiter",
    label = "this type does not implement `tool_runtime::RateLimiter`",
    note = "use `tool_runtime::InMemoryRateLimiter::new()` (or `RedisRateLimiter` to share budgets \
            between instances), or implement `RateLimiter` for your type: `fn check<'a>(&'a self, \
            user: &'a str, tool: &'a str, quota: Quota) -> StoreFuture<'a, Result<(), RateLimitError>>`"
)]
pub trait RateLimiter: Send + Sync + 'static {
    /// Spends one call of `user`'s budget for `tool`, or refuses.
    ///
    /// [`RateLimitError::Exceeded`] carries how long until the next call would be allowed;
    /// [`RateLimitError::Unavailable`] says the limiter could not decide, and the call is
    /// refused. Budgets are separate per user and per tool.
    fn check<'a>(
        &'a self,
        user: &'a str,
        tool: &'a str,
        quota: Quota,
    ) -> StoreFuture<'a, Result<(), RateLimitError>>;

    /// Whether the limiter can answer now: for a health check. An in-memory one always can.
    fn health(&self) -> StoreFuture<'_, Result<(), crate::store::StoreUnreachable>> {
        StoreFuture::ready(Ok(()))
    }
}

impl<T: RateLimiter + ?Sized> RateLimiter for Arc<T> {
    fn check<'a>(
        &'a self,
        user: &'a str,
        tool: &'a str,
        quota: Quota,
    ) -> StoreFuture<'a, Result<(), RateLimitError>> {
        (**self).check(user, tool, quota)
    }

    fn health(&self) -> StoreFuture<'_, Result<(), crate::store::StoreUnreachable>> {
        (**self).health()
    }
}

type KeyedLimiter<C> = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

type ByTool<C> = HashMap<String, Vec<(Quota, Arc<KeyedLimiter<C>>)>>;

/// How many checks pass between two sweeps of idle users' state.
const SWEEP_EVERY: u64 = 4096;

/// The default [`RateLimiter`]: budgets held in this process's memory (GCRA, via `governor`).
///
/// Budgets are not shared between processes and start afresh on restart. The state of users who
/// have not called recently enough to be limited is dropped every few thousand checks, so memory
/// follows the number of recently active users, not every user ever seen.
///
/// `C` is the clock; tests can pass `governor::clock::FakeRelativeClock`.
pub struct InMemoryRateLimiter<C: Clock = DefaultClock> {
    clock: C,
    /// Tool name to its limiters. A tool has one quota in practice; a list keeps lookups by
    /// `&str` without building a composite key on every call.
    limiters: RwLock<ByTool<C>>,
    checks: AtomicU64,
}

impl InMemoryRateLimiter {
    /// An empty limiter on the monotonic clock.
    pub fn new() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl Default for InMemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock + Clone> InMemoryRateLimiter<C> {
    /// An empty limiter on the given clock.
    pub fn with_clock(clock: C) -> Self {
        InMemoryRateLimiter {
            clock,
            limiters: RwLock::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }

    /// Drops the state of every user whose budget is back to full.
    ///
    /// Runs by itself every few thousand checks; a host may also call it from a timer.
    pub fn retain_recent(&self) {
        let limiters = self.limiters.read().unwrap_or_else(PoisonError::into_inner);
        for limiter in limiters.values().flatten().map(|(_, l)| l) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many (user, tool) budgets are held in memory.
    pub fn tracked(&self) -> usize {
        let limiters = self.limiters.read().unwrap_or_else(PoisonError::into_inner);
        limiters.values().flatten().map(|(_, l)| l.len()).sum()
    }

    fn limiter(&self, tool: &str, quota: Quota) -> Arc<KeyedLimiter<C>> {
        // The lock guards only the map of limiters, never a check itself: the limiters are
        // lock-free, and the write lock is taken once per (tool, quota). A panic elsewhere
        // cannot leave the map half-changed (each change is one insert), so poisoning is ignored.
        let found = |map: &ByTool<C>| {
            map.get(tool)
                .and_then(|list| list.iter().find(|(q, _)| *q == quota))
                .map(|(_, l)| Arc::clone(l))
        };
        if let Some(l) = found(&self.limiters.read().unwrap_or_else(PoisonError::into_inner)) {
            return l;
        }
        let mut map = self
            .limiters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = found(&map) {
            return l;
        }
        let limiter = Arc::new(governor::RateLimiter::new(
            quota.to_governor(),
            DefaultKeyedStateStore::default(),
            self.clock.clone(),
        ));
        map.entry(tool.to_owned())
            .or_default()
            .push((quota, Arc::clone(&limiter)));
        limiter
    }
}

impl<C> RateLimiter for InMemoryRateLimiter<C>
where
    C: Clock + Clone + Send + Sync + 'static,
{
    fn check<'a>(
        &'a self,
        user: &'a str,
        tool: &'a str,
        quota: Quota,
    ) -> StoreFuture<'a, Result<(), RateLimitError>> {
        StoreFuture::ready(self.check_now(user, tool, quota))
    }
}

impl<C> InMemoryRateLimiter<C>
where
    C: Clock + Clone + Send + Sync + 'static,
{
    /// [`RateLimiter::check`] without the future: this limiter never waits.
    pub fn check_now(&self, user: &str, tool: &str, quota: Quota) -> Result<(), RateLimitError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.retain_recent();
        }
        let limiter = self.limiter(tool, quota);
        limiter.check_key(&user.to_owned()).map_err(|not_until| {
            RateLimitError::Exceeded(not_until.wait_time_from(self.clock.now()))
        })
    }
}

impl<C: Clock + Clone> fmt::Debug for InMemoryRateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryRateLimiter")
            .field("tracked", &self.tracked())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    const TEN_PER_MIN: Quota = Quota::new(10, Duration::from_secs(60));

    /// How long a refused check says to wait; `None` when the call was allowed.
    fn wait(checked: Result<(), RateLimitError>) -> Option<Duration> {
        match checked {
            Ok(()) => None,
            Err(RateLimitError::Exceeded(retry)) => Some(retry),
            Err(other) => panic!("an in-memory limiter failed: {other}"),
        }
    }

    #[test]
    fn parses_the_three_units() {
        assert_eq!(Quota::parse("10/min"), Ok(TEN_PER_MIN));
        assert_eq!(
            Quota::parse("1/sec"),
            Ok(Quota::new(1, Duration::from_secs(1)))
        );
        assert_eq!(
            Quota::parse("500/hour"),
            Ok(Quota::new(500, Duration::from_secs(3600)))
        );
        assert_eq!("10/min".parse::<Quota>(), Ok(TEN_PER_MIN));
    }

    #[test]
    fn rejects_malformed_quotas() {
        for bad in [
            "",
            "10",
            "/min",
            "0/min",
            "-1/min",
            "+1/min",
            "1.5/min",
            "10/minute",
            "10/ min",
            " 10/min",
            "10/min/",
            "99999999999/sec",
            "ten/min",
        ] {
            assert!(Quota::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn displays_as_written() {
        for s in ["10/min", "1/sec", "500/hour"] {
            assert_eq!(Quota::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    #[should_panic(expected = "at least 1")]
    fn zero_count_panics() {
        let _ = Quota::new(0, Duration::from_secs(60));
    }

    #[test]
    #[should_panic(expected = "non-zero period")]
    fn zero_period_panics() {
        let _ = Quota::new(1, Duration::ZERO);
    }

    #[test]
    fn a_limiter_can_be_shared_as_a_trait_object() {
        let shared: Arc<dyn RateLimiter> = Arc::new(InMemoryRateLimiter::new());
        let quota = Quota::new(1, Duration::from_secs(60));
        let other = Arc::clone(&shared);
        let now = |f| futures_util::FutureExt::now_or_never(f).unwrap();
        std::thread::spawn(move || {
            futures_util::FutureExt::now_or_never(other.check("carol", "t", quota)).unwrap()
        })
        .join()
        .unwrap()
        .unwrap();
        assert!(matches!(
            now(shared.check("carol", "t", quota)),
            Err(RateLimitError::Exceeded(_))
        ));
    }

    #[test]
    fn eleventh_call_in_quick_succession_is_refused() {
        let limiter = InMemoryRateLimiter::new();
        for i in 0..10 {
            assert_eq!(
                wait(limiter.check_now("carol", "search_customers", TEN_PER_MIN)),
                None,
                "call {}",
                i + 1
            );
        }
        let retry = wait(limiter.check_now("carol", "search_customers", TEN_PER_MIN)).unwrap();
        assert!(retry > Duration::ZERO);
        assert!(retry <= Duration::from_secs(6), "{retry:?}");
    }

    #[test]
    fn users_and_tools_have_separate_budgets() {
        let limiter = InMemoryRateLimiter::new();
        let quota = Quota::new(1, Duration::from_secs(3600));
        assert_eq!(
            wait(limiter.check_now("carol", "search_customers", quota)),
            None
        );
        assert!(
            limiter
                .check_now("carol", "search_customers", quota)
                .is_err()
        );
        assert_eq!(
            wait(limiter.check_now("dave", "search_customers", quota)),
            None
        );
        assert_eq!(wait(limiter.check_now("carol", "get_order", quota)), None);
        assert!(
            limiter
                .check_now("dave", "search_customers", quota)
                .is_err()
        );
    }

    #[test]
    fn budget_refills_with_time() {
        let clock = FakeRelativeClock::default();
        let limiter = InMemoryRateLimiter::with_clock(clock.clone());
        for _ in 0..10 {
            limiter.check_now("carol", "t", TEN_PER_MIN).unwrap();
        }
        let retry = wait(limiter.check_now("carol", "t", TEN_PER_MIN)).unwrap();
        assert_eq!(retry, Duration::from_secs(6));

        clock.advance(Duration::from_secs(5));
        let retry = wait(limiter.check_now("carol", "t", TEN_PER_MIN)).unwrap();
        assert_eq!(retry, Duration::from_secs(1));

        clock.advance(Duration::from_secs(1));
        assert_eq!(wait(limiter.check_now("carol", "t", TEN_PER_MIN)), None);
        assert!(limiter.check_now("carol", "t", TEN_PER_MIN).is_err());
    }

    #[test]
    fn idle_users_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let limiter = InMemoryRateLimiter::with_clock(clock.clone());
        for user in 0..100 {
            limiter
                .check_now(&user.to_string(), "t", TEN_PER_MIN)
                .unwrap();
        }
        assert_eq!(limiter.tracked(), 100);

        clock.advance(Duration::from_secs(61));
        limiter.check_now("recent", "t", TEN_PER_MIN).unwrap();
        limiter.retain_recent();
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn sweeps_without_being_asked() {
        let clock = FakeRelativeClock::default();
        let limiter = InMemoryRateLimiter::with_clock(clock.clone());
        let quota = Quota::new(1, Duration::from_secs(1));
        for user in 0..SWEEP_EVERY - 1 {
            limiter.check_now(&user.to_string(), "t", quota).unwrap();
        }
        assert_eq!(limiter.tracked(), (SWEEP_EVERY - 1) as usize);
        clock.advance(Duration::from_secs(2));
        limiter.check_now("last", "t", quota).unwrap();
        assert_eq!(limiter.tracked(), 1);
    }
}
