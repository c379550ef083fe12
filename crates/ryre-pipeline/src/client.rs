//! The client: keeps each batch in memory, deals its tasks to workers by credit, gets the results
//! through a collector and hands each task's result to the application exactly once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ryre::{Bytes, Event, Node, NodeBuilder, PeerId};

use crate::proto::{BatchStatus, Msg, Status, Task, TaskResult, MAX_STATUS_BATCHES, MAX_TASKS};
use crate::{
    one_frame, start_node, Config, Counters, Error, Reporter, Role, Roster, Running, Stats,
};

/// Time between the client's timeout checks.
const TICK: Duration = Duration::from_millis(50);
/// Most window a worker may claim.
const MAX_WINDOW: u32 = 1 << 20;
/// A busy worker is presumed stalled after this many times its usual time between credits...
const STALL_FACTOR: u32 = 20;
/// ...but never sooner than this (nor later than [`Config::task_timeout`]).
const MIN_STALL: Duration = Duration::from_millis(250);

/// A task whose worker returned an error on every attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task failed after {attempts} attempt(s): {message}")]
pub struct TaskError {
    /// The worker's error text (of the last attempt).
    pub message: String,
    /// How many attempts failed.
    pub attempts: u32,
}

/// One delivered result: the task number and the worker's answer.
pub type Delivery = (u64, Result<Bytes, TaskError>);

/// The results of one submitted batch, each task number exactly once, in the order they
/// complete. As an [`Iterator`] it blocks for the next result and ends after the last one (or
/// if the client stops).
#[derive(Debug)]
pub struct Batch {
    id: u64,
    total: u64,
    got: u64,
    rx: flume::Receiver<Vec<Delivery>>,
    buf: std::vec::IntoIter<Delivery>,
}

impl Batch {
    /// The batch id (random).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Tasks in the batch.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Results not yet taken.
    pub fn remaining(&self) -> u64 {
        self.total - self.got
    }

    /// The next result, or `None` when none comes within `timeout`, the batch is complete, or
    /// the client has stopped.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Delivery> {
        if self.got >= self.total {
            return None;
        }
        if self.buf.len() == 0 {
            self.buf = self.rx.recv_timeout(timeout).ok()?.into_iter();
        }
        let d = self.buf.next()?;
        self.got += 1;
        Some(d)
    }
}

impl Iterator for Batch {
    type Item = Delivery;

    fn next(&mut self) -> Option<Delivery> {
        if self.got >= self.total {
            return None;
        }
        if self.buf.len() == 0 {
            self.buf = self.rx.recv().ok()?.into_iter();
        }
        let d = self.buf.next()?;
        self.got += 1;
        Some(d)
    }
}

enum Cmd {
    Submit {
        id: u64,
        payloads: Vec<Bytes>,
        tx: flume::Sender<Vec<Delivery>>,
    },
}

/// A running client: a ryre node in the cluster's clients group and a thread that deals tasks
/// and gathers results. Several batches may be open at once. Stops when [`Client::stop`] is
/// called or it is dropped (open batches then end early).
pub struct Client {
    run: Running,
    cmd: flume::Sender<Cmd>,
    ready: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("node", &self.run.node)
            .finish()
    }
}

impl Client {
    /// Starts a client.
    pub fn start(builder: NodeBuilder, config: Config) -> Result<Client, Error> {
        let node = start_node(builder, &config, Role::Client)?;
        let counters = Arc::new(Counters::default());
        let (cmd, cmd_rx) = flume::unbounded();
        let now = Instant::now();
        let ready = Arc::new(AtomicUsize::new(0));
        let mut state = ClientState {
            node: node.clone(),
            roster: Roster::new(&config.cluster),
            worker_group: Role::Worker.group(&config.cluster),
            collector_group: Role::Collector.group(&config.cluster),
            counters: counters.clone(),
            reporter: Reporter::new(&config),
            ended: Vec::new(),
            next_seq: 0,
            config,
            batches: HashMap::new(),
            pending: VecDeque::new(),
            workers: HashMap::new(),
            order: Vec::new(),
            turn: 0,
            next_wid: 0,
            collectors: Vec::new(),
            collector: None,
            heard: now,
            last_scan: now,
            ready: ready.clone(),
        };
        let run = Running::spawn(node, counters, "client", move |s| state.run(s, &cmd_rx))?;
        Ok(Client { run, cmd, ready })
    }

    /// Workers that have given this client credit and have not left.
    pub fn ready_workers(&self) -> usize {
        self.ready.load(Ordering::Relaxed)
    }

    /// Submits a batch: task `i` is the `i`-th payload. The batch is kept in memory until every
    /// result is delivered.
    pub fn submit<I>(&self, payloads: I) -> Result<Batch, Error>
    where
        I: IntoIterator,
        I::Item: Into<Bytes>,
    {
        let payloads: Vec<Bytes> = payloads.into_iter().map(Into::into).collect();
        let total = payloads.len() as u64;
        if total > MAX_TASKS {
            return Err(Error::TooManyTasks(total));
        }
        let id = u64::from_be_bytes(
            uuid::Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .unwrap_or([7; 8]),
        );
        let (tx, rx) = flume::unbounded();
        self.cmd
            .send(Cmd::Submit { id, payloads, tx })
            .map_err(|_| Error::Stopped)?;
        Ok(Batch {
            id,
            total,
            got: 0,
            rx,
            buf: Vec::new().into_iter(),
        })
    }

    /// A reader of the counters that outlives borrows of this handle (for metrics).
    pub fn stats_reader(&self) -> crate::StatsReader {
        self.run.stats_reader()
    }

    /// The client's ryre node.
    pub fn node(&self) -> &Node {
        &self.run.node
    }

    /// What the client has received, dropped and dealt again.
    pub fn stats(&self) -> Stats {
        self.run.counters.snapshot()
    }

    /// Stops the client and its node.
    pub fn stop(mut self) {
        self.run.shutdown();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskState {
    /// Waiting to be dealt (and in the pending queue).
    Pending,
    /// Dealt to the worker with this session number.
    AtWorker(u32),
    /// The worker reported it done at this time; its result has not come yet.
    AtCollector(Instant),
    /// Its result was delivered.
    Done,
}

/// How many of a batch's tasks are at workers and at the collector, and how many were dealt
/// again: kept up to date as tasks change state, so a status report costs nothing per task.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    at_workers: u64,
    at_collector: u64,
    redealt: u64,
}

impl Tally {
    /// A task goes from `from` to `to`.
    fn moved(&mut self, from: TaskState, to: TaskState) {
        match from {
            TaskState::AtWorker(_) => self.at_workers = self.at_workers.saturating_sub(1),
            TaskState::AtCollector(_) => self.at_collector = self.at_collector.saturating_sub(1),
            TaskState::Pending | TaskState::Done => {}
        }
        match to {
            TaskState::AtWorker(_) => self.at_workers += 1,
            TaskState::AtCollector(_) => self.at_collector += 1,
            TaskState::Pending | TaskState::Done => {}
        }
    }
}

struct BatchState {
    /// Submission order (statuses list batches oldest first).
    seq: u64,
    total: u64,
    payloads: Vec<Bytes>,
    state: Vec<TaskState>,
    errors: Vec<u32>,
    /// Times each task was dealt: tells a worker's credit for an old copy from the current one.
    dealt: Vec<u32>,
    delivered: u64,
    tally: Tally,
    tx: flume::Sender<Vec<Delivery>>,
}

impl BatchState {
    fn status(&self, batch: u64, ended: bool) -> BatchStatus {
        BatchStatus {
            batch,
            total: self.total,
            done: self.delivered,
            at_workers: self.tally.at_workers,
            at_collector: self.tally.at_collector,
            redealt: self.tally.redealt,
            ended,
        }
    }

    /// The tally counted from scratch (tests check the kept one against it).
    #[cfg(debug_assertions)]
    fn recount(&self) -> Tally {
        let mut t = Tally {
            redealt: self.tally.redealt,
            ..Tally::default()
        };
        for s in &self.state {
            t.moved(TaskState::Pending, *s);
        }
        t
    }
}

struct WorkerInfo {
    wid: u32,
    window: u32,
    held: u32,
    /// What it holds, oldest first: credit comes back for the oldest first.
    inflight: VecDeque<(u64, u64, u32)>,
    /// When it last returned credit, or became busy.
    last_progress: Instant,
    /// Its usual time between credits while busy (moving average).
    gap: Option<Duration>,
    stalled: bool,
}

impl WorkerInfo {
    /// How long it may hold tasks without returning credit before they go to others.
    fn stall_after(&self, limit: Duration) -> Duration {
        match self.gap {
            Some(g) => (g * STALL_FACTOR).clamp(MIN_STALL.min(limit), limit),
            None => limit,
        }
    }
}

struct ClientState {
    node: Node,
    roster: Roster,
    worker_group: String,
    collector_group: String,
    counters: Arc<Counters>,
    reporter: Reporter,
    /// Batches that ended since the last status report (it lists them once more, as ended).
    ended: Vec<BatchStatus>,
    next_seq: u64,
    config: Config,
    batches: HashMap<u64, BatchState>,
    pending: VecDeque<(u64, u64)>,
    workers: HashMap<PeerId, WorkerInfo>,
    order: Vec<PeerId>,
    turn: usize,
    next_wid: u32,
    /// Collectors of the cluster, in the order they joined.
    collectors: Vec<PeerId>,
    collector: Option<PeerId>,
    /// When the current collector was last heard from.
    heard: Instant,
    last_scan: Instant,
    ready: Arc<AtomicUsize>,
}

impl ClientState {
    fn run(&mut self, stop: &AtomicBool, cmds: &flume::Receiver<Cmd>) {
        let mut next_tick = Instant::now() + TICK;
        while !stop.load(Ordering::Relaxed) {
            loop {
                match cmds.try_recv() {
                    Ok(Cmd::Submit { id, payloads, tx }) => self.submit(id, payloads, tx),
                    Err(flume::TryRecvError::Empty) => break,
                    Err(flume::TryRecvError::Disconnected) => return,
                }
            }
            // Short waits while batches are open (new work arrives on the command channel).
            let wait = if self.batches.is_empty() { 20 } else { 2 };
            match self.node.recv_timeout(Duration::from_millis(wait)) {
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
            if now >= next_tick {
                next_tick = now + TICK;
                self.tick(now);
            }
            self.deal();
            if self.reporter.due(now) {
                self.report(now);
            }
        }
        // Stopping: a last report, so a watcher learns how the last batches ended (the node's
        // links linger for it).
        self.report(Instant::now());
    }

    /// A status report: counts, and the open batches (oldest first) after those that ended.
    fn report(&mut self, now: Instant) {
        let c = &self.counters;
        let mut open: Vec<(&u64, &BatchState)> = self.batches.iter().collect();
        open.sort_unstable_by_key(|(_, b)| b.seq);
        let room = MAX_STATUS_BATCHES.saturating_sub(self.ended.len());
        let mut batches = self.ended.clone();
        batches.extend(open.iter().take(room).map(|(id, b)| {
            #[cfg(debug_assertions)]
            debug_assert_eq!(b.tally, b.recount(), "the tally of batch {id:x}");
            b.status(**id, false)
        }));
        let status = Status {
            role: Role::Client,
            done: c.done.load(Ordering::Relaxed),
            held: self.workers.values().map(|w| u64::from(w.held)).sum(),
            redealt: c.redealt.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            batches,
        };
        if self.reporter.report(&self.node, now, status) {
            self.ended.clear();
        }
    }

    /// A batch is over: it leaves, and the next status report says so.
    fn end_batch(&mut self, batch: u64) {
        let Some(b) = self.batches.remove(&batch) else {
            return;
        };
        if self.ended.len() >= MAX_STATUS_BATCHES {
            self.ended.remove(0);
        }
        self.ended.push(b.status(batch, true));
        if let Some(col) = self.collector {
            let _ = self.node.whisper(col, [Msg::End { batch }.encode()]);
        }
    }

    fn submit(&mut self, id: u64, payloads: Vec<Bytes>, tx: flume::Sender<Vec<Delivery>>) {
        let total = payloads.len() as u64;
        if total == 0 {
            return;
        }
        self.pending.extend((0..total).map(|t| (id, t)));
        self.next_seq += 1;
        self.batches.insert(
            id,
            BatchState {
                seq: self.next_seq,
                total,
                state: vec![TaskState::Pending; payloads.len()],
                errors: vec![0; payloads.len()],
                dealt: vec![0; payloads.len()],
                payloads,
                delivered: 0,
                tally: Tally::default(),
                tx,
            },
        );
        if let Some(c) = self.collector {
            let _ = self
                .node
                .whisper(c, [Msg::Start { batch: id, total }.encode()]);
        }
    }

    fn on_event(&mut self, ev: Event) {
        self.reporter.on_event(&ev);
        if let Some((peer, role)) = self.roster.track(&ev) {
            match role {
                Role::Worker => self.worker_lost(peer),
                Role::Collector => self.collector_lost(peer),
                Role::Client => {}
            }
            return;
        }
        match ev {
            Event::Join { peer, group, .. }
                if group == self.collector_group
                    && self.roster.role(&peer) == Some(Role::Collector)
                    && !self.collectors.contains(&peer) =>
            {
                self.collectors.push(peer);
                if self.collector.is_none() {
                    self.use_collector(peer);
                }
            }
            Event::Leave { peer, group, .. } if group == self.collector_group => {
                self.collector_lost(peer)
            }
            Event::Leave { peer, group, .. } if group == self.worker_group => {
                self.worker_lost(peer)
            }
            Event::Whisper { peer, content, .. } => self.on_whisper(peer, &content),
            _ => {}
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
                tracing::debug!("client: dropped a bad message from {peer}: {e}");
                Counters::bump(&c.malformed, 1);
                return;
            }
        };
        let now = Instant::now();
        match (msg, self.roster.role(&peer)) {
            (Msg::Ready { window }, Some(Role::Worker)) => {
                if self.workers.contains_key(&peer) || window == 0 {
                    Counters::bump(&c.stale, 1);
                    return;
                }
                self.next_wid = self.next_wid.wrapping_add(1);
                self.workers.insert(
                    peer,
                    WorkerInfo {
                        wid: self.next_wid,
                        window: window.min(MAX_WINDOW),
                        held: 0,
                        inflight: VecDeque::new(),
                        last_progress: now,
                        gap: None,
                        stalled: false,
                    },
                );
                self.order.push(peer);
                self.ready.store(self.workers.len(), Ordering::Relaxed);
            }
            (Msg::Credit { n }, Some(Role::Worker)) => self.on_credit(peer, n, now),
            (
                Msg::Results {
                    client,
                    batch,
                    results,
                    ..
                },
                Some(Role::Collector),
            ) => {
                if client != self.node.uuid() {
                    Counters::bump(&c.unexpected, 1);
                    return;
                }
                if self.collector == Some(peer) {
                    self.heard = now;
                }
                self.on_results(batch, results);
            }
            (Msg::Progress { batch, missing, .. }, Some(Role::Collector)) => {
                if self.collector == Some(peer) {
                    self.heard = now;
                }
                let grace = self.config.result_timeout.min(Duration::from_millis(500));
                let Some(b) = self.batches.get_mut(&batch) else {
                    Counters::bump(&c.stale, 1);
                    return;
                };
                for no in missing {
                    let Some(s) = b.state.get_mut(no as usize) else {
                        continue;
                    };
                    if let TaskState::AtCollector(since) = *s {
                        if now.duration_since(since) > grace {
                            b.tally.moved(*s, TaskState::Pending);
                            b.tally.redealt += 1;
                            *s = TaskState::Pending;
                            self.pending.push_back((batch, no));
                            Counters::bump(&c.redealt, 1);
                        }
                    }
                }
            }
            _ => Counters::bump(&c.unexpected, 1),
        }
    }

    fn on_credit(&mut self, peer: PeerId, n: u32, now: Instant) {
        let c = &self.counters;
        let Some(w) = self.workers.get_mut(&peer) else {
            Counters::bump(&c.stale, 1);
            return;
        };
        if n > w.held {
            // More credit back than tasks held: replayed or forged.
            Counters::bump(&c.stale, 1);
            return;
        }
        if n > 0 && !w.stalled {
            let sample = now.duration_since(w.last_progress);
            w.gap = Some(match w.gap {
                Some(g) => (g * 4 + sample) / 5,
                None => sample,
            });
        }
        w.held -= n;
        w.last_progress = now;
        w.stalled = false;
        for _ in 0..n {
            let Some((batch, no, copy)) = w.inflight.pop_front() else {
                break;
            };
            let Some(b) = self.batches.get_mut(&batch) else {
                continue;
            };
            let i = no as usize;
            if b.state.get(i) == Some(&TaskState::AtWorker(w.wid)) && b.dealt[i] == copy {
                b.tally.moved(b.state[i], TaskState::AtCollector(now));
                b.state[i] = TaskState::AtCollector(now);
            }
        }
    }

    fn on_results(&mut self, batch: u64, results: Vec<TaskResult>) {
        let c = self.counters.clone();
        let Some(b) = self.batches.get_mut(&batch) else {
            Counters::bump(&c.stale, 1);
            return;
        };
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            let i = r.no as usize;
            let Some(s) = b.state.get_mut(i) else {
                Counters::bump(&c.stale, 1);
                continue;
            };
            if *s == TaskState::Done {
                Counters::bump(&c.duplicates, 1);
                continue;
            }
            let delivery = match r.outcome {
                Ok(v) => Ok(v),
                Err(e) => {
                    b.errors[i] += 1;
                    if b.errors[i] < self.config.max_attempts {
                        if *s != TaskState::Pending {
                            b.tally.moved(*s, TaskState::Pending);
                            b.tally.redealt += 1;
                            *s = TaskState::Pending;
                            self.pending.push_back((batch, r.no));
                            Counters::bump(&c.redealt, 1);
                        }
                        continue;
                    }
                    Err(TaskError {
                        message: String::from_utf8_lossy(&e).into_owned(),
                        attempts: b.errors[i],
                    })
                }
            };
            b.tally.moved(*s, TaskState::Done);
            *s = TaskState::Done;
            b.payloads[i] = Bytes::new();
            b.delivered += 1;
            Counters::bump(&c.done, 1);
            out.push((r.no, delivery));
        }
        // One hand-off per message, not per task.
        let gone = !out.is_empty() && b.tx.send(out).is_err();
        if gone || b.delivered == b.total {
            self.end_batch(batch);
        }
    }

    fn worker_lost(&mut self, peer: PeerId) {
        self.order.retain(|p| *p != peer);
        let Some(w) = self.workers.remove(&peer) else {
            return;
        };
        self.ready.store(self.workers.len(), Ordering::Relaxed);
        for (batch, no, _) in w.inflight {
            self.repend(batch, no, |s| s == TaskState::AtWorker(w.wid));
        }
    }

    fn collector_lost(&mut self, peer: PeerId) {
        self.collectors.retain(|p| *p != peer);
        if self.collector == Some(peer) {
            self.collector = None;
            if let Some(&next) = self.collectors.first() {
                self.use_collector(next);
            }
        }
    }

    /// Switches to collector `c`: every open batch starts there, and every task not yet
    /// delivered is dealt again (results sent to the previous collector may never come).
    fn use_collector(&mut self, c: PeerId) {
        let had = self.collector.is_some() || !self.batches.is_empty();
        self.collector = Some(c);
        self.heard = Instant::now();
        for (&batch, b) in &self.batches {
            let _ = self.node.whisper(
                c,
                [Msg::Start {
                    batch,
                    total: b.total,
                }
                .encode()],
            );
        }
        if had {
            let keys: Vec<u64> = self.batches.keys().copied().collect();
            for batch in keys {
                let total = self.batches.get(&batch).map_or(0, |b| b.total);
                for no in 0..total {
                    self.repend(batch, no, |s| {
                        matches!(s, TaskState::AtWorker(_) | TaskState::AtCollector(_))
                    });
                }
            }
        }
    }

    /// Puts a task back in the pending queue if its state passes `cond`.
    fn repend(&mut self, batch: u64, no: u64, cond: impl Fn(TaskState) -> bool) {
        let Some(b) = self.batches.get_mut(&batch) else {
            return;
        };
        if let Some(s) = b.state.get_mut(no as usize) {
            if cond(*s) {
                b.tally.moved(*s, TaskState::Pending);
                b.tally.redealt += 1;
                *s = TaskState::Pending;
                self.pending.push_back((batch, no));
                Counters::bump(&self.counters.redealt, 1);
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        // Workers that hold tasks but make no progress: presumed dead, their tasks go elsewhere.
        let timeout = self.config.task_timeout;
        let mut stalled = Vec::new();
        for w in self.workers.values_mut() {
            if w.held > 0
                && !w.stalled
                && now.duration_since(w.last_progress) > w.stall_after(timeout)
            {
                w.stalled = true;
                stalled.push((w.wid, w.inflight.iter().copied().collect::<Vec<_>>()));
            }
        }
        for (wid, tasks) in stalled {
            for (batch, no, _) in tasks {
                self.repend(batch, no, |s| s == TaskState::AtWorker(wid));
            }
        }
        // A silent collector: move to another one if there is one.
        if let Some(c) = self.collector {
            if !self.batches.is_empty()
                && now.duration_since(self.heard) > self.config.collector_timeout
            {
                if let Some(&next) = self.collectors.iter().find(|p| **p != c) {
                    // Try the silent one again last.
                    self.collectors.retain(|p| *p != c);
                    self.collectors.push(c);
                    self.use_collector(next);
                } else {
                    self.heard = now;
                }
            }
        } else if let Some(&next) = self.collectors.first() {
            self.use_collector(next);
        }
        self.steal();
        // Results that never came from the collector: deal those tasks again.
        if now.duration_since(self.last_scan) >= Duration::from_secs(1) {
            self.last_scan = now;
            let limit = self.config.result_timeout;
            let mut late = Vec::new();
            for (&batch, b) in &self.batches {
                for (no, s) in b.state.iter().enumerate() {
                    if let TaskState::AtCollector(since) = *s {
                        if now.duration_since(since) > limit {
                            late.push((batch, no as u64));
                        }
                    }
                }
            }
            for (batch, no) in late {
                self.repend(batch, no, |s| matches!(s, TaskState::AtCollector(_)));
            }
        }
    }

    /// End game: nothing is pending, yet a worker is idle while another holds tasks. The idle
    /// one gets copies of (up to a chunk of) the tasks the busiest one would run last; a task is
    /// copied this way once at most. Whichever result comes first counts, the other is a
    /// duplicate. So a slow worker's backlog does not hold up the end of a batch.
    fn steal(&mut self) {
        if self.collector.is_none() || self.batches.is_empty() {
            return;
        }
        // Drop finished entries from the front; a pending one there means work is left to deal.
        while let Some(&(b, no)) = self.pending.front() {
            let state = self.batches.get(&b).and_then(|b| b.state.get(no as usize));
            if state == Some(&TaskState::Pending) {
                return;
            }
            self.pending.pop_front();
        }
        let chunk = self.config.chunk as usize;
        let idle: Vec<PeerId> = self
            .workers
            .iter()
            .filter(|(_, w)| w.held == 0 && !w.stalled)
            .map(|(p, _)| *p)
            .collect();
        for thief in idle {
            // The busiest worker holding first copies.
            let Some((victim, wid)) = self
                .workers
                .iter()
                .filter(|(p, w)| **p != thief && w.held > 0)
                .max_by_key(|(_, w)| w.held)
                .map(|(p, w)| (*p, w.wid))
            else {
                return;
            };
            let Some(v) = self.workers.get(&victim) else {
                return;
            };
            let mut taken = Vec::new();
            for &(batch, no, copy) in v.inflight.iter().rev() {
                if taken.len() >= chunk {
                    break;
                }
                let Some(b) = self.batches.get(&batch) else {
                    continue;
                };
                let i = no as usize;
                if copy == 1 && b.dealt[i] == 1 && b.state.get(i) == Some(&TaskState::AtWorker(wid))
                {
                    taken.push((batch, no));
                }
            }
            if taken.is_empty() {
                continue;
            }
            // Dealt like pending tasks (the deal loop takes them from the front).
            for &(batch, no) in taken.iter().rev() {
                let Some(b) = self.batches.get_mut(&batch) else {
                    continue;
                };
                if let Some(s) = b.state.get_mut(no as usize) {
                    b.tally.moved(*s, TaskState::Pending);
                    b.tally.redealt += 1;
                    *s = TaskState::Pending;
                    self.pending.push_front((batch, no));
                }
            }
            Counters::bump(&self.counters.redealt, taken.len() as u64);
            self.deal_to(thief);
        }
    }

    /// Deals pending tasks to workers with credit, a chunk per worker in turn.
    fn deal(&mut self) {
        if self.collector.is_none() {
            return;
        }
        while !self.pending.is_empty() && !self.order.is_empty() {
            let mut dealt = false;
            for k in 0..self.order.len() {
                let peer = self.order[(self.turn + k) % self.order.len()];
                dealt |= self.deal_to(peer);
                if self.pending.is_empty() {
                    break;
                }
            }
            self.turn = self.turn.wrapping_add(1);
            if !dealt {
                break;
            }
        }
    }

    /// Deals one chunk of pending tasks (of one batch) to `peer` if it has credit; whether it did.
    fn deal_to(&mut self, peer: PeerId) -> bool {
        let Some(collector) = self.collector else {
            return false;
        };
        let Some(w) = self.workers.get_mut(&peer) else {
            return false;
        };
        if w.stalled || w.held >= w.window {
            return false;
        }
        let room = (w.window - w.held).min(self.config.chunk) as usize;
        let mut tasks = Vec::with_capacity(room);
        let mut batch_id = None;
        let mut total = 0;
        while tasks.len() < room {
            let Some((batch, no)) = self.pending.pop_front() else {
                break;
            };
            let Some(b) = self.batches.get_mut(&batch) else {
                continue;
            };
            let Some(s) = b.state.get_mut(no as usize) else {
                continue;
            };
            if *s != TaskState::Pending {
                continue;
            }
            match batch_id {
                None => {
                    batch_id = Some(batch);
                    total = b.total;
                }
                Some(id) if id != batch => {
                    self.pending.push_front((batch, no));
                    break;
                }
                Some(_) => {}
            }
            b.tally.moved(*s, TaskState::AtWorker(w.wid));
            *s = TaskState::AtWorker(w.wid);
            let copy = &mut b.dealt[no as usize];
            *copy = copy.wrapping_add(1);
            w.inflight.push_back((batch, no, *copy));
            tasks.push(Task {
                no,
                payload: b.payloads[no as usize].clone(),
            });
        }
        let Some(batch) = batch_id else {
            return false;
        };
        if w.held == 0 {
            // Idle until now: its silence so far is no sign of a stall.
            w.last_progress = Instant::now();
        }
        w.held += tasks.len() as u32;
        Counters::bump(&self.counters.dealt, tasks.len() as u64);
        let msg = Msg::Tasks {
            batch,
            total,
            collector,
            tasks,
        };
        let _ = self.node.whisper(peer, [msg.encode()]);
        true
    }
}
