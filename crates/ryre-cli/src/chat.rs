//! `ryre chat`: every stdin line is shouted to the group; incoming SHOUTs and WHISPERs are printed
//! as `name: text`, arrivals and departures as `* ...` lines. Ends at EOF on stdin or a signal.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ryre::Event;

use crate::args::NetArgs;
use crate::output::{first_frame, print_line};
use crate::session::{Input, Session};
use crate::{CliError, CliResult};

/// Arguments of `ryre chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The group to chat in.
    #[arg(long, value_name = "G")]
    pub group: String,
    /// Your name [default: the first 6 hex digits of the node id].
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
}

/// The chat line for an event, if it deserves one.
pub fn chat_line(ev: &Event, group: &str) -> Option<String> {
    match ev {
        Event::Shout { name, group: g, .. } if &**g == group => {
            Some(format!("{name}: {}", first_frame(ev).unwrap_or_default()))
        }
        Event::Whisper { name, .. } => {
            Some(format!("{name}: {}", first_frame(ev).unwrap_or_default()))
        }
        Event::Join { name, group: g, .. } if g == group => Some(format!("* {name} joined {g}")),
        Event::Leave { name, group: g, .. } if g == group => Some(format!("* {name} left {g}")),
        Event::Exit { name, .. } => Some(format!("* {name} is gone")),
        _ => None,
    }
}

/// Runs `ryre chat`.
pub fn run(a: ChatArgs) -> CliResult {
    let mut b = a.net.builder();
    if let Some(n) = &a.name {
        b = b.name(n.clone());
    }
    let node = b.start()?;
    node.join(&a.group)?;
    eprintln!(
        "* {} in {} (type lines to shout; Ctrl-D or Ctrl-C to quit)",
        node.name(),
        a.group
    );
    let session = Session::new();
    session.forward_events(&node)?;
    session.catch_signals()?;
    session.read_stdin()?;
    while let Some(input) = session.next(None) {
        match input {
            Input::Event(ev) => {
                if let Some(line) = chat_line(&ev, &a.group) {
                    print_line(&line);
                }
            }
            Input::Line(line) if line.trim().is_empty() => {}
            Input::Line(line) => match node.shout_str(&a.group, &line) {
                Ok(()) => {}
                Err(ryre::Error::Stopped) => break,
                Err(e) => eprintln!("ryre: {e}"),
            },
            Input::EventsEnded | Input::StdinClosed | Input::Signal => break,
        }
    }
    node.stop().map_err(CliError::from)?;
    session.drain_events(Duration::from_secs(2), |ev| {
        if let Some(line) = chat_line(&ev, &a.group) {
            print_line(&line);
        }
    });
    Ok(ExitCode::SUCCESS)
}
