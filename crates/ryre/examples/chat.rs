//! A minimal chat: every line on stdin is shouted to the group "chat"; what others shout is
//! printed.
//!
//! `cargo run -p ryre --example chat -- NAME [INTERFACE]` (INTERFACE e.g. `lo` or `eth0`; default:
//! the first broadcast-capable interface).

use std::io::BufRead;

use ryre::{Event, Node};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "chatter".into());
    let mut builder = Node::builder().name(name);
    if let Some(iface) = args.next() {
        builder = builder.interface(iface);
    }
    let node = builder.start()?;
    node.join("chat")?;
    let listener = node.clone();
    std::thread::spawn(move || {
        while let Ok(event) = listener.recv() {
            match event {
                Event::Enter { name, .. } => println!("* {name} is here"),
                Event::Exit { name, .. } => println!("* {name} left"),
                Event::Shout { name, content, .. } => {
                    println!("{name}: {}", String::from_utf8_lossy(&content[0]))
                }
                _ => {}
            }
        }
    });
    for line in std::io::stdin().lock().lines() {
        node.shout_str("chat", &line?)?;
    }
    node.stop()?;
    Ok(())
}
