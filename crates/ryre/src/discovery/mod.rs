//! Ways a node learns that peers exist. Each produces the same input for the heart: "peer U is
//! reachable at endpoint E" (or "peer U is leaving").

pub mod agent;
pub(crate) mod beacon;
pub(crate) mod gossip;
mod iface;
pub(crate) mod inproc;
pub(crate) mod local;

pub use iface::has_ipv4;
pub(crate) use iface::{is_link_local, quote_short};
pub use iface::{Interface, Interface6, InterfaceError};
