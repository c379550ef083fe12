//! `ryre keys` as a user runs it: real binary, real files and permissions in a temporary
//! directory. new -> show -> allow between two key directories, `--json` parsed, and the
//! errors a user meets (missing directory, world-readable secret, truncated key file).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::run;
use serde_json::Value;

fn ok(args: &[&str]) -> String {
    let (status, stdout, stderr) = run(args);
    assert!(status.success(), "{args:?}: {status:?}\n{stdout}\n{stderr}");
    stdout
}

/// Runs a command that must fail with exit code 2 and a message naming `path`; the message.
fn fails(args: &[&str], path: &Path) -> String {
    let (status, stdout, stderr) = run(args);
    assert_eq!(status.code(), Some(2), "{args:?}: {stdout}\n{stderr}");
    let first = stderr.lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with("error: "), "{args:?}: {stderr}");
    assert!(
        first.contains(&path.display().to_string()),
        "{args:?}: {first:?} does not name {}",
        path.display()
    );
    first
}

fn json(args: &[&str]) -> Value {
    let out = ok(args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn new_show_allow_between_two_directories() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("alice");
    let b = t.path().join("bob");
    let out = ok(&["keys", "new", s(&a), "--name", "alice"]);
    assert!(
        out.contains(&a.join("node.secret").display().to_string()),
        "{out}"
    );
    assert!(
        out.contains(&a.join("node.pub").display().to_string()),
        "{out}"
    );
    let mode = fs::metadata(a.join("node.secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The default name is the host name.
    ok(&["keys", "new", s(&b)]);

    let show_a = json(&["keys", "show", s(&a), "--json"]);
    assert_eq!(show_a["kind"], "directory");
    assert_eq!(show_a["name"], "alice");
    let key_a = show_a["public_key"].as_str().unwrap().to_string();
    assert_eq!(key_a.len(), 40);
    assert!(
        out.contains(&key_a),
        "`keys new` printed another key: {out}"
    );
    assert_eq!(show_a["peers"].as_array().unwrap().len(), 0);
    let show_b = json(&["keys", "show", s(&b), "--json"]);
    assert_ne!(show_b["name"], "");
    let key_b = show_b["public_key"].as_str().unwrap().to_string();
    assert_ne!(key_a, key_b);

    // Single files: the public one, and the secret one without its secret.
    let pub_a = json(&["keys", "show", s(&a.join("node.pub")), "--json"]);
    assert_eq!(
        (pub_a["kind"].as_str(), pub_a["public_key"].as_str()),
        (Some("public"), Some(key_a.as_str()))
    );
    let secret_text = fs::read_to_string(a.join("node.secret")).unwrap();
    let secret_lines: Vec<&str> = secret_text
        .lines()
        .filter(|l| l.contains("secret-key") || l.contains("ryre-seed"))
        .collect();
    assert_eq!(secret_lines.len(), 2);
    for args in [
        vec!["keys", "show", s(&a.join("node.secret")), "--json"],
        vec!["keys", "show", s(&a.join("node.secret"))],
        vec!["keys", "show", s(&a)],
    ] {
        let out = ok(&args);
        assert!(out.contains(&key_a), "{args:?}: {out}");
        for l in &secret_lines {
            let secret = l.split('"').nth(1).unwrap();
            assert!(!out.contains(secret), "{args:?} printed a secret: {out}");
        }
    }

    // Each trusts the other.
    let out = ok(&["keys", "allow", s(&b), s(&a.join("node.pub"))]);
    assert!(out.starts_with("allowed "), "{out}");
    ok(&["keys", "allow", s(&a), s(&b.join("node.pub"))]);
    let again = ok(&["keys", "allow", s(&b), s(&a.join("node.pub"))]);
    assert!(again.starts_with("already trusted"), "{again}");
    let show_b = json(&["keys", "show", s(&b), "--json"]);
    let peers = show_b["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1, "{show_b}");
    assert_eq!(peers[0]["public_key"], key_a.as_str());
    assert_eq!(peers[0]["name"], "alice");
    assert_eq!(
        peers[0]["file"],
        b.join("peers").join("alice.pub").display().to_string()
    );
    let text = ok(&["keys", "show", s(&b)]);
    assert!(
        text.contains("trusted peers  1") && text.contains(&key_a),
        "{text}"
    );
    let show_a = json(&["keys", "show", s(&a), "--json"]);
    assert_eq!(show_a["peers"][0]["public_key"], key_b.as_str());

    // Refused: a secret as a peer's key; nothing is copied when one file of several is bad.
    fails(
        &["keys", "allow", s(&b), s(&a.join("node.secret"))],
        &a.join("node.secret"),
    );
    let c = t.path().join("carol");
    ok(&["keys", "new", s(&c), "--name", "carol"]);
    let bogus = t.path().join("bogus.pub");
    fs::write(&bogus, "curve\n    public-key = \"short\"\n").unwrap();
    let msg = fails(
        &["keys", "allow", s(&b), s(&c.join("node.pub")), s(&bogus)],
        &bogus,
    );
    assert!(msg.contains("line 2"), "{msg}");
    assert!(!b.join("peers").join("carol.pub").exists());
    // Without --force, an existing key pair stays.
    let msg = fails(&["keys", "new", s(&a)], &a.join("node.secret"));
    assert!(msg.contains("--force"), "{msg}");
    assert_eq!(
        json(&["keys", "show", s(&a), "--json"])["public_key"],
        key_a.as_str()
    );
    let out = ok(&["keys", "new", s(&a), "--force", "--name", "alice"]);
    assert!(!out.contains(&key_a), "--force kept the old key: {out}");
}

#[test]
fn bad_paths_and_files_exit_2_with_one_clear_line() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("missing");
    let msg = fails(&["keys", "show", s(&missing)], &missing);
    assert!(msg.contains("does not exist"), "{msg}");
    fails(
        &["keys", "allow", s(&missing), s(&missing.join("x.pub"))],
        &missing,
    );

    let dir = t.path().join("keys");
    ok(&["keys", "new", s(&dir), "--name", "n"]);
    let secret = dir.join("node.secret");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
    let msg = fails(&["keys", "show", s(&dir)], &secret);
    assert!(
        msg.contains("readable by others (mode 0644): chmod 600"),
        "{msg}"
    );
    fails(&["keys", "show", s(&secret), "--json"], &secret);
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    ok(&["keys", "show", s(&dir)]);

    // A key file cut short (a truncated copy), as a peer and as a file to show.
    let public = fs::read_to_string(dir.join("node.pub")).unwrap();
    let cut = t.path().join("cut.pub");
    fs::write(&cut, &public[..public.len() - 12]).unwrap();
    fails(&["keys", "show", s(&cut)], &cut);
    let key_line = public.lines().find(|l| l.contains("public-key")).unwrap();
    let key = key_line.split('"').nth(1).unwrap();
    let truncated = t.path().join("truncated.pub");
    fs::write(
        &truncated,
        format!("curve\n    public-key = \"{}\"\n", &key[..35]),
    )
    .unwrap();
    let msg = fails(&["keys", "show", s(&truncated)], &truncated);
    assert!(
        msg.contains("35 characters") && msg.contains("truncated"),
        "{msg}"
    );
    let peer = dir.join("peers").join("bad.pub");
    fs::copy(&truncated, &peer).unwrap();
    fails(&["keys", "show", s(&dir), "--json"], &peer);
}
