//! Sync handlers, run on tokio's blocking pool so they never stall the runtime's threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::audit::DetailScope;
use crate::erased::join_failure;
use crate::error::ToolError;

/// Runs a sync handler on the blocking pool, inside the call's audit detail scope.
///
/// A blocking thread cannot be interrupted: past its time limit the call is answered `timeout`
/// and this future dropped, but the handler runs on. If it then finishes, whatever it did has
/// happened after all, and the operator's log says so, naming the tool.
#[doc(hidden)]
pub async fn run_blocking<R: Send + 'static>(
    tool: &'static str,
    handler: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ToolError> {
    let scope = DetailScope::current();
    let abandoned = Arc::new(AtomicBool::new(false));
    let on_drop = AbandonOnDrop(Some(Arc::clone(&abandoned)));
    let joined = tokio::task::spawn_blocking(move || {
        let out = match scope {
            Some(scope) => scope.run_sync(handler),
            None => handler(),
        };
        if abandoned.load(Ordering::Acquire) {
            tracing::warn!(
                target: "tool_runtime::audit",
                tool,
                "a sync handler finished after its call was answered `timeout`: its effects happened all the same"
            );
        }
        out
    })
    .await;
    on_drop.disarm();
    joined.map_err(join_failure)
}

/// Marks the call abandoned when its future is dropped before the handler returned.
struct AbandonOnDrop(Option<Arc<AtomicBool>>);

impl AbandonOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Release);
        }
    }
}
