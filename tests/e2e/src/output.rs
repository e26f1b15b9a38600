//! Running a command with a time limit and looking at what it printed.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    fn describe(&self) -> String {
        format!(
            "`{}` exited with {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the command succeeded; shows its output otherwise.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "expected success: {}", self.describe());
        self
    }

    /// Asserts the command failed with a non-zero exit code and said why on stderr.
    #[track_caller]
    pub fn fails(&self) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a failure (non-zero exit): {}",
            self.describe()
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "failed without a message on stderr: {}",
            self.describe()
        );
        self
    }

    /// Asserts the command failed and its stderr contains `phrase`
    /// (case-insensitive).
    #[track_caller]
    pub fn fails_with(&self, phrase: &str) -> &Self {
        self.fails();
        assert!(
            self.stderr.to_lowercase().contains(&phrase.to_lowercase()),
            "stderr lacks {phrase:?}: {}",
            self.describe()
        );
        self
    }

    /// Asserts stdout contains `text`.
    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}: {}",
            self.describe()
        );
        self
    }
}

/// Runs `cmd` feeding it `input` (then closing its stdin; `None`: no stdin at
/// all), killing it after `limit`.
#[track_caller]
pub fn run(mut cmd: Command, input: Option<&[u8]>, limit: Duration) -> Output {
    let cmdline = format!("{cmd:?}");
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmdline}: {e}"));
    if let Some(bytes) = input {
        let mut stdin = child.stdin.take().expect("piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    finish(cmdline, child, limit)
}

/// Collects the output of `child` (spawned with piped stdout and stderr)
/// and waits for it to exit; kills it and panics after `limit`. `cmdline`
/// names it in messages.
#[track_caller]
pub fn finish(cmdline: String, mut child: Child, limit: Duration) -> Output {
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let end = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmdline} did not finish within {limit:?}");
            }
        }
    };
    Output {
        cmdline,
        code: status.code(),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned(),
    }
}
