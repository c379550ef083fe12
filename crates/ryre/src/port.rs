//! Choosing a port for a private group of nodes on this machine.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

/// The kernel's range of ephemeral ports (`/proc/sys/net/ipv4/ip_local_port_range`).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// A port that is free on 127.0.0.1 (`::1` on a host without it) for both UDP and TCP and outside the kernel's ephemeral
/// range, for a group of nodes of its own on this machine: give it to [`crate::NodeBuilder::port`]
/// (beacons and the device rendezvous then use it) on `lo`, and only nodes given the same port
/// meet. Tests, demos and benchmarks use it so that they never meet strangers.
///
/// The port is outside the ephemeral range because the rendezvous must be able to bind it: a
/// port that is the local end of some outgoing TCP connection cannot be listened on.
pub fn private_port() -> io::Result<u16> {
    let (lo, hi) = ephemeral_range();
    // Candidates: 10000 up to the ephemeral range, or above it when it starts too low.
    let (first, last) = if lo > 11000 {
        (10000u16, lo - 1)
    } else {
        (hi.saturating_add(1).max(1024), u16::MAX)
    };
    let span = u32::from(last - first) + 1;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().wrapping_mul(2_654_435_761);
    let mut x = seed | 1;
    // Loopback's IPv4 address, or its IPv6 one on a host without IPv4 (the device rendezvous
    // binds there too).
    let lo4 = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).is_ok();
    let ip = if lo4 {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    };
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let port = first + (x % span) as u16;
        let addr = SocketAddr::new(ip, port);
        if UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        "no free port outside the ephemeral range",
    ))
}
