//! Detail a handler adds to its own call's audit record.

use std::cell::{OnceCell, RefCell};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};

tokio::task_local! {
    // Made on first use: most handlers add no detail, and a call then allocates nothing for it.
    static TASK_SCOPE: OnceCell<DetailScope>;
}

thread_local! {
    static THREAD_SCOPE: RefCell<Option<DetailScope>> = const { RefCell::new(None) };
}

/// Adds `key: value` to the audit record of the tool call being handled.
///
/// Call it from inside a tool handler, sync or async, for facts the log should keep that the
/// arguments do not show, such as the old and new value of a field:
///
/// ```
/// # fn update(old_email: &str, new_email: &str) {
/// tool_runtime::audit::detail("old_email", old_email);
/// tool_runtime::audit::detail("new_email", new_email);
/// # }
/// ```
///
/// A later value under the same key replaces the earlier one. Outside a tool call (in a unit test
/// of the handler's function, say) it does nothing. Work the handler spawns onto another task
/// or thread is outside the call.
pub fn detail(key: &str, value: impl serde::Serialize) {
    if let Some(scope) = DetailScope::current() {
        scope.insert(key, value);
    }
}

/// The detail collected for one tool call; a cheap handle, clones share the map.
///
/// The dispatcher creates one per call, runs the handler inside it ([`scope`](Self::scope) or
/// [`run_sync`](Self::run_sync)) and [`take`](Self::take)s the detail for the audit record.
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct DetailScope(Arc<Mutex<Map<String, Value>>>);

impl DetailScope {
    /// An empty scope.
    pub fn new() -> Self {
        Self::default()
    }

    /// The scope of the call running on this thread or task, if any.
    ///
    /// A sync scope wins over an async one: it is the innermost, set by a sync handler run from
    /// inside an async task.
    pub fn current() -> Option<DetailScope> {
        THREAD_SCOPE.with(|s| s.borrow().clone()).or_else(|| {
            TASK_SCOPE
                .try_with(|lazy| lazy.get_or_init(DetailScope::new).clone())
                .ok()
        })
    }

    /// Runs `fut` with this scope current for every poll.
    pub async fn scope<F: Future>(&self, fut: F) -> F::Output {
        TASK_SCOPE.scope(OnceCell::from(self.clone()), fut).await
    }

    /// Runs `fut` with a scope of its own, made only if something in it asks for one; returns
    /// its output and the detail it added.
    pub async fn collect<F: Future>(fut: F) -> (F::Output, Map<String, Value>) {
        let mut scoped = std::pin::pin!(TASK_SCOPE.scope(OnceCell::new(), fut));
        let output = scoped.as_mut().await;
        let detail = scoped
            .as_mut()
            .take_value()
            .and_then(OnceCell::into_inner)
            .map(|scope| scope.take())
            .unwrap_or_default();
        (output, detail)
    }

    /// Runs `f` with this scope current on this thread (for a sync handler, e.g. inside
    /// `spawn_blocking`).
    pub fn run_sync<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<DetailScope>);
        impl Drop for Restore {
            fn drop(&mut self) {
                THREAD_SCOPE.with(|s| *s.borrow_mut() = self.0.take());
            }
        }
        // Restoring on drop keeps a panicking handler from leaving its scope on a pooled thread,
        // where the next, unrelated call would write into it.
        let _restore = Restore(THREAD_SCOPE.with(|s| s.replace(Some(self.clone()))));
        f()
    }

    /// Adds `key: value`, replacing an earlier value under that key.
    pub fn insert(&self, key: &str, value: impl serde::Serialize) {
        // A value that cannot be encoded still leaves a trace: the record shows the key was set.
        let value = serde_json::to_value(value)
            .unwrap_or_else(|e| Value::String(format!("<detail could not be encoded: {e}>")));
        self.lock().insert(key.to_owned(), value);
    }

    /// Takes the detail collected so far, leaving the scope empty.
    pub fn take(&self) -> Map<String, Value> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map<String, Value>> {
        // Only `insert` and `take` hold the lock, and neither can panic while holding it.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outside_a_scope_nothing_is_kept() {
        detail("lost", 1);
        assert!(DetailScope::current().is_none());
    }

    #[test]
    fn sync_handler_detail_reaches_its_scope() {
        let scope = DetailScope::new();
        let out = scope.run_sync(|| {
            detail("old_email", "a@example.com");
            detail("new_email", "b@example.com");
            7
        });
        assert_eq!(out, 7);
        assert!(DetailScope::current().is_none());
        let taken = scope.take();
        assert_eq!(taken["old_email"], json!("a@example.com"));
        assert_eq!(taken["new_email"], json!("b@example.com"));
        assert!(scope.take().is_empty());
    }

    #[test]
    fn a_panicking_handler_does_not_leave_its_scope_behind() {
        let scope = DetailScope::new();
        let result = std::panic::catch_unwind(|| scope.run_sync(|| panic!("handler bug")));
        assert!(result.is_err());
        assert!(DetailScope::current().is_none());
    }

    #[test]
    fn nested_sync_scopes_restore_the_outer_one() {
        let outer = DetailScope::new();
        let inner = DetailScope::new();
        outer.run_sync(|| {
            inner.run_sync(|| detail("k", "inner"));
            detail("k", "outer");
        });
        assert_eq!(inner.take()["k"], json!("inner"));
        assert_eq!(outer.take()["k"], json!("outer"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_handler_detail_survives_awaits_and_thread_moves() {
        let scope = DetailScope::new();
        scope
            .scope(async {
                detail("before", 1);
                tokio::task::yield_now().await;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                detail("after", json!({"n": 2}));
            })
            .await;
        let taken = scope.take();
        assert_eq!(taken["before"], json!(1));
        assert_eq!(taken["after"], json!({"n": 2}));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sync_handler_in_spawn_blocking_inside_an_async_call() {
        let scope = DetailScope::new();
        let inner = scope.clone();
        scope
            .scope(async move {
                detail("async_part", true);
                tokio::task::spawn_blocking(move || inner.run_sync(|| detail("sync_part", true)))
                    .await
                    .unwrap();
            })
            .await;
        let taken = scope.take();
        assert_eq!(taken["async_part"], json!(true));
        assert_eq!(taken["sync_part"], json!(true));
    }

    #[tokio::test]
    async fn concurrent_calls_keep_their_own_detail() {
        let (a, b) = (DetailScope::new(), DetailScope::new());
        let call = |scope: DetailScope, name: &'static str| async move {
            scope
                .scope(async move {
                    for i in 0..10 {
                        detail(name, i);
                        tokio::task::yield_now().await;
                    }
                })
                .await
        };
        tokio::join!(call(a.clone(), "a"), call(b.clone(), "b"));
        let (a, b) = (a.take(), b.take());
        assert_eq!(a.len(), 1);
        assert_eq!(a["a"], json!(9));
        assert_eq!(b.len(), 1);
        assert_eq!(b["b"], json!(9));
    }

    #[test]
    fn unencodable_detail_leaves_a_trace() {
        struct Broken;
        impl serde::Serialize for Broken {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let scope = DetailScope::new();
        scope.run_sync(|| detail("broken", Broken));
        let taken = scope.take();
        assert!(
            taken["broken"]
                .as_str()
                .unwrap()
                .contains("could not be encoded")
        );
    }
}
