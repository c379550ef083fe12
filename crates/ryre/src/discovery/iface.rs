//! Choosing the network interface a node beacons on.

use std::net::{Ipv4Addr, Ipv6Addr};

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
    /// Nothing with that name or address is up with an IPv6 address.
    #[error("no network interface named or addressed {} is up with an IPv6 address", quote_short(.0))]
    NotFoundV6(String),
    /// No interface has an IPv6 address, not even loopback: IPv6 is off on this host.
    #[error("no network interface has an IPv6 address, not even lo: IPv6 is off on this host")]
    NoIpv6,
}

/// `s` quoted for an error message; a long one cut to its first 40 characters and its length.
pub(crate) fn quote_short(s: &str) -> String {
    const KEEP: usize = 40;
    match s.char_indices().nth(KEEP) {
        Some((end, _)) => format!("{:?}... ({} bytes)", &s[..end], s.len()),
        None => format!("{s:?}"),
    }
}

/// Whether any interface that is up has an IPv4 address (loopback's 127.0.0.1 included): not so
/// on an IPv6-only host, where a node (and a ryre-log collector) falls back to IPv6 by itself.
///
/// ```
/// // On an ordinary host loopback has 127.0.0.1.
/// let _ = ryre::has_ipv4();
/// ```
pub fn has_ipv4() -> bool {
    getifaddrs().is_ok_and(|mut all| {
        all.any(|ifa| {
            ifa.flags.contains(InterfaceFlags::IFF_UP)
                && ifa
                    .address
                    .as_ref()
                    .and_then(|a| a.as_sockaddr_in())
                    .is_some()
        })
    })
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

/// An IPv6 interface a node can beacon on (multicast to `ff02::1` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface6 {
    /// Its name, e.g. `eth0` or `lo`.
    pub name: String,
    /// Its index: the scope of its link-local addresses and where multicast groups are joined.
    pub index: u32,
    /// Its IPv6 address: the inbox binds here, beacons are sent from here, peers connect here.
    /// A global or unique-local address is preferred to a link-local one.
    pub addr: Ipv6Addr,
    /// The length of its prefix (beacons from elsewhere than the link or this prefix are
    /// ignored).
    pub prefix_len: u8,
    /// Whether the interface takes multicast (loopback does not: no IPv6 beacons there).
    pub multicast: bool,
}

/// Whether `ip` is link-local (`fe80::/10`): meaningful only with the interface it is on.
pub(crate) fn is_link_local(ip: &Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

impl Interface6 {
    /// Loopback: `::1` on `lo` (no multicast: ZeroMQ only, no beacons).
    pub fn loopback() -> Self {
        Interface6 {
            name: "lo".into(),
            index: nix::net::if_::if_nametoindex("lo").unwrap_or(1),
            addr: Ipv6Addr::LOCALHOST,
            prefix_len: 128,
            multicast: false,
        }
    }

    /// Whether the address is link-local (then endpoints carry the interface as scope locally).
    pub fn is_link_local(&self) -> bool {
        is_link_local(&self.addr)
    }

    /// Whether `ip` is on this interface's prefix.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        let len = u32::from(self.prefix_len.min(128));
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        u128::from(ip) & mask == u128::from(self.addr) & mask
    }

    /// The host part of this interface's endpoints as ZeroMQ binds it: `[addr]`, or
    /// `[addr%name]` for a link-local address.
    pub fn bind_host(&self) -> String {
        if self.is_link_local() {
            format!("[{}%{}]", self.addr, self.name)
        } else {
            format!("[{}]", self.addr)
        }
    }

    /// Finds an interface by name (`eth0`) or IPv6 address (`fd00::5`, `fe80::1%eth0`, with or
    /// without brackets); `None` picks the first up, non-loopback, multicast-capable interface
    /// with an IPv6 address, or loopback (`::1`) when there is none (an error when the host has
    /// no IPv6 at all). Of an interface's addresses, a
    /// global or unique-local one is taken before a link-local one.
    pub fn find(wanted: Option<&str>) -> Result<Interface6, InterfaceError> {
        let not_found = || InterfaceError::NotFoundV6(wanted.unwrap_or_default().to_string());
        // An address: with an optional scope (`%eth0`) and optional brackets.
        let by_addr = wanted.and_then(|w| {
            let w = w
                .strip_prefix('[')
                .and_then(|w| w.strip_suffix(']'))
                .unwrap_or(w);
            let (a, scope) = match w.split_once('%') {
                Some((a, s)) => (a, Some(s)),
                None => (w, None),
            };
            Some((a.parse::<Ipv6Addr>().ok()?, scope))
        });
        let mut best: Option<(bool, Interface6)> = None;
        let mut loopback6 = None;
        for ifa in getifaddrs()? {
            let Some(sin6) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in6()) else {
                continue;
            };
            let addr = sin6.ip();
            let flags = ifa.flags;
            if !flags.contains(InterfaceFlags::IFF_UP) || addr.is_unspecified() {
                continue;
            }
            let prefix_len = ifa
                .netmask
                .as_ref()
                .and_then(|a| a.as_sockaddr_in6())
                .map(|m| u128::from(m.ip()).count_ones() as u8)
                .unwrap_or(128);
            let loopback = flags.contains(InterfaceFlags::IFF_LOOPBACK);
            let index = match nix::net::if_::if_nametoindex(ifa.interface_name.as_str()) {
                Ok(i) => i,
                Err(_) => continue,
            };
            let candidate = Interface6 {
                name: ifa.interface_name.clone(),
                index,
                addr,
                prefix_len,
                multicast: flags.contains(InterfaceFlags::IFF_MULTICAST) && !loopback,
            };
            if loopback && addr == Ipv6Addr::LOCALHOST && loopback6.is_none() {
                loopback6 = Some(candidate.clone());
            }
            let fits = match (wanted, by_addr) {
                (_, Some((a, scope))) => {
                    a == addr && scope.is_none_or(|s| s == candidate.name || s == index.to_string())
                }
                (Some(w), None) => w == candidate.name || (w == "loopback" && loopback),
                (None, _) => candidate.multicast,
            };
            if !fits {
                continue;
            }
            if by_addr.is_some() {
                return Ok(candidate);
            }
            let global = !is_link_local(&addr);
            match &best {
                // A global address of the interface already found beats its link-local one;
                // another interface never replaces the first one found.
                Some((g, b)) if *g || b.name != candidate.name || !global => {}
                _ => best = Some((global, candidate)),
            }
        }
        match (best, wanted) {
            (Some((_, b)), _) => Ok(b),
            // No IPv6 at all (not even ::1): IPv6 is off here.
            (None, None) => loopback6.ok_or(InterfaceError::NoIpv6),
            (None, Some(_)) => Err(not_found()),
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

    #[test]
    fn ipv6_loopback_by_name_and_address() {
        let Ok(lo) = Interface6::find(Some("lo")) else {
            eprintln!("SKIP: no ::1 on lo (IPv6 disabled here)");
            return;
        };
        assert_eq!(lo.addr, Ipv6Addr::LOCALHOST);
        assert!(!lo.multicast, "loopback takes no multicast");
        assert_eq!(lo.bind_host(), "[::1]");
        assert_eq!(Interface6::find(Some("::1")).unwrap().name, "lo");
        assert_eq!(Interface6::find(Some("[::1]")).unwrap().name, "lo");
        assert!(Interface6::find(Some("::1%no-such-if0")).is_err());
    }

    #[test]
    fn ipv6_unknown_interface_is_a_clear_error() {
        let e = Interface6::find(Some("no-such-if0")).unwrap_err();
        assert!(e.to_string().contains("no-such-if0"), "{e}");
        assert!(e.to_string().contains("IPv6"), "{e}");
        assert!(Interface6::find(Some("2001:db8::77")).is_err());
    }

    #[test]
    fn ipv6_prefixes_and_scopes() {
        let i = Interface6 {
            name: "eth9".into(),
            index: 9,
            addr: "fd00:1:2:3::5".parse().unwrap(),
            prefix_len: 64,
            multicast: true,
        };
        assert!(i.contains("fd00:1:2:3::99".parse().unwrap()));
        assert!(!i.contains("fd00:1:2:4::5".parse().unwrap()));
        assert_eq!(i.bind_host(), "[fd00:1:2:3::5]");
        let ll = Interface6 {
            addr: "fe80::5".parse().unwrap(),
            ..i
        };
        assert!(ll.is_link_local());
        assert_eq!(ll.bind_host(), "[fe80::5%eth9]");
        assert!(!is_link_local(&"fec0::1".parse().unwrap()));
        let all = Interface6 {
            prefix_len: 0,
            ..ll
        };
        assert!(all.contains("2001:db8::1".parse().unwrap()));
    }
}
