//! IPv6 on loopback (`::1`): inboxes and links over IPv6 TCP (ZMQ_IPV6), gossip through a hub at
//! `tcp://[::1]:*`, a dual-stack inbox reached over both families, and the clear errors of what
//! cannot work (IPv6 beacons on `lo`, which takes no multicast; a group that is not multicast;
//! an interface without IPv6). Beacons over IPv6 multicast are tested in network namespaces
//! (tests/interop/test_ipv6_netns.py): loopback has no multicast.

mod common;

use std::time::Duration;

use common::*;
use ryre::{Discovery, Event, Interface6, Node, NodeBuilder};

/// `None` (and a loud SKIP) when this host has no `::1`.
fn ipv6_lo() -> Option<Interface6> {
    match Interface6::find(Some("lo")) {
        Ok(i) => Some(i),
        Err(e) => {
            eprintln!("SKIP: no IPv6 on lo here ({e})");
            None
        }
    }
}

fn v6_node(name: &str) -> NodeBuilder {
    Node::builder()
        .name(name)
        .interface("lo")
        .ipv6(true)
        .evasive_timeout(Duration::from_millis(500))
        .expired_timeout(Duration::from_secs(2))
}

#[test]
fn ipv6_nodes_meet_through_a_gossip_hub_on_loopback() {
    let Some(lo) = ipv6_lo() else { return };
    assert_eq!(lo.addr, std::net::Ipv6Addr::LOCALHOST);
    let hub = v6_node("hub")
        .gossip_bind("tcp://[::1]:*")
        .start()
        .expect("hub");
    let ep = hub.gossip_endpoint().expect("bound").to_string();
    assert!(ep.starts_with("tcp://[::1]:"), "{ep}");
    let a = v6_node("a").gossip_connect(&ep).start().expect("a");
    let b = v6_node("b").gossip_connect(&ep).start().expect("b");
    for n in [&hub, &a, &b] {
        assert!(n.endpoint().starts_with("tcp://[::1]:"), "{}", n.endpoint());
        assert_eq!(n.interface6().map(|i| i.addr), Some(lo.addr));
        assert_eq!(n.interface().name, "lo");
    }
    a.join("g").unwrap();
    b.join("g").unwrap();
    meet_in(&a, &b, "g");
    a.shout("g", [&b"over-v6"[..]]).unwrap();
    expect(
        &b,
        "SHOUT",
        |e| matches!(e, Event::Shout { content, .. } if &content[0][..] == b"over-v6"),
    );
    b.whisper_str(a.uuid(), "back").unwrap();
    expect(
        &a,
        "WHISPER",
        |e| matches!(e, Event::Whisper { content, .. } if &content[0][..] == b"back"),
    );
    let a_id = a.uuid();
    a.stop().expect("stop");
    expect(
        &b,
        "EXIT of a",
        |e| matches!(e, Event::Exit { peer, .. } if *peer == a_id),
    );
}

#[test]
fn a_dual_stack_inbox_is_reached_over_ipv4_and_ipv6() {
    if ipv6_lo().is_none() {
        return;
    }
    if ipv6() {
        eprintln!("SKIP: dual stack needs IPv4 (this is the IPv6-only pass)");
        return;
    }
    let off = |b: NodeBuilder| b.discovery(Discovery::Off).interface("lo");
    let dual = off(Node::builder().name("dual").dual_stack(true))
        .start()
        .expect("dual");
    // HELLO announces the IPv4 endpoint; the IPv6 address listens on the same port.
    let port = dual
        .endpoint()
        .strip_prefix("tcp://127.0.0.1:")
        .unwrap_or_else(|| panic!("{}", dual.endpoint()))
        .to_string();
    assert_eq!(dual.interface6().map(|i| i.name.as_str()), Some("lo"));
    let v4 = off(Node::builder().name("v4")).start().expect("v4");
    let v6 = off(Node::builder().name("v6").ipv6(true))
        .start()
        .expect("v6");
    assert!(
        v6.endpoint().starts_with("tcp://[::1]:"),
        "{}",
        v6.endpoint()
    );
    v4.connect_peer(dual.uuid(), &format!("tcp://127.0.0.1:{port}"))
        .unwrap();
    v6.connect_peer(dual.uuid(), &format!("tcp://[::1]:{port}"))
        .unwrap();
    for n in [&v4, &v6] {
        let id = dual.uuid();
        expect(
            n,
            "ENTER of dual",
            |e| matches!(e, Event::Enter { peer, .. } if *peer == id),
        );
    }
    // Both ENTERs at dual, in either order.
    let mut missing = vec![v4.uuid(), v6.uuid()];
    while !missing.is_empty() {
        expect(&dual, "ENTER of v4 and v6", |e| match e {
            Event::Enter { peer, .. } => {
                missing.retain(|m| m != peer);
                true
            }
            _ => false,
        });
    }
    dual.whisper_str(v6.uuid(), "to-v6").unwrap();
    expect(
        &v6,
        "WHISPER from dual",
        |e| matches!(e, Event::Whisper { content, .. } if &content[0][..] == b"to-v6"),
    );
}

#[test]
fn what_cannot_work_over_ipv6_is_a_clear_error() {
    if ipv6_lo().is_none() {
        return;
    }
    // Loopback takes no multicast: IPv6 beacons there cannot work.
    let e = v6_node("x")
        .discovery(Discovery::Beacon)
        .port(free_udp_port())
        .start()
        .expect_err("IPv6 beacons on lo");
    assert!(matches!(e, ryre::Error::Beacon { .. }), "{e:?}");
    assert!(e.to_string().contains("multicast"), "{e}");
    let e = v6_node("x")
        .discovery(Discovery::Off)
        .ipv6_group("fd00::1".parse().unwrap())
        .start()
        .expect_err("a unicast group");
    assert!(matches!(e, ryre::Error::Config(_)), "{e:?}");
    let e = Node::builder()
        .ipv6(true)
        .interface("no-such-if0")
        .start()
        .expect_err("no such interface");
    assert!(e.to_string().contains("IPv6"), "{e}");
    let e = Node::builder()
        .ipv6(true)
        .interface("2001:db8::99")
        .start()
        .expect_err("an address nobody has");
    assert!(e.to_string().contains("2001:db8::99"), "{e}");
    // An IPv6 address for an IPv4 node: the error says what to ask for. On a host without
    // IPv4 (the IPv6-only pass), the node speaks IPv6 by itself instead.
    let r = Node::builder()
        .interface("::1")
        .discovery(Discovery::Off)
        .start();
    if ipv6() {
        let n = r.expect("an IPv4 node on an IPv6-only host falls back to IPv6");
        assert!(n.endpoint().starts_with("tcp://[::1]:"), "{}", n.endpoint());
        let n = Node::builder()
            .discovery(Discovery::Off)
            .start()
            .expect("defaults on an IPv6-only host");
        assert!(n.interface6().is_some(), "{n:?}");
    } else {
        let e = r.expect_err("an IPv6 address without IPv6");
        assert!(e.to_string().contains("--ipv6"), "{e}");
    }
    // An IPv6 address chooses the interface too.
    let n = v6_node("by-address")
        .interface("::1")
        .discovery(Discovery::Off)
        .start()
        .expect("::1 names lo");
    assert_eq!(n.interface().name, "lo");
}
