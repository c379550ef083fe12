//! Runs swarm seeds within a wall-clock budget and prints one line per seed (seed, result, trace
//! hash): `cargo run --release -p ryre-sim --example swarm -- FIRST COUNT [BUDGET_SECS]`. Exits 1
//! when a seed fails. (`ryre sim swarm` does the same from the CLI.)
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let a: Vec<String> = std::env::args().collect();
    let first = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let count = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let budget = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(3600.0);
    let t = std::time::Instant::now();
    let rs = ryre_sim::swarm(first, count, Duration::from_secs_f64(budget), false);
    let mut failed = 0;
    for r in &rs {
        match r.report.violations.first() {
            None => println!("seed {} ok {:016x}", r.seed, r.report.trace_hash),
            Some(v) => {
                failed += 1;
                println!(
                    "seed {} FAILED {:016x}: {} (replay: ryre sim swarm --seed {} --seeds 1)",
                    r.seed, r.report.trace_hash, v.what, r.seed
                );
                // Shrunk to a small run, printed as a regression test (on stderr, so stdout
                // stays one line per seed for the determinism check).
                if let Some(s) = ryre_sim::shrink(&r.report.options, 200, Duration::from_secs(50)) {
                    eprintln!(
                        "seed {} shrunk in {} runs to {} nodes, {} s, {} faults:\n{}",
                        r.seed,
                        s.runs,
                        s.options.nodes,
                        s.options.seconds,
                        s.report.faults,
                        s.regression_test()
                    );
                }
            }
        }
    }
    eprintln!(
        "{} seeds, {} failed, {:.1} s",
        rs.len(),
        failed,
        t.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
