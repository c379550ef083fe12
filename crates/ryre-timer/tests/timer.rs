//! The timer service in one process, over loopback: numbering seen by early and late
//! subscribers, wake-ups, and bad input from a rogue node. Every wait is bounded.
//! (Failover with kill -9 runs against real processes in `ryre-cli/tests/timer.rs`.)

mod common;

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use common::{expect, next_tick, WAIT};
use ryre::{Event, Node, NodeBuilder};
use ryre_testkit::free_udp_port;
use ryre_timer::proto::TimerMsg;
use ryre_timer::{tick_group, TimerConfig, TimerEvent, TimerServer, Timers};

fn builder(port: u16, name: &str) -> NodeBuilder {
    Node::builder()
        .name(name)
        .interface("lo")
        .port(port)
        .interval(Duration::from_millis(100))
        .evasive_timeout(Duration::from_millis(500))
        .expired_timeout(Duration::from_millis(750))
}

fn server(port: u16, name: &str, rates: &[u16]) -> TimerServer {
    let config = TimerConfig {
        rates: rates.to_vec(),
        ..TimerConfig::default()
    };
    TimerServer::start(builder(port, name), config).expect("start a timer server")
}

#[test]
fn late_subscriber_sees_the_same_numbering() {
    let port = free_udp_port();
    let _server = server(port, "timer", &[100]);
    let early = Timers::start(builder(port, "early")).expect("early");
    early.subscribe(100).expect("subscribe");
    let first_early = next_tick(&early);
    let mut early_ticks = vec![first_early];
    for _ in 0..20 {
        early_ticks.push(next_tick(&early));
    }
    let late = Timers::start(builder(port, "late")).expect("late");
    late.subscribe(100).expect("subscribe");
    let first_late = next_tick(&late);
    let mut late_ticks = vec![first_late];
    for _ in 0..20 {
        late_ticks.push(next_tick(&late));
    }
    // Drain what the early one got meanwhile, up to the late one's newest tick.
    let newest = late_ticks.last().map(|t| t.n).unwrap_or(0);
    while early_ticks.last().map(|t| t.n).unwrap_or(0) < newest {
        early_ticks.push(next_tick(&early));
    }
    assert!(
        first_late.n > first_early.n + 20,
        "the late one starts later in the numbering"
    );
    assert_eq!(first_late.t0, first_early.t0, "one time base");
    assert_eq!(first_late.from, first_early.from, "one ticker");
    let mut common = 0;
    for t in &late_ticks {
        if let Some(e) = early_ticks.iter().find(|e| e.n == t.n) {
            assert_eq!((e.t0, e.scheduled), (t.t0, t.scheduled), "tick {}", t.n);
            common += 1;
        }
    }
    assert_eq!(
        common,
        late_ticks.len(),
        "every tick of the late one reached the early one"
    );
    for w in early_ticks.windows(2) {
        assert_eq!(w[1].n, w[0].n + 1, "contiguous numbers");
        assert_eq!(
            w[1].scheduled - w[0].scheduled,
            10_000_000,
            "10 ms apart, no drift"
        );
    }
    let c = early.tick_counts(100).expect("subscribed");
    assert_eq!((c.missed, c.stale, c.malformed), (0, 0, 0));
}

#[test]
fn wakeups_one_shot_periodic_cancel_and_refusals() {
    let port = free_udp_port();
    let _server = server(port, "timer", &[10]);
    let timers = Timers::start(builder(port, "app")).expect("client");
    // Asked before any leader is known: kept and sent once one announces itself.
    let once = timers
        .wake_after(Duration::from_millis(300), Bytes::from_static(b"once"))
        .expect("request");
    let leader = expect(&timers, "wake leader", |ev| match ev {
        TimerEvent::WakeLeader(l) => Some(l),
        _ => None,
    });
    assert_eq!(Some(leader), timers.wake_leader());
    let every = timers
        .wake_every(
            SystemTime::now() + Duration::from_millis(100),
            Duration::from_millis(50),
            Bytes::from_static(b"tick-tock"),
        )
        .expect("request");
    let past = timers
        .wake_at(
            SystemTime::now() - Duration::from_secs(7200),
            Bytes::from_static(b"too old"),
        )
        .expect("sent");
    let mut periodic = Vec::new();
    let mut once_seen = 0;
    let mut refused = None;
    while periodic.len() < 10 || once_seen == 0 || refused.is_none() {
        match expect(&timers, "wake-up", Some) {
            TimerEvent::Wake(w) if w.id == every => periodic.push(w.occurrence),
            TimerEvent::Wake(w) if w.id == once => {
                assert_eq!(&w.payload[..], b"once");
                assert!(w.received >= w.scheduled, "never early on one host");
                once_seen += 1;
            }
            TimerEvent::Rejected { id, reason } => {
                assert_eq!(id, past);
                assert!(reason.contains("in the past"), "{reason}");
                refused = Some(reason);
            }
            _ => {}
        }
    }
    assert_eq!(periodic, (0..periodic.len() as u64).collect::<Vec<_>>());
    timers.cancel(every).expect("cancel");
    assert_eq!(
        timers.pending(),
        0,
        "one-shot done, periodic cancelled, refused forgotten"
    );
    // After the cancel, at most the wake-ups already in flight arrive; then nothing.
    let quiet_from = Instant::now() + Duration::from_millis(200);
    let mut late = 0;
    while Instant::now() < quiet_from + Duration::from_millis(300) {
        if let Some(TimerEvent::Wake(w)) = timers
            .recv_timeout(Duration::from_millis(50))
            .expect("running")
        {
            assert!(
                Instant::now() < quiet_from,
                "wake-up {w:?} after the cancel"
            );
            late += 1;
        }
    }
    assert!(late <= 4);
    assert_eq!(timers.counts().wakes, (periodic.len() + 1 + late) as u64);
}

#[test]
fn forged_and_malformed_input_is_counted_never_fatal() {
    let port = free_udp_port();
    let server = server(port, "timer", &[100]);
    let timers = Timers::start(builder(port, "app")).expect("client");
    timers.subscribe(100).expect("subscribe");
    let good = next_tick(&timers);
    let rogue = builder(port, "rogue").start().expect("rogue");
    rogue.join(&tick_group(100)).expect("join");
    let sid = server.node().uuid();
    let app = timers.node().uuid();
    for id in [sid, app] {
        let r = rogue.uuid();
        let deadline = Instant::now() + WAIT;
        while !rogue.peers().contains(&id) {
            assert!(Instant::now() < deadline, "rogue never met {id}");
            let _ = rogue.recv_timeout(Duration::from_millis(20));
        }
        let _ = r;
    }
    // Wait until the subscriber knows the rogue is in the tick group.
    let deadline = Instant::now() + WAIT;
    while !timers
        .node()
        .peers_by_group(&tick_group(100))
        .contains(&rogue.uuid())
    {
        assert!(Instant::now() < deadline, "rogue never joined");
        let _ = timers.recv_timeout(Duration::from_millis(20));
    }
    let past = TimerMsg::Tick {
        rate: 100,
        n: good.n,
        t0: good.t0,
        scheduled: good.scheduled,
    };
    let inconsistent = TimerMsg::Tick {
        rate: 100,
        n: good.n + 1_000_000,
        t0: good.t0,
        scheduled: good.scheduled,
    };
    let future = TimerMsg::Tick {
        rate: 100,
        n: good.n + 1_000_000,
        t0: good.t0,
        scheduled: good.scheduled + 1_000_000 * 10_000_000,
    };
    let frames = [
        past.encode().expect("encode"),
        future.encode().expect("encode"),
        inconsistent.encode().expect("encode"),
        Bytes::from_static(b"RTM\x01\x01garbage"),
        Bytes::from_static(b"not a timer message"),
    ];
    for f in &frames {
        rogue.shout(&tick_group(100), [f.clone()]).expect("shout");
    }
    // Requests the leader must refuse, and garbage it must survive.
    let now = ryre_timer::unix_now();
    let bad_requests = [
        (1, now + 400 * 24 * 3600 * 1_000_000_000, 0, "ahead"),
        (2, now - 2 * 3600 * 1_000_000_000, 0, "in the past"),
        (3, now + 1_000_000_000, 10, "under the minimum"),
    ];
    for (id, at, every, _) in bad_requests {
        let msg = TimerMsg::Request {
            id,
            first: 0,
            at,
            every,
            payload: Bytes::new(),
        };
        rogue
            .whisper(sid, [msg.encode().expect("encode")])
            .expect("whisper");
    }
    rogue
        .whisper(sid, [Bytes::from_static(b"RTM\x01\x02\x00")])
        .expect("whisper");
    rogue
        .whisper(sid, [Bytes::from_static(b"")])
        .expect("whisper");
    let mut reasons = Vec::new();
    let deadline = Instant::now() + WAIT;
    while reasons.len() < bad_requests.len() {
        assert!(Instant::now() < deadline, "refusals: {reasons:?}");
        if let Some(Event::Whisper { content, .. }) = rogue
            .recv_timeout(Duration::from_millis(50))
            .expect("rogue")
        {
            if let Ok(TimerMsg::Reject { id, reason }) = TimerMsg::decode(&content[0]) {
                reasons.push((id, reason));
            }
        }
    }
    reasons.sort();
    for ((id, reason), (want_id, _, _, word)) in reasons.iter().zip(bad_requests) {
        assert_eq!(*id, want_id);
        assert!(reason.contains(word), "{reason:?} should say {word:?}");
    }
    // The subscriber keeps getting good ticks only; the forgeries were counted.
    let deadline = Instant::now() + WAIT;
    loop {
        let t = next_tick(&timers);
        assert!(
            t.n > good.n && t.n < good.n + 100_000,
            "forged tick delivered: {t:?}"
        );
        let c = timers.tick_counts(100).expect("subscribed");
        if c.stale >= 1 && c.malformed >= 4 {
            assert_eq!((c.stale, c.malformed), (1, 4));
            break;
        }
        assert!(Instant::now() < deadline, "counts {c:?}");
    }
    let s = server.stats();
    assert_eq!(s.requests_rejected, 3);
    assert!(s.bad_messages >= 2, "{s:?}");
    assert!(s.ticks_sent > 0);
}

#[test]
fn ticks_arrive_on_the_async_stream() {
    use futures_util::StreamExt;
    let port = free_udp_port();
    let _server = server(port, "timer", &[100]);
    let timers = Timers::start(builder(port, "async")).expect("client");
    timers.subscribe(100).expect("subscribe");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let ticks = rt.block_on(async {
        let mut stream = timers.stream();
        let mut got = Vec::new();
        let collect = async {
            while let Some(ev) = stream.next().await {
                if let TimerEvent::Tick(t) = ev {
                    got.push(t.n);
                    if got.len() == 10 {
                        break;
                    }
                }
            }
        };
        tokio::time::timeout(WAIT, collect)
            .await
            .expect("ten ticks in time");
        got
    });
    assert_eq!(ticks.len(), 10);
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{ticks:?}");
}
