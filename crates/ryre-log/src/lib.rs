//! # ryre-log: decentralised logging
//!
//! Every program that uses ryre can publish its `tracing` events as log records, and any number
//! of collectors gather them, with no central server and no configuration:
//!
//! - [`LogLayer`] is a `tracing-subscriber` layer. Each event becomes a [`LogRecord`] (level,
//!   target, message, fields, span names, time, node id and name) published on a ZeroMQ XPUB
//!   socket. The topic starts with the level and the node id, so a collector's filter is a
//!   ZeroMQ subscription and is applied **at the publisher**: records nobody asked for are not
//!   even formatted.
//! - A [`Collector`] is an ordinary ryre node with the HELLO header [`LOG_HEADER`]
//!   (`X-RYRE-LOG = tcp://ip:port`); publishers connect to every collector they see and
//!   disconnect when it leaves. A collector writes JSON lines or text to rotated files (by size
//!   and/or time, with retention and gzip) and/or keeps a bounded memory ring.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = ryre::Node::builder().name("app").start()?;
//! let (layer, _publisher) = ryre_log::layer(&node)?;
//! tracing_subscriber::registry().with(layer).init();   // the one line
//! tracing::info!(user = "ann", "logged in");            // reaches every collector that wants INFO
//! # Ok(()) }
//! ```
//!
//! In certified mode (the node started with `ryre::NodeBuilder::certificate`) a publisher
//! signs every record with its node's identity key (needs the `log` service right in its
//! certificate) and a collector keeps only records that verify against the certificate of the
//! admitted peer they name, if that certificate grants `log`; the others are dropped and
//! counted ([`CollectorStats`]).
//!
//! The record format is specified in [`proto`].

#![warn(missing_docs)]

mod collector;
mod format;
pub mod proto;
mod publisher;
mod sink;

pub use collector::{Collector, CollectorConfig, CollectorStats};
pub use format::{json_line, text_line, Format};
pub use proto::{Level, LogRecord};
pub use publisher::{layer, layer_with, LogLayer, LogPublisher, PublisherConfig, PublisherStats};
pub use sink::{FileConfig, FileSink};

/// The HELLO header a collector carries: where its SUB socket listens (`tcp://ip:port`).
pub const LOG_HEADER: &str = "X-RYRE-LOG";

/// Errors of the logging service.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The node failed.
    #[error(transparent)]
    Node(#[from] ryre::Error),
    /// ZeroMQ refused something.
    #[error("zeromq: {0}")]
    Zmq(#[from] zmq::Error),
    /// A file could not be written, renamed or removed.
    #[error("{path}: {source}")]
    File {
        /// Which file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The interface to listen on could not be found.
    #[error(transparent)]
    Interface(#[from] ryre::InterfaceError),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// A setting makes no sense.
    #[error("invalid setting: {0}")]
    Config(String),
    /// Certified mode: the node's certificate does not grant the `log` service, so every
    /// certified collector would drop its records. Issue it with `--services log`.
    #[error("the certificate of {name} does not grant the log service (issue it with --services log): certified collectors would drop every record")]
    NotEntitled {
        /// The certificate's name.
        name: String,
    },
}

/// Now, in nanoseconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
