//! Tools of different argument and output types, behind one object-safe interface.

use std::any::Any;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::args::{self, ArgsSource};
use crate::error::ToolError;
use crate::output::SafeOutput;
use crate::reply::Capped;
use crate::session::Session;
use crate::tool::{ToolArgs, ToolHandler};

/// Typed, validated arguments, on their way from parsing to their tool.
pub(crate) trait ParsedArgs: Send + Sync {
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<A: ToolArgs> ParsedArgs for A {
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

/// Replaces the named top-level fields of an object with `"[redacted]"`.
pub(crate) fn redact(value: &mut Value, secrets: &[&str]) {
    if let Value::Object(map) = value {
        for key in secrets {
            if let Some(v) = map.get_mut(*key) {
                *v = Value::from("[redacted]");
            }
        }
    }
}

/// A handler's projected value, serialised.
pub(crate) struct Produced {
    pub result: String,
    pub capped: Option<Capped>,
}

pub(crate) trait ErasedTool<S>: Send + Sync {
    fn parse(&self, source: ArgsSource<'_>) -> Result<Box<dyn ParsedArgs>, ToolError>;
    fn secret_fields(&self) -> &'static [&'static str];
    fn run(
        &self,
        state: &S,
        session: &Session,
        args: Box<dyn ParsedArgs>,
        max_items: Option<usize>,
    ) -> BoxFuture<'static, Result<Produced, ToolError>>;
}

pub(crate) struct Erased<H>(pub H);

impl<S, H: ToolHandler<S>> ErasedTool<S> for Erased<H> {
    fn parse(&self, source: ArgsSource<'_>) -> Result<Box<dyn ParsedArgs>, ToolError> {
        let args: H::Args = args::parse(source)?;
        Ok(Box::new(args))
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        <H::Args as ToolArgs>::SECRET_FIELDS
    }

    fn run(
        &self,
        state: &S,
        session: &Session,
        args: Box<dyn ParsedArgs>,
        max_items: Option<usize>,
    ) -> BoxFuture<'static, Result<Produced, ToolError>> {
        let args = match args.into_any().downcast::<H::Args>() {
            Ok(a) => *a,
            Err(_) => {
                return Box::pin(std::future::ready(Err(ToolError::internal(
                    std::io::Error::other("arguments of another tool reached this tool"),
                ))));
            }
        };
        let fut = self.0.call(state, session, args);
        // The panic boundary is the caller's, around this future: one for every tool.
        Box::pin(async move { produce(fut.await?, max_items) })
    }
}

fn produce<O: SafeOutput>(mut value: O, max_items: Option<usize>) -> Result<Produced, ToolError> {
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
    Ok(Produced { result, capped })
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
