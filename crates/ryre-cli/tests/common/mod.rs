//! Helpers of the end-to-end tests of the `ryre` binary: `ryre-testkit`'s child-process guard
//! (killed and reaped on drop, bounded waits on its output) bound to this crate's binary.
#![allow(dead_code, unused_imports)]

use std::ops::{Deref, DerefMut};
use std::process::ExitStatus;

pub use ryre_testkit::{free_udp_port, PROC_WAIT as WAIT};

/// The `ryre` binary built for these tests.
pub const RYRE: &str = env!("CARGO_BIN_EXE_ryre");

/// A running `ryre` process ([`ryre_testkit::Proc`] of [`RYRE`]); killed (and reaped) on drop.
pub struct Proc(pub ryre_testkit::Proc);

impl Proc {
    pub fn spawn(label: &str, args: &[&str]) -> Proc {
        Proc(ryre_testkit::Proc::spawn(RYRE, label, args))
    }

    /// A node on loopback with fast beacons, printing JSON, with extra arguments.
    pub fn node(label: &str, port: u16, extra: &[&str]) -> Proc {
        Proc(ryre_testkit::Proc::node(RYRE, label, port, extra))
    }
}

impl Deref for Proc {
    type Target = ryre_testkit::Proc;
    fn deref(&self) -> &ryre_testkit::Proc {
        &self.0
    }
}

impl DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut ryre_testkit::Proc {
        &mut self.0
    }
}

/// Runs `ryre` to completion with a deadline; (status, stdout, stderr).
pub fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let mut p = Proc::spawn("run", args);
    drop(p.stdin.take());
    let status = p.finish();
    let stdout = p.seen.join("\n");
    (status, stdout, p.stderr_text())
}
