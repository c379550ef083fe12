//! `ryre bench`: whisper throughput and round-trip latency between two nodes of this process on
//! loopback, each measured against a raw libzmq baseline of the same shape (a DEALER talking to
//! a ROUTER over `tcp://127.0.0.1`, sending a 6-byte ZRE header frame and a content frame).
//!
//! Measurements alternate (raw, ryre, raw, ryre, ...) and the medians are reported. Every wait is
//! bounded: a measurement that stalls fails with a count of what arrived.

use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ryre::{Bytes, Event, Node, PeerId};
use serde_json::json;

use crate::{median, percentile, print_line};
use crate::{BenchError, BenchResult};

/// Longest wait for any single expected message or event before a measurement fails.
const STALL: Duration = Duration::from_secs(10);

/// Round trips done before latency measurement starts, to warm connections and caches.
const WARMUP: usize = 100;

/// Settings shared by both benchmarks.
#[derive(Debug, Clone)]
pub struct WhisperOptions {
    /// Content bytes per message.
    pub size: u32,
    /// Messages (whisper) or round trips (latency) per measurement
    /// [default: 200000 for whisper, 20000 for latency].
    pub count: Option<u32>,
    /// Measurements of each kind (raw and ryre alternate); medians are reported.
    pub rounds: u32,
    /// Print one JSON object with every number.
    pub json: bool,
    /// Measure only the ryre side (for profiling; no ratio is printed).
    pub ryre_only: bool,
    /// Whisper only: the nodes keep their default queue (`send_hwm` 100,000) and `policy`
    /// instead of a queue that holds every message; reports messages lost and EXITs.
    pub unpaced: bool,
    /// With `unpaced`: `block` (the default send policy) or `drop-peer` (Zyre's).
    pub policy: String,
    /// Whisper only: CURVE on both sides (secure ryre nodes against raw libzmq CURVE sockets),
    /// plus open ryre in the same run for the cost of security.
    pub curve: bool,
    /// Whisper only: also measures ryre over IPv6 loopback (`tcp://[::1]`) in the same rounds,
    /// and prints its ratio to ryre over IPv4.
    pub ipv6: bool,
}

/// A ZRE WHISPER header frame (signature, id 2, version 2, sequence) for the raw baseline.
fn zre_header(seq: u16) -> [u8; 6] {
    let s = seq.to_be_bytes();
    [0xAA, 0xA1, 2, 2, s[0], s[1]]
}

fn zmq_err(what: &str) -> impl Fn(zmq::Error) -> BenchError + '_ {
    move |e| BenchError::Runtime(format!("raw libzmq {what}: {e}"))
}

fn join<T>(h: JoinHandle<Result<T, BenchError>>) -> Result<T, BenchError> {
    h.join()
        .unwrap_or_else(|_| Err(BenchError::Runtime("a bench thread panicked".into())))
}

// ---------------------------------------------------------------------------------------------
// ryre side

/// Two nodes on loopback without beacons, introduced to each other, both having seen ENTER.
struct Pair {
    a: Node,
    b: Node,
}

impl Pair {
    fn start(send_hwm: i32) -> Result<Pair, BenchError> {
        Pair::start_with(|b| b.send_hwm(send_hwm))
    }

    /// Two secure nodes (CURVE, each trusting the other's key) introduced with their keys.
    fn start_secure(send_hwm: i32) -> Result<Pair, BenchError> {
        let (ka, kb) = (bench_keys(1)?, bench_keys(2)?);
        let trust = ryre::security::Trust::Keys([ka.public(), kb.public()].into());
        let make = |name: &str, keys: &ryre::security::KeyPair| {
            Node::builder()
                .name(name)
                .interface("lo")
                .endpoint("tcp://127.0.0.1:*")
                .beacon(false)
                .send_hwm(send_hwm)
                .security(ryre::Security::Curve {
                    keys: keys.clone(),
                    trust: trust.clone(),
                })
                .start()
        };
        let a = make("bench-a", &ka)?;
        let b = make("bench-b", &kb)?;
        a.connect_peer_key(b.uuid(), b.endpoint(), kb.public())?;
        b.connect_peer_key(a.uuid(), a.endpoint(), ka.public())?;
        wait_enter(&a, b.uuid())?;
        wait_enter(&b, a.uuid())?;
        Ok(Pair { a, b })
    }

    fn start_with(
        settings: impl Fn(ryre::NodeBuilder) -> ryre::NodeBuilder,
    ) -> Result<Pair, BenchError> {
        let make = |name: &str| {
            settings(
                Node::builder()
                    .name(name)
                    .interface("lo")
                    .endpoint("tcp://127.0.0.1:*")
                    .beacon(false),
            )
            .start()
        };
        let a = make("bench-a")?;
        let b = make("bench-b")?;
        a.connect_peer(b.uuid(), b.endpoint())?;
        b.connect_peer(a.uuid(), a.endpoint())?;
        wait_enter(&a, b.uuid())?;
        wait_enter(&b, a.uuid())?;
        Ok(Pair { a, b })
    }

    fn stop(&self) {
        let _ = self.a.stop();
        let _ = self.b.stop();
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_enter(node: &Node, peer: PeerId) -> Result<(), BenchError> {
    let deadline = Instant::now() + STALL;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match node.recv_timeout(left)? {
            Some(Event::Enter { peer: p, .. }) if p == peer => return Ok(()),
            Some(_) => {}
            None => {
                return Err(BenchError::Runtime(format!(
                    "{} did not see its bench peer enter within {STALL:?}",
                    node.name()
                )))
            }
        }
    }
}

/// High-water mark large enough that `count` unsent whispers never overflow a link.
fn hwm_for(count: u32) -> i32 {
    i32::try_from(u64::from(count) * 2 + 1000).unwrap_or(i32::MAX)
}

/// A fixed key pair for the CURVE bench (the first Zyre-safe seed after `n`).
fn bench_keys(n: u8) -> Result<ryre::security::KeyPair, BenchError> {
    (0u8..=255)
        .find_map(|i| ryre::security::KeyPair::from_seed([n.wrapping_mul(41) ^ i; 32]).ok())
        .ok_or_else(|| BenchError::Runtime("no Zyre-safe bench key".into()))
}

/// ryre: `count` whispers of `size` bytes from a to b (over IPv6 loopback with `ipv6`); time
/// from first send to last receive.
fn ryre_throughput(size: usize, count: u32, ipv6: bool) -> Result<Duration, BenchError> {
    let hwm = hwm_for(count);
    let pair = if ipv6 {
        Pair::start_with(|b| b.send_hwm(hwm).ipv6(true).endpoint("tcp://[::1]:*"))?
    } else {
        Pair::start(hwm)?
    };
    ryre_throughput_on(pair, size, count)
}

/// The same over CURVE.
fn ryre_curve_throughput(size: usize, count: u32) -> Result<Duration, BenchError> {
    ryre_throughput_on(Pair::start_secure(hwm_for(count))?, size, count)
}

fn ryre_throughput_on(pair: Pair, size: usize, count: u32) -> Result<Duration, BenchError> {
    let receiver = pair.b.clone();
    let rx: JoinHandle<Result<Instant, BenchError>> = std::thread::spawn(move || {
        let mut got = 0u32;
        while got < count {
            match receiver.recv_timeout(STALL)? {
                Some(Event::Whisper { .. }) => got += 1,
                Some(_) => {}
                None => {
                    return Err(BenchError::Runtime(format!(
                        "ryre: only {got} of {count} whispers arrived (none for {STALL:?})"
                    )))
                }
            }
        }
        Ok(Instant::now())
    });
    let payload = Bytes::from(vec![b'x'; size]);
    let to = pair.b.uuid();
    let start = Instant::now();
    for _ in 0..count {
        pair.a.whisper(to, [payload.clone()])?;
    }
    let end = join(rx)?;
    pair.stop();
    Ok(end.duration_since(start))
}

/// ryre: round trips a → b → a, after a warm-up; the sorted round-trip times.
fn ryre_latency(size: usize, count: u32) -> Result<Vec<Duration>, BenchError> {
    let pair = Pair::start(hwm_for(count))?;
    let echo = pair.b.clone();
    // The echo thread ends when b stops (its event queue ends).
    let echoer = std::thread::spawn(move || {
        while let Ok(ev) = echo.recv() {
            if let Event::Whisper { peer, content, .. } = ev {
                if echo.whisper(peer, content).is_err() {
                    return;
                }
            }
        }
    });
    let result = ping_pong(&pair, size, count);
    pair.stop();
    let _ = echoer.join();
    result
}

fn ping_pong(pair: &Pair, size: usize, count: u32) -> Result<Vec<Duration>, BenchError> {
    let payload = Bytes::from(vec![b'x'; size]);
    let to = pair.b.uuid();
    let total = WARMUP + count as usize;
    let mut samples = Vec::with_capacity(count as usize);
    for i in 0..total {
        let t0 = Instant::now();
        pair.a.whisper(to, [payload.clone()])?;
        let deadline = t0 + STALL;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match pair.a.recv_timeout(left)? {
                Some(Event::Whisper { .. }) => break,
                Some(_) => {}
                None => {
                    return Err(BenchError::Runtime(format!(
                        "ryre: round trip {} of {total} got no answer within {STALL:?}",
                        i + 1
                    )))
                }
            }
        }
        if i >= WARMUP {
            samples.push(t0.elapsed());
        }
    }
    samples.sort();
    Ok(samples)
}

// ---------------------------------------------------------------------------------------------
// raw libzmq side

/// A ROUTER bound on loopback and a DEALER connected to it, proven connected by one message.
struct RawPair {
    _ctx: zmq::Context,
    router: zmq::Socket,
    dealer: zmq::Socket,
}

impl RawPair {
    fn start() -> Result<RawPair, BenchError> {
        RawPair::start_curve(false)
    }

    /// With `curve`, the ROUTER is a CURVE server and the DEALER its client (no ZAP handler:
    /// libzmq then admits every client key; it only matters at the handshake).
    fn start_curve(curve: bool) -> Result<RawPair, BenchError> {
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).map_err(zmq_err("socket"))?;
        let dealer = ctx.socket(zmq::DEALER).map_err(zmq_err("socket"))?;
        if curve {
            let (server, client) = (bench_keys(1)?, bench_keys(2)?);
            router
                .set_curve_server(true)
                .map_err(zmq_err("CURVE_SERVER"))?;
            router
                .set_curve_secretkey(&server.curve_secret())
                .map_err(zmq_err("CURVE_SECRETKEY"))?;
            dealer
                .set_curve_serverkey(server.public().as_bytes())
                .map_err(zmq_err("CURVE_SERVERKEY"))?;
            dealer
                .set_curve_publickey(client.public().as_bytes())
                .map_err(zmq_err("CURVE_PUBLICKEY"))?;
            dealer
                .set_curve_secretkey(&client.curve_secret())
                .map_err(zmq_err("CURVE_SECRETKEY"))?;
        }
        let stall = i32::try_from(STALL.as_millis()).unwrap_or(i32::MAX);
        for s in [&router, &dealer] {
            s.set_sndhwm(0).map_err(zmq_err("SNDHWM"))?;
            s.set_rcvhwm(0).map_err(zmq_err("RCVHWM"))?;
            s.set_linger(0).map_err(zmq_err("LINGER"))?;
            s.set_rcvtimeo(stall).map_err(zmq_err("RCVTIMEO"))?;
            s.set_sndtimeo(stall).map_err(zmq_err("SNDTIMEO"))?;
        }
        dealer
            .set_identity(&PeerId::from_bytes([7; 16]).routing_id())
            .map_err(zmq_err("identity"))?;
        router.bind("tcp://127.0.0.1:*").map_err(zmq_err("bind"))?;
        let endpoint = router
            .get_last_endpoint()
            .map_err(zmq_err("endpoint"))?
            .map_err(|_| BenchError::Runtime("raw libzmq: endpoint is not UTF-8".into()))?;
        dealer.connect(&endpoint).map_err(zmq_err("connect"))?;
        dealer.send("hi", 0).map_err(zmq_err("send"))?;
        router.recv_multipart(0).map_err(zmq_err("first message"))?;
        Ok(RawPair {
            _ctx: ctx,
            router,
            dealer,
        })
    }
}

/// Receives one multipart message into `msg` (frame by frame); the number of frames.
fn recv_frames(s: &zmq::Socket, msg: &mut zmq::Message) -> Result<usize, zmq::Error> {
    let mut frames = 0;
    loop {
        s.recv(msg, 0)?;
        frames += 1;
        if !msg.get_more() {
            return Ok(frames);
        }
    }
}

/// Raw: `count` messages DEALER → ROUTER; time from first send to last receive.
fn raw_throughput(size: usize, count: u32) -> Result<Duration, BenchError> {
    raw_throughput_on(RawPair::start()?, count, size)
}

fn raw_throughput_on(pair: RawPair, count: u32, size: usize) -> Result<Duration, BenchError> {
    let RawPair {
        _ctx,
        router,
        dealer,
    } = pair;
    let rx: JoinHandle<Result<Instant, BenchError>> = std::thread::spawn(move || {
        let mut msg = zmq::Message::new();
        for got in 0..count {
            recv_frames(&router, &mut msg).map_err(|e| {
                BenchError::Runtime(format!(
                    "raw libzmq: only {got} of {count} messages arrived: {e}"
                ))
            })?;
        }
        Ok(Instant::now())
    });
    let payload = vec![b'x'; size];
    let start = Instant::now();
    for i in 0..count {
        dealer
            .send(&zre_header(i as u16)[..], zmq::SNDMORE)
            .map_err(zmq_err("send"))?;
        dealer.send(&payload[..], 0).map_err(zmq_err("send"))?;
    }
    let end = join(rx)?;
    Ok(end.duration_since(start))
}

/// Raw: round trips DEALER → ROUTER → DEALER (the ROUTER replies with the routing id).
fn raw_latency(size: usize, count: u32) -> Result<Vec<Duration>, BenchError> {
    let RawPair {
        _ctx,
        router,
        dealer,
    } = RawPair::start()?;
    let total = WARMUP + count as usize;
    let echoer: JoinHandle<Result<(), BenchError>> = std::thread::spawn(move || {
        for _ in 0..total {
            let frames = router.recv_multipart(0).map_err(zmq_err("echo receive"))?;
            router
                .send_multipart(frames, 0)
                .map_err(zmq_err("echo send"))?;
        }
        Ok(())
    });
    let payload = vec![b'x'; size];
    let mut msg = zmq::Message::new();
    let mut samples = Vec::with_capacity(count as usize);
    for i in 0..total {
        let t0 = Instant::now();
        dealer
            .send(&zre_header(i as u16)[..], zmq::SNDMORE)
            .map_err(zmq_err("send"))?;
        dealer.send(&payload[..], 0).map_err(zmq_err("send"))?;
        recv_frames(&dealer, &mut msg).map_err(|e| {
            BenchError::Runtime(format!(
                "raw libzmq: round trip {} of {total} got no answer: {e}",
                i + 1
            ))
        })?;
        if i >= WARMUP {
            samples.push(t0.elapsed());
        }
    }
    join(echoer)?;
    samples.sort();
    Ok(samples)
}

// ---------------------------------------------------------------------------------------------
// reports

/// Rates of one side of the throughput bench.
struct Rates {
    runs: Vec<f64>,
}

impl Rates {
    fn median(&self) -> f64 {
        median(&self.runs)
    }

    fn json(&self, size: u32) -> serde_json::Value {
        let m = self.median();
        json!({
            "msgs_per_sec": m,
            "mb_per_sec": m * f64::from(size) / 1e6,
            "runs_msgs_per_sec": self.runs,
        })
    }

    fn line(&self, label: &str, size: u32) -> String {
        let m = self.median();
        let runs: Vec<String> = self.runs.iter().map(|r| format!("{r:.0}")).collect();
        format!(
            "  {label:<11} {m:>12.0} msg/s  {:>9.2} MB/s   (runs: {})",
            m * f64::from(size) / 1e6,
            runs.join(", ")
        )
    }
}

/// What one unpaced run saw: time to the last receipt (or the stall), messages received,
/// EXITs at either node, whispers refused with an error, whispers that took over a
/// millisecond (they waited for room in a full queue).
struct Unpaced {
    took: Duration,
    received: u32,
    exits: u32,
    refused: u32,
    waited: u32,
}

/// ryre with the nodes' default queue: `count` whispers as fast as `whisper` returns. The
/// receiver stops at `count` whispers, an EXIT, or a stall of a second (messages lost).
fn ryre_unpaced(size: usize, count: u32, policy: ryre::SendPolicy) -> Result<Unpaced, BenchError> {
    let pair = Pair::start_with(|b| b.send_policy(policy))?;
    let receiver = pair.b.clone();
    let rx: JoinHandle<Result<(Instant, u32, u32), BenchError>> = std::thread::spawn(move || {
        let (mut got, mut exits) = (0u32, 0u32);
        let mut last = Instant::now();
        while got < count {
            match receiver.recv_timeout(Duration::from_secs(1))? {
                Some(Event::Whisper { .. }) => {
                    got += 1;
                    last = Instant::now();
                }
                Some(Event::Exit { .. }) => exits += 1,
                Some(_) => {}
                None => break,
            }
        }
        Ok((last, got, exits))
    });
    let payload = Bytes::from(vec![b'x'; size]);
    let to = pair.b.uuid();
    let (mut refused, mut waited) = (0u32, 0u32);
    let start = Instant::now();
    let mut before = start;
    for _ in 0..count {
        if pair.a.whisper(to, [payload.clone()]).is_err() {
            refused += 1;
        }
        let after = Instant::now();
        if after - before > Duration::from_millis(1) {
            waited += 1;
        }
        before = after;
    }
    let (end, received, rx_exits) = join(rx)?;
    let mut exits = rx_exits;
    while let Some(ev) = pair.a.try_recv() {
        if matches!(ev, Event::Exit { .. }) {
            exits += 1;
        }
    }
    pair.stop();
    Ok(Unpaced {
        took: end.duration_since(start),
        received,
        exits,
        refused,
        waited,
    })
}

/// `ryre bench whisper --unpaced`: loss and EXITs with the default queue, against raw libzmq.
fn unpaced_bench(c: &WhisperOptions) -> BenchResult {
    let count = c.count.unwrap_or(200_000);
    let size = c.size as usize;
    let policy = match c.policy.as_str() {
        "drop-peer" => ryre::SendPolicy::DropPeer,
        _ => ryre::SendPolicy::default(),
    };
    let rate = |d: Duration, n: u32| f64::from(n) / d.as_secs_f64().max(1e-9);
    let mut raw = Rates { runs: Vec::new() };
    let mut ryre = Rates { runs: Vec::new() };
    let mut runs = Vec::new();
    for _ in 0..c.rounds {
        if !c.ryre_only {
            raw.runs.push(rate(raw_throughput(size, count)?, count));
        }
        let u = ryre_unpaced(size, count, policy)?;
        ryre.runs.push(rate(u.took, u.received));
        runs.push(u);
    }
    let lost: Vec<u32> = runs.iter().map(|u| count - u.received).collect();
    let exits: Vec<u32> = runs.iter().map(|u| u.exits).collect();
    let refused: Vec<u32> = runs.iter().map(|u| u.refused).collect();
    let waited: Vec<u32> = runs.iter().map(|u| u.waited).collect();
    if c.json {
        let v = json!({
            "bench": "whisper-unpaced",
            "size": c.size,
            "count": count,
            "rounds": c.rounds,
            "policy": c.policy,
            "raw": raw.json(c.size),
            "ryre": ryre.json(c.size),
            "lost": lost,
            "exits": exits,
            "refused": refused,
            "waited_over_1ms": waited,
        });
        print_line(&v.to_string());
    } else {
        print_line(&format!(
            "bench whisper --unpaced: {count} messages of {} bytes, default queue, policy {}, \
             median of {} rounds",
            c.size, c.policy, c.rounds
        ));
        print_line(&raw.line("raw libzmq", c.size));
        print_line(&ryre.line("ryre", c.size));
        print_line(&format!(
            "  lost per round: {lost:?}   EXITs: {exits:?}   whispers refused: {refused:?}   \
             whispers that took over 1 ms: {waited:?}"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `ryre bench whisper`: whisper throughput against raw libzmq; prints the report.
pub fn whisper(c: &WhisperOptions) -> BenchResult {
    if c.unpaced {
        if c.ipv6 {
            return Err(BenchError::Usage(
                "--ipv6 measures the paced whisper only, not --unpaced".into(),
            ));
        }
        return unpaced_bench(c);
    }
    if c.curve {
        return curve_bench(c);
    }
    let count = c.count.unwrap_or(200_000);
    let size = c.size as usize;
    let mut raw = Rates { runs: Vec::new() };
    let mut ryre = Rates { runs: Vec::new() };
    let mut ryre6 = Rates { runs: Vec::new() };
    let rate = |d: Duration| f64::from(count) / d.as_secs_f64().max(1e-9);
    for _ in 0..c.rounds {
        if !c.ryre_only {
            raw.runs.push(rate(raw_throughput(size, count)?));
        }
        ryre.runs.push(rate(ryre_throughput(size, count, false)?));
        if c.ipv6 {
            ryre6.runs.push(rate(ryre_throughput(size, count, true)?));
        }
    }
    let ratio = ryre.median() / raw.median().max(1e-9);
    let ratio6 = ryre6.median() / ryre.median().max(1e-9);
    if c.json {
        let mut v = json!({
            "bench": "whisper",
            "size": c.size,
            "count": count,
            "rounds": c.rounds,
            "raw": raw.json(c.size),
            "ryre": ryre.json(c.size),
            "ratio": ratio,
        });
        if c.ipv6 {
            v["ryre_ipv6"] = ryre6.json(c.size);
            v["ratio_ipv6_ipv4"] = json!(ratio6);
        }
        print_line(&v.to_string());
    } else {
        print_line(&format!(
            "bench whisper: {count} messages of {} bytes, median of {} rounds",
            c.size, c.rounds
        ));
        print_line(&raw.line("raw libzmq", c.size));
        print_line(&ryre.line("ryre", c.size));
        if c.ipv6 {
            print_line(&ryre6.line("ryre ipv6", c.size));
        }
        print_line(&format!("  ratio ryre/raw: {ratio:.3}"));
        if c.ipv6 {
            print_line(&format!("  ratio ryre ipv6/ipv4: {ratio6:.3}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `bench whisper --curve`: raw libzmq CURVE, secure ryre and open ryre, alternating per round.
fn curve_bench(c: &WhisperOptions) -> BenchResult {
    let count = c.count.unwrap_or(200_000);
    let size = c.size as usize;
    let (mut raw, mut secure, mut open) = (
        Rates { runs: Vec::new() },
        Rates { runs: Vec::new() },
        Rates { runs: Vec::new() },
    );
    let rate = |d: Duration| f64::from(count) / d.as_secs_f64().max(1e-9);
    for _ in 0..c.rounds {
        raw.runs.push(rate(raw_throughput_on(
            RawPair::start_curve(true)?,
            count,
            size,
        )?));
        secure.runs.push(rate(ryre_curve_throughput(size, count)?));
        open.runs.push(rate(ryre_throughput(size, count, false)?));
    }
    let vs_raw = secure.median() / raw.median().max(1e-9);
    let vs_open = secure.median() / open.median().max(1e-9);
    if c.json {
        let v = json!({
            "bench": "whisper-curve",
            "size": c.size,
            "count": count,
            "rounds": c.rounds,
            "raw_curve": raw.json(c.size),
            "ryre_curve": secure.json(c.size),
            "ryre_open": open.json(c.size),
            "ratio_vs_raw_curve": vs_raw,
            "ratio_vs_open": vs_open,
        });
        print_line(&v.to_string());
    } else {
        print_line(&format!(
            "bench whisper --curve: {count} messages of {} bytes, median of {} rounds",
            c.size, c.rounds
        ));
        print_line(&raw.line("raw libzmq CURVE", c.size));
        print_line(&secure.line("ryre CURVE", c.size));
        print_line(&open.line("ryre open", c.size));
        print_line(&format!(
            "  ratio ryre CURVE / raw libzmq CURVE: {vs_raw:.3}"
        ));
        print_line(&format!("  ratio ryre CURVE / ryre open: {vs_open:.3}"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Percentiles of one latency run, in microseconds.
#[derive(Debug, Clone, Copy)]
struct Lat {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Lat {
    fn of(sorted: &[Duration]) -> Lat {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        Lat {
            p50: us(percentile(sorted, 50.0)),
            p99: us(percentile(sorted, 99.0)),
            max: us(sorted.last().copied().unwrap_or_default()),
        }
    }

    fn median_of(runs: &[Lat]) -> Lat {
        let pick = |f: fn(&Lat) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        Lat {
            p50: pick(|l| l.p50),
            p99: pick(|l| l.p99),
            max: pick(|l| l.max),
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({"p50_us": self.p50, "p99_us": self.p99, "max_us": self.max})
    }

    fn line(&self, label: &str) -> String {
        format!(
            "  {label:<11} p50 {:>9.1} µs   p99 {:>9.1} µs   max {:>9.1} µs",
            self.p50, self.p99, self.max
        )
    }
}

/// Runs `ryre bench latency`: round trips against raw libzmq; prints the report.
pub fn latency(c: &WhisperOptions) -> BenchResult {
    if c.ipv6 {
        return Err(BenchError::Usage(
            "--ipv6 is an option of bench whisper, not of bench latency".into(),
        ));
    }
    let count = c.count.unwrap_or(20_000);
    let size = c.size as usize;
    let mut raw_runs = Vec::new();
    let mut ryre_runs = Vec::new();
    for _ in 0..c.rounds {
        raw_runs.push(Lat::of(&raw_latency(size, count)?));
        ryre_runs.push(Lat::of(&ryre_latency(size, count)?));
    }
    let raw = Lat::median_of(&raw_runs);
    let ryre = Lat::median_of(&ryre_runs);
    let ratio = ryre.p50 / raw.p50.max(1e-9);
    if c.json {
        let v = json!({
            "bench": "latency",
            "size": c.size,
            "count": count,
            "rounds": c.rounds,
            "raw": raw.json(),
            "ryre": ryre.json(),
            "raw_runs": raw_runs.iter().map(Lat::json).collect::<Vec<_>>(),
            "ryre_runs": ryre_runs.iter().map(Lat::json).collect::<Vec<_>>(),
            "ratio_p50": ratio,
        });
        print_line(&v.to_string());
    } else {
        print_line(&format!(
            "bench latency: {count} round trips of {} bytes, median of {} rounds",
            c.size, c.rounds
        ));
        print_line(&raw.line("raw libzmq"));
        print_line(&ryre.line("ryre"));
        print_line(&format!("  ratio p50 ryre/raw: {ratio:.3}"));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_micros(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_micros(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_micros(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_micros(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn header_shape() {
        assert_eq!(zre_header(0x0102), [0xAA, 0xA1, 2, 2, 1, 2]);
    }
}
