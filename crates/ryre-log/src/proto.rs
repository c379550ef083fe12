//! Log records of the decentralised logging service (`ryre-log`) and their codec.
//!
//! A record travels on a ZeroMQ PUB socket as two frames: a **topic** and the **record**.
//!
//! The topic is the level as one ASCII digit (`1` error, `2` warn, `3` info, `4` debug,
//! `5` trace) followed by the publishing node's id as 32 uppercase hex characters. A subscriber
//! that wants "info and above from node U" subscribes to `1U`, `2U` and `3U`; ZeroMQ filters by
//! prefix at the publisher, so records a collector did not ask for never cross the network.
//!
//! The record frame: `'R' 'L' 'G'`, version byte 1, then (integers big-endian)
//!
//! | field   | encoding                                                  |
//! |---------|-----------------------------------------------------------|
//! | level   | u8, 1..=5                                                 |
//! | seq     | u64: the publisher's record number for this level, from 0 |
//! | time    | u64: nanoseconds since the Unix epoch                     |
//! | node    | 16 bytes: the publishing node's UUID                      |
//! | name    | u8 length + UTF-8: the node's name                        |
//! | target  | u16 length + UTF-8: the tracing target (module path)      |
//! | message | u32 length + UTF-8, at most [`MAX_MESSAGE`] bytes         |
//! | fields  | u16 count, each: u8 length + key, u32 length + value      |
//! | spans   | u8 count, each: u8 length + span name (outermost first)   |
//!
//! Nothing may follow the spans. A whole record is at most [`MAX_RECORD`] bytes.
//!
//! **Signed records** (certified mode): version byte [`SIGNED_VERSION`] (2), the same fields,
//! then a 64-byte Ed25519 signature by the publishing node's identity key over every byte
//! before it (version byte 2 included), framed for the service [`DOMAIN`] (see
//! `ryre::certs::signed_bytes`). A collector of a certified node checks it against the
//! certificate of the admitted peer that `node` names. Uncertified publishers send version 1,
//! byte for byte as before.

use bytes::{BufMut, Bytes, BytesMut};

use ryre::PeerId;

/// The first three bytes of a record frame.
pub const SIGNATURE: [u8; 3] = *b"RLG";
/// The record format's version.
pub const VERSION: u8 = 1;
/// The version byte of a signed record: version 1's fields, then [`SIGNATURE_LEN`] bytes of
/// signature.
pub const SIGNED_VERSION: u8 = 2;
/// A signed record's signature length (Ed25519).
pub const SIGNATURE_LEN: usize = 64;
/// The service domain of record signatures.
pub const DOMAIN: &str = "ryre-log/1";
/// Where the version byte sits in a record frame.
pub const VERSION_OFFSET: usize = 3;
/// Longest message, in bytes (longer ones are cut by [`LogRecord::truncate_to_fit`]).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Longest record frame, in bytes.
pub const MAX_RECORD: usize = 256 * 1024;
/// Where `seq` sits in a record frame (a publisher may number records as it sends them).
pub const SEQ_OFFSET: usize = 5;
/// Length of a topic frame: a level digit and 32 hex characters.
pub const TOPIC_LEN: usize = 33;

/// Severity, most severe first (the order of `tracing::Level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something may be wrong.
    Warn = 2,
    /// What is going on.
    Info = 3,
    /// Details for developers.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

impl Level {
    /// Every level, most severe first.
    pub const ALL: [Level; 5] = [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ];

    /// The level of wire byte `b` (1..=5).
    pub fn from_u8(b: u8) -> Option<Level> {
        Level::ALL.get(usize::from(b).checked_sub(1)?).copied()
    }

    /// The topic digit of this level (`b'1'` for error ... `b'5'` for trace).
    pub fn digit(self) -> u8 {
        b'0' + self as u8
    }

    /// Upper-case name: ERROR, WARN, INFO, DEBUG, TRACE.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    /// Parses a level name, any case (`warn`, `WARNING`, `e`...).
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "error" | "err" | "e" => Some(Level::Error),
            "warn" | "warning" | "w" => Some(Level::Warn),
            "info" | "i" => Some(Level::Info),
            "debug" | "d" => Some(Level::Debug),
            "trace" | "t" => Some(Level::Trace),
            _ => None,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The topic frame of a record of `level` from `node`.
pub fn topic(level: Level, node: PeerId) -> [u8; TOPIC_LEN] {
    let mut t = [0u8; TOPIC_LEN];
    t[0] = level.digit();
    t[1..].copy_from_slice(node.to_string().as_bytes());
    t
}

/// The subscription prefixes for "`max` and more severe, from `node` (or any node)".
pub fn subscriptions(max: Level, node: Option<PeerId>) -> Vec<Vec<u8>> {
    Level::ALL
        .iter()
        .filter(|l| **l <= max)
        .map(|l| {
            let mut p = vec![l.digit()];
            if let Some(n) = node {
                p.extend_from_slice(n.to_string().as_bytes());
            }
            p
        })
        .collect()
}

/// The least severe level that a set of subscription prefixes asks of `node` (`None`: nothing
/// at all). An empty prefix asks for everything; a prefix naming another node asks nothing of
/// this one.
pub fn widest_level<'a>(
    prefixes: impl IntoIterator<Item = &'a [u8]>,
    node: PeerId,
) -> Option<Level> {
    let own = node.to_string();
    prefixes
        .into_iter()
        .filter_map(|p| match p.split_first() {
            None => Some(Level::Trace),
            Some((d, rest)) if own.as_bytes().starts_with(rest) => {
                Level::from_u8(d.wrapping_sub(b'0'))
            }
            Some(_) => None,
        })
        .max()
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The publisher's record number for this level: contiguous from 0 over the records of
    /// this level it published, so a collector can count what it missed whatever it asked for.
    pub seq: u64,
    /// When it happened, ns since the Unix epoch.
    pub time: u64,
    /// Severity.
    pub level: Level,
    /// The publishing node.
    pub node: PeerId,
    /// The publishing node's name.
    pub name: String,
    /// The tracing target (usually the module path).
    pub target: String,
    /// The message.
    pub message: String,
    /// Structured fields, in the order they were recorded.
    pub fields: Vec<(String, String)>,
    /// Names of the spans the event happened in, outermost first.
    pub spans: Vec<String>,
}

/// Why a frame is not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No `RLG` signature.
    #[error("not a log record (no \"RLG\" signature)")]
    BadSignature,
    /// Another version.
    #[error("log record version {0} is not supported (this is version 1, signed 2)")]
    BadVersion(u8),
    /// A level byte outside 1..=5.
    #[error("log level {0} is outside 1..=5")]
    BadLevel(u8),
    /// Ends inside a field.
    #[error("log record truncated")]
    Truncated,
    /// Bytes after the spans.
    #[error("{0} bytes after the end of the log record")]
    Trailing(usize),
    /// Over [`MAX_RECORD`] or a message over [`MAX_MESSAGE`].
    #[error("log record of {0} bytes is over the limit")]
    TooLarge(usize),
    /// A string is not UTF-8 (see [`LogRecord::decode_lossy`]).
    #[error("a string of the log record is not UTF-8")]
    BadUtf8,
}

/// Why a record cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A field does not fit its length prefix, or the record is over [`MAX_RECORD`].
    #[error("{what} is {len} bytes, over its limit")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

impl LogRecord {
    /// Cuts every string to its limit (at a character boundary) and drops fields and spans
    /// beyond what fits, so that [`LogRecord::encode`] succeeds. Returns whether anything was cut.
    pub fn truncate_to_fit(&mut self) -> bool {
        let before = self.encoded_len();
        cut(&mut self.name, 255);
        cut(&mut self.target, u16::MAX as usize);
        cut(&mut self.message, MAX_MESSAGE);
        self.fields.truncate(u16::MAX as usize);
        for (k, v) in &mut self.fields {
            cut(k, 255);
            cut(v, MAX_MESSAGE);
        }
        self.spans.truncate(255);
        for s in &mut self.spans {
            cut(s, 255);
        }
        while self.encoded_len() > MAX_RECORD && !self.fields.is_empty() {
            self.fields.pop();
        }
        while self.encoded_len() > MAX_RECORD && !self.spans.is_empty() {
            self.spans.pop();
        }
        self.encoded_len() != before
    }

    /// The size of the record frame.
    pub fn encoded_len(&self) -> usize {
        4 + 1
            + 8
            + 8
            + 16
            + 1
            + self.name.len()
            + 2
            + self.target.len()
            + 4
            + self.message.len()
            + 2
            + self
                .fields
                .iter()
                .map(|(k, v)| 1 + k.len() + 4 + v.len())
                .sum::<usize>()
            + 1
            + self.spans.iter().map(|s| 1 + s.len()).sum::<usize>()
    }

    /// The topic frame of this record.
    pub fn topic(&self) -> [u8; TOPIC_LEN] {
        topic(self.level, self.node)
    }

    /// Encodes the record frame.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        self.encode_mut().map(BytesMut::freeze)
    }

    /// Encodes the record frame into a buffer that can still be changed (see [`SEQ_OFFSET`]).
    pub fn encode_mut(&self) -> Result<BytesMut, EncodeError> {
        let too = |what, len| EncodeError::TooLong { what, len };
        let len = self.encoded_len();
        if len > MAX_RECORD {
            return Err(too("record", len));
        }
        if self.name.len() > 255 {
            return Err(too("name", self.name.len()));
        }
        if self.target.len() > u16::MAX as usize {
            return Err(too("target", self.target.len()));
        }
        if self.message.len() > MAX_MESSAGE {
            return Err(too("message", self.message.len()));
        }
        if self.fields.len() > u16::MAX as usize {
            return Err(too("fields", self.fields.len()));
        }
        if self.spans.len() > 255 {
            return Err(too("spans", self.spans.len()));
        }
        let mut b = BytesMut::with_capacity(len);
        b.put_slice(&SIGNATURE);
        b.put_u8(VERSION);
        b.put_u8(self.level as u8);
        b.put_u64(self.seq);
        b.put_u64(self.time);
        b.put_slice(self.node.as_bytes());
        b.put_u8(self.name.len() as u8);
        b.put_slice(self.name.as_bytes());
        b.put_u16(self.target.len() as u16);
        b.put_slice(self.target.as_bytes());
        b.put_u32(self.message.len() as u32);
        b.put_slice(self.message.as_bytes());
        b.put_u16(self.fields.len() as u16);
        for (k, v) in &self.fields {
            if k.len() > 255 {
                return Err(too("field name", k.len()));
            }
            b.put_u8(k.len() as u8);
            b.put_slice(k.as_bytes());
            b.put_u32(v.len() as u32);
            b.put_slice(v.as_bytes());
        }
        b.put_u8(self.spans.len() as u8);
        for s in &self.spans {
            if s.len() > 255 {
                return Err(too("span name", s.len()));
            }
            b.put_u8(s.len() as u8);
            b.put_slice(s.as_bytes());
        }
        Ok(b)
    }

    /// Decodes a record frame (signed or not; a signature is not checked); strings must be
    /// UTF-8.
    pub fn decode(frame: &[u8]) -> Result<LogRecord, DecodeError> {
        Self::decode_with(frame, false).map(|d| d.record)
    }

    /// Decodes a record frame, replacing invalid UTF-8 with U+FFFD; the flag says whether any
    /// string had to be repaired. A signature is not checked (see [`LogRecord::decode_frame`]).
    pub fn decode_lossy(frame: &[u8]) -> Result<(LogRecord, bool), DecodeError> {
        Self::decode_with(frame, true).map(|d| (d.record, d.repaired))
    }

    /// Decodes a record frame as [`LogRecord::decode_lossy`] does, with its signature if it is
    /// a signed record ([`SIGNED_VERSION`]): what a certified collector checks.
    pub fn decode_frame(frame: &[u8]) -> Result<Decoded<'_>, DecodeError> {
        Self::decode_with(frame, true)
    }

    /// Turns a version 1 record frame (as [`LogRecord::encode_mut`] makes it, `seq` already
    /// set) into a signed one: the version byte becomes [`SIGNED_VERSION`] and `sign`'s
    /// signature over the frame so far is appended. `sign` is given the bytes to sign for
    /// [`DOMAIN`] (e.g. `|b| node.sign(DOMAIN, b)`); `None` from it leaves the frame unsigned
    /// and returns false.
    pub fn sign_frame(
        frame: &mut BytesMut,
        sign: impl FnOnce(&[u8]) -> Option<[u8; SIGNATURE_LEN]>,
    ) -> bool {
        if frame.len() <= VERSION_OFFSET || frame[VERSION_OFFSET] != VERSION {
            return false;
        }
        frame[VERSION_OFFSET] = SIGNED_VERSION;
        match sign(&frame[..]) {
            Some(sig) => {
                frame.put_slice(&sig);
                true
            }
            None => {
                frame[VERSION_OFFSET] = VERSION;
                false
            }
        }
    }

    fn decode_with(frame: &[u8], lossy: bool) -> Result<Decoded<'_>, DecodeError> {
        if frame.len() > MAX_RECORD + SIGNATURE_LEN {
            return Err(DecodeError::TooLarge(frame.len()));
        }
        let (frame, signature) = match frame.get(VERSION_OFFSET) {
            Some(&SIGNED_VERSION) if frame.starts_with(&SIGNATURE) => {
                let body = frame.len().saturating_sub(SIGNATURE_LEN);
                let (signed, sig) = frame.split_at(body.max(VERSION_OFFSET + 1));
                let sig: [u8; SIGNATURE_LEN] =
                    sig.try_into().map_err(|_| DecodeError::Truncated)?;
                (signed, Some((signed, sig)))
            }
            _ => (frame, None),
        };
        if frame.len() > MAX_RECORD {
            return Err(DecodeError::TooLarge(frame.len()));
        }
        let mut r = Reader {
            buf: frame,
            pos: 0,
            lossy,
            repaired: false,
        };
        if r.take(3)? != SIGNATURE {
            return Err(DecodeError::BadSignature);
        }
        let v = r.u8()?;
        if v != VERSION && (v != SIGNED_VERSION || signature.is_none()) {
            return Err(DecodeError::BadVersion(v));
        }
        let lb = r.u8()?;
        let level = Level::from_u8(lb).ok_or(DecodeError::BadLevel(lb))?;
        let seq = r.u64()?;
        let time = r.u64()?;
        let node = PeerId::from_slice(r.take(16)?).ok_or(DecodeError::Truncated)?;
        let n = usize::from(r.u8()?);
        let name = r.string(n)?;
        let n = usize::from(r.u16()?);
        let target = r.string(n)?;
        let n = r.u32()? as usize;
        if n > MAX_MESSAGE {
            return Err(DecodeError::TooLarge(n));
        }
        let message = r.string(n)?;
        let count = usize::from(r.u16()?);
        // Each field takes at least 5 bytes: a forged count never allocates more than the frame.
        let mut fields = Vec::with_capacity(count.min(r.left() / 5));
        for _ in 0..count {
            let n = usize::from(r.u8()?);
            let k = r.string(n)?;
            let n = r.u32()? as usize;
            let v = r.string(n)?;
            fields.push((k, v));
        }
        let count = usize::from(r.u8()?);
        let mut spans = Vec::with_capacity(count.min(r.left()));
        for _ in 0..count {
            let n = usize::from(r.u8()?);
            spans.push(r.string(n)?);
        }
        if r.left() > 0 {
            return Err(DecodeError::Trailing(r.left()));
        }
        let repaired = r.repaired;
        Ok(Decoded {
            record: LogRecord {
                seq,
                time,
                level,
                node,
                name,
                target,
                message,
                fields,
                spans,
            },
            repaired,
            signature,
        })
    }
}

/// A decoded record frame ([`LogRecord::decode_frame`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The record.
    pub record: LogRecord,
    /// Whether a string had to be repaired (invalid UTF-8 replaced by U+FFFD).
    pub repaired: bool,
    /// A signed record's signed bytes (the frame up to its signature) and signature; `None`
    /// for a version 1 record.
    pub signature: Option<(&'a [u8], [u8; SIGNATURE_LEN])>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    lossy: bool,
    repaired: bool,
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    fn string(&mut self, n: usize) -> Result<String, DecodeError> {
        let lossy = self.lossy;
        let raw = self.take(n)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_string()),
            Err(_) if lossy => {
                let s = String::from_utf8_lossy(raw).into_owned();
                self.repaired = true;
                Ok(s)
            }
            Err(_) => Err(DecodeError::BadUtf8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> LogRecord {
        LogRecord {
            seq: 7,
            time: 1_700_000_000_000_000_000,
            level: Level::Warn,
            node: PeerId::from_bytes([0xAB; 16]),
            name: "alice".into(),
            target: "app::db".into(),
            message: "slow query".into(),
            fields: vec![
                ("ms".into(), "250".into()),
                ("table".into(), "users".into()),
            ],
            spans: vec!["request".into(), "query".into()],
        }
    }

    fn any_record() -> impl Strategy<Value = LogRecord> {
        (
            any::<u64>(),
            any::<u64>(),
            1u8..=5,
            any::<[u8; 16]>(),
            "\\PC{0,20}",
            "[a-z:_]{0,40}",
            "\\PC{0,200}",
            proptest::collection::vec(("[a-z_]{1,10}", "\\PC{0,30}"), 0..5),
            proptest::collection::vec("[a-z_]{0,12}", 0..4),
        )
            .prop_map(
                |(seq, time, l, node, name, target, message, fields, spans)| LogRecord {
                    seq,
                    time,
                    level: Level::from_u8(l).unwrap_or(Level::Info),
                    node: PeerId::from_bytes(node),
                    name,
                    target,
                    message,
                    fields,
                    spans,
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(rec in any_record()) {
            let frame = rec.encode().expect("encodable");
            prop_assert_eq!(frame.len(), rec.encoded_len());
            prop_assert_eq!(LogRecord::decode(&frame), Ok(rec.clone()));
            prop_assert_eq!(LogRecord::decode_lossy(&frame), Ok((rec, false)));
        }

        #[test]
        fn any_bytes_decode_without_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = LogRecord::decode(&data);
            let _ = LogRecord::decode_lossy(&data);
        }

        #[test]
        fn mutated_records_decode_without_panic(
            rec in any_record(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut v = rec.encode().expect("encodable").to_vec();
            let i = at.index(v.len());
            v[i] = byte;
            v.truncate(cut.index(v.len() + 1));
            let _ = LogRecord::decode_lossy(&v);
        }

    }

    proptest! {
        // Ed25519 in a debug build costs about a millisecond a case: few cases.
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn signed_records_round_trip_and_any_change_fails(
            rec in any_record(),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let keys = test_keys();
            let mut frame = rec.encode_mut().expect("encodable");
            prop_assert!(LogRecord::sign_frame(&mut frame, |b| Some(ryre::certs::sign_service(&keys, DOMAIN, b))));
            prop_assert_eq!(frame.len(), rec.encoded_len() + SIGNATURE_LEN);
            let d = LogRecord::decode_frame(&frame).expect("decodes");
            prop_assert_eq!(&d.record, &rec);
            let (signed, sig) = d.signature.expect("signed");
            prop_assert!(ryre::certs::verify_service(&keys.signing_public(), DOMAIN, signed, &sig));
            // Any flipped bit: the frame no longer decodes, or its signature fails.
            let mut v = frame.to_vec();
            let i = at.index(v.len());
            v[i] ^= 1 << bit;
            if let Ok(d) = LogRecord::decode_frame(&v) {
                let ok = d.signature.is_some_and(|(signed, sig)| {
                    ryre::certs::verify_service(&keys.signing_public(), DOMAIN, signed, &sig)
                });
                prop_assert!(!ok, "a changed frame still verifies (bit {} of byte {})", bit, i);
            }
        }

    }

    proptest! {
        #[test]
        fn mutated_signed_records_decode_without_panic(
            rec in any_record(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut frame = rec.encode_mut().expect("encodable");
            LogRecord::sign_frame(&mut frame, |_| Some([7; SIGNATURE_LEN]));
            let mut v = frame.to_vec();
            let i = at.index(v.len());
            v[i] = byte;
            v.truncate(cut.index(v.len() + 1));
            let _ = LogRecord::decode_frame(&v);
        }
    }

    fn test_keys() -> ryre::security::KeyPair {
        (0u8..=255)
            .find_map(|i| ryre::security::KeyPair::from_seed([i; 32]).ok())
            .expect("a Zyre-safe seed")
    }

    #[test]
    fn unsigned_records_are_version_1_as_before_and_signed_ones_version_2() {
        let rec = sample();
        let v1 = rec.encode().expect("encodable");
        assert_eq!(&v1[..4], b"RLG\x01");
        assert!(LogRecord::decode_frame(&v1)
            .expect("v1")
            .signature
            .is_none());
        let mut v2 = rec.encode_mut().expect("encodable");
        assert!(LogRecord::sign_frame(&mut v2, |_| Some([9; SIGNATURE_LEN])));
        assert_eq!(&v2[..4], b"RLG\x02");
        assert_eq!(&v2[4..v1.len()], &v1[4..]);
        assert_eq!(&v2[v1.len()..], &[9; SIGNATURE_LEN][..]);
        let d = LogRecord::decode_frame(&v2).expect("v2");
        assert_eq!(d.record, rec);
        assert_eq!(d.signature.map(|(s, _)| s.len()), Some(v1.len()));
        // A signer that refuses leaves version 1.
        let mut v = rec.encode_mut().expect("encodable");
        assert!(!LogRecord::sign_frame(&mut v, |_| None));
        assert_eq!(&v[..], &v1[..]);
        // Too short to hold a signature.
        assert_eq!(
            LogRecord::decode(b"RLG\x02abc"),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            LogRecord::decode(b"RLG\x03"),
            Err(DecodeError::BadVersion(3))
        );
    }

    #[test]
    fn topics_and_subscriptions() {
        let node = PeerId::from_bytes([0xAB; 16]);
        let t = topic(Level::Info, node);
        assert_eq!(&t[..1], b"3");
        assert_eq!(&t[1..], node.to_string().as_bytes());
        let subs = subscriptions(Level::Warn, Some(node));
        assert_eq!(subs.len(), 2);
        assert!(
            !subs.iter().any(|p| t.starts_with(p)),
            "info is not asked for"
        );
        assert!(topic(Level::Warn, node).starts_with(&subs[1]));
        assert!(subscriptions(Level::Trace, None)
            .iter()
            .all(|p| p.len() == 1));
        let prefixes: Vec<&[u8]> = vec![b"1", b"3ABAB", b"5CDCD"];
        assert_eq!(widest_level(prefixes, node), Some(Level::Info));
        assert_eq!(widest_level(Vec::<&[u8]>::new(), node), None);
        assert_eq!(widest_level(vec![&b""[..]], node), Some(Level::Trace));
        assert_eq!(widest_level(vec![&b"x"[..]], node), None);
    }

    #[test]
    fn seq_sits_at_its_offset() {
        let mut frame = sample().encode_mut().expect("encodable");
        frame[SEQ_OFFSET..SEQ_OFFSET + 8].copy_from_slice(&42u64.to_be_bytes());
        assert_eq!(LogRecord::decode(&frame).map(|r| r.seq), Ok(42));
    }

    #[test]
    fn levels() {
        assert!(Level::Error < Level::Warn && Level::Debug < Level::Trace);
        assert_eq!(Level::parse("WARNING"), Some(Level::Warn));
        assert_eq!(Level::parse("loud"), None);
        assert_eq!(Level::from_u8(0), None);
        assert_eq!(Level::from_u8(6), None);
        assert_eq!(format!("{:<5}|", Level::Info), "INFO |");
    }

    #[test]
    fn invalid_utf8_is_an_error_or_repaired() {
        let mut rec = sample();
        rec.message = "ab".into();
        let mut v = rec.encode().expect("encodable").to_vec();
        let at = v
            .windows(2)
            .position(|w| w == b"ab")
            .expect("message bytes");
        v[at] = 0xFF;
        assert_eq!(LogRecord::decode(&v), Err(DecodeError::BadUtf8));
        let (r, repaired) = LogRecord::decode_lossy(&v).expect("repaired");
        assert!(repaired);
        assert_eq!(r.message, "\u{FFFD}b");
    }

    #[test]
    fn oversized_records_are_cut_to_fit() {
        let mut rec = sample();
        rec.message = "é".repeat(MAX_MESSAGE); // 2 bytes each: twice the limit
        rec.name = "n".repeat(300);
        rec.fields = (0..100)
            .map(|i| (format!("k{i}"), "v".repeat(MAX_MESSAGE)))
            .collect();
        assert!(rec.encode().is_err());
        assert!(rec.truncate_to_fit());
        let frame = rec.encode().expect("fits now");
        assert!(frame.len() <= MAX_RECORD);
        assert_eq!(rec.message.len(), MAX_MESSAGE);
        assert_eq!(rec.name.len(), 255);
        assert_eq!(LogRecord::decode(&frame), Ok(rec));
    }

    #[test]
    fn clear_errors() {
        let frame = sample().encode().expect("encodable");
        assert_eq!(LogRecord::decode(b"RL"), Err(DecodeError::Truncated));
        assert_eq!(
            LogRecord::decode(b"ZRE\x01"),
            Err(DecodeError::BadSignature)
        );
        assert_eq!(
            LogRecord::decode(b"RLG\x03"),
            Err(DecodeError::BadVersion(3))
        );
        // Version 2 is a signed record: too short to hold its signature.
        assert_eq!(LogRecord::decode(b"RLG\x02"), Err(DecodeError::Truncated));
        assert_eq!(
            LogRecord::decode(b"RLG\x01\x09"),
            Err(DecodeError::BadLevel(9))
        );
        let mut long = frame.to_vec();
        long.push(0);
        assert_eq!(LogRecord::decode(&long), Err(DecodeError::Trailing(1)));
        assert_eq!(
            LogRecord::decode(&frame[..frame.len() - 1]),
            Err(DecodeError::Truncated)
        );
        let huge = vec![0u8; MAX_RECORD + 1];
        assert_eq!(
            LogRecord::decode(&huge),
            Err(DecodeError::TooLarge(MAX_RECORD + 1))
        );
    }
}
