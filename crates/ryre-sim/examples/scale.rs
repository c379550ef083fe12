//! The BENCHMARKS.md runs without the CLI: `cargo run --release -p ryre-sim --example scale --
//! NODES HOSTS SUBNETS LOSS SECONDS [SEED [swarm] [bridged|none|agents]]` (settle 0 and no shouts
//! unless `swarm`, as `ryre sim ... --settle 0 --shouts 0`; the last word is how the subnets
//! meet, `--join`, bridged by default). Prints the report, the wall time and the peak memory
//! (VmHWM); run it under `/usr/bin/time` for the CPU time.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: f64| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let mut o = ryre_sim::Options::quiet(
        arg(1, 1000.0) as usize,
        arg(2, 1000.0) as usize,
        arg(3, 1.0) as usize,
    );
    o.loss = arg(4, 0.1);
    o.seconds = arg(5, 6.0);
    o.seed = arg(6, 1.0) as u64;
    let words = a.get(7..).unwrap_or_default();
    for w in words {
        match w.as_str() {
            "bridged" => o.join = ryre_sim::Join::Bridged,
            "none" => o.join = ryre_sim::Join::None,
            "agents" => o.join = ryre_sim::Join::Agents,
            _ => {}
        }
    }
    if words.iter().any(|s| s == "swarm") {
        o = o.with_swarm_faults();
    } else {
        o.settle = Some(std::time::Duration::ZERO);
        o.shout_rate = 0.0;
    }
    let t = std::time::Instant::now();
    let r = ryre_sim::run(&o);
    let wall = t.elapsed();
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.to_string())
        })
        .unwrap_or_default();
    println!(
        "nodes {} join {} loss {} seed {} sim {:.1}s wall {:.3}s events {} heart {} msgs {} beacons {} gossip {} enters {} all_known_at {:?} (wall {:?}) known {}/{} violations {} hash {:016x} {}",
        o.nodes, o.join.name(), o.loss, o.seed, r.simulated.as_secs_f64(), wall.as_secs_f64(), r.events, r.heart_events, r.messages,
        r.beacons, r.gossip_frames, r.enters, r.all_known_at, r.all_known_wall, r.pairs_known, r.pairs_total, r.violations.len(), r.trace_hash, hwm
    );
}
