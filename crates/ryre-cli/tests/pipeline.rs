//! The reliable pipeline with real processes: `ryre pipeline worker` and `ryre pipeline collect`
//! processes killed with SIGKILL (kill -9) mid-batch, on loopback only, each test on its own
//! OS-chosen beacon port and cluster. Every child is killed when its guard drops; every wait is
//! bounded.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ryre::{Bytes, Node, NodeBuilder};
use ryre_pipeline::proto::{Msg, Task};
use ryre_pipeline::{Batch, Client, Collector, Config};
// Proc: a child process, killed with SIGKILL and reaped on drop.
use ryre_testkit::{free_udp_port, Kill as Proc};

fn ryre(port: u16, cluster: &str, args: &[&str]) -> Proc {
    ryre_with_stderr(port, cluster, args, Stdio::null())
}

fn ryre_with_stderr(port: u16, cluster: &str, args: &[&str], stderr: Stdio) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_ryre"))
        .arg("pipeline")
        .args(args)
        .args(["--interface", "lo", "--port", &port.to_string()])
        .args(["--cluster", cluster, "--interval", "100"])
        .args(["--evasive", "500", "--expired", "1500"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn ryre");
    Proc(child)
}

fn net(port: u16, name: &str) -> NodeBuilder {
    Node::builder()
        .name(name)
        .interface("lo")
        .port(port)
        .interval(Duration::from_millis(100))
        .evasive_timeout(Duration::from_millis(500))
        .expired_timeout(Duration::from_millis(1500))
}

fn config(cluster: &str) -> Config {
    Config {
        task_timeout: Duration::from_millis(1000),
        result_timeout: Duration::from_millis(2000),
        collector_timeout: Duration::from_millis(1500),
        progress_interval: Duration::from_millis(100),
        status_interval: Duration::from_millis(100),
        ..Config::cluster(cluster)
    }
}

fn payloads(n: u64) -> Vec<Bytes> {
    (0..n).map(|i| Bytes::from(format!("t{i}"))).collect()
}

/// Takes results until the batch is complete, checking each task number arrives exactly once
/// with the right (echoed) result; calls `at(delivered)` after each result.
fn drain(batch: &mut Batch, seen: &mut HashSet<u64>, limit: Duration, mut at: impl FnMut(usize)) {
    let deadline = Instant::now() + limit;
    while batch.remaining() > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some((no, r)) = batch.recv_timeout(left) else {
            panic!(
                "only {} of {} results within {limit:?}",
                seen.len(),
                batch.total()
            );
        };
        assert!(seen.insert(no), "task {no} delivered twice");
        let v = r.unwrap_or_else(|e| panic!("task {no} failed: {e}"));
        assert_eq!(v.as_ref(), format!("t{no}").as_bytes(), "task {no}");
        at(seen.len());
    }
    assert!(batch.recv_timeout(Duration::from_millis(100)).is_none());
}

/// Waits (bounded) until `n` workers have given the client credit.
fn wait_ready(client: &Client, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.ready_workers() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} workers ready",
            client.ready_workers()
        );
        std::thread::sleep(Duration::from_millis(10)); // polling with a deadline
    }
}

/// A seed that differs from run to run (the kill points are random), printed for replay.
fn seed() -> u64 {
    let s = std::env::var("PIPELINE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("PIPELINE_SEED={s}");
    s
}

fn next(s: &mut u64) -> u64 {
    // xorshift64
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[test]
fn hundred_thousand_tasks_two_workers_killed_one_slow() {
    let port = free_udp_port();
    let cluster = "big";
    let mut rng = seed() | 1;
    let mut workers = [
        ryre(port, cluster, &["worker", "--echo"]),
        ryre(port, cluster, &["worker", "--echo"]),
        ryre(port, cluster, &["worker", "--echo"]),
        // The slow one: 2 ms per task, a window of 32.
        ryre(
            port,
            cluster,
            &["worker", "--echo", "--delay", "2", "--window", "32"],
        ),
    ];
    let _collector = Collector::start(net(port, "collector"), config(cluster)).unwrap();
    let client = Client::start(net(port, "client"), config(cluster)).unwrap();
    let total = 100_000u64;
    wait_ready(&client, 4);
    // Two distinct fast workers die at two random points between 5% and 90% of the batch.
    let mut kills: Vec<(usize, usize)> = vec![
        (
            (5_000 + next(&mut rng) % 85_000) as usize,
            (next(&mut rng) % 3) as usize,
        ),
        ((5_000 + next(&mut rng) % 85_000) as usize, 0),
    ];
    kills[1].1 = (kills[0].1 + 1 + (next(&mut rng) % 2) as usize) % 3;
    kills.sort();
    eprintln!("kills (after n results, worker): {kills:?}");
    let started = Instant::now();
    let mut batch = client.submit(payloads(total)).unwrap();
    let mut seen = HashSet::new();
    let mut k = 0;
    drain(&mut batch, &mut seen, Duration::from_secs(60), |n| {
        while k < kills.len() && n >= kills[k].0 {
            workers[kills[k].1].kill9();
            k += 1;
        }
    });
    assert_eq!(k, 2, "both kills happened mid-batch");
    assert_eq!(seen.len() as u64, total);
    eprintln!(
        "100000 tasks in {:?}; client stats {:?}",
        started.elapsed(),
        client.stats()
    );
}

fn collector_loss(replace: bool) {
    let port = free_udp_port();
    let cluster = if replace { "replace" } else { "restart" };
    let _w1 = ryre(port, cluster, &["worker", "--echo", "--delay", "1"]);
    let _w2 = ryre(port, cluster, &["worker", "--echo", "--delay", "1"]);
    let mut first = ryre(port, cluster, &["collect"]);
    let client = Client::start(net(port, "client"), config(cluster)).unwrap();
    wait_ready(&client, 2);
    let total = 4000;
    let mut batch = client.submit(payloads(total)).unwrap();
    let mut seen = HashSet::new();
    let mut second = None;
    let mut done = false;
    drain(&mut batch, &mut seen, Duration::from_secs(40), |n| {
        if n >= 1000 && !done {
            done = true;
            if replace {
                // A second collector is there before the first one dies.
                second = Some(ryre(port, cluster, &["collect"]));
                std::thread::sleep(Duration::from_millis(300)); // let it be seen; not a sync
                first.kill9();
            } else {
                first.kill9();
                // The same role comes back (a new process) a little later.
                std::thread::sleep(Duration::from_millis(500)); // the gap; not a sync
                second = Some(ryre(port, cluster, &["collect"]));
            }
        }
    });
    assert!(done, "the collector died mid-batch");
    assert_eq!(seen.len() as u64, total);
    assert!(client.stats().redealt > 0, "{:?}", client.stats());
}

#[test]
fn collector_killed_and_restarted() {
    collector_loss(false);
}

#[test]
fn collector_replaced_by_a_second_one() {
    collector_loss(true);
}

#[test]
fn run_prints_results_in_task_order_and_reports_errors() {
    let port = free_udp_port();
    let cluster = "run";
    let script = r#"read -r x || true; case "$x" in bad*) echo "no bad input" >&2; exit 3;; esac; printf '%s\n' "$x" | tr a-z A-Z"#;
    let _w1 = ryre(port, cluster, &["worker", "--exec", script]);
    let _w2 = ryre(port, cluster, &["worker", "--exec", script]);
    let _c = ryre(port, cluster, &["collect"]);
    let dir = std::env::temp_dir().join(format!("ryre-pipeline-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("tasks.txt");
    let mut lines: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
    lines[17] = "bad one".into();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ryre"))
        .args(["pipeline", "run", "--input"])
        .arg(&input)
        .args(["--interface", "lo", "--port", &port.to_string()])
        .args(["--cluster", cluster, "--interval", "100", "--timeout", "30"])
        .args(["--attempts", "2", "--no-progress"])
        .output()
        .expect("run ryre pipeline run");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let expected: Vec<String> = (0..30)
        .filter(|&i| i != 17)
        .map(|i| format!("LINE {i}"))
        .collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
    assert!(
        stderr.contains("task 17 failed: task failed after 2 attempt(s): no bad input"),
        "stderr: {stderr}"
    );
}

#[test]
fn demo_kills_workers_and_every_result_arrives_once() {
    let out = Command::new(env!("CARGO_BIN_EXE_ryre"))
        .args(["pipeline", "demo", "--tasks", "20000", "--workers", "3"])
        .args(["--kill", "2", "--timeout", "60"])
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("kill -9 worker").count(), 2, "{stdout}");
    assert!(
        stdout.contains("20000 task numbers exactly once"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK: every result arrived exactly once"),
        "{stdout}"
    );
}

#[test]
fn demo_refuses_killing_every_worker() {
    let out = Command::new(env!("CARGO_BIN_EXE_ryre"))
        .args(["pipeline", "demo", "--workers", "2", "--kill", "2"])
        .output()
        .expect("run the demo");
    assert_eq!(out.status.code(), Some(2));
}

fn signal(p: &Proc, sig: libc::c_int) {
    signal_pid(p.0.id(), sig);
}

fn signal_pid(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid");
    // SAFETY: kill(2) on our own child's pid has no memory-safety requirements.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Freezes a process (SIGSTOP) and thaws it (SIGCONT) `after` later, from a timer thread (fault
/// injection on a clock, independent of how fast results flow).
fn freeze_for(p: &Proc, after: Duration) -> std::thread::JoinHandle<()> {
    signal(p, libc::SIGSTOP);
    let pid = p.0.id();
    std::thread::spawn(move || {
        std::thread::sleep(after); // the length of the freeze, not a synchronisation
        signal_pid(pid, libc::SIGCONT);
    })
}

/// A worker frozen (SIGSTOP) mid-batch only looks dead: its tasks go to the others, and when it
/// resumes (SIGCONT) its late results are duplicates, dropped by the collector.
#[test]
fn a_frozen_worker_comes_back_and_its_duplicates_are_dropped() {
    let port = free_udp_port();
    let cluster = "frozen";
    let frozen = ryre(port, cluster, &["worker", "--echo", "--delay", "1"]);
    let _w2 = ryre(port, cluster, &["worker", "--echo", "--delay", "1"]);
    let collector = Collector::start(net(port, "collector"), config(cluster)).unwrap();
    // Presumed dead after 500 ms of silence; it expires (EXIT) only after 1.5 s.
    let quick = Config {
        task_timeout: Duration::from_millis(500),
        ..config(cluster)
    };
    let client = Client::start(net(port, "client"), quick).unwrap();
    wait_ready(&client, 2);
    let total = 3000;
    let mut batch = client.submit(payloads(total)).unwrap();
    let mut seen = HashSet::new();
    let mut thaw = None;
    drain(&mut batch, &mut seen, Duration::from_secs(40), |n| {
        // Frozen mid-batch; thawed well after its tasks were dealt elsewhere (500 ms) but
        // before it expires (1.5 s).
        if n >= 300 && thaw.is_none() {
            thaw = Some(freeze_for(&frozen, Duration::from_millis(1000)));
        }
    });
    thaw.expect("frozen mid-batch").join().unwrap();
    assert_eq!(seen.len() as u64, total);
    assert!(client.stats().redealt > 0, "{:?}", client.stats());
    // Its late results reach the collector (bounded wait) and are dropped there.
    let deadline = Instant::now() + Duration::from_secs(10);
    while collector.stats().duplicates + collector.stats().stale == 0 {
        assert!(
            Instant::now() < deadline,
            "no late result reached the collector: {:?}",
            collector.stats()
        );
        std::thread::sleep(Duration::from_millis(20)); // polling with a deadline
    }
}

/// A collector frozen (SIGSTOP) mid-batch falls silent: the client moves to the other one; when
/// the first resumes, whatever it forwards late is dropped by the client.
#[test]
fn a_frozen_collector_is_replaced_and_its_late_results_are_dropped() {
    let port = free_udp_port();
    let cluster = "frozen-collector";
    let _w1 = ryre(port, cluster, &["worker", "--echo", "--delay", "1"]);
    let _w2 = ryre(port, cluster, &["worker", "--echo", "--delay", "1"]);
    let first = ryre(port, cluster, &["collect"]);
    let client = Client::start(net(port, "client"), config(cluster)).unwrap();
    wait_ready(&client, 2);
    let total = 4000;
    let mut batch = client.submit(payloads(total)).unwrap();
    let mut seen = HashSet::new();
    let mut second = None;
    let mut thaw = None;
    drain(&mut batch, &mut seen, Duration::from_secs(40), |n| {
        if n >= 500 && second.is_none() {
            second = Some(ryre(port, cluster, &["collect"]));
            std::thread::sleep(Duration::from_millis(300)); // let it be seen; not a sync
                                                            // Silent past the client's 1.5 s collector timeout, back before it would expire
                                                            // at the workers... or not: either way the batch must complete exactly once.
            thaw = Some(freeze_for(&first, Duration::from_millis(1700)));
        }
    });
    assert!(second.is_some());
    assert_eq!(seen.len() as u64, total);
    // The batch moved to the second collector (it did not just wait for the first to thaw).
    assert!(client.stats().redealt > 0, "{:?}", client.stats());
    thaw.expect("frozen mid-batch").join().unwrap();
}

/// Garbage, foreign and forged whispers to a real `ryre pipeline worker` and `collect` process
/// (from a node outside the cluster and from one claiming the client role) never stop them.
#[test]
fn garbage_never_stops_worker_and_collector_processes() {
    let port = free_udp_port();
    let cluster = "garbage";
    let mut worker = ryre_with_stderr(port, cluster, &["worker", "--echo"], Stdio::piped());
    let mut collector = ryre_with_stderr(port, cluster, &["collect"], Stdio::piped());
    let attackers = [
        net(port, "stranger").start().unwrap(),
        net(port, "mallory")
            .header(ryre_pipeline::ROLE_HEADER, "client")
            .header(ryre_pipeline::CLUSTER_HEADER, cluster)
            .start()
            .unwrap(),
    ];
    // Both attackers meet both processes (two pipeline peers each).
    let deadline = Instant::now() + Duration::from_secs(20);
    for a in &attackers {
        a.join(&ryre_pipeline::Role::Client.group(cluster)).unwrap();
        while a
            .peers()
            .iter()
            .filter(|p| {
                matches!(
                    a.peer_header_value(p, ryre_pipeline::ROLE_HEADER)
                        .as_deref(),
                    Some("worker" | "collector")
                )
            })
            .count()
            < 2
        {
            assert!(Instant::now() < deadline, "attackers never met the roles");
            let _ = a.recv_timeout(Duration::from_millis(20));
        }
    }
    let mut frames: Vec<Vec<u8>> = vec![
        vec![],
        b"\xAA\xB6".to_vec(),
        b"\xAA\xB6\x01\x02\xff\xff\xff\xff".to_vec(),
        b"\xAA\xB6\x07\x01".to_vec(),
        b"hello".to_vec(),
    ];
    // Well-formed but forged: messages these roles never take from a client, and more tasks
    // than any credit given.
    let forged = [
        Msg::Credit { n: 5 },
        Msg::Ready { window: 9 },
        Msg::Progress {
            batch: 1,
            received: 1,
            contiguous: 1,
            missing: vec![],
        },
        Msg::Results {
            client: attackers[1].uuid(),
            batch: 1,
            total: 1,
            results: vec![],
        },
        Msg::Tasks {
            batch: 1,
            total: 5000,
            collector: attackers[0].uuid(),
            tasks: (0..5000)
                .map(|no| Task {
                    no,
                    payload: Bytes::from_static(b"x"),
                })
                .collect(),
        },
    ];
    frames.extend(forged.iter().map(|m| m.encode().to_vec()));
    let mut rng = seed() | 1;
    for _ in 0..200 {
        let len = (next(&mut rng) % 80) as usize;
        let mut f = vec![0xAA, 0xB6, 1, (next(&mut rng) % 9) as u8];
        f.extend((0..len).map(|_| next(&mut rng) as u8));
        frames.push(f);
    }
    for a in &attackers {
        for p in a.peers() {
            for f in &frames {
                a.whisper(p, [f.clone()]).unwrap();
            }
            a.whisper(p, [b"two".to_vec(), b"frames".to_vec()]).unwrap();
        }
    }
    // Still serving.
    let client = Client::start(net(port, "client"), config(cluster)).unwrap();
    wait_ready(&client, 1);
    let mut batch = client.submit(payloads(2000)).unwrap();
    let mut seen = HashSet::new();
    drain(&mut batch, &mut seen, Duration::from_secs(30), |_| {});
    for (name, p) in [("worker", &mut worker), ("collector", &mut collector)] {
        assert!(p.0.try_wait().unwrap().is_none(), "the {name} process died");
        // Stopped cleanly, it reports what it dropped.
        signal(p, libc::SIGTERM);
        let mut err = String::new();
        let mut pipe = p.0.stderr.take().expect("stderr");
        std::io::Read::read_to_string(&mut pipe, &mut err).unwrap();
        let status = p.0.wait().unwrap();
        assert!(status.success(), "{name}: {status}; {err}");
        let count = |field: &str| -> u64 {
            err.split(&format!("{field}: "))
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{name}: no {field} count in {err:?}"))
        };
        assert!(count("malformed") > 0, "{name}: {err}");
        assert!(count("unexpected") + count("stale") > 0, "{name}: {err}");
    }
}
