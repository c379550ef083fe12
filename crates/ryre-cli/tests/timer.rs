//! The timer service across real processes: `ryre timer serve` nodes killed with kill -9 while
//! a subscriber (in this process) counts ticks and wake-ups. Loopback only, OS-chosen ports,
//! every wait bounded, every child killed on drop.

mod common;

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use common::{free_udp_port, run, Proc, WAIT};
use ryre::{Node, NodeBuilder, PeerId};
use ryre_timer::{Tick, TimerEvent, Timers};

/// Evasive timeout of the timer nodes (their expired timeout is 1.5 × this).
const EVASIVE_MS: u64 = 300;

fn serve(label: &str, port: u16, extra: &[&str]) -> (Proc, PeerId) {
    let port = port.to_string();
    let evasive = EVASIVE_MS.to_string();
    let mut args = vec![
        "timer",
        "serve",
        "--json",
        "--interface",
        "lo",
        "--port",
        &port,
        "--interval",
        "100",
        "--evasive",
        &evasive,
        "--name",
        label,
    ];
    args.extend_from_slice(extra);
    let mut p = Proc::spawn(label, &args);
    let ready = p.expect_json("ready", |v| v["event"] == "ready");
    let id = ready["uuid"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("uuid in the ready line");
    (p, id)
}

fn client(port: u16, name: &str) -> Timers {
    let b: NodeBuilder = Node::builder()
        .name(name)
        .interface("lo")
        .port(port)
        .interval(Duration::from_millis(100));
    Timers::start(b).expect("client node")
}

fn next_event(timers: &Timers, deadline: Instant, what: &str) -> TimerEvent {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {what} within the deadline");
        if let Some(ev) = timers.recv_timeout(left).expect("client running") {
            return ev;
        }
    }
}

fn next_tick(timers: &Timers, deadline: Instant) -> Tick {
    loop {
        if let TimerEvent::Tick(t) = next_event(timers, deadline, "tick") {
            return t;
        }
    }
}

#[test]
fn leader_killed_ticks_continue_with_one_gap_and_no_duplicates() {
    let port = free_udp_port();
    let (mut a, a_id) = serve("timer-a", port, &["--rates", "100", "--no-wakeups"]);
    let (mut b, b_id) = serve("timer-b", port, &["--rates", "100", "--no-wakeups"]);
    let sub = client(port, "sub");
    sub.subscribe(100).expect("subscribe");
    let deadline = Instant::now() + WAIT;
    // Wait until both timers are up and the election is settled: the lower id ticks.
    let expected_leader = a_id.min(b_id);
    let mut before = Vec::new();
    while before.len() < 30 {
        let t = next_tick(&sub, deadline);
        if t.from == expected_leader {
            before.push(t);
        } else {
            before.clear(); // ticks from before both timers met
        }
    }
    let (leader, survivor, survivor_id) = if a_id == expected_leader {
        (&mut a, &mut b, b_id)
    } else {
        (&mut b, &mut a, a_id)
    };
    leader.child.kill().expect("kill -9 the ticking timer");
    let killed = Instant::now();
    let mut after: Vec<Tick> = Vec::new();
    let mut failover = None;
    while after.iter().filter(|t| t.from == survivor_id).count() < 30 {
        let t = next_tick(&sub, deadline);
        if t.from == survivor_id && failover.is_none() {
            failover = Some(killed.elapsed());
        }
        after.push(t);
    }
    let failover = failover.expect("the survivor ticked");
    let all: Vec<&Tick> = before.iter().chain(after.iter()).collect();
    for w in all.windows(2) {
        assert!(
            w[1].n > w[0].n,
            "numbers increase: {} then {}",
            w[0].n,
            w[1].n
        );
        assert_eq!(
            w[1].t0, w[0].t0,
            "the survivor continues the same time base"
        );
        assert_eq!(w[1].missed, w[1].n - w[0].n - 1);
    }
    let gaps: Vec<(u64, u64)> = all
        .iter()
        .filter(|t| t.missed > 0)
        .map(|t| (t.n, t.missed))
        .collect();
    assert!(gaps.len() <= 1, "one gap only, at the failover: {gaps:?}");
    let missed: u64 = gaps.iter().map(|g| g.1).sum();
    // The gap is no longer than the failover (10 ms a tick), give or take a tick in flight.
    assert!(
        Duration::from_millis(10 * missed) <= failover + Duration::from_millis(20),
        "gap of {missed} ticks, failover {failover:?}"
    );
    let counts = sub.tick_counts(100).expect("subscribed");
    assert_eq!(counts.stale, 0, "no duplicates");
    // The new ticker is the one the election picked, and it says so.
    let id = survivor_id.to_string();
    survivor.expect_json("LEADER for the survivor", |v| {
        v["event"] == "leader" && v["rate"] == 100 && v["leader"] == id.as_str() && v["me"] == true
    });
    eprintln!("failover: {failover:?}, {missed} ticks missed");
    assert!(
        failover < Duration::from_secs(5),
        "failover took {failover:?}"
    );
}

#[test]
fn wakeups_fire_once_each_across_a_leader_failover() {
    let port = free_udp_port();
    let extra = ["--rates", "1", "--max-late", "100"];
    let (mut a, a_id) = serve("timer-a", port, &extra);
    let (mut b, b_id) = serve("timer-b", port, &extra);
    let app = client(port, "app");
    let deadline = Instant::now() + WAIT;
    let expected = a_id.min(b_id);
    // Wait for the election's winner to announce itself (a first announcement may come from
    // the other timer, before the two met).
    while app.wake_leader() != Some(expected) {
        next_event(&app, deadline, "announcement");
    }
    let now = SystemTime::now();
    let periodic = app
        .wake_every(
            now + Duration::from_millis(50),
            Duration::from_millis(50),
            Bytes::new(),
        )
        .expect("periodic");
    let mut once = Vec::new();
    for i in 0..6u64 {
        let at = now + Duration::from_millis(100 + 150 * i);
        once.push(
            app.wake_at(at, Bytes::from(format!("once {i}")))
                .expect("one-shot"),
        );
    }
    let mut seen_once = Vec::new();
    let mut occurrences = Vec::new();
    let mut killed = false;
    let mut leaders = vec![expected];
    while seen_once.len() < once.len() || occurrences.len() < 40 {
        match next_event(&app, deadline, "wake-up") {
            TimerEvent::Wake(w) if w.id == periodic => {
                occurrences.push(w.occurrence);
                // Kill the leader once it has served a few; the rest come from its successor.
                if occurrences.len() == 4 && !killed {
                    let victim = if a_id == expected { &mut a } else { &mut b };
                    victim.child.kill().expect("kill -9 the wake-up leader");
                    killed = true;
                }
            }
            TimerEvent::Wake(w) => {
                assert!(once.contains(&w.id), "unknown wake-up {w:?}");
                assert_eq!(w.occurrence, 0);
                seen_once.push(w.id);
            }
            TimerEvent::WakeLeader(l) => leaders.push(l),
            TimerEvent::Rejected { id, reason } => panic!("request {id} refused: {reason}"),
            _ => {}
        }
    }
    seen_once.sort_unstable();
    assert_eq!(seen_once, once, "every one-shot exactly once");
    assert_eq!(
        occurrences,
        (0..occurrences.len() as u64).collect::<Vec<_>>(),
        "periodic occurrences once each, in order, none lost"
    );
    let survivor = if a_id == expected { b_id } else { a_id };
    assert_eq!(
        leaders.last(),
        Some(&survivor),
        "the survivor took over: {leaders:?}"
    );
    assert_eq!(app.counts().duplicate_wakes, 0);
}

#[test]
fn bad_timer_arguments_exit_2() {
    for args in [
        &["timer", "serve", "--rates", "0,10"][..],
        &["timer", "serve", "--rates", "10,1001"],
        &["timer", "watch", "--rate", "fast"],
        &["timer", "at", "tomorrow"],
        &["timer", "at", "+2s", "--every", "0"],
        &["timer", "at", "+2s", "--count", "0"],
    ] {
        let (status, _, stderr) = run(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}

#[test]
fn bench_timer_and_failover_report_against_their_baselines() {
    let (status, out, err) = run(&[
        "bench", "timer", "--rates", "100", "--secs", "0.5", "--json",
    ]);
    assert!(status.success(), "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(v["rate"], 100);
    assert!(v["ticks"].as_u64().is_some_and(|n| n >= 40), "{v}");
    assert!(
        v["tokio_interval"]["ticks"]
            .as_u64()
            .is_some_and(|n| n >= 40),
        "{v}"
    );
    assert!(v["p99_ratio"].as_f64().is_some_and(|r| r > 0.0), "{v}");
    let (status, out, err) = run(&[
        "bench",
        "timer-failover",
        "--rounds",
        "1",
        "--evasive",
        "200",
        "--json",
    ]);
    assert!(status.success(), "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(v["duplicates"], 0, "{v}");
    let gap = v["gaps_ms"][0].as_f64().expect("one gap");
    // On one machine the agent reports the killed leader at once: far below the 300 ms
    // expired timeout.
    assert!(gap < 300.0, "{v}");
    // As on separate hosts (plain beacons), the survivor must first expire the dead leader.
    let (status, out, err) = run(&[
        "bench",
        "timer-failover",
        "--rounds",
        "1",
        "--evasive",
        "200",
        "--discovery",
        "beacon",
        "--json",
    ]);
    assert!(status.success(), "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(v["duplicates"], 0, "{v}");
    let gap = v["gaps_ms"][0].as_f64().expect("one gap");
    assert!(gap >= 250.0, "{v}");
}
