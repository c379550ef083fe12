//! Revocations of certified mode: a CA (or one above it) signs that a certificate it issued is
//! no longer valid; nodes keep the revocations they know in a [`RevocationSet`], compare sets by
//! digest and exchange the entries on a mismatch.
//!
//! Encoding (big-endian):
//!
//! ```text
//! "RYV" | version 1 | issuer Ed25519 key (32) | serial (8) | revoked_at (8, unix s)
//!       | signer Ed25519 key (32) | Ed25519 signature of everything before it by the signer (64)
//! ```
//!
//! A revocation names (issuer, serial): the certificate that `issuer` issued with that serial.
//! It counts when its signer is the issuer or a CA above it in the revoked certificate's chain
//! ([`RevocationSet::revoked`] is given the chain). A signature alone proves nothing about who
//! the signer is, so the set keeps entries whose signer is a trusted root or a CA the node has
//! seen in a verified chain, plus a bounded number of others (a node may learn a revocation
//! before it meets the sub-CA that signed it).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::cert::Revoked;
use super::verify;

/// The first bytes of every revocation.
pub const REVOCATION_MAGIC: [u8; 3] = *b"RYV";
/// The encoding version.
pub const REVOCATION_VERSION: u8 = 1;
/// The encoded length of a revocation.
pub const REVOCATION_LEN: usize = 3 + 1 + 32 + 8 + 8 + 32 + 64;
/// Most revocations a set holds from signers it does not know to be CAs.
pub const UNPROVEN_MAX: usize = 1024;
/// Most revocations a set holds in all.
pub const REVOCATIONS_MAX: usize = 65_536;

/// A signed revocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Revocation {
    encoded: [u8; REVOCATION_LEN],
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Revocation(serial {} at {})",
            self.serial(),
            self.revoked_at()
        )
    }
}

impl Revocation {
    /// Signs a revocation of (`issuer`, `serial`) at `revoked_at` by `signer` (its Ed25519 key)
    /// with `sign`.
    pub fn sign(
        issuer: [u8; 32],
        serial: u64,
        revoked_at: u64,
        signer: [u8; 32],
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Revocation {
        let mut encoded = [0u8; REVOCATION_LEN];
        encoded[..3].copy_from_slice(&REVOCATION_MAGIC);
        encoded[3] = REVOCATION_VERSION;
        encoded[4..36].copy_from_slice(&issuer);
        encoded[36..44].copy_from_slice(&serial.to_be_bytes());
        encoded[44..52].copy_from_slice(&revoked_at.to_be_bytes());
        encoded[52..84].copy_from_slice(&signer);
        let signature = sign(&encoded[..84]);
        encoded[84..].copy_from_slice(&signature);
        Revocation { encoded }
    }

    /// Decodes and verifies a revocation. Never panics, whatever the bytes.
    pub fn decode(data: &[u8]) -> Result<Revocation, RevocationError> {
        if data.len() != REVOCATION_LEN {
            return Err(RevocationError::Length(data.len()));
        }
        if data[..3] != REVOCATION_MAGIC {
            return Err(RevocationError::BadMagic);
        }
        if data[3] != REVOCATION_VERSION {
            return Err(RevocationError::BadVersion(data[3]));
        }
        let mut encoded = [0u8; REVOCATION_LEN];
        encoded.copy_from_slice(data);
        let revocation = Revocation { encoded };
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&data[84..]);
        if verify(&revocation.signer(), &data[..84], &signature).is_none() {
            return Err(RevocationError::Forged);
        }
        Ok(revocation)
    }

    /// Decodes a concatenation of revocations (a revocation list file or an exchange).
    pub fn decode_list(data: &[u8]) -> Result<Vec<Revocation>, RevocationError> {
        if data.len() % REVOCATION_LEN != 0 {
            return Err(RevocationError::Length(data.len()));
        }
        data.chunks_exact(REVOCATION_LEN)
            .map(Revocation::decode)
            .collect()
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8; REVOCATION_LEN] {
        &self.encoded
    }

    fn key_at(&self, at: usize) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.encoded[at..at + 32]);
        k
    }

    fn u64_at(&self, at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.encoded[at..at + 8]);
        u64::from_be_bytes(b)
    }

    /// The issuer of the revoked certificate.
    pub fn issuer(&self) -> [u8; 32] {
        self.key_at(4)
    }

    /// The serial of the revoked certificate.
    pub fn serial(&self) -> u64 {
        self.u64_at(36)
    }

    /// When it was revoked (unix seconds; a time known to have passed once verified).
    pub fn revoked_at(&self) -> u64 {
        self.u64_at(44)
    }

    /// Who signed the revocation.
    pub fn signer(&self) -> [u8; 32] {
        self.key_at(52)
    }
}

/// Why a revocation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// Not the length of a revocation (or a list of them).
    #[error("{0} bytes is not a revocation (or a list of them; each is 180 bytes)")]
    Length(usize),
    /// Not a ryre revocation.
    #[error("not a ryre revocation (it starts with \"RYV\")")]
    BadMagic,
    /// An unknown version.
    #[error("unknown revocation version {0}")]
    BadVersion(u8),
    /// The signature does not verify.
    #[error("the revocation's signature does not verify (tampered or forged)")]
    Forged,
}

/// What [`RevocationSet::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new entry.
    New,
    /// Known already.
    Known,
    /// Refused: the set holds as many entries of unknown signers as it may.
    Full,
}

/// The revocations a node knows, with a digest to compare sets between peers.
#[derive(Debug, Clone, Default)]
pub struct RevocationSet {
    /// (issuer, serial) -> the signers that revoked it, with their revocation.
    entries: BTreeMap<([u8; 32], u64), BTreeMap<[u8; 32], Revocation>>,
    /// Keys known to be CAs (trusted roots, CAs seen in verified chains).
    authorities: BTreeSet<[u8; 32]>,
    /// Entries whose signer is not (yet) a known CA.
    unproven: usize,
    len: usize,
    digest: Option<[u8; 32]>,
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> RevocationSet {
        RevocationSet::default()
    }

    /// Marks `key` as a CA (a trusted root, or a CA in a chain that verified).
    pub fn add_authority(&mut self, key: [u8; 32]) {
        if self.authorities.insert(key) {
            self.unproven = self.count_unproven();
        }
    }

    fn count_unproven(&self) -> usize {
        self.entries
            .values()
            .flat_map(|m| m.keys())
            .filter(|s| !self.authorities.contains(*s))
            .count()
    }

    /// Adds a verified revocation.
    pub fn insert(&mut self, revocation: Revocation) -> Inserted {
        let key = (revocation.issuer(), revocation.serial());
        let signer = revocation.signer();
        if self
            .entries
            .get(&key)
            .is_some_and(|m| m.contains_key(&signer))
        {
            return Inserted::Known;
        }
        let proven = self.authorities.contains(&signer);
        if self.len >= REVOCATIONS_MAX || (!proven && self.unproven >= UNPROVEN_MAX) {
            return Inserted::Full;
        }
        self.entries
            .entry(key)
            .or_default()
            .insert(signer, revocation);
        self.len += 1;
        if !proven {
            self.unproven += 1;
        }
        self.digest = None;
        Inserted::New
    }

    /// How many revocations the set holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every revocation, in a canonical order.
    pub fn iter(&self) -> impl Iterator<Item = &Revocation> {
        self.entries.values().flat_map(|m| m.values())
    }

    /// The revocations encoded one after the other (a revocation list file, an exchange).
    pub fn encode(&self) -> Vec<u8> {
        self.iter()
            .flat_map(|r| r.as_bytes().iter().copied())
            .collect()
    }

    /// SHA-256 over the canonical encoding: equal sets have equal digests.
    pub fn digest(&mut self) -> [u8; 32] {
        if let Some(d) = self.digest {
            return d;
        }
        let mut hash = Sha256::new();
        for r in self.iter() {
            hash.update(r.as_bytes());
        }
        let d: [u8; 32] = hash.finalize().into();
        self.digest = Some(d);
        d
    }

    /// The highest `revoked_at` of a revocation signed by a known CA (a time known to have
    /// passed), 0 if none.
    pub fn latest_time(&self) -> u64 {
        self.iter()
            .filter(|r| self.authorities.contains(&r.signer()))
            .map(Revocation::revoked_at)
            .max()
            .unwrap_or(0)
    }
}

impl Revoked for RevocationSet {
    fn revoked(&self, issuer: &[u8; 32], serial: u64, ancestors: &[[u8; 32]]) -> bool {
        self.entries
            .get(&(*issuer, serial))
            .is_some_and(|signers| signers.keys().any(|s| s == issuer || ancestors.contains(s)))
    }
}
