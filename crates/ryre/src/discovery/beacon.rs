//! ZRE UDP beacons: one socket per node, bound to the interface's broadcast address and the beacon
//! port with SO_REUSEADDR + SO_REUSEPORT (so Zyre, Pyre and other ryre nodes on the host share it),
//! sending to the interface's directed broadcast address.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use bytes::Bytes;
use ryre_proto::beacon::Beacon;
use socket2::{Domain, Protocol, Socket, Type};

use super::Interface;

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
    target: SocketAddr,
    iface: Interface,
    buf: Vec<u8>,
}

impl BeaconSocket {
    /// Opens the socket on `iface` and UDP `port`.
    pub fn open(iface: &Interface, port: u16) -> io::Result<Self> {
        Ok(BeaconSocket {
            socket: open_socket(iface, port)?,
            target: SocketAddr::V4(SocketAddrV4::new(iface.broadcast, port)),
            iface: iface.clone(),
            buf: vec![0u8; 512],
        })
    }

    /// The file descriptor to poll for readability.
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Broadcasts one beacon.
    pub fn send(&self, beacon: &Beacon) -> io::Result<()> {
        self.socket.send_to(&beacon.encode(), self.target)?;
        Ok(())
    }

    /// Broadcasts one datagram (a secure node's v3 or signed beacon).
    pub fn send_bytes(&self, datagram: &[u8]) -> io::Result<()> {
        self.socket.send_to(datagram, self.target)?;
        Ok(())
    }

    /// Reads one datagram, if any is waiting.
    pub fn recv(&mut self) -> io::Result<Option<Heard>> {
        let (n, from) = match self.socket.recv_from(&mut self.buf) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        let IpAddr::V4(ip) = from.ip() else {
            return Ok(Some(Heard::Elsewhere));
        };
        if !self.iface.contains(ip) {
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
