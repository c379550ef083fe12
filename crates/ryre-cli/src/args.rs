//! Arguments shared by several subcommands, and the value parsers that validate them (a value
//! they reject makes clap exit with code 2).

use std::time::Duration;

use clap::Args;
use ryre::{Node, NodeBuilder};

/// Where and how a node looks for peers.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Network interface to beacon on, by name (eth0, lo) or address (IPv4, or IPv6 with
    /// --ipv6/--dual-stack) [default: the first broadcast-capable interface].
    #[arg(long, value_name = "IF", value_parser = InterfaceParser)]
    pub interface: Option<String>,
    /// UDP beacon port [default: 5670].
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Milliseconds between beacons [default: 1000].
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub interval: Option<Duration>,
    /// How to find peers: auto (the machine's agent plus its UDP beacons), local (the machine's
    /// agent only, no UDP), beacon (plain ZRE beacons) or off [default: auto].
    #[arg(long, value_name = "MODE")]
    pub discovery: Option<ryre::Discovery>,
    /// TCP port of the device rendezvous on 127.0.0.1 [default: the beacon port].
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u16).range(1..))]
    pub rendezvous_port: Option<u16>,
    /// Serve gossip (ZGP, as Zyre's gossip) at this ZeroMQ endpoint, e.g. tcp://10.0.0.1:5670;
    /// turns beacons off unless --discovery is given too.
    #[arg(long, value_name = "ENDPOINT")]
    pub gossip_bind: Option<String>,
    /// Gossip through the hub at this endpoint (repeatable); turns beacons off unless
    /// --discovery is given too.
    #[arg(long, value_name = "ENDPOINT")]
    pub gossip_connect: Vec<String>,
    /// Gossip through the machine's agent: one session per hub for every node of this host
    /// that asks (the node then runs --discovery local unless --discovery is given).
    #[arg(long, requires = "gossip_connect")]
    pub gossip_agent: bool,
    /// Announce this inbox endpoint to peers instead of the bound one (NAT, port forwards),
    /// e.g. tcp://203.0.113.5:6000.
    #[arg(long, value_name = "ENDPOINT")]
    pub advertise: Option<String>,
    /// Secure mode (CURVE on every link, keys bound to UUIDs, signed beacons) with this key
    /// directory: its own key pair (node.secret, mode 0600) and the peers it trusts (peers/*);
    /// make one with `ryre keys new DIR`.
    #[arg(long, value_name = "DIR")]
    pub curve_keys: Option<std::path::PathBuf>,
    /// Secure mode trusting any key on first use, each peer pinned to the first key seen for it
    /// (own key pair from --curve-keys, or a fresh one).
    #[arg(long)]
    pub tofu: bool,
    /// Certified mode with this certificate and key pair, DIR/NAME (the files NAME.cert and
    /// NAME.secret of `ryre cert issue`): CURVE links, and peers may use only the groups and
    /// rights their certificates grant. Needs --trust.
    #[arg(long, value_name = "DIR/NAME", conflicts_with_all = ["curve_keys", "tofu"])]
    pub cert: Option<std::path::PathBuf>,
    /// A trusted root CA certificate (CA.cert of `ryre cert ca`), for certified mode; repeatable.
    #[arg(long, value_name = "CA.cert", requires = "cert")]
    pub trust: Vec<std::path::PathBuf>,
    /// Certified mode's revocation file: read at start, and kept up to date with what peers
    /// pass on.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub revocations: Option<std::path::PathBuf>,
    /// Bind the inbox to this ZeroMQ endpoint instead of the interface address on a port the OS picks (e.g.
    /// tcp://192.168.1.5:6000, the target of a port forward).
    #[arg(long, value_name = "ENDPOINT")]
    pub endpoint: Option<String>,
    /// IPv6 instead of IPv4: the inbox on the interface's IPv6 address, beacons to the IPv6
    /// multicast group ff02::1 on that interface (as Zyre with ZSYS_IPV6=1).
    #[arg(long)]
    pub ipv6: bool,
    /// IPv4 and IPv6 at once: the inbox on both addresses, beacons over both.
    #[arg(long, conflicts_with = "ipv6")]
    pub dual_stack: bool,
}

impl NetArgs {
    /// A builder carrying these settings.
    pub fn builder(&self) -> NodeBuilder {
        let mut b = Node::builder();
        if let Some(i) = &self.interface {
            b = b.interface(i.clone());
        }
        if let Some(p) = self.port {
            b = b.port(p);
        }
        if let Some(i) = self.interval {
            b = b.interval(i);
        }
        if let Some(d) = self.discovery {
            b = b.discovery(d);
        }
        if let Some(p) = self.rendezvous_port {
            b = b.rendezvous_port(p);
        }
        if let Some(e) = &self.gossip_bind {
            b = b.gossip_bind(e.clone());
        }
        for e in &self.gossip_connect {
            b = b.gossip_connect(e.clone());
        }
        if self.gossip_agent {
            b = b.gossip_via_agent(true);
        }
        if let Some(e) = &self.advertise {
            b = b.advertised_endpoint(e.clone());
        }
        if let Some(e) = &self.endpoint {
            b = b.endpoint(e.clone());
        }
        if self.ipv6 {
            b = b.ipv6(true);
        }
        if self.dual_stack {
            b = b.dual_stack(true);
        }
        if let Some(d) = &self.curve_keys {
            b = b.curve_key_dir(d.clone());
        }
        if let Some(c) = &self.cert {
            b = b.certificate(c.clone());
        }
        for t in &self.trust {
            b = b.trust_ca(t.clone());
        }
        if let Some(r) = &self.revocations {
            b = b.revocations(r.clone());
        }
        b.tofu(self.tofu)
    }
}

/// Accepts an interface that exists and is up with an IPv4 or an IPv6 address (whether it has
/// the one the node needs is checked when the node starts).
pub fn parse_interface(s: &str) -> Result<String, String> {
    match ryre::Interface::find(Some(s)) {
        Ok(_) => Ok(s.to_string()),
        Err(e) => match ryre::Interface6::find(Some(s)) {
            Ok(_) => Ok(s.to_string()),
            Err(_) => Err(e
                .to_string()
                .replace("an IPv4 address", "an IPv4 or IPv6 address")),
        },
    }
}

/// The clap parser of `--interface`: [`parse_interface`], with an error that names the value
/// once, shortened (a parser function's error would be prefixed with the whole value again).
#[derive(Debug, Clone, Copy)]
pub struct InterfaceParser;

impl clap::builder::TypedValueParser for InterfaceParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        use clap::error::ErrorKind;
        let fail = |kind, text: String| clap::Error::raw(kind, format!("{text}\n")).with_cmd(cmd);
        let s = value.to_str().ok_or_else(|| {
            fail(
                ErrorKind::InvalidUtf8,
                "--interface is not valid UTF-8".into(),
            )
        })?;
        parse_interface(s)
            .map_err(|e| fail(ErrorKind::ValueValidation, format!("--interface: {e}")))
    }
}

/// A `KEY=VALUE` header.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        Some(_) => Err(format!(
            "header {s:?} has an empty name; expected KEY=VALUE"
        )),
        None => Err(format!("header {s:?} has no '='; expected KEY=VALUE")),
    }
}

/// A positive number of milliseconds.
pub fn parse_millis(s: &str) -> Result<Duration, String> {
    let ms: u64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of milliseconds"))?;
    if ms == 0 {
        return Err("must be at least 1 millisecond".into());
    }
    Ok(Duration::from_millis(ms))
}

/// A positive, finite number of seconds (fractions allowed, e.g. `0.5`).
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(format!(
            "{s} seconds: must be above zero and at most 1e9 (about 31 years)"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_header("a="), Ok(("a".into(), String::new())));
        assert!(parse_header("ab").is_err());
        assert!(parse_header("=b").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_millis("5"), Ok(Duration::from_millis(5)));
        assert!(parse_millis("0").is_err());
        assert!(parse_millis("-1").is_err());
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("nan").is_err());
        assert!(parse_secs("inf").is_err());
    }

    #[test]
    fn interfaces() {
        assert!(parse_interface("lo").is_ok());
        if ryre::Interface6::find(Some("::1")).is_ok() {
            assert!(parse_interface("::1").is_ok());
        }
        assert!(parse_interface("2001:db8::99").is_err());
        assert!(parse_interface("no-such-if0").is_err());
    }
}
