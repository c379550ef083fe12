//! End-to-end tests of the `ryre` binary: real processes talking over loopback only, each test
//! on its own OS-chosen beacon port. Every child is killed when its guard drops, and every wait
//! is bounded by a deadline.

mod common;

use common::{free_udp_port, run, Proc};
use serde_json::Value;

#[test]
fn two_nodes_see_each_other_enter_and_join() {
    let port = free_udp_port();
    let mut a = Proc::node("alice", port, &["--join", "g", "--header", "X-K=v"]);
    let mut b = Proc::node("bob", port, &["--join", "g"]);
    let a_id = a.started();
    let b_id = b.started();
    let enter = a.expect_json("ENTER of bob", |v| {
        v["event"] == "ENTER" && v["peer"] == b_id
    });
    assert_eq!(enter["name"], "bob");
    assert!(enter["endpoint"]
        .as_str()
        .is_some_and(|e| e.starts_with("tcp://127.0.0.1:")));
    a.expect_json("JOIN of bob", |v| {
        v["event"] == "JOIN" && v["peer"] == b_id && v["group"] == "g"
    });
    let enter = b.expect_json("ENTER of alice", |v| {
        v["event"] == "ENTER" && v["peer"] == a_id
    });
    assert_eq!(enter["headers"]["X-K"], "v");
    b.expect_json("JOIN of alice", |v| {
        v["event"] == "JOIN" && v["peer"] == a_id && v["group"] == "g"
    });
    // stdin `stop` ends a node cleanly; the other sees it leave.
    a.send("stop");
    assert!(a.finish().success());
    assert_eq!(a.summary()["counts"]["STOP"], 1);
    b.expect_json("EXIT of alice", |v| {
        v["event"] == "EXIT" && v["peer"] == a_id
    });
}

#[test]
fn shout_and_echo_exchange_messages() {
    let port = free_udp_port();
    let mut a = Proc::node(
        "shouter",
        port,
        &[
            "--join",
            "g",
            "--shout",
            "g",
            "hello there",
            "--every",
            "100",
        ],
    );
    let mut b = Proc::node("echoer", port, &["--join", "g", "--echo"]);
    let a_id = a.started();
    let b_id = b.started();
    let shout = b.expect_json("SHOUT", |v| v["event"] == "SHOUT" && v["peer"] == a_id);
    assert_eq!(shout["content"], "hello there");
    assert_eq!(shout["group"], "g");
    assert_eq!(shout["frames"], 1);
    let echo = a.expect_json("echo WHISPER", |v| {
        v["event"] == "WHISPER" && v["peer"] == b_id
    });
    assert_eq!(echo["content"], "ECHO hello there");
}

#[test]
fn for_stops_and_prints_summary() {
    let port = free_udp_port();
    let (status, stdout, stderr) = run(&[
        "node",
        "--json",
        "--interface",
        "lo",
        "--port",
        &port.to_string(),
        "--for",
        "1",
    ]);
    assert!(status.success(), "exit {status:?}; stderr {stderr}");
    let last = stdout.lines().last().expect("some output");
    let v: Value = serde_json::from_str(last).expect("JSON summary");
    assert_eq!(v["event"], "SUMMARY");
    assert_eq!(v["counts"]["STOP"], 1);
    assert!(stdout
        .lines()
        .next()
        .is_some_and(|l| l.contains("\"STARTED\"")));
}

#[test]
fn human_output_for_with_summary() {
    let port = free_udp_port();
    let (status, stdout, _) = run(&[
        "node",
        "--interface",
        "lo",
        "--port",
        &port.to_string(),
        "--for",
        "0.5",
    ]);
    assert!(status.success());
    assert!(stdout
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("STARTED")));
    assert!(stdout.lines().any(|l| l.starts_with("STOP")));
    assert!(stdout
        .lines()
        .last()
        .is_some_and(|l| l.starts_with("SUMMARY") && l.contains("STOP=1")));
}

#[test]
fn stdin_eof_does_not_stop_and_sigterm_does() {
    let port = free_udp_port();
    let mut a = Proc::node("a", port, &["--join", "g"]);
    a.started();
    drop(a.stdin.take()); // EOF on stdin
    let mut b = Proc::node("b", port, &["--join", "g"]);
    let b_id = b.started();
    // `a` is still alive after EOF: it meets a node started after its stdin closed.
    a.expect_json("ENTER of b", |v| v["event"] == "ENTER" && v["peer"] == b_id);
    a.terminate();
    assert!(a.finish().success());
    assert_eq!(a.summary()["counts"]["ENTER"], 1);
}

#[test]
fn stdin_commands_join_shout_whisper() {
    let port = free_udp_port();
    let mut a = Proc::node("a", port, &[]);
    let mut b = Proc::node("b", port, &["--join", "room"]);
    let a_id = a.started();
    let b_id = b.started();
    a.expect_json("ENTER of b", |v| v["event"] == "ENTER" && v["peer"] == b_id);
    a.send("join room");
    b.expect_json("JOIN of a", |v| v["event"] == "JOIN" && v["peer"] == a_id);
    a.send("not a command");
    a.send("shout room hi all");
    let v = b.expect_json("SHOUT", |v| v["event"] == "SHOUT");
    assert_eq!(v["content"], "hi all");
    a.send(&format!("whisper {b_id} psst"));
    let v = b.expect_json("WHISPER", |v| v["event"] == "WHISPER");
    assert_eq!(v["content"], "psst");
    a.send("leave room");
    b.expect_json("LEAVE of a", |v| v["event"] == "LEAVE" && v["peer"] == a_id);
    a.send("stop");
    assert!(a.finish().success());
    assert!(a.stderr_text().contains("unknown command"));
}

#[test]
fn burst_arrives_whole_and_in_order() {
    let port = free_udp_port();
    let mut b = Proc::node("receiver", port, &["--join", "g"]);
    b.started();
    let mut a = Proc::node("burster", port, &["--join", "g", "--burst", "200"]);
    let a_id = a.started();
    for i in 0..200 {
        let v = b.expect_json("burst SHOUT", |v| {
            v["event"] == "SHOUT" && v["peer"] == a_id
        });
        assert_eq!(v["content"], i.to_string());
    }
}

#[test]
fn churn_leaves_and_rejoins() {
    let port = free_udp_port();
    let mut b = Proc::node("watcher", port, &["--join", "g"]);
    b.started();
    let mut a = Proc::node("churner", port, &["--join", "g", "--churn", "5"]);
    let a_id = a.started();
    // HELLO carries the group (one JOIN), then five LEAVE/JOIN pairs, in order.
    let mut kinds = Vec::new();
    while kinds.len() < 11 {
        let v = b.expect_json("churn events", |v| {
            v["peer"] == a_id && (v["event"] == "JOIN" || v["event"] == "LEAVE")
        });
        kinds.push(v["event"].as_str().unwrap_or_default().to_string());
    }
    let mut expected = vec!["JOIN"];
    for _ in 0..5 {
        expected.extend(["LEAVE", "JOIN"]);
    }
    assert_eq!(kinds, expected);
    a.send("stop");
    assert!(a.finish().success());
    assert_eq!(a.summary()["counts"]["ENTER"], 1);
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let cases: &[&[&str]] = &[
        &["node", "--no-such-flag"],
        &["node", "--header", "novalue"],
        &["node", "--every", "0"],
        &["node", "--interface", "no-such-if0"],
        &["node", "--interface", "lo", "--burst", "3"],
        &["node", "--for", "-1"],
        &["node", "--shout", "onlygroup"],
        &["demo", "--nodes", "1"],
        &["bench", "whisper", "--count", "0"],
        &["frobnicate"],
    ];
    for args in cases {
        let (status, _, stderr) = run(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}

#[test]
fn ping_nodes_greet_each_other() {
    let port = free_udp_port();
    let p = port.to_string();
    let args = [
        "ping",
        "--json",
        "--interface",
        "lo",
        "--port",
        &p,
        "--interval",
        "100",
    ];
    let mut a = Proc::spawn("ping-a", &args);
    let mut b = Proc::spawn("ping-b", &args);
    let a_id = a.started();
    let b_id = b.started();
    let v = a.expect_json("hello", |v| v["event"] == "WHISPER" && v["peer"] == b_id);
    assert_eq!(v["content"], "hello");
    b.expect_json("JOIN GLOBAL", |v| {
        v["event"] == "JOIN" && v["peer"] == a_id && v["group"] == "GLOBAL"
    });
}

#[test]
fn peers_lists_a_running_node() {
    let port = free_udp_port();
    let mut n = Proc::node("listed", port, &["--join", "g1", "--header", "X-Z=1"]);
    let id = n.started();
    let p = port.to_string();
    let (status, stdout, stderr) = run(&[
        "peers",
        "--json",
        "--for",
        "1.5",
        "--interface",
        "lo",
        "--port",
        &p,
        "--interval",
        "100",
    ]);
    assert!(status.success(), "{stderr}");
    let v: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["peer"] == id.as_str())
        .unwrap_or_else(|| panic!("peer {id} not listed in {stdout}"));
    assert_eq!(v["name"], "listed");
    assert_eq!(v["groups"], serde_json::json!(["g1"]));
    assert_eq!(v["headers"]["X-Z"], "1");
    assert_eq!(v["state"], "alive");
}

#[test]
fn chat_shouts_lines_and_prints_messages() {
    let port = free_udp_port();
    let p = port.to_string();
    let chat = |name: &str| {
        Proc::spawn(
            name,
            &[
                "chat",
                "--group",
                "room",
                "--name",
                name,
                "--interface",
                "lo",
                "--port",
                &p,
                "--interval",
                "100",
            ],
        )
    };
    let mut a = chat("ann");
    let mut b = chat("ben");
    a.expect_line("ben joined", |l| l == "* ben joined room");
    b.expect_line("ann joined", |l| l == "* ann joined room");
    a.send("hi ben");
    b.expect_line("ann's line", |l| l == "ann: hi ben");
    drop(a.stdin.take()); // EOF ends a chat
    assert!(a.finish().success());
}

#[test]
fn demo_succeeds_with_a_summary() {
    let (status, stdout, stderr) = run(&["demo"]);
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("summary"), "{stdout}");
    assert!(stdout
        .lines()
        .any(|l| l.trim_start().starts_with("alice │")));
    assert!(stdout.lines().last().is_some_and(|l| l == "demo OK"));
}

#[test]
fn bench_whisper_prints_a_ratio() {
    let (status, stdout, stderr) = run(&["bench", "whisper", "--count", "2000", "--json"]);
    assert!(status.success(), "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert!(v["ratio"].as_f64().is_some_and(|r| r > 0.0), "{v}");
    assert!(v["ryre"]["msgs_per_sec"].as_f64().is_some_and(|r| r > 0.0));
    let (status, stdout, stderr) = run(&["bench", "whisper", "--count", "2000", "--rounds", "1"]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("ratio ryre/raw"), "{stdout}");
}

#[test]
fn bench_latency_prints_a_ratio() {
    let (status, stdout, stderr) = run(&["bench", "latency", "--count", "200"]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("ratio p50 ryre/raw"), "{stdout}");
    let (status, stdout, stderr) = run(&[
        "bench", "latency", "--count", "200", "--size", "1024", "--json",
    ]);
    assert!(status.success(), "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert!(v["ratio_p50"].as_f64().is_some_and(|r| r > 0.0), "{v}");
    assert!(v["ryre"]["p99_us"].as_f64().is_some_and(|r| r > 0.0));
}

#[test]
fn bench_discovery_and_failover_report_against_their_targets() {
    let (status, out, err) = run(&[
        "bench",
        "discovery",
        "--rounds",
        "1",
        "--nodes",
        "12",
        "--per-process",
        "4",
        "--idle-secs",
        "1",
        "--raw-mesh",
        "--json",
    ]);
    assert!(status.success(), "{out}\n{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    // The plain-libzmq floor of the same mesh: every node heard from the 8 nodes of the other
    // processes, with the sockets standing.
    assert!(
        v["raw_mesh_all_met_ms"].as_f64().is_some_and(|t| t > 0.0),
        "{v}"
    );
    assert!(
        v["raw_mesh_pss_per_node_mib"]
            .as_f64()
            .is_some_and(|m| m > 0.0),
        "{v}"
    );
    assert!(v["swarm_cpu_secs"].as_f64().is_some(), "{v}");
    assert!(
        v["pair_auto_median_ms"].as_f64().is_some_and(|t| t > 0.0),
        "{v}"
    );
    assert_eq!(v["swarm_nodes"], 12, "{v}");
    assert!(
        v["swarm_all_met_ms"].as_f64().is_some_and(|t| t > 0.0),
        "{v}"
    );
    assert!(
        v["idle_rss_per_node_mib"].as_f64().is_some_and(|m| m > 0.0),
        "{v}"
    );
    assert!(
        v["idle_pss_per_node_mib"].as_f64().is_some_and(|m| m > 0.0),
        "{v}"
    );
    // The kernel's accept-queue overflows while the mesh formed (a count; null only where
    // /proc/net/netstat cannot be read).
    assert!(v["swarm_listen_overflows"].is_u64(), "{v}");
    let (status, out, err) = run(&[
        "bench",
        "failover",
        "--nodes",
        "6",
        "--per-process",
        "2",
        "--rounds",
        "2",
        "--json",
    ]);
    assert!(status.success(), "{out}\n{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(v["spurious_exits"], 0, "{v}");
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["takeover_ms"].as_array().map(Vec::len), Some(2), "{v}");
}

#[test]
fn discovery_modes_on_the_command_line() {
    // Two `local` nodes (no UDP at all) meet through the rendezvous.
    let port = free_udp_port();
    let mut a = Proc::node("loc-a", port, &["--discovery", "local"]);
    let mut b = Proc::node("loc-b", port, &["--discovery", "local"]);
    a.started();
    let b_id = b.started();
    a.expect_json("ENTER of loc-b", |v| {
        v["event"] == "ENTER" && v["peer"] == b_id
    });
    let (status, _, stderr) = run(&["node", "--discovery", "carrier-pigeon"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a discovery mode"), "{stderr}");
}

/// Sends `sig` to a child `ryre` process.
fn signal(p: &Proc, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(p.child.id()).expect("pid fits");
    // SAFETY: signalling our own child, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill");
}

/// A burst or churn that would run for minutes ends at `--for` and on SIGINT/SIGTERM, promptly,
/// and the SUMMARY still prints.
#[test]
fn huge_bursts_and_churns_stop_on_for_and_on_signals() {
    let port = free_udp_port();
    let mut peer = Proc::node("peer", port, &["--join", "g"]);
    peer.started();
    for flag in ["--burst", "--churn"] {
        // --for 1: the loop notices the deadline.
        let t = std::time::Instant::now();
        let mut a = Proc::node(
            "looper",
            port,
            &["--join", "g", flag, "100000000", "--for", "1"],
        );
        assert!(a.finish().success(), "{flag} --for 1");
        let took = t.elapsed();
        println!("{flag} 100000000 --for 1: exited after {took:?}");
        assert!(
            took < std::time::Duration::from_millis(1800),
            "{flag}: {took:?}"
        );
        assert!(a.summary()["counts"]["ENTER"].as_u64() >= Some(1));
        // A signal in the middle of the loop (it starts on the first ENTER/JOIN of the peer).
        for sig in [libc::SIGINT, libc::SIGTERM] {
            let mut a = Proc::node("looper", port, &["--join", "g", flag, "100000000"]);
            // A burst starts on the peer's JOIN, a churn on its ENTER.
            let start = if flag == "--burst" { "JOIN" } else { "ENTER" };
            a.expect_json(start, |v| v["event"] == start);
            let t = std::time::Instant::now();
            signal(&a, sig);
            assert!(a.finish().success(), "{flag} and signal {sig}");
            let took = t.elapsed();
            println!("{flag} 100000000, signal {sig}: exited {took:?} after it");
            assert!(
                took < std::time::Duration::from_millis(800),
                "{flag}/{sig}: {took:?}"
            );
            a.summary();
        }
    }
}

/// Names Zyre cannot carry are refused at start with a clear message (exit 2), a bound is named
/// as it is, and a huge bad value is quoted once, shortened. (A command-line argument cannot hold
/// a NUL; stdin commands can, and get the error as a warning.)
#[test]
fn bad_names_and_bounds_are_refused_clearly() {
    let long_group = "g".repeat(300);
    let (status, _, stderr) = run(&["node", "--interface", "lo", "--shout", &long_group, "hi"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("group name is 300 bytes; ZRE allows at most 255"),
        "{stderr}"
    );
    let (status, _, stderr) = run(&["node", "--for", "1e10"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("at most 1e9"), "{stderr}");
    let huge = "x".repeat(5000);
    let (status, _, stderr) = run(&["node", "--interface", &huge]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.len() < 400,
        "{} bytes of error: {stderr}",
        stderr.len()
    );
    assert!(stderr.contains("(5000 bytes)"), "{stderr}");
    // stdin: a group with a NUL is refused, the node goes on.
    let port = free_udp_port();
    let mut a = Proc::node("nul", port, &[]);
    a.started();
    a.send("join a\u{0}b");
    a.send("stop");
    assert!(a.finish().success());
    assert!(
        a.stderr_text().contains("holds a NUL byte"),
        "{}",
        a.stderr_text()
    );
}
