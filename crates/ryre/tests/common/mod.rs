//! Shared helpers for the node tests (loopback only, OS-chosen ports, bounded waits): they live
//! in `ryre-testkit`.
#![allow(unused_imports)]

pub use ryre_testkit::{builder, expect, free_udp_port, meet_in, WAIT};
