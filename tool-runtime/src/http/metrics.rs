//! What `/metrics` shows, in Prometheus text: calls by tool and outcome, their durations, and
//! the requests refused before any call. Never arguments, users or tokens.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

/// Why a request was refused before it reached the toolbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// 401: no token, or one that did not verify.
    Unauthorized,
    /// 403: the token's scopes do not cover the tool.
    InsufficientScope,
    /// 403: a foreign `Origin` or an unknown `Host`.
    Forbidden,
    /// 413: the body is over the cap.
    TooLarge,
    /// 400: a repeated key in the message.
    DuplicateKey,
    /// Too many calls at once in one session.
    Busy,
}

impl Refused {
    fn label(self) -> &'static str {
        match self {
            Refused::Unauthorized => "unauthorized",
            Refused::InsufficientScope => "insufficient_scope",
            Refused::Forbidden => "forbidden",
            Refused::TooLarge => "too_large",
            Refused::DuplicateKey => "duplicate_key",
            Refused::Busy => "busy",
        }
    }
}

/// The server's counters.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    durations: Family<CallLabels, Histogram>,
    rate_limited: Counter,
    refused: Family<RefusalLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty counters.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        let durations = Family::<CallLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
        });
        let rate_limited = Counter::default();
        let refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "tool_calls",
            "Tool calls by tool and outcome",
            calls.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "Time from a call's arrival to its reply",
            durations.clone(),
        );
        registry.register(
            "tool_calls_rate_limited",
            "Calls refused because the user's budget for the tool was spent",
            rate_limited.clone(),
        );
        registry.register(
            "http_requests_refused",
            "Requests refused before reaching the toolbox, by reason",
            refused.clone(),
        );
        Metrics {
            registry,
            calls,
            durations,
            rate_limited,
            refused,
        }
    }

    /// Counts one finished call. `tool` must be a tool the toolbox knows (or `unknown`): the
    /// model chooses the name, and every distinct label is a new series.
    pub fn call(&self, tool: &str, outcome: &str, took: Duration) {
        let labels = CallLabels {
            tool: tool.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.calls.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if outcome == "rate_limited" {
            self.rate_limited.inc();
        }
    }

    /// Counts one refused request.
    pub fn refused(&self, why: Refused) {
        self.refused
            .get_or_create(&RefusalLabels {
                reason: why.label(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}
