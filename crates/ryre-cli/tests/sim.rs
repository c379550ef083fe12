//! `ryre sim`: one run (text, JSON, SVG), bad arguments, and a swarm that must fail with a broken
//! heart.

use std::process::Command;

fn ryre() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ryre"))
}

#[test]
fn one_run_prints_json_and_draws_the_curve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("curve.svg");
    let out = ryre()
        .args([
            "sim",
            "--nodes",
            "20",
            "--hosts",
            "5",
            "--loss",
            "0.1",
            "--seconds",
            "3",
        ])
        .args(["--settle", "3", "--json", "--plot"])
        .arg(&svg)
        .output()
        .expect("run ryre sim");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert_eq!(v["pairs_known"], 380);
    assert_eq!(v["enters"], 380);
    assert!(v["violations"].as_array().is_some_and(|a| a.is_empty()));
    let drawn = std::fs::read_to_string(&svg).expect("svg written");
    assert!(drawn.starts_with("<svg") && drawn.contains("<path d=\"M"));
}

#[test]
fn subnets_joined_through_agents_all_meet() {
    let run = |join: &str| {
        let out = ryre()
            .args(["sim", "--nodes", "12", "--hosts", "6", "--subnets", "3"])
            .args(["--seconds", "3", "--settle", "3", "--json", "--join", join])
            .output()
            .expect("run ryre sim");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
        (out.status.code(), v)
    };
    let (code, v) = run("agents");
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["join"], "agents");
    assert_eq!(v["pairs_known"], 12 * 11);
    assert!(v["gossip_frames"].as_u64().is_some_and(|n| n > 0));
    // Without the gossip the subnets never meet, and the run fails.
    let (code, v) = run("none");
    assert_eq!(code, Some(1), "{v}");
    assert!(v["pairs_known"].as_u64().is_some_and(|n| n < 12 * 11));
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["sim", "--loss", "1.5"][..],
        &["sim", "--nodes", "0"][..],
        &["sim", "--seconds", "-1"][..],
        &["sim", "--join", "tunnel"][..],
    ] {
        let out = ryre().args(args).output().expect("run ryre sim");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn a_swarm_with_a_broken_heart_fails_and_names_the_replay() {
    let out = ryre()
        .args([
            "sim",
            "swarm",
            "--seed",
            "1",
            "--seeds",
            "2",
            "--broken-heart",
        ])
        .output()
        .expect("run ryre sim swarm");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAILED") && text.contains("replay: ryre sim swarm --seed"),
        "{text}"
    );
    // The failing seed is shrunk and printed as a regression test to paste in.
    assert!(
        text.contains("regression test:")
            && text.contains("fn shrunk_seed_1()")
            && text.contains("o.broken_heart = true;"),
        "{text}"
    );
}
