//! MCP's stdio framing (one JSON-RPC message per line), with each line checked before any
//! parser picks a meaning for it: a line that repeats a key in any object is refused whole,
//! since parsers disagree on which of two values wins.

use std::sync::Arc;

use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use crate::args::find_duplicate_key;

/// JSON-RPC's "Invalid Request".
const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's "Parse error".
const PARSE_ERROR: i64 = -32700;

/// Lines in from `R`, lines out to `W`.
///
/// `receive` may be dropped at any await (rmcp selects over it), so a line read in part lives
/// here, not in the future: nothing read is ever lost.
pub(crate) struct CheckedLines<R, W> {
    reader: BufReader<R>,
    writer: Arc<Mutex<W>>,
    max_line_bytes: usize,
    line: Vec<u8>,
    /// Reading past the end of a line over the limit, to drop it.
    discarding: bool,
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
            line: Vec::new(),
            discarding: false,
        }
    }
}

/// What one line turned out to be.
enum Line {
    End,
    Message(Box<RxJsonRpcMessage<RoleServer>>),
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
    /// refused, without holding it in memory.
    async fn next_line(&mut self) -> std::io::Result<Line> {
        if self.discarding {
            // Over the limit: drop the rest of the line. `fill_buf` then `consume` loses
            // nothing if this future is dropped between two rounds.
            loop {
                let chunk = self.reader.fill_buf().await?;
                if chunk.is_empty() {
                    self.discarding = false;
                    return Ok(Line::End);
                }
                if let Some(at) = chunk.iter().position(|&b| b == b'\n') {
                    self.reader.consume(at + 1);
                    self.discarding = false;
                    return Ok(Line::Skip);
                }
                let n = chunk.len();
                self.reader.consume(n);
            }
        }
        let limit = (self.max_line_bytes + 1).saturating_sub(self.line.len()) as u64;
        // `read_until` keeps what it read in `self.line` if this future is dropped.
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .await?;
        let buf = std::mem::take(&mut self.line);
        if read == 0 && buf.is_empty() {
            return Ok(Line::End);
        }
        if buf.last() != Some(&b'\n') && buf.len() > self.max_line_bytes {
            self.discarding = true;
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
            Ok(message) => Ok(Line::Message(Box::new(message))),
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
                Ok(Line::Message(message)) => return Some(*message),
                Ok(Line::Skip) => {}
                Ok(Line::Refused(reply)) => {
                    // Written by a task of its own, so that dropping this future cannot cut
                    // the reply in half.
                    let writer = Arc::clone(&self.writer);
                    tokio::spawn(async move {
                        let _ = Self::write_line(&writer, &reply.to_string()).await;
                    });
                }
                Ok(Line::End) | Err(_) => return None,
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.writer.lock().await.flush().await
    }
}
