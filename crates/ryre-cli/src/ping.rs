//! `ryre ping`: like Zyre's zpinger: join GLOBAL, whisper "hello" to every new peer, print events.

use std::time::Duration;

use clap::Args;

use crate::args::{parse_secs, NetArgs};
use crate::node::{run_node, Behaviour};
use crate::CliResult;

/// Arguments of `ryre ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
    /// Stop after this many seconds and print a summary.
    #[arg(long = "for", value_name = "S", value_parser = parse_secs)]
    pub for_secs: Option<Duration>,
    /// One JSON object per line instead of readable text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ryre ping`.
pub fn run(a: PingArgs) -> CliResult {
    let behaviour = Behaviour {
        json: a.json,
        join: vec!["GLOBAL".into()],
        greet: Some("hello".into()),
        duration: a.for_secs,
        commands: false,
        ..Behaviour::default()
    };
    run_node(a.net.builder(), behaviour)
}
