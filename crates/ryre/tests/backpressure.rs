//! Backpressure (issue 18): a sender faster than its peer neither loses messages nor drops the
//! peer by default. The slow peer is a real node in a child process, stopped with SIGSTOP so that
//! it reads nothing: the sender's queue to it fills for certain, whatever the machine's speed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ryre::{Bytes, Discovery, Error, Event, Node, PeerId, SendPolicy};
use ryre_testkit::local_endpoint;

/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

/// Frames this big fill the kernel's socket buffers after a few dozen messages.
const BIG: usize = 64 * 1024;

/// Prefix of the child's report lines (the test harness writes to stdout too).
const TAG: &str = "RYRE-BP ";

/// Kills and reaps the child on every exit path.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.id().to_string()])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node(name: &str, policy: SendPolicy) -> Node {
    Node::builder()
        .name(name)
        .discovery(Discovery::Off)
        .endpoint(local_endpoint())
        .send_hwm(10)
        .send_policy(policy)
        .start()
        .unwrap()
}

/// Waits for ENTER of `peer` at `node`.
fn wait_enter(node: &Node, peer: PeerId) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match node.recv_timeout(left).unwrap() {
            Some(Event::Enter { peer: p, .. }) if p == peer => return,
            Some(_) => {}
            None => panic!("{}: no ENTER of {peer} within {WAIT:?}", node.name()),
        }
    }
}

/// Panics if `node` has an EXIT waiting.
fn assert_no_exit(node: &Node) {
    while let Some(ev) = node.try_recv() {
        assert!(!matches!(ev, Event::Exit { .. }), "unexpected {ev:?}");
    }
}

/// A message numbered `i`: the number in the first 8 bytes.
fn numbered(i: u64) -> Bytes {
    let mut v = vec![0u8; BIG];
    v[..8].copy_from_slice(&i.to_le_bytes());
    Bytes::from(v)
}

/// The child's reports, line by line, read on a thread so that every wait has a timeout.
fn reports(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // The harness may have written on the same line before.
            if let Some(at) = line.find(TAG) {
                if tx.send(line[at + TAG.len()..].to_string()).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Starts the slow receiver: this test binary again, running only `slow_child`.
fn spawn_slow(parent: &Node) -> (Kill, mpsc::Receiver<String>, PeerId) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "slow_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(
            "RYRE_BP_PARENT",
            format!("{} {}", parent.uuid(), parent.endpoint()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = reports(&mut child);
    let child = Kill(child);
    let hello = rx.recv_timeout(WAIT).expect("the child says who it is");
    let (id, endpoint) = hello.split_once(' ').expect("id and endpoint");
    let id: PeerId = id.parse().unwrap();
    parent.connect_peer(id, endpoint).unwrap();
    wait_enter(parent, id);
    (child, rx, id)
}

fn signal(child: &Kill, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Runs as the child when RYRE_BP_PARENT is set: a node that takes numbered whispers, checks
/// they come in order from 0 without a gap, and reports the count when the last (an empty
/// whisper) arrives, or any EXIT.
#[test]
fn slow_child() {
    let Ok(parent) = std::env::var("RYRE_BP_PARENT") else {
        return;
    };
    let (id, endpoint) = parent.split_once(' ').unwrap();
    let node = Node::builder()
        .name("slow")
        .discovery(Discovery::Off)
        .endpoint(local_endpoint())
        .start()
        .unwrap();
    node.connect_peer(id.parse().unwrap(), endpoint).unwrap();
    node.join("g").unwrap();
    println!("{TAG}{} {}", node.uuid(), node.endpoint());
    let mut next = 0u64;
    // Bounded: a lost parent cannot leave it running for ever.
    while let Ok(Some(ev)) = node.recv_timeout(Duration::from_secs(60)) {
        match ev {
            Event::Whisper { content, .. } => {
                let Some(first) = content.first() else {
                    continue;
                };
                if first.len() < 8 {
                    println!("{TAG}done {next}");
                    return;
                }
                let i = u64::from_le_bytes(first[..8].try_into().unwrap());
                if i != next {
                    println!("{TAG}gap: expected {next}, got {i}");
                    return;
                }
                next += 1;
            }
            Event::Exit { reason, .. } => {
                println!("{TAG}exit {}", reason.as_str());
                return;
            }
            _ => {}
        }
    }
    println!("{TAG}silence after {next}");
}

/// Fills the queue to a stopped peer until a whisper fails; returns how many went and the
/// failed call's error and duration. The peer must still be there and nothing lost.
fn fill(a: &Node, slow: PeerId) -> (u64, Error, Duration) {
    let mut sent = 0u64;
    loop {
        let t = Instant::now();
        match a.whisper(slow, [numbered(sent)]) {
            Ok(()) => sent += 1,
            Err(e) => return (sent, e, t.elapsed()),
        }
        assert!(sent < 10_000, "the queue to a stopped peer never filled");
    }
}

/// Whispers, trying again while the queue is full (`SendPolicy::Fail`), for at most WAIT.
fn whisper_retrying(a: &Node, to: PeerId, frame: Bytes) {
    let deadline = Instant::now() + WAIT;
    loop {
        match a.whisper(to, [frame.clone()]) {
            Ok(()) => return,
            Err(Error::WouldBlock { .. }) => {
                assert!(Instant::now() < deadline, "the queue never drained");
                std::thread::yield_now();
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Sends `from..to` to `slow` (now reading), then the end marker; the child must report all.
fn finish(a: &Node, slow: PeerId, from: u64, to: u64, rx: &mpsc::Receiver<String>) {
    for i in from..to {
        whisper_retrying(a, slow, numbered(i));
    }
    whisper_retrying(a, slow, Bytes::from_static(b"end"));
    let report = rx.recv_timeout(WAIT).expect("the child reports");
    assert_eq!(report, format!("done {to}"));
    assert!(a.peers().contains(&slow));
    assert_no_exit(a);
}

/// The default policy: a whisper to a full queue waits (for a bounded time), then fails with
/// WouldBlock; the peer is kept, nothing is lost, and whispers to another peer are not held up
/// while one caller waits.
#[test]
fn a_full_queue_blocks_the_sender_not_the_node() {
    let a = node("sender", SendPolicy::Block(Duration::from_millis(300)));
    let (child, rx, slow) = spawn_slow(&a);
    let other = node("other", SendPolicy::default());
    a.connect_peer(other.uuid(), other.endpoint()).unwrap();
    wait_enter(&a, other.uuid());
    wait_enter(&other, a.uuid());

    signal(&child, "-STOP");
    let (sent, err, took) = fill(&a, slow);
    assert!(
        matches!(&err, Error::WouldBlock { peers } if peers == &vec![slow]),
        "{err}"
    );
    assert!(took >= Duration::from_millis(300), "gave up after {took:?}");
    assert!(a.peers().contains(&slow), "the slow peer was dropped");
    assert_no_exit(&a);

    // `try_whisper` never waits, even with the Block policy; nothing is sent.
    let t0 = Instant::now();
    let e = a.try_whisper(slow, [numbered(sent)]).unwrap_err();
    assert!(
        matches!(&e, Error::WouldBlock { peers } if peers == &vec![slow]),
        "{e}"
    );
    assert!(
        t0.elapsed() < Duration::from_millis(250),
        "try_whisper waited {:?}",
        t0.elapsed()
    );

    // One thread waits for room to the stopped peer (up to 300 ms, in a loop of 5 tries);
    // meanwhile a whisper to the other peer goes through at once.
    let waiting = Arc::new(AtomicBool::new(true));
    let (a2, w2) = (a.clone(), waiting.clone());
    let blocked = std::thread::spawn(move || {
        let mut r = None;
        for _ in 0..5 {
            r = Some(a2.whisper(slow, [numbered(sent)]));
        }
        w2.store(false, Ordering::SeqCst);
        r
    });
    a.whisper_str(other.uuid(), "not held up").unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match other.recv_timeout(left).unwrap() {
            Some(Event::Whisper { .. }) => break,
            Some(_) => {}
            None => panic!("the other peer got nothing"),
        }
    }
    assert!(
        waiting.load(Ordering::SeqCst),
        "the whisper to the other peer waited for the blocked one"
    );
    let r = blocked.join().unwrap();
    assert!(matches!(r, Some(Err(Error::WouldBlock { .. }))), "{r:?}");

    // The peer reads again: everything sent arrives, in order, and the rest goes through.
    signal(&child, "-CONT");
    finish(&a, slow, sent, sent + 200, &rx);
}

/// `SendPolicy::Fail`: the whisper that finds the queue full fails at once; nothing is lost.
#[test]
fn a_full_queue_fails_at_once_with_the_fail_policy() {
    let a = node("sender", SendPolicy::Fail);
    let (child, rx, slow) = spawn_slow(&a);
    signal(&child, "-STOP");
    let (sent, err, took) = fill(&a, slow);
    assert!(matches!(err, Error::WouldBlock { .. }), "{err}");
    assert!(took < Duration::from_secs(1), "waited {took:?}");
    assert!(a.peers().contains(&slow));
    signal(&child, "-CONT");
    // Each whisper is tried again until the queue has room (bounded by WAIT).
    finish(&a, slow, sent, sent + 200, &rx);
}

/// A shout to a group with a stopped member waits for it (the default policy), and is refused
/// whole when the wait runs out: no member gets it, the stopped member is kept; once it reads
/// again, shouts reach everyone.
#[test]
fn a_shout_waits_for_the_full_member() {
    let a = node("sender", SendPolicy::Block(Duration::from_millis(200)));
    let other = node("other", SendPolicy::default());
    a.connect_peer(other.uuid(), other.endpoint()).unwrap();
    other.join("g").unwrap();
    // The child joins "g" too.
    let (child, rx, slow) = spawn_slow(&a);
    // Earlier JOINs may have gone by while waiting for ENTER: look at the state after each
    // event.
    let deadline = Instant::now() + WAIT;
    while a.peers_by_group("g").len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            a.recv_timeout(left).unwrap().is_some(),
            "only {:?} joined",
            a.peers_by_group("g")
        );
    }
    signal(&child, "-STOP");
    let (sent, _, _) = fill(&a, slow);
    let t = Instant::now();
    let t0 = Instant::now();
    let err = a
        .try_shout("g", [Bytes::from_static(b"refused")])
        .unwrap_err();
    assert!(
        matches!(&err, Error::WouldBlock { peers } if peers == &vec![slow]),
        "{err}"
    );
    assert!(
        t0.elapsed() < Duration::from_millis(150),
        "try_shout waited"
    );
    let err = a.shout("g", [Bytes::from_static(b"refused")]).unwrap_err();
    assert!(
        matches!(&err, Error::WouldBlock { peers } if peers == &vec![slow]),
        "{err}"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "shout did not wait"
    );
    // try_shout never waits, whatever the policy: refused at once, nothing sent.
    let t = Instant::now();
    let err = a
        .try_shout("g", [Bytes::from_static(b"refused")])
        .unwrap_err();
    assert!(
        matches!(&err, Error::WouldBlock { peers } if peers == &vec![slow]),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "try_shout waited {:?}",
        t.elapsed()
    );
    signal(&child, "-CONT");
    // The stopped member needs a moment to drain: try again (bounded) while it is still full.
    let deadline = Instant::now() + WAIT;
    while let Err(e) = a.shout("g", [Bytes::from_static(b"delivered")]) {
        assert!(matches!(e, Error::WouldBlock { .. }), "{e}");
        assert!(Instant::now() < deadline, "the member never drained");
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match other.recv_timeout(left).unwrap() {
            Some(Event::Shout { content, .. }) => {
                assert_eq!(&content[0][..], b"delivered", "the refused shout went out");
                break;
            }
            Some(_) => {}
            None => panic!("the other member got no shout"),
        }
    }
    finish(&a, slow, sent, sent + 10, &rx);
}

/// Nothing goes wrong with an ordinary fast peer: `count` 1 KiB whispers unpaced with the
/// default policy all arrive, in order, with no EXIT.
#[test]
fn an_unpaced_sender_loses_nothing() {
    let a = node("sender", SendPolicy::default());
    let b = node("receiver", SendPolicy::default());
    a.connect_peer(b.uuid(), b.endpoint()).unwrap();
    b.connect_peer(a.uuid(), a.endpoint()).unwrap();
    wait_enter(&a, b.uuid());
    wait_enter(&b, a.uuid());
    let count = 20_000u64;
    let rx = {
        let b = b.clone();
        std::thread::spawn(move || {
            let mut next = 0u64;
            while next < count {
                match b.recv_timeout(WAIT) {
                    Ok(Some(Event::Whisper { content, .. })) => {
                        let i = u64::from_le_bytes(content[0][..8].try_into().unwrap());
                        assert_eq!(i, next);
                        next += 1;
                    }
                    Ok(Some(Event::Exit { .. })) => panic!("EXIT after {next}"),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => panic!("only {next} of {count} arrived"),
                }
            }
        })
    };
    for i in 0..count {
        let mut v = vec![0u8; 1024];
        v[..8].copy_from_slice(&i.to_le_bytes());
        a.whisper(b.uuid(), [v]).unwrap();
    }
    rx.join().unwrap();
    assert_no_exit(&a);
}
