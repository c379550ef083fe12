//! Two nodes in one process meet on loopback, join a group, shout and whisper, then stop.
//!
//! `cargo run -p ryre --example pair`

use std::time::Duration;

use ryre::{Event, Node};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A beacon port of our own, so this example meets only itself.
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
    alice.join("chat")?;
    bob.join("chat")?;

    // Wait (at most 5 s) until alice sees bob in the group, then talk.
    loop {
        match alice.recv_timeout(Duration::from_secs(5))? {
            Some(Event::Join { name, group, .. }) => {
                println!("alice: {name} joined {group}");
                break;
            }
            Some(_) => {}
            None => return Err("bob never joined".into()),
        }
    }
    alice.shout_str("chat", "hello, chat")?;
    alice.whisper_str(bob.uuid(), "hello, bob")?;
    let mut got = 0;
    while got < 2 {
        match bob.recv_timeout(Duration::from_secs(5))? {
            Some(Event::Shout {
                name,
                group,
                content,
                ..
            }) => {
                println!(
                    "bob: {name} shouted to {group}: {}",
                    String::from_utf8_lossy(&content[0])
                );
                got += 1;
            }
            Some(Event::Whisper { name, content, .. }) => {
                println!(
                    "bob: {name} whispered: {}",
                    String::from_utf8_lossy(&content[0])
                );
                got += 1;
            }
            Some(_) => {}
            None => return Err("messages did not arrive".into()),
        }
    }
    bob.stop()?;
    alice.stop()?;
    Ok(())
}
