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
    assert_eq!((peer, group.as_str()), (a.uuid(), "chat"));
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
