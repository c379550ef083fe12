//! Security decisions, as pure functions of state and input: keys and their Z85 form, the signed
//! ryre beacon, and the keyring that binds each peer's UUID to one CURVE key.
//!
//! A node's identity is one Ed25519 key pair. Its CURVE (X25519) key pair, used on every ZeroMQ
//! link and announced in v3 beacons and `X-PUBLICKEY`, is the Montgomery form of the same key,
//! so a signed beacon (Ed25519) proves possession of the CURVE key that a link will authenticate.
//! Key files, randomness and the ZAP handler live in `ryre`; nothing here reads a clock.

use std::collections::{BTreeSet, HashMap};

use foldhash::fast::FixedState;
use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::PeerId;

pub mod cert;
pub mod certified;
pub mod revocation;
pub mod service;
pub mod z85;
pub mod zpl;

/// The HELLO header that carries a node's CURVE public key in Z85 (as C Zyre's secure mode).
pub const PUBLIC_KEY_HEADER: &str = "X-PUBLICKEY";

/// A CURVE (X25519) public key: 32 bytes, shown as 40 Z85 characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 40-character Z85 form.
    pub fn to_z85(&self) -> String {
        z85::encode(&self.0).unwrap_or_default()
    }

    /// Reads the 40-character Z85 form.
    pub fn from_z85(text: &str) -> Result<PublicKey, KeyError> {
        let raw = z85::decode(text.trim()).map_err(KeyError::Z85)?;
        let bytes =
            <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| KeyError::Length(raw.len()))?;
        Ok(PublicKey(bytes))
    }

    /// Whether C Zyre would accept this key in a beacon (it drops keys whose first byte is 0).
    pub fn zyre_safe(&self) -> bool {
        self.0[0] != 0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_z85())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        PublicKey::from_z85(s)
    }
}

/// Why bytes or text are not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not Z85.
    #[error("not a Z85 key: {0}")]
    Z85(z85::Z85Error),
    /// Decodes to the wrong number of bytes.
    #[error("a key is 32 bytes (40 Z85 characters), got {0} bytes")]
    Length(usize),
    /// The seed gives a CURVE key that C Zyre would refuse (first byte 0).
    #[error("this seed gives a CURVE public key starting with 0, which Zyre refuses")]
    ZyreUnsafe,
}

/// A node's key pair: an Ed25519 signing key and, derived from it, its CURVE key pair.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
    public: PublicKey,
    curve_secret: [u8; 32],
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "KeyPair({})", self.public)
    }
}

impl KeyPair {
    /// The key pair of a 32-byte Ed25519 seed. Refuses seeds whose CURVE public key starts with
    /// 0 (C Zyre drops such beacons): a generator draws another seed.
    pub fn from_seed(seed: [u8; 32]) -> Result<KeyPair, KeyError> {
        let signing = SigningKey::from_bytes(&seed);
        let public = PublicKey(signing.verifying_key().to_montgomery().to_bytes());
        if !public.zyre_safe() {
            return Err(KeyError::ZyreUnsafe);
        }
        let mut curve_secret = signing.to_scalar_bytes();
        // X25519 clamping (libsodium clamps too; storing the clamped form is canonical).
        curve_secret[0] &= 248;
        curve_secret[31] &= 127;
        curve_secret[31] |= 64;
        Ok(KeyPair {
            signing,
            public,
            curve_secret,
        })
    }

    /// The Ed25519 seed (secret: what a key file stores).
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The CURVE public key: the node's identity on links, in beacons and in `X-PUBLICKEY`.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The CURVE secret key (for libzmq's `ZMQ_CURVE_SECRETKEY`).
    pub fn curve_secret(&self) -> [u8; 32] {
        self.curve_secret
    }

    /// The Ed25519 public key that signed beacons carry.
    pub fn signing_public(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs `message` with the node's Ed25519 key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// A signed ryre beacon for `id` at `port` (0: leaving) with replay counter `counter`.
    pub fn signed_beacon(&self, id: PeerId, port: u16, counter: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNED_BEACON_LEN);
        out.extend_from_slice(&SIGNED_BEACON_MAGIC);
        out.push(SIGNED_BEACON_VERSION);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&port.to_be_bytes());
        out.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(&self.signing_public());
        let sig = self.sign(&out);
        out.extend_from_slice(&sig);
        out
    }
}

/// Verifies an Ed25519 `signature` of `message` by `signer`, and returns the CURVE key that
/// `signer` stands for.
pub fn verify(signer: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Option<PublicKey> {
    let key = VerifyingKey::from_bytes(signer).ok()?;
    key.verify_strict(message, &Signature::from_bytes(signature))
        .ok()?;
    Some(PublicKey(key.to_montgomery().to_bytes()))
}

/// The first bytes of a signed ryre beacon. C Zyre and Pyre only look at datagrams that start
/// with `ZRE` and have their own beacon's size, so they ignore it.
pub const SIGNED_BEACON_MAGIC: [u8; 3] = *b"RYB";
/// The signed beacon's version.
pub const SIGNED_BEACON_VERSION: u8 = 1;
/// The signed beacon's size: magic 3, version 1, uuid 16, port 2, counter 8, Ed25519 key 32,
/// signature 64.
pub const SIGNED_BEACON_LEN: usize = 126;

/// A signed beacon whose signature checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedBeacon {
    /// The sender's UUID.
    pub id: PeerId,
    /// Its inbox port; 0: it is leaving.
    pub port: u16,
    /// Replay counter: strictly increasing per sender.
    pub counter: u64,
    /// The CURVE key the signature proves (the Montgomery form of the signing key).
    pub key: PublicKey,
    /// The Ed25519 key that signed it (what the beacon carries).
    pub signer: [u8; 32],
}

/// What a signed beacon says, read without checking its signature (see
/// [`Keyring::defer_signed`]): nothing here may be acted on before [`SignedBeacon::decode`]
/// verified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnverifiedBeacon {
    /// The UUID it claims.
    pub id: PeerId,
    /// The port it claims (0: leaving).
    pub port: u16,
    /// The replay counter it claims.
    pub counter: u64,
    /// The Ed25519 key it claims to be signed by.
    pub signer: [u8; 32],
}

impl SignedBeacon {
    /// Whether the sender announces that it is leaving (port 0).
    pub fn is_leaving(&self) -> bool {
        self.port == 0
    }

    /// Whether `data` claims to be a signed beacon (so it is not a ZRE beacon at all).
    pub fn is_signed(data: &[u8]) -> bool {
        data.len() >= 3 && data[..3] == SIGNED_BEACON_MAGIC
    }

    /// Reads a signed beacon's fields without checking its signature; never panics.
    pub fn peek(data: &[u8]) -> Result<UnverifiedBeacon, SignedBeaconError> {
        if data.len() != SIGNED_BEACON_LEN {
            return Err(SignedBeaconError::BadLength(data.len()));
        }
        if data[..3] != SIGNED_BEACON_MAGIC {
            return Err(SignedBeaconError::BadMagic);
        }
        if data[3] != SIGNED_BEACON_VERSION {
            return Err(SignedBeaconError::BadVersion(data[3]));
        }
        let id = PeerId::from_slice(&data[4..20]).ok_or(SignedBeaconError::BadLength(0))?;
        let port = u16::from_be_bytes([data[20], data[21]]);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&data[22..30]);
        let mut signer = [0u8; 32];
        signer.copy_from_slice(&data[30..62]);
        Ok(UnverifiedBeacon {
            id,
            port,
            counter: u64::from_be_bytes(counter),
            signer,
        })
    }

    /// Reads and verifies a signed beacon; never panics.
    pub fn decode(data: &[u8]) -> Result<SignedBeacon, SignedBeaconError> {
        let fields = Self::peek(data)?;
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&data[62..126]);
        let key =
            verify(&fields.signer, &data[..62], &signature).ok_or(SignedBeaconError::Forged)?;
        Ok(SignedBeacon {
            id: fields.id,
            port: fields.port,
            counter: fields.counter,
            key,
            signer: fields.signer,
        })
    }
}

/// Why a datagram is not a valid signed beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignedBeaconError {
    /// Not 126 bytes.
    #[error("a signed beacon is 126 bytes, got {0}")]
    BadLength(usize),
    /// Does not start with `RYB`.
    #[error("a signed beacon starts with \"RYB\"")]
    BadMagic,
    /// An unknown version.
    #[error("unknown signed beacon version {0}")]
    BadVersion(u8),
    /// The signature does not verify (forged or damaged).
    #[error("the beacon's signature does not verify")]
    Forged,
}

/// Which peers' keys a secure node accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Exactly these keys (a key directory).
    Keys(BTreeSet<PublicKey>),
    /// Any key, and each UUID is pinned to the first key seen for it (trust on first use).
    FirstUse,
}

impl Trust {
    /// Whether `key` may be bound to a new UUID.
    pub fn allows(&self, key: &PublicKey) -> bool {
        match self {
            Trust::Keys(keys) => keys.contains(key),
            Trust::FirstUse => true,
        }
    }
}

/// A secure node's settings for the heart.
#[derive(Debug, Clone)]
pub struct Security {
    /// Own CURVE public key (sent in HELLO as `X-PUBLICKEY`).
    pub key: PublicKey,
    /// Which peers' keys are accepted.
    pub trust: Trust,
}

/// How libzmq (or the process) authenticated the sender of an inbox message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Not authenticated (an open link).
    Plain,
    /// A node of this process (a memory link): trusted within the process.
    Process,
    /// CURVE: the client key libzmq authenticated for the connection.
    Key(PublicKey),
}

/// Why the heart refused a beacon or message in secure mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A plain (v1) beacon or an unauthenticated message: a downgrade.
    #[error("not secured (a plain beacon or link) in secure mode")]
    Downgrade,
    /// A key the trust settings do not accept.
    #[error("key {0} is not trusted")]
    Untrusted(PublicKey),
    /// A key other than the one bound to this UUID.
    #[error("uuid is bound to key {bound}, but {got} was presented")]
    KeyMismatch {
        /// The key bound to the UUID.
        bound: PublicKey,
        /// The key presented.
        got: PublicKey,
    },
    /// A node of this process, claimed over the network (or the other way round).
    #[error("uuid belongs to a node of this process")]
    ProcessMismatch,
    /// A signed beacon whose signature does not verify.
    #[error("forged signed beacon")]
    Forged,
    /// A signed beacon no newer than one already seen.
    #[error("replayed signed beacon (counter {got}, seen {seen})")]
    Replayed {
        /// The highest counter seen.
        seen: u64,
        /// The counter received.
        got: u64,
    },
    /// An unsigned leaving beacon for a peer that signs its beacons.
    #[error("unsigned leaving beacon for a peer that signs its beacons")]
    UnsignedLeaving,
    /// A zero-first-byte or otherwise unusable key in a beacon.
    #[error("unusable key in beacon")]
    BadKey,
    /// An announcement without a key, for a peer whose key is not known.
    #[error("no key known for this peer")]
    NoKey,
    /// Too many UUIDs are bound already.
    #[error("too many bound peers")]
    Full,
    /// Certified mode: the certificate in HELLO was refused.
    #[error(transparent)]
    Certificate(#[from] certified::CertRefusal),
    /// HELLO's `X-PUBLICKEY` header is not the authenticated key.
    #[error("X-PUBLICKEY {header:?} is not the authenticated key")]
    HeaderMismatch {
        /// The header as received.
        header: String,
    },
}

/// What a UUID is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bound {
    /// A CURVE key, and what its signed beacons showed (`None`: it never signed).
    Key(PublicKey, Option<Signs>),
    /// A node of this process.
    Process,
}

/// A bound UUID's signed beacons.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signs {
    /// The highest counter verified.
    seen: u64,
    /// The Ed25519 key whose signature was verified.
    signer: [u8; 32],
    /// The latest beacon taken without verifying (see [`Keyring::defer_signed`]): verified
    /// when the UUID stops being a peer, so that its counter still counts against replays.
    deferred: Option<Box<[u8; SIGNED_BEACON_LEN]>>,
}

/// Most bindings kept for UUIDs that are no longer peers.
const BINDINGS_MAX: usize = 4096;

/// Which key each UUID is bound to, and the trust that admits new bindings.
#[derive(Debug, Clone)]
pub struct Keyring {
    trust: Trust,
    bound: HashMap<PeerId, Bound, FixedState>,
}

impl Keyring {
    /// An empty keyring under `trust`.
    pub fn new(trust: Trust) -> Keyring {
        Keyring {
            trust,
            bound: HashMap::with_hasher(FixedState::with_seed(0x5eed_6b65_7972_696e)),
        }
    }

    /// The trust settings.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The key bound to `id`, if any.
    pub fn key(&self, id: &PeerId) -> Option<PublicKey> {
        match self.bound.get(id) {
            Some(Bound::Key(k, _)) => Some(*k),
            _ => None,
        }
    }

    /// Whether `id` has sent a valid signed beacon (it is a ryre node that signs).
    pub fn signs(&self, id: &PeerId) -> bool {
        matches!(self.bound.get(id), Some(Bound::Key(_, Some(_))))
    }

    /// Whether `id` is a node of this process.
    pub fn is_process(&self, id: &PeerId) -> bool {
        matches!(self.bound.get(id), Some(Bound::Process))
    }

    /// Checks that `key` may speak for `id` without binding anything: the bound key, or (for an
    /// unbound UUID) a trusted one.
    pub fn check(&self, id: &PeerId, key: &PublicKey) -> Result<(), Refusal> {
        match self.bound.get(id) {
            Some(Bound::Key(bound, _)) if bound == key => Ok(()),
            Some(Bound::Key(bound, _)) => Err(Refusal::KeyMismatch {
                bound: *bound,
                got: *key,
            }),
            Some(Bound::Process) => Err(Refusal::ProcessMismatch),
            None if *key == PublicKey([0; 32]) => Err(Refusal::BadKey),
            None if self.trust.allows(key) => Ok(()),
            None => Err(Refusal::Untrusted(*key)),
        }
    }

    /// Binds `id` to `key` if [`Keyring::check`] allows it. A binding never changes: another key
    /// for a bound UUID is refused.
    pub fn admit(&mut self, id: PeerId, key: PublicKey) -> Result<(), Refusal> {
        self.check(&id, &key)?;
        if !self.bound.contains_key(&id) {
            self.make_room()?;
            self.bound.insert(id, Bound::Key(key, None));
        }
        Ok(())
    }

    /// Binds `id` as a node of this process (never over the network).
    pub fn admit_process(&mut self, id: PeerId) -> Result<(), Refusal> {
        match self.bound.get(&id) {
            Some(Bound::Process) => Ok(()),
            Some(Bound::Key(..)) => Err(Refusal::ProcessMismatch),
            None => {
                self.make_room()?;
                self.bound.insert(id, Bound::Process);
                Ok(())
            }
        }
    }

    /// Admits a verified signed beacon: its key must be admissible for its UUID and its counter
    /// newer than any seen from it. Records the counter (a deferred beacon it supersedes is
    /// dropped).
    pub fn admit_signed(&mut self, beacon: &SignedBeacon) -> Result<(), Refusal> {
        self.admit(beacon.id, beacon.key)?;
        if self.deferred_counter(&beacon.id) >= Some(beacon.counter) {
            // A deferred beacon claims a counter this one does not beat: it counts if genuine.
            let _ = self.settle(&beacon.id);
        }
        if let Some(Bound::Key(_, signs)) = self.bound.get_mut(&beacon.id) {
            if let Some(s) = signs {
                if beacon.counter <= s.seen {
                    return Err(Refusal::Replayed {
                        seen: s.seen,
                        got: beacon.counter,
                    });
                }
            }
            *signs = Some(Signs {
                seen: beacon.counter,
                signer: beacon.signer,
                deferred: None,
            });
        }
        Ok(())
    }

    /// Takes a signed beacon without verifying it, when verifying could change nothing: the
    /// caller knows the UUID as a live peer and the beacon is not a leaving one, and (checked
    /// here) the UUID is bound, has a verified signed beacon by the same Ed25519 key and this
    /// one claims a newer counter. Such a beacon is a periodic "still here" that the heart does
    /// not act on, so skipping its signature check admits nothing; it is kept (the latest one)
    /// and verified by [`Keyring::settle`] once the UUID stops being a peer, so that the
    /// counter a replay must beat is still the newest one genuinely heard. Returns whether it
    /// was taken; if not, the caller verifies it as usual (a replay, another key or a forgery
    /// is then refused as before).
    pub fn defer_signed(&mut self, beacon: &UnverifiedBeacon, data: &[u8]) -> bool {
        let Some(Bound::Key(_, Some(s))) = self.bound.get_mut(&beacon.id) else {
            return false;
        };
        if s.signer != beacon.signer || beacon.counter <= s.seen || beacon.port == 0 {
            return false;
        }
        let Ok(raw) = <[u8; SIGNED_BEACON_LEN]>::try_from(data) else {
            return false;
        };
        match &mut s.deferred {
            Some(d) => **d = raw,
            None => s.deferred = Some(Box::new(raw)),
        }
        true
    }

    /// The counter the deferred beacon of `id` claims, if there is one.
    fn deferred_counter(&self, id: &PeerId) -> Option<u64> {
        let Some(Bound::Key(_, Some(s))) = self.bound.get(id) else {
            return None;
        };
        let d = s.deferred.as_ref()?;
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&d[22..30]);
        Some(u64::from_be_bytes(counter))
    }

    /// Verifies the beacon [`Keyring::defer_signed`] kept for `id`, if any, and records its
    /// counter if it holds. Returns `Err(Refusal::Forged)` if it was forged (nothing is
    /// recorded then).
    pub fn settle(&mut self, id: &PeerId) -> Result<(), Refusal> {
        let Some(Bound::Key(_, Some(s))) = self.bound.get_mut(id) else {
            return Ok(());
        };
        let Some(raw) = s.deferred.take() else {
            return Ok(());
        };
        match SignedBeacon::decode(&raw[..]) {
            Ok(b) if b.id == *id && b.signer == s.signer && b.counter > s.seen => {
                s.seen = b.counter;
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(_) => Err(Refusal::Forged),
        }
    }

    /// Forgets bindings of UUIDs for which `keep` is false, once more than half the room is
    /// used (the heart keeps its peers and recently departed UUIDs).
    pub fn prune(&mut self, keep: impl Fn(&PeerId) -> bool) {
        if self.bound.len() > BINDINGS_MAX / 2 {
            self.bound.retain(|id, _| keep(id));
        }
    }

    /// Bounded memory under a flood of fresh UUIDs: new bindings are refused when full (never
    /// an old one dropped, which would let its UUID be claimed by another key).
    fn make_room(&self) -> Result<(), Refusal> {
        if self.bound.len() >= BINDINGS_MAX {
            return Err(Refusal::Full);
        }
        Ok(())
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.bound.len()
    }

    /// Whether nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.bound.is_empty()
    }
}

#[cfg(test)]
mod cert_tests;
#[cfg(test)]
mod tests;
