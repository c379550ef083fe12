use super::*;
use proptest::prelude::*;

fn pair(n: u8) -> KeyPair {
    (0u8..=255)
        .find_map(|i| KeyPair::from_seed([n ^ i; 32]).ok())
        .expect("some seed is Zyre-safe")
}

fn id(n: u8) -> PeerId {
    PeerId::from_bytes([n; 16])
}

#[test]
fn signed_beacon_layout_and_verification() {
    let k = pair(1);
    let wire = k.signed_beacon(id(7), 0x1234, 42);
    assert_eq!(wire.len(), SIGNED_BEACON_LEN);
    assert_eq!(&wire[..4], b"RYB\x01");
    assert_eq!(&wire[4..20], &[7; 16]);
    assert_eq!(&wire[20..22], &[0x12, 0x34]);
    assert_eq!(&wire[22..30], &42u64.to_be_bytes());
    assert_eq!(&wire[30..62], &k.signing_public());
    let b = SignedBeacon::decode(&wire).unwrap();
    assert_eq!(b.key, k.public());
    assert_eq!((b.id, b.port, b.counter), (id(7), 0x1234, 42));
    // Any flipped bit before the signature, or in it, is caught.
    for i in 0..wire.len() {
        let mut bad = wire.clone();
        bad[i] ^= 0x10;
        assert!(
            SignedBeacon::decode(&bad).is_err(),
            "flip at byte {i} accepted"
        );
    }
}

#[test]
fn keys_from_the_same_seed_agree() {
    let a = pair(3);
    let b = KeyPair::from_seed(a.seed()).unwrap();
    assert_eq!(a.public(), b.public());
    assert_eq!(a.curve_secret(), b.curve_secret());
    assert!(a.public().zyre_safe());
    assert_eq!(
        PublicKey::from_z85(&a.public().to_z85()).unwrap(),
        a.public()
    );
    assert!(!format!("{a:?}").contains(&format!("{:?}", a.curve_secret())));
}

#[test]
fn zyre_unsafe_seeds_are_refused() {
    let refused = (0u16..2000)
        .map(|i| {
            let mut s = [0u8; 32];
            s[..2].copy_from_slice(&i.to_be_bytes());
            s
        })
        .filter(|s| matches!(KeyPair::from_seed(*s), Err(KeyError::ZyreUnsafe)))
        .count();
    // About one seed in 256 gives a key starting with 0.
    assert!(refused > 0, "no unsafe seed among 2000");
}

#[test]
fn a_binding_never_changes() {
    let (a, b) = (pair(1).public(), pair(2).public());
    let mut ring = Keyring::new(Trust::FirstUse);
    ring.admit(id(1), a).unwrap();
    assert_eq!(
        ring.admit(id(1), b),
        Err(Refusal::KeyMismatch { bound: a, got: b })
    );
    assert_eq!(ring.key(&id(1)), Some(a));
    // The same key may speak for another UUID (a restarted node keeps its key).
    ring.admit(id(2), a).unwrap();
}

#[test]
fn key_directory_trust_refuses_unknown_keys() {
    let (a, b) = (pair(1).public(), pair(2).public());
    let mut ring = Keyring::new(Trust::Keys([a].into()));
    ring.admit(id(1), a).unwrap();
    assert_eq!(ring.admit(id(2), b), Err(Refusal::Untrusted(b)));
    assert_eq!(ring.key(&id(2)), None);
}

#[test]
fn replayed_and_old_signed_beacons_are_refused() {
    let k = pair(1);
    let mut ring = Keyring::new(Trust::FirstUse);
    let b = |port, counter| SignedBeacon::decode(&k.signed_beacon(id(1), port, counter)).unwrap();
    ring.admit_signed(&b(5000, 10)).unwrap();
    assert!(ring.signs(&id(1)));
    assert_eq!(
        ring.admit_signed(&b(5000, 10)),
        Err(Refusal::Replayed { seen: 10, got: 10 })
    );
    assert_eq!(
        ring.admit_signed(&b(0, 9)),
        Err(Refusal::Replayed { seen: 10, got: 9 })
    );
    ring.admit_signed(&b(0, 11)).unwrap();
}

#[test]
fn process_nodes_cannot_be_claimed_over_the_network() {
    let a = pair(1).public();
    let mut ring = Keyring::new(Trust::FirstUse);
    ring.admit_process(id(1)).unwrap();
    assert_eq!(ring.admit(id(1), a), Err(Refusal::ProcessMismatch));
    ring.admit(id(2), a).unwrap();
    assert_eq!(ring.admit_process(id(2)), Err(Refusal::ProcessMismatch));
}

#[test]
fn the_keyring_is_bounded() {
    let a = pair(1).public();
    let mut ring = Keyring::new(Trust::FirstUse);
    let mut n = 0u32;
    loop {
        let mut raw = [0u8; 16];
        raw[..4].copy_from_slice(&n.to_be_bytes());
        match ring.admit(PeerId::from_bytes(raw), a) {
            Ok(()) => n += 1,
            Err(e) => {
                assert_eq!(e, Refusal::Full);
                break;
            }
        }
    }
    assert_eq!(n as usize, BINDINGS_MAX);
    ring.prune(|_| false);
    assert!(ring.is_empty());
}

proptest! {
    #[test]
    fn signed_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = SignedBeacon::decode(&data);
    }

    #[test]
    fn signed_decode_never_panics_at_length(mut data in proptest::collection::vec(any::<u8>(), SIGNED_BEACON_LEN)) {
        data[..4].copy_from_slice(b"RYB\x01");
        prop_assert!(SignedBeacon::decode(&data).is_err());
    }

    #[test]
    fn only_the_bound_key_passes(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let (a, b) = (PublicKey(a), PublicKey(b));
        let mut ring = Keyring::new(Trust::FirstUse);
        if ring.admit(id(1), a).is_ok() {
            prop_assert_eq!(ring.check(&id(1), &b).is_ok(), a == b);
        }
    }
}
