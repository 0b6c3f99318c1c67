//! Tools of different argument and output types, behind one object-safe interface.

use std::any::Any;

use futures_util::future::BoxFuture;

use crate::args::{self, ArgsSource};
use crate::error::ToolError;
use crate::output::SafeOutput;
use crate::reply::{Capped, Success};
use crate::session::Session;
use crate::tool::{ToolArgs, ToolHandler};

/// What a call's arguments pass between being read and the handler starting: the toolbox's
/// own steps (the record of what was sent, the approval gate), in code compiled once.
pub(crate) type Between<'g> = &'g mut (dyn FnMut() -> Result<(), ToolError> + Send);

/// A tool, its types erased: a call makes one dynamic call into code compiled for its tool.
pub(crate) trait ErasedTool<S>: Send + Sync {
    fn secret_fields(&self) -> &'static [&'static str];
    /// Reads and validates the arguments; nothing runs.
    fn check(&self, source: ArgsSource<'_>) -> Result<(), ToolError>;
    /// Reads and validates the arguments, passes `between`, then starts the handler: the future
    /// ends with the projected value, serialised.
    fn start(
        &self,
        state: &S,
        session: &Session,
        source: ArgsSource<'_>,
        between: Between<'_>,
        max_items: Option<usize>,
    ) -> Result<BoxFuture<'static, Result<Success, ToolError>>, ToolError>;
}

pub(crate) struct Erased<H>(pub H);

impl<S, H: ToolHandler<S>> ErasedTool<S> for Erased<H> {
    fn secret_fields(&self) -> &'static [&'static str] {
        <H::Args as ToolArgs>::SECRET_FIELDS
    }

    fn check(&self, source: ArgsSource<'_>) -> Result<(), ToolError> {
        args::parse::<H::Args>(source).map(drop)
    }

    fn start(
        &self,
        state: &S,
        session: &Session,
        source: ArgsSource<'_>,
        between: Between<'_>,
        max_items: Option<usize>,
    ) -> Result<BoxFuture<'static, Result<Success, ToolError>>, ToolError> {
        let args = args::parse::<H::Args>(source)?;
        between()?;
        let fut = self.0.call(state, session, args);
        // The panic boundary is the caller's, around this future: one for every tool.
        Ok(Box::pin(async move { produce(fut.await?, max_items) }))
    }
}

fn produce<O: SafeOutput>(mut value: O, max_items: Option<usize>) -> Result<Success, ToolError> {
    let capped = max_items.and_then(|max| {
        value.truncate_items(max).map(|total| Capped {
            returned: max,
            total,
        })
    });
    // Sized for a typical record, so the writer rarely grows the buffer.
    let mut buf = Vec::with_capacity(256);
    serde_json::to_writer(&mut buf, &value)?;
    let result = String::from_utf8(buf).map_err(ToolError::internal)?;
    Ok(Success { result, capped })
}

/// A panic, as an `internal` error whose cause is the panic message.
pub(crate) fn panic_error(panic: &(dyn Any + Send)) -> ToolError {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".to_owned());
    ToolError::internal(std::io::Error::other(format!(
        "panicked during the call: {text}"
    )))
}

/// A sync handler's blocking task that did not finish: it panicked or was cancelled.
pub(crate) fn join_failure(e: tokio::task::JoinError) -> ToolError {
    match e.try_into_panic() {
        Ok(panic) => panic_error(&*panic),
        Err(e) => ToolError::internal(e),
    }
}
