//! Certified logging over real sockets: a publisher whose certificate grants `log` signs its
//! records and a certified collector takes them; a publisher without the right cannot start;
//! records that are unsigned, forged, tampered with, replayed, from a node without the right or
//! from a node not admitted are dropped and counted. Every wait is bounded.

use std::time::{Duration, Instant};

use ryre::certs::{CertFiles, Services};
use ryre::{Node, PeerId};
use ryre_log::proto::{DOMAIN, SIGNATURE_LEN};
use ryre_log::{
    layer_with, Collector, CollectorConfig, CollectorStats, Level, LogError, LogRecord,
    PublisherConfig,
};
use ryre_testkit::pki::{link, Pki};

const WAIT: Duration = Duration::from_secs(20);

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "no {what} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn collector(pki: &Pki, files: &CertFiles) -> Collector {
    let config = CollectorConfig {
        interface: Some("lo".into()),
        memory: 1000,
        level: Level::Trace,
        ..CollectorConfig::default()
    };
    Collector::start(pki.builder(files), config).expect("certified collector")
}

fn record(node: &Node, seq: u64, message: &str) -> LogRecord {
    LogRecord {
        seq,
        time: 1,
        level: Level::Info,
        node: node.uuid(),
        name: node.name().into(),
        target: "test".into(),
        message: message.into(),
        fields: Vec::new(),
        spans: Vec::new(),
    }
}

/// A frame of `rec` signed by `signer` (any node with a key), optionally changed afterwards.
fn signed(rec: &LogRecord, signer: &Node) -> Vec<u8> {
    let mut frame = rec.encode_mut().expect("encodable");
    assert!(LogRecord::sign_frame(&mut frame, |b| signer.sign(DOMAIN, b)));
    frame.to_vec()
}

/// A raw publisher at the collector's SUB socket, ready once a subscription has arrived.
struct Raw {
    socket: ryre::zmq::Socket,
    _ctx: ryre::zmq::Context,
}

impl Raw {
    fn new(endpoint: &str) -> Raw {
        let ctx = ryre::zmq::Context::new();
        let socket = ryre_testkit::zmq_socket(&ctx, ryre::zmq::XPUB);
        socket.connect(endpoint).expect("connect");
        socket
            .set_rcvtimeo(WAIT.as_millis() as i32)
            .expect("timeout");
        let sub = socket
            .recv_bytes(0)
            .expect("a subscription within the wait");
        assert_eq!(sub.first(), Some(&1), "a subscription");
        Raw { socket, _ctx: ctx }
    }

    fn send(&self, rec: &LogRecord, frame: &[u8]) {
        self.socket
            .send(&rec.topic()[..], ryre::zmq::SNDMORE)
            .expect("topic");
        self.socket.send(frame, 0).expect("record");
    }
}

fn seen(col: &Collector) -> u64 {
    let s = col.stats();
    s.received + s.malformed + s.refused()
}

#[test]
fn an_entitled_publisher_is_collected_and_a_publisher_without_the_right_cannot_start() {
    let pki = Pki::new();
    let fc = pki.issue("collector", &[], Services::NONE);
    let fa = pki.issue("alice", &[], Services::LOG);
    let fm = pki.issue("mallory", &[], Services::TIMER);
    let col = collector(&pki, &fc);
    let alice = pki.node(&fa);
    let mallory = pki.node(&fm);
    // Mallory's certificate has no `log`: her node refuses to publish at all.
    match layer_with(&mallory, PublisherConfig::default()) {
        Err(e @ LogError::NotEntitled { .. }) => {
            assert!(e.to_string().contains("mallory"), "{e}");
            assert!(e.to_string().contains("log service"), "{e}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a publisher without the log right started"),
    }
    link(col.node(), &fc, &alice, &fa);
    let (layer, publisher) = layer_with(
        &alice,
        PublisherConfig {
            scan_every: Duration::from_millis(20),
            ..PublisherConfig::default()
        },
    )
    .expect("alice may publish");
    assert!(publisher.stats().signing);
    wait_for("a collector's subscription", || layer.enabled(Level::Info));
    for i in 0..50 {
        assert!(layer.publish(Level::Info, "app", format!("record {i}"), Vec::new()));
    }
    wait_for("50 records", || col.stats().received == 50);
    let recent = col.recent(100);
    assert_eq!(recent.len(), 50);
    assert!(recent.iter().all(|r| r.node == alice.uuid()));
    assert_eq!(recent[49].message, "record 49");
    assert_eq!(col.stats().refused(), 0, "{:?}", col.stats());
    publisher.stop();
}

#[test]
fn unsigned_forged_tampered_replayed_unentitled_and_unadmitted_records_are_dropped_and_counted() {
    let pki = Pki::new();
    let fc = pki.issue("collector", &[], Services::NONE);
    let fa = pki.issue("alice", &[], Services::LOG);
    let fm = pki.issue("mallory", &[], Services::TIMER);
    let fs = pki.issue("stranger", &[], Services::LOG);
    let col = collector(&pki, &fc);
    let alice = pki.node(&fa);
    let mallory = pki.node(&fm);
    // Certified by the same CA, with the right, but never introduced: not admitted.
    let stranger = pki.node(&fs);
    link(col.node(), &fc, &alice, &fa);
    link(col.node(), &fc, &mallory, &fm);
    let raw = Raw::new(col.endpoint());
    let step =
        |what: &str, rec: &LogRecord, frame: &[u8], check: &dyn Fn(&CollectorStats) -> bool| {
            let before = seen(&col);
            raw.send(rec, frame);
            wait_for(what, || seen(&col) > before);
            let s = col.stats();
            assert!(check(&s), "{what}: {s:?}");
        };
    // A good one first: the checks can say yes.
    let r0 = record(&alice, 0, "genuine");
    let good = signed(&r0, &alice);
    step("a genuine record", &r0, &good, &|s| s.received == 1);
    // The same bytes again: a replay.
    step("a replay", &r0, &good, &|s| {
        s.replayed == 1 && s.received == 1
    });
    // Unsigned (version 1), naming alice.
    let r1 = record(&alice, 1, "unsigned");
    let v1 = r1.encode().expect("encodable").to_vec();
    step("an unsigned record", &r1, &v1, &|s| s.unsigned == 1);
    // Signed by mallory's key, naming alice: forged.
    step("a forged record", &r1, &signed(&r1, &mallory), &|s| {
        s.forged == 1
    });
    // Alice's genuine signature, one byte of the message changed afterwards: tampered.
    let mut tampered = signed(&record(&alice, 1, "tampered"), &alice);
    let at = tampered
        .windows(8)
        .position(|w| w == b"tampered")
        .expect("message bytes");
    tampered[at] = b'T';
    let r1t = LogRecord::decode(&tampered).expect("still a record");
    step("a tampered record", &r1t, &tampered, &|s| s.forged == 2);
    // A flipped signature bit.
    let mut bad_sig = signed(&r1, &alice);
    let last = bad_sig.len() - SIGNATURE_LEN / 2;
    bad_sig[last] ^= 0x10;
    step("a bad signature", &r1, &bad_sig, &|s| s.forged == 3);
    // Mallory's own records, signed by her: admitted, but no `log` right.
    let rm = record(&mallory, 0, "not entitled");
    step("an unentitled record", &rm, &signed(&rm, &mallory), &|s| {
        s.unentitled == 1
    });
    // The stranger's: signed and entitled, but the collector's heart never admitted it.
    let rs = record(&stranger, 0, "stranger");
    step("an unadmitted record", &rs, &signed(&rs, &stranger), &|s| {
        s.unadmitted == 1
    });
    // A node id nobody has.
    let mut rn = record(&alice, 0, "nobody");
    rn.node = PeerId::from_bytes([0x42; 16]);
    step("a record of nobody", &rn, &signed(&rn, &alice), &|s| {
        s.unadmitted == 2
    });
    // And alice's next genuine record still passes.
    let r2 = record(&alice, 1, "second");
    step("alice's next record", &r2, &signed(&r2, &alice), &|s| {
        s.received == 2
    });
    let s = col.stats();
    assert_eq!(
        (s.received, s.refused(), s.malformed),
        (2, 8, 0),
        "final counts: {s:?}"
    );
    let kept: Vec<String> = col.recent(10).into_iter().map(|r| r.message).collect();
    assert_eq!(
        kept,
        ["genuine", "second"],
        "only alice's genuine records are kept"
    );
}
