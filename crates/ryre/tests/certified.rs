//! Certified mode over real libzmq CURVE links: certificates issued by an offline CA (the files
//! of `ryre cert`), group rights enforced at both ends, an uncertified node kept out, and a
//! revocation handed to one node that spreads to the others and is kept on disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ryre::certs::{self, CertFiles, Request};
use ryre::{Discovery, Event, Node, PeerId};
use ryre_proto::security::cert::{Grant, Role, Services};
use ryre_testkit::expect;

struct Pki {
    dir: PathBuf,
    ca: CertFiles,
}

impl Pki {
    fn new() -> Pki {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("random");
        let dir =
            std::env::temp_dir().join(format!("ryre-certified-{:016x}", u64::from_be_bytes(b)));
        let now = certs::unix_now();
        let ca = certs::create_ca(&dir, "root", now - 60, now + 86_400, false).expect("CA");
        Pki { dir, ca }
    }

    fn issue(&self, name: &str, grants: &[&str]) -> CertFiles {
        let now = certs::unix_now();
        certs::issue(
            &self.ca,
            &Request {
                name: name.into(),
                role: Role::Node,
                grants: grants
                    .iter()
                    .map(|g| Grant::parse(g).expect("grant"))
                    .collect(),
                services: Services::NONE,
                not_before: now - 60,
                not_after: now + 3600,
            },
            &self.dir,
            false,
        )
        .expect("issued")
    }

    fn node(&self, files: &CertFiles, revocations: Option<&Path>) -> Node {
        let mut b = Node::builder()
            .name(files.cert().body().name.clone())
            .discovery(Discovery::Off)
            .endpoint(ryre_testkit::local_endpoint())
            .certificate(&files.base)
            .trust_ca(self.ca.cert_path());
        if let Some(r) = revocations {
            b = b.revocations(r);
        }
        b.start().expect("certified node starts")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn link(a: &Node, fa: &CertFiles, b: &Node, fb: &CertFiles) {
    a.connect_peer_key(b.uuid(), b.endpoint(), fb.keys.public())
        .expect("connect");
    b.connect_peer_key(a.uuid(), a.endpoint(), fa.keys.public())
        .expect("connect");
}

fn entered(node: &Node, other: &Node) {
    let id = other.uuid();
    expect(
        node,
        &format!("ENTER {}", other.name()),
        |e| matches!(e, Event::Enter { peer, .. } if *peer == id),
    );
}

/// Waits for `node` to see every one of `others` enter, in any order (waiting for them one at a
/// time would drop an ENTER that comes before the one awaited).
fn entered_all(node: &Node, others: &[&Node]) {
    let mut left: Vec<PeerId> = others.iter().map(|o| o.uuid()).collect();
    expect(node, &format!("ENTER of {} peers", left.len()), |e| {
        if let Event::Enter { peer, .. } = e {
            left.retain(|id| id != peer);
        }
        left.is_empty()
    });
}

/// Waits for `node` to see every (peer, group) JOIN of `joins`, in any order.
fn joined_all(node: &Node, joins: &[(&Node, &str)]) {
    let mut left: Vec<(PeerId, String)> = joins
        .iter()
        .map(|(n, g)| (n.uuid(), g.to_string()))
        .collect();
    expect(node, &format!("{} JOINs", left.len()), |e| {
        if let Event::Join { peer, group, .. } = e {
            left.retain(|(id, g)| !(id == peer && g == group));
        }
        left.is_empty()
    });
}

fn joined(node: &Node, other: &Node, group: &str) {
    let id = other.uuid();
    expect(
        node,
        &format!("JOIN {} {group}", other.name()),
        |e| matches!(e, Event::Join { peer, group: g, .. } if *peer == id && g == group),
    );
}

/// Every event of `node` within `wait`.
fn events_for(node: &Node, wait: Duration) -> Vec<Event> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match node.recv_timeout(left) {
            Ok(Some(ev)) => out.push(ev),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

fn peer_of(ev: &Event) -> Option<PeerId> {
    match ev {
        Event::Enter { peer, .. } | Event::Shout { peer, .. } | Event::Whisper { peer, .. } => {
            Some(*peer)
        }
        _ => None,
    }
}

#[test]
fn certified_nodes_talk_and_an_unentitled_one_gets_nothing_of_a_restricted_group() {
    let pki = Pki::new();
    let (fa, fb, fc) = (
        pki.issue("alice", &["secret=all", "chat=all"]),
        pki.issue("bob", &["secret=join,shout", "chat=join"]),
        pki.issue("carol", &["chat=join,shout"]),
    );
    let (a, b, c) = (
        pki.node(&fa, None),
        pki.node(&fb, None),
        pki.node(&fc, None),
    );
    link(&a, &fa, &b, &fb);
    link(&a, &fa, &c, &fc);
    entered_all(&a, &[&b, &c]);
    entered(&c, &a);
    // Carol's own node refuses to join a group her certificate does not grant.
    let refused = c.join("secret");
    assert!(refused.is_err(), "carol joined secret: {refused:?}");
    a.join("secret").expect("join");
    b.join("secret").expect("join");
    a.join("chat").expect("join");
    c.join("chat").expect("join");
    joined_all(&a, &[(&b, "secret"), (&c, "chat")]);
    joined(&b, &a, "secret");
    joined(&c, &a, "chat");
    a.shout_str("secret", "for members only").expect("shout");
    a.shout_str("chat", "for everyone").expect("shout");
    expect(
        &b,
        "bob gets the secret shout",
        |e| matches!(e, Event::Shout { group, .. } if &**group == "secret"),
    );
    let seen = events_for(&c, Duration::from_millis(500));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Shout { group, .. } if &**group == "chat")),
        "carol never got the chat shout: {seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::Shout { group, .. } if &**group == "secret")),
        "carol got a secret shout: {seen:?}"
    );
    // Bob may not shout to chat (join only): his own node refuses.
    assert!(b.shout_str("chat", "x").is_err());
    // Whisper: alice has whisper in secret, bob may join it: allowed; carol has no whisper right.
    a.whisper_str(b.uuid(), "psst").expect("whisper");
    expect(&b, "bob gets the whisper", |e| {
        matches!(e, Event::Whisper { .. })
    });
    assert!(c.whisper_str(a.uuid(), "psst").is_err());
}

#[test]
fn an_uncertified_node_and_another_cas_node_never_enter() {
    let pki = Pki::new();
    let other = Pki::new();
    let fa = pki.issue("alice", &["chat=all"]);
    let fx = other.issue("mallory", &["chat=all"]);
    let a = pki.node(&fa, None);
    // Certified by a CA alice does not trust (and alice's CA is not trusted by it either).
    let m = other.node(&fx, None);
    link(&a, &fa, &m, &fx);
    // A secure node with a key and no certificate at all.
    let keys = ryre::keys::generate();
    let t = Node::builder()
        .name("tofu")
        .discovery(Discovery::Off)
        .endpoint(ryre_testkit::local_endpoint())
        .security(ryre::Security::tofu(keys.clone()))
        .start()
        .expect("tofu node");
    t.connect_peer_key(a.uuid(), a.endpoint(), fa.keys.public())
        .expect("connect");
    a.connect_peer_key(t.uuid(), t.endpoint(), keys.public())
        .expect("connect");
    let seen = events_for(&a, Duration::from_millis(800));
    for ev in &seen {
        let p = peer_of(ev);
        assert!(
            p != Some(m.uuid()) && p != Some(t.uuid()),
            "alice saw {ev:?}"
        );
    }
    assert!(a.peers().is_empty(), "alice has peers: {:?}", a.peers());
}

#[test]
fn a_revocation_handed_to_one_node_spreads_and_is_kept_on_disk() {
    let pki = Pki::new();
    let (fa, fb, fc) = (
        pki.issue("alice", &["chat=all"]),
        pki.issue("bob", &["chat=all"]),
        pki.issue("carol", &["chat=all"]),
    );
    let file_a = pki.dir.join("a.revocations");
    let file_b = pki.dir.join("b.revocations");
    let (a, b, c) = (
        pki.node(&fa, Some(&file_a)),
        pki.node(&fb, Some(&file_b)),
        pki.node(&fc, None),
    );
    link(&a, &fa, &b, &fb);
    link(&b, &fb, &c, &fc);
    entered_all(&b, &[&a, &c]);
    entered(&c, &b);
    // The CA revokes carol; the list reaches alice only (a file she is given).
    let list = pki.dir.join("list.revocations");
    certs::revoke(
        &pki.ca,
        &fc.cert_path(),
        &fc.chain,
        certs::unix_now(),
        &list,
    )
    .expect("revoke");
    a.add_revocations(certs::read_revocations(&list).expect("list"))
        .expect("handed to alice");
    // Alice passes it on to bob, who drops carol.
    let cid = c.uuid();
    expect(
        &b,
        "bob drops carol",
        |e| matches!(e, Event::Exit { peer, reason: ryre::ExitReason::Revoked, .. } if *peer == cid),
    );
    // Both kept it on disk.
    let deadline = Instant::now() + Duration::from_secs(10);
    while certs::read_revocations(&file_b)
        .map(|l| l.len())
        .unwrap_or(0)
        != 1
    {
        assert!(Instant::now() < deadline, "bob never wrote the revocation");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        certs::read_revocations(&file_a)
            .expect("alice's file")
            .len(),
        1
    );
    // A restarted bob reads it back and refuses carol at once.
    drop(b);
    let b2 = pki.node(&fb, Some(&file_b));
    link(&b2, &fb, &c, &fc);
    let seen = events_for(&b2, Duration::from_millis(800));
    assert!(
        !seen.iter().any(|e| peer_of(e) == Some(cid)),
        "restarted bob let carol in: {seen:?}"
    );
}
