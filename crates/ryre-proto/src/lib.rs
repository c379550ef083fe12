//! # ryre-proto: the sans-IO heart of ryre
//!
//! Everything ryre knows about the ZRE protocol (RFC 36/ZRE, as Zyre and Pyre speak it) lives
//! here, with no sockets, no clock and no threads:
//!
//! - [`beacon`]: UDP discovery beacons (22-byte v1, 54-byte v3).
//! - [`msg`]: ZRE messages 1..10, encode and decode (decoders never panic).
//! - [`zgp`]: ZGP, CZMQ's gossip protocol (Zyre's gossip discovery): codec and session machines.
//! - [`NodeState`]: peers, groups, sequence numbers, status, liveness and elections. Feed it what
//!   happened with [`NodeState::handle`] and [`NodeState::handle_timeout`], then drain what it wants
//!   done with [`NodeState::poll_transmit`], [`NodeState::poll_event`] and
//!   [`NodeState::poll_timeout`].
//!
//! The `ryre` crate drives this over real sockets; a simulator can drive it over a virtual network.
#![warn(missing_docs)]

pub mod beacon;
mod election;
mod event;
mod frames;
mod group;
mod id;
pub mod msg;
mod node;
mod peer;
pub mod rendezvous;
pub mod security;
pub mod zgp;

pub use event::{Event, ExitReason};
pub use frames::{Frames, Transmit};
pub use group::GroupSet;
pub use id::{ParsePeerIdError, PeerId};
pub use msg::Content;
pub use node::{Command, Config, Input, NodeState, PeerInfo, PeerState, Problem, Stats};
