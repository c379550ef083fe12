//! # ryre-testkit: the workspace's test helpers (dev-only, not published)
//!
//! One home for what the tests of every crate need, instead of a copy per crate:
//!
//! - nodes on loopback with a private beacon port and fast beacons ([`free_udp_port`],
//!   [`builder`]), over IPv4 or, with `RYRE_TEST_IPV6=1`, over IPv6 ([`ipv6`], [`node`],
//!   [`local_endpoint`], [`loopback`], [`send_beacon`]: `scripts/test-ipv6.sh` runs the node
//!   tests so in an IPv6-only network namespace, on the interface `RYRE_TEST_INTERFACE`);
//! - bounded waits for a node's events ([`expect`], [`expect_within`], [`meet_in`]), failing with
//!   what was seen instead;
//! - child processes killed (SIGKILL) and reaped on drop ([`Kill`]), and a child whose stdout and
//!   stderr lines are read with bounded waits ([`Proc`], made for the `ryre` binary's JSON lines).
//!
//! Use it as a dev-dependency: `ryre-testkit = { path = "../ryre-testkit" }`.
#![warn(missing_docs)]

pub mod pki;
mod process;

pub use process::{Kill, Proc, PROC_WAIT};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};

use ryre::{Event, Node, NodeBuilder};

/// Every wait of [`expect`] and [`meet_in`] is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// A UDP port the OS says is free, for one test's beacons.
pub fn free_udp_port() -> u16 {
    ryre::private_port().expect("a private port for this test")
}

/// Whether the tests run over IPv6: `RYRE_TEST_IPV6=1` (set by `scripts/test-ipv6.sh`).
pub fn ipv6() -> bool {
    std::env::var("RYRE_TEST_IPV6").is_ok_and(|v| v == "1")
}

/// The interface the tests' nodes use: `RYRE_TEST_INTERFACE`, default `lo` (IPv6 beacons need a
/// multicast-capable one, which loopback is not).
pub fn interface() -> String {
    std::env::var("RYRE_TEST_INTERFACE").unwrap_or_else(|_| "lo".to_string())
}

/// Loopback in the tests' address family: 127.0.0.1, or ::1 over IPv6.
pub fn loopback() -> IpAddr {
    if ipv6() {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

/// A ZeroMQ endpoint on loopback with a port the OS picks: `tcp://127.0.0.1:*` or
/// `tcp://[::1]:*`.
pub fn local_endpoint() -> String {
    format!("{}*", local_prefix())
}

/// What an endpoint of [`local_endpoint`] starts with once bound: `tcp://127.0.0.1:` or
/// `tcp://[::1]:`.
pub fn local_prefix() -> String {
    match loopback() {
        IpAddr::V4(a) => format!("tcp://{a}:"),
        IpAddr::V6(a) => format!("tcp://[{a}]:"),
    }
}

/// A raw libzmq socket of the tests' family (ZMQ_IPV6 over IPv6), linger 0.
pub fn zmq_socket(ctx: &ryre::zmq::Context, kind: ryre::zmq::SocketType) -> ryre::zmq::Socket {
    let s = ctx.socket(kind).expect("a zmq socket");
    s.set_linger(0).expect("linger");
    s.set_ipv6(ipv6()).expect("ipv6");
    s
}

/// A node with this name on the tests' interface and address family (no other setting).
pub fn node(name: &str) -> NodeBuilder {
    Node::builder()
        .name(name)
        .interface(interface())
        .ipv6(ipv6())
}

/// A node on loopback (the tests' interface) with fast beacons and the given beacon port.
pub fn builder(port: u16, name: &str) -> NodeBuilder {
    node(name).port(port).interval(Duration::from_millis(100))
}

/// Sends one UDP datagram where the nodes of [`builder`] hear beacons on `port`: the IPv4
/// broadcast of loopback, or the IPv6 group `ff02::1` on the tests' interface.
pub fn send_beacon(port: u16, datagram: &[u8]) {
    if ipv6() {
        let i6 = ryre::Interface6::find(Some(&interface())).expect("the tests' IPv6 interface");
        let udp = UdpSocket::bind(SocketAddr::new(IpAddr::V6(i6.addr), 0)).expect("udp");
        let to = SocketAddrV6::new("ff02::1".parse().expect("group"), port, 0, i6.index);
        udp.send_to(datagram, to).expect("send the beacon");
    } else {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
        udp.set_broadcast(true).expect("broadcast");
        udp.send_to(datagram, ("127.255.255.255", port))
            .expect("send the beacon");
    }
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
