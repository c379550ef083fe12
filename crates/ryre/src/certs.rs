//! Certificate files for certified mode: an offline CA, the node certificates it issues, and
//! revocation lists. The encodings and every check are [`ryre_proto::security::cert`] and
//! [`ryre_proto::security::revocation`]; this module reads and writes files.
//!
//! # Files
//!
//! ```text
//! DIR/NAME.cert     a certificate chain: NAME's certificate first, then its issuers up to (and
//!                   excluding) the root; a root CA's file holds its self-signed certificate
//! DIR/NAME.secret   NAME's key pair, mode 0600: the key-pair file of `ryre keys` (see
//!                   [`crate::keys`]), so a certified node's key is also a secure-mode key
//! FILE.revocations  signed revocations (any number, any signers)
//! ```
//!
//! Certificate and revocation files are text: `#` comment lines (ignored; ryre writes what the
//! file holds in readable form there), and one armored block of standard base64 between
//! `-----BEGIN RYRE CERTIFICATES-----` and `-----END RYRE CERTIFICATES-----` (or `REVOCATIONS`).
//! A CA's secret never leaves the CA's machine: issuing and revoking read it, nodes never do.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ryre_proto::security::cert::{decode_chain, encode_chain, CertBody};
use ryre_proto::security::revocation::{Inserted, Revocation, RevocationError, RevocationSet};
use ryre_proto::security::KeyPair;

use crate::keys::{self, KeyFileError};

pub use ryre_proto::security::cert::{
    CertError, Certificate, Grant, Rights, Role, Services, Verified,
};
pub use ryre_proto::security::service::{
    sign as sign_service, signed_bytes, verify as verify_service, SIGNATURE_LEN,
};

/// Why a service message's signature was not accepted ([`crate::Node::check_signature`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// This node is not in certified mode: it admits no certificates to check against.
    #[error("this node is not certified")]
    NotCertified,
    /// The peer is not one this node's heart admitted (unknown, gone, refused or revoked).
    #[error("peer {0} is not an admitted certified peer")]
    NotAdmitted(crate::PeerId),
    /// The peer's certificate lacks the service right.
    #[error("the certificate of {peer} does not grant the {service} service")]
    NotEntitled {
        /// The peer.
        peer: crate::PeerId,
        /// The right it lacks.
        service: Services,
    },
    /// The signature is not the peer's over these bytes (forged or tampered).
    #[error("the signature is not {0}'s over this message")]
    Forged(crate::PeerId),
}

/// The armor label of certificate files.
const CERT_LABEL: &str = "RYRE CERTIFICATES";
/// The armor label of revocation files.
const REVOCATION_LABEL: &str = "RYRE REVOCATIONS";
/// Largest certificate file read.
const MAX_CERT_FILE: u64 = 64 * 1024;
/// Largest revocation file read (about 90,000 revocations).
pub const MAX_REVOCATION_FILE: u64 = 16 * 1024 * 1024;

/// Why a certificate or revocation file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertFileError {
    /// The key pair file (`NAME.secret`) or a directory.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// A file that could not be read or written.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// Not an armored ryre file.
    #[error("{}: {what}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A certificate that does not decode.
    #[error("{}: {source}", .path.display())]
    Cert {
        /// The file.
        path: PathBuf,
        /// Why.
        source: CertError,
    },
    /// The node's own certificate does not verify now (expired, not yet valid, from a CA it
    /// does not trust, revoked, tampered...): the node does not start.
    #[error("own certificate {}: {source}", .path.display())]
    Own {
        /// The certificate file.
        path: PathBuf,
        /// Why.
        source: CertError,
    },
    /// A revocation that does not decode or verify.
    #[error("{}: {source}", .path.display())]
    Revocation {
        /// The file.
        path: PathBuf,
        /// Why.
        source: RevocationError,
    },
    /// The secret is not the key the certificate names.
    #[error("{} is not the key pair of {}: mixed-up files", .secret.display(), .cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The secret file.
        secret: PathBuf,
    },
    /// A node's certificate used to issue or revoke.
    #[error("{} is a node's certificate, not a CA's: it cannot issue or revoke", .path.display())]
    NotACa {
        /// The certificate file.
        path: PathBuf,
    },
    /// A revocation of a certificate the CA has no authority over.
    #[error("{} was not issued by {name} or a CA below it: {name} cannot revoke it", .path.display())]
    NotIssuer {
        /// The certificate file.
        path: PathBuf,
        /// The CA's name.
        name: String,
    },
    /// A file that exists where a new one was asked for.
    #[error("{} already exists: not replacing it (--force replaces it)", .path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A request the CA refuses (bad name, rights beyond the CA's own, a window outside its own).
    #[error("{0}")]
    Refused(String),
    /// The system's random number generator failed.
    #[error("the system's random number generator failed: {0}")]
    Random(getrandom::Error),
}

fn io_error<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(io::Error) -> CertFileError + 'a {
    move |source| CertFileError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// A certificate chain and its key pair: a CA's (to issue and revoke) or a node's (`--cert`).
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// `DIR/NAME`: the files are `DIR/NAME.cert` and `DIR/NAME.secret`.
    pub base: PathBuf,
    /// The key pair the first certificate names.
    pub keys: KeyPair,
    /// The chain: own certificate first, then its issuers (a root's is its own certificate).
    pub chain: Vec<Certificate>,
}

/// `PATH.cert` and `PATH.secret` of a base path that may end in either.
pub fn paths(path: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let text = path.to_string_lossy();
    let base = text
        .strip_suffix(".cert")
        .or_else(|| text.strip_suffix(".secret"))
        .map(PathBuf::from)
        .unwrap_or_else(|| path.to_path_buf());
    let with = |ext: &str| {
        let mut s = base.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    (with(".cert"), with(".secret"), base)
}

impl CertFiles {
    /// Loads `PATH.cert` and `PATH.secret` (`PATH` may name either file), checking that the
    /// secret is the key the certificate names. Does not verify the chain (a node verifies
    /// its own chain against its trusted roots when it starts).
    pub fn load(path: impl AsRef<Path>) -> Result<CertFiles, CertFileError> {
        let (cert, secret, base) = paths(path.as_ref());
        let chain = read_chain(&cert)?;
        let (keys, _) = keys::read_secret(&secret)?;
        if chain[0].body().subject != keys.signing_public() {
            return Err(CertFileError::KeyMismatch { cert, secret });
        }
        Ok(CertFiles { base, keys, chain })
    }

    /// The certificate file.
    pub fn cert_path(&self) -> PathBuf {
        paths(&self.base).0
    }

    /// The key pair file.
    pub fn secret_path(&self) -> PathBuf {
        paths(&self.base).1
    }

    /// The own certificate.
    pub fn cert(&self) -> &Certificate {
        &self.chain[0]
    }

    fn require_ca(&self) -> Result<(), CertFileError> {
        if self.cert().body().role == Role::Ca {
            Ok(())
        } else {
            Err(CertFileError::NotACa {
                path: self.cert_path(),
            })
        }
    }
}

/// What to put in a new certificate.
#[derive(Debug, Clone)]
pub struct Request {
    /// The subject's name.
    pub name: String,
    /// CA (a sub-CA, when issued by a CA) or node.
    pub role: Role,
    /// Group rights.
    pub grants: Vec<Grant>,
    /// Service rights.
    pub services: Services,
    /// Start of validity (unix seconds).
    pub not_before: u64,
    /// End of validity (unix seconds).
    pub not_after: u64,
}

fn random_serial() -> Result<u64, CertFileError> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(CertFileError::Random)?;
    Ok(u64::from_be_bytes(b))
}

fn check_new(path: &Path, force: bool) -> Result<(), CertFileError> {
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(CertFileError::Exists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn write_pair(
    dir: &Path,
    keys: &KeyPair,
    chain: Vec<Certificate>,
    force: bool,
) -> Result<CertFiles, CertFileError> {
    let name = chain[0].body().name.clone();
    keys::check_name(dir, &name)?;
    if dir.exists() {
        keys::check_dir(dir)?;
    } else {
        fs::create_dir_all(dir).map_err(io_error(dir, "create"))?;
    }
    let base = dir.join(&name);
    let (cert_path, secret_path, _) = paths(&base);
    check_new(&cert_path, force)?;
    check_new(&secret_path, force)?;
    let secret_name = format!("{name}.secret");
    keys::write_file(
        dir,
        &secret_name,
        keys::secret_text(keys, &name).as_bytes(),
        0o600,
        force,
    )?;
    keys::write_file(
        dir,
        &format!("{name}.cert"),
        chain_text(&chain).as_bytes(),
        0o644,
        force,
    )?;
    Ok(CertFiles {
        base,
        keys: keys.clone(),
        chain,
    })
}

/// Makes a root CA: a new key pair and its self-signed certificate (all groups, all rights,
/// all services) in `dir/NAME.cert` and `dir/NAME.secret`.
pub fn create_ca(
    dir: impl AsRef<Path>,
    name: &str,
    not_before: u64,
    not_after: u64,
    force: bool,
) -> Result<CertFiles, CertFileError> {
    let keys = keys::try_generate().map_err(CertFileError::Random)?;
    let body = CertBody {
        role: Role::Ca,
        services: Services::ALL,
        subject: keys.signing_public(),
        issuer: keys.signing_public(),
        serial: random_serial()?,
        not_before,
        not_after,
        name: name.to_string(),
        grants: vec![Grant {
            pattern: "*".into(),
            rights: ryre_proto::security::cert::Rights::ALL,
        }],
    };
    let cert = Certificate::sign(body, |m| keys.sign(m))
        .map_err(|e| CertFileError::Refused(e.to_string()))?;
    write_pair(dir.as_ref(), &keys, vec![cert], force)
}

/// Issues a certificate (a node's, or a sub-CA's) signed by `ca` for a new key pair, written to
/// `dir/NAME.cert` (the chain: the new certificate, then `ca`'s chain without its root) and
/// `dir/NAME.secret`. Refused when it would grant more than `ca` has or outlive it (a chain
/// that every node would refuse).
pub fn issue(
    ca: &CertFiles,
    request: &Request,
    dir: impl AsRef<Path>,
    force: bool,
) -> Result<CertFiles, CertFileError> {
    ca.require_ca()?;
    let parent = ca.cert().body();
    if request.not_before < parent.not_before || request.not_after > parent.not_after {
        return Err(CertFileError::Refused(format!(
            "the validity asked for ({} to {}) is outside {}'s own ({} to {}): shorten --days",
            crate::certs::format_time(request.not_before),
            crate::certs::format_time(request.not_after),
            parent.name,
            format_time(parent.not_before),
            format_time(parent.not_after),
        )));
    }
    if !parent.services.contains(request.services) {
        return Err(CertFileError::Refused(format!(
            "{} may not grant services {} (it has {})",
            parent.name, request.services, parent.services
        )));
    }
    for grant in &request.grants {
        let have = parent
            .grants
            .iter()
            .filter(|g| g.covers_pattern(&grant.pattern))
            .fold(ryre_proto::security::cert::Rights::NONE, |a, g| {
                a | g.rights
            });
        if !have.contains(grant.rights) {
            return Err(CertFileError::Refused(format!(
                "{} may not grant {grant} (it has {} there)",
                parent.name, have
            )));
        }
    }
    issue_unchecked(ca, request, dir, force)
}

/// Issues as [`issue`] does, without its checks: the CA signs whatever `request` asks (rights
/// it does not have, a window outside its own or already over). For tests of the verifiers
/// (`ryre cert issue --unchecked`): every node refuses such a chain, and a node does not start
/// with one. `ca` must still be a CA.
pub fn issue_unchecked(
    ca: &CertFiles,
    request: &Request,
    dir: impl AsRef<Path>,
    force: bool,
) -> Result<CertFiles, CertFileError> {
    ca.require_ca()?;
    let keys = keys::try_generate().map_err(CertFileError::Random)?;
    let body = CertBody {
        role: request.role,
        services: request.services,
        subject: keys.signing_public(),
        issuer: ca.keys.signing_public(),
        serial: random_serial()?,
        not_before: request.not_before,
        not_after: request.not_after,
        name: request.name.clone(),
        grants: request.grants.clone(),
    };
    let cert = Certificate::sign(body, |m| ca.keys.sign(m))
        .map_err(|e| CertFileError::Refused(e.to_string()))?;
    let mut chain = vec![cert];
    chain.extend(ca.chain.iter().filter(|c| !c.self_signed()).cloned());
    write_pair(dir.as_ref(), &keys, chain, force)
}

/// Revokes the first certificate of `chain` (read from `path`) at `now`, signed by `ca`, and adds
/// the revocation to the revocation file `out` (made if missing). `ca` must be the issuer or a
/// CA above it in the chain. Returns the revocation and the file's new number of entries.
pub fn revoke(
    ca: &CertFiles,
    path: &Path,
    chain: &[Certificate],
    now: u64,
    out: &Path,
) -> Result<(Revocation, usize), CertFileError> {
    ca.require_ca()?;
    let target = chain.first().ok_or_else(|| CertFileError::Malformed {
        path: path.to_path_buf(),
        what: "no certificate in it".into(),
    })?;
    let me = ca.keys.signing_public();
    if !chain.iter().any(|c| c.body().issuer == me) {
        return Err(CertFileError::NotIssuer {
            path: path.to_path_buf(),
            name: ca.cert().body().name.clone(),
        });
    }
    let revocation = Revocation::sign(target.body().issuer, target.body().serial, now, me, |m| {
        ca.keys.sign(m)
    });
    let mut set = RevocationSet::new();
    if fs::symlink_metadata(out).is_ok() {
        for r in read_revocations(out)? {
            set.insert(r);
        }
    }
    set.add_authority(me);
    set.insert(revocation);
    write_revocations(out, &set)?;
    Ok((revocation, set.len()))
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, CertFileError> {
    let file = fs::File::open(path).map_err(io_error(path, "read"))?;
    let meta = file.metadata().map_err(io_error(path, "read"))?;
    if !meta.is_file() {
        return Err(CertFileError::Malformed {
            path: path.to_path_buf(),
            what: "not a regular file".into(),
        });
    }
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(path, "read"))?;
    if bytes.len() as u64 > cap {
        return Err(CertFileError::Malformed {
            path: path.to_path_buf(),
            what: format!("larger than {cap} bytes"),
        });
    }
    Ok(bytes)
}

/// The bytes of the armored block labelled `label` in `text`.
pub fn dearmor(path: &Path, text: &[u8], label: &str) -> Result<Vec<u8>, CertFileError> {
    let bad = |what: String| CertFileError::Malformed {
        path: path.to_path_buf(),
        what,
    };
    let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8 text".into()))?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut body: Option<String> = None;
    let mut done = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if done {
            return Err(bad(format!("line {}: text after the {end} line", n + 1)));
        }
        match &mut body {
            None if line == begin => body = Some(String::new()),
            None => return Err(bad(format!("line {}: expected {begin}", n + 1))),
            Some(_) if line == end => done = true,
            Some(b) => b.push_str(line),
        }
    }
    if !done {
        return Err(bad(format!(
            "no {begin} ... {end} block (not a ryre file of this kind?)"
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.unwrap_or_default())
        .map_err(|e| bad(format!("bad base64: {e}")))
}

fn armor(label: &str, comments: &[String], bytes: &[u8]) -> String {
    let mut out = String::new();
    for c in comments {
        out.push_str("# ");
        out.push_str(c);
        out.push('\n');
    }
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn format_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A one-line description of a certificate (what the comment lines of a file say).
pub fn describe(cert: &Certificate) -> String {
    let b = cert.body();
    let role = match b.role {
        Role::Ca if cert.self_signed() => "root CA",
        Role::Ca => "CA",
        Role::Node => "node",
    };
    let grants: Vec<String> = b.grants.iter().map(ToString::to_string).collect();
    format!(
        "{} ({role}), serial {:016x}, valid {} to {}, groups {}, services {}",
        b.name,
        b.serial,
        format_time(b.not_before),
        format_time(b.not_after),
        if grants.is_empty() {
            "none".to_string()
        } else {
            grants.join(" ")
        },
        b.services
    )
}

/// The text of a certificate file holding `chain`.
pub fn chain_text(chain: &[Certificate]) -> String {
    let mut comments = vec!["ryre certificate chain (certified mode): not secret".to_string()];
    comments.extend(chain.iter().map(describe));
    armor(CERT_LABEL, &comments, &encode_chain(chain))
}

/// Reads a certificate file: its chain (1 to 4 certificates; signatures are checked when the
/// chain is verified).
pub fn read_chain(path: impl AsRef<Path>) -> Result<Vec<Certificate>, CertFileError> {
    let path = path.as_ref();
    let bytes = read_capped(path, MAX_CERT_FILE)?;
    let raw = dearmor(path, &bytes, CERT_LABEL)?;
    decode_chain(&raw).map_err(|source| CertFileError::Cert {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a revocation file: every revocation in it, each signature verified.
pub fn read_revocations(path: impl AsRef<Path>) -> Result<Vec<Revocation>, CertFileError> {
    let path = path.as_ref();
    let bytes = read_capped(path, MAX_REVOCATION_FILE)?;
    let raw = dearmor(path, &bytes, REVOCATION_LABEL)?;
    Revocation::decode_list(&raw).map_err(|source| CertFileError::Revocation {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `set` to the revocation file `path` (replacing it atomically).
pub fn write_revocations(path: &Path, set: &RevocationSet) -> Result<(), CertFileError> {
    write_revocations_raw(path, &set.encode())
}

/// The wall clock in unix seconds (0 before 1970: a device without a real-time clock).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes revocations, encoded one after the other, to the revocation file `path` (replacing it
/// atomically).
pub fn write_revocations_raw(path: &Path, raw: &[u8]) -> Result<(), CertFileError> {
    let count = raw.len() / ryre_proto::security::revocation::REVOCATION_LEN;
    let comments = vec![
        format!("ryre revocation list: {count} revocations, not secret"),
        "hand it to nodes with --revocations FILE; nodes also pass revocations on to peers".into(),
    ];
    let text = armor(REVOCATION_LABEL, &comments, raw);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file = path
        .file_name()
        .ok_or_else(|| CertFileError::Malformed {
            path: path.to_path_buf(),
            what: "not a file name".into(),
        })?
        .to_string_lossy()
        .into_owned();
    keys::write_file(&dir, &file, text.as_bytes(), 0o644, true)?;
    Ok(())
}

/// Adds the revocations of `path` to `set`; returns how many were new.
pub fn load_revocations_into(
    path: impl AsRef<Path>,
    set: &mut RevocationSet,
) -> Result<usize, CertFileError> {
    let mut new = 0;
    for r in read_revocations(path)? {
        if set.insert(r) == Inserted::New {
            new += 1;
        }
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_time(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn armor_round_trips_and_refuses_junk() {
        let p = Path::new("x");
        let text = armor(CERT_LABEL, &["hi".into()], &[1, 2, 3, 250]);
        assert_eq!(
            dearmor(p, text.as_bytes(), CERT_LABEL).unwrap(),
            vec![1, 2, 3, 250]
        );
        assert!(dearmor(p, text.as_bytes(), REVOCATION_LABEL).is_err());
        assert!(dearmor(p, b"junk", CERT_LABEL).is_err());
        let extra = format!("{text}more\n");
        assert!(dearmor(p, extra.as_bytes(), CERT_LABEL).is_err());
        let cut = text.replace("-----END RYRE CERTIFICATES-----\n", "");
        assert!(dearmor(p, cut.as_bytes(), CERT_LABEL).is_err());
    }

    #[test]
    fn a_ca_issues_and_revokes_and_refuses_what_it_may_not_grant() {
        let dir = tempdir();
        let ca = create_ca(&dir, "root", 1000, 100_000, false).unwrap();
        assert!(create_ca(&dir, "root", 1000, 100_000, false).is_err());
        let req = Request {
            name: "alice".into(),
            role: Role::Node,
            grants: vec![Grant::parse("chat=join,shout").unwrap()],
            services: Services::LOG,
            not_before: 1000,
            not_after: 50_000,
        };
        let alice = issue(&ca, &req, &dir, false).unwrap();
        let loaded = CertFiles::load(dir.join("alice.cert")).unwrap();
        assert_eq!(loaded.chain, alice.chain);
        assert_eq!(loaded.keys.public(), alice.keys.public());
        // A node may not issue.
        assert!(matches!(
            issue(
                &alice,
                &Request {
                    name: "bob".into(),
                    ..req.clone()
                },
                &dir,
                false
            ),
            Err(CertFileError::NotACa { .. })
        ));
        // Outside the CA's window.
        let long = Request {
            name: "long".into(),
            not_after: 200_000,
            ..req.clone()
        };
        assert!(matches!(
            issue(&ca, &long, &dir, false),
            Err(CertFileError::Refused(_))
        ));
        // A sub-CA with less, and what it may not grant.
        let sub_req = Request {
            name: "sub".into(),
            role: Role::Ca,
            grants: vec![Grant::parse("chat=join").unwrap()],
            ..req.clone()
        };
        let sub = issue(&ca, &sub_req, &dir, false).unwrap();
        assert_eq!(sub.chain.len(), 1);
        let wide = Request {
            name: "carol".into(),
            ..req.clone()
        };
        assert!(matches!(
            issue(&sub, &wide, &dir, false),
            Err(CertFileError::Refused(_))
        ));
        let narrow = Request {
            name: "dave".into(),
            grants: vec![Grant::parse("chat=join").unwrap()],
            ..req
        };
        let dave = issue(&sub, &narrow, &dir, false).unwrap();
        assert_eq!(dave.chain.len(), 2);
        // The root revokes dave (issued by its sub-CA); the sub-CA cannot revoke alice.
        let out = dir.join("list.revocations");
        let (_, n) = revoke(&ca, &dir.join("dave.cert"), &dave.chain, 2000, &out).unwrap();
        assert_eq!(n, 1);
        assert!(matches!(
            revoke(&sub, &dir.join("alice.cert"), &alice.chain, 2000, &out),
            Err(CertFileError::NotIssuer { .. })
        ));
        let (_, n) = revoke(&ca, &dir.join("alice.cert"), &alice.chain, 2000, &out).unwrap();
        assert_eq!(n, 2);
        assert_eq!(read_revocations(&out).unwrap().len(), 2);
        // A mixed-up secret is refused.
        fs::copy(dir.join("alice.secret"), dir.join("mix.secret")).unwrap();
        fs::copy(dir.join("dave.cert"), dir.join("mix.cert")).unwrap();
        assert!(matches!(
            CertFiles::load(dir.join("mix")),
            Err(CertFileError::KeyMismatch { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    fn tempdir() -> PathBuf {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        let d = std::env::temp_dir().join(format!("ryre-certs-{:016x}", u64::from_be_bytes(b)));
        fs::create_dir_all(&d).unwrap();
        d
    }
}
