//! # ryre-bridge: a ryre node over HTTP
//!
//! A [`Bridge`] serves one [`ryre::Node`] to the web: a REST API under `/api/v1` (the node, its
//! peers and groups; shout, whisper, join, leave), the live event stream as Server-Sent Events
//! (`/api/v1/events`) and as a WebSocket (`/api/v1/ws`, which also takes commands), an OpenAPI 3
//! document (`/api/v1/openapi.json`) and a live dashboard at `/`. With [`BridgeConfig::logs`]
//! it also hosts a log collector (`ryre_log`) and serves the mesh's logs: the newest records
//! and per-second rates (`/api/v1/logs`) and a live stream of them (`/api/v1/logs/events`).
//! With [`BridgeConfig::services`] it also hosts a services watcher (its own node,
//! `<bridge>-services`) that follows the timer service from what the mesh carries (HELLO
//! headers, ticks) and serves it as `/api/v1/services/timer` and `/api/v1/services/events`.
//! Errors are RFC 9457 `application/problem+json`. With [`BridgeConfig::tls`] (a
//! [`TlsConfig`]: PEM files or an ephemeral self-signed certificate) it serves HTTPS only.
//!
//! ```no_run
//! use ryre::Node;
//! use ryre_bridge::{Bridge, BridgeConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder().name("web").interface("lo").start()?;
//! let bridge = Bridge::new(node, BridgeConfig::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! bridge.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! The bridge takes the node's events (through [`ryre::Node::events`]): do not read them
//! elsewhere. Each event is encoded to JSON once and handed to every client through one ring of
//! [`BridgeConfig::client_buffer`] events: a client that falls that far behind is dropped with a
//! close reason (an SSE `close` event, a WebSocket close frame), and never slows the node.
#![warn(missing_docs)]

mod api;
mod auth;
mod body;
mod dashboard;
pub mod decode;
mod events;
mod logs;
pub mod metrics;
mod openapi;
mod problem;
mod serve;
mod services;
mod stream;
pub mod tls;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method};
use axum::Router;
use futures_util::StreamExt;
use ryre::{Event, Node};
use tokio::sync::broadcast;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use events::EventKind;
pub use logs::{LogsConfig, MAX_N as MAX_LOG_RECORDS, RATE_HISTORY_SECS};
pub use openapi::{openapi_document, routes, Route};
pub use problem::{ApiProblem, PROBLEM_JSON};
pub use services::SNAPSHOT_INTERVAL;
pub use tls::{TlsConfig, TlsError};

/// Errors of setting up a bridge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A CORS origin is not a valid header value.
    #[error("invalid CORS origin {0:?}")]
    CorsOrigin(String),
    /// A setting makes no sense.
    #[error("invalid setting: {0}")]
    Config(String),
    /// The log collector could not start.
    #[error("starting the log collector: {0}")]
    Logs(String),
    /// The services watcher could not start.
    #[error("starting the services watcher: {0}")]
    Services(String),
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// Serving failed.
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

/// How a bridge serves its node.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// When set, every `/api/v1` request needs `Authorization: Bearer <token>` (or
    /// `?access_token=<token>`, for browsers' `EventSource` and `WebSocket`); compared in
    /// constant time.
    pub token: Option<String>,
    /// Origins allowed to call the API from other pages (CORS); empty: CORS off. `*` allows any.
    pub cors_origins: Vec<String>,
    /// Largest request body (and WebSocket message) in bytes; larger ones get 413.
    pub max_body: usize,
    /// Events a streaming client may fall behind before it is dropped.
    pub client_buffer: usize,
    /// The log collector the bridge hosts (`/api/v1/logs`, the dashboard's Logs panel); `None`
    /// (the default): no collector, and the log routes answer 404.
    pub logs: Option<LogsConfig>,
    /// The node of the services watcher the bridge hosts (`/api/v1/services/*`, the dashboard's
    /// Timer panel): give it the same beacon settings (port, interval) as the bridge's node;
    /// the bridge names it `<bridge node name>-services` and starts it on the bridge node's
    /// interface. `None` (the default): no watcher, and the service routes answer 404.
    pub services: Option<ryre::NodeBuilder>,
    /// A request head must arrive whole within this (default 10 s), or the connection closes.
    pub header_timeout: Duration,
    /// A request body must arrive whole within this after its head (default 30 s), or the
    /// request gets 408 and the connection closes.
    pub body_timeout: Duration,
    /// A keep-alive connection with no request in flight closes after this (default 60 s).
    pub idle_timeout: Duration,
    /// Connections served at once (default 512). Over the limit, a new connection takes the
    /// place of the oldest idle one (a half-sent request, an idle keep-alive); when all are
    /// busy (requests in flight, event streams, WebSockets) it gets 503 with the reason.
    pub max_connections: usize,
    /// Serve HTTPS with this certificate and key ([`TlsConfig`]); `None` (the default): plain
    /// HTTP. With TLS, a connection that does not complete a TLS handshake within the header
    /// timeout is closed, and plain HTTP on the port is never served.
    pub tls: Option<TlsConfig>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            token: None,
            cors_origins: Vec::new(),
            max_body: 1024 * 1024,
            client_buffer: 4096,
            logs: None,
            services: None,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            tls: None,
        }
    }
}

/// Runs a node command that may wait (a send under the node's `SendPolicy::Block` waits for room
/// in a full peer queue) without stalling the runtime's other tasks: on a multi-threaded runtime
/// the worker hands its tasks to others meanwhile (`block_in_place`).
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A shout from a handler: at once when every member's queue has room (the usual case, on the
/// task's own thread, without the cost of [`blocking`]); only when a queue is full does it wait
/// for room as the node's `SendPolicy` says, in [`blocking`].
pub(crate) fn shout(
    node: &Node,
    group: &str,
    frames: Vec<bytes::Bytes>,
) -> Result<(), ryre::Error> {
    match node.try_shout(group, frames.iter().cloned()) {
        Err(ryre::Error::WouldBlock { .. }) => blocking(|| node.shout(group, frames)),
        r => r,
    }
}

/// A whisper from a handler, as [`shout`].
pub(crate) fn whisper(
    node: &Node,
    peer: ryre::PeerId,
    frames: Vec<bytes::Bytes>,
) -> Result<(), ryre::Error> {
    match node.try_whisper(peer, frames.iter().cloned()) {
        Err(ryre::Error::WouldBlock { .. }) => blocking(|| node.whisper(peer, frames)),
        r => r,
    }
}

/// What every handler shares.
pub(crate) struct Shared {
    pub node: Node,
    pub config: BridgeConfig,
    pub stopping: AtomicBool,
    /// The ring every client reads; `None` once the node has stopped.
    pub events: Mutex<Option<broadcast::Sender<Arc<events::WireEvent>>>>,
    pub seq: AtomicU64,
    /// The hosted log collector, if any.
    pub logs: Option<logs::LogHub>,
    /// The hosted services watcher, if any.
    pub services: Option<services::ServiceHub>,
    /// What `GET /metrics` shows: the node, and the hosted log collector's records.
    pub metrics: metrics::Metrics,
}

impl Shared {
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// A new client's receiver, or `None` once the node has stopped.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Arc<events::WireEvent>>> {
        let guard = self.events.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(broadcast::Sender::subscribe)
    }

    fn close_events(&self) {
        self.stopping.store(true, Ordering::Release);
        let mut guard = self.events.lock().unwrap_or_else(|p| p.into_inner());
        guard.take();
    }
}

/// The state handlers get.
pub(crate) type App = Arc<Shared>;

/// A ryre node served over HTTP. Cheap to clone.
#[derive(Clone)]
pub struct Bridge {
    shared: App,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("node", &self.shared.node)
            .field("stopping", &self.shared.is_stopping())
            .finish()
    }
}

impl Bridge {
    /// A bridge over `node`. Must be called inside a tokio runtime: it starts the task that
    /// takes the node's events. With [`BridgeConfig::logs`] it also starts the log collector
    /// (its own node, `<node name>-logs`, on the node's interface) and its pump thread.
    pub fn new(node: Node, config: BridgeConfig) -> Result<Bridge, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Config("Bridge::new must be called inside a tokio runtime".into())
        })?;
        if config.client_buffer == 0 {
            return Err(Error::Config(
                "the client buffer must hold at least one event".into(),
            ));
        }
        if config.max_body == 0 {
            return Err(Error::Config("the body limit must be above zero".into()));
        }
        if config.max_connections == 0 {
            return Err(Error::Config(
                "the connection limit must be at least one".into(),
            ));
        }
        for (what, t) in [
            ("header", config.header_timeout),
            ("body", config.body_timeout),
            ("idle", config.idle_timeout),
        ] {
            if t.is_zero() {
                return Err(Error::Config(format!(
                    "the {what} timeout must be above zero"
                )));
            }
        }
        for o in &config.cors_origins {
            if o != "*" && HeaderValue::from_str(o).is_err() {
                return Err(Error::CorsOrigin(o.clone()));
            }
        }
        let logs = match config.logs.clone() {
            Some(l) => Some(logs::LogHub::start(
                l,
                node.name(),
                &node.interface().name,
                config.client_buffer,
            )?),
            None => None,
        };
        let services = match config.services.clone() {
            Some(b) => Some(services::ServiceHub::start(
                b,
                node.name(),
                &node.interface().name,
            )?),
            None => None,
        };
        let mut registry = metrics::Metrics::new().with_node(node.clone());
        if let Some(hub) = &logs {
            registry = registry.with_log_levels(hub.totals());
        }
        let (tx, _) = broadcast::channel(config.client_buffer);
        let shared = Arc::new(Shared {
            node: node.clone(),
            config,
            stopping: AtomicBool::new(false),
            events: Mutex::new(Some(tx)),
            seq: AtomicU64::new(0),
            logs,
            services,
            metrics: registry,
        });
        // The pump holds the bridge weakly: dropping every `Bridge` drops the node.
        let pump = Arc::downgrade(&shared);
        let mut stream = node.events();
        runtime.spawn(async move {
            while let Some(ev) = stream.next().await {
                if matches!(ev, Event::Stop { .. }) {
                    break;
                }
                let Some(shared) = pump.upgrade() else { return };
                let seq = shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(wire) = events::encode(&ev, seq) {
                    let guard = shared.events.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(tx) = guard.as_ref() {
                        // No receiver is fine: nobody is watching.
                        let _ = tx.send(Arc::new(wire));
                    }
                }
            }
            if let Some(shared) = pump.upgrade() {
                shared.close_events();
            }
        });
        Ok(Bridge { shared })
    }

    /// The node this bridge serves.
    pub fn node(&self) -> &Node {
        &self.shared.node
    }

    /// Whether the bridge is stopping (every API request then gets 503).
    pub fn is_stopping(&self) -> bool {
        self.shared.is_stopping()
    }

    /// The axum router: the API, the event streams and the dashboard, with the configured body
    /// limit, bearer token and CORS.
    pub fn router(&self) -> Router {
        let cfg = &self.shared.config;
        let api = openapi::api_router()
            .layer(axum::middleware::from_fn_with_state(
                self.shared.clone(),
                auth::guard,
            ))
            .layer(DefaultBodyLimit::max(cfg.max_body));
        let scrape = Router::new()
            .route(
                "/metrics",
                axum::routing::get(|State(app): State<App>| async move {
                    metrics::exposition(&app.metrics)
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                self.shared.clone(),
                auth::guard,
            ));
        let mut router = Router::new()
            .merge(api)
            .merge(scrape)
            .merge(dashboard::router())
            .fallback(api::no_route)
            .method_not_allowed_fallback(api::method_not_allowed)
            .with_state(self.shared.clone());
        if !cfg.cors_origins.is_empty() {
            let origins = if cfg.cors_origins.iter().any(|o| o == "*") {
                AllowOrigin::any()
            } else {
                AllowOrigin::list(
                    cfg.cors_origins
                        .iter()
                        .filter_map(|o| HeaderValue::from_str(o).ok()),
                )
            };
            router = router.layer(
                CorsLayer::new()
                    .allow_origin(origins)
                    .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                    .allow_headers([
                        axum::http::header::AUTHORIZATION,
                        axum::http::header::CONTENT_TYPE,
                    ])
                    .max_age(Duration::from_secs(600)),
            );
        }
        router
    }

    /// Serves HTTP (HTTPS with [`BridgeConfig::tls`]) on `listener` until `shutdown` completes,
    /// then stops the bridge (see [`Bridge::stop`]) and waits up to 5 s for open requests to
    /// finish.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let this = self.clone();
        let c = &self.shared.config;
        let limits = serve::Limits {
            header_timeout: c.header_timeout,
            body_timeout: c.body_timeout,
            idle_timeout: c.idle_timeout,
            max_connections: c.max_connections,
        };
        let tls = c.tls.as_ref().map(TlsConfig::acceptor);
        let shutdown = async move {
            shutdown.await;
            this.stop().await;
        };
        serve::serve(
            self.router(),
            listener,
            limits,
            tls,
            shutdown,
            Duration::from_secs(5),
        )
        .await?;
        Ok(())
    }

    /// Stops the bridge: every API request gets 503 from now on, the node (and the log
    /// collector's) stops, and every event and log stream ends with the close reason `stopped`.
    /// Calling it again does nothing.
    pub async fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = shared.node.stop();
            if let Some(l) = &shared.logs {
                l.stop();
            }
            if let Some(s) = &shared.services {
                s.stop();
            }
        })
        .await;
        self.shared.close_events();
    }

    /// The uuid of the hosted log collector's node, if the bridge hosts one.
    pub fn log_collector(&self) -> Option<ryre::PeerId> {
        self.shared.logs.as_ref().map(logs::LogHub::uuid)
    }

    /// The uuid of the hosted services watcher's node, if the bridge hosts one.
    pub fn services_watcher(&self) -> Option<ryre::PeerId> {
        self.shared
            .services
            .as_ref()
            .map(services::ServiceHub::uuid)
    }
}
