//! `tracing` for the long-running commands: warnings (or, with `--verbose`, the node's protocol
//! log) on stderr, and every event published to the mesh's log collectors once the node runs.

use std::sync::{Mutex, OnceLock};

use ryre::Node;
use ryre_log::{LogLayer, LogPublisher};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

type Slot = reload::Handle<Option<LogLayer>, Registry>;

static SLOT: OnceLock<Slot> = OnceLock::new();
static PUBLISHER: Mutex<Option<LogPublisher>> = Mutex::new(None);

/// Installs the process's subscriber: stderr at `warn` (`info` when `verbose`; `RUST_LOG`
/// overrides), plus an empty slot for the log publisher. Later calls do nothing.
pub fn init(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let (slot, handle) = reload::Layer::new(None::<LogLayer>);
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter);
    if tracing_subscriber::registry()
        .with(slot)
        .with(stderr)
        .try_init()
        .is_ok()
    {
        let _ = SLOT.set(handle);
    }
}

/// Publishes this process's events as records of `node` from now on (collectors that appear
/// get them; with none in sight the cost is one atomic load per event).
pub fn publish(node: &Node) {
    let Some(slot) = SLOT.get() else { return };
    match ryre_log::layer(node) {
        Ok((layer, publisher)) => {
            if slot.reload(Some(layer)).is_ok() {
                if let Ok(mut p) = PUBLISHER.lock() {
                    *p = Some(publisher);
                }
            }
        }
        Err(e) => tracing::warn!("log publishing is off: {e}"),
    }
}

/// Sends what is queued and stops publishing (before the process exits).
pub fn finish() {
    if let Some(slot) = SLOT.get() {
        let _ = slot.reload(None);
    }
    let publisher = PUBLISHER.lock().ok().and_then(|mut p| p.take());
    if let Some(p) = publisher {
        p.stop();
    }
}
