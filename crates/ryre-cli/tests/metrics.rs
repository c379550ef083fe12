//! Prometheus metrics of `ryre node --metrics` and the bridge's `GET /metrics`, scraped over
//! real HTTP from real processes on loopback and checked by a real parser: Prometheus's
//! `promtool check metrics` (Debian's `prometheus` package; `scripts/test-metrics.sh` installs
//! it and sets `RYRE_REQUIRE_PROMTOOL=1`, without which a missing promtool skips that check
//! loudly). A deliberately broken copy of the scrape shows the check can fail.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_udp_port, Proc, WAIT};

/// `GET path` over plain HTTP/1.1; (status, content type, body).
fn get(addr: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ctype, body.to_string())
}

/// `promtool check metrics` on `text`: Some(Ok) valid, Some(Err(why)) invalid, None: no
/// promtool here (only allowed without RYRE_REQUIRE_PROMTOOL).
fn promtool(text: &str) -> Option<Result<(), String>> {
    let child = Command::new("timeout")
        .args(["60", "promtool", "check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.expect("spawn timeout");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // timeout(1) exits 127 when it cannot find the program.
    if out.status.code() == Some(127) {
        assert!(
            std::env::var_os("RYRE_REQUIRE_PROMTOOL").is_none(),
            "promtool is required (RYRE_REQUIRE_PROMTOOL) but not installed"
        );
        eprintln!("SKIPPED: promtool not installed; run scripts/test-metrics.sh");
        return None;
    }
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
    .into()
}

/// The value of the sample `name{labels}` (labels as written, e.g. `kind="HELLO"`).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == series).then(|| v.parse().ok()).flatten()
    })
}

/// Scrapes until `ok` holds (the counters move as the nodes talk), bounded.
fn scrape_until(addr: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, ctype, body) = get(addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        if ok(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}; last scrape:\n{body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metrics_addr(p: &mut Proc) -> String {
    let v = p.expect_json("METRICS", |v| v["event"] == "METRICS");
    let url = v["url"].as_str().expect("url");
    url.trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string()
}

fn check_with_promtool(text: &str) {
    if let Some(r) = promtool(text) {
        r.unwrap_or_else(|e| panic!("promtool rejects the scrape: {e}\n{text}"));
        // The check can fail: a sample with a non-number value, and a counter without _total.
        let broken = text.replacen(
            "\nryre_node_bytes_in_total ",
            "\nryre_node_bytes_in_total x",
            1,
        );
        assert_ne!(broken, text);
        assert!(
            promtool(&broken).is_some_and(|r| r.is_err()),
            "promtool took a broken scrape"
        );
        let lint =
            "# HELP requests_seen Requests.\n# TYPE requests_seen counter\nrequests_seen 1\n";
        assert!(
            promtool(lint).is_some_and(|r| r.is_err()),
            "promtool took a counter without _total"
        );
    }
}

#[test]
fn node_metrics_follow_the_mesh_and_parse() {
    let port = free_udp_port();
    let mut a = Proc::node("a", port, &["--join", "m", "--metrics", "127.0.0.1:0"]);
    let a_id = a.started();
    let addr = metrics_addr(&mut a);
    let mut b = Proc::node("b", port, &["--join", "m"]);
    b.started();
    a.expect_json("JOIN of b", |v| v["event"] == "JOIN" && v["name"] == "b");
    a.send(&format!("shout m {}", "x".repeat(100)));
    let text = scrape_until(&addr, "a's counters after meeting b and shouting", |t| {
        sample(t, r#"ryre_node_peers{state="alive"}"#) == Some(1.0)
            && sample(t, r#"ryre_node_messages_out_total{kind="SHOUT"}"#) == Some(1.0)
            && sample(t, r#"ryre_node_messages_in_total{kind="HELLO"}"#) >= Some(1.0)
    });
    assert!(text.contains(&format!("uuid=\"{a_id}\"")), "{text}");
    assert!(sample(&text, "ryre_node_bytes_out_total") > Some(100.0));
    assert!(sample(&text, "ryre_node_bytes_in_total") > Some(0.0));
    assert_eq!(sample(&text, "ryre_node_groups"), Some(1.0));
    for family in [
        "ryre_node_dropped_messages_total",
        "ryre_node_problems_total",
        "ryre_node_peer_exits_total",
        "ryre_node_backlog_messages",
        "ryre_node_event_batches_queued",
        "ryre_node_agent",
        "ryre_node_elections_decided_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no {family}:\n{text}"
        );
    }
    // b leaves: a counts the exit by its reason.
    b.send("stop");
    assert!(b.finish().success());
    scrape_until(&addr, "b's exit counted", |t| {
        sample(t, r#"ryre_node_peers{state="alive"}"#) == Some(0.0)
            && t.lines()
                .filter(|l| l.starts_with("ryre_node_peer_exits_total"))
                .any(|l| !l.ends_with(" 0"))
    });
    check_with_promtool(&text);
    let (status, _, _) = get(&addr, "/nothing");
    assert_eq!(status, 404);
}

#[test]
fn a_bad_metrics_address_is_a_clear_error() {
    let (status, _, err) = common::run(&["node", "--metrics", "not-an-address", "--for", "0.1"]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("--metrics"), "{err}");
    // An address in use: a runtime error naming it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let port = free_udp_port().to_string();
    let (status, _, err) = common::run(&[
        "node",
        "--interface",
        "lo",
        "--port",
        &port,
        "--metrics",
        &addr,
        "--for",
        "0.1",
    ]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains(&addr), "{err}");
}

#[test]
fn bridge_serves_metrics_with_log_records_per_level() {
    let port = free_udp_port().to_string();
    let mut bridge = Proc::spawn(
        "bridge",
        &[
            "bridge",
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--interface",
            "lo",
            "--port",
            &port,
            "--interval",
            "100",
        ],
    );
    let v = bridge.expect_json("LISTENING", |v| v["event"] == "LISTENING");
    let addr = v["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // Records at two levels from a real publisher on the mesh.
    let mut emit = Proc::spawn(
        "emit",
        &[
            "log",
            "emit",
            "--interface",
            "lo",
            "--port",
            &port,
            "--interval",
            "100",
            "--level",
            "warn",
            "--rate",
            "50",
        ],
    );
    let text = scrape_until(&addr, "WARN records counted at the bridge", |t| {
        sample(t, r#"ryre_log_records_total{level="WARN"}"#) >= Some(3.0)
    });
    assert_eq!(
        sample(&text, r#"ryre_log_records_total{level="TRACE"}"#),
        Some(0.0)
    );
    assert!(text.contains("# TYPE ryre_node_peers gauge"), "{text}");
    check_with_promtool(&text);
    drop(emit.stdin.take());
}

/// `ryre timer serve|watch ... --metrics 127.0.0.1:0`: the process and its metrics address.
fn timer_proc(label: &str, port: &str, args: &[&str]) -> (Proc, String) {
    let mut all = vec!["timer"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--json",
        "--interface",
        "lo",
        "--port",
        port,
        "--interval",
        "100",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let mut p = Proc::spawn(label, &all);
    let v = p.expect_json("metrics", |v| v["event"] == "metrics");
    let addr = v["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    (p, addr)
}

#[test]
fn timer_metrics_count_ticks_and_their_lateness() {
    let port = free_udp_port().to_string();
    let (_server, server_addr) = timer_proc("serve", &port, &["serve", "--rates", "100"]);
    let (_watch, watch_addr) = timer_proc("watch", &port, &["watch", "--rate", "100"]);
    let seen = scrape_until(&watch_addr, "the watcher got 30 ticks", |t| {
        sample(t, r#"ryre_timer_ticks_received_total{rate="100"}"#) >= Some(30.0)
    });
    let received = sample(&seen, r#"ryre_timer_ticks_received_total{rate="100"}"#).unwrap();
    // Every received tick is in the histogram (it is recorded before it is counted... or
    // after: allow the one in between), and the buckets are cumulative up to +Inf.
    let count = sample(
        &seen,
        r#"ryre_timer_tick_lateness_seconds_count{rate="100"}"#,
    )
    .unwrap();
    assert!(
        (count - received).abs() <= 1.0,
        "count {count} vs received {received}"
    );
    let inf = sample(
        &seen,
        r#"ryre_timer_tick_lateness_seconds_bucket{le="+Inf",rate="100"}"#,
    )
    .or_else(|| {
        sample(
            &seen,
            r#"ryre_timer_tick_lateness_seconds_bucket{rate="100",le="+Inf"}"#,
        )
    })
    .unwrap_or_else(|| panic!("no +Inf bucket:\n{seen}"));
    assert_eq!(inf, count);
    check_with_promtool(&seen);

    let served = scrape_until(&server_addr, "the server sent 30 ticks", |t| {
        sample(t, "ryre_timer_ticks_sent_total") >= Some(30.0)
    });
    assert!(served.contains("# TYPE ryre_timer_send_lateness_seconds histogram"));
    assert!(sample(&served, "ryre_timer_send_lateness_seconds_count") >= Some(30.0));
    check_with_promtool(&served);
}

/// The address a pipeline role printed on stderr (`... metrics at http://ADDR/metrics`).
fn stderr_metrics_addr(p: &Proc) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = p.stderr_text();
        if let Some(rest) = text.split("metrics at http://").nth(1) {
            return rest
                .split("/metrics")
                .next()
                .unwrap_or_default()
                .to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no metrics address on stderr: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pipeline_metrics_count_tasks_per_role() {
    let port = free_udp_port().to_string();
    let cluster = format!("metrics-{}", std::process::id());
    let common = [
        "--interface",
        "lo",
        "--port",
        &port,
        "--cluster",
        &cluster,
        "--interval",
        "100",
        "--evasive",
        "500",
        "--expired",
        "1500",
        "--metrics",
        "127.0.0.1:0",
    ];
    let role = |label: &str, args: &[&str]| {
        let mut all = vec!["pipeline"];
        all.extend_from_slice(args);
        all.extend_from_slice(&common);
        Proc::spawn(label, &all)
    };
    let collector = role("collector", &["collect"]);
    let worker = role("worker", &["worker", "--echo", "--delay", "2"]);
    let (c_addr, w_addr) = (
        stderr_metrics_addr(&collector),
        stderr_metrics_addr(&worker),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tasks.txt");
    let tasks: String = (0..300).map(|i| format!("task {i}\n")).collect();
    std::fs::write(&input, tasks).unwrap();
    let input = input.to_string_lossy().into_owned();
    let mut client = role(
        "client",
        &["run", "--input", &input, "--timeout", "60", "--no-progress"],
    );
    // While the batch runs (300 tasks of 2 ms on one worker), the client deals and delivers.
    let cl_addr = stderr_metrics_addr(&client);
    let during = scrape_until(&cl_addr, "the client dealt tasks", |t| {
        sample(t, r#"ryre_pipeline_tasks_dealt_total{role="client"}"#) >= Some(1.0)
    });
    check_with_promtool(&during);
    assert!(client.finish().success(), "{}", client.stderr_text());
    assert_eq!(client.seen.len(), 300, "every result printed once");
    for (addr, r) in [(&w_addr, "worker"), (&c_addr, "collector")] {
        let text = scrape_until(addr, &format!("the {r} finished 300 tasks"), |t| {
            sample(
                t,
                &format!(r#"ryre_pipeline_tasks_done_total{{role="{r}"}}"#),
            ) >= Some(300.0)
        });
        assert_eq!(
            sample(
                &text,
                &format!(r#"ryre_pipeline_tasks_redealt_total{{role="{r}"}}"#)
            ),
            Some(0.0)
        );
        check_with_promtool(&text);
    }
}

/// A certified node's scrape says its mode and counts the certificates it refused by reason: a
/// `--tofu` node (CURVE, no certificate) greets it and is refused as `missing`.
#[test]
fn certified_node_metrics_count_refused_certificates_by_reason() {
    let pki = ryre_testkit::pki::Pki::new();
    let files = pki.issue("a", &["m=all"], Default::default());
    let cert = files.base.to_string_lossy().into_owned();
    let trust = pki.ca.cert_path().to_string_lossy().into_owned();
    let port = free_udp_port();
    let mut a = Proc::node(
        "a",
        port,
        &[
            "--cert",
            &cert,
            "--trust",
            &trust,
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    a.started();
    let addr = metrics_addr(&mut a);
    let mut b = Proc::node("b", port, &["--tofu"]);
    b.started();
    let text = scrape_until(
        &addr,
        "a's refusal of b's HELLO without a certificate",
        |t| {
            sample(
                t,
                r#"ryre_node_certificates_refused_total{reason="missing"}"#,
            ) >= Some(1.0)
        },
    );
    assert_eq!(
        sample(&text, r#"ryre_node_security_mode{mode="certified"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"ryre_node_security_mode{mode="open"}"#),
        Some(0.0)
    );
    assert!(sample(&text, "ryre_node_security_refused_total") >= Some(1.0));
    assert_eq!(
        sample(
            &text,
            r#"ryre_node_certificates_refused_total{reason="revoked"}"#
        ),
        Some(0.0)
    );
    assert!(text.contains("# TYPE ryre_node_security_refused_connections_total counter"));
    check_with_promtool(&text);
    b.send("stop");
    assert!(b.finish().success());
}
