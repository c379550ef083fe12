//! ZRE UDP beacons: one socket per node, bound to the interface's broadcast address and the beacon
//! port with SO_REUSEADDR + SO_REUSEPORT (so Zyre, Pyre and other ryre nodes on the host share it),
//! sending to the interface's directed broadcast address.
//!
//! Over IPv6 (Zyre's IPv6 beacons) the same bytes go to a multicast group (`ff02::1` by
//! default) on one interface: one socket bound to the group on that interface hears them
//! (shared as above), a second one bound to the interface's address sends them, so that their
//! source (which peers connect to) is that address and not one the kernel picks.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use bytes::Bytes;
use ryre_proto::beacon::Beacon;
use socket2::{Domain, Protocol, Socket, Type};

use super::{is_link_local, Interface, Interface6};

/// Zyre's default IPv6 beacon group: all nodes on the link.
pub(crate) const DEFAULT_IPV6_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Whose beacons a socket takes.
enum Link {
    /// From the IPv4 interface's subnet.
    V4(Interface),
    /// From the IPv6 interface's link (link-local sources, by scope) or prefix.
    V6(Interface6),
}

/// A datagram from the beacon port.
#[derive(Debug)]
pub(crate) enum Heard {
    /// From our subnet: for the heart to decode.
    Datagram { from: IpAddr, data: Bytes },
    /// From outside the interface's subnet: ignored.
    Elsewhere,
}

/// A node's beacon socket.
pub(crate) struct BeaconSocket {
    socket: UdpSocket,
    /// IPv6: the socket beacons are sent from (bound to the interface's address).
    sender: Option<UdpSocket>,
    target: SocketAddr,
    link: Link,
    buf: Vec<u8>,
}

impl BeaconSocket {
    /// Opens the socket on `iface` and UDP `port`.
    pub fn open(iface: &Interface, port: u16) -> io::Result<Self> {
        Ok(BeaconSocket {
            socket: open_socket(iface, port)?,
            sender: None,
            target: SocketAddr::V4(SocketAddrV4::new(iface.broadcast, port)),
            link: Link::V4(iface.clone()),
            buf: vec![0u8; 512],
        })
    }

    /// Opens IPv6 beacon sockets on `iface`: hearing `group` (a multicast address, joined on
    /// that interface only) at UDP `port`, sending from the interface's address to it.
    pub fn open_v6(iface: &Interface6, port: u16, group: Ipv6Addr) -> io::Result<Self> {
        if !group.is_multicast() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{group} is not an IPv6 multicast address"),
            ));
        }
        if !iface.multicast {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} takes no multicast: IPv6 beacons need a multicast-capable interface",
                    iface.name
                ),
            ));
        }
        let hear = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        hear.set_only_v6(true)?;
        hear.set_reuse_address(true)?;
        hear.set_reuse_port(true)?;
        hear.set_nonblocking(true)?;
        hear.set_cloexec(true)?;
        // Bound to the group with the interface as scope: only the group's datagrams, and only
        // those that arrive on this interface.
        hear.bind(&SocketAddrV6::new(group, port, 0, iface.index).into())?;
        hear.join_multicast_v6(&group, iface.index)?;
        let send = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        send.set_only_v6(true)?;
        send.set_nonblocking(true)?;
        send.set_cloexec(true)?;
        send.set_multicast_if_v6(iface.index)?;
        send.set_multicast_loop_v6(true)?;
        let scope = if iface.is_link_local() {
            iface.index
        } else {
            0
        };
        send.bind(&SocketAddrV6::new(iface.addr, 0, 0, scope).into())?;
        Ok(BeaconSocket {
            socket: hear.into(),
            sender: Some(send.into()),
            target: SocketAddr::V6(SocketAddrV6::new(group, port, 0, iface.index)),
            link: Link::V6(iface.clone()),
            buf: vec![0u8; 512],
        })
    }

    /// The file descriptor to poll for readability.
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Broadcasts one beacon.
    pub fn send(&self, beacon: &Beacon) -> io::Result<()> {
        self.send_bytes(&beacon.encode())
    }

    /// Broadcasts one datagram (a beacon, or a secure node's v3 or signed beacon).
    pub fn send_bytes(&self, datagram: &[u8]) -> io::Result<()> {
        let out = self.sender.as_ref().unwrap_or(&self.socket);
        out.send_to(datagram, self.target)?;
        Ok(())
    }

    /// Reads one datagram, if any is waiting.
    pub fn recv(&mut self) -> io::Result<Option<Heard>> {
        let (n, from) = match self.socket.recv_from(&mut self.buf) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        let ours = match (&self.link, from) {
            (Link::V4(iface), SocketAddr::V4(a)) => iface.contains(*a.ip()),
            // A link-local source carries the interface it came through as its scope.
            (Link::V6(iface), SocketAddr::V6(a)) if is_link_local(a.ip()) => {
                a.scope_id() == iface.index
            }
            (Link::V6(iface), SocketAddr::V6(a)) => iface.contains(*a.ip()),
            _ => false,
        };
        if !ours {
            return Ok(Some(Heard::Elsewhere));
        }
        Ok(Some(Heard::Datagram {
            from: from.ip(),
            data: Bytes::copy_from_slice(&self.buf[..n]),
        }))
    }
}

/// A non-blocking UDP socket bound to `iface`'s broadcast address and `port`, shared with every
/// other beacon socket there (SO_REUSEADDR + SO_REUSEPORT, as Zyre and Pyre do).
pub(crate) fn open_socket(iface: &Interface, port: u16) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_broadcast(true)?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    let bind = SocketAddrV4::new(iface.broadcast, port);
    socket.bind(&bind.into())?;
    Ok(socket.into())
}

/// `tcp://ip:port`.
pub(crate) fn endpoint(ip: Ipv4Addr, port: u16) -> String {
    format!("tcp://{ip}:{port}")
}

/// `tcp://[ip]:port`: what a node on `iface` announces (a link-local address without its
/// `%scope`, which means nothing to the peer: the peer adds its own, see
/// `transport::with_scope`).
pub(crate) fn endpoint6(ip: Ipv6Addr, port: u16) -> String {
    format!("tcp://[{ip}]:{port}")
}
