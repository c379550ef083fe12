//! `Node::stats()`: the heart's counters move with real traffic over loopback (messages and bytes
//! by kind, problems by kind, exits by reason).

mod common;

use std::time::{Duration, Instant};

use common::*;
use ryre::{Event, ExitReason, Problem, Stats};

const HELLO: usize = 1;
const WHISPER: usize = 2;
const JOIN: usize = 4;

/// Waits (bounded) until `f` holds for the node's stats.
fn wait_stats(node: &ryre::Node, what: &str, f: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = node.stats().heart;
        if f(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: stats stayed {s:#?}");
        // Polling a counter another thread moves: no event to wait on.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn counters_follow_real_traffic() {
    let port = free_udp_port();
    let a = builder(port, "a").start().unwrap();
    let b = builder(port, "b").start().unwrap();
    a.join("stats").unwrap();
    b.join("stats").unwrap();
    meet_in(&a, &b, "stats");
    let before = b.stats().heart;
    a.whisper_str(b.uuid(), "0123456789").unwrap();
    expect(&b, "WHISPER", |e| matches!(e, Event::Whisper { .. }));
    let sa = a.stats().heart;
    let sb = wait_stats(&b, "whisper counted", |s| {
        s.messages_in[WHISPER] > before.messages_in[WHISPER]
    });
    assert_eq!(Stats::message_kind(WHISPER), "WHISPER");
    assert!(
        sa.messages_out[HELLO] >= 1 && sb.messages_in[HELLO] >= 1,
        "{sa:?} {sb:?}"
    );
    assert!(sa.messages_out[JOIN] >= 1 && sb.messages_in[JOIN] >= 1);
    assert_eq!(sa.messages_out[WHISPER], 1);
    assert_eq!(sb.messages_in[WHISPER], 1);
    // The whisper's content (10 bytes) and its header frame went over the wire.
    assert!(
        sb.bytes_in - before.bytes_in >= 10 + 4,
        "{} bytes",
        sb.bytes_in - before.bytes_in
    );
    assert!(sa.bytes_out > sa.messages_out.iter().sum::<u64>() * 4);
    assert_eq!(sa.sent, sa.messages_out.iter().sum::<u64>());
    assert_eq!(a.stats().backlog, 0);

    // Garbage into b's inbox from a raw DEALER with a ZRE-looking routing id: a malformed
    // problem, counted by kind.
    let ctx = zmq::Context::new();
    let raw = zmq_socket(&ctx, zmq::DEALER);
    let mut id = vec![1u8];
    id.extend_from_slice(&[7u8; 16]);
    raw.set_identity(&id).unwrap();
    raw.set_linger(0).unwrap();
    raw.connect(b.endpoint()).unwrap();
    raw.send(&b"\xAA\xA1\x02 not a whisper"[..], 0).unwrap();
    let malformed = Problem::KINDS
        .iter()
        .position(|k| *k == "malformed")
        .unwrap();
    let sb = wait_stats(&b, "malformed counted", |s| s.problems[malformed] >= 1);
    assert!(sb.malformed >= 1);

    // a stops: b counts one exit with the reason it saw.
    a.stop().unwrap();
    let ev = expect(&b, "EXIT a", |e| matches!(e, Event::Exit { .. }));
    let Event::Exit { reason, .. } = ev else {
        unreachable!()
    };
    let sb = b.stats().heart;
    assert_eq!(sb.exits[reason.kind_index()], 1, "{sb:?}");
    assert_eq!(ExitReason::KINDS[reason.kind_index()], reason.as_str());
    b.stop().unwrap();
}
