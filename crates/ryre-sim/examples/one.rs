//! Runs one simulation and prints its report: `cargo run -p ryre-sim --example one -- NODES HOSTS SECONDS [SEED]`
//! (`SUBNETS=3 JOIN=agents` in the environment: three subnets joined through agents).
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let h = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let secs = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let mut o = ryre_sim::Options::quiet(n, h, 1);
    o.seconds = secs;
    if let Some(seed) = a.get(4).and_then(|s| s.parse().ok()) {
        o = ryre_sim::Options::from_seed(seed);
    }
    if let Ok(e) = std::env::var("ELECTIONS") {
        o.elections = e == "1";
    }
    if let Some(n) = std::env::var("SUBNETS").ok().and_then(|s| s.parse().ok()) {
        o.subnets = n;
    }
    match std::env::var("JOIN").as_deref() {
        Ok("agents") => o.join = ryre_sim::Join::Agents,
        Ok("none") => o.join = ryre_sim::Join::None,
        Ok("bridged") => o.join = ryre_sim::Join::Bridged,
        _ => {}
    }
    if std::env::var("BROKEN").is_ok() {
        o.broken_heart = true;
    }
    let t = std::time::Instant::now();
    let r = ryre_sim::run(&o);
    println!(
        "nodes {} hosts {} sim {:?} wall {:?} events {} heart {} msgs {} beacons {} enters {} known {}/{} all_known_at {:?} faults {} hash {:016x}",
        o.nodes, o.hosts, r.simulated, t.elapsed(), r.events, r.heart_events, r.messages, r.beacons, r.enters,
        r.pairs_known, r.pairs_total, r.all_known_at, r.faults, r.trace_hash
    );
    for v in r.violations.iter().take(10) {
        println!("  {:?}: {}", v.at, v.what);
    }
}
