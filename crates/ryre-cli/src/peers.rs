//! `ryre peers`: listen for a while, then list the peers seen (as a table or JSON lines).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use ryre::{Node, PeerInfo};
use serde_json::json;

use crate::args::{parse_secs, NetArgs};
use crate::output::print_line;
use crate::session::{Input, Session};
use crate::CliResult;

/// Arguments of `ryre peers`.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Seconds to listen before listing.
    #[arg(long = "for", value_name = "S", value_parser = parse_secs, default_value = "3")]
    pub for_secs: Duration,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
    /// One JSON object per peer instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ryre peers`.
pub fn run(a: PeersArgs) -> CliResult {
    let node = a.net.builder().start()?;
    let session = Session::new();
    session.forward_events(&node)?;
    session.catch_signals()?;
    let deadline = Instant::now() + a.for_secs;
    // Events only keep the directory current; a signal lists what is known so far.
    while let Some(input) = session.next(Some(deadline)) {
        if matches!(input, Input::Signal | Input::EventsEnded) {
            break;
        }
    }
    let peers = snapshot(&node);
    node.stop()?;
    if a.json {
        for p in &peers {
            print_line(&peer_json(p).to_string());
        }
    } else {
        for line in table(&peers) {
            print_line(&line);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every ready peer the node knows.
fn snapshot(node: &Node) -> Vec<PeerInfo> {
    node.peers()
        .iter()
        .filter_map(|id| node.peer_info(id))
        .filter(|p| p.ready)
        .collect()
}

/// One peer as JSON.
pub fn peer_json(p: &PeerInfo) -> serde_json::Value {
    json!({
        "peer": p.id.to_string(),
        "name": &*p.name,
        "endpoint": p.endpoint,
        "groups": p.groups.iter().collect::<Vec<_>>(),
        "headers": p.headers,
        "state": p.state.as_str(),
    })
}

/// The peers as an aligned table with a header line (or a single "no peers" line).
pub fn table(peers: &[PeerInfo]) -> Vec<String> {
    if peers.is_empty() {
        return vec!["no peers found".into()];
    }
    let rows: Vec<[String; 6]> = peers
        .iter()
        .map(|p| {
            let headers: Vec<String> = p.headers.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let groups: Vec<&str> = p.groups.iter().collect();
            [
                p.id.to_string(),
                p.name.to_string(),
                p.endpoint.clone(),
                groups.join(","),
                headers.join(" "),
                p.state.as_str().to_string(),
            ]
        })
        .collect();
    let head = ["ID", "NAME", "ENDPOINT", "GROUPS", "HEADERS", "STATE"].map(String::from);
    let mut widths = head.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    std::iter::once(&head)
        .chain(rows.iter())
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}
