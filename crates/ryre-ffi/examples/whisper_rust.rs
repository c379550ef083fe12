//! The baseline of the bindings' whisper benchmark, on the Rust API: two nodes on loopback;
//! alice whispers 16-byte messages to bob in rounds of 1000 and bob takes each round before the
//! next is sent. Prints `whisper16 rust <messages> <seconds> <messages/s>`. The C, C#, Java and
//! Ruby versions (scripts/test-bindings.sh runs them all in one go) do exactly the same.
//!
//! `cargo run --release -p ryre-ffi --example whisper_rust -- 200000`

use std::time::{Duration, Instant};

use ryre::{Event, Node};

const ROUND: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let port = ryre::private_port()?;
    let start = |name: &str| {
        Node::builder()
            .name(name)
            .interface("lo")
            .port(port)
            .interval(Duration::from_millis(100))
            .start()
    };
    let alice = start("alice")?;
    let bob = start("bob")?;
    let wait = Duration::from_secs(10);
    let bob_id = loop {
        match alice.recv_timeout(wait)? {
            Some(Event::Enter { peer, .. }) => break peer,
            Some(_) => {}
            None => return Err("bob never entered".into()),
        }
    };
    loop {
        match bob.recv_timeout(wait)? {
            Some(Event::Enter { .. }) => break,
            Some(_) => {}
            None => return Err("alice never entered".into()),
        }
    }
    let payload = [0x5au8; 16];
    let t0 = Instant::now();
    let mut got = 0;
    while got < total {
        let round = ROUND.min(total - got);
        for _ in 0..round {
            alice.whisper(bob_id, [ryre::Bytes::copy_from_slice(&payload)])?;
        }
        let mut n = 0;
        while n < round {
            match bob.recv_timeout(wait)? {
                Some(Event::Whisper { content, .. }) if content[0].len() == 16 => n += 1,
                Some(_) => {}
                None => return Err(format!("stalled after {} messages", got + n).into()),
            }
        }
        got += round;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "whisper16 rust {total} {secs:.3} {:.0}",
        total as f64 / secs
    );
    alice.stop()?;
    bob.stop()?;
    Ok(())
}
