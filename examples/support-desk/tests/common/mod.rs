//! A seeded desk in a temporary folder, driven through the built binary, with every line it
//! prints checked for the fixture's secrets.

#![allow(dead_code)] // Each test binary uses its own part of this.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

use serde_json::Value;
use support_desk::fixture::Fixture;

/// The built binary.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_support-desk"))
}

/// Values that must never appear in anything the application prints.
pub fn secrets() -> Vec<String> {
    let fixture = Fixture::generate();
    let mut secrets = Vec::new();
    for c in &fixture.customers {
        secrets.extend([
            c.ssn.clone(),
            c.payment_token.clone(),
            c.password_hash.clone(),
        ]);
        if !c.internal_notes.is_empty() {
            secrets.push(c.internal_notes.clone());
        }
    }
    secrets
}

/// Panics if `text` holds any fixture secret.
/// The standard output of a command that must have succeeded, checked for secrets.
pub fn success_stdout(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_no_secrets(&text);
    text
}

pub fn assert_no_secrets(text: &str) {
    for secret in secrets() {
        assert!(
            !text.contains(&secret),
            "a secret ({secret}) was printed: {text}"
        );
    }
}

/// A seeded database and data folder.
pub struct Desk {
    pub dir: tempfile::TempDir,
}

impl Desk {
    /// Runs `init` in a fresh temporary folder.
    pub fn new() -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let out = binary()
            .args(["init", "--db", "desk.db", "--data-dir", "data"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        success_stdout(out);
        Desk { dir }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("desk.db")
    }

    pub fn data_path(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn session_command(&self, user: Option<&str>) -> Command {
        let mut command = binary();
        command
            .args(["session", "--db", "desk.db", "--data-dir", "data"])
            .current_dir(self.dir.path());
        if let Some(user) = user {
            command.args(["--user", user]);
        }
        command
    }

    /// Sends `input` (raw bytes) to a session and returns its reply lines, parsed. Checks the
    /// exit code and the one-reply-per-line rule.
    pub fn session_bytes(
        &self,
        user: Option<&str>,
        input: Vec<u8>,
        lines_sent: usize,
    ) -> Vec<Value> {
        let out = run_with_input(self.session_command(user), input);
        assert!(
            out.status.success(),
            "session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("the replies are UTF-8");
        assert_no_secrets(&text);
        let replies: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        assert_eq!(replies.len(), lines_sent, "one reply per line: {text}");
        replies
    }

    /// Sends each of `lines` to a session and returns the replies, parsed.
    pub fn session(&self, user: Option<&str>, lines: &[&str]) -> Vec<Value> {
        let mut input = Vec::new();
        for line in lines {
            input.extend_from_slice(line.as_bytes());
            input.push(b'\n');
        }
        self.session_bytes(user, input, lines.len())
    }

    /// Sends one call and returns its reply.
    pub fn call(&self, user: Option<&str>, tool: &str, arguments: Value) -> Value {
        let line = serde_json::json!({"name": tool, "arguments": arguments}).to_string();
        self.session(user, &[&line]).remove(0)
    }

    /// A session kept open, to answer one line at a time.
    pub fn live(&self, user: &str) -> Live {
        let mut child = self
            .session_command(Some(user))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Live {
            child,
            stdin,
            stdout,
        }
    }

    /// The audit log, parsed, oldest first.
    pub fn audit(&self) -> Vec<Value> {
        let out = binary()
            .args(["audit", "--db", "desk.db"])
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        let text = success_stdout(out);
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A command of the binary run in the desk's folder.
    pub fn run(&self, args: &[&str]) -> Output {
        binary()
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs `command` with `input` on stdin, written from another thread so that a large input
/// cannot deadlock against the output.
pub fn run_with_input(mut command: Command, input: Vec<u8>) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

/// An open session: each line sent gets its reply before the next is written, which also
/// shows that every reply is flushed at once.
pub struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Live {
    pub fn send(&mut self, line: &str) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let mut reply = String::new();
        self.stdout.read_line(&mut reply).unwrap();
        assert_no_secrets(&reply);
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("not JSON ({e}): {reply:?}"))
    }

    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.send(&serde_json::json!({"name": tool, "arguments": arguments}).to_string())
    }

    /// Closes stdin and checks the session ends with exit code 0.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }

    /// Kills the process outright (SIGKILL).
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The error code of a reply, or `"ok"`.
pub fn outcome(reply: &Value) -> &str {
    if reply["ok"] == Value::Bool(true) {
        "ok"
    } else {
        reply["error"]["code"]
            .as_str()
            .expect("a failed reply has a code")
    }
}

/// Starts `command` (a `serve --http`) and waits for its `listening on http://ADDR/mcp` line;
/// the process and ADDR. The rest of its stderr is drained, so it never blocks on a full pipe.
pub fn spawn_listening(command: &mut Command) -> (Child, String) {
    let mut child = command
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix("/mcp"))
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, addr)
}
