//! Certificates of certified mode: an offline CA binds a node's key to a name, the groups it may
//! use with rights per group, a validity window and the issuer; a CA may delegate a sub-CA whose
//! rights and validity lie within its own.
//!
//! The encoding is ryre's own, compact and versioned (all integers big-endian):
//!
//! ```text
//! "RYC" | version 1 | role (1 CA, 2 node) | services bits | subject Ed25519 key (32)
//!       | issuer Ed25519 key (32) | serial (8) | not_before (8, unix s) | not_after (8, unix s)
//!       | name length (1) | name (UTF-8, 1..=255 bytes)
//!       | grant count (1) | { pattern length (1) | pattern | rights bits (1) } * count
//!       | Ed25519 signature of everything before it by the issuer (64)
//! ```
//!
//! A pattern is a group name, or a prefix ending in `*` that covers every group starting with
//! it (`*` alone covers all groups). Verification is a pure function of the chain, the trusted
//! roots, the revocations and a time the caller supplies: nothing here reads a clock.

use std::fmt;

use super::{verify, PublicKey};

/// The first bytes of every certificate.
pub const CERT_MAGIC: [u8; 3] = *b"RYC";
/// The encoding version this code writes and reads.
pub const CERT_VERSION: u8 = 1;
/// Longest chain a node may present (its own certificate and up to three issuers).
pub const CHAIN_MAX: usize = 4;
/// Most grants in one certificate.
pub const GRANTS_MAX: usize = 64;
/// Size of the fixed part before the name: magic, version, role, services, two keys, serial,
/// validity.
const FIXED_LEN: usize = 3 + 1 + 1 + 1 + 32 + 32 + 8 + 8 + 8;

/// What a certificate's subject may do in the groups a grant covers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(u8);

impl Rights {
    /// Receive the group's shouts (and JOIN it).
    pub const JOIN: Rights = Rights(1);
    /// SHOUT to the group.
    pub const SHOUT: Rights = Rights(2);
    /// WHISPER to the group's members.
    pub const WHISPER: Rights = Rights(4);
    /// All rights.
    pub const ALL: Rights = Rights(7);
    /// No rights.
    pub const NONE: Rights = Rights(0);

    /// The rights of these bits, if every bit is a known right.
    pub fn from_bits(bits: u8) -> Option<Rights> {
        (bits & !Self::ALL.0 == 0).then_some(Rights(bits))
    }

    /// The bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every right of `other` is in `self`.
    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no right is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses `join,shout,whisper` (any order, comma separated; `all` for every right).
    pub fn parse(text: &str) -> Result<Rights, CertError> {
        let mut rights = Rights::NONE;
        for word in text.split(',') {
            rights.0 |= match word.trim() {
                "join" => Self::JOIN.0,
                "shout" => Self::SHOUT.0,
                "whisper" => Self::WHISPER.0,
                "all" => Self::ALL.0,
                other => return Err(CertError::BadRight(other.to_string())),
            };
        }
        Ok(rights)
    }
}

impl std::ops::BitOr for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Rights) -> Rights {
        Rights(self.0 | rhs.0)
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (bit, name) in [(1, "join"), (2, "shout"), (4, "whisper")] {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rights({self})")
    }
}

/// Service rights: what a certificate's subject may publish beyond group traffic.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Services(u8);

impl Services {
    /// Publish log records (`ryre-log`).
    pub const LOG: Services = Services(1);
    /// Publish timer ticks (`ryre-timer`).
    pub const TIMER: Services = Services(2);
    /// Every service right.
    pub const ALL: Services = Services(3);
    /// No service right.
    pub const NONE: Services = Services(0);

    /// The services of these bits, if every bit is known.
    pub fn from_bits(bits: u8) -> Option<Services> {
        (bits & !Self::ALL.0 == 0).then_some(Services(bits))
    }

    /// The bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every service of `other` is in `self`.
    pub fn contains(self, other: Services) -> bool {
        self.0 & other.0 == other.0
    }

    /// Parses `log,timer` (comma separated; `all`, or `none`).
    pub fn parse(text: &str) -> Result<Services, CertError> {
        let mut services = Services::NONE;
        for word in text.split(',') {
            services.0 |= match word.trim() {
                "log" => Self::LOG.0,
                "timer" => Self::TIMER.0,
                "all" => Self::ALL.0,
                "none" => 0,
                other => return Err(CertError::BadService(other.to_string())),
            };
        }
        Ok(services)
    }
}

impl std::ops::BitOr for Services {
    type Output = Services;
    fn bitor(self, rhs: Services) -> Services {
        Services(self.0 | rhs.0)
    }
}

impl fmt::Display for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("none"),
            1 => f.write_str("log"),
            2 => f.write_str("timer"),
            _ => f.write_str("log,timer"),
        }
    }
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Services({self})")
    }
}

/// Whether a certificate may issue others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A certificate authority (a root, self-signed, or a sub-CA).
    Ca,
    /// A node: may not issue.
    Node,
}

/// Rights in the groups a pattern covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    /// A group name, or a prefix ending in `*`.
    pub pattern: String,
    /// The rights in every group the pattern covers.
    pub rights: Rights,
}

impl Grant {
    /// Parses `GROUP=RIGHTS`, e.g. `chat=join,shout` or `logs/*=join`.
    pub fn parse(text: &str) -> Result<Grant, CertError> {
        let (pattern, rights) = text
            .split_once('=')
            .ok_or_else(|| CertError::BadGrant(text.to_string()))?;
        let grant = Grant {
            pattern: pattern.to_string(),
            rights: Rights::parse(rights)?,
        };
        grant.check()?;
        Ok(grant)
    }

    /// Whether this grant's pattern covers `group`.
    pub fn covers(&self, group: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => group.starts_with(prefix),
            None => self.pattern == group,
        }
    }

    /// Whether every group `other`'s pattern covers is covered by this one.
    pub fn covers_pattern(&self, other: &str) -> bool {
        match (self.pattern.strip_suffix('*'), other.strip_suffix('*')) {
            (Some(prefix), Some(child)) => child.starts_with(prefix),
            (Some(prefix), None) => other.starts_with(prefix),
            (None, Some(_)) => false,
            (None, None) => self.pattern == other,
        }
    }

    fn check(&self) -> Result<(), CertError> {
        let p = &self.pattern;
        if p.is_empty() || p.len() > 255 {
            return Err(CertError::BadGrant(p.clone()));
        }
        if p.chars().any(char::is_control) || p[..p.len() - 1].contains('*') {
            return Err(CertError::BadGrant(p.clone()));
        }
        if self.rights.is_empty() {
            return Err(CertError::BadGrant(format!("{p}: no rights")));
        }
        Ok(())
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.pattern, self.rights)
    }
}

/// The signed content of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertBody {
    /// CA or node.
    pub role: Role,
    /// Service rights.
    pub services: Services,
    /// The subject's Ed25519 public key (its CURVE key is the Montgomery form).
    pub subject: [u8; 32],
    /// The issuer's Ed25519 public key (the subject's own for a root).
    pub issuer: [u8; 32],
    /// The issuer's serial number for this certificate (what a revocation names).
    pub serial: u64,
    /// First second of validity (unix time).
    pub not_before: u64,
    /// Last second of validity (unix time).
    pub not_after: u64,
    /// The subject's name (1 to 255 bytes of UTF-8, no control characters).
    pub name: String,
    /// Group rights.
    pub grants: Vec<Grant>,
}

impl CertBody {
    /// The rights this body grants in `group` (the union over the grants that cover it).
    pub fn rights_in(&self, group: &str) -> Rights {
        self.grants
            .iter()
            .filter(|g| g.covers(group))
            .fold(Rights::NONE, |acc, g| acc | g.rights)
    }

    /// Checks the fields an encoder would refuse: name, grants, window.
    pub fn check(&self) -> Result<(), CertError> {
        if self.name.is_empty() || self.name.len() > 255 || self.name.chars().any(char::is_control)
        {
            return Err(CertError::BadName);
        }
        if self.grants.len() > GRANTS_MAX {
            return Err(CertError::TooManyGrants(self.grants.len()));
        }
        for grant in &self.grants {
            grant.check()?;
        }
        if self.not_before > self.not_after {
            return Err(CertError::BadWindow);
        }
        Ok(())
    }

    fn encode_unsigned(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + 2 + self.name.len() + 80);
        out.extend_from_slice(&CERT_MAGIC);
        out.push(CERT_VERSION);
        out.push(match self.role {
            Role::Ca => 1,
            Role::Node => 2,
        });
        out.push(self.services.bits());
        out.extend_from_slice(&self.subject);
        out.extend_from_slice(&self.issuer);
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.extend_from_slice(&self.not_before.to_be_bytes());
        out.extend_from_slice(&self.not_after.to_be_bytes());
        // Lengths fit: `check` ran first.
        out.push(self.name.len() as u8);
        out.extend_from_slice(self.name.as_bytes());
        out.push(self.grants.len() as u8);
        for grant in &self.grants {
            out.push(grant.pattern.len() as u8);
            out.extend_from_slice(grant.pattern.as_bytes());
            out.push(grant.rights.bits());
        }
        out
    }
}

/// A decoded, signed certificate (the signature is checked by [`verify_chain`], not here).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Certificate {
    body: CertBody,
    signature: [u8; 64],
    encoded: Vec<u8>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("name", &self.body.name)
            .field("role", &self.body.role)
            .field("serial", &self.body.serial)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Signs `body` with `sign` (the issuer's Ed25519 signature function) after checking it.
    /// `body.issuer` must be the key `sign` signs with.
    pub fn sign(
        body: CertBody,
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Result<Certificate, CertError> {
        body.check()?;
        let mut encoded = body.encode_unsigned();
        let signature = sign(&encoded);
        encoded.extend_from_slice(&signature);
        Ok(Certificate {
            body,
            signature,
            encoded,
        })
    }

    /// Decodes one certificate from the start of `data`; returns it and the bytes it used.
    /// Never panics, whatever the bytes.
    pub fn decode_prefix(data: &[u8]) -> Result<(Certificate, usize), CertError> {
        let mut r = Reader { data, at: 0 };
        if r.take(3)? != CERT_MAGIC {
            return Err(CertError::BadMagic);
        }
        let version = r.u8()?;
        if version != CERT_VERSION {
            return Err(CertError::BadVersion(version));
        }
        let role = match r.u8()? {
            1 => Role::Ca,
            2 => Role::Node,
            other => return Err(CertError::BadRole(other)),
        };
        let services_bits = r.u8()?;
        let services =
            Services::from_bits(services_bits).ok_or(CertError::BadServices(services_bits))?;
        let subject = r.key()?;
        let issuer = r.key()?;
        let serial = r.u64()?;
        let not_before = r.u64()?;
        let not_after = r.u64()?;
        let name_len = usize::from(r.u8()?);
        let name = std::str::from_utf8(r.take(name_len)?)
            .map_err(|_| CertError::BadName)?
            .to_string();
        let count = usize::from(r.u8()?);
        if count > GRANTS_MAX {
            return Err(CertError::TooManyGrants(count));
        }
        let mut grants = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(r.u8()?);
            let pattern = std::str::from_utf8(r.take(len)?)
                .map_err(|_| CertError::BadGrant("not UTF-8".into()))?
                .to_string();
            let bits = r.u8()?;
            let rights = Rights::from_bits(bits)
                .ok_or(CertError::BadGrant(format!("{pattern}: rights {bits:#x}")))?;
            grants.push(Grant { pattern, rights });
        }
        let signed_len = r.at;
        let mut signature = [0u8; 64];
        signature.copy_from_slice(r.take(64)?);
        let body = CertBody {
            role,
            services,
            subject,
            issuer,
            serial,
            not_before,
            not_after,
            name,
            grants,
        };
        body.check()?;
        let used = r.at;
        debug_assert_eq!(used, signed_len + 64);
        Ok((
            Certificate {
                body,
                signature,
                encoded: data[..used].to_vec(),
            },
            used,
        ))
    }

    /// Decodes exactly one certificate (trailing bytes are an error).
    pub fn decode(data: &[u8]) -> Result<Certificate, CertError> {
        let (cert, used) = Certificate::decode_prefix(data)?;
        if used != data.len() {
            return Err(CertError::Trailing(data.len() - used));
        }
        Ok(cert)
    }

    /// The signed content.
    pub fn body(&self) -> &CertBody {
        &self.body
    }

    /// The encoded bytes (signature included).
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// The subject's CURVE public key (the key its links authenticate), if the Ed25519 key is a
    /// valid point.
    pub fn curve_key(&self) -> Option<PublicKey> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.body.subject).ok()?;
        Some(PublicKey(key.to_montgomery().to_bytes()))
    }

    /// Whether the issuer's signature verifies (and the issuer is the key it names).
    pub fn signature_valid(&self) -> bool {
        let signed = &self.encoded[..self.encoded.len() - 64];
        verify(&self.body.issuer, signed, &self.signature).is_some()
    }

    /// Whether the certificate names itself as its issuer (a root).
    pub fn self_signed(&self) -> bool {
        self.body.issuer == self.body.subject
    }
}

/// Encodes a chain (own certificate first, then its issuers) as the concatenation of the
/// certificates.
pub fn encode_chain(chain: &[Certificate]) -> Vec<u8> {
    chain
        .iter()
        .flat_map(|c| c.as_bytes().iter().copied())
        .collect()
}

/// Decodes a chain encoded by [`encode_chain`]: 1 to [`CHAIN_MAX`] certificates, nothing after.
pub fn decode_chain(mut data: &[u8]) -> Result<Vec<Certificate>, CertError> {
    let mut chain = Vec::new();
    while !data.is_empty() {
        if chain.len() == CHAIN_MAX {
            return Err(CertError::ChainTooLong);
        }
        let (cert, used) = Certificate::decode_prefix(data)?;
        chain.push(cert);
        data = &data[used..];
    }
    if chain.is_empty() {
        return Err(CertError::Truncated);
    }
    Ok(chain)
}

/// What a verified chain lets its subject do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The subject's name.
    pub name: String,
    /// The subject's CURVE key (what its links must authenticate).
    pub key: PublicKey,
    /// The subject's Ed25519 key.
    pub signing_key: [u8; 32],
    /// The subject's grants.
    pub grants: Vec<Grant>,
    /// The subject's service rights.
    pub services: Services,
    /// The end of the chain's validity: the earliest `not_after` in it.
    pub not_after: u64,
    /// The latest `not_before` in the chain: a time known to have passed once it verified.
    pub not_before: u64,
    /// The chain's (issuer, serial) pairs, own certificate first.
    pub serials: Vec<([u8; 32], u64)>,
}

impl Verified {
    /// The rights in `group`.
    pub fn rights_in(&self, group: &str) -> Rights {
        self.grants
            .iter()
            .filter(|g| g.covers(group))
            .fold(Rights::NONE, |acc, g| acc | g.rights)
    }

    /// Whether the subject has every right of `rights` in `group`.
    pub fn may(&self, group: &str, rights: Rights) -> bool {
        self.rights_in(group).contains(rights)
    }
}

/// Whether a revocation set revokes a certificate: `revoked(issuer, serial, ancestors)` is true
/// when a revocation of (`issuer`, `serial`) signed by the issuer or one of `ancestors` (the keys
/// above it in the chain) is known.
pub trait Revoked {
    /// Whether (`issuer`, `serial`) is revoked by a signer among `issuer` and `ancestors`.
    fn revoked(&self, issuer: &[u8; 32], serial: u64, ancestors: &[[u8; 32]]) -> bool;
}

/// No revocations.
impl Revoked for () {
    fn revoked(&self, _: &[u8; 32], _: u64, _: &[[u8; 32]]) -> bool {
        false
    }
}

/// Verifies `chain` (the subject's certificate first, then its issuers, optionally ending with
/// the root) against `roots` (trusted, self-signed CA certificates) at time `now` (unix seconds)
/// with `skew` seconds of allowance either side.
///
/// Checks: every signature; each certificate is issued by the next (or by a root); only CAs
/// issue; each certificate's window lies within its issuer's, and its grants and services are
/// covered by its issuer's; every window contains `now` (give or take `skew`); no certificate is
/// revoked; the first certificate is a node's.
pub fn verify_chain(
    chain: &[Certificate],
    roots: &[Certificate],
    now: u64,
    skew: u64,
    revoked: &impl Revoked,
) -> Result<Verified, CertError> {
    verify_chain_inner(chain, roots, now, skew, revoked, true)
}

/// [`verify_chain`] against roots whose own signatures were checked already (by
/// [`check_root`]): one signature verification fewer per chain.
pub fn verify_chain_checked_roots(
    chain: &[Certificate],
    roots: &[Certificate],
    now: u64,
    skew: u64,
    revoked: &impl Revoked,
) -> Result<Verified, CertError> {
    verify_chain_inner(chain, roots, now, skew, revoked, false)
}

/// Checks that `root` is a valid self-signed CA certificate.
pub fn check_root(root: &Certificate) -> Result<(), CertError> {
    if !root.self_signed() || root.body.role != Role::Ca || !root.signature_valid() {
        return Err(CertError::BadRoot);
    }
    Ok(())
}

fn verify_chain_inner(
    chain: &[Certificate],
    roots: &[Certificate],
    now: u64,
    skew: u64,
    revoked: &impl Revoked,
    check_roots: bool,
) -> Result<Verified, CertError> {
    let first = chain.first().ok_or(CertError::Truncated)?;
    if chain.len() > CHAIN_MAX {
        return Err(CertError::ChainTooLong);
    }
    if first.body.role != Role::Node {
        return Err(CertError::NotANode);
    }
    // The chain up to and including a trusted root.
    let mut path: Vec<&Certificate> = Vec::with_capacity(chain.len() + 1);
    let mut root = None;
    for cert in chain {
        if let Some(r) = roots.iter().find(|r| r.as_bytes() == cert.as_bytes()) {
            root = Some(r);
            break;
        }
        path.push(cert);
    }
    let root = match root {
        Some(r) => r,
        None => {
            let last = path.last().ok_or(CertError::Truncated)?;
            roots
                .iter()
                .find(|r| r.body.subject == last.body.issuer)
                .ok_or(CertError::UnknownIssuer)?
        }
    };
    if check_roots {
        check_root(root)?;
    } else if !root.self_signed() || root.body.role != Role::Ca {
        return Err(CertError::BadRoot);
    }
    let mut not_after = root.body.not_after;
    let mut not_before = root.body.not_before;
    check_window(&root.body, now, skew)?;
    // Walk down from the root: each issuer covers its subject.
    let mut issuer = &root.body;
    let mut ancestors: Vec<[u8; 32]> = vec![root.body.subject];
    let mut serials = Vec::with_capacity(path.len());
    for cert in path.iter().rev() {
        let body = &cert.body;
        if body.issuer != issuer.subject {
            return Err(CertError::BrokenChain);
        }
        if issuer.role != Role::Ca {
            return Err(CertError::NotACa(issuer.name.clone()));
        }
        if !cert.signature_valid() {
            return Err(CertError::BadSignature(body.name.clone()));
        }
        if body.not_before < issuer.not_before || body.not_after > issuer.not_after {
            return Err(CertError::WiderWindow(body.name.clone()));
        }
        if !issuer.services.contains(body.services) {
            return Err(CertError::WiderRights(body.name.clone()));
        }
        for grant in &body.grants {
            let covered = issuer
                .grants
                .iter()
                .filter(|g| g.covers_pattern(&grant.pattern))
                .fold(Rights::NONE, |acc, g| acc | g.rights);
            if !covered.contains(grant.rights) {
                return Err(CertError::WiderRights(body.name.clone()));
            }
        }
        check_window(body, now, skew)?;
        // The issuer is the last of `ancestors`; revocations by it or anyone above count.
        let (own_issuer, above) = ancestors.split_last().ok_or(CertError::BrokenChain)?;
        if revoked.revoked(own_issuer, body.serial, above) {
            return Err(CertError::Revoked(body.name.clone()));
        }
        not_after = not_after.min(body.not_after);
        not_before = not_before.max(body.not_before);
        serials.push((body.issuer, body.serial));
        ancestors.push(body.subject);
        issuer = body;
    }
    let key = first.curve_key().ok_or(CertError::BadKey)?;
    serials.reverse();
    Ok(Verified {
        name: first.body.name.clone(),
        key,
        signing_key: first.body.subject,
        grants: first.body.grants.clone(),
        services: first.body.services,
        not_after,
        not_before,
        serials,
    })
}

fn check_window(body: &CertBody, now: u64, skew: u64) -> Result<(), CertError> {
    if now.saturating_add(skew) < body.not_before {
        return Err(CertError::NotYetValid {
            name: body.name.clone(),
            not_before: body.not_before,
            now,
        });
    }
    if now > body.not_after.saturating_add(skew) {
        return Err(CertError::Expired {
            name: body.name.clone(),
            not_after: body.not_after,
            now,
        });
    }
    Ok(())
}

/// Why a certificate or chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Shorter than its fields say.
    #[error("truncated certificate")]
    Truncated,
    /// Bytes after the certificate.
    #[error("{0} bytes after the certificate")]
    Trailing(usize),
    /// Not a ryre certificate.
    #[error("not a ryre certificate (it starts with \"RYC\")")]
    BadMagic,
    /// An encoding version this code does not read.
    #[error("unknown certificate version {0}")]
    BadVersion(u8),
    /// An unknown role byte.
    #[error("unknown certificate role {0}")]
    BadRole(u8),
    /// Unknown service bits.
    #[error("unknown service bits {0:#x}")]
    BadServices(u8),
    /// An empty, too long, non-UTF-8 or control-character name.
    #[error("a certificate name is 1 to 255 bytes of UTF-8 without control characters")]
    BadName,
    /// A malformed grant.
    #[error("bad grant {0:?} (GROUP=RIGHTS, a group name or a prefix ending in *, rights join,shout,whisper)")]
    BadGrant(String),
    /// An unknown right.
    #[error("unknown right {0:?} (join, shout, whisper, all)")]
    BadRight(String),
    /// An unknown service.
    #[error("unknown service {0:?} (log, timer, all, none)")]
    BadService(String),
    /// Too many grants.
    #[error("{0} grants (at most 64)")]
    TooManyGrants(usize),
    /// `not_before` after `not_after`.
    #[error("the validity window ends before it starts")]
    BadWindow,
    /// More certificates than [`CHAIN_MAX`].
    #[error("certificate chain longer than 4")]
    ChainTooLong,
    /// The first certificate of a chain is a CA's.
    #[error("the presented certificate is a CA's, not a node's")]
    NotANode,
    /// No trusted root issued the chain.
    #[error("issued by a CA this node does not trust")]
    UnknownIssuer,
    /// A trusted root that is not a valid self-signed CA certificate.
    #[error("a trusted root is not a valid self-signed CA certificate")]
    BadRoot,
    /// A certificate not issued by the next one.
    #[error("the chain is broken (a certificate not issued by the next)")]
    BrokenChain,
    /// A node certificate used to issue another.
    #[error("{0:?} is a node's certificate and may not issue")]
    NotACa(String),
    /// A signature that does not verify (tampered or forged).
    #[error("the signature of {0:?} does not verify (tampered or forged)")]
    BadSignature(String),
    /// A certificate valid beyond its issuer's window.
    #[error("{0:?} is valid beyond its issuer's window")]
    WiderWindow(String),
    /// A certificate granting rights its issuer lacks.
    #[error("{0:?} grants rights its issuer does not have")]
    WiderRights(String),
    /// Not valid yet.
    #[error("{name:?} is not valid before {not_before} (now {now})")]
    NotYetValid {
        /// The certificate's name.
        name: String,
        /// Its first valid second.
        not_before: u64,
        /// The time used.
        now: u64,
    },
    /// Expired.
    #[error("{name:?} expired at {not_after} (now {now})")]
    Expired {
        /// The certificate's name.
        name: String,
        /// Its last valid second.
        not_after: u64,
        /// The time used.
        now: u64,
    },
    /// Revoked.
    #[error("{0:?} is revoked")]
    Revoked(String),
    /// The subject's key is not a valid Ed25519 point.
    #[error("the certificate's key is not a valid Ed25519 key")]
    BadKey,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CertError> {
        let end = self.at.checked_add(n).ok_or(CertError::Truncated)?;
        let out = self.data.get(self.at..end).ok_or(CertError::Truncated)?;
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, CertError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, CertError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }

    fn key(&mut self) -> Result<[u8; 32], CertError> {
        let mut b = [0u8; 32];
        b.copy_from_slice(self.take(32)?);
        Ok(b)
    }
}
