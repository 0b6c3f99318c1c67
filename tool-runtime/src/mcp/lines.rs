//! MCP's stdio framing (one JSON-RPC message per line), with each line checked before any
//! parser picks a meaning for it: a line that repeats a key in any object is refused whole,
//! since parsers disagree on which of two values wins.

use std::sync::Arc;

use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use crate::args::find_duplicate_key;

/// JSON-RPC's "Invalid Request".
const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's "Parse error".
const PARSE_ERROR: i64 = -32700;

/// Lines in from `R`, lines out to `W`.
pub(crate) struct CheckedLines<R, W> {
    reader: BufReader<R>,
    writer: Arc<Mutex<W>>,
    max_line_bytes: usize,
    /// The line read so far. Kept here, not in the reading future: rmcp polls `receive` in a
    /// `select!` and drops it when something else is ready first, and bytes held by a dropped
    /// future would be lost with it, the message never answered.
    partial: Vec<u8>,
    /// The line being read is over `max_line_bytes`: the rest of it is dropped as it comes.
    overflow: bool,
}

impl<R, W> CheckedLines<R, W> {
    pub(crate) fn new(reader: R, writer: W, max_line_bytes: usize) -> Self
    where
        R: AsyncRead,
    {
        CheckedLines {
            reader: BufReader::new(reader),
            writer: Arc::new(Mutex::new(writer)),
            max_line_bytes,
            partial: Vec::new(),
            overflow: false,
        }
    }
}

/// What one line turned out to be.
enum Line {
    End,
    Message(RxJsonRpcMessage<RoleServer>),
    Refused(Value),
    Skip,
}

impl<R, W> CheckedLines<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    async fn write_line(writer: &Mutex<W>, text: &str) -> std::io::Result<()> {
        let mut writer = writer.lock().await;
        writer.write_all(text.as_bytes()).await?;
        writer.write_all(b"\n").await?;
        writer.flush().await
    }

    /// Reads one line of at most `max_line_bytes`; a longer one is read to its end and
    /// refused, without holding it in memory. Cancel-safe: the only await is `fill_buf`, and
    /// what it returned is moved into `self` before the next one.
    async fn next_line(&mut self) -> std::io::Result<Line> {
        loop {
            let chunk = self.reader.fill_buf().await?;
            if chunk.is_empty() {
                if self.partial.is_empty() && !self.overflow {
                    return Ok(Line::End);
                }
                break;
            }
            let (part, used, complete) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (&chunk[..at], at + 1, true),
                None => (chunk, chunk.len(), false),
            };
            if self.partial.len() + part.len() > self.max_line_bytes {
                self.overflow = true;
                self.partial.clear();
            } else if !self.overflow {
                self.partial.extend_from_slice(part);
            }
            self.reader.consume(used);
            if complete {
                break;
            }
        }
        let buf = std::mem::take(&mut self.partial);
        if std::mem::take(&mut self.overflow) {
            return Ok(Line::Refused(error(
                Value::Null,
                INVALID_REQUEST,
                "The message is too large.",
            )));
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            return Ok(Line::Refused(error(
                Value::Null,
                PARSE_ERROR,
                "The message is not UTF-8.",
            )));
        };
        let text = text.trim();
        if text.is_empty() {
            return Ok(Line::Skip);
        }
        if let Some(key) = find_duplicate_key(text) {
            // With a repeated key even the id may be in doubt; when it is not, the client
            // gets its answer under it rather than waiting for a reply that never comes.
            let id = match key.as_str() {
                "id" => Value::Null,
                _ => serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v.get("id").cloned())
                    .filter(|id| id.is_string() || id.is_number())
                    .unwrap_or(Value::Null),
            };
            let shown: String = key.chars().take(64).collect();
            return Ok(Line::Refused(error(
                id,
                INVALID_REQUEST,
                &format!("The message repeats the key `{shown}`; send each key once."),
            )));
        }
        match serde_json::from_str(text) {
            Ok(message) => Ok(Line::Message(message)),
            Err(_) => Ok(Line::Refused(error(
                Value::Null,
                PARSE_ERROR,
                "The message is not a JSON-RPC message.",
            ))),
        }
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

impl<R, W> Transport<RoleServer> for CheckedLines<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let writer = Arc::clone(&self.writer);
        async move {
            let text = serde_json::to_string(&item).map_err(std::io::Error::other)?;
            Self::write_line(&writer, &text).await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            match self.next_line().await {
                Ok(Line::Message(message)) => return Some(message),
                Ok(Line::Skip) => {}
                Ok(Line::Refused(reply)) => {
                    if Self::write_line(&self.writer, &reply.to_string())
                        .await
                        .is_err()
                    {
                        return None;
                    }
                }
                Ok(Line::End) | Err(_) => return None,
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.writer.lock().await.flush().await
    }
}
