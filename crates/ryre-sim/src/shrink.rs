//! Shrinking: a failing run made small (fewer nodes, hosts, seconds, faults, less workload)
//! while it still fails the same way, and written out as a regression test to paste in.
//!
//! A run is a pure function of its [`Options`], so shrinking works on them: each step tries a
//! smaller variant (half the nodes, one host less, a shorter fault phase, a fault kind or a
//! workload off, ...) and keeps it when the run still has a violation of the same kind
//! ([`violation_kind`]). Once no variant helps, the remaining planned faults are dropped one
//! by one ([`Options::fault_keep`]: the others keep their times and targets). Every step is a
//! whole deterministic run, so the result replays exactly.

use std::time::{Duration, Instant};

use crate::{run, Options, Report};

/// A shrunk failing run.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The options of the original run.
    pub original: Options,
    /// Faults the original run injected.
    pub original_faults: u64,
    /// The kind of violation kept while shrinking ([`violation_kind`]).
    pub kind: String,
    /// The smallest options found that still fail that way.
    pub options: Options,
    /// Their report (it has a violation of that kind).
    pub report: Report,
    /// Runs tried.
    pub runs: u32,
}

impl Shrunk {
    /// A Rust test that replays the shrunk run and asserts it passes: paste it into
    /// `crates/ryre-sim/tests/sim.rs` once the bug is fixed (it fails until then).
    pub fn regression_test(&self) -> String {
        let o = &self.options;
        let base = Options::from_seed(o.seed);
        let mut lines = Vec::new();
        let mut set = |name: &str, differs: bool, value: String| {
            if differs {
                lines.push(format!("    o.{name} = {value};"));
            }
        };
        let d = |d: Duration| format!("Duration::from_nanos({})", d.as_nanos());
        let pair = |p: (Duration, Duration)| format!("({}, {})", d(p.0), d(p.1));
        set("nodes", o.nodes != base.nodes, o.nodes.to_string());
        set("hosts", o.hosts != base.hosts, o.hosts.to_string());
        set("subnets", o.subnets != base.subnets, o.subnets.to_string());
        set(
            "join",
            o.join != base.join,
            format!("ryre_sim::Join::{:?}", o.join),
        );
        set("loss", o.loss != base.loss, format!("{:?}", o.loss));
        set("dup", o.dup != base.dup, format!("{:?}", o.dup));
        set("jitter", o.jitter != base.jitter, pair(o.jitter));
        set("latency", o.latency != base.latency, pair(o.latency));
        set("stagger", o.stagger != base.stagger, d(o.stagger));
        set(
            "seconds",
            o.seconds != base.seconds,
            format!("{:?}", o.seconds),
        );
        set(
            "settle",
            o.settle != base.settle,
            match o.settle {
                Some(s) => format!("Some({})", d(s)),
                None => "None".into(),
            },
        );
        let (f, b) = (&o.faults, &base.faults);
        set("faults.crash", f.crash != b.crash, format!("{:?}", f.crash));
        set("faults.stop", f.stop != b.stop, format!("{:?}", f.stop));
        set(
            "faults.restart",
            f.restart != b.restart,
            format!("{:?}", f.restart),
        );
        set("faults.pause", f.pause != b.pause, format!("{:?}", f.pause));
        set(
            "faults.pause_max",
            f.pause_max != b.pause_max,
            d(f.pause_max),
        );
        set(
            "faults.partition",
            f.partition != b.partition,
            format!("{:?}", f.partition),
        );
        set(
            "faults.partition_max",
            f.partition_max != b.partition_max,
            d(f.partition_max),
        );
        set("faults.reset", f.reset != b.reset, format!("{:?}", f.reset));
        set(
            "faults.agent_kill",
            f.agent_kill != b.agent_kill,
            format!("{:?}", f.agent_kill),
        );
        set(
            "shout_rate",
            o.shout_rate != base.shout_rate,
            format!("{:?}", o.shout_rate),
        );
        set(
            "whisper_rate",
            o.whisper_rate != base.whisper_rate,
            format!("{:?}", o.whisper_rate),
        );
        set(
            "group_churn",
            o.group_churn != base.group_churn,
            format!("{:?}", o.group_churn),
        );
        set("interval", o.interval != base.interval, d(o.interval));
        set("evasive", o.evasive != base.evasive, d(o.evasive));
        set("expired", o.expired != base.expired, d(o.expired));
        set("hwm", o.hwm != base.hwm, o.hwm.to_string());
        set("skew", o.skew != base.skew, format!("{:?}", o.skew));
        set(
            "faults.clock_jump",
            o.faults.clock_jump != base.faults.clock_jump,
            format!("{:?}", o.faults.clock_jump),
        );
        set(
            "faults.clock_jump_max",
            o.faults.clock_jump_max != base.faults.clock_jump_max,
            d(o.faults.clock_jump_max),
        );
        set(
            "elections",
            o.elections != base.elections,
            o.elections.to_string(),
        );
        set(
            "broken_heart",
            o.broken_heart != base.broken_heart,
            o.broken_heart.to_string(),
        );
        set(
            "fault_keep",
            o.fault_keep != base.fault_keep,
            format!("{:?}", o.fault_keep).replace("Some([", "Some(vec!["),
        );
        let what = self
            .report
            .violations
            .iter()
            .find(|v| violation_kind(&v.what) == self.kind)
            .map(|v| v.what.clone())
            .unwrap_or_default();
        format!(
            "/// Shrunk from swarm seed {seed} ({n0} nodes, {s0} s, {f0} faults) to {n} nodes, {s} s,\n\
             /// {f} faults; it failed with: {what}\n\
             #[test]\n\
             fn shrunk_seed_{seed}() {{\n\
             \x20   #[allow(unused_imports)]\n\
             \x20   use std::time::Duration;\n\
             \x20   let mut o = ryre_sim::Options::from_seed({seed});\n\
             {body}\n\
             \x20   let r = ryre_sim::run(&o);\n\
             \x20   assert!(r.violations.is_empty(), \"{{:?}}\", r.violations);\n\
             }}\n",
            seed = o.seed,
            n0 = self.original.nodes,
            s0 = self.original.seconds,
            f0 = self.original_faults,
            n = o.nodes,
            s = o.seconds,
            f = self.report.faults,
            body = lines.join("\n"),
        )
    }
}

/// The kind of a violation: its text with every word that holds a digit (ids, names, times,
/// counts) replaced by `#`, so "n3 got EXIT for 1a2b... without ENTER" and the same rule
/// broken by other nodes are one kind.
pub fn violation_kind(what: &str) -> String {
    what.split_whitespace()
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                "#"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Shrinks the failing run `o` (its first violation's kind is kept) with at most `max_runs`
/// runs and `budget` of wall time. `None` when `o` does not fail.
pub fn shrink(o: &Options, max_runs: u32, budget: Duration) -> Option<Shrunk> {
    let started = Instant::now();
    let first = run(o);
    let kind = violation_kind(&first.violations.first()?.what);
    let mut best = Shrunk {
        original: o.clone(),
        original_faults: first.faults,
        kind,
        options: o.clone(),
        report: first,
        runs: 1,
    };
    let out_of_time = |b: &Shrunk| b.runs >= max_runs || started.elapsed() >= budget;
    // Phase 1: smaller options, greedily, until no variant helps.
    let mut progress = true;
    while progress && !out_of_time(&best) {
        progress = false;
        for cand in variants(&best.options) {
            if out_of_time(&best) {
                break;
            }
            if try_candidate(&mut best, cand) {
                progress = true;
                break;
            }
        }
    }
    // Phase 2: drop the planned faults that are not needed, halves first, then one by one.
    let planned = best.report.planned_faults as u32;
    let mut keep: Vec<u32> = best
        .options
        .fault_keep
        .clone()
        .unwrap_or_else(|| (0..planned).collect());
    let mut chunk = keep.len().div_ceil(2).max(1);
    while chunk >= 1 && !keep.is_empty() && !out_of_time(&best) {
        let mut i = 0;
        let mut dropped = false;
        while i < keep.len() && !out_of_time(&best) {
            let mut fewer = keep.clone();
            fewer.drain(i..(i + chunk).min(keep.len()));
            let mut cand = best.options.clone();
            cand.fault_keep = Some(fewer.clone());
            if try_candidate(&mut best, cand) {
                keep = fewer;
                dropped = true;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 && !dropped {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    Some(best)
}

/// Runs `cand`; keeps it in `best` when it still fails the same way.
fn try_candidate(best: &mut Shrunk, cand: Options) -> bool {
    best.runs += 1;
    let r = run(&cand);
    if r.violations
        .iter()
        .any(|v| violation_kind(&v.what) == best.kind)
    {
        best.options = cand;
        best.report = r;
        true
    } else {
        false
    }
}

/// Smaller variants of `o`, most shrinking first.
fn variants(o: &Options) -> Vec<Options> {
    let mut out = Vec::new();
    let mut push = |f: &dyn Fn(&mut Options)| {
        let mut c = o.clone();
        f(&mut c);
        c.hosts = c.hosts.clamp(1, c.nodes.max(1));
        c.subnets = c.subnets.clamp(1, c.hosts);
        // Any change redraws the fault plan: phase 2 picks from the final one.
        c.fault_keep = None;
        if c != *o {
            out.push(c);
        }
    };
    if o.nodes > 2 {
        push(&|c| c.nodes = (c.nodes / 2).max(2));
    }
    if o.seconds > 4.0 {
        push(&|c| c.seconds = (c.seconds / 2.0).max(4.0).round());
    }
    if o.nodes > 2 {
        push(&|c| c.nodes -= 1);
    }
    if o.hosts > 1 {
        push(&|c| c.hosts = (c.hosts / 2).max(1));
        push(&|c| c.hosts -= 1);
    }
    if o.subnets > 1 {
        push(&|c| c.subnets -= 1);
    }
    if o.seconds > 4.0 {
        push(&|c| c.seconds = (c.seconds * 0.75).max(4.0).round());
        push(&|c| c.seconds = (c.seconds - 1.0).max(4.0));
    }
    push(&|c| c.faults.crash = 0.0);
    push(&|c| c.faults.stop = 0.0);
    push(&|c| c.faults.pause = 0.0);
    push(&|c| c.faults.partition = 0.0);
    push(&|c| c.faults.agent_kill = 0.0);
    push(&|c| c.faults.reset = 0.0);
    push(&|c| c.faults.restart = 0.0);
    push(&|c| c.group_churn = 0.0);
    push(&|c| c.whisper_rate = 0.0);
    push(&|c| c.shout_rate = 0.0);
    push(&|c| c.faults.clock_jump = 0.0);
    push(&|c| c.skew = 0.0);
    push(&|c| c.elections = false);
    push(&|c| c.loss = 0.0);
    push(&|c| c.dup = 0.0);
    out
}
