//! The accept loop: HTTP/1.1 connections served by hyper with the limits a server on a LAN needs
//! against slow and idle clients (slowloris):
//!
//! - **header timeout**: a request head must arrive whole within it (hyper's own timer);
//! - **body timeout**: a request body must arrive whole within it, counted from its head; a late
//!   one gets 408 and the connection closes;
//! - **idle timeout**: a keep-alive connection with no request in flight closes after it;
//! - **connection limit**: at most `max_connections` at once. A new connection over the limit
//!   takes the place of the oldest one that is doing nothing (half-sent head, idle keep-alive),
//!   so a flood of silent connections never locks real clients out; only when every connection
//!   is busy (a request in flight, an event stream, a WebSocket) does the newcomer get 503 with
//!   the reason, and the connection closes.
//!
//! A WebSocket keeps its slot until it closes: the slot is released when the socket is dropped.
//!
//! With TLS, an admitted connection must complete its handshake within the header timeout (an
//! evictable, idle slot meanwhile); then HTTP runs inside it as above. A connection over the
//! limit gets its 503 inside TLS too (after a handshake of at most a second).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::problem::ApiProblem;

/// Limits on the connections a bridge serves (see the [module documentation](self)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// One open connection, as the table sees it.
struct Slot {
    /// Requests whose response is not yet fully written.
    in_flight: usize,
    /// Upgraded to a WebSocket: busy until it closes.
    upgraded: bool,
    /// When it last had nothing in flight.
    idle_since: Instant,
    /// When the first byte of the next request head came, while idle.
    head_since: Option<Instant>,
    /// Tells the connection's task to close it now.
    evict: Arc<Notify>,
    /// Tells the connection's task that its deadline changed.
    wake: Arc<Notify>,
}

impl Slot {
    fn is_idle(&self) -> bool {
        self.in_flight == 0 && !self.upgraded
    }
}

/// Every open connection, oldest first.
#[derive(Default)]
struct Table {
    next: u64,
    slots: BTreeMap<u64, Slot>,
}

type Shared = Arc<Mutex<Table>>;

fn lock(t: &Shared) -> std::sync::MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, asks every
/// connection to finish its request and close, and returns when all have (or after `grace`).
pub(crate) async fn serve(
    router: Router,
    listener: TcpListener,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let table: Shared = Arc::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "bridge: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        match admit(&table, limits.max_connections) {
            Some((id, evict, wake)) => {
                let conn = Conn {
                    id,
                    table: table.clone(),
                    router: router.clone(),
                    limits,
                    evict,
                    wake,
                    stop: stop_rx.clone(),
                };
                tokio::spawn(conn.run(stream, tls.clone()));
            }
            None => match tls.clone() {
                None => {
                    tokio::spawn(refuse(stream, limits.max_connections));
                }
                Some(acceptor) => {
                    let max = limits.max_connections;
                    tokio::spawn(async move {
                        let hs =
                            tokio::time::timeout(Duration::from_secs(1), acceptor.accept(stream));
                        if let Ok(Ok(mut tls)) = hs.await {
                            // Take the request first (its first read, within a second): an
                            // HTTP client reads an answer that comes before its request as a
                            // broken connection, not as the 503.
                            let mut head = [0u8; 8192];
                            let _ = tokio::time::timeout(
                                Duration::from_secs(1),
                                tokio::io::AsyncReadExt::read(&mut tls, &mut head),
                            )
                            .await;
                            refuse(tls, max).await;
                        }
                    });
                }
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + grace;
    // Connections leave the table as they close; the stop signal makes each finish soon.
    while !lock(&table).slots.is_empty() {
        if Instant::now() >= deadline {
            tracing::warn!("open connections did not close within {grace:?}; leaving them");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Gives a new connection a slot, evicting the oldest idle one when the table is full; `None`
/// when every connection is busy.
fn admit(table: &Shared, max: usize) -> Option<(u64, Arc<Notify>, Arc<Notify>)> {
    let mut t = lock(table);
    if t.slots.len() >= max {
        let victim = t
            .slots
            .iter()
            .find(|(_, s)| s.is_idle())
            .map(|(id, _)| *id)?;
        if let Some(s) = t.slots.remove(&victim) {
            s.evict.notify_one();
        }
    }
    let id = t.next;
    t.next += 1;
    let (evict, wake) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    t.slots.insert(
        id,
        Slot {
            in_flight: 0,
            upgraded: false,
            idle_since: Instant::now(),
            head_since: None,
            evict: evict.clone(),
            wake: wake.clone(),
        },
    );
    Some((id, evict, wake))
}

/// Answers a connection over the limit with 503 and closes it.
async fn refuse(mut stream: impl AsyncWrite + Unpin, max: usize) {
    let body = serde_json::to_string(
        &ApiProblem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too-many-connections",
            "Too many connections",
        )
        .detail(format!(
            "the bridge serves at most {max} connections at once and all of them are busy; \
             try again shortly"
        )),
    )
    .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n",
        crate::problem::PROBLEM_JSON,
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// One admitted connection.
struct Conn {
    id: u64,
    table: Shared,
    router: Router,
    limits: Limits,
    evict: Arc<Notify>,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
}

impl Conn {
    /// Serves the connection: over TLS after its handshake when `tls` is set.
    async fn run(mut self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let release = Release {
            id: self.id,
            table: self.table.clone(),
        };
        let Some(acceptor) = tls else {
            return self.serve(stream, release).await;
        };
        // The handshake has the header timeout; an eviction or the stop ends it too.
        let handshake = tokio::time::timeout(self.limits.header_timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            r = handshake => match r {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "bridge: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("bridge: TLS handshake timed out");
                    return;
                }
            },
            () = self.evict.notified() => return,
            _ = self.stop.changed() => return,
        };
        self.serve(stream, release).await;
    }

    async fn serve<S>(mut self, stream: S, release: Release)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(Tracked { stream, release });
        let (id, table, router, body_timeout) = (
            self.id,
            self.table.clone(),
            self.router.clone(),
            self.limits.body_timeout,
        );
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(id, table.clone(), router.clone(), body_timeout, req)
        });
        // The header and idle timeouts are this loop's (hyper's header timer would also count
        // the idle wait for the next request against the header timeout).
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(None);
        let conn = builder.serve_connection(io, service).with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let mut stopping = *self.stop.borrow();
        if stopping {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            let due = self.deadline();
            tokio::select! {
                _ = conn.as_mut() => break,
                () = self.evict.notified() => break,
                () = self.wake.notified() => {}
                () = sleep_until(due) => {
                    if self.deadline().is_some_and(|t| t <= Instant::now()) {
                        break;
                    }
                }
                r = self.stop.changed(), if !stopping => {
                    stopping = true;
                    if r.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        // Dropping the connection closes the socket (unless it went to a WebSocket, which
        // releases the slot when it closes).
    }

    /// When this connection is to close, if it has no request in flight: the head of the next
    /// request must be whole within the header timeout of its first byte, and the first byte
    /// must come within the idle timeout.
    fn deadline(&self) -> Option<Instant> {
        let t = lock(&self.table);
        let s = t.slots.get(&self.id)?;
        if !s.is_idle() {
            return None;
        }
        Some(match s.head_since {
            Some(h) => h + self.limits.header_timeout,
            None => s.idle_since + self.limits.idle_timeout,
        })
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Serves one request: its body under a deadline, its slot busy until the response is written.
async fn handle(
    id: u64,
    table: Shared,
    router: Router,
    body_timeout: Duration,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    if let Some(s) = lock(&table).slots.get_mut(&id) {
        s.in_flight += 1;
        s.head_since = None;
    }
    let busy = Busy {
        id,
        table: table.clone(),
    };
    let late = Arc::new(AtomicBool::new(false));
    let req = req.map(|inner| {
        Body::new(Deadline {
            inner,
            sleep: Box::pin(tokio::time::sleep(body_timeout)),
            late: late.clone(),
        })
    });
    let resp = match router.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let mut resp = if late.load(Ordering::Acquire) {
        let mut r = ApiProblem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
        )
        .detail(format!(
            "the request body did not arrive within {body_timeout:?}"
        ))
        .into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    } else {
        resp
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(s) = lock(&table).slots.get_mut(&id) {
            s.upgraded = true;
        }
    }
    let body = std::mem::take(resp.body_mut());
    *resp.body_mut() = Body::new(Guarded { inner: body, busy });
    Ok(resp)
}

/// A request body that fails once its deadline passes (and says so through `late`).
struct Deadline {
    inner: Incoming,
    sleep: Pin<Box<Sleep>>,
    late: Arc<AtomicBool>,
}

/// The error of a body that came too late.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimeout;

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(r) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(r.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.late.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Marks its connection's request done when dropped (its response written, or abandoned).
struct Busy {
    id: u64,
    table: Shared,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(s) = lock(&self.table).slots.get_mut(&self.id) {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
            }
        }
    }
}

/// A response body that holds its request's [`Busy`] mark until it is written.
struct Guarded {
    inner: Body,
    #[allow(dead_code)] // held for its Drop
    busy: Busy,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Frees a connection's slot when the socket goes (closed, evicted, or a WebSocket ended).
struct Release {
    id: u64,
    table: Shared,
}

impl Drop for Release {
    fn drop(&mut self) {
        lock(&self.table).slots.remove(&self.id);
    }
}

/// The stream (TCP, or TLS over TCP) of an admitted connection; its slot lives as long as it
/// does.
struct Tracked<S> {
    stream: S,
    release: Release,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            // Bytes while idle: a request head has begun, and its own clock starts.
            let mut t = lock(&self.release.table);
            if let Some(s) = t.slots.get_mut(&self.release.id) {
                if s.is_idle() && s.head_since.is_none() {
                    s.head_since = Some(Instant::now());
                    s.wake.notify_one();
                }
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
