//! Runs swarm seeds and prints the failing ones: `cargo run -p ryre-sim --example swarm -- FIRST COUNT`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let first = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let count = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let t = std::time::Instant::now();
    let rs = ryre_sim::swarm(first, count, std::time::Duration::from_secs(3600), false);
    let bad: Vec<_> = rs
        .iter()
        .filter(|r| !r.report.violations.is_empty())
        .collect();
    for r in &bad {
        println!(
            "seed {}: {} violations, first: {}",
            r.seed,
            r.report.violations.len(),
            r.report.violations[0].what
        );
    }
    println!(
        "{} seeds, {} failed, {:?}",
        rs.len(),
        bad.len(),
        t.elapsed()
    );
}
