//! The timer service in certified mode, over real CURVE links: a timer node whose certificate
//! lacks the `timer` service or a group right does not start; an entitled one's signed ticks
//! and wake-ups arrive; ticks that are unsigned, forged, tampered with or sent by an admitted
//! peer without the `timer` right are dropped and counted. Every wait is bounded.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{next_tick, WAIT};
use ryre::certs::{CertFiles, Rights, Services};
use ryre::{Event, Node};
use ryre_testkit::pki::{introduce, link, Pki};
use ryre_timer::proto::{TimerMsg, DOMAIN, SIGNATURE_LEN};
use ryre_timer::{tick_group, TimerConfig, TimerError, TimerEvent, TimerServer, Timers};

/// What a timer node needs: the tick, election, wake-up and clients groups.
const SERVER: &[&str] = &["tick/*=join,shout", "timer/*=all"];
/// What a subscriber needs: receive ticks and announcements, send requests to the leader.
const CLIENT: &[&str] = &["tick/*=join", "timer/clients=join", "timer/wake=whisper"];

fn config() -> TimerConfig {
    TimerConfig {
        rates: vec![10],
        ..TimerConfig::default()
    }
}

fn server(pki: &Pki, files: &CertFiles) -> TimerServer {
    TimerServer::start(pki.builder(files), config()).expect("an entitled timer node starts")
}

#[test]
fn a_timer_node_without_the_timer_service_or_a_group_right_does_not_start() {
    let pki = Pki::new();
    let no_service = pki.issue("plain", SERVER, Services::LOG);
    match TimerServer::start(pki.builder(&no_service), config()) {
        Err(e @ TimerError::NoTimerService { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("plain") && text.contains("timer service"),
                "{text}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a timer node without the timer service started"),
    }
    // The service, but ticks may not be shouted.
    let no_shout = pki.issue("mute", &["tick/*=join", "timer/*=all"], Services::TIMER);
    match TimerServer::start(pki.builder(&no_shout), config()) {
        Err(TimerError::NotEntitled {
            name, group, right, ..
        }) => {
            assert_eq!(
                (name.as_str(), group.as_str(), right),
                ("mute", "tick/10hz", Rights::JOIN | Rights::SHOUT)
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a timer node that may not shout its ticks started"),
    }
    // Wake-ups need the clients group.
    let no_clients = pki.issue(
        "quiet",
        &["tick/*=join,shout", "timer/10hz=join"],
        Services::TIMER,
    );
    let e = TimerServer::start(pki.builder(&no_clients), config()).err();
    assert!(
        matches!(&e, Some(TimerError::NotEntitled { group, .. }) if group == "timer/wake"),
        "{e:?}"
    );
    // Without wake-ups it may serve ticks.
    let ticks_only = TimerConfig {
        wakeups: false,
        ..config()
    };
    let s = TimerServer::start(pki.builder(&no_clients), ticks_only).expect("ticks only");
    s.stop().expect("stop");
}

#[test]
fn an_entitled_timer_nodes_signed_ticks_and_wake_ups_arrive() {
    let pki = Pki::new();
    let fs = pki.issue("timer", SERVER, Services::TIMER);
    let fc = pki.issue("app", CLIENT, Services::NONE);
    let srv = server(&pki, &fs);
    let node = pki.node(&fc);
    introduce(srv.node(), &fs, &node, &fc);
    let timers = Timers::new(node).expect("timers");
    timers.subscribe(10).expect("subscribe");
    let id = timers
        .wake_after(Duration::from_millis(200), Bytes::from_static(b"coffee"))
        .expect("request");
    let mut ticks = Vec::new();
    let mut woke = None;
    let deadline = Instant::now() + WAIT;
    while ticks.len() < 5 || woke.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{} ticks, wake-up {woke:?}: {:?}",
            ticks.len(),
            timers.counts()
        );
        match timers.recv_timeout(left).expect("running") {
            Some(TimerEvent::Tick(t)) => ticks.push(t),
            Some(TimerEvent::Wake(w)) => woke = Some(w),
            _ => {}
        }
    }
    let w = woke.expect("woken");
    assert_eq!(
        (w.id, &w.payload[..], w.from),
        (id, &b"coffee"[..], srv.node().uuid())
    );
    assert!(ticks.iter().all(|t| t.from == srv.node().uuid()));
    for p in ticks.windows(2) {
        assert!(p[1].n > p[0].n);
    }
    assert_eq!(timers.counts().refused(), 0, "{:?}", timers.counts());
    assert!(srv.stats().ticks_sent >= 5);
}

/// Waits until `rogue` has seen `member` join `group` (so its shouts there reach it).
fn sees_join(rogue: &Node, member: &Node, group: &str) {
    let id = member.uuid();
    ryre_testkit::expect(
        rogue,
        &format!("JOIN {} {group}", member.name()),
        |e| matches!(e, Event::Join { peer, group: g, .. } if *peer == id && g == group),
    );
}

#[test]
fn unsigned_forged_tampered_and_unentitled_ticks_are_dropped_and_counted() {
    let pki = Pki::new();
    let fs = pki.issue("timer", SERVER, Services::TIMER);
    let fc = pki.issue("app", CLIENT, Services::NONE);
    // Eve may serve time; mallory may shout in tick groups but has no `timer` service.
    let fe = pki.issue("eve", &["tick/*=join,shout"], Services::TIMER);
    let fm = pki.issue("mallory", &["tick/*=join,shout"], Services::LOG);
    let srv = server(&pki, &fs);
    let node = pki.node(&fc);
    let eve = pki.node(&fe);
    let mallory = pki.node(&fm);
    link(&node, &fc, &eve, &fe);
    link(&node, &fc, &mallory, &fm);
    introduce(srv.node(), &fs, &node, &fc);
    let timers = Timers::new(node).expect("timers");
    timers.subscribe(10).expect("subscribe");
    let good = next_tick(&timers);
    sees_join(&eve, timers.node(), &tick_group(10));
    sees_join(&mallory, timers.node(), &tick_group(10));
    let tick = |n: u64| TimerMsg::Tick {
        rate: 10,
        n,
        t0: good.t0,
        scheduled: good.t0 + n * 100_000_000,
    };
    let signed_by = |msg: &TimerMsg, who: &Node| {
        msg.encode_signed(|b| who.sign(DOMAIN, b))
            .expect("encodable")
            .expect("a certified node signs")
    };
    let n = good.n + 1;
    let unsigned = tick(n).encode().expect("encodable");
    let forged = signed_by(&tick(n), &mallory);
    let mut tampered = signed_by(&tick(n), &eve).to_vec();
    tampered[12] ^= 1; // in the tick number: eve's signature no longer covers it
    let mut bad_sig = signed_by(&tick(n), &eve).to_vec();
    let at = bad_sig.len() - SIGNATURE_LEN / 2;
    bad_sig[at] ^= 0x40;
    for f in [
        unsigned,
        forged,
        Bytes::from(tampered),
        Bytes::from(bad_sig),
    ] {
        eve.shout(&tick_group(10), [f]).expect("eve shouts");
    }
    mallory
        .shout(&tick_group(10), [signed_by(&tick(n), &mallory)])
        .expect("mallory shouts");
    let deadline = Instant::now() + WAIT;
    let mut ticks = Vec::new();
    while timers.counts().refused() < 5 {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "counted {:?}", timers.counts());
        if let Some(TimerEvent::Tick(t)) = timers.recv_timeout(left).expect("running") {
            ticks.push(t);
        }
    }
    let c = timers.counts();
    assert_eq!(
        (c.unsigned, c.forged, c.unentitled),
        (1, 3, 1),
        "counted {c:?}"
    );
    assert!(
        ticks.iter().all(|t| t.from == srv.node().uuid()),
        "a rogue tick was taken: {ticks:?}"
    );
    // And the genuine ticks go on.
    let later = next_tick(&timers);
    assert_eq!(later.from, srv.node().uuid());
}
