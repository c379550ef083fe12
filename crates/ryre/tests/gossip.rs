//! Gossip discovery (ZGP) over loopback: a ryre hub driven by a test client that speaks the wire
//! byte by byte, a ryre client driven by a byte-level test hub, and nodes that meet through a
//! ryre hub which dies and comes back. The test peers are raw libzmq sockets; the bytes they
//! send and check are written out here from CZMQ's zgossip_msg, not produced by ryre's codec.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ryre::{Event, Node, NodeBuilder};

const HELLO: [u8; 4] = [0xAA, 0xA0, 1, 1];
const PING: [u8; 4] = [0xAA, 0xA0, 3, 1];
const PONG: [u8; 4] = [0xAA, 0xA0, 4, 1];
const INVALID: [u8; 4] = [0xAA, 0xA0, 5, 1];

/// PUBLISH as CZMQ writes it.
fn publish(key: &str, value: &str, ttl: u32) -> Vec<u8> {
    let mut m = vec![0xAA, 0xA0, 2, 1, key.len() as u8];
    m.extend_from_slice(key.as_bytes());
    m.extend_from_slice(&(value.len() as u32).to_be_bytes());
    m.extend_from_slice(value.as_bytes());
    m.extend_from_slice(&ttl.to_be_bytes());
    m
}

/// A PUBLISH taken apart by hand: (key, value, ttl).
fn parse_publish(m: &[u8]) -> Option<(String, String, u32)> {
    if m.len() < 5 || m[..4] != [0xAA, 0xA0, 2, 1] {
        return None;
    }
    let k = usize::from(m[4]);
    let key = std::str::from_utf8(m.get(5..5 + k)?).ok()?.to_string();
    let at = 5 + k;
    let v = u32::from_be_bytes(m.get(at..at + 4)?.try_into().ok()?) as usize;
    let value = std::str::from_utf8(m.get(at + 4..at + 4 + v)?)
        .ok()?
        .to_string();
    let t = at + 4 + v;
    let ttl = u32::from_be_bytes(m.get(t..t + 4)?.try_into().ok()?);
    (m.len() == t + 4).then_some((key, value, ttl))
}

fn gossip_node(name: &str) -> NodeBuilder {
    node(name)
        .endpoint(local_endpoint())
        .evasive_timeout(Duration::from_millis(500))
        .expired_timeout(Duration::from_secs(2))
}

/// Receives one message (all frames) within `WAIT`, or panics saying what was awaited.
fn recv(s: &zmq::Socket, what: &str) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        if s.poll(zmq::POLLIN, left.as_millis() as i64).expect("poll") > 0 {
            return s.recv_multipart(0).expect("recv");
        }
    }
}

/// Reads until `pred` holds for the last frame (other messages, e.g. PONG, are skipped).
fn recv_until(s: &zmq::Socket, what: &str, mut pred: impl FnMut(&[u8]) -> bool) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}; saw {seen:02X?}"
        );
        if s.poll(zmq::POLLIN, left.as_millis() as i64).expect("poll") > 0 {
            let m = s.recv_multipart(0).expect("recv");
            if m.last().is_some_and(|f| pred(f)) {
                return m;
            }
            seen.push(m);
        }
    }
}

fn dealer(ctx: &zmq::Context, endpoint: &str) -> zmq::Socket {
    let s = zmq_socket(ctx, zmq::DEALER);
    s.connect(endpoint).expect("connect");
    s
}

#[test]
fn a_ryre_hub_speaks_zgp_byte_by_byte() {
    let hub = gossip_node("hub")
        .gossip_bind(local_endpoint())
        .start()
        .expect("hub");
    let ep = hub.gossip_endpoint().expect("bound").to_string();
    assert!(
        ep.starts_with(&local_prefix()) && !ep.ends_with(":*"),
        "{ep}"
    );
    let ctx = zmq::Context::new();
    let c1 = dealer(&ctx, &ep);
    // HELLO: the hub answers with every tuple it holds, its own first of all (Zyre's shape:
    // the UUID as 32 upper-case hex digits, the inbox endpoint). It holds its own forever: ttl 0.
    c1.send(&HELLO[..], 0).unwrap();
    let m = recv(&c1, "the hub's own tuple");
    assert_eq!(m.len(), 1, "one frame per ZGP message");
    let (key, value, ttl) = parse_publish(&m[0]).expect("a PUBLISH");
    assert_eq!(key, hub.uuid().to_string());
    assert_eq!(key.len(), 32);
    assert!(key
        .chars()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    assert_eq!(value, hub.endpoint());
    assert_eq!(ttl, 0);
    // PING -> PONG, exactly.
    c1.send(&PING[..], 0).unwrap();
    assert_eq!(recv(&c1, "PONG"), vec![PONG.to_vec()]);
    // A PUBLISH is stored and forwarded to every client in session, the sender included.
    let fake = "00112233445566778899AABBCCDDEEFF";
    c1.send(publish(fake, "tcp://127.0.0.1:9", 0), 0).unwrap();
    let m = recv(&c1, "the forwarded tuple");
    assert_eq!(m, vec![publish(fake, "tcp://127.0.0.1:9", 0)]);
    // A second client gets both tuples on HELLO.
    let c2 = dealer(&ctx, &ep);
    c2.send(&HELLO[..], 0).unwrap();
    let mut keys: Vec<String> = (0..2)
        .map(|_| parse_publish(&recv(&c2, "a tuple")[0]).expect("PUBLISH").0)
        .collect();
    keys.sort();
    let mut want = vec![fake.to_string(), hub.uuid().to_string()];
    want.sort();
    assert_eq!(keys, want);
    // HELLO again in session: INVALID, and the session is over (a PING then is INVALID too).
    c2.send(&HELLO[..], 0).unwrap();
    assert_eq!(recv(&c2, "INVALID"), vec![INVALID.to_vec()]);
    c2.send(&PING[..], 0).unwrap();
    assert_eq!(recv(&c2, "INVALID"), vec![INVALID.to_vec()]);
    // PUBLISH before HELLO, garbage, another version: INVALID.
    let c3 = dealer(&ctx, &ep);
    for bad in [
        publish(fake, "tcp://127.0.0.1:10", 0),
        b"garbage".to_vec(),
        vec![0xAA, 0xA0, 1, 2],
        vec![0xAA, 0xA0, 2, 1, 40, 1],
    ] {
        c3.send(&bad[..], 0).unwrap();
        assert_eq!(recv(&c3, "INVALID"), vec![INVALID.to_vec()], "{bad:02X?}");
    }
    // A frame over 64 KiB: libzmq drops that connection before the hub sees it.
    let c5 = dealer(&ctx, &ep);
    c5.send(&HELLO[..], 0).unwrap();
    recv_until(&c5, "the hub's tuples", |f| parse_publish(f).is_some());
    let big = "FFEEDDCCBBAA99887766554433221100";
    c5.send(publish(big, &"x".repeat(100_000), 0), 0).unwrap();
    // Refused tuples were not stored: a fresh session still sees two.
    let c4 = dealer(&ctx, &ep);
    c4.send(&HELLO[..], 0).unwrap();
    c4.send(&PING[..], 0).unwrap();
    let mut n = 0;
    recv_until(&c4, "PONG after the tuples", |f| {
        n += usize::from(f != PONG);
        f == PONG
    });
    assert_eq!(n, 2);
    hub.stop().unwrap();
}

#[test]
fn a_ryre_client_speaks_zgp_byte_by_byte_and_meets_who_the_hub_names() {
    let ctx = zmq::Context::new();
    let router = zmq_socket(&ctx, zmq::ROUTER);
    router.bind(&local_endpoint()).unwrap();
    let ep = router.get_last_endpoint().unwrap().unwrap();
    // A long ttl: re-published every 20 s, so only the re-send on INVALID can bring the tuple.
    let a = gossip_node("a")
        .gossip_ttl(Duration::from_secs(60))
        .gossip_connect(&ep)
        .start()
        .expect("a");
    // HELLO, then the node's tuple with its ttl.
    let m = recv(&router, "HELLO");
    let rid = m[0].clone();
    assert_eq!(m[1], HELLO);
    let m = recv(&router, "PUBLISH");
    assert_eq!(
        parse_publish(&m[1]),
        Some((a.uuid().to_string(), a.endpoint().to_string(), 60_000))
    );
    // It keeps the session alive: a PING within CZMQ's 1 s client timeout.
    let t = Instant::now();
    let m = recv_until(&router, "PING", |f| f == PING);
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(m[0], rid);
    // INVALID (a hub that restarted): HELLO again *and* the tuple.
    router.send_multipart([&rid[..], &INVALID[..]], 0).unwrap();
    // (Right after the HELLO, not at the next refresh: nothing comes in between.)
    recv_until(&router, "HELLO again", |f| f == HELLO);
    let m = recv(&router, "the tuple right after HELLO");
    assert_eq!(
        parse_publish(&m[1]).map(|t| t.0),
        Some(a.uuid().to_string()),
        "{m:02X?}"
    );
    // The hub names another node (one with no discovery at all): they meet.
    let b = gossip_node("b")
        .discovery(ryre::Discovery::Off)
        .start()
        .expect("b");
    router
        .send_multipart(
            [&rid[..], &publish(&b.uuid().to_string(), b.endpoint(), 0)],
            0,
        )
        .unwrap();
    expect(
        &a,
        "ENTER b",
        |e| matches!(e, Event::Enter { peer, .. } if *peer == b.uuid()),
    );
    expect(
        &b,
        "ENTER a",
        |e| matches!(e, Event::Enter { peer, .. } if *peer == a.uuid()),
    );
    // Tuples that are not plain ZRE endpoints are ignored (secure mode, other keys).
    router
        .send_multipart([&rid[..], &publish("config/x", "1", 0)], 0)
        .unwrap();
    // A clean stop withdraws the tuple: the same tuple with ttl 1 ms.
    a.stop().unwrap();
    let m = recv_until(&router, "the withdrawal", |f| {
        parse_publish(f).is_some_and(|(_, _, ttl)| ttl == 1)
    });
    assert_eq!(parse_publish(&m[1]).unwrap().0, a.uuid().to_string());
    b.stop().unwrap();
}

#[test]
fn nodes_meet_through_a_hub_that_dies_and_comes_back() {
    // A long ttl: tuples are re-published every 20 s, longer than any wait here, so only the
    // re-publish on INVALID can bring a and b back to the new hub.
    let gossip_node = |name: &str| gossip_node(name).gossip_ttl(Duration::from_secs(60));
    let hub = gossip_node("hub")
        .gossip_bind(local_endpoint())
        .start()
        .expect("hub");
    let ep = hub.gossip_endpoint().unwrap().to_string();
    let a = gossip_node("a").gossip_connect(&ep).start().unwrap();
    let b = gossip_node("b").gossip_connect(&ep).start().unwrap();
    assert_eq!(
        a.discovery(),
        ryre::Discovery::Off,
        "gossip turns beacons off"
    );
    a.join("g").unwrap();
    b.join("g").unwrap();
    meet_in(&a, &b, "g");
    a.shout("g", [&b"hi"[..]]).unwrap();
    expect(
        &b,
        "SHOUT",
        |e| matches!(e, Event::Shout { content, .. } if &content[0][..] == b"hi"),
    );
    b.whisper_str(a.uuid(), "yo").unwrap();
    expect(
        &a,
        "WHISPER",
        |e| matches!(e, Event::Whisper { content, .. } if &content[0][..] == b"yo"),
    );
    // The hub dies (and is not a peer anyone needs): a and b still talk.
    hub.stop().unwrap();
    drop(hub);
    b.whisper_str(a.uuid(), "still").unwrap();
    expect(
        &a,
        "WHISPER without the hub",
        |e| matches!(e, Event::Whisper { content, .. } if &content[0][..] == b"still"),
    );
    // A new hub at the same endpoint knows nobody; a and b ping it, get INVALID and publish
    // again, so a newcomer meets both.
    // (libzmq closes the old listener on its I/O thread, a moment after the stop: retry.)
    let deadline = Instant::now() + WAIT;
    let hub2 = loop {
        match gossip_node("hub2").gossip_bind(&ep).start() {
            Ok(h) => break h,
            Err(e) if Instant::now() < deadline => {
                eprintln!("hub again: {e}; retrying");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("hub again: {e}"),
        }
    };
    // A byte-level newcomer learns both from the new hub (at HELLO or forwarded after).
    let ctx = zmq::Context::new();
    let probe = dealer(&ctx, hub2.gossip_endpoint().unwrap());
    probe.send(&HELLO[..], 0).unwrap();
    let mut want = vec![a.uuid().to_string(), b.uuid().to_string()];
    recv_until(&probe, "a's and b's tuples at the new hub", |f| {
        if let Some((key, _, _)) = parse_publish(f) {
            want.retain(|k| *k != key);
        }
        want.is_empty()
    });
    let c = gossip_node("c").gossip_connect(&ep).start().unwrap();
    // (Either order: `expect` drops what it skips, so one wait takes both.)
    let mut left = vec![a.uuid(), b.uuid()];
    expect(&c, "ENTER a and b via the new hub", |e| {
        if let Event::Enter { peer, .. } = e {
            left.retain(|x| x != peer);
        }
        left.is_empty()
    });
    // c stops (a killed process is the namespace test's case): the others see EXIT.
    c.stop().unwrap();
    for x in [&a, &b] {
        expect(
            x,
            "EXIT c",
            |e| matches!(e, Event::Exit { peer, .. } if *peer == c.uuid()),
        );
    }
    hub2.stop().unwrap();
}

#[test]
fn gossip_with_beacons_asked_for_keeps_both() {
    let port = free_udp_port();
    let n = builder(port, "both")
        .discovery(ryre::Discovery::Beacon)
        .gossip_bind(local_endpoint())
        .start()
        .unwrap();
    assert_eq!(n.discovery(), ryre::Discovery::Beacon);
    assert!(n.gossip_endpoint().is_some());
    n.stop().unwrap();
    let bad = gossip_node("bad").gossip_bind("nonsense://x").start();
    assert!(matches!(bad, Err(ryre::Error::Transport(_))), "{bad:?}");
    let bad = gossip_node("bad").advertised_endpoint("10.0.0.1:5").start();
    assert!(matches!(bad, Err(ryre::Error::Config(_))), "{bad:?}");
    let adv = gossip_node("adv")
        .advertised_endpoint("tcp://203.0.113.5:6000")
        .start()
        .unwrap();
    assert_eq!(adv.endpoint(), "tcp://203.0.113.5:6000");
    adv.stop().unwrap();
}

#[test]
fn the_machines_agent_gossips_for_all_its_nodes_through_one_session() {
    // Two "hosts" in one process: each its own beacon port, so its own device rendezvous (and
    // agent) and its own in-process group; they meet only through the hub.
    let hub = gossip_node("hub")
        .gossip_bind(local_endpoint())
        .start()
        .expect("hub");
    let ep = hub.gossip_endpoint().unwrap().to_string();
    let host = |port: u16, name: &str| {
        builder(port, name)
            .endpoint(local_endpoint())
            .evasive_timeout(Duration::from_millis(500))
            .expired_timeout(Duration::from_secs(2))
            .gossip_connect(&ep)
            .gossip_via_agent(true)
            .start()
            .expect(name)
    };
    let (pa, pb) = (free_udp_port(), free_udp_port());
    let a: Vec<Node> = (0..3).map(|i| host(pa, &format!("a{i}"))).collect();
    let b: Vec<Node> = (0..2).map(|i| host(pb, &format!("b{i}"))).collect();
    assert_eq!(a[0].discovery(), ryre::Discovery::Local, "no UDP");
    let all: Vec<&Node> = a.iter().chain(&b).collect();
    for x in &all {
        let mut left: Vec<_> = all
            .iter()
            .map(|n| n.uuid())
            .chain([hub.uuid()])
            .filter(|id| *id != x.uuid())
            .collect();
        expect(x, "ENTER of every other node and the hub", |e| {
            if let Event::Enter { peer, .. } = e {
                left.retain(|id| id != peer);
            }
            left.is_empty()
        });
    }
    // One session per host at the hub, one tuple per node.
    let view = hub.gossip_hub().expect("a hub");
    assert_eq!(view.sessions, 2, "{view:?}");
    assert_eq!(view.tuples.len(), 6, "{view:?}");
    let agent_a = a.iter().find(|n| n.is_agent()).expect("host a's agent");
    assert_eq!(agent_a.agent_gossip(), vec![(ep.clone(), 3)]);
    // Messages cross.
    b[1].whisper_str(a[2].uuid(), "via-agent").unwrap();
    expect(
        &a[2],
        "WHISPER",
        |e| matches!(e, Event::Whisper { content, .. } if &content[0][..] == b"via-agent"),
    );
    // b1 leaves: its tuple is withdrawn at the hub at once, the session stays for b0.
    let gone = b[1].uuid().to_string();
    b[1].stop().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let view = hub.gossip_hub().unwrap();
        if !view.tuples.iter().any(|(k, _)| *k == gone) {
            assert_eq!(view.tuples.len(), 5, "{view:?}");
            assert_eq!(view.sessions, 2, "{view:?}");
            break;
        }
        assert!(Instant::now() < deadline, "b1's tuple stayed: {view:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    for x in &a {
        expect(
            x,
            "EXIT of b1",
            |e| matches!(e, Event::Exit { peer, .. } if peer.to_string() == gone),
        );
    }
    // A newcomer on host b is told what the session learned: it meets host a's nodes.
    let c = host(pb, "b2");
    let mut left: Vec<_> = a.iter().map(|n| n.uuid()).collect();
    expect(&c, "ENTER of host a's nodes", |e| {
        if let Event::Enter { peer, .. } = e {
            left.retain(|id| id != peer);
        }
        left.is_empty()
    });
    assert_eq!(hub.gossip_hub().unwrap().sessions, 2);
    for n in a.iter().chain([&b[0], &c]) {
        n.stop().unwrap();
    }
    hub.stop().unwrap();
}

#[test]
fn gossip_through_the_agent_needs_an_agent() {
    let bad = gossip_node("bad")
        .discovery(ryre::Discovery::Beacon)
        .gossip_connect("tcp://127.0.0.1:9")
        .gossip_via_agent(true)
        .start();
    assert!(matches!(bad, Err(ryre::Error::Config(_))), "{bad:?}");
}
