//! The worker: takes tasks by credit from any client of its cluster, runs them one at a time
//! (oldest first) and sends each result to the collector the client named.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ryre::{Bytes, Event, Node, NodeBuilder, PeerId};

use crate::proto::{Msg, Status, Task, TaskResult};
use crate::{
    one_frame, start_node, Config, Counters, Error, Reporter, Role, Roster, Running, Stats,
};

/// A running worker: a ryre node in the cluster's workers group, and a thread that runs the
/// task function. Stops when [`Worker::stop`] is called or it is dropped.
pub struct Worker {
    run: Running,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("node", &self.run.node)
            .finish()
    }
}

/// Tasks received in one TASKS message, waiting to run.
struct Job {
    client: PeerId,
    batch: u64,
    total: u64,
    collector: PeerId,
    tasks: Vec<Task>,
    received: Instant,
}

/// While running a job, results (and credit) go out at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// How long a job whose collector this worker has not met yet waits for it (its HELLO may
/// still be on the way) before it runs anyway.
const COLLECTOR_GRACE: Duration = Duration::from_secs(2);

impl Worker {
    /// Starts a worker running `task` on every payload: `Ok(result)` or `Err(error text)`. Tasks
    /// may run more than once (after a crash elsewhere), so `task` should be idempotent.
    pub fn start<F>(builder: NodeBuilder, config: Config, task: F) -> Result<Worker, Error>
    where
        F: FnMut(&[u8]) -> Result<Vec<u8>, String> + Send + 'static,
    {
        let node = start_node(builder, &config, Role::Worker)?;
        let counters = Arc::new(Counters::default());
        let mut state = WorkerState {
            node: node.clone(),
            roster: Roster::new(&config.cluster),
            client_group: Role::Client.group(&config.cluster),
            window: config.window,
            held: HashMap::new(),
            queue: VecDeque::new(),
            gone: HashSet::new(),
            counters: counters.clone(),
            task: Box::new(task),
            reporter: Reporter::new(&config),
        };
        let run = Running::spawn(node, counters, "worker", move |s| state.run(s))?;
        Ok(Worker { run })
    }

    /// A reader of the counters that outlives borrows of this handle (for metrics).
    pub fn stats_reader(&self) -> crate::StatsReader {
        self.run.stats_reader()
    }

    /// The worker's ryre node.
    pub fn node(&self) -> &Node {
        &self.run.node
    }

    /// What the worker has received and dropped.
    pub fn stats(&self) -> Stats {
        self.run.counters.snapshot()
    }

    /// Stops the worker (after the task it is running) and its node.
    pub fn stop(mut self) {
        self.run.shutdown();
    }
}

type TaskFn = Box<dyn FnMut(&[u8]) -> Result<Vec<u8>, String> + Send>;

struct WorkerState {
    node: Node,
    roster: Roster,
    client_group: String,
    window: u32,
    /// Tasks held per client (received, not yet answered with credit).
    held: HashMap<PeerId, u32>,
    queue: VecDeque<Job>,
    /// Collectors that left (their EXIT was seen): jobs for them are skipped.
    gone: HashSet<PeerId>,
    counters: Arc<Counters>,
    task: TaskFn,
    reporter: Reporter,
}

impl WorkerState {
    fn run(&mut self, stop: &AtomicBool) {
        let mut blocked = false;
        while !stop.load(Ordering::Relaxed) {
            let wait = if self.queue.is_empty() {
                Duration::from_millis(20)
            } else if blocked {
                Duration::from_millis(5)
            } else {
                Duration::ZERO
            };
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
            blocked = false;
            self.report();
            if let Some(job) = self.queue.pop_front() {
                if self.gone.contains(&job.collector) {
                    // Its collector left: the results would be lost, and the client deals these
                    // tasks again elsewhere. Skip them, but give the credit back.
                    self.skip(&job);
                } else if self.node.peer_address(&job.collector).is_none()
                    && job.received.elapsed() < COLLECTOR_GRACE
                {
                    // Results sent now would be lost: wait for the collector's HELLO (holding
                    // the queue, so tasks still finish oldest first, as credit says).
                    self.queue.push_front(job);
                    blocked = true;
                } else {
                    self.work(job);
                }
            }
        }
        // Stopping: a last report of the final counts.
        self.report_now(Instant::now());
    }

    /// A status report, when one is due.
    fn report(&mut self) {
        let now = Instant::now();
        if self.reporter.due(now) {
            self.report_now(now);
        }
    }

    fn report_now(&mut self, now: Instant) {
        let status = Status {
            role: Role::Worker,
            done: self.counters.done.load(Ordering::Relaxed),
            held: self.held.values().map(|&n| u64::from(n)).sum(),
            redealt: 0,
            duplicates: 0,
            batches: Vec::new(),
        };
        self.reporter.report(&self.node, now, status);
    }

    fn on_event(&mut self, ev: Event) {
        self.reporter.on_event(&ev);
        if let Event::Enter { peer, .. } = &ev {
            // Back (a restarted link says HELLO again under the same id).
            self.gone.remove(peer);
        }
        if let Some((peer, role)) = self.roster.track(&ev) {
            if role == Role::Collector {
                if self.gone.len() >= 1024 {
                    self.gone.clear();
                }
                self.gone.insert(peer);
            }
            self.forget(peer);
            return;
        }
        match ev {
            Event::Join { peer, group, .. }
                if group == self.client_group && self.roster.role(&peer) == Some(Role::Client) =>
            {
                self.held.insert(peer, 0);
                let ready = Msg::Ready {
                    window: self.window,
                };
                let _ = self.node.whisper(peer, [ready.encode()]);
            }
            Event::Leave { peer, group, .. } if group == self.client_group => self.forget(peer),
            Event::Whisper { peer, content, .. } => self.on_whisper(peer, &content),
            _ => {}
        }
    }

    /// A client left: its queued tasks have nobody to report to.
    fn forget(&mut self, peer: PeerId) {
        self.held.remove(&peer);
        self.queue.retain(|j| j.client != peer);
    }

    fn on_whisper(&mut self, peer: PeerId, content: &[Bytes]) {
        let c = &self.counters;
        let Some(frame) = one_frame(content, c) else {
            return;
        };
        let msg = match Msg::decode(&frame) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("worker: dropped a bad message from {peer}: {e}");
                Counters::bump(&c.malformed, 1);
                return;
            }
        };
        let Msg::Tasks {
            batch,
            total,
            collector,
            tasks,
        } = msg
        else {
            Counters::bump(&c.unexpected, 1);
            return;
        };
        if self.roster.role(&peer) != Some(Role::Client) {
            Counters::bump(&c.unexpected, 1);
            return;
        }
        let Some(held) = self.held.get_mut(&peer) else {
            Counters::bump(&c.stale, 1);
            return;
        };
        let n = tasks.len() as u32;
        if n == 0 || held.saturating_add(n) > self.window {
            // More than the credit we gave: replayed or forged.
            Counters::bump(&c.stale, 1);
            return;
        }
        *held += n;
        self.queue.push_back(Job {
            client: peer,
            batch,
            total,
            collector,
            tasks,
            received: Instant::now(),
        });
    }

    fn work(&mut self, job: Job) {
        let mut results = Vec::with_capacity(job.tasks.len());
        let mut flushed = Instant::now();
        for t in &job.tasks {
            let outcome = match (self.task)(&t.payload) {
                Ok(v) => Ok(Bytes::from(v)),
                Err(e) => Err(Bytes::from(e.into_bytes())),
            };
            results.push(TaskResult { no: t.no, outcome });
            // Slow tasks: report as they finish, so the client sees progress (and credit).
            if flushed.elapsed() >= FLUSH_EVERY {
                self.flush(&job, std::mem::take(&mut results));
                flushed = Instant::now();
            }
        }
        self.flush(&job, results);
    }

    /// Drops a job without running it, returning its credit.
    fn skip(&mut self, job: &Job) {
        let n = job.tasks.len() as u32;
        if let Some(held) = self.held.get_mut(&job.client) {
            *held = held.saturating_sub(n);
            let _ = self.node.whisper(job.client, [Msg::Credit { n }.encode()]);
        }
    }

    /// Sends results to the job's collector, then as much credit to its client.
    fn flush(&mut self, job: &Job, results: Vec<TaskResult>) {
        if results.is_empty() {
            return;
        }
        let n = results.len() as u32;
        Counters::bump(&self.counters.done, u64::from(n));
        let msg = Msg::Results {
            client: job.client,
            batch: job.batch,
            total: job.total,
            results,
        };
        if let Err(e) = self.node.whisper(job.collector, [msg.encode()]) {
            // The collector is gone; the client will notice and deal these tasks again.
            tracing::debug!("worker: results of batch {:x} lost: {e}", job.batch);
        }
        if let Some(held) = self.held.get_mut(&job.client) {
            *held = held.saturating_sub(n);
            let _ = self.node.whisper(job.client, [Msg::Credit { n }.encode()]);
        }
        // A long job: reports go on while it runs (flushes come at least every 50 ms).
        self.report();
    }
}
