//! The mesh's logs through the bridge: an in-process [`ryre_log::Collector`] (its own ryre node,
//! `<bridge>-logs`) with a memory ring, served as `GET /api/v1/logs` (the newest records and
//! the per-second rates of the last minutes) and `GET /api/v1/logs/events` (Server-Sent Events:
//! each record as it arrives, and one `rate` event per second).
//!
//! One pump thread takes the collector's live copy, encodes each record to JSON once, counts it
//! per node and level for the current second, and hands it to every client through one bounded
//! broadcast ring (as the node's events are): a client that falls [`BridgeConfig::client_buffer`]
//! behind is dropped with the close reason `lagged`, and never slows the collector.
//!
//! [`BridgeConfig::client_buffer`]: crate::BridgeConfig::client_buffer

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use ryre::{NodeBuilder, PeerId};
use ryre_log::{Collector, CollectorConfig, Level, LogRecord};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

use crate::events::{sse_frame, CloseReason};
use crate::problem::ApiProblem;
use crate::App;

/// Seconds of per-second rates the bridge keeps (and `GET /api/v1/logs` returns).
pub const RATE_HISTORY_SECS: usize = 300;

/// Records `GET /api/v1/logs` returns when `?n=` is not given.
const DEFAULT_N: usize = 200;

/// The largest `?n=`.
pub const MAX_N: usize = 100_000;

/// Records the pump may fall behind the collector before the collector drops them for it (they
/// stay in the ring; the stream and the rates miss them). Records are at most 256 KiB, usually
/// a few hundred bytes.
const LISTEN_CAPACITY: usize = 16_384;

/// Time between keep-alive comments on an idle SSE stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The bridge's log collector: which records it gathers and how many it keeps.
///
/// ```
/// use ryre_bridge::{BridgeConfig, LogsConfig};
/// use ryre_log::Level;
///
/// let builder = ryre::Node::builder().interface("lo").port(5670);
/// let config = BridgeConfig {
///     logs: Some(LogsConfig { level: Level::Warn, ..LogsConfig::new(builder) }),
///     ..BridgeConfig::default()
/// };
/// assert_eq!(config.logs.as_ref().map(|l| l.memory), Some(2000));
/// ```
#[derive(Debug, Clone)]
pub struct LogsConfig {
    /// The collector's node: give it the same beacon settings (port, interval) as the bridge's
    /// node. The bridge names it `<bridge node name>-logs` and starts it on the bridge node's
    /// interface.
    pub builder: NodeBuilder,
    /// The least severe level collected (filtered at the publishers). Default info.
    pub level: Level,
    /// Records kept in the memory ring. Default 2000.
    pub memory: usize,
}

impl LogsConfig {
    /// Info and above, 2000 records, a collector node from `builder`.
    pub fn new(builder: NodeBuilder) -> LogsConfig {
        LogsConfig {
            builder,
            level: Level::Info,
            memory: 2000,
        }
    }
}

/// What one client reads from the log ring.
#[derive(Debug)]
pub(crate) enum WireLog {
    /// A record: its level and source for the filter, its whole SSE frame.
    Record {
        level: Level,
        node: PeerId,
        name: String,
        sse: Bytes,
    },
    /// One second's counts (every client gets them, whatever its filter).
    Rate { sse: Bytes },
}

/// What the handlers and the pump share.
struct PumpShared {
    tx: Mutex<Option<broadcast::Sender<Arc<WireLog>>>>,
    /// `(unix second, its JSON)`, oldest first, at most [`RATE_HISTORY_SECS`].
    rates: Mutex<VecDeque<(u64, Value)>>,
    stop: AtomicBool,
    /// Records taken since the start, per level (in the order of `Level::ALL`): the metrics.
    totals: [AtomicU64; 5],
}

/// The collector the bridge hosts, and the ring its records go through.
pub(crate) struct LogHub {
    collector: Mutex<Option<Collector>>,
    uuid: PeerId,
    info: Value,
    memory: usize,
    pump: Arc<PumpShared>,
}

impl LogHub {
    /// A function giving the records taken so far per level (for `metrics`).
    pub fn totals(&self) -> impl Fn() -> [u64; 5] + Send + Sync + 'static {
        let pump = self.pump.clone();
        move || std::array::from_fn(|i| pump.totals[i].load(Ordering::Relaxed))
    }

    /// Starts the collector `<name>-logs` on `interface` and its pump thread.
    pub fn start(
        config: LogsConfig,
        name: &str,
        interface: &str,
        client_buffer: usize,
    ) -> Result<LogHub, crate::Error> {
        if config.memory == 0 {
            return Err(crate::Error::Config(
                "the log memory must hold at least one record".into(),
            ));
        }
        let collector = Collector::start(
            config.builder.name(format!("{name}-logs")),
            CollectorConfig {
                level: config.level,
                memory: config.memory,
                interface: Some(interface.to_string()),
                ..CollectorConfig::default()
            },
        )
        .map_err(|e| crate::Error::Logs(e.to_string()))?;
        let info = json!({
            "uuid": collector.node().uuid().to_string(),
            "name": collector.node().name(),
            "endpoint": collector.endpoint(),
            "level": config.level.as_str(),
            "memory": config.memory,
        });
        let (tx, _) = broadcast::channel(client_buffer);
        let pump = Arc::new(PumpShared {
            tx: Mutex::new(Some(tx)),
            rates: Mutex::new(VecDeque::with_capacity(RATE_HISTORY_SECS)),
            stop: AtomicBool::new(false),
            totals: Default::default(),
        });
        let rx = collector.listen(LISTEN_CAPACITY);
        let p = pump.clone();
        std::thread::Builder::new()
            .name("ryre-bridge-logs".into())
            .spawn(move || run_pump(&p, &rx))
            .map_err(crate::Error::Io)?;
        Ok(LogHub {
            uuid: collector.node().uuid(),
            collector: Mutex::new(Some(collector)),
            info,
            memory: config.memory,
            pump,
        })
    }

    /// The collector node's id.
    pub fn uuid(&self) -> PeerId {
        self.uuid
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<Arc<WireLog>>> {
        let guard = self.pump.tx.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(broadcast::Sender::subscribe)
    }

    /// Ends every log stream (`stopped`) and stops the collector (blocking: call it off the
    /// runtime's worker threads).
    pub fn stop(&self) {
        self.pump.stop.store(true, Ordering::Release);
        self.pump
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let collector = self
            .collector
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = collector {
            let _ = c.stop();
        }
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Counts of one second: per node, its name and one count per level.
#[derive(Default)]
struct Second {
    nodes: BTreeMap<PeerId, (String, [u64; 5])>,
}

impl Second {
    fn add(&mut self, rec: &LogRecord) {
        let e = self
            .nodes
            .entry(rec.node)
            .or_insert_with(|| (rec.name.clone(), [0; 5]));
        if let Some(i) = Level::ALL.iter().position(|l| *l == rec.level) {
            e.1[i] += 1;
        }
    }

    fn json(&self, t: u64) -> Value {
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|(id, (name, counts))| {
                let mut c = Map::new();
                for (l, n) in Level::ALL.iter().zip(counts) {
                    if *n > 0 {
                        c.insert(l.as_str().into(), json!(n));
                    }
                }
                json!({"node": id.to_string(), "name": name, "counts": c})
            })
            .collect();
        json!({"type": "RATE", "t": t, "nodes": nodes})
    }
}

/// The pump: records from the collector to the ring, a `rate` event at each second's end.
fn run_pump(p: &PumpShared, rx: &flume::Receiver<LogRecord>) {
    let mut second = unix_secs();
    let mut counts = Second::default();
    let mut id: u64 = 0;
    let send = |item: WireLog| {
        let guard = p.tx.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = guard.as_ref() {
            // No receiver is fine: nobody is watching.
            let _ = tx.send(Arc::new(item));
        }
    };
    let watched = || {
        let guard = p.tx.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().is_some_and(|tx| tx.receiver_count() > 0)
    };
    while !p.stop.load(Ordering::Acquire) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if now.as_secs() != second {
            let v = counts.json(second);
            let sse = sse_frame("rate", None, &v.to_string());
            {
                let mut rates = p.rates.lock().unwrap_or_else(|e| e.into_inner());
                if rates.len() == RATE_HISTORY_SECS {
                    rates.pop_front();
                }
                rates.push_back((second, v));
            }
            send(WireLog::Rate { sse });
            second = now.as_secs();
            counts = Second::default();
        }
        let to_next = Duration::from_secs(1)
            .saturating_sub(Duration::from_nanos(u64::from(now.subsec_nanos())))
            .max(Duration::from_millis(1));
        match rx.recv_timeout(to_next) {
            Ok(rec) => {
                counts.add(&rec);
                // Level's discriminants are 1..=5, most severe first, as in `Level::ALL`.
                if let Some(t) = p.totals.get(usize::from(rec.level as u8).wrapping_sub(1)) {
                    t.fetch_add(1, Ordering::Relaxed);
                }
                id += 1;
                if !watched() {
                    continue; // counted; nobody to encode it for
                }
                let sse = sse_frame("record", Some(id), &ryre_log::json_line(&rec));
                send(WireLog::Record {
                    level: rec.level,
                    node: rec.node,
                    name: rec.name,
                    sse,
                });
            }
            Err(flume::RecvTimeoutError::Timeout) => {}
            Err(flume::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Which records a client wants: `?level=` (that level and more severe) and `?node=` (a 32-hex
/// id, or a node name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LogFilter {
    pub level: Option<Level>,
    pub node: Option<NodeMatch>,
}

/// A node by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeMatch {
    Id(PeerId),
    Name(String),
}

impl LogFilter {
    /// The filter of a query's `level` and `node` values.
    pub fn parse(level: Option<&str>, node: Option<&str>) -> Result<LogFilter, ApiProblem> {
        let level = match level {
            None => None,
            Some(l) => Some(Level::parse(l.trim()).ok_or_else(|| {
                ApiProblem::bad_request(format!(
                    "unknown level {l:?}; known: error, warn, info, debug, trace"
                ))
            })?),
        };
        let node = match node {
            None => None,
            Some("") => return Err(ApiProblem::bad_request("?node= names no node")),
            Some(n) if n.len() > 255 => {
                return Err(ApiProblem::bad_request(
                    "?node= is a 32-hex id or a node name (at most 255 bytes)",
                ))
            }
            Some(n) => Some(match n.parse::<PeerId>() {
                Ok(id) => NodeMatch::Id(id),
                Err(_) => NodeMatch::Name(n.to_string()),
            }),
        };
        Ok(LogFilter { level, node })
    }

    fn accepts(&self, level: Level, node: PeerId, name: &str) -> bool {
        if self.level.is_some_and(|max| level > max) {
            return false;
        }
        match &self.node {
            None => true,
            Some(NodeMatch::Id(id)) => *id == node,
            Some(NodeMatch::Name(n)) => n == name,
        }
    }
}

/// `?n=`: 1 to [`MAX_N`], default [`DEFAULT_N`].
pub(crate) fn parse_n(n: Option<&str>) -> Result<usize, ApiProblem> {
    let Some(s) = n else { return Ok(DEFAULT_N) };
    match s.trim().parse::<usize>() {
        Ok(v) if (1..=MAX_N).contains(&v) => Ok(v),
        _ => Err(ApiProblem::bad_request(format!(
            "?n= is a whole number of records from 1 to {MAX_N}; got {s:?}"
        ))),
    }
}

/// The query of both log routes.
#[derive(Debug, Deserialize)]
pub(crate) struct LogQuery {
    n: Option<String>,
    level: Option<String>,
    node: Option<String>,
    #[allow(dead_code)] // read by the auth guard
    access_token: Option<String>,
}

fn query(q: Result<Query<LogQuery>, QueryRejection>) -> Result<LogQuery, ApiProblem> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiProblem::bad_request(format!("bad query: {e}")))
}

fn hub(app: &App) -> Result<&LogHub, ApiProblem> {
    app.logs.as_ref().ok_or_else(|| {
        ApiProblem::new(StatusCode::NOT_FOUND, "logs-disabled", "Logs are off")
            .detail("this bridge hosts no log collector (BridgeConfig::logs; `ryre bridge` without --no-logs)")
    })
}

/// `GET /api/v1/logs`: the collector, its newest records (oldest first) that pass the filter,
/// and the per-second rates of the last [`RATE_HISTORY_SECS`] seconds (unfiltered).
pub(crate) async fn list(
    State(app): State<App>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let hub = hub(&app)?;
    let q = query(q)?;
    let n = parse_n(q.n.as_deref())?;
    let filter = LogFilter::parse(q.level.as_deref(), q.node.as_deref())?;
    let (records, stats) = {
        let guard = hub.collector.lock().unwrap_or_else(|p| p.into_inner());
        let c = guard.as_ref().ok_or_else(ApiProblem::stopping)?;
        // Unfiltered, the newest n are all we need; a filter looks through the whole ring.
        let want = if filter == LogFilter::default() {
            n
        } else {
            hub.memory
        };
        (c.recent(want), c.stats())
    };
    let mut picked: Vec<Value> = records
        .iter()
        .rev()
        .filter(|r| filter.accepts(r.level, r.node, &r.name))
        .take(n)
        .filter_map(|r| serde_json::from_str(&ryre_log::json_line(r)).ok())
        .collect();
    picked.reverse();
    let rates: Vec<Value> = hub
        .pump
        .rates
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(_, v)| v.clone())
        .collect();
    Ok(Json(json!({
        "collector": hub.info,
        "stats": {
            "received": stats.received,
            "malformed": stats.malformed,
            "missed": stats.missed,
            "repaired_utf8": stats.repaired_utf8,
        },
        "records": picked,
        "rates": rates,
    })))
}

/// `GET /api/v1/logs/events`: a `ready` event (the collector), then a `record` event per
/// record that passes the filter and a `rate` event per second, and a final `close` event.
pub(crate) async fn sse(
    State(app): State<App>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiProblem> {
    let hub = hub(&app)?;
    let q = query(q)?;
    if q.n.is_some() {
        return Err(ApiProblem::bad_request(
            "?n= is for GET /api/v1/logs; the stream sends records as they come",
        ));
    }
    let filter = LogFilter::parse(q.level.as_deref(), q.node.as_deref())?;
    let rx = hub.subscribe().ok_or_else(ApiProblem::stopping)?;
    let buffer = app.config.client_buffer;
    let mut ready = hub.info.clone();
    if let Value::Object(m) = &mut ready {
        m.insert("type".into(), json!("READY"));
    }
    let ready = Bytes::from(format!(
        "retry: 1000\n{}",
        String::from_utf8_lossy(&sse_frame("ready", None, &ready.to_string()))
    ));
    let events = futures_util::stream::unfold(Some((rx, filter)), move |state| async move {
        let (mut rx, filter) = state?;
        let item = tokio::select! {
            r = next(&mut rx, &filter, buffer) => match r {
                Ok(b) => (b, Some((rx, filter))),
                Err(reason) => (sse_frame("close", None, &reason.json()), None),
            },
            () = tokio::time::sleep(KEEP_ALIVE) => (Bytes::from_static(b":\n\n"), Some((rx, filter))),
        };
        Some((Ok::<_, Infallible>(item.0), item.1))
    });
    let stream = futures_util::stream::once(async move { Ok(ready) }).chain(events);
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The next frame this client wants, or why its stream ends.
async fn next(
    rx: &mut broadcast::Receiver<Arc<WireLog>>,
    filter: &LogFilter,
    buffer: usize,
) -> Result<Bytes, CloseReason> {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match rx.recv().await {
            Ok(item) => match &*item {
                WireLog::Rate { sse } => return Ok(sse.clone()),
                WireLog::Record {
                    level,
                    node,
                    name,
                    sse,
                } => {
                    if filter.accepts(*level, *node, name) {
                        return Ok(sse.clone());
                    }
                }
            },
            Err(RecvError::Lagged(dropped)) => return Err(CloseReason::Lagged { dropped, buffer }),
            Err(RecvError::Closed) => return Err(CloseReason::Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(level: Level, node: u8, name: &str) -> LogRecord {
        LogRecord {
            seq: 0,
            time: 0,
            level,
            node: PeerId::from_bytes([node; 16]),
            name: name.into(),
            target: "t".into(),
            message: "m".into(),
            fields: vec![],
            spans: vec![],
        }
    }

    #[test]
    fn filters() {
        let all = LogFilter::parse(None, None).expect("ok");
        assert!(all.accepts(Level::Trace, PeerId::from_bytes([1; 16]), "a"));
        let warn = LogFilter::parse(Some("WARN"), Some("a")).expect("ok");
        assert!(warn.accepts(Level::Error, PeerId::from_bytes([1; 16]), "a"));
        assert!(warn.accepts(Level::Warn, PeerId::from_bytes([1; 16]), "a"));
        assert!(!warn.accepts(Level::Info, PeerId::from_bytes([1; 16]), "a"));
        assert!(!warn.accepts(Level::Warn, PeerId::from_bytes([1; 16]), "b"));
        let id = LogFilter::parse(None, Some(&"02".repeat(16))).expect("ok");
        assert!(id.accepts(Level::Info, PeerId::from_bytes([2; 16]), "x"));
        assert!(!id.accepts(Level::Info, PeerId::from_bytes([1; 16]), "x"));
        assert!(LogFilter::parse(Some("loud"), None).is_err());
        assert!(LogFilter::parse(None, Some("")).is_err());
        assert_eq!(parse_n(None), Ok(DEFAULT_N));
        assert_eq!(parse_n(Some("5")), Ok(5));
        for bad in ["0", "-1", "x", "100001", ""] {
            assert_eq!(parse_n(Some(bad)).expect_err(bad).status, 400);
        }
    }

    #[test]
    fn rate_json() {
        let mut s = Second::default();
        s.add(&rec(Level::Warn, 1, "a"));
        s.add(&rec(Level::Warn, 1, "a"));
        s.add(&rec(Level::Error, 2, "b"));
        let v = s.json(42);
        assert_eq!(v["t"], 42);
        assert_eq!(v["type"], "RATE");
        assert_eq!(v["nodes"][0]["name"], "a");
        assert_eq!(v["nodes"][0]["counts"], json!({"WARN": 2}));
        assert_eq!(v["nodes"][1]["counts"], json!({"ERROR": 1}));
    }
}
