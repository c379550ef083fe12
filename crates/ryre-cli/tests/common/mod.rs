//! Helpers of the end-to-end tests of the `ryre` binary: a child process guard (killed and
//! reaped on drop) with bounded waits on its output, and OS-chosen beacon ports.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn free_udp_port() -> u16 {
    ryre::private_port().expect("a private port for this test")
}

/// A running `ryre` process; killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: Receiver<String>,
    pub seen: Vec<String>,
    pub stderr: Receiver<String>,
    pub stderr_seen: std::cell::RefCell<Vec<String>>,
    pub label: String,
}

impl Proc {
    pub fn spawn(label: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ryre"))
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

    /// A node on loopback with fast beacons, printing JSON, with extra arguments.
    pub fn node(label: &str, port: u16, extra: &[&str]) -> Proc {
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
        Proc::spawn(label, &args)
    }

    /// Everything read from stderr so far.
    pub fn stderr_text(&self) -> String {
        let mut seen = self.stderr_seen.borrow_mut();
        seen.extend(self.stderr.try_iter());
        seen.join("\n")
    }

    pub fn fail(&self, what: &str) -> ! {
        let tail: Vec<&String> = self.seen.iter().rev().take(30).collect();
        panic!(
            "{}: {what} within {WAIT:?}; last lines (newest first): {tail:#?}\nstderr: {}",
            self.label,
            self.stderr_text()
        );
    }

    /// The next stdout line, or `None` at EOF; panics after [`WAIT`].
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

    /// Waits for a stdout line matching `pred`.
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

/// Runs `ryre` to completion with a deadline; (status, stdout, stderr).
pub fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let mut p = Proc::spawn("run", args);
    drop(p.stdin.take());
    let status = p.finish();
    let stdout = p.seen.join("\n");
    (status, stdout, p.stderr_text())
}
