//! The pipeline in certified mode, over real CURVE links: a role whose certificate lacks a right
//! of its groups does not start (the error names the group and the right); entitled roles run a
//! batch end to end. Every wait is bounded.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ryre::certs::{Rights, Services};
use ryre::Bytes;
use ryre_pipeline::{required_rights, Client, Collector, Config, Error, Role, Worker};
use ryre_testkit::pki::{introduce, Pki};

const WAIT: Duration = Duration::from_secs(30);

fn config() -> Config {
    Config {
        cluster: "c".into(),
        window: 16,
        chunk: 4,
        ..Config::default()
    }
}

fn echo(p: &[u8]) -> Result<Vec<u8>, String> {
    Ok(p.to_vec())
}

/// The error starting `role` with a certificate granting `grants` gives.
fn refusal(pki: &Pki, role: Role, name: &str, grants: &[&str]) -> Error {
    let files = pki.issue(name, grants, Services::NONE);
    let b = pki.builder(&files);
    let started = match role {
        Role::Client => Client::start(b, config()).map(|_| ()),
        Role::Worker => Worker::start(b, config(), echo).map(|_| ()),
        Role::Collector => Collector::start(b, config()).map(|_| ()),
    };
    match started {
        Err(e) => e,
        Ok(()) => panic!("{role:?} started with {grants:?}"),
    }
}

#[test]
fn a_role_without_the_rights_of_its_groups_does_not_start() {
    let pki = Pki::new();
    // Each role's needs, all but one: the error names the one missing.
    for role in [Role::Client, Role::Worker, Role::Collector] {
        let needed = required_rights(role, "c");
        for (i, (group, right, _)) in needed.iter().enumerate() {
            let grants: Vec<String> = needed
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (g, r, _))| format!("{g}={}", rights_text(*r)))
                .collect();
            let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
            let name = format!("{}-{i}", role.as_str());
            match refusal(&pki, role, &name, &grants) {
                Error::NotEntitled {
                    role: r,
                    name: n,
                    group: g,
                    right: missing,
                    ..
                } => {
                    assert_eq!(
                        (r, n.as_str(), g.as_str(), missing),
                        (role, name.as_str(), group.as_str(), *right)
                    );
                }
                e => panic!("{role:?} without {right} in {group}: wrong error {e}"),
            }
        }
    }
    // The text says who, where and what.
    let e = refusal(&pki, Role::Worker, "lazy", &["pipeline/c/workers=join"]);
    let text = e.to_string();
    assert!(
        text.contains("lazy") && text.contains("whisper") && text.contains("pipeline/c/clients"),
        "{text}"
    );
    // Rights for another cluster do not count.
    let e = refusal(
        &pki,
        Role::Collector,
        "elsewhere",
        &["pipeline/other/*=all"],
    );
    assert!(
        matches!(e, Error::NotEntitled { ref group, .. } if group == "pipeline/c/collectors"),
        "{e}"
    );
}

fn rights_text(r: Rights) -> String {
    let mut parts = Vec::new();
    for (bit, name) in [
        (Rights::JOIN, "join"),
        (Rights::SHOUT, "shout"),
        (Rights::WHISPER, "whisper"),
    ] {
        if r.contains(bit) {
            parts.push(name);
        }
    }
    parts.join(",")
}

#[test]
fn entitled_roles_run_a_batch() {
    let pki = Pki::new();
    let grants = ["pipeline/c/*=all"];
    let (fc, fw, fl) = (
        pki.issue("client", &grants, Services::NONE),
        pki.issue("worker", &grants, Services::NONE),
        pki.issue("collector", &grants, Services::NONE),
    );
    let col = Collector::start(pki.builder(&fl), config()).expect("collector");
    let worker = Worker::start(pki.builder(&fw), config(), echo).expect("worker");
    let client = Client::start(pki.builder(&fc), config()).expect("client");
    introduce(client.node(), &fc, worker.node(), &fw);
    introduce(client.node(), &fc, col.node(), &fl);
    introduce(worker.node(), &fw, col.node(), &fl);
    let deadline = Instant::now() + WAIT;
    while client.ready_workers() == 0 {
        assert!(Instant::now() < deadline, "no ready worker within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let payloads: Vec<Bytes> = (0..200).map(|i| Bytes::from(format!("t-{i}"))).collect();
    let mut batch = client.submit(payloads).expect("submit");
    let mut seen = HashSet::new();
    while seen.len() < 200 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some((no, r)) = batch.recv_timeout(left) else {
            panic!("only {} results within {WAIT:?}", seen.len());
        };
        assert_eq!(r.expect("ok").as_ref(), format!("t-{no}").as_bytes());
        assert!(seen.insert(no), "task {no} twice");
    }
    let s = client.stats();
    assert_eq!(s.malformed + s.unexpected, 0, "{s:?}");
}
