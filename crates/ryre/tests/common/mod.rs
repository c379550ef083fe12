//! Shared helpers for the node tests (loopback only, OS-chosen ports, bounded waits): they live
//! in `ryre-testkit`.
#![allow(unused_imports)]

pub use ryre_testkit::{
    builder, expect, free_udp_port, interface, ipv6, local_endpoint, local_prefix, loopback,
    meet_in, node, send_beacon, zmq_socket, WAIT,
};
