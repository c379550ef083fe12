//! Secure mode rules: keys bound to UUIDs, v3 and signed beacons, authenticated messages.

use super::*;
use crate::security::{KeyPair, Trust, PUBLIC_KEY_HEADER};
use std::net::Ipv4Addr;

fn pid(n: u8) -> PeerId {
    PeerId::from_bytes([n; 16])
}

fn keys(n: u8) -> KeyPair {
    (0u8..=255)
        .find_map(|i| KeyPair::from_seed([n.wrapping_mul(31) ^ i; 32]).ok())
        .expect("a Zyre-safe seed")
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

const PORT: u16 = 49152;

struct Secure {
    n: u8,
    keys: KeyPair,
    heart: NodeState,
    counter: u64,
}

impl Secure {
    fn new(n: u8, trust: Trust) -> Secure {
        let keys = keys(n);
        let mut c = Config::new(
            pid(n),
            format!("node-{n}"),
            format!("tcp://10.0.0.{n}:{PORT}"),
        );
        c.security = Some(Security {
            key: keys.public(),
            trust,
        });
        Secure {
            n,
            heart: NodeState::new(c),
            keys,
            counter: 0,
        }
    }

    fn v3_beacon(&self, port: u16) -> Bytes {
        Bytes::from(
            Beacon {
                id: pid(self.n),
                port,
                public_key: Some(*self.keys.public().as_bytes()),
            }
            .encode(),
        )
    }

    fn signed_beacon(&mut self, port: u16) -> Bytes {
        self.counter += 1;
        Bytes::from(self.keys.signed_beacon(pid(self.n), port, self.counter))
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.heart.poll_event()).collect()
    }
}

fn hear(to: &mut Secure, from: u8, data: Bytes, now: Instant) -> Result<(), Problem> {
    to.heart.handle(
        now,
        Input::Beacon {
            from: ip(from),
            data,
        },
    )
}

/// Delivers everything `a` wants sent to `b` as authenticated by `auth`; returns the results.
fn deliver(a: &mut Secure, b: &mut Secure, auth: Auth, now: Instant) -> Vec<Result<(), Problem>> {
    let mut out = Vec::new();
    let mut keep = VecDeque::new();
    while let Some(t) = a.heart.poll_transmit() {
        match t {
            Transmit::Send { peer, frames } if peer == pid(b.n) => {
                let wire = frames.to_vec();
                let mut parts = wire.into_iter();
                let head = parts.next().unwrap_or_default();
                out.push(b.heart.handle_message_auth(
                    now,
                    auth,
                    &pid(a.n).routing_id(),
                    &head,
                    parts.collect(),
                ));
            }
            other => keep.push_back(other),
        }
    }
    a.heart.transmits = keep;
    out
}

fn connects(s: &mut Secure) -> Vec<PeerId> {
    s.heart
        .transmits
        .iter()
        .filter_map(|t| match t {
            Transmit::Connect { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect()
}

/// A and B meet through v3 beacons and CURVE-authenticated links.
fn meet(a: &mut Secure, b: &mut Secure, now: Instant) {
    hear(a, b.n, b.v3_beacon(PORT), now).unwrap();
    hear(b, a.n, a.v3_beacon(PORT), now).unwrap();
    let (ka, kb) = (Auth::Key(a.keys.public()), Auth::Key(b.keys.public()));
    for _ in 0..3 {
        for r in deliver(a, b, ka, now) {
            r.unwrap();
        }
        for r in deliver(b, a, kb, now) {
            r.unwrap();
        }
    }
    assert!(a.heart.peer(&pid(b.n)).is_some());
    assert!(b.heart.peer(&pid(a.n)).is_some());
}

/// Nodes 1 and 2, each trusting any key on first use.
fn first_use_pair() -> (Secure, Secure) {
    (
        Secure::new(1, Trust::FirstUse),
        Secure::new(2, Trust::FirstUse),
    )
}

#[test]
fn secure_nodes_meet_through_v3_beacons_and_bind_keys() {
    let now = Instant::now();
    let (mut a, mut b) = first_use_pair();
    hear(&mut a, 2, b.v3_beacon(PORT), now).unwrap();
    assert_eq!(connects(&mut a), vec![pid(2)]);
    assert_eq!(a.heart.peer_key(&pid(2)), Some(b.keys.public()));
    // HELLO carries X-PUBLICKEY, the Z85 of our key.
    let hello = a.heart.transmits.iter().find_map(|t| match t {
        Transmit::Send { frames, .. } => Message::decode(&frames.to_vec()).ok(),
        _ => None,
    });
    let Some(crate::msg::Envelope {
        message: Message::Hello(h),
        ..
    }) = hello
    else {
        panic!("no HELLO");
    };
    assert_eq!(
        h.headers.get(PUBLIC_KEY_HEADER),
        Some(&a.keys.public().to_z85())
    );
    meet(&mut a, &mut b, now);
    assert!(a
        .events()
        .iter()
        .any(|e| matches!(e, Event::Enter { peer, .. } if *peer == pid(2))));
    assert_eq!(a.heart.stats().refused, 0);
}

#[test]
fn plain_beacons_and_plain_links_are_refused_in_secure_mode() {
    let now = Instant::now();
    let mut a = Secure::new(1, Trust::FirstUse);
    let v1 = Bytes::from(Beacon::new(pid(9), PORT).encode());
    assert!(matches!(
        hear(&mut a, 9, v1, now),
        Err(Problem::RefusedBeacon {
            reason: Refusal::Downgrade,
            ..
        })
    ));
    assert!(connects(&mut a).is_empty());
    // A plain peer's HELLO over an unauthenticated link.
    let mut plain = NodeState::new(Config::new(pid(9), "plain", "tcp://10.0.0.9:1"));
    plain
        .handle(
            now,
            Input::Discovered {
                id: pid(1),
                endpoint: "tcp://10.0.0.1:1".into(),
            },
        )
        .unwrap();
    let mut refused = 0;
    while let Some(t) = plain.poll_transmit() {
        if let Transmit::Send { frames, .. } = t {
            let wire = frames.to_vec();
            let r = a.heart.handle_message_auth(
                now,
                Auth::Plain,
                &pid(9).routing_id(),
                &wire[0],
                wire[1..].iter().cloned().collect(),
            );
            assert!(matches!(
                r,
                Err(Problem::Refused {
                    reason: Refusal::Downgrade,
                    ..
                })
            ));
            refused += 1;
        }
    }
    assert_eq!(refused, 1);
    assert!(a.heart.peer(&pid(9)).is_none());
    assert_eq!(a.heart.stats().refused, 2);
}

#[test]
fn a_peer_claiming_another_uuid_with_its_own_key_is_refused() {
    let now = Instant::now();
    let (mut a, mut b) = first_use_pair();
    meet(&mut a, &mut b, now);
    a.events();
    let mallory = keys(66);
    // Mallory sends as B (B's routing id) over a link authenticated with her own key.
    b.heart
        .handle(
            now,
            Input::Command(Command::Whisper {
                peer: pid(1),
                content: [Bytes::from_static(b"forged")].into_iter().collect(),
            }),
        )
        .unwrap();
    let r = deliver(&mut b, &mut a, Auth::Key(mallory.public()), now);
    assert!(matches!(
        r.as_slice(),
        [Err(Problem::Refused {
            reason: Refusal::KeyMismatch { .. },
            ..
        })]
    ));
    // Nothing from the forger is delivered; A greets B anew (libzmq gave B's routing id to the
    // forger's connection, so B must reconnect to take it back).
    let evs = a.events();
    assert!(
        !evs.iter().any(|e| matches!(e, Event::Whisper { .. })),
        "{evs:?}"
    );
    assert!(evs.iter().any(|e| matches!(
        e,
        Event::Exit {
            reason: ExitReason::Rehello,
            ..
        }
    )));
    // A beacon announcing Mallory's key for B's UUID does not replace B's key.
    let forged = Bytes::from(
        Beacon {
            id: pid(2),
            port: PORT,
            public_key: Some(*mallory.public().as_bytes()),
        }
        .encode(),
    );
    assert!(hear(&mut a, 66, forged, now).is_err());
    assert_eq!(a.heart.peer_key(&pid(2)), Some(b.keys.public()));
    // The fresh HELLO brings B back, and B's own traffic goes on.
    let (ka, kb) = (Auth::Key(a.keys.public()), Auth::Key(b.keys.public()));
    for _ in 0..3 {
        for r in deliver(&mut a, &mut b, ka, now) {
            r.unwrap();
        }
        for r in deliver(&mut b, &mut a, kb, now) {
            r.unwrap();
        }
    }
    assert!(a.heart.peer(&pid(2)).is_some());
    b.heart
        .handle(
            now,
            Input::Command(Command::Whisper {
                peer: pid(1),
                content: [Bytes::from_static(b"real")].into_iter().collect(),
            }),
        )
        .unwrap();
    for r in deliver(&mut b, &mut a, kb, now) {
        r.unwrap();
    }
    assert!(a
        .events()
        .iter()
        .any(|e| matches!(e, Event::Whisper { peer, .. } if *peer == pid(2))));
    assert_eq!(a.heart.stats().refused, 2);
}

#[test]
fn hello_with_another_key_in_x_publickey_is_refused() {
    let now = Instant::now();
    let (mut a, mut b) = first_use_pair();
    // B says HELLO to A first (A has heard no beacon), over a link authenticated as Mallory,
    // while its header says B's key.
    hear(&mut b, 1, a.v3_beacon(PORT), now).unwrap();
    let r = deliver(&mut b, &mut a, Auth::Key(keys(66).public()), now);
    assert!(matches!(
        r.as_slice(),
        [Err(Problem::Refused {
            reason: Refusal::HeaderMismatch { .. },
            ..
        })]
    ));
    assert!(a.heart.peer(&pid(2)).is_none());
    assert_eq!(a.heart.peer_key(&pid(2)), None, "nothing bound");
}

#[test]
fn signed_beacons_forged_replayed_and_unsigned_leaving_are_refused() {
    let now = Instant::now();
    let (mut a, mut b) = first_use_pair();
    let first = b.signed_beacon(PORT);
    hear(&mut a, 2, first.clone(), now).unwrap();
    hear(&mut b, 1, a.signed_beacon(PORT), now).unwrap();
    let (ka, kb) = (Auth::Key(a.keys.public()), Auth::Key(b.keys.public()));
    for _ in 0..3 {
        deliver(&mut a, &mut b, ka, now);
        deliver(&mut b, &mut a, kb, now);
    }
    assert!(a.heart.peer(&pid(2)).is_some());
    // Replayed: the same beacon again.
    assert!(matches!(
        hear(&mut a, 2, first, now),
        Err(Problem::RefusedBeacon {
            reason: Refusal::Replayed { .. },
            ..
        })
    ));
    // Forged: a leaving beacon with a flipped signature bit.
    let mut forged = b.signed_beacon(0).to_vec();
    forged[100] ^= 1;
    assert!(matches!(
        hear(&mut a, 2, Bytes::from(forged), now),
        Err(Problem::RefusedBeacon {
            reason: Refusal::Forged,
            ..
        })
    ));
    // Unsigned (v3) leaving beacon for a peer that signs.
    assert!(matches!(
        hear(&mut a, 2, b.v3_beacon(0), now),
        Err(Problem::RefusedBeacon {
            reason: Refusal::UnsignedLeaving,
            ..
        })
    ));
    // A leaving beacon signed by another key for B's UUID.
    let mallory = keys(66);
    let theirs = Bytes::from(mallory.signed_beacon(pid(2), 0, u64::MAX));
    assert!(matches!(
        hear(&mut a, 66, theirs, now),
        Err(Problem::RefusedBeacon {
            reason: Refusal::KeyMismatch { .. },
            ..
        })
    ));
    assert!(a.heart.peer(&pid(2)).is_some(), "B is still there");
    assert_eq!(a.heart.stats().refused, 4);
    a.events();
    // B's own signed leaving beacon is obeyed.
    let bye = b.signed_beacon(0);
    hear(&mut a, 2, bye, now).unwrap();
    assert!(a.heart.peer(&pid(2)).is_none());
    assert!(a.events().iter().any(
        |e| matches!(e, Event::Exit { peer, reason: ExitReason::Leaving, .. } if *peer == pid(2))
    ));
}

#[test]
fn a_key_directory_admits_only_its_keys() {
    let now = Instant::now();
    let b = Secure::new(2, Trust::FirstUse);
    let c = Secure::new(3, Trust::FirstUse);
    let mut a = Secure::new(1, Trust::Keys([b.keys.public()].into()));
    hear(&mut a, 2, b.v3_beacon(PORT), now).unwrap();
    assert!(matches!(
        hear(&mut a, 3, c.v3_beacon(PORT), now),
        Err(Problem::RefusedBeacon {
            reason: Refusal::Untrusted(_),
            ..
        })
    ));
    assert_eq!(connects(&mut a), vec![pid(2)]);
}

#[test]
fn open_nodes_ignore_signed_beacons_and_send_no_key_header() {
    let now = Instant::now();
    let mut open = NodeState::new(Config::new(pid(1), "open", "tcp://10.0.0.1:1"));
    let mut b = Secure::new(2, Trust::FirstUse);
    open.handle(
        now,
        Input::Beacon {
            from: ip(2),
            data: b.signed_beacon(PORT),
        },
    )
    .unwrap();
    assert!(open.poll_transmit().is_none());
    open.handle(
        now,
        Input::Discovered {
            id: pid(3),
            endpoint: "tcp://10.0.0.3:1".into(),
        },
    )
    .unwrap();
    let hello = std::iter::from_fn(|| open.poll_transmit()).find_map(|t| match t {
        Transmit::Send { frames, .. } => Message::decode(&frames.to_vec()).ok(),
        _ => None,
    });
    let Some(crate::msg::Envelope {
        message: Message::Hello(h),
        ..
    }) = hello
    else {
        panic!("no HELLO");
    };
    assert!(!h.headers.contains_key(PUBLIC_KEY_HEADER));
}

#[test]
fn process_peers_are_trusted_only_over_memory_links() {
    let now = Instant::now();
    let mut a = Secure::new(1, Trust::FirstUse);
    a.heart
        .handle(
            now,
            Input::Local {
                id: pid(5),
                endpoint: "tcp://127.0.0.1:5".into(),
            },
        )
        .unwrap();
    let r = a.heart.handle_message_auth(
        now,
        Auth::Key(keys(66).public()),
        &pid(5).routing_id(),
        &Message::Ping.encode(1).unwrap()[0],
        Content::new(),
    );
    assert!(matches!(
        r,
        Err(Problem::Refused {
            reason: Refusal::ProcessMismatch,
            ..
        })
    ));
}

#[test]
fn secure_announcements_need_a_key() {
    let now = Instant::now();
    let mut a = Secure::new(1, Trust::FirstUse);
    let r = a.heart.handle(
        now,
        Input::Discovered {
            id: pid(2),
            endpoint: "tcp://10.0.0.2:1".into(),
        },
    );
    assert!(matches!(
        r,
        Err(Problem::Refused {
            reason: Refusal::NoKey,
            ..
        })
    ));
    let b = Secure::new(2, Trust::FirstUse);
    a.heart
        .handle(
            now,
            Input::DiscoveredKey {
                id: pid(2),
                endpoint: "tcp://10.0.0.2:1".into(),
                key: b.keys.public(),
            },
        )
        .unwrap();
    assert_eq!(connects(&mut a), vec![pid(2)]);
}

/// A and B meet through signed beacons; returns B's first beacon.
fn meet_signed(a: &mut Secure, b: &mut Secure, now: Instant) -> Bytes {
    let first = b.signed_beacon(PORT);
    hear(a, b.n, first.clone(), now).unwrap();
    hear(b, a.n, a.signed_beacon(PORT), now).unwrap();
    let (ka, kb) = (Auth::Key(a.keys.public()), Auth::Key(b.keys.public()));
    for _ in 0..3 {
        deliver(a, b, ka, now);
        deliver(b, a, kb, now);
    }
    assert!(a.heart.peer(&pid(b.n)).is_some());
    first
}

#[test]
fn a_live_peers_beacons_are_deferred_and_still_count_against_replays() {
    let now = Instant::now();
    let (mut a, mut b) = first_use_pair();
    meet_signed(&mut a, &mut b, now);
    // B's periodic beacons while it is a peer: taken without a signature check.
    let later: Vec<Bytes> = (0..4).map(|_| b.signed_beacon(PORT)).collect();
    for l in &later {
        hear(&mut a, 2, l.clone(), now).unwrap();
    }
    assert_eq!(a.heart.stats().beacons_deferred, 4);
    // Another key's beacon for B's UUID is verified (and refused), never deferred.
    let mallory = keys(66);
    let theirs = Bytes::from(mallory.signed_beacon(pid(2), PORT, u64::MAX));
    assert!(matches!(
        hear(&mut a, 66, theirs, now),
        Err(Problem::RefusedBeacon {
            reason: Refusal::KeyMismatch { .. },
            ..
        })
    ));
    assert_eq!(a.heart.stats().beacons_deferred, 4);
    // B is lost; a replay of one of the deferred beacons must not bring it back: the last
    // deferred one (counter 5) was verified when B stopped being a peer.
    a.heart.handle(now, Input::Lost { id: pid(2) }).unwrap();
    assert!(a.heart.peer(&pid(2)).is_none());
    a.heart.transmits.clear();
    let late = now + Duration::from_secs(60);
    assert!(
        matches!(
            hear(&mut a, 2, later[2].clone(), late),
            Err(Problem::RefusedBeacon {
                reason: Refusal::Replayed { seen: 5, got: 4 },
                ..
            })
        ),
        "a replayed beacon of a lost peer is refused"
    );
    assert!(a.heart.peer(&pid(2)).is_none());
    assert!(connects(&mut a).is_empty());
    // B's next genuine beacon brings it back.
    let next = b.signed_beacon(PORT);
    hear(&mut a, 2, next, late).unwrap();
    assert_eq!(connects(&mut a), vec![pid(2)]);
}

#[test]
fn a_forged_deferred_beacon_changes_nothing_and_is_refused_when_checked() {
    let now = Instant::now();
    let (mut a, mut b) = first_use_pair();
    meet_signed(&mut a, &mut b, now);
    let refused = a.heart.stats().refused;
    // B's key and UUID, a newer counter, another port, a bad signature: deferred, no effect.
    let mut forged = b.keys.signed_beacon(pid(2), PORT + 1, 1000).to_vec();
    forged[100] ^= 1;
    a.heart.transmits.clear();
    hear(&mut a, 2, Bytes::from(forged), now).unwrap();
    assert_eq!(a.heart.stats().beacons_deferred, 1);
    assert!(
        connects(&mut a).is_empty(),
        "no new link for a deferred beacon"
    );
    assert_eq!(a.heart.stats().refused, refused);
    // When B stops being a peer the forgery is found and counted; B's genuine counter stands.
    a.heart.handle(now, Input::Lost { id: pid(2) }).unwrap();
    assert_eq!(a.heart.stats().refused, refused + 1);
    let late = now + Duration::from_secs(60);
    a.heart.transmits.clear();
    hear(&mut a, 2, b.signed_beacon(PORT), late).unwrap();
    assert_eq!(
        connects(&mut a),
        vec![pid(2)],
        "B's genuine counter 2 beats the verified 1"
    );
}
