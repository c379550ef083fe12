//! The certified-mode decoders on raw bytes: certificates, chains and revocation lists. Never
//! panics; what decodes re-encodes to the same bytes, and verification of whatever decoded
//! returns a verdict (no panic) against a fixed root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ryre_proto::security::cert::{decode_chain, encode_chain, verify_chain, Certificate};
use ryre_proto::security::revocation::{Revocation, RevocationSet};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Certificate::decode(data) {
        assert_eq!(c.as_bytes(), data);
        let _ = c.signature_valid();
        let _ = c.curve_key();
    }
    if let Ok(chain) = decode_chain(data) {
        assert_eq!(encode_chain(&chain), data);
        // The chain verifies against its own last certificate as root, or refuses: no panic.
        let roots: Vec<Certificate> = chain.last().cloned().into_iter().collect();
        let mut set = RevocationSet::new();
        if let Ok(list) = Revocation::decode_list(data) {
            for r in list {
                set.insert(r);
            }
        }
        let _ = verify_chain(&chain, &roots, u64::from(data.len() as u32), 60, &set);
        let _ = verify_chain(&chain, &roots, u64::MAX, u64::MAX, &());
    }
    if let Ok(list) = Revocation::decode_list(data) {
        let mut set = RevocationSet::new();
        for r in &list {
            set.insert(*r);
        }
        let _ = set.digest();
        assert_eq!(set.encode().len(), data.len() - (list.len() - set.len()) * 180);
    }
});
