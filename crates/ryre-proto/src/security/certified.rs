//! The state of a certified node, as pure decisions: its own verified chain, the roots it
//! trusts, the revocations it knows, the highest verified time it has seen, and what each
//! admitted peer may do. The heart asks it; it reads no clock (the caller passes the wall time
//! it believes, which may be wrong) and does no I/O.
//!
//! Rules:
//! - A peer is admitted by the chain in its HELLO's [`CERT_HEADER`], verified against the roots
//!   and the revocations at [`Certified::now`], whose subject must be the key libzmq
//!   authenticated for the link.
//! - JOIN: a peer is a member of a group only with the `join` right there (what it may
//!   receive); SHOUT: accepted only with `shout` there; WHISPER from S to R: accepted when S has
//!   `whisper` in a group R may join (some group both patterns cover). A node checks its own
//!   rights the same way before it sends.
//! - Time without a trusted clock: `now = max(wall, floor)`, where `floor` is the highest time
//!   proven to have passed: the latest `not_before` of a chain that verified (its own first) and
//!   the latest `revoked_at` of a revocation by a known CA, each at most `now + skew` when it
//!   counted. Windows are checked with `skew` seconds of allowance either side.

use std::collections::HashMap;

use base64::Engine as _;
use foldhash::fast::FixedState;

use super::cert::{
    check_root, decode_chain, encode_chain, verify_chain, verify_chain_checked_roots, CertError,
    Certificate, Grant, Rights, Verified,
};
use super::revocation::{Inserted, Revocation, RevocationSet, REVOCATION_LEN};
use super::PublicKey;
use crate::PeerId;

/// The HELLO header with the sender's certificate chain (standard base64 of
/// [`encode_chain`]). Zyre and Pyre ignore it.
pub const CERT_HEADER: &str = "X-RYRE-CERT";
/// The HELLO header with the sender's revocation set: `COUNT:SHA256HEX`.
pub const REVOCATIONS_HEADER: &str = "X-RYRE-REVOCATIONS";
/// The first frame of a whisper that carries revocations (the second frame: revocations one
/// after the other). Consumed by certified nodes, never shown to the application.
pub const REVOCATIONS_FRAME: &[u8] = b"RYRE-REVOCATIONS/1";
/// Most revocations in one exchange message.
pub const REVOCATIONS_PER_MESSAGE: usize = 1024;
/// The default allowance for clock differences, in seconds.
pub const DEFAULT_SKEW: u64 = 300;

/// Why a peer's certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertRefusal {
    /// No certificate in HELLO.
    #[error("no certificate (HELLO without {CERT_HEADER})")]
    Missing,
    /// A header that is not base64 of a chain.
    #[error("malformed certificate header: {0}")]
    Malformed(String),
    /// A chain that does not verify.
    #[error("certificate refused: {0}")]
    Invalid(#[from] CertError),
    /// The chain names another key than the one the link authenticated.
    #[error("the certificate names key {named}, the link authenticated {authenticated}")]
    WrongKey {
        /// The key the certificate names.
        named: PublicKey,
        /// The key libzmq authenticated.
        authenticated: PublicKey,
    },
}

impl CertRefusal {
    /// The kinds of refusal, as counted in [`crate::Stats::cert_refused`] (and shown by
    /// `ryre node`'s `security` command).
    pub const KINDS: [&'static str; 11] = [
        "missing",
        "malformed",
        "wrong-key",
        "expired",
        "not-yet-valid",
        "revoked",
        "unknown-issuer",
        "bad-signature",
        "wider-rights",
        "wider-window",
        "invalid",
    ];

    /// This refusal's index in [`CertRefusal::KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            CertRefusal::Missing => 0,
            CertRefusal::Malformed(_) => 1,
            CertRefusal::WrongKey { .. } => 2,
            CertRefusal::Invalid(e) => match e {
                CertError::Expired { .. } => 3,
                CertError::NotYetValid { .. } => 4,
                CertError::Revoked(_) => 5,
                CertError::UnknownIssuer => 6,
                CertError::BadSignature(_) => 7,
                CertError::WiderRights(_) => 8,
                CertError::WiderWindow(_) => 9,
                _ => 10,
            },
        }
    }

    /// This refusal's kind, one of [`CertRefusal::KINDS`].
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.kind_index()]
    }
}

/// What an admitted peer may do, as decided when it was admitted.
#[derive(Debug, Clone)]
pub struct PeerCert {
    /// Its verified chain.
    pub verified: Verified,
    /// It may whisper to this node.
    pub whisper_in: bool,
    /// This node may whisper to it.
    pub whisper_out: bool,
}

/// A certified node's settings.
#[derive(Debug, Clone)]
pub struct CertifiedConfig {
    /// Own chain: own certificate first.
    pub chain: Vec<Certificate>,
    /// Trusted root CA certificates.
    pub roots: Vec<Certificate>,
    /// Allowance for clock differences (seconds).
    pub skew: u64,
}

/// Certified mode as the heart holds it: the state, and the wall time at one instant (the
/// heart's wall time is that plus the instants since: it reads no clock).
#[derive(Debug, Clone)]
pub struct CertifiedMode {
    /// The state.
    pub state: Certified,
    /// An instant ...
    pub epoch: std::time::Instant,
    /// ... and the wall time (unix seconds) the driver believed at it.
    pub epoch_unix: u64,
}

impl CertifiedMode {
    /// The wall time at `now`.
    pub fn wall(&self, now: std::time::Instant) -> u64 {
        self.epoch_unix
            .saturating_add(now.saturating_duration_since(self.epoch).as_secs())
    }
}

/// The certified node's state (see the module's rules).
#[derive(Debug, Clone)]
pub struct Certified {
    own: Verified,
    own_chain: Vec<Certificate>,
    cert_header: String,
    roots: Vec<Certificate>,
    skew: u64,
    revocations: RevocationSet,
    floor: u64,
    peers: HashMap<PeerId, PeerCert, FixedState>,
    rev_header: String,
    /// The revocation set changed since the driver last took it (to write it to disk).
    changed: bool,
}

/// Whether some group is covered by both patterns.
fn overlap(a: &Grant, b: &Grant) -> bool {
    match (a.pattern.strip_suffix('*'), b.pattern.strip_suffix('*')) {
        (Some(p), Some(q)) => p.starts_with(q) || q.starts_with(p),
        (Some(p), None) => b.pattern.starts_with(p),
        (None, Some(q)) => a.pattern.starts_with(q),
        (None, None) => a.pattern == b.pattern,
    }
}

/// Whether a subject with `from`'s grants may whisper to one with `to`'s.
pub fn may_whisper(from: &[Grant], to: &[Grant]) -> bool {
    from.iter()
        .filter(|g| g.rights.contains(Rights::WHISPER))
        .any(|g| {
            to.iter()
                .filter(|t| t.rights.contains(Rights::JOIN))
                .any(|t| overlap(g, t))
        })
}

impl Certified {
    /// A certified node's state: its own chain must verify against its roots at
    /// `max(wall, floor)` (a node refuses to start with a certificate others would refuse).
    /// `floor` is a time known to have passed (from a previous run, 0 if none).
    pub fn new(
        config: CertifiedConfig,
        revocations: RevocationSet,
        wall: u64,
        floor: u64,
    ) -> Result<Certified, CertError> {
        let mut revocations = revocations;
        for root in &config.roots {
            revocations.add_authority(root.body().subject);
        }
        for c in &config.chain {
            if c.body().role == super::cert::Role::Ca {
                revocations.add_authority(c.body().subject);
            }
        }
        let now = wall.max(floor);
        for root in &config.roots {
            check_root(root)?;
        }
        let own = verify_chain(&config.chain, &config.roots, now, config.skew, &revocations)?;
        let floor = floor.max(own.not_before.min(now.saturating_add(config.skew)));
        let cert_header =
            base64::engine::general_purpose::STANDARD.encode(encode_chain(&config.chain));
        let mut state = Certified {
            own,
            own_chain: config.chain,
            cert_header,
            roots: config.roots,
            skew: config.skew,
            revocations,
            floor,
            peers: HashMap::default(),
            rev_header: String::new(),
            changed: false,
        };
        state.refresh_header();
        Ok(state)
    }

    fn refresh_header(&mut self) {
        let digest = self.revocations.digest();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.rev_header = format!("{}:{hex}", self.revocations.len());
    }

    /// The encoded revocation set if it changed since the last call (for the driver to keep on
    /// disk).
    pub fn take_changed(&mut self) -> Option<Vec<u8>> {
        std::mem::take(&mut self.changed).then(|| self.revocations.encode())
    }

    /// The time used for windows: the wall time, or the highest proven time if later.
    pub fn now(&self, wall: u64) -> u64 {
        wall.max(self.floor)
    }

    /// The highest time proven to have passed (to persist across runs).
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Own verified chain.
    pub fn own(&self) -> &Verified {
        &self.own
    }

    /// Own chain.
    pub fn own_chain(&self) -> &[Certificate] {
        &self.own_chain
    }

    /// Whether this node may use `group` with `rights`.
    pub fn own_may(&self, group: &str, rights: Rights) -> bool {
        self.own.may(group, rights)
    }

    /// The value of [`CERT_HEADER`].
    pub fn cert_header(&self) -> &str {
        &self.cert_header
    }

    /// The value of [`REVOCATIONS_HEADER`].
    pub fn revocations_header(&self) -> &str {
        &self.rev_header
    }

    /// Whether a peer's [`REVOCATIONS_HEADER`] differs from ours (so the sets should be
    /// exchanged). A missing or malformed header differs.
    pub fn revocations_differ(&self, header: Option<&str>) -> bool {
        header != Some(self.rev_header.as_str())
    }

    /// The revocations known.
    pub fn revocations(&self) -> &RevocationSet {
        &self.revocations
    }

    /// Verifies `header` (a peer's [`CERT_HEADER`]) for the link key `auth` at `wall`, and
    /// admits the peer: its rights are what [`Certified::peer`] returns until it is forgotten.
    /// `auth` is `None` for a node of this process (a memory link: the process is trusted, the
    /// chain must still verify).
    pub fn admit(
        &mut self,
        id: PeerId,
        auth: Option<PublicKey>,
        header: Option<&str>,
        wall: u64,
    ) -> Result<&PeerCert, CertRefusal> {
        let header = header.ok_or(CertRefusal::Missing)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(header)
            .map_err(|e| CertRefusal::Malformed(e.to_string()))?;
        let chain = decode_chain(&raw)?;
        let now = self.now(wall);
        let verified =
            verify_chain_checked_roots(&chain, &self.roots, now, self.skew, &self.revocations)?;
        if let Some(auth) = auth.filter(|a| *a != verified.key) {
            return Err(CertRefusal::WrongKey {
                named: verified.key,
                authenticated: auth,
            });
        }
        self.floor = self
            .floor
            .max(verified.not_before.min(now.saturating_add(self.skew)));
        for c in chain.iter().skip(1) {
            self.revocations.add_authority(c.body().subject);
        }
        let peer = PeerCert {
            whisper_in: may_whisper(&verified.grants, &self.own.grants),
            whisper_out: may_whisper(&self.own.grants, &verified.grants),
            verified,
        };
        self.peers.insert(id, peer);
        Ok(&self.peers[&id])
    }

    /// An admitted peer's rights.
    pub fn peer(&self, id: &PeerId) -> Option<&PeerCert> {
        self.peers.get(id)
    }

    /// Forgets a peer (it left or was dropped).
    pub fn forget(&mut self, id: &PeerId) {
        self.peers.remove(id);
    }

    /// Whether peer `id` may have `rights` in `group` (false for a peer not admitted).
    pub fn peer_may(&self, id: &PeerId, group: &str, rights: Rights) -> bool {
        self.peers
            .get(id)
            .is_some_and(|p| p.verified.may(group, rights))
    }

    /// Whether admitted peer `id` has any right in `group`, so that it may learn who is in it
    /// (a certified node sends its JOIN and LEAVE of a group only to such peers).
    pub fn peer_knows_of(&self, id: &PeerId, group: &str) -> bool {
        self.peers
            .get(id)
            .is_some_and(|p| !p.verified.rights_in(group).is_empty())
    }

    /// Adds revocations (each already signature-checked by its decoder): returns the new ones
    /// (to pass on to peers) and the admitted peers they revoke (to drop).
    pub fn add_revocations(
        &mut self,
        list: impl IntoIterator<Item = Revocation>,
        wall: u64,
    ) -> (Vec<Revocation>, Vec<PeerId>) {
        let mut new = Vec::new();
        for r in list {
            if self.revocations.insert(r) == Inserted::New {
                new.push(r);
            }
        }
        if new.is_empty() {
            return (new, Vec::new());
        }
        self.refresh_header();
        self.changed = true;
        let now = self.now(wall);
        let latest = self.revocations.latest_time();
        self.floor = self.floor.max(latest.min(now.saturating_add(self.skew)));
        let revoked = self
            .peers
            .iter()
            .filter(|(_, p)| {
                // A revocation names (issuer, serial); only the chain's own pairs can match.
                p.verified
                    .serials
                    .iter()
                    .any(|s| new.iter().any(|r| (r.issuer(), r.serial()) == *s))
            })
            .map(|(id, _)| *id)
            .collect::<Vec<_>>();
        // Re-verify those: the revocation counts only when signed by the issuer or above.
        let revoked = revoked
            .into_iter()
            .filter(|id| self.peers.get(id).is_some_and(|p| self.chain_revoked(p)))
            .collect();
        (new, revoked)
    }

    fn chain_revoked(&self, p: &PeerCert) -> bool {
        use super::cert::Revoked;
        // serials: own certificate first; each issuer's ancestors are the issuers after it.
        let issuers: Vec<[u8; 32]> = p.verified.serials.iter().map(|s| s.0).collect();
        p.verified
            .serials
            .iter()
            .enumerate()
            .any(|(i, (issuer, serial))| {
                self.revocations.revoked(issuer, *serial, &issuers[i + 1..])
            })
    }

    /// Admitted peers whose chains have expired at `wall` (to drop), with the reason.
    pub fn expired(&self, wall: u64) -> Vec<(PeerId, CertError)> {
        let now = self.now(wall);
        self.peers
            .iter()
            .filter(|(_, p)| now > p.verified.not_after.saturating_add(self.skew))
            .map(|(id, p)| {
                (
                    *id,
                    CertError::Expired {
                        name: p.verified.name.clone(),
                        not_after: p.verified.not_after,
                        now,
                    },
                )
            })
            .collect()
    }

    /// The revocations as exchange messages' second frames (at most
    /// [`REVOCATIONS_PER_MESSAGE`] each).
    pub fn revocation_messages(&self) -> Vec<Vec<u8>> {
        let all: Vec<&Revocation> = self.revocations.iter().collect();
        all.chunks(REVOCATIONS_PER_MESSAGE)
            .map(|c| {
                c.iter()
                    .flat_map(|r| r.as_bytes().iter().copied())
                    .collect()
            })
            .collect()
    }

    /// Decodes an exchange message's second frame.
    pub fn decode_revocations(frame: &[u8]) -> Option<Vec<Revocation>> {
        if frame.len() > REVOCATIONS_PER_MESSAGE * REVOCATION_LEN {
            return None;
        }
        Revocation::decode_list(frame).ok()
    }
}

#[cfg(test)]
mod refusal_kind_tests {
    use super::*;

    #[test]
    fn every_refusal_has_its_kind() {
        let name = || "n".to_string();
        let cases = [
            (CertRefusal::Missing, "missing"),
            (CertRefusal::Malformed("x".into()), "malformed"),
            (
                CertRefusal::WrongKey {
                    named: PublicKey([1; 32]),
                    authenticated: PublicKey([2; 32]),
                },
                "wrong-key",
            ),
            (
                CertError::Expired {
                    name: name(),
                    not_after: 1,
                    now: 2,
                }
                .into(),
                "expired",
            ),
            (
                CertError::NotYetValid {
                    name: name(),
                    not_before: 2,
                    now: 1,
                }
                .into(),
                "not-yet-valid",
            ),
            (CertError::Revoked(name()).into(), "revoked"),
            (CertError::UnknownIssuer.into(), "unknown-issuer"),
            (CertError::BadSignature(name()).into(), "bad-signature"),
            (CertError::WiderRights(name()).into(), "wider-rights"),
            (CertError::WiderWindow(name()).into(), "wider-window"),
            (CertError::BrokenChain.into(), "invalid"),
            (CertError::Truncated.into(), "invalid"),
        ];
        for (refusal, kind) in cases {
            assert_eq!(refusal.kind(), kind, "{refusal}");
        }
    }
}
