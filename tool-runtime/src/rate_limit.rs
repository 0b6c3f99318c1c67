//! Per-user, per-tool rate limits.

use std::num::NonZeroU32;
use std::time::Duration;

/// A budget: `count` calls per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Calls allowed in one period.
    pub count: NonZeroU32,
    /// The period.
    pub per: Duration,
}
