//! The secure-mode decoders on raw bytes: signed beacons, Z85 keys, and a secure heart fed
//! the bytes as a beacon and as an authenticated message. Never panics; what decodes re-encodes.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use ryre_proto::security::{z85, Auth, KeyPair, PublicKey, Security, SignedBeacon, Trust};
use ryre_proto::{Config, Input, NodeState, PeerId};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = SignedBeacon::decode(data) {
        // Only a real signature gets here: the key must be the signer's Montgomery form.
        assert!(b.id.as_bytes().len() == 16);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(raw) = z85::decode(text) {
            assert_eq!(z85::encode(&raw).as_deref(), Some(text));
        }
        let _ = PublicKey::from_z85(text);
    }
    let keys = (0u8..=255).find_map(|i| KeyPair::from_seed([i; 32]).ok());
    let Some(keys) = keys else { return };
    let mut c = Config::new(PeerId::from_bytes([1; 16]), "f", "tcp://127.0.0.1:1");
    c.security = Some(Security {
        key: keys.public(),
        trust: Trust::FirstUse,
    });
    let mut heart = NodeState::new(c);
    let now = Instant::now();
    let _ = heart.handle(
        now,
        Input::Beacon {
            from: std::net::IpAddr::from([10, 0, 0, 2]),
            data: bytes::Bytes::copy_from_slice(data),
        },
    );
    let routing = PeerId::from_bytes([2; 16]).routing_id();
    let key = PublicKey([data.first().copied().unwrap_or(7) | 1; 32]);
    let _ = heart.handle_message_auth(now, Auth::Key(key), &routing, data, Default::default());
    let _ = heart.handle_message_auth(now, Auth::Plain, &routing, data, Default::default());
});
