//! Child processes of the tests: a plain guard ([`Kill`]) and a child whose output lines are read
//! with bounded waits ([`Proc`]); both are killed and reaped on drop.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Every wait of a [`Proc`] is bounded by this.
pub const PROC_WAIT: Duration = Duration::from_secs(20);
const WAIT: Duration = PROC_WAIT;

/// A child process, killed with SIGKILL and reaped on drop.
#[derive(Debug)]
pub struct Kill(pub Child);

impl Kill {
    /// Kills the child with SIGKILL and reaps it (again on drop: harmless).
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A running process (made for the `ryre` binary) whose stdout and stderr lines are read by
/// threads; killed (and reaped) on drop.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Its stdin, until closed.
    pub stdin: Option<ChildStdin>,
    /// Its stdout lines, as they come.
    pub lines: Receiver<String>,
    /// The stdout lines read so far.
    pub seen: Vec<String>,
    /// Its stderr lines, as they come.
    pub stderr: Receiver<String>,
    /// The stderr lines read so far.
    pub stderr_seen: std::cell::RefCell<Vec<String>>,
    /// A name for failure messages.
    pub label: String,
}

impl Proc {
    /// Starts `exe` with `args`, stdin, stdout and stderr piped.
    pub fn spawn(exe: impl AsRef<OsStr>, label: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ryre");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, stderr_rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if etx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            stderr: stderr_rx,
            stderr_seen: Default::default(),
            label: label.to_string(),
        }
    }

    /// `exe node` (the `ryre` binary) on loopback with fast beacons, printing JSON, with extra
    /// arguments.
    pub fn node(exe: impl AsRef<OsStr>, label: &str, port: u16, extra: &[&str]) -> Proc {
        let port = port.to_string();
        let mut args = vec![
            "node",
            "--json",
            "--interface",
            "lo",
            "--port",
            &port,
            "--interval",
            "100",
            "--name",
            label,
        ];
        args.extend_from_slice(extra);
        Proc::spawn(exe, label, &args)
    }

    /// Everything read from stderr so far.
    pub fn stderr_text(&self) -> String {
        let mut seen = self.stderr_seen.borrow_mut();
        seen.extend(self.stderr.try_iter());
        seen.join("\n")
    }

    /// Panics with `what`, the newest stdout lines and the stderr read so far.
    pub fn fail(&self, what: &str) -> ! {
        let tail: Vec<&String> = self.seen.iter().rev().take(30).collect();
        panic!(
            "{}: {what} within {WAIT:?}; last lines (newest first): {tail:#?}\nstderr: {}",
            self.label,
            self.stderr_text()
        );
    }

    /// The next stdout line, or `None` at EOF; panics at `deadline`.
    pub fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(l) => {
                self.seen.push(l.clone());
                Some(l)
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => self.fail("no more output"),
        }
    }

    /// Waits up to [`PROC_WAIT`] for a stdout line matching `pred`.
    pub fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.next_line(deadline) {
                Some(l) if pred(&l) => return l,
                Some(_) => {}
                None => self.fail(&format!("output ended before {what}")),
            }
        }
    }

    /// Waits for a JSON line matching `pred`.
    pub fn expect_json(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let line = self.expect_line(what, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| pred(&v))
        });
        serde_json::from_str(&line).expect("matched line is JSON")
    }

    /// The STARTED line's own peer id.
    pub fn started(&mut self) -> String {
        let v = self.expect_json("STARTED", |v| v["event"] == "STARTED");
        v["peer"].as_str().expect("peer id").to_string()
    }

    /// Writes one line to its stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Reads stdout to its end and waits for the exit; every remaining line is kept in `seen`.
    pub fn finish(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        while self.next_line(deadline).is_some() {}
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) => self.stderr_seen.borrow_mut().push(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => self.fail("stderr did not close"),
            }
        }
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                self.fail("no exit");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The SUMMARY JSON object among the lines seen.
    pub fn summary(&self) -> Value {
        self.seen
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["event"] == "SUMMARY")
            .unwrap_or_else(|| self.fail("no SUMMARY line"))
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: sending a signal to our own child process, which has not been reaped yet.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
