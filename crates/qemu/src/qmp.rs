//! A QMP (QEMU Machine Protocol) client over a Unix socket.
//!
//! QMP is line-delimited JSON. After connecting QEMU sends a greeting, the
//! client enters command mode with `qmp_capabilities`, then each command
//! gets one reply (`return` or `error`), while asynchronous `event`
//! messages may arrive at any time in between.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::version::QemuVersion;

/// Timeout for connecting and for each command, unless changed with
/// [`Qmp::set_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many asynchronous events are kept for [`Qmp::take_events`]; older
/// ones are dropped.
pub const EVENT_BUFFER: usize = 256;

/// A QMP connection shared by several tasks.
///
/// QEMU serves one client per QMP socket, so share one connection rather
/// than opening several.
pub type SharedQmp = Arc<tokio::sync::Mutex<Qmp>>;

/// When QEMU emitted an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QmpTimestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Microseconds within the second.
    pub microseconds: i64,
}

/// An asynchronous QMP event such as `MIGRATION`, `STOP` or `SHUTDOWN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QmpEvent {
    /// The event name, e.g. "MIGRATION".
    pub event: String,
    /// The event's data (`null` if it has none).
    #[serde(default)]
    pub data: Value,
    /// When QEMU emitted it.
    #[serde(default)]
    pub timestamp: Option<QmpTimestamp>,
}

/// A connection to one QEMU process's QMP socket.
#[derive(Debug)]
pub struct Qmp {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Bytes of the line being read; kept across cancelled reads.
    line: Vec<u8>,
    events: VecDeque<QmpEvent>,
    next_id: u64,
    timeout: Duration,
    version: Option<QemuVersion>,
    /// Out-of-band execution enabled (QEMU offered `oob` in its greeting):
    /// [`Qmp::execute_oob`] then runs in QEMU's monitor thread, even
    /// while its main loop is blocked.
    oob: bool,
    /// Set when a write was interrupted, leaving the stream unusable.
    broken: Option<String>,
    /// The last command whose reply did not come in time: its id and
    /// name, and its reply once it arrives (see [`Qmp::late_reply`]).
    unanswered: Option<Unanswered>,
}

/// A command that timed out, and its reply if it came later.
#[derive(Debug)]
struct Unanswered {
    id: u64,
    command: String,
    reply: Option<Result<Value>>,
}

impl Qmp {
    /// Connects to a QMP socket, reads the greeting and enables commands,
    /// all within [`DEFAULT_TIMEOUT`].
    pub async fn connect(path: impl AsRef<Path>) -> Result<Qmp> {
        Self::connect_with_timeout(path, DEFAULT_TIMEOUT).await
    }

    /// Like [`Qmp::connect`] with a different timeout, which also becomes
    /// the command timeout.
    pub async fn connect_with_timeout(path: impl AsRef<Path>, timeout: Duration) -> Result<Qmp> {
        let path = path.as_ref().to_path_buf();
        let stream = match tokio::time::timeout(timeout, UnixStream::connect(&path)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => return Err(Error::QmpConnect { path, source }),
            Err(_) => {
                return Err(Error::QmpTimeout {
                    what: "the connection".into(),
                    path,
                    timeout,
                })
            }
        };
        let (read, write) = stream.into_split();
        let mut qmp = Qmp {
            path,
            reader: BufReader::new(read),
            writer: write,
            line: Vec::new(),
            events: VecDeque::new(),
            next_id: 1,
            timeout,
            version: None,
            oob: false,
            broken: None,
            unanswered: None,
        };
        let deadline = Instant::now() + timeout;
        let greeting = qmp.read_message(deadline, "the QMP greeting").await?;
        let Some(info) = greeting.get("QMP") else {
            return Err(qmp.protocol(format!("expected the QMP greeting, got {greeting}")));
        };
        qmp.version = info
            .pointer("/version/qemu")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        // Out-of-band execution where QEMU offers it: a post-copy's
        // `migrate-pause` and `migrate-recover` must work while a guest
        // vCPU waits, holding QEMU's main loop, for a page that is not
        // there yet.
        let offered = info
            .get("capabilities")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|v| v == "oob"));
        let caps = offered.then(|| json!({ "enable": ["oob"] }));
        qmp.execute("qmp_capabilities", caps).await?;
        qmp.oob = offered;
        tracing::debug!(path = %qmp.path.display(), version = ?qmp.version, "QMP connected");
        Ok(qmp)
    }

    /// Connects, retrying while the socket does not exist yet or refuses
    /// connections, until `total` has passed. Useful right after starting
    /// a process that creates the socket.
    pub async fn connect_retry(path: impl AsRef<Path>, total: Duration) -> Result<Qmp> {
        let path = path.as_ref();
        let deadline = Instant::now() + total;
        loop {
            match Self::connect(path).await {
                Err(Error::QmpConnect { source, .. })
                    if Instant::now() < deadline
                        && matches!(
                            source.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                        ) =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    /// Wraps the connection for sharing between tasks.
    pub fn into_shared(self) -> SharedQmp {
        Arc::new(tokio::sync::Mutex::new(self))
    }

    /// The socket this connection uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The QEMU version announced in the greeting.
    pub fn qemu_version(&self) -> Option<QemuVersion> {
        self.version
    }

    /// The per-command timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Changes the per-command timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Runs a QMP command and returns its `return` value.
    ///
    /// Events arriving meanwhile are buffered (see [`Qmp::take_events`]).
    /// A QMP error reply becomes [`Error::Qmp`] with QEMU's class and
    /// description. If the reply does not come within the timeout the
    /// command may still run; a late reply is recognised by its id, kept
    /// for the last such command (see [`Qmp::late_reply`]) and otherwise
    /// discarded.
    pub async fn execute(&mut self, cmd: &str, args: Option<Value>) -> Result<Value> {
        self.command("execute", cmd, args).await
    }

    /// Like [`Qmp::execute`], out of band (`exec-oob`) where the
    /// connection allows it, so that the command runs even while QEMU's
    /// main loop is blocked; only for commands QEMU marks `allow-oob`.
    /// In band otherwise.
    pub async fn execute_oob(&mut self, cmd: &str, args: Option<Value>) -> Result<Value> {
        let how = if self.oob { "exec-oob" } else { "execute" };
        self.command(how, cmd, args).await
    }

    /// Whether out-of-band execution is enabled on this connection.
    pub fn oob(&self) -> bool {
        self.oob
    }

    async fn command(&mut self, how: &str, cmd: &str, args: Option<Value>) -> Result<Value> {
        if let Some(why) = &self.broken {
            return Err(Error::QmpClosed {
                path: self.path.clone(),
                context: format!("{why}; reconnect"),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ how: cmd, "id": id });
        if let Some(args) = args {
            msg["arguments"] = args;
        }
        let mut line = msg.to_string();
        tracing::trace!(path = %self.path.display(), "QMP -> {line}");
        line.push('\n');

        let deadline = Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, self.writer.write_all(line.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.closed(format!("sending {cmd}: {e}"))),
            Err(_) => {
                self.broken = Some(format!("sending {cmd} timed out"));
                return Err(self.timed_out(format!("QEMU to accept command {cmd}")));
            }
        }

        let what = format!("the reply to {cmd}");
        match self.await_reply(id, cmd, deadline, &what).await {
            Err(e @ Error::QmpTimeout { .. }) => {
                self.unanswered = Some(Unanswered {
                    id,
                    command: cmd.to_string(),
                    reply: None,
                });
                Err(e)
            }
            r => r,
        }
    }

    /// Reads until the reply to command `id`, buffering events and
    /// keeping a late reply to the last unanswered command.
    async fn await_reply(
        &mut self,
        id: u64,
        cmd: &str,
        deadline: Instant,
        what: &str,
    ) -> Result<Value> {
        loop {
            let reply = self.read_message(deadline, what).await?;
            if reply.get("event").is_some() {
                self.push_event(reply);
                continue;
            }
            match reply.get("id").and_then(Value::as_u64) {
                Some(got) if got != id => {
                    self.keep_late(got, &reply);
                    continue;
                }
                _ => {}
            }
            return self.parse_reply(cmd, &reply);
        }
    }

    /// A reply for an earlier command: kept if it answers the last
    /// command that timed out, discarded otherwise.
    fn keep_late(&mut self, got: u64, reply: &Value) {
        let Some(u) = self.unanswered.as_mut().filter(|u| u.id == got) else {
            tracing::debug!(path = %self.path.display(), got, "discarding late QMP reply");
            return;
        };
        let command = u.command.clone();
        tracing::debug!(path = %self.path.display(), got, %command, "late QMP reply kept");
        let parsed = self.parse_reply(&command, reply);
        if let Some(u) = self.unanswered.as_mut() {
            u.reply = Some(parsed);
        }
    }

    /// A reply's `return` value, or its error as [`Error::Qmp`].
    fn parse_reply(&self, cmd: &str, reply: &Value) -> Result<Value> {
        if let Some(ret) = reply.get("return") {
            return Ok(ret.clone());
        }
        if let Some(err) = reply.get("error") {
            let field = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let (class, desc) = (field("class"), field("desc"));
            tracing::debug!(cmd, %class, %desc, "QMP command failed");
            return Err(Error::Qmp {
                command: cmd.to_string(),
                class,
                desc,
            });
        }
        Err(self.protocol(format!("unexpected message {reply}")))
    }

    /// The reply to `command`, if it was the last command to time out
    /// and its reply has come since (read while waiting for a later
    /// command's). QEMU answers one connection's commands in order, so
    /// once a later command is answered, a late reply has come or never
    /// will. Taken once.
    pub fn late_reply(&mut self, command: &str) -> Option<Result<Value>> {
        match &self.unanswered {
            Some(u) if u.command == command && u.reply.is_some() => {
                self.unanswered.take().and_then(|u| u.reply)
            }
            _ => None,
        }
    }

    /// Removes and returns the buffered asynchronous events, oldest first.
    pub fn take_events(&mut self) -> Vec<QmpEvent> {
        self.events.drain(..).collect()
    }

    /// Returns the oldest buffered event, or waits up to `timeout` for the
    /// next one; `None` if none arrived.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<Option<QmpEvent>> {
        if let Some(ev) = self.events.pop_front() {
            return Ok(Some(ev));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let msg = match self.read_message(deadline, "an event").await {
                Ok(msg) => msg,
                Err(Error::QmpTimeout { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            if msg.get("event").is_some() {
                self.push_event(msg);
                return Ok(self.events.pop_front());
            }
            match msg.get("id").and_then(Value::as_u64) {
                Some(got) => self.keep_late(got, &msg),
                None => {
                    tracing::debug!(path = %self.path.display(), "discarding stray QMP reply {msg}")
                }
            }
        }
    }

    fn push_event(&mut self, msg: Value) {
        match serde_json::from_value::<QmpEvent>(msg) {
            Ok(ev) => {
                tracing::debug!(path = %self.path.display(), event = %ev.event, data = %ev.data, "QMP event");
                if self.events.len() >= EVENT_BUFFER {
                    self.events.pop_front();
                }
                self.events.push_back(ev);
            }
            Err(e) => tracing::warn!(path = %self.path.display(), "malformed QMP event: {e}"),
        }
    }

    /// Marks the connection unusable (QEMU closed it or it failed) and
    /// returns the error for `context`.
    fn closed(&mut self, context: String) -> Error {
        self.broken = Some(context.clone());
        Error::QmpClosed {
            path: self.path.clone(),
            context,
        }
    }

    /// Whether the connection failed and must be reopened: every command
    /// on it fails with [`Error::QmpClosed`].
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Reads one JSON message, waiting until `deadline`.
    async fn read_message(&mut self, deadline: Instant, what: &str) -> Result<Value> {
        loop {
            // `read_until` appends what it has read so far to `self.line`
            // even if the timeout cancels it, so a later call resumes the
            // same line.
            let read =
                tokio::time::timeout_at(deadline, self.reader.read_until(b'\n', &mut self.line))
                    .await;
            match read {
                Err(_) => return Err(self.timed_out(what.to_string())),
                Ok(Err(e)) => return Err(self.closed(format!("reading {what}: {e}"))),
                // End of stream, possibly in the middle of a line.
                Ok(Ok(0)) => return Err(self.closed(format!("waiting for {what}"))),
                Ok(Ok(_)) if self.line.last() != Some(&b'\n') => {
                    return Err(self.closed(format!("waiting for {what}")))
                }
                Ok(Ok(_)) => {}
            }
            let line = std::mem::take(&mut self.line);
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            tracing::trace!(path = %self.path.display(), "QMP <- {text}");
            return serde_json::from_str(text)
                .map_err(|e| self.protocol(format!("invalid JSON {text:?}: {e}")));
        }
    }

    fn timed_out(&self, what: String) -> Error {
        Error::QmpTimeout {
            what,
            path: self.path.clone(),
            timeout: self.timeout,
        }
    }

    fn protocol(&self, detail: String) -> Error {
        Error::QmpProtocol {
            path: self.path.clone(),
            detail,
        }
    }
}
