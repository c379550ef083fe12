//! Whole-node behaviour over loopback: discovery, groups, shout, whisper, leave, stop.

mod common;

use common::*;
use ryre::{Event, Node};

#[test]
fn two_nodes_discover_join_shout_whisper_leave_stop() {
    let port = free_udp_port();
    let a = builder(port, "a").start().unwrap();
    let b = builder(port, "b").header("X-TEST", "yes").start().unwrap();
    a.join("chat").unwrap();
    b.join("chat").unwrap();
    let ev = expect(
        &a,
        "ENTER b",
        |e| matches!(e, Event::Enter { peer, .. } if *peer == b.uuid()),
    );
    if let Event::Enter {
        name,
        headers,
        endpoint,
        ..
    } = ev
    {
        assert_eq!(&*name, "b");
        assert_eq!(headers.get("X-TEST").map(String::as_str), Some("yes"));
        assert_eq!(endpoint, b.endpoint());
    }
    expect(
        &a,
        "JOIN b chat",
        |e| matches!(e, Event::Join { peer, group, .. } if *peer == b.uuid() && group == "chat"),
    );
    expect(
        &b,
        "JOIN a chat",
        |e| matches!(e, Event::Join { peer, group, .. } if *peer == a.uuid() && group == "chat"),
    );
    assert_eq!(a.peers_by_group("chat"), vec![b.uuid()]);
    assert_eq!(a.peer_name(&b.uuid()).as_deref(), Some("b"));
    assert_eq!(
        a.peer_header_value(&b.uuid(), "X-TEST").as_deref(),
        Some("yes")
    );
    assert_eq!(a.own_groups(), vec!["chat".to_string()]);

    a.shout("chat", [&b"one"[..], &b"two"[..]]).unwrap();
    let ev = expect(&b, "SHOUT", |e| matches!(e, Event::Shout { .. }));
    let Event::Shout {
        peer,
        group,
        content,
        ..
    } = ev
    else {
        unreachable!()
    };
    assert_eq!((peer, &*group), (a.uuid(), "chat"));
    assert_eq!(&content[..], [&b"one"[..], &b"two"[..]]);

    b.whisper_str(a.uuid(), "psst").unwrap();
    let ev = expect(&a, "WHISPER", |e| matches!(e, Event::Whisper { .. }));
    let Event::Whisper { peer, content, .. } = ev else {
        unreachable!()
    };
    assert_eq!(peer, b.uuid());
    assert_eq!(&content[0][..], b"psst");

    b.leave("chat").unwrap();
    expect(
        &a,
        "LEAVE",
        |e| matches!(e, Event::Leave { peer, group, .. } if *peer == b.uuid() && group == "chat"),
    );

    b.stop().unwrap();
    let ev = expect(
        &a,
        "EXIT",
        |e| matches!(e, Event::Exit { peer, .. } if *peer == b.uuid()),
    );
    assert!(matches!(
        ev,
        Event::Exit {
            reason: ryre::ExitReason::Leaving,
            ..
        }
    ));
    expect(&b, "STOP", |e| matches!(e, Event::Stop { .. }));
    assert!(matches!(b.recv_timeout(WAIT), Err(ryre::Error::Stopped)));
    assert!(a.peers().is_empty());
    a.stop().unwrap();
}

#[test]
fn whisper_to_unknown_peer_is_an_error() {
    let a = builder(free_udp_port(), "a").start().unwrap();
    let ghost = ryre::PeerId::from_bytes([9; 16]);
    assert!(matches!(a.whisper_str(ghost, "x"), Err(ryre::Error::UnknownPeer(p)) if p == ghost));
    assert!(matches!(
        a.join(&"g".repeat(256)),
        Err(ryre::Error::TooLong { .. })
    ));
    assert!(Node::builder().name("n".repeat(300)).start().is_err());
    assert!(Node::builder().interface("no-such-if0").start().is_err());
}

/// Zyre reads names, groups and headers as C strings: one with a NUL would mean something else
/// there, so the API refuses it with `Error::Nul`, before anything is sent.
#[test]
fn nul_bytes_in_names_groups_and_headers_are_refused() {
    let a = builder(free_udp_port(), "a").start().unwrap();
    let nul = |r: Result<(), ryre::Error>, what: &str| match r {
        Err(ryre::Error::Nul { what: w, at: 1 }) => assert_eq!(w, what),
        other => panic!("{what}: {other:?}"),
    };
    nul(a.join("a\0b"), "group name");
    nul(a.leave("a\0b"), "group name");
    nul(a.shout_str("a\0b", "x"), "group name");
    nul(a.contest_in_group("a\0b"), "group name");
    assert!(a.own_groups().is_empty());
    for b in [
        Node::builder().name("a\0b"),
        Node::builder().header("a\0b", "v"),
        Node::builder().header("k", "v\0w"),
    ] {
        let Err(e) = b.interface("lo").start() else {
            panic!("a NUL was accepted")
        };
        assert!(matches!(e, ryre::Error::Nul { .. }), "{e}");
        assert!(e.to_string().contains("NUL"), "{e}");
    }
}

/// Content frames of every size arrive intact over TCP, also when the application keeps them
/// while later messages arrive: small frames are copied into shared blocks, larger ones keep
/// the libzmq message they arrived in (no copy), which the inbox must then not reuse.
#[test]
fn kept_content_frames_of_every_size_survive_later_messages() {
    // The tests' address family: the IPv6-only pass has no 127.0.0.1.
    let make = |name: &str| {
        node(name)
            .discovery(ryre::Discovery::Off)
            .endpoint(local_endpoint())
            .start()
            .unwrap()
    };
    let (a, b) = (make("a"), make("b"));
    a.connect_peer(b.uuid(), b.endpoint()).unwrap();
    b.connect_peer(a.uuid(), a.endpoint()).unwrap();
    expect(&a, "ENTER b", |e| matches!(e, Event::Enter { .. }));
    expect(&b, "ENTER a", |e| matches!(e, Event::Enter { .. }));
    let sizes = [0usize, 16, 1024, 4096, 4097, 100_000, 16];
    let frame = |round: u8, size: usize| -> Vec<u8> {
        (0..size)
            .map(|i| (i as u8).wrapping_mul(31) ^ round)
            .collect()
    };
    let rounds = 4u8;
    for round in 0..rounds {
        a.whisper(b.uuid(), sizes.iter().map(|&n| frame(round, n)))
            .unwrap();
    }
    let mut kept = Vec::new();
    for _ in 0..rounds {
        match expect(&b, "WHISPER", |e| matches!(e, Event::Whisper { .. })) {
            Event::Whisper { content, .. } => kept.push(content),
            _ => unreachable!(),
        }
    }
    for (round, content) in kept.iter().enumerate() {
        let got: Vec<usize> = content.iter().map(|f| f.len()).collect();
        assert_eq!(got, sizes, "round {round}");
        for (f, &n) in content.iter().zip(&sizes) {
            assert!(
                f[..] == frame(round as u8, n)[..],
                "round {round}, {n} bytes"
            );
        }
    }
    a.stop().unwrap();
    b.stop().unwrap();
}
