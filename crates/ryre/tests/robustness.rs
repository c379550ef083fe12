//! Bad input never stops a node: garbage beacons, garbage TCP, malformed ZRE frames; a peer
//! killed with SIGKILL goes EVASIVE, SILENT, then EXIT.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use ryre::{Discovery, Event, ExitReason, Node, PeerId};
use ryre_testkit::Kill;

/// Sends 1,000 datagrams of every shape to the beacon port, then checks the nodes still meet.
#[test]
fn garbage_beacons_are_ignored() {
    let port = free_udp_port();
    let a = builder(port, "a").start().unwrap();
    let mut seed = 0x2545_f491_u32;
    for i in 0..1000u32 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let len = (seed % 80) as usize;
        let mut d: Vec<u8> = (0..len)
            .map(|j| (seed.rotate_left(j as u32) & 0xff) as u8)
            .collect();
        if i % 3 == 0 && d.len() >= 4 {
            d[..3].copy_from_slice(b"ZRE");
        }
        if i % 5 == 0 {
            // A well-formed beacon pointing at a port where nobody listens.
            d = b"ZRE\x01".to_vec();
            d.extend_from_slice(&[i as u8; 16]);
            d.extend_from_slice(&1u16.to_be_bytes());
        }
        send_beacon(port, &d);
    }
    let b = builder(port, "b").start().unwrap();
    a.join("g").unwrap();
    b.join("g").unwrap();
    // b must know that a is in the group before it shouts there.
    meet_in(&a, &b, "g");
    b.shout_str("g", "still here").unwrap();
    expect(&a, "SHOUT", |e| matches!(e, Event::Shout { .. }));
}

/// Garbage at the inbox: raw TCP bytes, ZMTP peers with bad routing ids, malformed ZRE frames,
/// messages before HELLO, out-of-sequence messages. The node keeps serving a real peer.
#[test]
fn garbage_frames_at_the_inbox_are_ignored() {
    let port = free_udp_port();
    let a = builder(port, "a").start().unwrap();
    let addr = a.endpoint().trim_start_matches("tcp://").to_string();

    // Not ZMTP at all.
    for junk in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0xff; 300][..],
        &[0u8; 11][..],
    ] {
        let mut s = TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(junk);
    }

    let ctx = zmq::Context::new();
    let send = |identity: &[u8], frames: &[&[u8]]| {
        let s = zmq_socket(&ctx, zmq::DEALER);
        s.set_identity(identity).unwrap();
        s.set_linger(1000).unwrap();
        s.connect(a.endpoint()).unwrap();
        s.send_multipart(frames, 0).unwrap();
        s
    };
    let fake = PeerId::from_bytes([0x42; 16]);
    let mut keep = Vec::new();
    keep.push(send(b"short", &[b"\xaa\xa1\x06\x02\x00\x01"]));
    keep.push(send(&[2; 17], &[b"\xaa\xa1\x06\x02\x00\x01"]));
    let good_id = fake.routing_id();
    keep.push(send(&good_id, &[b"garbage"]));
    // From well-formed routing ids: a HELLO cut short, a PING before HELLO, an unknown id, a
    // bad version.
    for (n, head) in [
        (0x43u8, &b"\xaa\xa1\x01\x02\x00\x01\xff"[..]),
        (0x44, &b"\xaa\xa1\x06\x02\x00\x01"[..]),
        (0x45, &b"\xaa\xa1\x0b\x02\x00\x01"[..]),
        (0x46, &b"\xaa\xa1\x06\x09\x00\x01"[..]),
    ] {
        keep.push(send(&PeerId::from_bytes([n; 16]).routing_id(), &[head]));
    }

    // A real peer still works.
    let b = builder(port, "b").start().unwrap();
    a.join("g").unwrap();
    b.join("g").unwrap();
    meet_in(&a, &b, "g");
    b.whisper_str(a.uuid(), "ok").unwrap();
    expect(&a, "WHISPER", |e| matches!(e, Event::Whisper { .. }));
    // None of the fakes became a peer.
    assert_eq!(a.peers(), vec![b.uuid()]);
}

/// A peer that says HELLO with a good sequence and then skips one is dropped (EXIT).
#[test]
fn sequence_gap_drops_the_peer() {
    let a = node("a").beacon(false).start().unwrap();
    let ctx = zmq::Context::new();
    let s = zmq_socket(&ctx, zmq::DEALER);
    let fake = PeerId::from_bytes([0x51; 16]);
    s.set_identity(&fake.routing_id()).unwrap();
    s.set_linger(0).unwrap();
    s.connect(a.endpoint()).unwrap();
    // HELLO: endpoint, no groups, status 0, name "fake", no headers.
    let ep = b"tcp://127.0.0.1:1";
    let mut hello = vec![0xaa, 0xa1, 1, 2, 0, 1, ep.len() as u8];
    hello.extend_from_slice(ep);
    hello.extend_from_slice(&[0, 0, 0, 0, 0, 4]);
    hello.extend_from_slice(b"fake");
    hello.extend_from_slice(&[0, 0, 0, 0]);
    s.send(&hello[..], 0).unwrap();
    expect(
        &a,
        "ENTER fake",
        |e| matches!(e, Event::Enter { peer, .. } if *peer == fake),
    );
    // Sequence 3 where 2 is due.
    s.send(&[0xaa, 0xa1, 6, 2, 0, 3][..], 0).unwrap();
    let ev = expect(
        &a,
        "EXIT fake",
        |e| matches!(e, Event::Exit { peer, .. } if *peer == fake),
    );
    assert!(matches!(
        ev,
        Event::Exit {
            reason: ExitReason::SequenceGap {
                expected: 2,
                got: 3
            },
            ..
        }
    ));
}

/// Starts this test binary again as a process running only `child_node` on beacon port `port`
/// (discovery `auto`).
fn spawn_child_node(port: u16) -> Kill {
    spawn_child_node_with(port, Discovery::Auto)
}

/// The same with a discovery mode.
fn spawn_child_node_with(port: u16, discovery: Discovery) -> Kill {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_node",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("RYRE_CHILD_PORT", port.to_string())
        .env("RYRE_CHILD_DISCOVERY", discovery.as_str())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Kill(child)
}

/// Runs as a child process when RYRE_CHILD_PORT is set: a node that lives until killed.
#[test]
fn child_node() {
    let Ok(port) = std::env::var("RYRE_CHILD_PORT") else {
        return;
    };
    let discovery: Discovery = std::env::var("RYRE_CHILD_DISCOVERY")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or_default();
    let node = builder(port.parse().unwrap(), "victim")
        .discovery(discovery)
        .evasive_timeout(Duration::from_millis(300))
        .expired_timeout(Duration::from_millis(1500))
        .start()
        .unwrap();
    node.join("g").unwrap();
    // Block until killed; bounded so a lost parent cannot leave it running for ever.
    let _ = node.recv_timeout(Duration::from_secs(60));
    while node
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .flatten()
        .is_some()
    {}
}

#[test]
fn killed_peer_goes_evasive_silent_then_exits() {
    // The victim uses plain ZRE beacons: nobody vouches for it, its silence is all we have.
    // The watcher (discovery auto) has no beacon socket of its own, so nothing but the heart's
    // deadlines wakes it: the EXIT must still reach `recv` at once.
    let port = free_udp_port();
    let a = builder(port, "watcher")
        .evasive_timeout(Duration::from_millis(300))
        .expired_timeout(Duration::from_millis(1500))
        .start()
        .unwrap();
    let mut child = spawn_child_node_with(port, Discovery::Beacon);
    let victim = match expect(&a, "JOIN victim", |e| matches!(e, Event::Join { .. })) {
        Event::Join { peer, .. } => peer,
        _ => unreachable!(),
    };
    // SIGKILL: no leaving beacon, no goodbye.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    expect(
        &a,
        "EVASIVE",
        |e| matches!(e, Event::Evasive { peer, .. } if *peer == victim),
    );
    expect(
        &a,
        "SILENT",
        |e| matches!(e, Event::Silent { peer, .. } if *peer == victim),
    );
    let ev = expect(
        &a,
        "EXIT",
        |e| matches!(e, Event::Exit { peer, .. } if *peer == victim),
    );
    assert!(matches!(
        ev,
        Event::Exit {
            reason: ExitReason::Expired,
            ..
        }
    ));
}

/// With the device rendezvous, a local node killed with kill -9 is reported at once: its
/// registration connection to the agent drops, and the agent tells every other node.
#[test]
fn killed_local_peer_exits_at_once_through_the_agent() {
    let port = free_udp_port();
    let a = builder(port, "watcher")
        .evasive_timeout(Duration::from_secs(5))
        .expired_timeout(Duration::from_secs(30))
        .start()
        .unwrap();
    assert!(
        a.is_agent(),
        "the first node of the machine holds the rendezvous"
    );
    let mut child = spawn_child_node(port);
    let victim = match expect(&a, "JOIN victim", |e| matches!(e, Event::Join { .. })) {
        Event::Join { peer, .. } => peer,
        _ => unreachable!(),
    };
    child.0.kill().unwrap();
    let killed = std::time::Instant::now();
    child.0.wait().unwrap();
    let ev = expect(
        &a,
        "EXIT",
        |e| matches!(e, Event::Exit { peer, .. } if *peer == victim),
    );
    assert!(
        matches!(
            ev,
            Event::Exit {
                reason: ExitReason::Lost,
                ..
            }
        ),
        "{ev:?}"
    );
    // Long before the 5 s evasive timeout: the agent saw the connection drop.
    assert!(
        killed.elapsed() < Duration::from_secs(3),
        "{:?}",
        killed.elapsed()
    );
}

/// With `SendPolicy::DropPeer` (Zyre's behaviour), a peer that stops reading (SIGSTOP) fills
/// our queue to it; at the high-water mark it is dropped with EXIT reason QueueFull, and sending
/// to it then fails cleanly. (The default policy waits instead: tests/backpressure.rs.)
#[test]
fn a_peer_that_stops_reading_is_dropped_when_its_queue_is_full() {
    let port = free_udp_port();
    let a = builder(port, "sender")
        .send_hwm(10)
        .send_policy(ryre::SendPolicy::DropPeer)
        .start()
        .unwrap();
    let child = spawn_child_node(port);
    let victim = match expect(&a, "ENTER victim", |e| matches!(e, Event::Enter { .. })) {
        Event::Enter { peer, .. } => peer,
        _ => unreachable!(),
    };
    let pid = child.0.id().to_string();
    let stopped = Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    assert!(stopped.success());
    // 256 KiB frames fill the kernel's socket buffers after a few dozen; then libzmq's queue of
    // 10 fills and the next whisper finds the peer gone.
    let frame = ryre::Bytes::from(vec![7u8; 256 * 1024]);
    let mut sent = 0;
    let result = loop {
        match a.whisper(victim, [frame.clone()]) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 100_000, "the queue never filled");
    };
    assert!(
        matches!(result, ryre::Error::UnknownPeer(p) if p == victim),
        "{result}"
    );
    let ev = expect(
        &a,
        "EXIT",
        |e| matches!(e, Event::Exit { peer, .. } if *peer == victim),
    );
    assert!(
        matches!(
            ev,
            Event::Exit {
                reason: ExitReason::QueueFull,
                ..
            }
        ),
        "{ev:?}"
    );
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    drop(child);
}

/// Sends the 22-byte leaving beacon (port 0) that anyone on the LAN can forge for `id`.
fn forge_leaving_beacon(port: u16, id: PeerId) {
    let mut d = b"ZRE\x01".to_vec();
    d.extend_from_slice(id.as_bytes());
    d.extend_from_slice(&0u16.to_be_bytes());
    send_beacon(port, &d);
}

/// No EXIT of `id` at `node` for `window` (an absence can only be watched for a while).
fn no_exit_for(node: &Node, id: PeerId, window: Duration) {
    let until = Instant::now() + window;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match node.recv_timeout(left) {
            Ok(Some(Event::Exit { peer, reason, .. })) if peer == id => {
                panic!(
                    "{}: EXIT of {id} ({reason:?}) after a forged beacon",
                    node.name()
                )
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
}

/// A forged leaving beacon for a live peer in another process (plain ZRE beacons): the peer is
/// removed, as Zyre does, and its next beacon brings it back with its groups.
#[test]
fn a_forged_leaving_beacon_keeps_a_live_peer_away_only_until_its_next_beacon() {
    let port = free_udp_port();
    let a = builder(port, "watcher")
        .discovery(Discovery::Beacon)
        .start()
        .unwrap();
    let _child = spawn_child_node_with(port, Discovery::Beacon);
    let victim = match expect(&a, "JOIN victim", |e| matches!(e, Event::Join { .. })) {
        Event::Join { peer, .. } => peer,
        _ => unreachable!(),
    };
    let forged_at = Instant::now();
    forge_leaving_beacon(port, victim);
    expect(
        &a,
        "EXIT (leaving)",
        |e| matches!(e, Event::Exit { peer, reason: ExitReason::Leaving, .. } if *peer == victim),
    );
    expect(
        &a,
        "ENTER again",
        |e| matches!(e, Event::Enter { peer, .. } if *peer == victim),
    );
    let back = forged_at.elapsed();
    expect(
        &a,
        "JOIN g again",
        |e| matches!(e, Event::Join { peer, group, .. } if *peer == victim && group == "g"),
    );
    println!("re-admitted {back:?} after the forged leaving beacon (beacon interval 100 ms)");
    // Two beacon intervals at most (one may fall within the grace), plus the HELLO exchange.
    assert!(back < Duration::from_secs(1), "back only after {back:?}");
    assert_eq!(a.peers_by_group("g"), vec![victim]);
}

/// Through the machine's agent (discovery auto), and between nodes of one process: the agent
/// and the registry vouch for their nodes, so a forged leaving beacon removes nobody.
#[test]
fn a_forged_leaving_beacon_cannot_remove_a_vouched_for_peer() {
    for discovery in [Discovery::Auto, Discovery::Beacon] {
        let port = free_udp_port();
        let a = builder(port, "a").discovery(discovery).start().unwrap();
        let b = builder(port, "b").discovery(discovery).start().unwrap();
        a.join("g").unwrap();
        b.join("g").unwrap();
        meet_in(&a, &b, "g");
        forge_leaving_beacon(port, b.uuid());
        forge_leaving_beacon(port, a.uuid());
        no_exit_for(&a, b.uuid(), Duration::from_millis(500));
        no_exit_for(&b, a.uuid(), Duration::from_millis(100));
        b.shout_str("g", "still here").unwrap();
        expect(&a, "SHOUT", |e| matches!(e, Event::Shout { .. }));
    }
}

/// The same across processes: the agent sends the beacons of its machine's nodes and never
/// passes on one that claims one of them, and each node hears of the others' goodbyes from it.
#[test]
fn a_forged_leaving_beacon_cannot_remove_a_node_of_the_same_machine() {
    let port = free_udp_port();
    let a = builder(port, "watcher")
        .discovery(Discovery::Auto)
        .start()
        .unwrap();
    assert!(a.is_agent());
    let _child = spawn_child_node_with(port, Discovery::Auto);
    let victim = match expect(&a, "JOIN victim", |e| matches!(e, Event::Join { .. })) {
        Event::Join { peer, .. } => peer,
        _ => unreachable!(),
    };
    forge_leaving_beacon(port, victim);
    no_exit_for(&a, victim, Duration::from_millis(500));
    assert!(a.peers().contains(&victim));
}

/// How many whispers (of [`EXIT_WHISPER_SIZE`] bytes) the sender child queues before it exits.
const EXIT_WHISPERS: usize = 200;
const EXIT_WHISPER_SIZE: usize = 64 * 1024;

/// Runs as a child process when RYRE_SENDER_PORT is set: whispers [`EXIT_WHISPERS`] messages to
/// the first peer that enters, drops its node and exits at once, as a program's `main` does.
#[test]
fn child_sender() {
    let Ok(port) = std::env::var("RYRE_SENDER_PORT") else {
        return;
    };
    let node = builder(port.parse().unwrap(), "sender").start().unwrap();
    let Event::Enter { peer, .. } = expect(&node, "ENTER", |e| matches!(e, Event::Enter { .. }))
    else {
        unreachable!()
    };
    let payload = ryre::Bytes::from(vec![7u8; EXIT_WHISPER_SIZE]);
    for _ in 0..EXIT_WHISPERS {
        node.whisper(peer, [payload.clone()]).unwrap();
    }
    drop(node);
    std::process::exit(0);
}

/// What a node queued before it was dropped reaches the peer even when its process exits right
/// after: the stop waits for the peer's PING-OK (`NodeBuilder::stop_flush`). With
/// `stop_flush(Duration::ZERO)` (Zyre's way) this fails: the leaving beacon overtakes the
/// whispers, the receiver drops the sender (EXIT) and ignores the rest, and `exit` kills
/// libzmq's I/O thread with the tail unsent.
#[test]
fn whispers_queued_just_before_exit_are_delivered() {
    let port = free_udp_port();
    let receiver = builder(port, "receiver").start().unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_sender",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("RYRE_SENDER_PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Kill(child);
    let mut got = 0;
    let deadline = Instant::now() + WAIT;
    while got < EXIT_WHISPERS {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(Some(Event::Whisper { content, .. })) => {
                assert_eq!(content.first().map(|f| f.len()), Some(EXIT_WHISPER_SIZE));
                got += 1;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let status = child.0.wait().unwrap();
    assert!(status.success(), "the sender failed: {status}");
    assert_eq!(got, EXIT_WHISPERS, "whispers lost when the sender exited");
}
