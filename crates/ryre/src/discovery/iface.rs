//! Choosing the network interface a node beacons on.

use std::net::Ipv4Addr;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

/// An IPv4 interface a node can beacon on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name, e.g. `eth0` or `lo`.
    pub name: String,
    /// Its IPv4 address: the inbox binds here and peers connect here.
    pub addr: Ipv4Addr,
    /// Where beacons go: the directed broadcast address of its subnet.
    pub broadcast: Ipv4Addr,
    /// Its netmask.
    pub netmask: Ipv4Addr,
}

/// No interface fits what was asked.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    /// The interface list could not be read.
    #[error("cannot list network interfaces: {0}")]
    List(#[from] nix::Error),
    /// Nothing with that name or address is up with an IPv4 address.
    #[error("no network interface named or addressed {} is up with an IPv4 address", quote_short(.0))]
    NotFound(String),
}

/// `s` quoted for an error message; a long one cut to its first 40 characters and its length.
pub(crate) fn quote_short(s: &str) -> String {
    const KEEP: usize = 40;
    match s.char_indices().nth(KEEP) {
        Some((end, _)) => format!("{:?}... ({} bytes)", &s[..end], s.len()),
        None => format!("{s:?}"),
    }
}

impl Interface {
    /// Loopback: 127.0.0.1, beacons to 127.255.255.255.
    pub fn loopback() -> Self {
        Interface {
            name: "lo".into(),
            addr: Ipv4Addr::LOCALHOST,
            broadcast: Ipv4Addr::new(127, 255, 255, 255),
            netmask: Ipv4Addr::new(255, 0, 0, 0),
        }
    }

    /// Whether `ip` is on this interface's subnet (beacons from elsewhere are ignored).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.netmask);
        u32::from(ip) & m == u32::from(self.addr) & m
    }

    /// Finds an interface by name (`eth0`) or IPv4 address (`10.0.0.5`); `None` picks the first
    /// up, non-loopback, broadcast-capable IPv4 interface, or loopback when there is none.
    pub fn find(wanted: Option<&str>) -> Result<Interface, InterfaceError> {
        let mut first = None;
        for ifa in getifaddrs()? {
            let Some(addr) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) else {
                continue;
            };
            let addr = addr.ip();
            let netmask = ifa
                .netmask
                .as_ref()
                .and_then(|a| a.as_sockaddr_in())
                .map(|a| a.ip())
                .unwrap_or(Ipv4Addr::BROADCAST);
            let flags = ifa.flags;
            if !flags.contains(InterfaceFlags::IFF_UP) {
                continue;
            }
            let loopback = flags.contains(InterfaceFlags::IFF_LOOPBACK);
            let broadcast = if loopback {
                Ipv4Addr::from(u32::from(addr) | !u32::from(netmask))
            } else {
                ifa.broadcast
                    .as_ref()
                    .and_then(|a| a.as_sockaddr_in())
                    .map(|a| a.ip())
                    .filter(|b| *b != addr)
                    .unwrap_or_else(|| Ipv4Addr::from(u32::from(addr) | !u32::from(netmask)))
            };
            let candidate = Interface {
                name: ifa.interface_name.clone(),
                addr,
                broadcast,
                netmask,
            };
            match wanted {
                Some(w) if w == candidate.name || w.parse() == Ok(addr) => return Ok(candidate),
                Some(_) => {}
                None => {
                    let usable = !loopback
                        && flags.contains(InterfaceFlags::IFF_BROADCAST)
                        && !flags.contains(InterfaceFlags::IFF_POINTOPOINT);
                    if usable && first.is_none() {
                        first = Some(candidate);
                    }
                }
            }
        }
        match wanted {
            Some(w) if w == "lo" || w == "127.0.0.1" || w == "loopback" => {
                Ok(Interface::loopback())
            }
            Some(w) => Err(InterfaceError::NotFound(w.to_string())),
            None => Ok(first.unwrap_or_else(Interface::loopback)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_by_name_and_address() {
        let lo = Interface::find(Some("lo")).unwrap();
        assert_eq!(lo.addr, Ipv4Addr::LOCALHOST);
        assert_eq!(lo.broadcast, Ipv4Addr::new(127, 255, 255, 255));
        assert_eq!(Interface::find(Some("127.0.0.1")).unwrap().addr, lo.addr);
        assert!(lo.contains(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(!lo.contains(Ipv4Addr::new(10, 0, 0, 1)));
    }

    #[test]
    fn unknown_interface_is_a_clear_error() {
        let e = Interface::find(Some("no-such-if0")).unwrap_err();
        assert!(e.to_string().contains("no-such-if0"));
    }
}
