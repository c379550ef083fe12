//! The collector: gathers results for any client that names it, drops duplicates by batch id +
//! task number, forwards every result once to the client, and reports progress and missing task
//! numbers back to it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ryre::{Bytes, Event, Node, NodeBuilder, PeerId};

use crate::proto::{Msg, Status, TaskResult, MAX_MISSING};
use crate::{
    one_frame, start_node, Config, Counters, Error, Reporter, Role, Roster, Running, Stats,
};

/// A batch that no START has confirmed and no result has touched for this long is forgotten.
const IDLE_BATCH: Duration = Duration::from_secs(60);

/// A running collector: a ryre node in the cluster's collectors group and its thread. Stops
/// when [`Collector::stop`] is called or it is dropped.
pub struct Collector {
    run: Running,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("node", &self.run.node)
            .finish()
    }
}

impl Collector {
    /// Starts a collector.
    pub fn start(builder: NodeBuilder, config: Config) -> Result<Collector, Error> {
        let node = start_node(builder, &config, Role::Collector)?;
        let counters = Arc::new(Counters::default());
        let mut state = CollectorState {
            node: node.clone(),
            roster: Roster::new(&config.cluster),
            batches: HashMap::new(),
            ended: HashSet::new(),
            counters: counters.clone(),
            interval: config.progress_interval,
            reporter: Reporter::new(&config),
        };
        let run = Running::spawn(node, counters, "collector", move |s| state.run(s))?;
        Ok(Collector { run })
    }

    /// A reader of the counters that outlives borrows of this handle (for metrics).
    pub fn stats_reader(&self) -> crate::StatsReader {
        self.run.stats_reader()
    }

    /// The collector's ryre node.
    pub fn node(&self) -> &Node {
        &self.run.node
    }

    /// What the collector has received and dropped.
    pub fn stats(&self) -> Stats {
        self.run.counters.snapshot()
    }

    /// Stops the collector and its node.
    pub fn stop(mut self) {
        self.run.shutdown();
    }
}

/// What the collector has of one batch.
struct BatchState {
    total: u64,
    /// One bit per task number received with a successful result (grown as needed).
    seen: Vec<u64>,
    received: u64,
    contiguous: u64,
    /// One past the highest task number received.
    high: u64,
    touched: Instant,
}

impl BatchState {
    fn new(total: u64, now: Instant) -> Self {
        BatchState {
            total,
            seen: Vec::new(),
            received: 0,
            contiguous: 0,
            high: 0,
            touched: now,
        }
    }

    fn has(&self, no: u64) -> bool {
        let (w, b) = ((no / 64) as usize, no % 64);
        self.seen.get(w).is_some_and(|x| x & (1 << b) != 0)
    }

    /// Marks `no` received; false if it already was.
    fn mark(&mut self, no: u64) -> bool {
        if self.has(no) {
            return false;
        }
        let (w, b) = ((no / 64) as usize, no % 64);
        if self.seen.len() <= w {
            self.seen.resize(w + 1, 0);
        }
        self.seen[w] |= 1 << b;
        self.received += 1;
        self.high = self.high.max(no + 1);
        while self.contiguous < self.total && self.has(self.contiguous) {
            self.contiguous += 1;
        }
        true
    }

    fn progress(&self, batch: u64) -> Msg {
        let mut missing = Vec::new();
        let mut no = self.contiguous;
        while no < self.high && missing.len() < MAX_MISSING {
            if !self.has(no) {
                missing.push(no);
            }
            no += 1;
        }
        Msg::Progress {
            batch,
            received: self.received,
            contiguous: self.contiguous,
            missing,
        }
    }
}

struct CollectorState {
    node: Node,
    roster: Roster,
    batches: HashMap<(PeerId, u64), BatchState>,
    /// Batches their clients ended: late results for them are dropped.
    ended: HashSet<(PeerId, u64)>,
    counters: Arc<Counters>,
    interval: Duration,
    reporter: Reporter,
}

impl CollectorState {
    fn run(&mut self, stop: &AtomicBool) {
        let mut next_report = Instant::now() + self.interval;
        while !stop.load(Ordering::Relaxed) {
            let wait = next_report
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(20));
            match self.node.recv_timeout(wait) {
                Ok(Some(ev)) => self.on_event(ev),
                Ok(None) => {}
                Err(_) => return,
            }
            for _ in 0..1000 {
                match self.node.try_recv() {
                    Some(ev) => self.on_event(ev),
                    None => break,
                }
            }
            let now = Instant::now();
            if now >= next_report {
                next_report = now + self.interval;
                self.report(now);
            }
            if self.reporter.due(now) {
                self.status(now);
            }
        }
        // Stopping: a last report of the final counts.
        self.status(Instant::now());
    }

    fn status(&mut self, now: Instant) {
        let c = &self.counters;
        let status = Status {
            role: Role::Collector,
            done: c.done.load(Ordering::Relaxed),
            held: self.batches.len() as u64,
            redealt: 0,
            duplicates: c.duplicates.load(Ordering::Relaxed),
            batches: Vec::new(),
        };
        self.reporter.report(&self.node, now, status);
    }

    fn report(&mut self, now: Instant) {
        self.batches
            .retain(|_, b| now.duration_since(b.touched) < IDLE_BATCH);
        for ((client, batch), b) in &self.batches {
            let _ = self.node.whisper(*client, [b.progress(*batch).encode()]);
        }
    }

    fn on_event(&mut self, ev: Event) {
        self.reporter.on_event(&ev);
        if let Some((peer, _)) = self.roster.track(&ev) {
            self.batches.retain(|(c, _), _| *c != peer);
            self.ended.retain(|(c, _)| *c != peer);
            return;
        }
        if let Event::Whisper { peer, content, .. } = ev {
            self.on_whisper(peer, &content);
        }
    }

    fn on_whisper(&mut self, peer: PeerId, content: &[Bytes]) {
        let c = self.counters.clone();
        let Some(frame) = one_frame(content, &c) else {
            return;
        };
        let msg = match Msg::decode(&frame) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("collector: dropped a bad message from {peer}: {e}");
                Counters::bump(&c.malformed, 1);
                return;
            }
        };
        let role = self.roster.role(&peer);
        let now = Instant::now();
        match (msg, role) {
            (Msg::Start { batch, total }, Some(Role::Client)) => {
                let key = (peer, batch);
                self.ended.remove(&key);
                let b = self
                    .batches
                    .entry(key)
                    .or_insert_with(|| BatchState::new(total, now));
                if b.total != total {
                    Counters::bump(&c.stale, 1);
                    return;
                }
                b.touched = now;
                let _ = self.node.whisper(peer, [b.progress(batch).encode()]);
            }
            (Msg::End { batch }, Some(Role::Client)) => {
                self.batches.remove(&(peer, batch));
                self.ended.insert((peer, batch));
            }
            (
                Msg::Results {
                    client,
                    batch,
                    total,
                    results,
                },
                Some(Role::Worker),
            ) => self.on_results(client, batch, total, results, now),
            _ => Counters::bump(&c.unexpected, 1),
        }
    }

    fn on_results(
        &mut self,
        client: PeerId,
        batch: u64,
        total: u64,
        results: Vec<TaskResult>,
        now: Instant,
    ) {
        let c = &self.counters;
        let key = (client, batch);
        if self.roster.role(&client) != Some(Role::Client) || self.ended.contains(&key) {
            Counters::bump(&c.stale, 1);
            return;
        }
        let b = self
            .batches
            .entry(key)
            .or_insert_with(|| BatchState::new(total, now));
        if b.total != total {
            Counters::bump(&c.stale, 1);
            return;
        }
        b.touched = now;
        let before = results.len();
        let fresh: Vec<TaskResult> = results
            .into_iter()
            .filter(|r| match r.outcome {
                Ok(_) => b.mark(r.no),
                // Errors are forwarded every time (the client counts attempts) unless the task
                // already succeeded.
                Err(_) => !b.has(r.no),
            })
            .collect();
        Counters::bump(&c.duplicates, (before - fresh.len()) as u64);
        if fresh.is_empty() {
            return;
        }
        Counters::bump(&c.done, fresh.len() as u64);
        let msg = Msg::Results {
            client,
            batch,
            total,
            results: fresh,
        };
        let _ = self.node.whisper(client, [msg.encode()]);
    }
}
