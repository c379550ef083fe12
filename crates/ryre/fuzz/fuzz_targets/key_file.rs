//! The key file readers on raw bytes: the ZPL reader, `parse_public` and `parse_secret` never
//! panic; whatever ZPL parses can be looked up by its top-level names; a public key file that
//! reads has a key Zyre accepts; a key pair that reads is the one its text names (its Z85
//! public key is in the file).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ryre::keys::{parse_public, parse_secret, zpl::Zpl};

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = Zpl::parse_bytes(data) {
        for p in &doc.properties {
            if !p.name.contains('/') {
                assert!(
                    doc.get(&p.name).is_some(),
                    "{:?} parsed but not found",
                    p.name
                );
            }
        }
    }
    let path = Path::new("fuzz.key");
    if let Ok((key, _name)) = parse_public(path, data) {
        assert!(key.zyre_safe(), "a key starting with 0 was accepted");
    }
    if let Ok((keys, _name)) = parse_secret(path, data) {
        let text = String::from_utf8_lossy(data);
        assert!(
            text.contains(&keys.public().to_z85()),
            "a key pair that its file does not name"
        );
    }
});
