//! A timer node and a subscriber in one process, on loopback: prints ten ticks of 10 Hz with
//! their lateness, one wake-up, and exits.
//!
//! `cargo run -p ryre-timer --example ticks`

use std::time::Duration;

use ryre::Node;
use ryre_timer::{TimerConfig, TimerEvent, TimerServer, Timers};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Loopback and a beacon port of our own: this example never talks to the LAN.
    let port = ryre::private_port()?;
    let node = |name: &str| {
        Node::builder()
            .name(name)
            .interface("lo")
            .port(port)
            .interval(Duration::from_millis(100))
    };
    let config = TimerConfig {
        rates: vec![10],
        ..TimerConfig::default()
    };
    let server = TimerServer::start(node("timer"), config)?;
    let timers = Timers::start(node("app"))?;
    timers.subscribe(10)?;
    let wake = timers.wake_after(Duration::from_millis(500), "half a second later")?;
    let (mut ticks, mut woken) = (0, false);
    while ticks < 10 || !woken {
        match timers.recv_timeout(Duration::from_secs(10))? {
            Some(TimerEvent::Tick(t)) => {
                ticks += 1;
                println!(
                    "tick {:>4} of {} Hz, {:>7.3} ms late{}",
                    t.n,
                    t.rate,
                    t.lateness_ns() as f64 / 1e6,
                    if t.missed > 0 {
                        format!(", {} missed", t.missed)
                    } else {
                        String::new()
                    }
                );
            }
            Some(TimerEvent::Wake(w)) if w.id == wake => {
                woken = true;
                println!("wake-up: {}", String::from_utf8_lossy(&w.payload));
            }
            Some(_) => {}
            None => return Err("no tick or wake-up within 10 s".into()),
        }
    }
    timers.node().stop()?;
    server.stop()?;
    Ok(())
}
