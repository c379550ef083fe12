use super::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use proptest::prelude::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Writes a secret file (mode 0600) with `text`.
fn write_secret(path: &Path, text: &str) {
    fs::write(path, text).expect("write");
    chmod(path, 0o600);
}

/// Checks that `err` is about `path` and says so in its message.
fn names(err: &KeyFileError, path: &Path) {
    assert_eq!(err.path(), path, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err:?} does not name {}",
        path.display()
    );
}

fn text_of(path: &Path) -> String {
    fs::read_to_string(path).expect("read")
}

#[test]
fn create_then_load_round_trips() {
    let t = tmp();
    let dir = t.path().join("keys");
    let made = KeyDir::create(&dir, "laptop", false).unwrap();
    assert!(dir.join(PEERS_DIR).is_dir());
    let loaded = KeyDir::load(&dir).unwrap();
    assert_eq!(loaded.name, "laptop");
    assert_eq!(loaded.keys.public(), made.keys.public());
    assert_eq!(loaded.keys.seed(), made.keys.seed());
    assert_eq!(loaded.keys.curve_secret(), made.keys.curve_secret());
    assert!(loaded.allowed.is_empty());
    assert_eq!(
        loaded.trust(),
        Trust::Keys([made.keys.public()].into_iter().collect())
    );
    // The files are the documented ZPL, with the keys in Z85.
    let secret = Zpl::parse(&text_of(&dir.join(SECRET_FILE))).unwrap();
    let value = |doc: &Zpl, p: &str| doc.get(p).and_then(|p| p.value.clone());
    assert_eq!(value(&secret, "metadata/name").as_deref(), Some("laptop"));
    assert_eq!(
        value(&secret, "curve/public-key"),
        Some(made.keys.public().to_z85())
    );
    assert_eq!(
        value(&secret, "curve/secret-key"),
        z85::encode(&made.keys.curve_secret())
    );
    assert_eq!(
        value(&secret, "curve/ryre-seed"),
        z85::encode(&made.keys.seed())
    );
    let public = Zpl::parse(&text_of(&dir.join(PUBLIC_FILE))).unwrap();
    assert_eq!(
        public
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.children.len()))
            .collect::<Vec<_>>(),
        [("metadata", 1), ("curve", 1)]
    );
    assert_eq!(
        value(&public, "curve/public-key"),
        Some(made.keys.public().to_z85())
    );
    assert_eq!(
        read_public(dir.join(PUBLIC_FILE)).unwrap(),
        (made.keys.public(), "laptop".to_string())
    );
    // Two directories never get the same key.
    let other = KeyDir::create(t.path().join("other"), "", false).unwrap();
    assert_ne!(other.keys.public(), made.keys.public());
    assert_eq!(KeyDir::load(t.path().join("other")).unwrap().name, "");
}

#[test]
fn the_secret_is_created_0600_and_stays_so_when_replaced() {
    let t = tmp();
    let dir = t.path();
    let first = KeyDir::create(dir, "n", false).unwrap();
    assert_eq!(mode(&dir.join(SECRET_FILE)), 0o600);
    // Refused without force; the file is untouched.
    let before = text_of(&dir.join(SECRET_FILE));
    let err = KeyDir::create(dir, "n", false).unwrap_err();
    assert!(matches!(err, KeyFileError::Exists { .. }), "{err}");
    names(&err, &dir.join(SECRET_FILE));
    assert_eq!(text_of(&dir.join(SECRET_FILE)), before);
    // Replaced with force, even over an old secret with loose permissions: a new file, 0600.
    chmod(&dir.join(SECRET_FILE), 0o644);
    let second = KeyDir::create(dir, "n", true).unwrap();
    assert_ne!(second.keys.public(), first.keys.public());
    assert_eq!(mode(&dir.join(SECRET_FILE)), 0o600);
    assert_eq!(
        KeyDir::load(dir).unwrap().keys.public(),
        second.keys.public()
    );
    // No temporary file is left behind.
    let names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn missing_and_wrong_directories() {
    let t = tmp();
    let missing = t.path().join("nope");
    let err = KeyDir::load(&missing).unwrap_err();
    assert!(matches!(err, KeyFileError::NoDirectory { .. }), "{err}");
    names(&err, &missing);
    let file = t.path().join("file");
    fs::write(&file, "x").unwrap();
    let err = KeyDir::load(&file).unwrap_err();
    assert!(matches!(err, KeyFileError::NotADirectory { .. }), "{err}");
    names(&err, &file);
    let err = KeyDir::create(&file, "n", false).unwrap_err();
    assert!(matches!(err, KeyFileError::NotADirectory { .. }), "{err}");
    let empty = t.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let err = KeyDir::load(&empty).unwrap_err();
    assert!(matches!(err, KeyFileError::NoSecret { .. }), "{err}");
    names(&err, &empty);
    // A FIFO or a directory where a key file should be: an error at once, no waiting.
    let fifo = t.path().join("fifo.pub");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let err = read_public(&fifo).unwrap_err();
    assert!(matches!(err, KeyFileError::NotAFile { .. }), "{err}");
    names(&err, &fifo);
    let err = read_secret(&empty).unwrap_err();
    assert!(matches!(err, KeyFileError::NotAFile { .. }), "{err}");
    let err = read_public(t.path().join("absent.pub")).unwrap_err();
    assert!(matches!(err, KeyFileError::Io { .. }), "{err}");
    names(&err, &t.path().join("absent.pub"));
}

#[test]
fn a_secret_readable_or_writable_by_others_is_refused() {
    let t = tmp();
    KeyDir::create(t.path(), "n", false).unwrap();
    let secret = t.path().join(SECRET_FILE);
    chmod(&secret, 0o644);
    let err = KeyDir::load(t.path()).unwrap_err();
    assert!(matches!(err, KeyFileError::Exposed { mode: 0o644, .. }));
    let s = secret.display();
    assert_eq!(
        err.to_string(),
        format!("{s} is readable by others (mode 0644): chmod 600 {s}")
    );
    chmod(&secret, 0o620);
    let err = read_secret(&secret).unwrap_err();
    assert!(err.to_string().contains("writable by others (mode 0620)"));
    names(&err, &secret);
    chmod(&secret, 0o604);
    assert!(matches!(
        read_secret(&secret),
        Err(KeyFileError::Exposed { mode: 0o604, .. })
    ));
    chmod(&secret, 0o400);
    read_secret(&secret).unwrap();
}

/// A key directory with a key pair, and the text of its secret file.
fn made(t: &tempfile::TempDir) -> (KeyDir, String) {
    let d = KeyDir::create(t.path(), "n", false).unwrap();
    let text = text_of(&d.secret_path());
    (d, text)
}

/// Replaces the value of `entry` (`public-key`, ...) in a key file's text.
fn with_value(text: &str, entry: &str, value: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with(&format!("{entry} =")) {
                format!("    {entry} = \"{value}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn load_err(t: &tempfile::TempDir, text: &str) -> KeyFileError {
    let secret = t.path().join(SECRET_FILE);
    write_secret(&secret, text);
    let err = KeyDir::load(t.path()).expect_err("a bad key file loads");
    names(&err, &secret);
    err
}

#[test]
fn malformed_truncated_and_non_z85_keys() {
    let t = tmp();
    let (_, text) = made(&t);
    let err = load_err(&t, &text.replace("curve\n", "curve\n  oops\n"));
    match &err {
        KeyFileError::Malformed { line, what, .. } => {
            assert_eq!(*line, 6, "{err}");
            assert!(what.contains("indented 2 spaces"), "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(": line 6: "), "{err}");
    // A key cut short (a truncated copy).
    let seed = z85::encode(&[7u8; 32]).unwrap();
    let err = load_err(&t, &with_value(&text, "ryre-seed", &seed[..35]));
    assert!(
        matches!(
            err,
            KeyFileError::KeyLength {
                len: 35,
                line: 8,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("truncated"), "{err}");
    // A whole file cut short, in the middle of the last line.
    let cut = &text[..text.len() - 10];
    let err = load_err(&t, cut);
    assert!(matches!(err, KeyFileError::Malformed { .. }), "{err}");
    // 40 characters, not all Z85.
    let err = load_err(&t, &with_value(&text, "ryre-seed", &" x".repeat(20)));
    assert!(matches!(err, KeyFileError::BadKey { .. }), "{err}");
    let err = load_err(&t, &with_value(&text, "ryre-seed", &"~".repeat(40)));
    assert!(matches!(err, KeyFileError::BadKey { .. }), "{err}");
    // No value.
    let err = load_err(&t, &text.replace("    ryre-seed =", "    ryre-seed #"));
    assert!(
        matches!(err, KeyFileError::Malformed { line: 8, .. }),
        "{err}"
    );
    // Not UTF-8, empty, unrelated text.
    let err = load_err(&t, "\u{0}");
    assert!(matches!(err, KeyFileError::Malformed { .. }), "{err}");
    let err = load_err(&t, "");
    assert!(
        matches!(
            err,
            KeyFileError::Missing {
                entry: "curve/ryre-seed",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn tampered_or_mixed_up_keys_are_refused() {
    let t = tmp();
    let (d, text) = made(&t);
    let other = generate();
    let err = load_err(
        &t,
        &with_value(&text, "public-key", &other.public().to_z85()),
    );
    assert!(
        matches!(
            err,
            KeyFileError::Mismatch {
                entry: "curve/public-key",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("tampered or mixed-up"), "{err}");
    let secret = z85::encode(&other.curve_secret()).unwrap();
    let err = load_err(&t, &with_value(&text, "secret-key", &secret));
    assert!(
        matches!(
            err,
            KeyFileError::Mismatch {
                entry: "curve/secret-key",
                ..
            }
        ),
        "{err}"
    );
    // Another seed under the old keys.
    let seed = z85::encode(&other.seed()).unwrap();
    let err = load_err(&t, &with_value(&text, "ryre-seed", &seed));
    assert!(matches!(err, KeyFileError::Mismatch { .. }), "{err}");
    // node.pub of another key pair next to this node.secret.
    write_secret(&d.secret_path(), &text);
    fs::write(d.public_path(), public_text(&other.public(), "x")).unwrap();
    let err = KeyDir::load(t.path()).unwrap_err();
    assert!(matches!(err, KeyFileError::Mismatch { .. }), "{err}");
    names(&err, &d.public_path());
}

#[test]
fn czmq_certificates_and_public_files_are_not_key_pairs() {
    let t = tmp();
    let (d, text) = made(&t);
    // What CZMQ's zcert_save_secret writes: the CURVE keys, no ryre-seed.
    let czmq: String = text
        .lines()
        .filter(|l| !l.contains("ryre-seed"))
        .map(|l| format!("{l}\n"))
        .collect();
    let err = load_err(&t, &czmq);
    assert!(matches!(err, KeyFileError::NotRyre { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "made by CZMQ, not ryre: ryre needs its own key pair, make one with `ryre keys new`"
        ),
        "{err}"
    );
    let err = load_err(&t, &text_of(&d.public_path()));
    assert!(matches!(err, KeyFileError::NotSecret { .. }), "{err}");
}

#[test]
fn keys_starting_with_zero_are_refused() {
    let t = tmp();
    let (_, text) = made(&t);
    let unsafe_seed = (0u16..)
        .map(|i| {
            let mut s = [1u8; 32];
            s[..2].copy_from_slice(&i.to_be_bytes());
            s
        })
        .find(|s| KeyPair::from_seed(*s).is_err())
        .unwrap();
    let err = load_err(
        &t,
        &with_value(&text, "ryre-seed", &z85::encode(&unsafe_seed).unwrap()),
    );
    assert!(matches!(err, KeyFileError::ZeroKey { .. }), "{err}");
    // A peer's public key file with a key starting with 0.
    write_secret(&t.path().join(SECRET_FILE), &text);
    let mut zero = [9u8; 32];
    zero[0] = 0;
    let peer = t.path().join(PEERS_DIR).join("zero.pub");
    fs::write(&peer, public_text(&PublicKey(zero), "z")).unwrap();
    let err = KeyDir::load(t.path()).unwrap_err();
    assert!(matches!(err, KeyFileError::ZeroKey { .. }), "{err}");
    names(&err, &peer);
    assert!(err.to_string().contains("starts with a 0 byte"));
}

#[test]
fn secrets_among_the_peers_and_bad_peer_files_are_refused() {
    let t = tmp();
    let (d, text) = made(&t);
    let peers = d.peers_path();
    for name in ["alice.secret", "alice.pub_secret"] {
        let p = peers.join(name);
        fs::write(&p, public_text(&generate().public(), "a")).unwrap();
        let err = KeyDir::load(t.path()).unwrap_err();
        assert!(matches!(err, KeyFileError::Secret { .. }), "{err}");
        names(&err, &p);
        assert!(err.to_string().contains("a secret in the wrong place"));
        fs::remove_file(&p).unwrap();
    }
    // A key pair under a public name.
    let p = peers.join("bob.pub");
    fs::write(&p, &text).unwrap();
    let err = KeyDir::load(t.path()).unwrap_err();
    assert!(matches!(err, KeyFileError::Secret { .. }), "{err}");
    names(&err, &p);
    // Not a key file at all; too big to be one.
    fs::write(&p, "metadata\n    name = \"bob\"\n").unwrap();
    let err = KeyDir::load(t.path()).unwrap_err();
    assert!(
        matches!(
            err,
            KeyFileError::Missing {
                entry: "curve/public-key",
                ..
            }
        ),
        "{err}"
    );
    names(&err, &p);
    fs::write(&p, vec![b'#'; MAX_FILE_LEN as usize + 1]).unwrap();
    let err = KeyDir::load(t.path()).unwrap_err();
    assert!(matches!(err, KeyFileError::TooBig { .. }), "{err}");
    names(&err, &p);
    // A truncated public key.
    let key = generate().public().to_z85();
    let short = format!("curve\n    public-key = \"{}\"\n", &key[..20]);
    fs::write(&p, short).unwrap();
    let err = KeyDir::load(t.path()).unwrap_err();
    assert!(
        matches!(
            err,
            KeyFileError::KeyLength {
                len: 20,
                line: 2,
                ..
            }
        ),
        "{err}"
    );
    names(&err, &p);
    // Subdirectories are ignored; a good file is read.
    fs::remove_file(&p).unwrap();
    fs::create_dir(peers.join("old")).unwrap();
    let k = generate().public();
    fs::write(&p, public_text(&k, "bob")).unwrap();
    let loaded = KeyDir::load(t.path()).unwrap();
    assert_eq!(loaded.allowed.get(&k), Some(&p));
    assert_eq!(loaded.allowed.len(), 1);
}

#[test]
fn bad_names_are_refused_before_anything_is_written() {
    let t = tmp();
    for name in ["a\"b", "line\nbreak", &"n".repeat(300)] {
        let err = KeyDir::create(t.path(), name, false).unwrap_err();
        assert!(matches!(err, KeyFileError::BadName { .. }), "{err}");
        names(&err, t.path());
    }
    assert!(!t.path().join(SECRET_FILE).exists());
}

#[test]
fn allow_copies_public_files_and_trust_follows() {
    let t = tmp();
    let a = KeyDir::create(t.path().join("a"), "alice", false).unwrap();
    let mut b = KeyDir::create(t.path().join("b"), "bob", false).unwrap();
    let got = b.allow(a.public_path()).unwrap();
    assert!(got.added);
    assert_eq!(
        (got.key, got.name.as_str(), got.path.clone()),
        (a.keys.public(), "alice", b.peers_path().join("alice.pub"))
    );
    assert_eq!(text_of(&got.path), text_of(&a.public_path()));
    // Again: nothing written. Own key: nothing written.
    let again = b.allow(a.public_path()).unwrap();
    assert!(!again.added);
    assert_eq!(again.path, got.path);
    assert!(!b.allow(b.public_path()).unwrap().added);
    // Another node also named alice gets a file of its own.
    let a2 = KeyDir::create(t.path().join("a2"), "alice", false).unwrap();
    let got2 = b.allow(a2.public_path()).unwrap();
    assert!(got2.added);
    assert_ne!(got2.path, got.path);
    let reloaded = KeyDir::load(&b.path).unwrap();
    assert_eq!(reloaded.allowed, b.allowed);
    assert_eq!(
        reloaded.trust(),
        Trust::Keys(
            [a.keys.public(), a2.keys.public(), b.keys.public()]
                .into_iter()
                .collect()
        )
    );
    assert!(!reloaded.trust().allows(&generate().public()));
    // Secrets are refused, by name or by content.
    let err = b.allow(a.secret_path()).unwrap_err();
    assert!(matches!(err, KeyFileError::Secret { .. }), "{err}");
    names(&err, &a.secret_path());
    let disguised = t.path().join("a.pub");
    fs::copy(a.secret_path(), &disguised).unwrap();
    let err = b.allow(&disguised).unwrap_err();
    assert!(matches!(err, KeyFileError::Secret { .. }), "{err}");
    names(&err, &disguised);
}

#[test]
fn a_zyre_users_zcert_public_file_is_read() {
    // The layout CZMQ's zcert_save_public writes (comment header, then metadata and curve).
    let t = tmp();
    let key = generate().public();
    let text = format!(
        "#   ****  Generated on 2026-12-01 12:00:00 by CZMQ  ****\n\
         #   ZeroMQ CURVE Public Certificate\n\
         #   Exchange securely, or use a secure mechanism to verify the contents\n\
         #   of this file after exchange. Store public certificates in your home\n\
         #   directory, in the .curve subdirectory.\n\
         \n\
         metadata\n    name = \"zyre-node\"\n    email = \"ops@example.org\"\n\
         curve\n    public-key = \"{}\"\n",
        key.to_z85()
    );
    let p = t.path().join("zyre.pub");
    fs::write(&p, text).unwrap();
    assert_eq!(read_public(&p).unwrap(), (key, "zyre-node".to_string()));
    // Without metadata, and with CRLF line endings.
    fs::write(
        &p,
        format!("curve\r\n    public-key = \"{}\"\r\n", key.to_z85()),
    )
    .unwrap();
    assert_eq!(read_public(&p).unwrap(), (key, String::new()));
}

proptest! {
    #[test]
    fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let p = Path::new("fuzz");
        let _ = parse_public(p, &bytes);
        let _ = parse_secret(p, &bytes);
    }

    /// A changed byte in a key pair file is refused, or changes nothing that matters: it never
    /// gives another key pair.
    #[test]
    fn a_damaged_secret_never_gives_other_keys(seed in any::<[u8; 32]>(), at in any::<usize>(), byte in any::<u8>()) {
        let Ok(keys) = KeyPair::from_seed(seed) else { return Ok(()) };
        let mut text = secret_text(&keys, "node").into_bytes();
        let at = at % text.len();
        text[at] = byte;
        if let Ok((got, _)) = parse_secret(Path::new("x"), &text) {
            prop_assert_eq!(got.public(), keys.public());
            prop_assert_eq!(got.seed(), keys.seed());
        }
        let public = public_text(&keys.public(), "node").into_bytes();
        let mut public = public.clone();
        let at = at % public.len();
        public[at] = byte;
        if let Ok((got, _)) = parse_public(Path::new("x"), &public) {
            // A changed key character may give another key: it is then still a valid one.
            prop_assert!(got.zyre_safe());
        }
    }
}

// libzmq's own derivation (since 4.2.1), which the zmq crate does not wrap; libzmq is linked
// through the zmq crate.
extern "C" {
    fn zmq_curve_public(
        z85_public_key: *mut std::ffi::c_char,
        z85_secret_key: *const std::ffi::c_char,
    ) -> std::ffi::c_int;
}

/// libzmq agrees with our derivation: zmq_curve_public of our CURVE secret is our public key.
#[test]
fn libzmq_derives_the_same_public_key() {
    for _ in 0..16 {
        let keys = generate();
        let secret = std::ffi::CString::new(z85::encode(&keys.curve_secret()).unwrap()).unwrap();
        let mut public = [0u8; 41];
        // SAFETY: zmq_curve_public writes 41 bytes (40 Z85 characters and a NUL) into its first
        // argument and reads a NUL-terminated 40-character Z85 string from its second.
        let rc = unsafe { zmq_curve_public(public.as_mut_ptr().cast(), secret.as_ptr()) };
        assert_eq!(rc, 0, "zmq_curve_public failed (libzmq without CURVE?)");
        assert_eq!(&public[..40], keys.public().to_z85().as_bytes());
    }
}

/// A DEALER sends `hello` as a CURVE client with server key `server_key`; whether the ROUTER
/// receives it within `wait`.
fn curve_delivers(
    ctx: &zmq::Context,
    server: &zmq::Socket,
    endpoint: &str,
    server_key: &PublicKey,
    wait: Duration,
) -> bool {
    let me = generate();
    let client = ctx.socket(zmq::DEALER).unwrap();
    client.set_linger(0).unwrap();
    client.set_curve_serverkey(server_key.as_bytes()).unwrap();
    client.set_curve_publickey(me.public().as_bytes()).unwrap();
    client.set_curve_secretkey(&me.curve_secret()).unwrap();
    client.connect(endpoint).unwrap();
    client.send("hello", 0).unwrap();
    let deadline = std::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let ready = server
            .poll(zmq::POLLIN, left.as_millis().max(1) as i64)
            .unwrap();
        if ready > 0 {
            let frames = server.recv_multipart(0).unwrap();
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[1], b"hello");
            return true;
        }
    }
}

/// The keys from a key file make a real libzmq CURVE handshake: a client that knows the
/// server's public key gets through, one with another server key does not.
#[test]
fn key_file_keys_make_a_libzmq_curve_handshake() {
    assert_eq!(
        zmq::has("curve"),
        Some(true),
        "libzmq is built without CURVE"
    );
    let t = tmp();
    KeyDir::create(t.path(), "server", false).unwrap();
    let server_keys = KeyDir::load(t.path()).unwrap().keys;
    let ctx = zmq::Context::new();
    let server = ctx.socket(zmq::ROUTER).unwrap();
    server.set_linger(0).unwrap();
    server.set_curve_server(true).unwrap();
    server
        .set_curve_secretkey(&server_keys.curve_secret())
        .unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.get_last_endpoint().unwrap().unwrap();
    // The wrong server key first: the server is up, and the message must not arrive.
    let wrong = generate().public();
    assert!(
        !curve_delivers(
            &ctx,
            &server,
            &endpoint,
            &wrong,
            Duration::from_millis(1500)
        ),
        "a client with the wrong server key got through"
    );
    assert!(
        curve_delivers(
            &ctx,
            &server,
            &endpoint,
            &server_keys.public(),
            Duration::from_secs(10)
        ),
        "the CURVE handshake with the key file's keys failed"
    );
}

/// The fuzz seeds are what they claim: a ryre key pair, its public file, a CZMQ certificate.
#[test]
fn the_fuzz_seeds_read() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ryre-proto/fuzz/seeds/key_file");
    let secret = fs::read(seeds.join("node.secret")).unwrap();
    let (keys, name) = parse_secret(Path::new("node.secret"), &secret).unwrap();
    assert_eq!(name, "fuzz-seed");
    let public = fs::read(seeds.join("node.pub")).unwrap();
    let got = parse_public(Path::new("node.pub"), &public).unwrap();
    assert_eq!(got, (keys.public(), "fuzz-seed".to_string()));
    let zcert = fs::read(seeds.join("zcert.pub")).unwrap();
    let got = parse_public(Path::new("zcert.pub"), &zcert).unwrap();
    assert_eq!(got, (keys.public(), "zyre".to_string()));
}
