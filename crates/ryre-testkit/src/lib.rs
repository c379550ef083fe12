//! # ryre-testkit: the workspace's test helpers (dev-only, not published)
//!
//! One home for what the tests of every crate need, instead of a copy per crate:
//!
//! - nodes on loopback with a private beacon port and fast beacons ([`free_udp_port`],
//!   [`builder`]);
//! - bounded waits for a node's events ([`expect`], [`expect_within`], [`meet_in`]), failing with
//!   what was seen instead;
//! - child processes killed (SIGKILL) and reaped on drop ([`Kill`]), and a child whose stdout and
//!   stderr lines are read with bounded waits ([`Proc`], made for the `ryre` binary's JSON lines).
//!
//! Use it as a dev-dependency: `ryre-testkit = { path = "../ryre-testkit" }`.
#![warn(missing_docs)]

mod process;

pub use process::{Kill, Proc, PROC_WAIT};

use std::time::{Duration, Instant};

use ryre::{Event, Node, NodeBuilder};

/// Every wait of [`expect`] and [`meet_in`] is bounded by this.
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

/// Waits up to [`WAIT`] for the first event matching `pred`, failing with what was seen instead.
pub fn expect(node: &Node, what: &str, pred: impl FnMut(&Event) -> bool) -> Event {
    expect_within(node, what, WAIT, pred)
}

/// Waits up to `wait` for the first event matching `pred`, failing with what was seen instead.
pub fn expect_within(
    node: &Node,
    what: &str,
    wait: Duration,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match node.recv_timeout(left) {
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(ev)) => seen.push(format!("{ev:?}")),
            Ok(None) | Err(_) => panic!(
                "{}: no {what} within {wait:?}; saw {} events: {:#?}",
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
