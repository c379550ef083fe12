//! `ryre demo`: several nodes in this process, on loopback with a private beacon port, find each
//! other, join a group, shout, whisper, leave and stop, while a narrated log shows what each node
//! sees. Exits 0 only if every node saw every other, and every shout and whisper arrived.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use ryre::{Event, Node, PeerId};

use crate::args::parse_secs;
use crate::output::{event_human, first_frame, print_line, Counts};
use crate::{CliError, CliResult};

/// The group the demo nodes meet in.
const GROUP: &str = "demo";

/// Names of the demo nodes, in start order (more nodes get `node<N>`).
const NAMES: [&str; 12] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj",
];

/// How long the stop phase may take, on top of `--for`.
const STOP_BUDGET: Duration = Duration::from_secs(3);

/// Arguments of `ryre demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many nodes to run (2 to 32).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u8).range(2..=32))]
    pub nodes: u8,
    /// Time limit in seconds for discovery, shouts, whispers and leave together.
    #[arg(long = "for", value_name = "S", value_parser = parse_secs, default_value = "10")]
    pub for_secs: Duration,
}

/// What one node has seen so far.
#[derive(Debug, Default)]
struct Seen {
    entered: BTreeSet<PeerId>,
    joined: BTreeSet<PeerId>,
    shouts: BTreeSet<PeerId>,
    whispers: BTreeSet<PeerId>,
    left: BTreeSet<PeerId>,
    exited: BTreeSet<PeerId>,
    stopped: bool,
    counts: Counts,
}

/// The demo's nodes and what they have seen.
struct Demo {
    nodes: Vec<Node>,
    ids: Vec<PeerId>,
    seen: Vec<Seen>,
    events: mpsc::Receiver<(usize, Option<Event>)>,
    width: usize,
}

impl Demo {
    fn name(&self, i: usize) -> &str {
        self.nodes[i].name()
    }

    /// Every id but node `i`'s.
    fn others(&self, i: usize) -> BTreeSet<PeerId> {
        self.ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| *id)
            .collect()
    }

    fn narrate(&self, text: &str) {
        print_line(&format!("── {text}"));
    }

    /// Records and prints one event seen by node `i`.
    fn record(&mut self, i: usize, ev: &Event) {
        let line = format!("{:>w$} │ {}", self.name(i), event_human(ev), w = self.width);
        print_line(&line);
        let s = &mut self.seen[i];
        s.counts.add(ev);
        match ev {
            Event::Enter { peer, .. } => {
                s.entered.insert(*peer);
            }
            Event::Join { peer, group, .. } if group == GROUP => {
                s.joined.insert(*peer);
            }
            Event::Leave { peer, group, .. } if group == GROUP => {
                s.left.insert(*peer);
            }
            Event::Shout { peer, group, .. }
                if &**group == GROUP
                    && first_frame(ev).is_some_and(|t| t.starts_with("hello from ")) =>
            {
                s.shouts.insert(*peer);
            }
            Event::Whisper { peer, .. }
                if first_frame(ev).is_some_and(|t| t.starts_with("psst ")) =>
            {
                s.whispers.insert(*peer);
            }
            Event::Exit { peer, .. } => {
                s.exited.insert(*peer);
            }
            Event::Stop { .. } => s.stopped = true,
            _ => {}
        }
    }

    /// Handles events until `done` holds or `deadline` passes; whether `done` held.
    fn pump(&mut self, deadline: Instant, done: impl Fn(&Demo) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok((i, Some(ev))) => self.record(i, &ev),
                Ok((_, None)) => {}
                Err(_) => return done(self),
            }
        }
    }

    /// Pairs `(observer, subject)` where `observer` has not got what `set` holds from `subject`.
    fn missing(
        &self,
        pairs: &[(usize, usize)],
        set: impl Fn(&Seen) -> &BTreeSet<PeerId>,
    ) -> Vec<String> {
        pairs
            .iter()
            .filter(|(o, s)| !set(&self.seen[*o]).contains(&self.ids[*s]))
            .map(|(o, s)| format!("{} from {}", self.name(*o), self.name(*s)))
            .collect()
    }
}

/// A UDP port the OS reports free, for the demo's private beacons.
pub fn free_udp_port() -> Result<u16, CliError> {
    ryre::private_port().map_err(CliError::runtime)
}

/// Reports one check and returns whether it passed.
fn check(what: &str, total: usize, missing: &[String]) -> bool {
    if missing.is_empty() {
        print_line(&format!("   ok      {what}: {total}/{total}"));
        true
    } else {
        print_line(&format!(
            "   MISSING {what}: {}/{total}; missing: {}",
            total - missing.len(),
            missing.join(", ")
        ));
        false
    }
}

/// Runs `ryre demo`.
pub fn run(a: DemoArgs) -> CliResult {
    let n = usize::from(a.nodes);
    let port = free_udp_port()?;
    let names: Vec<String> = (0..n)
        .map(|i| {
            NAMES
                .get(i)
                .map_or_else(|| format!("node{i}"), |s| s.to_string())
        })
        .collect();
    let width = names.iter().map(String::len).max().unwrap_or(5);
    print_line(&format!(
        "── starting {n} nodes on loopback, beacon port {port}: {}",
        names.join(", ")
    ));
    let (tx, rx) = mpsc::channel();
    let mut nodes = Vec::with_capacity(n);
    for (i, name) in names.iter().enumerate() {
        let node = Node::builder()
            .name(name.clone())
            .interface("lo")
            .port(port)
            .interval(Duration::from_millis(100))
            .header("X-DEMO", "ryre")
            .start()?;
        let forward = node.clone();
        let tx = tx.clone();
        std::thread::Builder::new()
            .name(format!("demo-{name}"))
            .spawn(move || {
                while let Ok(ev) = forward.recv() {
                    if tx.send((i, Some(ev))).is_err() {
                        return;
                    }
                }
                let _ = tx.send((i, None));
            })
            .map_err(CliError::runtime)?;
        node.join(GROUP)?;
        nodes.push(node);
    }
    drop(tx);
    let ids = nodes.iter().map(Node::uuid).collect();
    let mut demo = Demo {
        nodes,
        ids,
        seen: (0..n).map(|_| Seen::default()).collect(),
        events: rx,
        width,
    };
    let deadline = Instant::now() + a.for_secs;
    let all_pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|o| (0..n).filter(move |s| *s != o).map(move |s| (o, s)))
        .collect();
    let whisper_pairs: Vec<(usize, usize)> = (0..n).map(|s| ((s + 1) % n, s)).collect();

    demo.narrate(&format!(
        "1. discovery: every node joins {GROUP:?} and waits for the others"
    ));
    let found = demo.pump(deadline, |d| {
        (0..n).all(|i| {
            let others = d.others(i);
            d.seen[i].entered.is_superset(&others) && d.seen[i].joined.is_superset(&others)
        })
    });
    let mut shouted = false;
    let mut whispered = false;
    if found {
        demo.narrate("2. every node shouts a greeting to the group");
        for i in 0..n {
            let text = format!("hello from {}", demo.name(i));
            demo.nodes[i].shout_str(GROUP, &text)?;
        }
        shouted = demo.pump(deadline, |d| {
            (0..n).all(|i| d.seen[i].shouts.is_superset(&d.others(i)))
        });
        demo.narrate("3. every node whispers to the next one");
        for i in 0..n {
            let to = (i + 1) % n;
            let text = format!("psst {}, {} here", demo.name(to), demo.name(i));
            demo.nodes[i].whisper_str(demo.ids[to], &text)?;
        }
        whispered = demo.pump(deadline, |d| {
            (0..n).all(|i| d.seen[(i + 1) % n].whispers.contains(&d.ids[i]))
        });
        let last = n - 1;
        demo.narrate(&format!("4. {} leaves {GROUP:?}", demo.name(last)));
        demo.nodes[last].leave(GROUP)?;
        let leaver = demo.ids[last];
        demo.pump(deadline, |d| {
            (0..last).all(|i| d.seen[i].left.contains(&leaver))
        });
    } else {
        demo.narrate("discovery did not complete in time; stopping");
    }

    demo.narrate("5. the nodes stop one by one");
    let stop_deadline = Instant::now() + STOP_BUDGET;
    for i in 0..n {
        demo.nodes[i].stop()?;
        let gone = demo.ids[i];
        let step = (Instant::now() + Duration::from_millis(500)).min(stop_deadline);
        demo.pump(step, |d| {
            d.seen[i].stopped && (i + 1..n).all(|j| d.seen[j].exited.contains(&gone))
        });
    }
    demo.pump(stop_deadline, |d| d.seen.iter().all(|s| s.stopped));

    print_line("── summary: events seen per node");
    for i in 0..n {
        let line = format!(
            "{:>w$} │ {}",
            demo.name(i),
            demo.seen[i].counts.human(),
            w = width
        );
        print_line(&line);
    }
    let exit_pairs: Vec<(usize, usize)> =
        (0..n).flat_map(|o| (0..o).map(move |s| (o, s))).collect();
    let ok_enter = check(
        "ENTER (everyone saw everyone)",
        all_pairs.len(),
        &demo.missing(&all_pairs, |s| &s.entered),
    );
    let ok_shout = check(
        "greeting shouts",
        all_pairs.len(),
        &demo.missing(&all_pairs, |s| &s.shouts),
    );
    let ok_whisper = check(
        "whispers",
        whisper_pairs.len(),
        &demo.missing(&whisper_pairs, |s| &s.whispers),
    );
    let leave_pairs: Vec<(usize, usize)> = (0..n - 1).map(|o| (o, n - 1)).collect();
    check(
        "LEAVE (informative)",
        leave_pairs.len(),
        &demo.missing(&leave_pairs, |s| &s.left),
    );
    check(
        "EXIT on stop (informative)",
        exit_pairs.len(),
        &demo.missing(&exit_pairs, |s| &s.exited),
    );
    let ok = found && shouted && whispered && ok_enter && ok_shout && ok_whisper;
    if ok {
        print_line("demo OK");
        Ok(ExitCode::SUCCESS)
    } else {
        print_line("demo FAILED");
        Ok(ExitCode::from(1))
    }
}
