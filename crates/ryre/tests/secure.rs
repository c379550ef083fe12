//! Secure mode over real libzmq CURVE links: nodes with bound keys meet and talk; untrusted keys,
//! plain nodes and a peer claiming another node's UUID with its own key get nothing in; a node
//! whose ZAP handler cannot be installed does not start.

use std::time::{Duration, Instant};

use ryre::security::{KeyPair, Trust};
use ryre::{Discovery, Error, Event, Node, PeerId, Security};
use ryre_proto::msg::Message;
use ryre_testkit::{expect, local_endpoint, loopback, zmq_socket};

/// A Zyre-safe key pair from a test seed.
fn keys(n: u8) -> KeyPair {
    (0u8..=255)
        .find_map(|i| KeyPair::from_seed([n.wrapping_mul(37) ^ i; 32]).ok())
        .expect("a Zyre-safe seed")
}

fn secure(name: &str, keys: KeyPair, trust: Trust) -> Node {
    Node::builder()
        .name(name)
        .discovery(Discovery::Off)
        .endpoint(local_endpoint())
        .security(Security::Curve { keys, trust })
        .start()
        .expect("secure node starts")
}

fn entered(node: &Node, other: &Node) -> Event {
    let id = other.uuid();
    expect(
        node,
        &format!("ENTER {}", other.name()),
        |e| matches!(e, Event::Enter { peer, .. } if *peer == id),
    )
}

/// No event at all from `peer` within `wait` (every event is looked at).
fn nothing_from(node: &Node, peer: PeerId, wait: Duration) {
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match node.recv_timeout(left) {
            Ok(Some(ev)) => assert_ne!(peer_of(&ev), Some(peer), "{}: got {ev:?}", node.name()),
            Ok(None) | Err(_) => return,
        }
    }
}

fn peer_of(ev: &Event) -> Option<PeerId> {
    match ev {
        Event::Enter { peer, .. }
        | Event::Exit { peer, .. }
        | Event::Evasive { peer, .. }
        | Event::Silent { peer, .. }
        | Event::Leader { peer, .. }
        | Event::Join { peer, .. }
        | Event::Leave { peer, .. }
        | Event::Whisper { peer, .. }
        | Event::Shout { peer, .. } => Some(*peer),
        _ => None,
    }
}

/// Waits until `f` holds, at most 10 s.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn secure_nodes_meet_and_talk_over_curve() {
    let (ka, kb) = (keys(1), keys(2));
    let trust = Trust::Keys([ka.public(), kb.public()].into());
    let a = secure("a", ka.clone(), trust.clone());
    let b = secure("b", kb.clone(), trust);
    assert_eq!(a.public_key(), Some(ka.public()));
    a.connect_peer_key(b.uuid(), b.endpoint(), kb.public())
        .unwrap();
    let Event::Enter { headers, .. } = entered(&b, &a) else {
        unreachable!()
    };
    assert_eq!(headers.get("X-PUBLICKEY"), Some(&ka.public().to_z85()));
    entered(&a, &b);
    a.join("chat").unwrap();
    expect(&b, "JOIN", |e| matches!(e, Event::Join { .. }));
    a.whisper_str(b.uuid(), "secret").unwrap();
    b.shout_str("chat", "to the group").unwrap();
    expect(
        &b,
        "WHISPER",
        |e| matches!(e, Event::Whisper { content, .. } if content.first().map(|f| &f[..]) == Some(b"secret")),
    );
    expect(&a, "SHOUT", |e| matches!(e, Event::Shout { .. }));
    assert_eq!(a.security_stats().refused, 0);
    assert_eq!(b.security_stats().refused_connections, 0);
}

#[test]
fn an_untrusted_key_cannot_connect() {
    let (ka, kb, kc) = (keys(1), keys(2), keys(3));
    let a = secure("a", ka.clone(), Trust::Keys([kb.public()].into()));
    // C trusts A, but A does not trust C: A's ZAP handler refuses C's key.
    let c = secure("c", kc, Trust::Keys([ka.public()].into()));
    c.connect_peer_key(a.uuid(), a.endpoint(), ka.public())
        .unwrap();
    eventually("A's ZAP handler refuses C", || {
        a.security_stats().refused_connections > 0
    });
    nothing_from(&a, c.uuid(), Duration::from_millis(300));
    assert!(a.peers().is_empty());
    // And A refuses to connect to C's key.
    let r = a.connect_peer_key(c.uuid(), c.endpoint(), keys(3).public());
    assert!(matches!(r, Err(Error::Protocol(_))), "{r:?}");
}

#[test]
fn a_plain_node_gets_nothing_from_a_secure_one() {
    let ka = keys(1);
    let a = secure("a", ka, Trust::FirstUse);
    let plain = Node::builder()
        .name("plain")
        .discovery(Discovery::Off)
        .endpoint(local_endpoint())
        .start()
        .unwrap();
    plain.connect_peer(a.uuid(), a.endpoint()).unwrap();
    a.join("chat").unwrap();
    nothing_from(&plain, a.uuid(), Duration::from_millis(500));
    nothing_from(&a, plain.uuid(), Duration::from_millis(100));
    assert!(a.peers().is_empty());
    assert!(plain.peers().is_empty());
    // A secure node will not connect to a peer without a key.
    assert!(a.connect_peer(plain.uuid(), plain.endpoint()).is_err());
}

#[test]
fn a_peer_claiming_another_uuid_with_its_own_key_is_refused() {
    let (ka, kb) = (keys(1), keys(2));
    let a = secure("a", ka.clone(), Trust::FirstUse);
    let b = secure("b", kb.clone(), Trust::FirstUse);
    a.connect_peer_key(b.uuid(), b.endpoint(), kb.public())
        .unwrap();
    entered(&a, &b);
    entered(&b, &a);
    // Mallory: a raw CURVE DEALER with her own (TOFU-acceptable) key and B's routing id,
    // sending A a whisper as B with B's next sequence numbers.
    let mallory = keys(66);
    let ctx = zmq::Context::new();
    let s = zmq_socket(&ctx, zmq::DEALER);
    s.set_curve_serverkey(ka.public().as_bytes()).unwrap();
    s.set_curve_publickey(mallory.public().as_bytes()).unwrap();
    s.set_curve_secretkey(&mallory.curve_secret()).unwrap();
    s.set_identity(&b.uuid().routing_id()).unwrap();
    s.set_linger(0).unwrap();
    s.connect(a.endpoint()).unwrap();
    let before = a.security_stats().refused;
    for seq in 2..40u16 {
        let frames = Message::Whisper {
            content: [ryre::Bytes::from_static(b"forged")].into_iter().collect(),
        }
        .encode(seq)
        .unwrap();
        let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
        s.send_multipart(frames, 0).unwrap();
    }
    eventually("A refuses Mallory's messages", || {
        a.security_stats().refused > before
    });
    // Nothing forged reached the application.
    let deadline = Instant::now() + Duration::from_millis(300);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match a.recv_timeout(left) {
            Ok(Some(Event::Whisper { content, .. })) => {
                panic!("forged whisper delivered: {content:?}")
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    drop(s);
    // B's own traffic still gets through (router handover may have cut its link: B's DEALER
    // reconnects, and A re-greets it if a sequence was lost).
    b.whisper_str(a.uuid(), "real").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match a.recv_timeout(left) {
            Ok(Some(Event::Whisper { content, .. }))
                if content.first().map(|f| &f[..]) == Some(b"real") =>
            {
                break
            }
            Ok(Some(Event::Whisper { content, .. })) => panic!("unexpected whisper {content:?}"),
            Ok(Some(Event::Enter { .. })) => {
                // Re-greeted after a lost message: send again.
                b.whisper_str(a.uuid(), "real").unwrap();
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("B's whisper never arrived"),
        }
    }
}

#[test]
fn a_node_whose_zap_handler_cannot_be_installed_does_not_start() {
    let ctx = zmq::Context::new();
    // Someone else's ZAP handler holds the endpoint in this context.
    let other = ctx.socket(zmq::REP).unwrap();
    other.bind("inproc://zeromq.zap.01").unwrap();
    let r = Node::builder()
        .discovery(Discovery::Off)
        .endpoint(local_endpoint())
        .zmq_context(ctx.clone())
        .security(Security::tofu(keys(1)))
        .start();
    let Err(e) = r else {
        panic!("a secure node started without its ZAP handler")
    };
    assert!(matches!(e, Error::Zap(_)), "{e}");
    assert!(e.to_string().contains("zeromq.zap.01"), "{e}");
    drop(other);
}

#[test]
fn the_agent_refuses_a_forged_register_and_announces_proven_keys() {
    use ryre_proto::rendezvous::{ErrorCode, KeyProof, Registration, RvMsg};
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let port = ryre_testkit::free_udp_port();
    let host = ryre_testkit::builder(port, "host")
        .discovery(Discovery::Local)
        .security(Security::tofu(keys(1)))
        .start()
        .expect("secure agent host");
    assert!(host.is_agent());
    // Read what the agent says until `stop` is satisfied (bounded).
    let read_until = |s: &mut TcpStream, stop: &dyn Fn(&RvMsg) -> bool| -> Vec<RvMsg> {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (mut buf, mut got, mut chunk) = (Vec::new(), Vec::new(), [0u8; 4096]);
        loop {
            while let Ok(Some((m, used))) = RvMsg::decode(&buf) {
                buf.drain(..used);
                let done = stop(&m);
                got.push(m);
                if done {
                    return got;
                }
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return got,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let reg = |id: PeerId, endpoint: &str, proof| Registration {
        id,
        name: "raw".into(),
        endpoint: endpoint.into(),
        beacon: None,
        headers: vec![],
        groups: vec![],
        status: 0,
        proof,
    };
    // A forged registration: a proof signed for another endpoint.
    let mallory = keys(66);
    let id = PeerId::from_bytes([0x66; 16]);
    let proof = KeyProof::register(&mallory, id, "tcp://127.0.0.1:1");
    let mut s = TcpStream::connect((loopback(), port)).unwrap();
    s.write_all(
        &RvMsg::Register(reg(id, "tcp://127.0.0.1:2", Some(proof)))
            .encode()
            .unwrap(),
    )
    .unwrap();
    let got = read_until(&mut s, &|m| matches!(m, RvMsg::Error { .. }));
    assert!(
        matches!(
            got.last(),
            Some(RvMsg::Error {
                code: ErrorCode::Forged,
                ..
            })
        ),
        "{got:?}"
    );
    // A proven registration is welcomed, and told about the host with the host's proof.
    let kb = keys(2);
    let id = PeerId::from_bytes([0x22; 16]);
    let ep = "tcp://127.0.0.1:3";
    let mut s = TcpStream::connect((loopback(), port)).unwrap();
    s.write_all(
        &RvMsg::Register(reg(id, ep, Some(KeyProof::register(&kb, id, ep))))
            .encode()
            .unwrap(),
    )
    .unwrap();
    let host_id = host.uuid();
    let got = read_until(
        &mut s,
        &|m| matches!(m, RvMsg::Peer { id, .. } if *id == host_id),
    );
    let proven = got.iter().find_map(|m| match m {
        RvMsg::Peer {
            id,
            endpoint,
            proof: Some(p),
            ..
        } => p.verify_register(*id, endpoint),
        _ => None,
    });
    assert_eq!(proven, Some(keys(1).public()), "{got:?}");
    assert_eq!(host.security_stats().refused, 0);
}
