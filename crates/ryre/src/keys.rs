//! Key files for secure mode: a node's key pair, its public key, and the public keys of the peers
//! it trusts, in a key directory.
//!
//! # Key files
//!
//! A key directory holds a node's key pair and the public keys of the peers it accepts:
//!
//! ```text
//! DIR/node.secret      the key pair (mode 0600, checked at every load)
//! DIR/node.pub         its public half: give it to the peers that should trust this node
//! DIR/peers/*          one public key file per trusted peer (any file name)
//! ```
//!
//! The files are ZPL text (ZeroMQ RFC 4) in the layout of CZMQ's certificates (`zcert`), so
//! CZMQ's `zcert_load` reads both of ours, and a C Zyre user's public certificate can be dropped
//! into `peers/` as it is. `node.secret`:
//!
//! ```text
//! #   ****  ryre node key pair: SECRET, keep this file private  ****
//! metadata
//!     name = "laptop"
//! curve
//!     public-key = "<40 Z85 characters: the CURVE public key>"
//!     secret-key = "<40 Z85 characters: the CURVE secret key, as in a zcert>"
//!     ryre-seed = "<40 Z85 characters: the Ed25519 seed the keys derive from>"
//! ```
//!
//! `node.pub` is the same without `secret-key` and `ryre-seed`: exactly a zcert public file
//! (`metadata` with `name`, `curve` with `public-key`).
//!
//! A ryre identity is an Ed25519 key pair ([`KeyPair`]); its CURVE key pair is derived from it
//! (the Montgomery form of the public key, the clamped scalar), so a signed beacon proves the
//! CURVE key a link authenticates. `ryre-seed` is the only secret that matters: `secret-key` and
//! `public-key` are there for CZMQ and for people, and a file whose keys are not what its seed
//! gives is refused as tampered or mixed up. A CZMQ secret certificate (no `ryre-seed`) cannot be
//! a ryre node's key pair, since its CURVE key has no Ed25519 key behind it; make a ryre one
//! with `ryre keys new DIR`.
//!
//! Reading is strict, and every error names the file: a secret readable by group or others
//! (checked on the open file, before reading it), a malformed line (with its number), a key that
//! is not 40 Z85 characters, a key starting with a 0 byte (C Zyre drops such beacons), a secret
//! file among the peers (names ending in `.secret` or `_secret`, or holding a secret key).
//! Files in `peers/` are read in name order; subdirectories there are ignored. A node trusts the
//! keys in `peers/` and its own key, so nodes that share one key directory trust each other.
//!
//! Secrets are written with mode 0600 from the start (the file is created with that mode, never
//! changed after writing); replacing one (`force`) writes a new file and renames it over the old.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ryre_proto::security::{z85, KeyError};
pub use ryre_proto::security::{KeyPair, PublicKey, Trust};

pub use ryre_proto::security::zpl;

use zpl::Zpl;

/// The key pair's file name in a key directory.
pub const SECRET_FILE: &str = "node.secret";
/// The public key's file name in a key directory.
pub const PUBLIC_FILE: &str = "node.pub";
/// The directory of trusted peers' public key files, in a key directory.
pub const PEERS_DIR: &str = "peers";
/// Largest key file read, in bytes (a key file is a few hundred).
pub const MAX_FILE_LEN: u64 = 64 * 1024;
/// Longest node name written to a key file, in bytes (ZRE's string limit).
pub const MAX_NAME_LEN: usize = 255;

/// Why a key directory or key file cannot be used. Every variant names the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The key directory does not exist.
    #[error("key directory {} does not exist (make one with `ryre keys new {}`)", .path.display(), .path.display())]
    NoDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// The path exists but is not a directory.
    #[error("{} is not a directory", .path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done ("read", "create", ...).
        action: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// A secret file that group or others may read or write.
    #[error("{} is {} by others (mode {mode:04o}): chmod 600 {}", .path.display(), if mode & 0o044 != 0 { "readable" } else { "writable" }, .path.display())]
    Exposed {
        /// The secret file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a key file: a ZPL syntax error, or an entry without a value.
    #[error("{}: line {line}: {what}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong there.
        what: String,
    },
    /// A required entry is missing.
    #[error("{}: no {entry} in it (not a key file?)", .path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// The entry, as a ZPL path (`curve/public-key`).
        entry: &'static str,
    },
    /// A key that is not 40 characters long: truncated or damaged.
    #[error("{}: line {line}: {entry} is {len} characters long, a key is 40 Z85 characters (truncated?)", .path.display())]
    KeyLength {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The entry.
        entry: &'static str,
        /// The length found, in characters.
        len: usize,
    },
    /// A key of the right length that is not Z85.
    #[error("{}: line {line}: {entry} is not a key: {reason}", .path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The entry.
        entry: &'static str,
        /// Why not.
        reason: KeyError,
    },
    /// A key that is not the one the key pair's seed gives.
    #[error("{}: {entry} is not the key that the ryre-seed gives: a tampered or mixed-up key file", .path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The entry that does not match.
        entry: &'static str,
    },
    /// A CZMQ secret certificate: CURVE keys without the Ed25519 seed ryre needs.
    #[error("{} is a CZMQ certificate without ryre-seed: made by CZMQ, not ryre: ryre needs its own key pair, make one with `ryre keys new`", .path.display())]
    NotRyre {
        /// The file.
        path: PathBuf,
    },
    /// A secret where a public key file belongs (in `peers/`, or given as a peer's key).
    #[error("{} is a secret key file: a secret in the wrong place (only public key files, like node.pub, go to peers)", .path.display())]
    Secret {
        /// The file.
        path: PathBuf,
    },
    /// Not a regular file (a directory, a FIFO, a device).
    #[error("{} is not a regular file", .path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A public key file where a key pair was expected.
    #[error("{} is a public key file, not a key pair (it has no curve/ryre-seed)", .path.display())]
    NotSecret {
        /// The file.
        path: PathBuf,
    },
    /// A public key whose first byte is 0 (C Zyre drops beacons with such keys).
    #[error("{}: the public key starts with a 0 byte, which Zyre refuses", .path.display())]
    ZeroKey {
        /// The file.
        path: PathBuf,
    },
    /// A key directory without `node.secret`.
    #[error("no node.secret in key directory {} (make one with `ryre keys new {}`)", .path.display(), .path.display())]
    NoSecret {
        /// The directory.
        path: PathBuf,
    },
    /// A file that is not replaced without `force`.
    #[error("{} already exists: not replacing it", .path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A node name that cannot be written to a key file.
    #[error("{}: bad node name: {reason}", .path.display())]
    BadName {
        /// The key directory.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// A file too big to be a key file.
    #[error("{} is {len} bytes or more, a key file is at most {MAX_FILE_LEN} bytes", .path.display())]
    TooBig {
        /// The file.
        path: PathBuf,
        /// Its length (at least).
        len: u64,
    },
    /// The system's random number generator failed.
    #[error("cannot make a key pair for {}: the system's random number generator failed: {error}", .path.display())]
    Random {
        /// The key directory.
        path: PathBuf,
        /// The error.
        error: getrandom::Error,
    },
}

impl KeyFileError {
    /// The file or directory this error is about.
    pub fn path(&self) -> &Path {
        match self {
            KeyFileError::NoDirectory { path }
            | KeyFileError::NotADirectory { path }
            | KeyFileError::Io { path, .. }
            | KeyFileError::Exposed { path, .. }
            | KeyFileError::Malformed { path, .. }
            | KeyFileError::Missing { path, .. }
            | KeyFileError::KeyLength { path, .. }
            | KeyFileError::BadKey { path, .. }
            | KeyFileError::Mismatch { path, .. }
            | KeyFileError::NotRyre { path }
            | KeyFileError::Secret { path }
            | KeyFileError::NotSecret { path }
            | KeyFileError::NotAFile { path }
            | KeyFileError::ZeroKey { path }
            | KeyFileError::NoSecret { path }
            | KeyFileError::Exists { path }
            | KeyFileError::BadName { path, .. }
            | KeyFileError::TooBig { path, .. }
            | KeyFileError::Random { path, .. } => path,
        }
    }
}

pub(crate) fn io_error<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(io::Error) -> KeyFileError + 'a {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// A new random key pair, or the random number generator's error. Seeds whose CURVE public key
/// starts with a 0 byte (one in 256) are drawn again.
pub fn try_generate() -> Result<KeyPair, getrandom::Error> {
    loop {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        if let Ok(keys) = KeyPair::from_seed(seed) {
            return Ok(keys);
        }
    }
}

/// A new random key pair (see [`try_generate`]).
///
/// # Panics
///
/// If the operating system's random number generator fails (it does not on a working system;
/// [`try_generate`] returns the error instead).
pub fn generate() -> KeyPair {
    match try_generate() {
        Ok(keys) => keys,
        Err(e) => panic!("the system's random number generator failed: {e}"),
    }
}

/// Whether a file name says "secret" (`node.secret`, CZMQ's `name_secret`).
pub fn is_secret_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".secret") || n.ends_with("_secret"))
}

/// The text of a key pair file.
pub(crate) fn secret_text(keys: &KeyPair, name: &str) -> String {
    let secret = z85::encode(&keys.curve_secret()).unwrap_or_default();
    let seed = z85::encode(&keys.seed()).unwrap_or_default();
    format!(
        "#   ****  ryre node key pair: SECRET, keep this file private  ****\n\
         #   The public half is node.pub, next to it: give that one to your peers.\n\
         metadata\n    name = \"{name}\"\n\
         curve\n    public-key = \"{}\"\n    secret-key = \"{secret}\"\n    ryre-seed = \"{seed}\"\n",
        keys.public().to_z85()
    )
}

/// The text of a public key file (a CZMQ zcert public certificate).
fn public_text(key: &PublicKey, name: &str) -> String {
    format!(
        "#   ****  ryre node public key (a ZeroMQ CURVE certificate, CZMQ zcert format)  ****\n\
         #   Peers that should trust this node copy it into the peers directory of their key\n\
         #   directory: `ryre keys allow DIR {PUBLIC_FILE}`.\n\
         metadata\n    name = \"{name}\"\n\
         curve\n    public-key = \"{}\"\n",
        key.to_z85()
    )
}

/// Checks that `name` can be written as a quoted ZPL value (ZPL has no escapes).
pub(crate) fn check_name(dir: &Path, name: &str) -> Result<(), KeyFileError> {
    let bad = |reason: String| KeyFileError::BadName {
        path: dir.to_path_buf(),
        reason,
    };
    if name.len() > MAX_NAME_LEN {
        return Err(bad(format!("{} bytes, at most {MAX_NAME_LEN}", name.len())));
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || *c == '"') {
        return Err(bad(format!("{name:?} holds {c:?}")));
    }
    Ok(())
}

/// Reads an opened file, at most [`MAX_FILE_LEN`] bytes.
pub(crate) fn read_open(path: &Path, file: File) -> Result<Vec<u8>, KeyFileError> {
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(path, "read"))?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(KeyFileError::TooBig {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// Opens a key file for reading: a regular file (a FIFO or device would block or never end;
/// O_NONBLOCK keeps the open itself from waiting for a FIFO's writer).
pub(crate) fn open(path: &Path) -> Result<(File, fs::Metadata), KeyFileError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error(path, "read"))?;
    let meta = file.metadata().map_err(io_error(path, "read"))?;
    if !meta.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    Ok((file, meta))
}

/// A ZPL entry's value and line; an error if it is missing or has no value.
fn entry<'a>(
    path: &Path,
    doc: &'a Zpl,
    entry: &'static str,
) -> Result<(&'a str, usize), KeyFileError> {
    let p = doc.get(entry).ok_or_else(|| KeyFileError::Missing {
        path: path.to_path_buf(),
        entry,
    })?;
    match &p.value {
        Some(v) => Ok((v, p.line)),
        None => Err(KeyFileError::Malformed {
            path: path.to_path_buf(),
            line: p.line,
            what: format!("{entry} has no value (expected {} = \"...\")", p.name),
        }),
    }
}

/// Decodes a 40-character Z85 key.
fn key_bytes(
    path: &Path,
    line: usize,
    entry: &'static str,
    text: &str,
) -> Result<[u8; 32], KeyFileError> {
    let len = text.chars().count();
    if len != 40 {
        return Err(KeyFileError::KeyLength {
            path: path.to_path_buf(),
            line,
            entry,
            len,
        });
    }
    PublicKey::from_z85(text)
        .map(|k| k.0)
        .map_err(|reason| KeyFileError::BadKey {
            path: path.to_path_buf(),
            line,
            entry,
            reason,
        })
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Zpl, KeyFileError> {
    Zpl::parse_bytes(bytes).map_err(|e| KeyFileError::Malformed {
        path: path.to_path_buf(),
        line: e.line,
        what: e.what,
    })
}

fn name_of(doc: &Zpl) -> String {
    doc.get("metadata/name")
        .and_then(|p| p.value.clone())
        .unwrap_or_default()
}

/// Reads the text of a public key file (`path` is only for errors): its key and name (`""`
/// without `metadata/name`). Refuses secret files and keys starting with a 0 byte. Never
/// panics.
pub fn parse_public(path: &Path, bytes: &[u8]) -> Result<(PublicKey, String), KeyFileError> {
    let doc = parse(path, bytes)?;
    if doc.get("curve/secret-key").is_some() || doc.get("curve/ryre-seed").is_some() {
        return Err(KeyFileError::Secret {
            path: path.to_path_buf(),
        });
    }
    let (text, line) = entry(path, &doc, "curve/public-key")?;
    let key = PublicKey(key_bytes(path, line, "curve/public-key", text)?);
    if !key.zyre_safe() {
        return Err(KeyFileError::ZeroKey {
            path: path.to_path_buf(),
        });
    }
    Ok((key, name_of(&doc)))
}

/// Reads the text of a key pair file (`path` is only for errors): the key pair its
/// `ryre-seed` gives, checked against its `public-key` and `secret-key`, and its name. Does
/// not check permissions ([`read_secret`] does). Never panics.
pub fn parse_secret(path: &Path, bytes: &[u8]) -> Result<(KeyPair, String), KeyFileError> {
    let doc = parse(path, bytes)?;
    let p = path.to_path_buf();
    if doc.get("curve/ryre-seed").is_none() {
        return Err(if doc.get("curve/secret-key").is_some() {
            KeyFileError::NotRyre { path: p }
        } else if doc.get("curve/public-key").is_some() {
            KeyFileError::NotSecret { path: p }
        } else {
            KeyFileError::Missing {
                path: p,
                entry: "curve/ryre-seed",
            }
        });
    }
    let (text, line) = entry(path, &doc, "curve/ryre-seed")?;
    let seed = key_bytes(path, line, "curve/ryre-seed", text)?;
    let keys = KeyPair::from_seed(seed).map_err(|reason| match reason {
        KeyError::ZyreUnsafe => KeyFileError::ZeroKey { path: p.clone() },
        reason => KeyFileError::BadKey {
            path: p.clone(),
            line,
            entry: "curve/ryre-seed",
            reason,
        },
    })?;
    let (text, line) = entry(path, &doc, "curve/public-key")?;
    if key_bytes(path, line, "curve/public-key", text)? != keys.public().0 {
        return Err(KeyFileError::Mismatch {
            path: p,
            entry: "curve/public-key",
        });
    }
    let (text, line) = entry(path, &doc, "curve/secret-key")?;
    if key_bytes(path, line, "curve/secret-key", text)? != keys.curve_secret() {
        return Err(KeyFileError::Mismatch {
            path: p,
            entry: "curve/secret-key",
        });
    }
    Ok((keys, name_of(&doc)))
}

/// Reads a public key file (ours, or a CZMQ/Zyre public certificate): its key and name.
pub fn read_public(path: impl AsRef<Path>) -> Result<(PublicKey, String), KeyFileError> {
    let path = path.as_ref();
    let (file, _) = open(path)?;
    let bytes = read_open(path, file)?;
    parse_public(path, &bytes)
}

/// Reads a key pair file: the key pair and its name. Refuses a file that group or others may
/// read or write, checked on the opened file before anything is read from it.
pub fn read_secret(path: impl AsRef<Path>) -> Result<(KeyPair, String), KeyFileError> {
    let path = path.as_ref();
    let (file, meta) = open(path)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Exposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    let bytes = read_open(path, file)?;
    parse_secret(path, &bytes)
}

/// Writes `text` to `dir/file` with `mode`: a new file (refused if one exists) unless
/// `replace`, when a temporary file with that mode is renamed over the old one.
pub(crate) fn write_file(
    dir: &Path,
    file: &str,
    text: &[u8],
    mode: u32,
    replace: bool,
) -> Result<PathBuf, KeyFileError> {
    let path = dir.join(file);
    let target = if replace {
        dir.join(format!(".{file}.tmp{}", std::process::id()))
    } else {
        path.clone()
    };
    if replace {
        match fs::remove_file(&target) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error(&target, "remove")(e))
            }
            _ => {}
        }
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&target)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                KeyFileError::Exists {
                    path: target.clone(),
                }
            } else {
                io_error(&target, "create")(e)
            }
        })?;
    let written = out
        .write_all(text)
        .and_then(|()| out.sync_all())
        .map_err(io_error(&target, "write"))
        .and_then(|()| {
            if replace {
                fs::rename(&target, &path).map_err(io_error(&path, "replace"))
            } else {
                Ok(())
            }
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&target);
        return Err(e);
    }
    // The new name is durable once the directory is synced.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir, "sync"))?;
    Ok(path)
}

/// Checks that `dir` exists and is a directory.
pub(crate) fn check_dir(dir: &Path) -> Result<(), KeyFileError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(KeyFileError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(KeyFileError::NoDirectory {
            path: dir.to_path_buf(),
        }),
        Err(e) => Err(io_error(dir, "read")(e)),
    }
}

/// Every public key file in a peers directory (none if it does not exist), by key; a key in
/// several files keeps the first file name.
fn read_peers(peers: &Path) -> Result<BTreeMap<PublicKey, PathBuf>, KeyFileError> {
    let mut allowed = BTreeMap::new();
    let entries = match fs::read_dir(peers) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(allowed),
        Err(_) if peers.exists() && !peers.is_dir() => {
            return Err(KeyFileError::NotADirectory {
                path: peers.to_path_buf(),
            })
        }
        Err(e) => return Err(io_error(peers, "list")(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(peers, "list"))?;
        let path = entry.path();
        // Follows symbolic links: a link to a key file counts.
        let meta = fs::metadata(&path).map_err(io_error(&path, "read"))?;
        if meta.is_file() {
            files.push(path);
        }
    }
    files.sort();
    for path in files {
        if is_secret_name(&path) {
            return Err(KeyFileError::Secret { path });
        }
        let (key, _) = read_public(&path)?;
        allowed.entry(key).or_insert(path);
    }
    Ok(allowed)
}

/// A peer's key added to a key directory by [`KeyDir::allow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The peer's public key.
    pub key: PublicKey,
    /// The name in its key file (`""` if none).
    pub name: String,
    /// The file in `peers/` that holds it (an existing one if it was allowed already).
    pub path: PathBuf,
    /// Whether a file was written (false: the key was trusted already).
    pub added: bool,
}

/// A key directory, loaded: the node's key pair and name, and the peers' keys it trusts.
#[derive(Debug, Clone)]
pub struct KeyDir {
    /// The directory.
    pub path: PathBuf,
    /// The node's key pair (from `node.secret`).
    pub keys: KeyPair,
    /// The node's name in `node.secret` (`""` if none).
    pub name: String,
    /// The trusted peers' keys, each with the file in `peers/` it came from.
    pub allowed: BTreeMap<PublicKey, PathBuf>,
}

impl KeyDir {
    /// Makes a key directory: `dir` and `dir/peers` (if missing), a new key pair in
    /// `node.secret` (mode 0600) and its public key in `node.pub`. Refuses to replace an
    /// existing `node.secret` unless `force` (then a new key pair replaces it; `peers/` is kept
    /// and read, so a bad file there fails before anything is written).
    pub fn create(dir: impl AsRef<Path>, name: &str, force: bool) -> Result<KeyDir, KeyFileError> {
        let dir = dir.as_ref();
        check_name(dir, name)?;
        if dir.exists() {
            check_dir(dir)?;
        }
        let peers = dir.join(PEERS_DIR);
        fs::create_dir_all(&peers).map_err(io_error(&peers, "create"))?;
        let secret = dir.join(SECRET_FILE);
        if !force && fs::symlink_metadata(&secret).is_ok() {
            return Err(KeyFileError::Exists { path: secret });
        }
        let allowed = read_peers(&peers)?;
        let keys = try_generate().map_err(|error| KeyFileError::Random {
            path: dir.to_path_buf(),
            error,
        })?;
        write_file(
            dir,
            SECRET_FILE,
            secret_text(&keys, name).as_bytes(),
            0o600,
            force,
        )?;
        write_file(
            dir,
            PUBLIC_FILE,
            public_text(&keys.public(), name).as_bytes(),
            0o644,
            true,
        )?;
        Ok(KeyDir {
            path: dir.to_path_buf(),
            keys,
            name: name.to_string(),
            allowed,
        })
    }

    /// Loads a key directory: `node.secret` (which must exist, mode 0600), `node.pub` if
    /// present (it must hold the same key), and every file in `peers/`.
    pub fn load(dir: impl AsRef<Path>) -> Result<KeyDir, KeyFileError> {
        let dir = dir.as_ref();
        check_dir(dir)?;
        let secret = dir.join(SECRET_FILE);
        if let Err(e) = fs::symlink_metadata(&secret) {
            return Err(if e.kind() == io::ErrorKind::NotFound {
                KeyFileError::NoSecret {
                    path: dir.to_path_buf(),
                }
            } else {
                io_error(&secret, "read")(e)
            });
        }
        let (keys, name) = read_secret(&secret)?;
        let public = dir.join(PUBLIC_FILE);
        if fs::symlink_metadata(&public).is_ok() {
            let (key, _) = read_public(&public)?;
            if key != keys.public() {
                return Err(KeyFileError::Mismatch {
                    path: public,
                    entry: "curve/public-key",
                });
            }
        }
        let allowed = read_peers(&dir.join(PEERS_DIR))?;
        Ok(KeyDir {
            path: dir.to_path_buf(),
            keys,
            name,
            allowed,
        })
    }

    /// The keys a node using this directory accepts: the peers' and its own (nodes sharing one
    /// key directory trust each other).
    pub fn trust(&self) -> Trust {
        let mut keys: std::collections::BTreeSet<PublicKey> =
            self.allowed.keys().copied().collect();
        keys.insert(self.keys.public());
        Trust::Keys(keys)
    }

    /// `node.secret` of this directory.
    pub fn secret_path(&self) -> PathBuf {
        self.path.join(SECRET_FILE)
    }

    /// `node.pub` of this directory.
    pub fn public_path(&self) -> PathBuf {
        self.path.join(PUBLIC_FILE)
    }

    /// `peers/` of this directory.
    pub fn peers_path(&self) -> PathBuf {
        self.path.join(PEERS_DIR)
    }

    /// Trusts the peer whose public key file is `file`: checks it (a secret file is refused),
    /// then copies it byte for byte into `peers/`, named after the peer's name (`NAME.pub`,
    /// `NAME-XXXXXXXX.pub` with the key's first bytes in hex if that name is taken, `peer.pub`
    /// without a name). A key trusted already (or the node's own) writes nothing.
    pub fn allow(&mut self, file: impl AsRef<Path>) -> Result<Allowed, KeyFileError> {
        let file = file.as_ref();
        if is_secret_name(file) {
            return Err(KeyFileError::Secret {
                path: file.to_path_buf(),
            });
        }
        let bytes = read_open(file, open(file)?.0)?;
        let (key, name) = parse_public(file, &bytes)?;
        let existing = if key == self.keys.public() {
            Some(self.public_path())
        } else {
            self.allowed.get(&key).cloned()
        };
        if let Some(path) = existing {
            return Ok(Allowed {
                key,
                name,
                path,
                added: false,
            });
        }
        let peers = self.peers_path();
        fs::create_dir_all(&peers).map_err(io_error(&peers, "create"))?;
        let stem: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        let stem = if stem.is_empty() { "peer".into() } else { stem };
        let hex: String = key.0[..4].iter().map(|b| format!("{b:02x}")).collect();
        let mut written = None;
        for candidate in [format!("{stem}.pub"), format!("{stem}-{hex}.pub")] {
            match write_file(&peers, &candidate, &bytes, 0o644, false) {
                Ok(path) => {
                    written = Some(path);
                    break;
                }
                Err(KeyFileError::Exists { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        let path = written.ok_or_else(|| KeyFileError::Exists {
            path: peers.join(format!("{stem}-{hex}.pub")),
        })?;
        self.allowed.insert(key, path.clone());
        Ok(Allowed {
            key,
            name,
            path,
            added: true,
        })
    }
}

#[cfg(test)]
mod tests;
