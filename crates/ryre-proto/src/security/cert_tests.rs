use super::cert::*;
use super::revocation::*;
use super::*;
use proptest::prelude::*;

fn pair(n: u8) -> KeyPair {
    (0u8..=255)
        .find_map(|i| KeyPair::from_seed([n ^ i; 32]).ok())
        .expect("some seed is Zyre-safe")
}

fn grants(list: &[&str]) -> Vec<Grant> {
    list.iter().map(|g| Grant::parse(g).unwrap()).collect()
}

const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn issue(
    issuer: &KeyPair,
    subject: &KeyPair,
    role: Role,
    name: &str,
    g: &[&str],
    window: (u64, u64),
    serial: u64,
) -> Certificate {
    Certificate::sign(
        CertBody {
            role,
            services: if role == Role::Ca {
                Services::ALL
            } else {
                Services::LOG
            },
            subject: subject.signing_public(),
            issuer: issuer.signing_public(),
            serial,
            not_before: window.0,
            not_after: window.1,
            name: name.to_string(),
            grants: grants(g),
        },
        |m| issuer.sign(m),
    )
    .unwrap()
}

fn root(k: &KeyPair) -> Certificate {
    issue(k, k, Role::Ca, "root", &["*=all"], (T0, T0 + 3650 * DAY), 1)
}

#[test]
fn a_node_certificate_round_trips_and_verifies() {
    let ca = pair(1);
    let node = pair(2);
    let r = root(&ca);
    let c = issue(
        &ca,
        &node,
        Role::Node,
        "alice",
        &["chat=join,shout", "logs/*=join"],
        (T0, T0 + 365 * DAY),
        7,
    );
    assert_eq!(&c.as_bytes()[..4], b"RYC\x01");
    let back = Certificate::decode(c.as_bytes()).unwrap();
    assert_eq!(back, c);
    assert!(back.signature_valid());
    let v = verify_chain(
        std::slice::from_ref(&c),
        std::slice::from_ref(&r),
        T0 + DAY,
        0,
        &(),
    )
    .unwrap();
    assert_eq!(v.name, "alice");
    assert_eq!(v.key, node.public());
    assert!(v.may("chat", Rights::JOIN | Rights::SHOUT));
    assert!(!v.may("chat", Rights::WHISPER));
    assert!(v.may("logs/node1", Rights::JOIN));
    assert!(!v.may("logs/node1", Rights::SHOUT));
    assert!(!v.may("other", Rights::JOIN));
    // The root may be presented too.
    verify_chain(&[c, r.clone()], &[r], T0 + DAY, 0, &()).unwrap();
}

#[test]
fn every_flipped_bit_is_refused() {
    let ca = pair(1);
    let r = root(&ca);
    let c = issue(
        &ca,
        &pair(2),
        Role::Node,
        "n",
        &["chat=join"],
        (T0, T0 + DAY),
        7,
    );
    for i in 0..c.as_bytes().len() {
        let mut bad = c.as_bytes().to_vec();
        bad[i] ^= 0x04;
        let verdict = Certificate::decode(&bad).map_err(|_| ()).and_then(|b| {
            verify_chain(&[b], std::slice::from_ref(&r), T0 + 10, 0, &()).map_err(|_| ())
        });
        assert!(verdict.is_err(), "flip at byte {i} accepted");
    }
}

#[test]
fn windows_are_checked_with_the_skew_allowance() {
    let ca = pair(1);
    let r = root(&ca);
    let c = issue(
        &ca,
        &pair(2),
        Role::Node,
        "n",
        &["chat=join"],
        (T0 + DAY, T0 + 2 * DAY),
        7,
    );
    assert!(matches!(
        verify_chain(std::slice::from_ref(&c), std::slice::from_ref(&r), T0, 60, &()),
        Err(CertError::NotYetValid { not_before, .. }) if not_before == T0 + DAY
    ));
    verify_chain(
        std::slice::from_ref(&c),
        std::slice::from_ref(&r),
        T0 + DAY - 60,
        60,
        &(),
    )
    .unwrap();
    verify_chain(
        std::slice::from_ref(&c),
        std::slice::from_ref(&r),
        T0 + 2 * DAY + 60,
        60,
        &(),
    )
    .unwrap();
    let err = verify_chain(&[c], &[r], T0 + 2 * DAY + 61, 60, &()).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }));
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn a_wrong_ca_a_node_issuer_and_a_ca_as_node_are_refused() {
    let ca = pair(1);
    let other = pair(3);
    let node = pair(2);
    let c = issue(
        &other,
        &node,
        Role::Node,
        "n",
        &["chat=join"],
        (T0, T0 + DAY),
        7,
    );
    assert_eq!(
        verify_chain(&[c], &[root(&ca)], T0, 0, &()),
        Err(CertError::UnknownIssuer)
    );
    // A node's certificate used as an issuer.
    let mid = issue(
        &ca,
        &other,
        Role::Node,
        "mid",
        &["*=all"],
        (T0, T0 + DAY),
        8,
    );
    let leaf = issue(
        &other,
        &node,
        Role::Node,
        "leaf",
        &["chat=join"],
        (T0, T0 + DAY),
        1,
    );
    assert!(matches!(
        verify_chain(&[leaf, mid], &[root(&ca)], T0, 0, &()),
        Err(CertError::NotACa(_))
    ));
    // A CA's certificate presented as a node's.
    let sub = issue(&ca, &other, Role::Ca, "sub", &["*=all"], (T0, T0 + DAY), 9);
    assert_eq!(
        verify_chain(&[sub], &[root(&ca)], T0, 0, &()),
        Err(CertError::NotANode)
    );
    // A root that is not self-signed is not a root.
    let fake_root = issue(&other, &ca, Role::Ca, "root", &["*=all"], (T0, T0 + DAY), 1);
    let c = issue(
        &ca,
        &node,
        Role::Node,
        "n",
        &["chat=join"],
        (T0, T0 + DAY),
        7,
    );
    assert_eq!(
        verify_chain(&[c], &[fake_root], T0, 0, &()),
        Err(CertError::BadRoot)
    );
}

#[test]
fn a_sub_ca_stays_within_its_parent() {
    let ca = pair(1);
    let sub = pair(3);
    let node = pair(2);
    let r = issue(
        &ca,
        &ca,
        Role::Ca,
        "root",
        &["site/*=all", "chat=join,shout"],
        (T0, T0 + 100 * DAY),
        1,
    );
    let s = issue(
        &ca,
        &sub,
        Role::Ca,
        "sub",
        &["site/a/*=all", "chat=join"],
        (T0, T0 + 50 * DAY),
        2,
    );
    let ok = issue(
        &sub,
        &node,
        Role::Node,
        "n",
        &["site/a/x=join,whisper"],
        (T0, T0 + 10 * DAY),
        1,
    );
    let v = verify_chain(&[ok, s.clone()], std::slice::from_ref(&r), T0, 0, &()).unwrap();
    assert!(v.may("site/a/x", Rights::WHISPER));
    assert_eq!(v.serials.len(), 2);
    // More rights than the sub-CA has.
    let wide = issue(
        &sub,
        &node,
        Role::Node,
        "n",
        &["chat=join,shout"],
        (T0, T0 + 10 * DAY),
        2,
    );
    assert!(matches!(
        verify_chain(&[wide, s.clone()], std::slice::from_ref(&r), T0, 0, &()),
        Err(CertError::WiderRights(_))
    ));
    // A group outside the sub-CA's patterns.
    let outside = issue(
        &sub,
        &node,
        Role::Node,
        "n",
        &["site/b=join"],
        (T0, T0 + 10 * DAY),
        3,
    );
    assert!(matches!(
        verify_chain(&[outside, s.clone()], std::slice::from_ref(&r), T0, 0, &()),
        Err(CertError::WiderRights(_))
    ));
    // A pattern wider than the parent's.
    let star = issue(
        &sub,
        &node,
        Role::Node,
        "n",
        &["site/*=join"],
        (T0, T0 + 10 * DAY),
        4,
    );
    assert!(matches!(
        verify_chain(&[star, s.clone()], std::slice::from_ref(&r), T0, 0, &()),
        Err(CertError::WiderRights(_))
    ));
    // Valid longer than the sub-CA.
    let long = issue(
        &sub,
        &node,
        Role::Node,
        "n",
        &["site/a/x=join"],
        (T0, T0 + 60 * DAY),
        5,
    );
    assert!(matches!(
        verify_chain(&[long, s.clone()], std::slice::from_ref(&r), T0, 0, &()),
        Err(CertError::WiderWindow(_))
    ));
    // A sub-CA that grants itself more than the root.
    let greedy = issue(
        &ca,
        &sub,
        Role::Ca,
        "sub",
        &["*=all"],
        (T0, T0 + 50 * DAY),
        3,
    );
    let n = issue(
        &sub,
        &node,
        Role::Node,
        "n",
        &["site/a/x=join"],
        (T0, T0 + 10 * DAY),
        6,
    );
    assert!(matches!(
        verify_chain(&[n, greedy], &[r], T0, 0, &()),
        Err(CertError::WiderRights(_))
    ));
}

#[test]
fn revocations_by_the_issuer_or_above_count_and_others_do_not() {
    let ca = pair(1);
    let sub = pair(3);
    let node = pair(2);
    let stranger = pair(4);
    let r = root(&ca);
    let s = issue(
        &ca,
        &sub,
        Role::Ca,
        "sub",
        &["*=all"],
        (T0, T0 + 50 * DAY),
        2,
    );
    let n = issue(
        &sub,
        &node,
        Role::Node,
        "n",
        &["chat=join"],
        (T0, T0 + 10 * DAY),
        9,
    );
    let chain = [n, s];
    let mut set = RevocationSet::new();
    // A stranger's revocation of the node's certificate does not count.
    let fake = Revocation::sign(
        sub.signing_public(),
        9,
        T0,
        stranger.signing_public(),
        |m| stranger.sign(m),
    );
    assert_eq!(Revocation::decode(fake.as_bytes()), Ok(fake));
    set.insert(fake);
    verify_chain(&chain, std::slice::from_ref(&r), T0, 0, &set).unwrap();
    // The sub-CA revokes it.
    let mut by_sub = set.clone();
    by_sub.insert(Revocation::sign(
        sub.signing_public(),
        9,
        T0,
        sub.signing_public(),
        |m| sub.sign(m),
    ));
    assert!(matches!(
        verify_chain(&chain, std::slice::from_ref(&r), T0, 0, &by_sub),
        Err(CertError::Revoked(n)) if n == "n"
    ));
    // The root revokes it (a CA above the issuer).
    let mut by_root = set.clone();
    by_root.insert(Revocation::sign(
        sub.signing_public(),
        9,
        T0,
        ca.signing_public(),
        |m| ca.sign(m),
    ));
    assert!(verify_chain(&chain, std::slice::from_ref(&r), T0, 0, &by_root).is_err());
    // The root revokes the sub-CA: everything it issued falls with it.
    let mut sub_gone = set.clone();
    sub_gone.insert(Revocation::sign(
        ca.signing_public(),
        2,
        T0,
        ca.signing_public(),
        |m| ca.sign(m),
    ));
    assert!(matches!(
        verify_chain(&chain, std::slice::from_ref(&r), T0, 0, &sub_gone),
        Err(CertError::Revoked(n)) if n == "sub"
    ));
    // The sub-CA cannot revoke its parent's other certificates.
    let mut upward = set;
    upward.insert(Revocation::sign(
        ca.signing_public(),
        2,
        T0,
        sub.signing_public(),
        |m| sub.sign(m),
    ));
    verify_chain(&chain, &[r], T0, 0, &upward).unwrap();
}

#[test]
fn revocation_sets_agree_by_digest_whatever_the_order() {
    let ca = pair(1);
    let list: Vec<Revocation> = (0..20)
        .map(|s| {
            Revocation::sign(ca.signing_public(), s, T0 + s, ca.signing_public(), |m| {
                ca.sign(m)
            })
        })
        .collect();
    let mut a = RevocationSet::new();
    let mut b = RevocationSet::new();
    for r in &list {
        assert_eq!(a.insert(*r), Inserted::New);
    }
    for r in list.iter().rev() {
        b.insert(*r);
    }
    assert_eq!(a.insert(list[3]), Inserted::Known);
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.len(), 20);
    let file = a.encode();
    assert_eq!(Revocation::decode_list(&file).unwrap().len(), 20);
    b.insert(Revocation::sign(
        ca.signing_public(),
        99,
        T0,
        ca.signing_public(),
        |m| ca.sign(m),
    ));
    assert_ne!(a.digest(), b.digest());
    a.add_authority(ca.signing_public());
    assert_eq!(a.latest_time(), T0 + 19);
    let mut bad = file.clone();
    bad[100] ^= 1;
    assert_eq!(Revocation::decode_list(&bad), Err(RevocationError::Forged));
}

#[test]
fn unknown_signers_are_bounded() {
    let k = pair(5);
    let mut set = RevocationSet::new();
    for s in 0..UNPROVEN_MAX as u64 {
        assert_eq!(
            set.insert(Revocation::sign([1; 32], s, 0, k.signing_public(), |m| k.sign(m))),
            Inserted::New
        );
    }
    let one_more = Revocation::sign([1; 32], u64::MAX, 0, k.signing_public(), |m| k.sign(m));
    assert_eq!(set.insert(one_more), Inserted::Full);
    // Once the signer is known to be a CA, its entries stop counting against the bound.
    set.add_authority(k.signing_public());
    assert_eq!(set.insert(one_more), Inserted::New);
}

#[test]
fn grant_patterns() {
    assert!(Grant::parse("chat").is_err());
    assert!(Grant::parse("c*at=join").is_err());
    assert!(Grant::parse("chat=read").is_err());
    assert!(Grant::parse("=join").is_err());
    let g = Grant::parse("a/*=join").unwrap();
    assert!(g.covers("a/b") && g.covers("a/") && !g.covers("b"));
    assert!(g.covers_pattern("a/b/*") && g.covers_pattern("a/x") && !g.covers_pattern("*"));
    let all = Grant::parse("*=all").unwrap();
    assert!(all.covers_pattern("*") && all.covers("anything"));
    assert_eq!(g.to_string(), "a/*=join");
    assert_eq!(
        Rights::parse("whisper,join").unwrap().to_string(),
        "join,whisper"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn certificate_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Certificate::decode(&data);
        let _ = decode_chain(&data);
        let _ = Revocation::decode_list(&data);
    }

    #[test]
    fn bodies_round_trip(
        name in "[a-z]{1,40}",
        pats in proptest::collection::vec(("[a-z/]{1,20}", any::<bool>(), 1u8..8), 0..10),
        nb in any::<u64>(),
        len in any::<u64>(),
        serial in any::<u64>(),
        ca in any::<bool>(),
    ) {
        let k = pair(9);
        let body = CertBody {
            role: if ca { Role::Ca } else { Role::Node },
            services: Services::TIMER,
            subject: pair(8).signing_public(),
            issuer: k.signing_public(),
            serial,
            not_before: nb,
            not_after: nb.saturating_add(len),
            name,
            grants: pats.into_iter().map(|(p, star, r)| Grant {
                pattern: if star { format!("{p}*") } else { p },
                rights: Rights::from_bits(r).unwrap(),
            }).collect(),
        };
        let c = Certificate::sign(body.clone(), |m| k.sign(m)).unwrap();
        let back = Certificate::decode(c.as_bytes()).unwrap();
        prop_assert_eq!(back.body(), &body);
        prop_assert!(back.signature_valid());
        let two = encode_chain(&[c.clone(), c.clone()]);
        prop_assert_eq!(decode_chain(&two).unwrap().len(), 2);
        // Every truncation is refused.
        let cut = c.as_bytes().len() / 2;
        prop_assert!(Certificate::decode(&c.as_bytes()[..cut]).is_err());
    }
}

mod certified {
    use super::super::certified::*;
    use super::*;
    use crate::PeerId;
    use base64::Engine as _;

    fn header(chain: &[Certificate]) -> String {
        base64::engine::general_purpose::STANDARD.encode(encode_chain(chain))
    }

    struct Mesh {
        ca: KeyPair,
        root: Certificate,
    }

    impl Mesh {
        fn new() -> Mesh {
            let ca = pair(1);
            let root = root(&ca);
            Mesh { ca, root }
        }

        fn node(&self, k: &KeyPair, g: &[&str], serial: u64) -> Certificate {
            issue(
                &self.ca,
                k,
                Role::Node,
                &format!("n{serial}"),
                g,
                (T0, T0 + 10 * DAY),
                serial,
            )
        }

        fn state(&self, k: &KeyPair, g: &[&str], wall: u64) -> Certified {
            Certified::new(
                CertifiedConfig {
                    chain: vec![self.node(k, g, 100)],
                    roots: vec![self.root.clone()],
                    skew: 60,
                },
                RevocationSet::new(),
                wall,
                0,
            )
            .unwrap()
        }
    }

    #[test]
    fn peers_are_admitted_by_a_chain_for_their_link_key() {
        let m = Mesh::new();
        let me = pair(2);
        let peer = pair(3);
        let mut s = m.state(&me, &["chat=join,shout,whisper"], T0 + 5);
        let id = PeerId::from_bytes([9; 16]);
        let h = header(&[m.node(&peer, &["chat=join"], 7)]);
        // A node of this process (no link key): the chain must still verify.
        assert!(s.admit(id, None, Some(&h), T0).is_ok());
        assert!(s.admit(id, None, Some("AAAA"), T0).is_err());
        assert_eq!(
            s.admit(id, Some(peer.public()), None, T0).unwrap_err(),
            CertRefusal::Missing
        );
        assert!(matches!(
            s.admit(id, Some(pair(4).public()), Some(&h), T0),
            Err(CertRefusal::WrongKey { .. })
        ));
        assert!(matches!(
            s.admit(id, Some(peer.public()), Some("!!"), T0),
            Err(CertRefusal::Malformed(_))
        ));
        let p = s.admit(id, Some(peer.public()), Some(&h), T0 + 5).unwrap();
        assert!(!p.whisper_in, "the peer has no whisper right");
        assert!(p.whisper_out, "we may whisper to a peer that may join chat");
        assert!(s.peer_may(&id, "chat", Rights::JOIN));
        assert!(!s.peer_may(&id, "chat", Rights::SHOUT));
        assert!(s.own_may("chat", Rights::SHOUT));
        s.forget(&id);
        assert!(!s.peer_may(&id, "chat", Rights::JOIN));
    }

    #[test]
    fn whisper_needs_a_group_both_cover() {
        let g = |l: &[&str]| grants(l);
        assert!(may_whisper(&g(&["a=whisper"]), &g(&["a=join"])));
        assert!(!may_whisper(&g(&["a=whisper"]), &g(&["b=join"])));
        assert!(!may_whisper(&g(&["a=join,shout"]), &g(&["a=join"])));
        assert!(may_whisper(&g(&["x/*=whisper"]), &g(&["x/y=join"])));
        assert!(may_whisper(&g(&["x/y=whisper"]), &g(&["x/*=join"])));
        assert!(may_whisper(&g(&["x/*=whisper"]), &g(&["x/y/*=join"])));
        assert!(!may_whisper(&g(&["x/*=whisper"]), &g(&["y/*=join"])));
        assert!(!may_whisper(&g(&["a=whisper"]), &g(&["a=shout"])));
    }

    #[test]
    fn a_device_without_a_clock_uses_the_highest_proven_time() {
        let m = Mesh::new();
        // Wall clock at 0 (a device that booted without a real-time clock): the own
        // certificate proves T0 has passed.
        let mut s = m.state(&pair(2), &["chat=join"], T0 + 5);
        let mut s0 = Certified::new(
            CertifiedConfig {
                chain: vec![m.node(&pair(2), &["chat=join"], 100)],
                roots: vec![m.root.clone()],
                skew: 60,
            },
            RevocationSet::new(),
            0,
            T0,
        )
        .unwrap();
        assert_eq!(s0.now(0), T0);
        let peer = pair(3);
        let id = PeerId::from_bytes([9; 16]);
        let h = header(&[m.node(&peer, &["chat=join"], 7)]);
        s0.admit(id, Some(peer.public()), Some(&h), 0).unwrap();
        // Expiry: 10 days on, the peer's certificate has run out.
        s.admit(id, Some(peer.public()), Some(&h), T0 + 5).unwrap();
        assert!(s.expired(T0 + 5).is_empty());
        let gone = s.expired(T0 + 11 * DAY);
        assert_eq!(gone.len(), 1);
        assert!(matches!(gone[0].1, CertError::Expired { .. }));
        // A certificate that is not valid yet is refused with its reason.
        let later = issue(
            &m.ca,
            &peer,
            Role::Node,
            "later",
            &["chat=join"],
            (T0 + DAY, T0 + 2 * DAY),
            8,
        );
        assert!(matches!(
            s.admit(id, Some(peer.public()), Some(&header(&[later])), T0 + 5),
            Err(CertRefusal::Invalid(CertError::NotYetValid { .. }))
        ));
    }

    #[test]
    fn revocations_drop_the_peers_they_name_and_digests_track_sets() {
        let m = Mesh::new();
        let mut a = m.state(&pair(2), &["chat=join"], T0 + 5);
        let mut b = m.state(&pair(5), &["chat=join"], T0 + 5);
        assert!(!a.revocations_differ(Some(b.revocations_header())));
        let peer = pair(3);
        let other = pair(6);
        let (id, id2) = (PeerId::from_bytes([9; 16]), PeerId::from_bytes([8; 16]));
        a.admit(
            id,
            Some(peer.public()),
            Some(&header(&[m.node(&peer, &["chat=join"], 7)])),
            T0,
        )
        .unwrap();
        a.admit(
            id2,
            Some(other.public()),
            Some(&header(&[m.node(&other, &["chat=join"], 11)])),
            T0,
        )
        .unwrap();
        let ca_key = m.ca.signing_public();
        let r = Revocation::sign(ca_key, 7, T0 + 100, ca_key, |x| m.ca.sign(x));
        let stranger = pair(4);
        let fake = Revocation::sign(ca_key, 11, T0 + 100, stranger.signing_public(), |x| {
            stranger.sign(x)
        });
        let (new, dropped) = a.add_revocations([r, fake], T0 + 5);
        assert_eq!(new.len(), 2);
        assert_eq!(dropped, vec![id], "only the CA's revocation counts");
        assert!(a.revocations_differ(Some(b.revocations_header())));
        let frames = a.revocation_messages();
        assert_eq!(frames.len(), 1);
        let list = Certified::decode_revocations(&frames[0]).unwrap();
        let (new, _) = b.add_revocations(list, T0 + 5);
        assert_eq!(new.len(), 2);
        assert!(!a.revocations_differ(Some(b.revocations_header())));
        let (again, _) = b.add_revocations([r], T0 + 5);
        assert!(
            again.is_empty(),
            "known revocations are not passed on again"
        );
        // A revoked peer cannot come back.
        assert!(matches!(
            a.admit(
                id,
                Some(peer.public()),
                Some(&header(&[m.node(&peer, &["chat=join"], 7)])),
                T0
            ),
            Err(CertRefusal::Invalid(CertError::Revoked(_)))
        ));
    }
}
