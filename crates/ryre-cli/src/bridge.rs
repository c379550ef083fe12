//! `ryre bridge`: a node served over HTTP (REST API, SSE, WebSocket) with its live dashboard
//! at `/`; a thin shell over the `ryre-bridge` library.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ryre_bridge::{Bridge, BridgeConfig, LogsConfig, TlsConfig};
use serde_json::json;

use crate::args::NetArgs;
use crate::output::{print_line, Printer};
use crate::{CliError, CliResult};

/// Arguments of `ryre bridge`.
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// Address to serve HTTP on. Only loopback by default; any other address is the user's
    /// explicit choice (consider --token).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The node's name [default: the first 6 hex digits of its id].
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// Join this group at start (repeatable).
    #[arg(long = "join", value_name = "GROUP")]
    pub join: Vec<String>,
    /// Require `Authorization: Bearer TOKEN` (or `?access_token=TOKEN`) on the API.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Allow this origin to call the API from other pages (CORS; repeatable; `*` for any).
    #[arg(long = "cors", value_name = "ORIGIN")]
    pub cors: Vec<String>,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..=1 << 32))]
    pub max_body: u64,
    /// Events a streaming client may fall behind before it is dropped.
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub client_buffer: u64,
    /// Milliseconds a client has to send a whole request head; then the connection closes.
    #[arg(long, value_name = "MS", default_value = "10000", value_parser = crate::args::parse_millis)]
    pub header_timeout: std::time::Duration,
    /// Milliseconds a client has to send a whole request body after its head; then 408.
    #[arg(long, value_name = "MS", default_value = "30000", value_parser = crate::args::parse_millis)]
    pub body_timeout: std::time::Duration,
    /// Milliseconds a keep-alive connection may sit idle before it is closed.
    #[arg(long, value_name = "MS", default_value = "60000", value_parser = crate::args::parse_millis)]
    pub idle_timeout: std::time::Duration,
    /// Connections served at once. Over it a new connection replaces the oldest idle one (a
    /// half-sent request, an idle keep-alive); when all are busy it gets 503.
    #[arg(long, value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_connections: u64,
    /// Host no log collector (no Logs panel, and /api/v1/logs answers 404).
    #[arg(long)]
    pub no_logs: bool,
    /// Host no services watcher (no Timer or Pipeline panel, and /api/v1/services/* answers 404).
    #[arg(long)]
    pub no_services: bool,
    /// The least severe level the bridge's log collector gathers: error, warn, info, debug or
    /// trace (filtered at the publishers).
    #[arg(long, value_name = "LEVEL", value_parser = crate::log::parse_level, default_value = "info")]
    pub logs_level: ryre_log::Level,
    /// Records the bridge's log collector keeps in memory.
    #[arg(long, value_name = "N", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub logs_memory: u64,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key. Plain HTTP
    /// is then not served on the port.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, SEC1 or PKCS#1; RSA, ECDSA P-256/P-384 or
    /// Ed25519).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with an ephemeral self-signed certificate (ECDSA P-256, made at start, never
    /// written) for localhost, 127.0.0.1, ::1, the listen address, the node's interface address
    /// and the host name; its SHA-256 fingerprint and public-key pin are printed at start.
    #[arg(long)]
    pub tls_self_signed: bool,
    /// Another host name or address for --tls-self-signed's certificate (repeatable).
    #[arg(long = "tls-name", value_name = "NAME", requires = "tls_self_signed")]
    pub tls_names: Vec<String>,
    /// Network settings of the node (and of the log collector's node).
    #[command(flatten)]
    pub net: NetArgs,
    /// Print the start-up line as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ryre bridge` until SIGINT or SIGTERM.
pub fn run(a: BridgeArgs) -> CliResult {
    crate::logging::init(false);
    if a.token.as_deref() == Some("") {
        return Err(CliError::Usage("--token must not be empty".into()));
    }
    // Certificate files are checked before anything starts.
    let files_tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(
            TlsConfig::from_pem_files(c, k).map_err(|e| CliError::Usage(format!("TLS: {e}")))?,
        ),
        _ => None,
    };
    let mut b = a.net.builder();
    if let Some(n) = &a.name {
        b = b.name(n.clone());
    }
    let mut config = BridgeConfig {
        token: a.token.clone(),
        cors_origins: a.cors.clone(),
        max_body: usize::try_from(a.max_body).unwrap_or(usize::MAX),
        client_buffer: usize::try_from(a.client_buffer).unwrap_or(usize::MAX),
        header_timeout: a.header_timeout,
        body_timeout: a.body_timeout,
        idle_timeout: a.idle_timeout,
        max_connections: usize::try_from(a.max_connections).unwrap_or(usize::MAX),
        logs: (!a.no_logs).then(|| LogsConfig {
            level: a.logs_level,
            memory: usize::try_from(a.logs_memory).unwrap_or(usize::MAX),
            ..LogsConfig::new(a.net.builder())
        }),
        services: (!a.no_services).then(|| a.net.builder()),
        tls: files_tls,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::runtime)?;
    let node = b.start()?;
    for g in &a.join {
        node.join(g)?;
    }
    if a.tls_self_signed {
        let names = self_signed_names(a.listen.ip(), node.interface().addr.into(), &a.tls_names);
        config.tls =
            Some(TlsConfig::self_signed(&names).map_err(|e| CliError::Usage(format!("TLS: {e}")))?);
    }
    let tls = config.tls.clone();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| CliError::Runtime(format!("cannot listen on {}: {e}", a.listen)))?;
        let addr = listener.local_addr().map_err(CliError::runtime)?;
        let bridge = Bridge::new(node.clone(), config).map_err(|e| match e {
            ryre_bridge::Error::CorsOrigin(_) | ryre_bridge::Error::Config(_) => {
                CliError::Usage(e.to_string())
            }
            other => CliError::runtime(other),
        })?;
        if !addr.ip().is_loopback() && a.token.is_none() {
            Printer { json: a.json }.warn(&format!(
                "serving {addr} beyond loopback without --token: anyone who can reach it \
                 controls this node"
            ));
        } else if !addr.ip().is_loopback() && tls.is_none() {
            Printer { json: a.json }.warn(&format!(
                "serving {addr} beyond loopback without TLS: the token and all traffic travel \
                 in clear (see --tls-cert or --tls-self-signed)"
            ));
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{addr}/");
        if a.json {
            print_line(
                &json!({
                    "event": "LISTENING",
                    "url": url,
                    "peer": node.uuid().to_string(),
                    "name": node.name(),
                    "endpoint": node.endpoint(),
                    "logs": bridge.log_collector().map(|id| id.to_string()),
                    "services": bridge.services_watcher().map(|id| id.to_string()),
                    "tls": tls.as_ref().map(|t| json!({
                        "sha256": t.fingerprint(),
                        "spki_sha256": t.spki_sha256(),
                        "certificate": t.certificate_pem(),
                    })),
                })
                .to_string(),
            );
        } else {
            let logs = match bridge.log_collector() {
                Some(id) => format!(" logs {}-logs id={id}", node.name()),
                None => String::new(),
            };
            print_line(&format!(
                "LISTENING {url} node {} id={} {}{logs}",
                node.name(),
                node.uuid(),
                node.endpoint()
            ));
            if let Some(t) = &tls {
                print_line(&format!(
                    "TLS sha256={} spki-sha256={}",
                    t.fingerprint(),
                    t.spki_sha256()
                ));
            }
        }
        bridge
            .serve(listener, shutdown_signal())
            .await
            .map_err(CliError::runtime)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The names of a self-signed certificate: loopback, the listen address (unless it is the
/// wildcard), the node's interface address, the host name (when it is a valid DNS name) and
/// the user's extra names; no duplicates.
fn self_signed_names(listen: IpAddr, iface: IpAddr, extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for ip in [listen, iface] {
        if !ip.is_unspecified() {
            names.push(ip.to_string());
        }
    }
    if let Some(h) = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
    {
        let dns = !h.is_empty()
            && h.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if dns {
            names.push(h);
        }
    }
    names.extend(extra.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
