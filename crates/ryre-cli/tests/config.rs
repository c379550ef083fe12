//! Settings from flags, `RYRE_*` variables and a TOML file (`--config`), in that order; clear
//! errors that name the bad key or variable; `ryre config show`. Real `ryre` processes, each
//! with a deadline (coreutils' `timeout`); the node test is on loopback with a private port.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{free_udp_port, Proc, RYRE};
use serde_json::Value;

/// Runs `ryre ARGS` with extra environment variables (and no stray `RYRE_*` from outside).
fn ryre(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg(RYRE).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("RYRE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run ryre")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// `ryre config show --json ...`: flag -> (values, source).
fn show(env: &[(&str, &str)], args: &[&str]) -> serde_json::Map<String, Value> {
    let mut all = vec!["config", "show", "--json"];
    all.extend_from_slice(args);
    let out = ryre(env, &all);
    assert!(
        out.status.success(),
        "config show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["settings"].as_object().expect("settings").clone()
}

fn setting(s: &serde_json::Map<String, Value>, key: &str) -> (Vec<String>, String) {
    let v = &s[key];
    let values = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    (values, v["source"].as_str().unwrap().to_string())
}

/// A usage error (exit code 2) whose message contains every one of `want`.
fn usage_error(out: &Output, want: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {err}");
    for w in want {
        assert!(err.contains(w), "error lacks {w:?}: {err}");
    }
}

#[test]
fn flags_beat_environment_beat_file_beat_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ryre.toml",
        "port = 6001\ninterval = 300\nevasive = 4000\n\n[node]\nport = 6002\njoin = [\"a\", \"b\"]\necho = true\n\n[timer.serve]\nrates = \"1,10\"\n",
    );
    let env = [("RYRE_INTERVAL", "200"), ("RYRE_NAME", "from-env")];
    let s = show(
        &env,
        &[
            "--config",
            &file,
            "node",
            "--name",
            "from-flag",
            "--expired",
            "9000",
        ],
    );
    assert_eq!(
        setting(&s, "name"),
        (vec!["from-flag".into()], "command line".into())
    );
    assert_eq!(setting(&s, "expired").1, "command line");
    assert_eq!(
        setting(&s, "interval"),
        (vec!["200".into()], "env RYRE_INTERVAL".into())
    );
    // the [node] table is more specific than the top level
    assert_eq!(
        setting(&s, "port"),
        (vec!["6002".into()], "config node.port".into())
    );
    assert_eq!(
        setting(&s, "evasive"),
        (vec!["4000".into()], "config evasive".into())
    );
    assert_eq!(
        setting(&s, "join"),
        (vec!["a".into(), "b".into()], "config node.join".into())
    );
    assert_eq!(
        setting(&s, "echo"),
        (vec!["true".into()], "config node.echo".into())
    );
    assert_eq!(
        setting(&s, "every"),
        (vec!["1000".into()], "default".into())
    );

    // Another command reads the same file: top-level keys and its own table only.
    let s = show(&[("RYRE_CONFIG", &file)], &["timer", "serve"]);
    assert_eq!(
        setting(&s, "port"),
        (vec!["6001".into()], "config port".into())
    );
    assert_eq!(
        setting(&s, "rates"),
        (
            vec!["1".into(), "10".into()],
            "config timer.serve.rates".into()
        )
    );

    // The TOML that `config show` prints is a config file ryre takes back.
    let out = ryre(
        &env,
        &["--config", &file, "config", "show", "node", "--burst", "3"],
    );
    assert!(out.status.success());
    let printed = write(
        dir.path(),
        "printed.toml",
        &String::from_utf8_lossy(&out.stdout),
    );
    let s = show(&[], &["--config", &printed, "node"]);
    assert_eq!(
        setting(&s, "name"),
        (vec!["from-env".into()], "config node.name".into())
    );
    assert_eq!(
        setting(&s, "burst"),
        (vec!["3".into()], "config node.burst".into())
    );
    assert_eq!(setting(&s, "join").0, ["a", "b"]);
}

#[test]
fn bad_keys_types_and_values_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 7] = [
        ("prot = 5\n", &["`prot`", "unknown key"]),
        (
            "[node]\nrates = \"1\"\n",
            &["`node.rates`", "unknown key", "no --rates"],
        ),
        (
            "[node]\nport = \"high\"\n",
            &["`node.port`", "invalid value 'high'", "--port"],
        ),
        (
            "[node]\necho = \"yes\"\n",
            &["`node.echo`", "wrong type", "true or false"],
        ),
        (
            "[node]\nname = [\"a\"]\n",
            &["`node.name`", "wrong type", "array"],
        ),
        (
            "[timer.serve]\nrates = [1, 5000]\n",
            &["`timer.serve.rates`", "5000"],
        ),
        ("[node\n", &["TOML parse error", "line 1"]),
    ];
    for (text, want) in cases {
        let file = write(dir.path(), "bad.toml", text);
        let cmd: &[&str] = if text.contains("timer") {
            &["timer", "serve", "--for", "0.1"]
        } else {
            &["node", "--for", "0.1"]
        };
        let mut args = vec!["--config", file.as_str()];
        args.extend_from_slice(cmd);
        let out = ryre(&[], &args);
        let mut want = want.to_vec();
        want.push(file.as_str());
        usage_error(&out, &want);
    }
    usage_error(
        &ryre(&[], &["--config", "/no/such/ryre.toml", "node"]),
        &["/no/such/ryre.toml", "No such file"],
    );
    // Environment variables: the bad one is named, with its value and the flag's complaint.
    usage_error(
        &ryre(&[("RYRE_PORT", "70000")], &["node", "--for", "0.1"]),
        &["RYRE_PORT=\"70000\"", "--port"],
    );
    usage_error(
        &ryre(&[("RYRE_JSON", "maybe")], &["node", "--for", "0.1"]),
        &["RYRE_JSON", "switch", "true or false"],
    );
    usage_error(
        &ryre(
            &[("RYRE_INTERFACE", "no-such-if0")],
            &["peers", "--for", "0.1"],
        ),
        &["RYRE_INTERFACE", "no-such-if0"],
    );
    // A variable the chosen command does not read is not an error; a flag on the command line
    // hides a bad variable.
    let out = ryre(&[("RYRE_RATES", "x")], &["config", "show", "node"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = show(&[("RYRE_PORT", "x")], &["node", "--port", "7000"]);
    assert_eq!(setting(&s, "port").0, ["7000"]);
}

#[test]
fn a_node_started_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let file = write(
        dir.path(),
        "node.toml",
        &format!(
            "interface = \"lo\"\nport = {port}\ninterval = 100\n\n[node]\nname = \"configured\"\njson = true\njoin = [\"cfg\"]\n"
        ),
    );
    let mut a = Proc::spawn("configured", &["--config", &file, "node"]);
    let started = a.expect_json("STARTED", |v| v["event"] == "STARTED");
    assert_eq!(started["name"], "configured");
    // It really is on the configured port and in the configured group: a node from flags
    // meets it there.
    let mut b = Proc::node("flags", port, &["--join", "cfg"]);
    b.started();
    b.expect_json("JOIN of the configured node", |v| {
        v["event"] == "JOIN" && v["name"] == "configured" && v["group"] == "cfg"
    });
}
