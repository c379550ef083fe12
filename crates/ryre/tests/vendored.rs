//! With the `vendored` feature, the libzmq in this binary is the one the `zmq` crate built from
//! source (zeromq-src), linked statically, and it has CURVE (its bundled tweetnacl): checked by
//! the version, by the absence of a shared libzmq in the process, and by a real CURVE handshake
//! over TCP loopback. `scripts/test-vendored.sh` runs this crate's tests with the feature on.
#![cfg(feature = "vendored")]

mod common;

use common::*;
use ryre::Event;

/// The libzmq release zeromq-src builds (its crate version is `x+4.3.2`); the system's
/// libzmq3-dev on Debian 12 is 4.3.4, so a mix-up of the two shows here.
const VENDORED: (i32, i32, i32) = (4, 3, 2);

#[test]
fn vendored_libzmq_is_linked_statically_with_curve() {
    assert_eq!(zmq::version(), VENDORED, "not the vendored libzmq");
    assert_eq!(
        zmq::has("curve"),
        Some(true),
        "vendored libzmq without CURVE"
    );
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    assert!(
        !maps.contains("libzmq.so"),
        "a shared libzmq is mapped into the process:\n{}",
        maps.lines()
            .filter(|l| l.contains("libzmq"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn curve_handshake_over_tcp_loopback() {
    let ctx = zmq::Context::new();
    let server_keys = zmq::CurveKeyPair::new().expect("CURVE key pair");
    let client_keys = zmq::CurveKeyPair::new().expect("CURVE key pair");

    let server = ctx.socket(zmq::REP).unwrap();
    server.set_curve_server(true).unwrap();
    server.set_curve_secretkey(&server_keys.secret_key).unwrap();
    server.set_rcvtimeo(10_000).unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.get_last_endpoint().unwrap().unwrap();

    let client = ctx.socket(zmq::REQ).unwrap();
    client.set_curve_serverkey(&server_keys.public_key).unwrap();
    client.set_curve_publickey(&client_keys.public_key).unwrap();
    client.set_curve_secretkey(&client_keys.secret_key).unwrap();
    client.set_rcvtimeo(10_000).unwrap();
    client.set_linger(0).unwrap();
    client.connect(&endpoint).unwrap();

    client.send("sealed", 0).unwrap();
    assert_eq!(server.recv_bytes(0).expect("request over CURVE"), b"sealed");
    server.send("opened", 0).unwrap();
    assert_eq!(client.recv_bytes(0).expect("reply over CURVE"), b"opened");

    // A client with the wrong server key never gets through: the handshake really is checked.
    let wrong = zmq::CurveKeyPair::new().unwrap();
    let bad = ctx.socket(zmq::REQ).unwrap();
    bad.set_curve_serverkey(&wrong.public_key).unwrap();
    bad.set_curve_publickey(&client_keys.public_key).unwrap();
    bad.set_curve_secretkey(&client_keys.secret_key).unwrap();
    bad.set_linger(0).unwrap();
    bad.connect(&endpoint).unwrap();
    bad.send("forged", 0).unwrap();
    server.set_rcvtimeo(300).unwrap();
    assert!(
        server.recv_bytes(0).is_err(),
        "a message got through with the wrong server key"
    );
}

#[test]
fn two_vendored_nodes_meet_and_whisper() {
    let port = free_udp_port();
    let a = builder(port, "a").start().unwrap();
    let b = builder(port, "b").start().unwrap();
    a.join("vendored").unwrap();
    b.join("vendored").unwrap();
    meet_in(&a, &b, "vendored");
    a.whisper_str(b.uuid(), "over the vendored libzmq").unwrap();
    expect(
        &b,
        "WHISPER from a",
        |e| matches!(e, Event::Whisper { content, .. } if &content[0][..] == b"over the vendored libzmq"),
    );
    a.stop().unwrap();
    b.stop().unwrap();
}
