//! The timer service's messages (ryre-timer) and their codec.
//!
//! Every message is one frame (a ZRE SHOUT or WHISPER content frame): the signature `'R' 'T' 'M'`,
//! a version byte (1), a kind byte, then the body. Integers are big-endian; times are nanoseconds
//! since the Unix epoch on the sender's clock; a payload is a 4-byte length and at most
//! [`MAX_PAYLOAD`] bytes; a reason is a 1-byte length and UTF-8. Bytes after the body are an
//! error: a frame is exactly one message.
//!
//! | kind | message  | body                                                         |
//! |------|----------|--------------------------------------------------------------|
//! | 1    | Tick     | rate u16 (Hz), n u64, t0 u64, scheduled u64                  |
//! | 2    | Request  | id u64, first u64, at u64, every u64 (0: once), payload      |
//! | 3    | Cancel   | id u64                                                       |
//! | 4    | Wake     | id u64, occurrence u64, scheduled u64, payload               |
//! | 5    | Reject   | id u64, reason                                               |
//! | 6    | Announce | (empty): the sender serves wake-ups                          |
//!
//! **Signed messages** (certified mode): version byte [`SIGNED_VERSION`] (2), the same kind and
//! body, then a 64-byte Ed25519 signature by the sending timer node's identity key over every
//! byte before it (version byte 2 included), framed for the service [`DOMAIN`] (see
//! `ryre::certs::signed_bytes`). A certified timer node signs what it serves (Tick, Wake,
//! Reject, Announce); a certified subscriber takes those only signed by an admitted peer whose
//! certificate grants the `timer` service. Uncertified nodes send version 1, byte for byte as
//! before.

use bytes::{BufMut, Bytes, BytesMut};

/// The first three bytes of every timer message.
pub const SIGNATURE: [u8; 3] = *b"RTM";
/// The protocol version this codec speaks.
pub const VERSION: u8 = 1;
/// The version byte of a signed message: version 1's kind and body, then [`SIGNATURE_LEN`]
/// bytes of signature.
pub const SIGNED_VERSION: u8 = 2;
/// A signed message's signature length (Ed25519).
pub const SIGNATURE_LEN: usize = 64;
/// The service domain of timer signatures.
pub const DOMAIN: &str = "ryre-timer/1";
/// Where the version byte sits in a frame.
pub const VERSION_OFFSET: usize = 3;
/// The largest wake-up payload, in bytes.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// The highest tick rate a timer serves, in Hz.
pub const MAX_RATE: u16 = 1000;

/// One timer message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerMsg {
    /// Tick `n` of a rate: scheduled at `t0 + n / rate` seconds.
    Tick {
        /// Ticks per second, 1..=1000.
        rate: u16,
        /// The tick's number, counted from `t0`.
        n: u64,
        /// The time base of the numbering (Unix ns): tick 0 was due then.
        t0: u64,
        /// When this tick was due (Unix ns).
        scheduled: u64,
    },
    /// "Wake me": occurrence `first` at `at`, then (if `every` > 0) one every `every` ns.
    Request {
        /// The requester's own id for this request.
        id: u64,
        /// The number of the first occurrence asked for (0 for a new request; later on a
        /// re-submission, so occurrences already delivered are not sent again).
        first: u64,
        /// When occurrence `first` is due (Unix ns).
        at: u64,
        /// Period in ns; 0 for a one-shot.
        every: u64,
        /// Sent back in every wake-up.
        payload: Bytes,
    },
    /// Forget the request `id`.
    Cancel {
        /// The request.
        id: u64,
    },
    /// Occurrence `occurrence` of request `id`, due at `scheduled`.
    Wake {
        /// The request.
        id: u64,
        /// Which occurrence (0 for a one-shot).
        occurrence: u64,
        /// When it was due (Unix ns).
        scheduled: u64,
        /// The request's payload.
        payload: Bytes,
    },
    /// The request `id` was refused.
    Reject {
        /// The request.
        id: u64,
        /// Why, for people.
        reason: String,
    },
    /// The sender leads the wake-up service: send requests there.
    Announce,
}

/// Why a frame is not a timer message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Does not start with `RTM`.
    #[error("not a timer message (no \"RTM\" signature)")]
    BadSignature,
    /// A version this codec does not speak.
    #[error("timer protocol version {0} is not supported (this is version 1, signed 2)")]
    BadVersion(u8),
    /// An unknown kind byte.
    #[error("unknown timer message kind {0}")]
    BadKind(u8),
    /// The frame ends inside a field.
    #[error("timer message truncated")]
    Truncated,
    /// Bytes left after the message.
    #[error("{0} bytes after the end of the timer message")]
    Trailing(usize),
    /// A rate of 0 or above [`MAX_RATE`].
    #[error("tick rate {0} Hz is outside 1..=1000")]
    BadRate(u16),
    /// A payload over [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes is over the 65536-byte limit")]
    PayloadTooLarge(usize),
    /// A reason that is not UTF-8.
    #[error("reason is not UTF-8")]
    BadUtf8,
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A rate of 0 or above [`MAX_RATE`].
    #[error("tick rate {0} Hz is outside 1..=1000")]
    BadRate(u16),
    /// A payload over [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes is over the 65536-byte limit")]
    PayloadTooLarge(usize),
    /// A reason over 255 bytes.
    #[error("reason of {0} bytes is over 255")]
    ReasonTooLong(usize),
}

const KIND_TICK: u8 = 1;
const KIND_REQUEST: u8 = 2;
const KIND_CANCEL: u8 = 3;
const KIND_WAKE: u8 = 4;
const KIND_REJECT: u8 = 5;
const KIND_ANNOUNCE: u8 = 6;

impl TimerMsg {
    /// Encodes the message as one frame.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut b = BytesMut::with_capacity(64);
        b.put_slice(&SIGNATURE);
        b.put_u8(VERSION);
        match self {
            TimerMsg::Tick {
                rate,
                n,
                t0,
                scheduled,
            } => {
                if *rate == 0 || *rate > MAX_RATE {
                    return Err(EncodeError::BadRate(*rate));
                }
                b.put_u8(KIND_TICK);
                b.put_u16(*rate);
                b.put_u64(*n);
                b.put_u64(*t0);
                b.put_u64(*scheduled);
            }
            TimerMsg::Request {
                id,
                first,
                at,
                every,
                payload,
            } => {
                b.put_u8(KIND_REQUEST);
                b.put_u64(*id);
                b.put_u64(*first);
                b.put_u64(*at);
                b.put_u64(*every);
                put_payload(&mut b, payload)?;
            }
            TimerMsg::Cancel { id } => {
                b.put_u8(KIND_CANCEL);
                b.put_u64(*id);
            }
            TimerMsg::Wake {
                id,
                occurrence,
                scheduled,
                payload,
            } => {
                b.put_u8(KIND_WAKE);
                b.put_u64(*id);
                b.put_u64(*occurrence);
                b.put_u64(*scheduled);
                put_payload(&mut b, payload)?;
            }
            TimerMsg::Reject { id, reason } => {
                if reason.len() > 255 {
                    return Err(EncodeError::ReasonTooLong(reason.len()));
                }
                b.put_u8(KIND_REJECT);
                b.put_u64(*id);
                b.put_u8(reason.len() as u8);
                b.put_slice(reason.as_bytes());
            }
            TimerMsg::Announce => b.put_u8(KIND_ANNOUNCE),
        }
        Ok(b.freeze())
    }

    /// Encodes the message as one signed frame ([`SIGNED_VERSION`]): `sign` gets the bytes to
    /// sign for [`DOMAIN`] (e.g. `|b| node.sign(DOMAIN, b)`); `Ok(None)` when it gives no
    /// signature.
    pub fn encode_signed(
        &self,
        sign: impl FnOnce(&[u8]) -> Option<[u8; SIGNATURE_LEN]>,
    ) -> Result<Option<Bytes>, EncodeError> {
        let v1 = self.encode()?;
        let mut b = BytesMut::with_capacity(v1.len() + SIGNATURE_LEN);
        b.put_slice(&v1);
        b[VERSION_OFFSET] = SIGNED_VERSION;
        let Some(sig) = sign(&b) else {
            return Ok(None);
        };
        b.put_slice(&sig);
        Ok(Some(b.freeze()))
    }

    /// Decodes one frame, signed or not (a signature is not checked: see
    /// [`TimerMsg::decode_frame`]). Never panics; payloads share the frame's memory.
    pub fn decode(frame: &Bytes) -> Result<TimerMsg, DecodeError> {
        Self::decode_frame(frame).map(|(m, _)| m)
    }

    /// Decodes one frame with its signature, if it is a signed one: the signed bytes (the
    /// frame up to its signature) and the signature. Never panics.
    #[allow(clippy::type_complexity)]
    pub fn decode_frame(
        frame: &Bytes,
    ) -> Result<(TimerMsg, Option<(Bytes, [u8; SIGNATURE_LEN])>), DecodeError> {
        if frame.get(VERSION_OFFSET) == Some(&SIGNED_VERSION) && frame.starts_with(&SIGNATURE) {
            let Some(body) = frame.len().checked_sub(SIGNATURE_LEN) else {
                return Err(DecodeError::Truncated);
            };
            if body <= VERSION_OFFSET {
                return Err(DecodeError::Truncated);
            }
            let mut sig = [0u8; SIGNATURE_LEN];
            sig.copy_from_slice(&frame[body..]);
            let signed = frame.slice(..body);
            let msg = Self::decode_body(&signed, SIGNED_VERSION)?;
            return Ok((msg, Some((signed, sig))));
        }
        Self::decode_body(frame, VERSION).map(|m| (m, None))
    }

    fn decode_body(frame: &Bytes, expected: u8) -> Result<TimerMsg, DecodeError> {
        let mut r = Reader { buf: frame, pos: 0 };
        if r.take(3)? != SIGNATURE {
            return Err(DecodeError::BadSignature);
        }
        let version = r.u8()?;
        if version != expected {
            return Err(DecodeError::BadVersion(version));
        }
        let msg = match r.u8()? {
            KIND_TICK => {
                let rate = r.u16()?;
                if rate == 0 || rate > MAX_RATE {
                    return Err(DecodeError::BadRate(rate));
                }
                TimerMsg::Tick {
                    rate,
                    n: r.u64()?,
                    t0: r.u64()?,
                    scheduled: r.u64()?,
                }
            }
            KIND_REQUEST => TimerMsg::Request {
                id: r.u64()?,
                first: r.u64()?,
                at: r.u64()?,
                every: r.u64()?,
                payload: r.payload()?,
            },
            KIND_CANCEL => TimerMsg::Cancel { id: r.u64()? },
            KIND_WAKE => TimerMsg::Wake {
                id: r.u64()?,
                occurrence: r.u64()?,
                scheduled: r.u64()?,
                payload: r.payload()?,
            },
            KIND_REJECT => {
                let id = r.u64()?;
                let len = usize::from(r.u8()?);
                let raw = r.take(len)?;
                let reason = std::str::from_utf8(raw)
                    .map_err(|_| DecodeError::BadUtf8)?
                    .to_string();
                TimerMsg::Reject { id, reason }
            }
            KIND_ANNOUNCE => TimerMsg::Announce,
            other => return Err(DecodeError::BadKind(other)),
        };
        match frame.len() - r.pos {
            0 => Ok(msg),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

fn put_payload(b: &mut BytesMut, payload: &Bytes) -> Result<(), EncodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(EncodeError::PayloadTooLarge(payload.len()));
    }
    b.put_u32(payload.len() as u32);
    b.put_slice(payload);
    Ok(())
}

struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
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
        let mut a = [0u8; 2];
        a.copy_from_slice(self.take(2)?);
        Ok(u16::from_be_bytes(a))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    fn payload(&mut self) -> Result<Bytes, DecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        let len = u32::from_be_bytes(a) as usize;
        if len > MAX_PAYLOAD {
            return Err(DecodeError::PayloadTooLarge(len));
        }
        let start = self.pos;
        self.take(len)?;
        Ok(self.buf.slice(start..start + len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_msg() -> impl Strategy<Value = TimerMsg> {
        let payload = proptest::collection::vec(any::<u8>(), 0..200).prop_map(Bytes::from);
        prop_oneof![
            (1..=MAX_RATE, any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
                |(rate, n, t0, scheduled)| TimerMsg::Tick {
                    rate,
                    n,
                    t0,
                    scheduled
                }
            ),
            (
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                payload.clone()
            )
                .prop_map(|(id, first, at, every, payload)| TimerMsg::Request {
                    id,
                    first,
                    at,
                    every,
                    payload
                }),
            any::<u64>().prop_map(|id| TimerMsg::Cancel { id }),
            (any::<u64>(), any::<u64>(), any::<u64>(), payload).prop_map(
                |(id, occurrence, scheduled, payload)| TimerMsg::Wake {
                    id,
                    occurrence,
                    scheduled,
                    payload
                }
            ),
            (any::<u64>(), "\\PC{0,60}").prop_map(|(id, reason)| TimerMsg::Reject { id, reason }),
            Just(TimerMsg::Announce),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(msg in any_msg()) {
            let frame = msg.encode().expect("encodable");
            prop_assert_eq!(TimerMsg::decode(&frame), Ok(msg));
        }

        #[test]
        fn any_bytes_decode_without_panic(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = TimerMsg::decode(&Bytes::from(data));
        }

        #[test]
        fn any_valid_prefix_mutation_decodes_without_panic(
            msg in any_msg(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut v = msg.encode().expect("encodable").to_vec();
            let i = at.index(v.len());
            v[i] = byte;
            v.truncate(cut.index(v.len() + 1));
            let _ = TimerMsg::decode(&Bytes::from(v));
        }

    }

    proptest! {
        // Ed25519 in a debug build costs about a millisecond a case: few cases.
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn signed_messages_round_trip_and_any_change_fails(
            msg in any_msg(),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let keys = test_keys();
            let frame = msg
                .encode_signed(|b| Some(ryre::certs::sign_service(&keys, DOMAIN, b)))
                .expect("encodable")
                .expect("signed");
            let v1 = msg.encode().expect("encodable");
            prop_assert_eq!(frame.len(), v1.len() + SIGNATURE_LEN);
            prop_assert_eq!(&frame[VERSION_OFFSET + 1..v1.len()], &v1[VERSION_OFFSET + 1..]);
            let (m, sig) = TimerMsg::decode_frame(&frame).expect("decodes");
            prop_assert_eq!(&m, &msg);
            let (signed, sig) = sig.expect("signed");
            prop_assert!(ryre::certs::verify_service(&keys.signing_public(), DOMAIN, &signed, &sig));
            let mut v = frame.to_vec();
            let i = at.index(v.len());
            v[i] ^= 1 << bit;
            if let Ok((_, Some((signed, sig)))) = TimerMsg::decode_frame(&Bytes::from(v)) {
                prop_assert!(
                    !ryre::certs::verify_service(&keys.signing_public(), DOMAIN, &signed, &sig),
                    "a changed frame still verifies (bit {} of byte {})", bit, i
                );
            }
        }

    }

    proptest! {
        #[test]
        fn mutated_signed_messages_decode_without_panic(
            msg in any_msg(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let frame = msg
                .encode_signed(|_| Some([5; SIGNATURE_LEN]))
                .expect("encodable")
                .expect("signed");
            let mut v = frame.to_vec();
            let i = at.index(v.len());
            v[i] = byte;
            v.truncate(cut.index(v.len() + 1));
            let _ = TimerMsg::decode_frame(&Bytes::from(v));
        }
    }

    fn test_keys() -> ryre::security::KeyPair {
        (0u8..=255)
            .find_map(|i| ryre::security::KeyPair::from_seed([i; 32]).ok())
            .expect("a Zyre-safe seed")
    }

    #[test]
    fn signed_ticks_are_version_2_and_unsigned_ones_unchanged() {
        let tick = TimerMsg::Tick {
            rate: 10,
            n: 1,
            t0: 2,
            scheduled: 3,
        };
        let v1 = tick.encode().expect("encodable");
        assert_eq!(&v1[..5], b"RTM\x01\x01");
        assert_eq!(TimerMsg::decode_frame(&v1), Ok((tick.clone(), None)));
        let v2 = tick
            .encode_signed(|_| Some([1; SIGNATURE_LEN]))
            .expect("encodable")
            .expect("signed");
        assert_eq!(&v2[..5], b"RTM\x02\x01");
        let (m, sig) = TimerMsg::decode_frame(&v2).expect("decodes");
        assert_eq!(m, tick);
        assert_eq!(
            sig.map(|(s, g)| (s.len(), g)),
            Some((v1.len(), [1; SIGNATURE_LEN]))
        );
        assert_eq!(tick.encode_signed(|_| None), Ok(None));
        let d = |b: &[u8]| TimerMsg::decode(&Bytes::copy_from_slice(b));
        assert_eq!(d(b"RTM\x02\x06"), Err(DecodeError::Truncated));
        let mut short = b"RTM\x02".to_vec();
        short.extend_from_slice(&[0; SIGNATURE_LEN]);
        assert_eq!(d(&short), Err(DecodeError::Truncated));
    }

    #[test]
    fn exact_layout_of_a_tick() {
        let frame = TimerMsg::Tick {
            rate: 100,
            n: 7,
            t0: 1,
            scheduled: 70_000_001,
        }
        .encode()
        .expect("encodable");
        let mut want = b"RTM\x01\x01\x00\x64".to_vec();
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(&1u64.to_be_bytes());
        want.extend_from_slice(&70_000_001u64.to_be_bytes());
        assert_eq!(&frame[..], &want[..]);
    }

    #[test]
    fn clear_errors() {
        let d = |b: &[u8]| TimerMsg::decode(&Bytes::copy_from_slice(b));
        assert_eq!(d(b""), Err(DecodeError::Truncated));
        assert_eq!(d(b"ZRE\x01\x01"), Err(DecodeError::BadSignature));
        assert_eq!(d(b"RTM\x03\x01"), Err(DecodeError::BadVersion(3)));
        assert_eq!(d(b"RTM\x01\x09"), Err(DecodeError::BadKind(9)));
        assert_eq!(d(b"RTM\x01\x06x"), Err(DecodeError::Trailing(1)));
        assert_eq!(d(b"RTM\x01\x01\x00\x00"), Err(DecodeError::BadRate(0)));
        assert_eq!(d(b"RTM\x01\x01\x03\xE9"), Err(DecodeError::BadRate(1001)));
        let mut big = b"RTM\x01\x03".to_vec();
        big.extend_from_slice(&[0; 7]);
        assert_eq!(d(&big), Err(DecodeError::Truncated));
        let mut huge = b"RTM\x01\x04".to_vec();
        huge.extend_from_slice(&[0; 24]);
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            d(&huge),
            Err(DecodeError::PayloadTooLarge(u32::MAX as usize))
        );
        let mut bad = b"RTM\x01\x05".to_vec();
        bad.extend_from_slice(&[0; 8]);
        bad.extend_from_slice(&[1, 0xFF]);
        assert_eq!(d(&bad), Err(DecodeError::BadUtf8));
        let too_big = TimerMsg::Wake {
            id: 1,
            occurrence: 0,
            scheduled: 0,
            payload: Bytes::from(vec![0; MAX_PAYLOAD + 1]),
        };
        assert_eq!(
            too_big.encode(),
            Err(EncodeError::PayloadTooLarge(MAX_PAYLOAD + 1))
        );
    }
}
