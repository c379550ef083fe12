//! The mesh's services through the bridge: a watcher node (`<bridge>-services`, its own ryre
//! node beside the bridge's, as the log collector is) that learns about the timer service and
//! the reliable pipeline from what the mesh carries, and serves them as
//! `GET /api/v1/services/timer`, `GET /api/v1/services/pipeline` and
//! `GET /api/v1/services/events` (Server-Sent Events: a `timer` and a `pipeline` snapshot twice
//! a second).
//!
//! What the watcher reads, and nothing else (it sends nothing but its own JOINs):
//!
//! - the HELLO header [`ryre_timer::RATES_HEADER`] of every peer (in its ENTER): the timer
//!   nodes and the rates each serves; for each rate seen it joins the tick group
//!   (`tick/<rate>hz`), as any subscriber does;
//! - the ticks shouted there, each checked by a [`TickTracker`] (numbering, gaps, duplicates,
//!   forgeries): the node that sent the accepted ticks is the one that ticks that rate (the
//!   leader of `timer/<rate>hz`), their gaps are missed ticks, and received minus scheduled is
//!   their lateness, kept in a [`JitterStats`] histogram;
//! - the HELLO headers [`ryre_pipeline::ROLE_HEADER`] and [`ryre_pipeline::CLUSTER_HEADER`]:
//!   the pipeline's clients, workers and collectors; for each cluster seen it joins the status
//!   group (`pipeline/<cluster>/status`), and only then do that cluster's roles report there
//!   (at most twice a second each, when something changed);
//! - those reports, taken by a [`ryre_pipeline::watch::Watch`]: batches with their progress,
//!   workers with their throughput, re-deals.
//!
//! A separate node keeps the bridge's own event stream free of the ticks (up to 1000 a second
//! per rate), and its thread reads its own events.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use ryre::{Event, Node, NodeBuilder, PeerId};
use ryre_pipeline::watch::{ClusterView, NodeView, Watch};
use ryre_pipeline::Role;
use ryre_timer::proto::TimerMsg;
use ryre_timer::{JitterStats, TickTracker, RATES_HEADER};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::events::{sse_frame, CloseReason};
use crate::metrics::LATENESS_BUCKETS;
use crate::problem::ApiProblem;
use crate::App;

/// Time between two snapshots on `GET /api/v1/services/events`.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(500);

/// Arrival times kept per rate to measure its rate (the last second's ticks, at most).
const RECENT: usize = 1000;

/// A timer node, as its HELLO announced it.
#[derive(Debug, Clone)]
struct TimerNode {
    name: String,
    endpoint: String,
    rates: Vec<u16>,
}

/// What the watcher knows of one rate.
struct RateView {
    tracker: TickTracker,
    /// The node whose ticks were accepted last, and its name.
    ticker: Option<(PeerId, String)>,
    /// Nodes that ticked this rate, with their accepted ticks (a failover shows two).
    tickers: BTreeMap<PeerId, (String, u64)>,
    lateness: JitterStats,
    /// `(n, t0, scheduled, lateness ns)` of the newest accepted tick.
    last: Option<(u64, u64, u64, i64)>,
    /// Receive times (Unix ns) of the newest ticks.
    recent: VecDeque<u64>,
    /// Gaps seen (a run of missed ticks counts once).
    gaps: u64,
}

impl RateView {
    fn new(rate: u16) -> RateView {
        RateView {
            tracker: TickTracker::new(rate),
            ticker: None,
            tickers: BTreeMap::new(),
            lateness: JitterStats::new(),
            last: None,
            recent: VecDeque::new(),
            gaps: 0,
        }
    }

    /// Ticks received in the last second before `now`.
    fn measured_hz(&self, now: u64) -> u64 {
        let since = now.saturating_sub(1_000_000_000);
        self.recent.iter().filter(|t| **t > since).count() as u64
    }

    fn json(&self, rate: u16, now: u64) -> Value {
        let c = self.tracker.counts();
        let l = &self.lateness;
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let mut below = 0u64;
        let mut buckets: Vec<Value> = LATENESS_BUCKETS
            .iter()
            .map(|le| {
                let at_most = l.count_at_most(Duration::from_secs_f64(*le));
                let n = at_most.saturating_sub(below);
                below = below.max(at_most);
                json!({"le_us": le * 1e6, "count": n})
            })
            .collect();
        buckets.push(json!({"le_us": null, "count": l.count().saturating_sub(below)}));
        let ticker = self
            .ticker
            .as_ref()
            .map(|(id, name)| json!({"uuid": id.to_string(), "name": name}));
        let tickers: Vec<Value> = self
            .tickers
            .iter()
            .map(|(id, (name, n))| json!({"uuid": id.to_string(), "name": name, "ticks": n}))
            .collect();
        let last = self.last.map(|(n, t0, scheduled, late)| {
            json!({"n": n, "t0": t0, "scheduled": scheduled, "lateness_us": late as f64 / 1e3})
        });
        json!({
            "rate": rate,
            "group": ryre_timer::tick_group(rate),
            "ticker": ticker,
            "tickers": tickers,
            "measured_hz": self.measured_hz(now),
            "ticks": {
                "received": c.received,
                "missed": c.missed,
                "gaps": self.gaps,
                "stale": c.stale,
                "malformed": c.malformed,
                "new_epochs": c.new_epochs,
            },
            "last": last,
            "lateness": {
                "count": l.count(),
                "mean_us": if l.count() > 0 { us(l.mean()) } else { 0.0 },
                "p50_us": if l.count() > 0 { us(l.percentile(0.5)) } else { 0.0 },
                "p99_us": if l.count() > 0 { us(l.percentile(0.99)) } else { 0.0 },
                "max_us": if l.count() > 0 { us(l.max()) } else { 0.0 },
                "histogram": buckets,
            },
        })
    }
}

/// What the watcher knows.
#[derive(Default)]
struct View {
    timers: BTreeMap<PeerId, TimerNode>,
    rates: BTreeMap<u16, RateView>,
    pipeline: Watch,
}

/// The rates of a [`RATES_HEADER`] value (`1,10,100`); what does not parse as a rate is left
/// out.
fn parse_rates(header: &str) -> Vec<u16> {
    let mut v: Vec<u16> = header
        .split(',')
        .filter_map(|r| r.trim().parse::<u16>().ok())
        .filter(|r| ryre_timer::check_rate(*r).is_ok())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl View {
    /// Takes one event of the watcher's node; returns the groups it should now join.
    fn take(&mut self, ev: Event, now: u64) -> Vec<String> {
        match ev {
            Event::Enter {
                peer,
                name,
                headers,
                endpoint,
            } => {
                let mut join: Vec<String> = self
                    .pipeline
                    .enter(now, peer, &name, &headers)
                    .into_iter()
                    .collect();
                let Some(h) = headers.get(RATES_HEADER) else {
                    return join;
                };
                let rates = parse_rates(h);
                let new: Vec<u16> = rates
                    .iter()
                    .copied()
                    .filter(|r| !self.rates.contains_key(r))
                    .collect();
                for r in &new {
                    self.rates.insert(*r, RateView::new(*r));
                }
                self.timers.insert(
                    peer,
                    TimerNode {
                        name: name.to_string(),
                        endpoint,
                        rates,
                    },
                );
                join.extend(new.into_iter().map(ryre_timer::tick_group));
                join
            }
            Event::Exit { peer, .. } => {
                self.pipeline.exit(now, peer);
                self.timers.remove(&peer);
                for r in self.rates.values_mut() {
                    if r.ticker.as_ref().is_some_and(|(id, _)| *id == peer) {
                        r.ticker = None;
                    }
                }
                Vec::new()
            }
            Event::Shout {
                peer,
                name,
                group,
                content,
            } => {
                if group.starts_with("pipeline/") {
                    self.pipeline.shout(now, peer, &group, &content);
                    return Vec::new();
                }
                let rate = group
                    .strip_prefix("tick/")
                    .and_then(|r| r.strip_suffix("hz"))
                    .and_then(|r| r.parse::<u16>().ok());
                let Some(view) = rate.and_then(|r| self.rates.get_mut(&r)) else {
                    return Vec::new();
                };
                let msg = match content.len() {
                    1 => TimerMsg::decode(&content[0]).ok(),
                    _ => None,
                };
                let Some(TimerMsg::Tick {
                    rate,
                    n,
                    t0,
                    scheduled,
                }) = msg
                else {
                    view.tracker.count_malformed();
                    return Vec::new();
                };
                let Ok(tick) = view.tracker.accept(peer, rate, n, t0, scheduled, now) else {
                    return Vec::new();
                };
                let late = tick.lateness_ns();
                view.lateness.record(late);
                if tick.missed > 0 {
                    view.gaps += 1;
                }
                view.last = Some((tick.n, tick.t0, tick.scheduled, late));
                view.ticker = Some((peer, name.to_string()));
                view.tickers.entry(peer).or_insert((name.to_string(), 0)).1 += 1;
                if view.recent.len() == RECENT {
                    view.recent.pop_front();
                }
                view.recent.push_back(now);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn timer_json(&self, only: Option<u16>, now: u64) -> Value {
        let nodes: Vec<Value> = self
            .timers
            .iter()
            .map(|(id, t)| {
                json!({"uuid": id.to_string(), "name": t.name, "endpoint": t.endpoint,
                       "rates": t.rates})
            })
            .collect();
        let rates: Vec<Value> = self
            .rates
            .iter()
            .filter(|(r, _)| only.is_none_or(|o| o == **r))
            .map(|(r, v)| v.json(*r, now))
            .collect();
        json!({"nodes": nodes, "rates": rates})
    }

    fn pipeline_json(&self, only: Option<&str>, now: u64) -> Value {
        let clusters: Vec<Value> = match only {
            Some(c) => self
                .pipeline
                .cluster(now, c)
                .iter()
                .map(cluster_json)
                .collect(),
            None => self.pipeline.view(now).iter().map(cluster_json).collect(),
        };
        let c = self.pipeline.counts();
        json!({
            "clusters": clusters,
            "reports": {
                "taken": c.statuses,
                "malformed": c.malformed,
                "unexpected": c.unexpected,
                "refused_clusters": c.refused_clusters,
            },
        })
    }
}

/// A rate rounded to 0.1 (the JSON need not carry float noise).
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn node_json(n: &NodeView) -> Value {
    let mut v = json!({
        "uuid": n.peer.to_string(),
        "name": n.name,
        "reported": n.reported,
        "gone": n.gone,
        "done": n.done,
        "duplicates": n.duplicates,
    });
    if let Value::Object(m) = &mut v {
        match n.role {
            Role::Client => {
                m.insert("in_flight".into(), json!(n.held));
                m.insert("redealt".into(), json!(n.redealt));
            }
            Role::Worker => {
                m.insert("held".into(), json!(n.held));
                m.insert("tasks_per_s".into(), json!(round1(n.tasks_per_s)));
            }
            Role::Collector => {
                m.insert("open_batches".into(), json!(n.held));
                m.insert("tasks_per_s".into(), json!(round1(n.tasks_per_s)));
            }
        }
    }
    v
}

fn cluster_json(c: &ClusterView) -> Value {
    let nodes = |role: Role| -> Vec<Value> {
        c.nodes
            .iter()
            .filter(|n| n.role == role)
            .map(node_json)
            .collect()
    };
    let batches: Vec<Value> = c
        .batches
        .iter()
        .map(|b| {
            let s = &b.status;
            json!({
                // A string: a u64 does not fit a JavaScript number.
                "id": format!("{:016x}", s.batch),
                "client": {"uuid": b.client.to_string(), "name": b.client_name},
                "state": b.state.as_str(),
                "total": s.total,
                "done": s.done,
                "at_workers": s.at_workers,
                "at_collector": s.at_collector,
                "in_flight": s.at_workers + s.at_collector,
                "pending": s.pending(),
                "redealt": s.redealt,
                "tasks_per_s": round1(b.tasks_per_s),
                "elapsed_s": (b.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    json!({
        "cluster": c.cluster,
        "group": c.group,
        "tasks_per_s": round1(c.tasks_per_s),
        "redealt": c.redealt,
        "clients": nodes(Role::Client),
        "workers": nodes(Role::Worker),
        "collectors": nodes(Role::Collector),
        "batches": batches,
    })
}

/// The services watcher the bridge hosts.
pub(crate) struct ServiceHub {
    node: Node,
    info: Value,
    view: Arc<Mutex<View>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ServiceHub {
    /// Starts the watcher node `<name>-services` on `interface` and its thread.
    pub fn start(
        builder: NodeBuilder,
        name: &str,
        interface: &str,
    ) -> Result<ServiceHub, crate::Error> {
        let node = builder
            .name(format!("{name}-services"))
            .interface(interface)
            .start()
            .map_err(|e| crate::Error::Services(e.to_string()))?;
        let info = json!({"uuid": node.uuid().to_string(), "name": node.name()});
        let view = Arc::new(Mutex::new(View::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, v, s) = (node.clone(), view.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("ryre-bridge-services".into())
            .spawn(move || run(&n, &v, &s))
            .map_err(crate::Error::Io)?;
        Ok(ServiceHub {
            node,
            info,
            view,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The watcher node's id.
    pub fn uuid(&self) -> PeerId {
        self.node.uuid()
    }

    fn view(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The timer view as JSON (only rate `only`, if given).
    fn timer(&self, only: Option<u16>) -> Value {
        let mut v = self.view().timer_json(only, ryre_timer::unix_now());
        if let Value::Object(m) = &mut v {
            m.insert("watcher".into(), self.info.clone());
        }
        v
    }

    /// The pipeline view as JSON (only cluster `only`, if given).
    fn pipeline(&self, only: Option<&str>) -> Value {
        let mut v = self.view().pipeline_json(only, ryre_timer::unix_now());
        if let Value::Object(m) = &mut v {
            m.insert("watcher".into(), self.info.clone());
        }
        v
    }

    /// Stops the thread and the watcher node (blocking: call it off the runtime's workers).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let t = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
        let _ = self.node.stop();
    }
}

impl Drop for ServiceHub {
    fn drop(&mut self) {
        // The thread sees the flag within 100 ms and drops its handle of the node.
        self.stop.store(true, Ordering::Release);
    }
}

/// The watcher's thread: the node's events into the view.
fn run(node: &Node, view: &Mutex<View>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        let ev = match node.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(ev)) => ev,
            Ok(None) => continue,
            Err(_) => return, // the node stopped
        };
        let join = view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(ev, ryre_timer::unix_now());
        for group in join {
            // A failed join leaves the rate (or cluster) known and empty; the panel shows no
            // ticks (or reports) for it.
            let _ = node.join(&group);
        }
    }
}

/// The query of the service routes.
#[derive(Debug, Deserialize)]
pub(crate) struct ServiceQuery {
    rate: Option<String>,
    cluster: Option<String>,
    #[allow(dead_code)] // read by the auth guard
    access_token: Option<String>,
}

fn query(q: Result<Query<ServiceQuery>, QueryRejection>) -> Result<ServiceQuery, ApiProblem> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiProblem::bad_request(format!("bad query: {e}")))
}

/// `?rate=`: a rate in Hz, 1 to 1000.
fn parse_rate(rate: Option<&str>) -> Result<Option<u16>, ApiProblem> {
    let Some(s) = rate else { return Ok(None) };
    match s.trim().parse::<u16>() {
        Ok(r) if ryre_timer::check_rate(r).is_ok() => Ok(Some(r)),
        _ => Err(ApiProblem::bad_request(format!(
            "?rate= is a tick rate in Hz from 1 to {}; got {s:?}",
            ryre_timer::proto::MAX_RATE
        ))),
    }
}

/// `?cluster=`: a pipeline cluster name, 1 to 200 bytes.
fn parse_cluster(cluster: Option<&str>) -> Result<Option<&str>, ApiProblem> {
    match cluster {
        None => Ok(None),
        Some(c) if !c.is_empty() && c.len() <= 200 => Ok(Some(c)),
        Some(c) => Err(ApiProblem::bad_request(format!(
            "?cluster= is a pipeline cluster name of 1 to 200 bytes; got {} bytes",
            c.len()
        ))),
    }
}

fn hub(app: &App) -> Result<&ServiceHub, ApiProblem> {
    app.services.as_ref().ok_or_else(|| {
        ApiProblem::new(
            StatusCode::NOT_FOUND,
            "services-disabled",
            "Services are off",
        )
        .detail(
            "this bridge hosts no services watcher (BridgeConfig::services; `ryre bridge` \
             without --no-services)",
        )
    })
}

/// `GET /api/v1/services/timer`: the timer nodes and, per rate, who ticks it, the ticks
/// received and missed, and the lateness histogram.
pub(crate) async fn timer(
    State(app): State<App>,
    q: Result<Query<ServiceQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let hub = hub(&app)?;
    let q = query(q)?;
    let only = parse_rate(q.rate.as_deref())?;
    if app.is_stopping() {
        return Err(ApiProblem::stopping());
    }
    Ok(Json(hub.timer(only)))
}

/// `GET /api/v1/services/pipeline`: per pipeline cluster, its clients, workers (tasks done,
/// held, tasks per second) and collectors, its batches (progress, re-deals) and its re-deals.
pub(crate) async fn pipeline(
    State(app): State<App>,
    q: Result<Query<ServiceQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiProblem> {
    let hub = hub(&app)?;
    let q = query(q)?;
    let only = parse_cluster(q.cluster.as_deref())?;
    if app.is_stopping() {
        return Err(ApiProblem::stopping());
    }
    Ok(Json(hub.pipeline(only)))
}

/// `GET /api/v1/services/events`: a `ready` event (the watcher), then every
/// [`SNAPSHOT_INTERVAL`] a `timer` and a `pipeline` event (the same JSON as
/// `GET /api/v1/services/timer` and `GET /api/v1/services/pipeline`), and a final `close`
/// event when the bridge stops.
pub(crate) async fn sse(
    State(app): State<App>,
    q: Result<Query<ServiceQuery>, QueryRejection>,
) -> Result<Response, ApiProblem> {
    let hub = hub(&app)?;
    let q = query(q)?;
    let only = parse_rate(q.rate.as_deref())?;
    let cluster = parse_cluster(q.cluster.as_deref())?.map(str::to_string);
    let mut ready = hub.info.clone();
    if let Value::Object(m) = &mut ready {
        m.insert("type".into(), json!("READY"));
    }
    let ready = Bytes::from(format!(
        "retry: 1000\n{}",
        String::from_utf8_lossy(&sse_frame("ready", None, &ready.to_string()))
    ));
    let mut interval = tokio::time::interval(SNAPSHOT_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Some((app, interval, cluster));
    let events = futures_util::stream::unfold(start, move |state| async move {
        let (app, mut interval, cluster) = state?;
        interval.tick().await;
        let Some(hub) = app.services.as_ref().filter(|_| !app.is_stopping()) else {
            let close = sse_frame("close", None, &CloseReason::Stopped.json());
            return Some((Ok::<_, Infallible>(close), None));
        };
        let timer = sse_frame("timer", None, &hub.timer(only).to_string());
        let pipeline = sse_frame(
            "pipeline",
            None,
            &hub.pipeline(cluster.as_deref()).to_string(),
        );
        let frame = Bytes::from([timer, pipeline].concat());
        Some((Ok(frame), Some((app, interval, cluster))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;

    fn enter(id: u8, rates: &str) -> Event {
        let mut headers = Map::new();
        headers.insert(RATES_HEADER.to_string(), rates.to_string());
        Event::Enter {
            peer: PeerId::from_bytes([id; 16]),
            name: format!("timer-{id}").into(),
            headers,
            endpoint: "tcp://127.0.0.1:1".into(),
        }
    }

    fn tick(id: u8, rate: u16, n: u64, t0: u64) -> Event {
        let scheduled = t0 + n * (1_000_000_000 / u64::from(rate));
        let frame = TimerMsg::Tick {
            rate,
            n,
            t0,
            scheduled,
        }
        .encode()
        .expect("encodes");
        Event::Shout {
            peer: PeerId::from_bytes([id; 16]),
            name: format!("timer-{id}").into(),
            group: ryre_timer::tick_group(rate).into(),
            content: vec![frame].into(),
        }
    }

    #[test]
    fn rates_from_headers_ticks_gaps_and_garbage() {
        let mut v = View::default();
        let t0 = 1_000_000_000_000;
        assert_eq!(
            v.take(enter(1, "10, 1,x,0,5000,10"), t0),
            ["tick/1hz", "tick/10hz"]
        );
        assert_eq!(v.take(enter(2, "10,100"), t0), ["tick/100hz"]);
        for n in [1, 2, 5] {
            v.take(tick(1, 10, n, t0), t0 + n * 100_000_000 + 2_000_000);
        }
        // A duplicate and a frame that is no tick change nothing but the counts.
        v.take(tick(1, 10, 5, t0), t0 + 600_000_000);
        let mut junk = tick(2, 10, 6, t0);
        if let Event::Shout { content, .. } = &mut junk {
            *content = vec![Bytes::from_static(b"junk")].into();
        }
        v.take(junk, t0 + 600_000_000);
        let j = v.timer_json(None, t0 + 600_000_000);
        assert_eq!(j["nodes"].as_array().map(Vec::len), Some(2));
        let r10 = &j["rates"][1];
        assert_eq!(r10["rate"], 10);
        assert_eq!(r10["ticker"]["name"], "timer-1");
        assert_eq!(r10["ticks"]["received"], 3);
        assert_eq!(r10["ticks"]["missed"], 2);
        assert_eq!(r10["ticks"]["gaps"], 1);
        assert_eq!(r10["ticks"]["stale"], 1);
        assert_eq!(r10["ticks"]["malformed"], 1);
        assert_eq!(r10["last"]["n"], 5);
        // All three were 2 ms late: the bucket up to 2.5 ms holds them.
        let h = r10["lateness"]["histogram"].as_array().expect("histogram");
        let total: u64 = h.iter().filter_map(|b| b["count"].as_u64()).sum();
        assert_eq!(total, 3);
        assert_eq!(h[4]["le_us"], 2500.0);
        assert_eq!(h[4]["count"], 3);
        // Percentiles are of the lateness: 2 ms, not the maximum by accident.
        let (p50, max) = (
            r10["lateness"]["p50_us"].as_f64(),
            r10["lateness"]["max_us"].as_f64(),
        );
        assert!(
            p50.is_some_and(|p| (1990.0..=2010.0).contains(&p)),
            "{p50:?}"
        );
        assert_eq!(max, Some(2000.0));
        // One much later tick: the median stays, the maximum moves.
        v.take(tick(1, 10, 6, t0), t0 + 600_000_000 + 40_000_000);
        let j = v.timer_json(Some(10), t0 + 700_000_000);
        let l = &j["rates"][0]["lateness"];
        assert!(l["p50_us"].as_f64().is_some_and(|p| p < 2100.0), "{l}");
        assert_eq!(l["max_us"], 40000.0);
        // The ticker leaves: the rate stays, with nobody ticking it.
        v.take(
            Event::Exit {
                peer: PeerId::from_bytes([1; 16]),
                name: "timer-1".into(),
                reason: ryre::ExitReason::Goodbye,
            },
            t0,
        );
        let j = v.timer_json(Some(10), t0);
        assert_eq!(j["rates"].as_array().map(Vec::len), Some(1));
        assert!(j["rates"][0]["ticker"].is_null());
    }

    #[test]
    fn pipeline_nodes_join_their_status_group_and_reports_reach_the_view() {
        use ryre_pipeline::proto::{Msg, Status};
        let mut v = View::default();
        let mut headers = Map::new();
        headers.insert(ryre_pipeline::ROLE_HEADER.to_string(), "worker".to_string());
        headers.insert(ryre_pipeline::CLUSTER_HEADER.to_string(), "c".to_string());
        let enter = |id: u8| Event::Enter {
            peer: PeerId::from_bytes([id; 16]),
            name: format!("w{id}").into(),
            headers: headers.clone(),
            endpoint: "tcp://127.0.0.1:1".into(),
        };
        assert_eq!(v.take(enter(1), 0), ["pipeline/c/status"]);
        assert!(v.take(enter(2), 0).is_empty(), "the group is joined once");
        let report = Msg::Status(Status {
            role: Role::Worker,
            done: 42,
            held: 3,
            redealt: 0,
            duplicates: 0,
            batches: vec![],
        })
        .encode();
        v.take(
            Event::Shout {
                peer: PeerId::from_bytes([1; 16]),
                name: "w1".into(),
                group: "pipeline/c/status".into(),
                content: vec![report].into(),
            },
            1,
        );
        let j = v.pipeline_json(None, 2);
        let w = &j["clusters"][0]["workers"];
        assert_eq!(w[0]["name"], "w1");
        assert_eq!(
            (w[0]["done"].as_u64(), w[0]["held"].as_u64()),
            (Some(42), Some(3))
        );
        assert_eq!(w[1]["reported"], false);
        assert_eq!(j["reports"]["taken"], 1);
        assert!(v.pipeline_json(Some("other"), 2)["clusters"]
            .as_array()
            .is_some_and(Vec::is_empty));
    }

    #[test]
    fn rate_queries() {
        assert_eq!(parse_rate(None), Ok(None));
        assert_eq!(parse_rate(Some("10")), Ok(Some(10)));
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert_eq!(parse_rate(Some(bad)).expect_err(bad).status, 400);
        }
        assert_eq!(parse_cluster(Some("web")), Ok(Some("web")));
        assert_eq!(parse_cluster(Some("")).expect_err("empty").status, 400);
        assert_eq!(
            parse_cluster(Some(&"x".repeat(201)))
                .expect_err("long")
                .status,
            400
        );
    }
}
