//! Shared helpers for the node tests: loopback only, OS-chosen ports, bounded waits.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ryre::{Event, Node, NodeBuilder};

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// A UDP port the OS says is free, for one test's beacons.
pub fn free_udp_port() -> u16 {
    ryre::private_port().expect("a private port for this test")
}

/// A node on loopback with fast beacons and the given beacon port.
pub fn builder(port: u16, name: &str) -> NodeBuilder {
    Node::builder()
        .name(name)
        .interface("lo")
        .port(port)
        .interval(Duration::from_millis(100))
}

/// Waits for the first event matching `pred`, failing with what was seen instead.
pub fn expect(node: &Node, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Event {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match node.recv_timeout(left) {
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(ev)) => seen.push(format!("{ev:?}")),
            Ok(None) | Err(_) => panic!(
                "{}: no {what} within {WAIT:?}; saw {} events: {:#?}",
                node.name(),
                seen.len(),
                seen.iter().rev().take(20).collect::<Vec<_>>()
            ),
        }
    }
}

/// Waits until `a` and `b` have each seen the other join `group`.
pub fn meet_in(a: &Node, b: &Node, group: &str) {
    for (x, y) in [(a, b), (b, a)] {
        let id = y.uuid();
        expect(
            x,
            &format!("JOIN {} {group}", y.name()),
            |e| matches!(e, Event::Join { peer, group: g, .. } if *peer == id && g == group),
        );
    }
}
