//! The plumbing of the long-running commands: node events, stdin lines and stop signals all
//! arrive on one channel, so a command's loop waits on a single `recv_timeout`.

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ryre::{Event, Node};

use crate::CliError;

/// Something a command's loop has to react to.
#[derive(Debug)]
pub enum Input {
    /// The node reported an event.
    Event(Event),
    /// The node's event queue has ended (it has stopped).
    EventsEnded,
    /// A line was read from stdin (without its line ending).
    Line(String),
    /// Stdin reached its end (or failed).
    StdinClosed,
    /// SIGINT, SIGTERM or SIGHUP arrived.
    Signal,
}

/// The merged input channel of one command.
pub struct Session {
    tx: Sender<Input>,
    rx: Receiver<Input>,
    /// Set by a stop signal, for loops that cannot wait on the channel.
    signalled: Arc<AtomicBool>,
}

impl Session {
    /// An empty session.
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel();
        Session {
            tx,
            rx,
            signalled: Arc::default(),
        }
    }

    /// A flag that turns true when a stop signal arrives: long loops that do not wait on the
    /// session (a burst of shouts, join/leave churn) look at it as they go.
    pub fn signalled(&self) -> Arc<AtomicBool> {
        self.signalled.clone()
    }

    /// Forwards every event of `node` to the session, from a thread of its own.
    pub fn forward_events(&self, node: &Node) -> Result<(), CliError> {
        let node = node.clone();
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name("ryre-events".into())
            .spawn(move || {
                while let Ok(ev) = node.recv() {
                    if tx.send(Input::Event(ev)).is_err() {
                        return;
                    }
                }
                let _ = tx.send(Input::EventsEnded);
            })
            .map(|_| ())
            .map_err(CliError::runtime)
    }

    /// Forwards stdin lines to the session, from a thread of its own. The thread ends at EOF (the
    /// process exit does not wait for it).
    pub fn read_stdin(&self) -> Result<(), CliError> {
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name("ryre-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                let mut lines = stdin.lock().lines();
                loop {
                    match lines.next() {
                        Some(Ok(line)) => {
                            if tx.send(Input::Line(line)).is_err() {
                                return;
                            }
                        }
                        // Invalid UTF-8 or a read error: skip what cannot be read, stop on error.
                        Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {}
                        Some(Err(_)) | None => break,
                    }
                }
                let _ = tx.send(Input::StdinClosed);
            })
            .map(|_| ())
            .map_err(CliError::runtime)
    }

    /// Turns SIGINT, SIGTERM and SIGHUP into [`Input::Signal`] (once per process).
    pub fn catch_signals(&self) -> Result<(), CliError> {
        let tx = std::sync::Mutex::new(self.tx.clone());
        let flag = self.signalled.clone();
        ctrlc::set_handler(move || {
            flag.store(true, Ordering::Release);
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(Input::Signal);
            }
        })
        .map_err(|e| CliError::Runtime(format!("cannot catch signals: {e}")))
    }

    /// The next input, waiting at most until `deadline` (forever when `None`). `None` on timeout.
    pub fn next(&self, deadline: Option<Instant>) -> Option<Input> {
        match deadline {
            None => self.rx.recv().ok(),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                self.rx.recv_timeout(left).ok()
            }
        }
    }

    /// After [`Node::stop`]: hands every remaining event (STOP included) to `f`, waiting at most
    /// `limit` for the node's queue to end.
    pub fn drain_events(&self, limit: Duration, mut f: impl FnMut(Event)) {
        let deadline = Instant::now() + limit;
        while let Some(input) = self.next(Some(deadline)) {
            match input {
                Input::Event(ev) => {
                    let stop = matches!(ev, Event::Stop { .. });
                    f(ev);
                    if stop {
                        return;
                    }
                }
                Input::EventsEnded => return,
                Input::Line(_) | Input::StdinClosed | Input::Signal => {}
            }
        }
    }
}
