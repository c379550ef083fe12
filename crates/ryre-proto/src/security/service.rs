//! Signatures of a service's messages (log records, timer ticks) by the publishing node's own
//! identity key, as certified mode's services use them.
//!
//! A node's Ed25519 key also signs its beacons, its rendezvous registrations and, when it is a
//! CA, certificates and revocations. So that a service's signature can never be taken for one of
//! those (or one service's for another's), the signed bytes are framed:
//!
//! ```text
//! "RYRE-SERVICE-SIGNATURE/1" 0x00   the context (no other ryre signature starts like this)
//! len u8, domain                     the service: "ryre-log/1", "ryre-timer/1", ...
//! message                            the service's own bytes
//! ```
//!
//! ```
//! use ryre_proto::security::{service, KeyPair};
//!
//! let keys = (0u8..=255).find_map(|i| KeyPair::from_seed([i; 32]).ok()).expect("a seed");
//! let sig = service::sign(&keys, "ryre-log/1", b"a record");
//! assert!(service::verify(&keys.signing_public(), "ryre-log/1", b"a record", &sig));
//! assert!(!service::verify(&keys.signing_public(), "ryre-timer/1", b"a record", &sig));
//! assert!(!service::verify(&keys.signing_public(), "ryre-log/1", b"a recorD", &sig));
//! ```

use ed25519_dalek::{Signature, VerifyingKey};

use super::KeyPair;

/// The first bytes of every service signature's signed bytes.
pub const CONTEXT: &[u8] = b"RYRE-SERVICE-SIGNATURE/1\0";
/// An Ed25519 signature's length.
pub const SIGNATURE_LEN: usize = 64;

/// The bytes a service signature covers: [`CONTEXT`], the domain's length and the domain, then
/// `message`. A domain is cut to 255 bytes (services use short constant names).
pub fn signed_bytes(domain: &str, message: &[u8]) -> Vec<u8> {
    let domain = &domain.as_bytes()[..domain.len().min(255)];
    let mut out = Vec::with_capacity(CONTEXT.len() + 1 + domain.len() + message.len());
    out.extend_from_slice(CONTEXT);
    // At most 255: cut above.
    out.push(domain.len() as u8);
    out.extend_from_slice(domain);
    out.extend_from_slice(message);
    out
}

/// Signs `message` for service `domain` with `keys`.
pub fn sign(keys: &KeyPair, domain: &str, message: &[u8]) -> [u8; SIGNATURE_LEN] {
    keys.sign(&signed_bytes(domain, message))
}

/// Whether `signature` is `signer`'s (an Ed25519 public key, as a certificate's subject) over
/// `message` for service `domain`. Strict verification: no malleable or small-order forms.
pub fn verify(
    signer: &[u8; 32],
    domain: &str,
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(signer) else {
        return false;
    };
    key.verify_strict(
        &signed_bytes(domain, message),
        &Signature::from_bytes(signature),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pair(n: u8) -> KeyPair {
        (0u8..=255)
            .find_map(|i| KeyPair::from_seed([n ^ i; 32]).ok())
            .expect("some seed is Zyre-safe")
    }

    #[test]
    fn framing_keeps_domain_and_message_apart() {
        // "ab" + "c" and "a" + "bc" must not sign the same bytes.
        assert_ne!(signed_bytes("ab", b"c"), signed_bytes("a", b"bc"));
        assert!(signed_bytes("x", b"").starts_with(CONTEXT));
        assert_eq!(
            signed_bytes(&"d".repeat(300), b"m").len(),
            CONTEXT.len() + 1 + 255 + 1
        );
    }

    #[test]
    fn another_key_or_a_beacon_signature_does_not_verify() {
        let (a, b) = (pair(1), pair(2));
        let sig = sign(&a, "ryre-log/1", b"m");
        assert!(verify(&a.signing_public(), "ryre-log/1", b"m", &sig));
        assert!(!verify(&b.signing_public(), "ryre-log/1", b"m", &sig));
        // A plain signature over the same bytes (as beacons are signed) is not a service's.
        let plain = a.sign(b"m");
        assert!(!verify(&a.signing_public(), "ryre-log/1", b"m", &plain));
        assert!(!verify(&[0xFF; 32], "ryre-log/1", b"m", &sig));
    }

    proptest! {
        // Ed25519 in a debug build costs about a millisecond a case: few cases.
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_flipped_bit_fails(msg in proptest::collection::vec(any::<u8>(), 1..200), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let a = pair(3);
            let sig = sign(&a, "d", &msg);
            let mut m = msg.clone();
            let i = at.index(m.len());
            m[i] ^= 1 << bit;
            prop_assert!(!verify(&a.signing_public(), "d", &m, &sig));
            let mut s = sig;
            s[i % SIGNATURE_LEN] ^= 1 << bit;
            prop_assert!(!verify(&a.signing_public(), "d", &msg, &s));
        }
    }
}
