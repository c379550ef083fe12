//! The device-local rendezvous protocol: how the nodes of one machine register with the
//! machine's agent (the node that holds the well-known rendezvous port) and hear about each other.
//!
//! It runs over a byte stream (TCP on 127.0.0.1, or a Unix socket). Each message is a frame:
//! a 4-byte big-endian length of what follows (at most [`MAX_FRAME`]), the signature `'R' 'R'
//! 'V'`, the version byte (1), a kind byte, then the body. Integers are big-endian; a `str` is a
//! 1-byte length and UTF-8; a `longstr` a 2-byte length and UTF-8. Nothing may follow the body.
//!
//! | kind | message  | direction      | body                                                     |
//! |------|----------|----------------|----------------------------------------------------------|
//! | 1    | Register | node -> agent  | uuid 16, name str, endpoint str, beacon (see below), headers (u16 count, key str, value longstr), groups (u16 count, str), status u8, \[proof\] |
//! | 2    | Welcome  | agent -> node  | the agent's uuid 16                                      |
//! | 3    | Peer     | agent -> node  | uuid 16, name str, endpoint str, \[proof\]                 |
//! | 4    | Gone     | agent -> node  | uuid 16, reason u8 (1 left, 2 lost its connection), \[proof\] |
//! | 5    | Beacon   | agent -> node  | sender IPv4 4 bytes, datagram (u16 length, at most 512)  |
//! | 6    | Leave    | node -> agent  | \[proof\]: the node stops                                  |
//! | 7    | Error    | agent -> node  | code u8, text str; the agent then closes the connection  |
//! | 8    | List     | anyone -> agent| (empty): answered with Welcome and one Peer per node, then the agent closes the connection (nothing is registered) |
//! | 9    | Gossip   | node -> agent  | hubs (u8 count ≤ 16, str each), value longstr, ttl u32 (ms): gossip for this node (after Register; again to change it; no hubs: stop) |
//! | 10   | Tuple    | agent -> node  | key str, value longstr: a tuple the agent's gossip session learned from a hub |
//!
//! The beacon field of Register is a flag byte: 0 when the node wants no UDP at all (discovery
//! `local`), or 1 followed by the interface's IPv4 address, its broadcast address, the UDP port
//! and the beacon interval in ms (u32): the agent then sends ZRE beacons for the node on that
//! interface and forwards the beacons it hears there.
//!
//! `[proof]` is optional and present for secure nodes only: 1 followed by a [`KeyProof`] (the
//! node's Ed25519 public key, 32 bytes, and a 64-byte signature), or nothing at all. A Register's
//! proof signs `"ryre-rv-register\0"`, the uuid and the endpoint; a Leave's signs
//! `"ryre-rv-leave\0"` and the uuid. The agent checks both, and passes each on verbatim (in Peer,
//! and in Gone for a node that left), so every node checks them again itself: a process that took
//! the rendezvous port cannot announce a key for a UUID that does not hold it. The CURVE key a
//! proof stands for is the Montgomery form of its Ed25519 key.
//!
//! A node registers once per connection (a second Register with the same uuid updates it); the
//! agent answers Welcome, then a Peer for every other registered node, and goes on with Peer and
//! Gone as nodes come and go.
//!
//! Gossip through the agent: a node that sends Gossip has the agent hold one ZGP client session
//! per hub for the whole machine (see [`crate::zgp`]): the agent publishes the node's tuple
//! (key: its uuid in hex, value: what the node gave, e.g. its endpoint) there, withdraws it when
//! the node leaves or dies, and passes every tuple the hub sends (but the machine's own) to the
//! nodes that gossip through that hub, in Tuple messages.
//!
//! The two ends' state machines live here too, sans-IO, so the real node and the simulator run
//! the same code: [`agent::AgentState`] (the machine's agent) and [`client::ClientState`] (a
//! node's registration).

use std::net::Ipv4Addr;

pub mod agent;
pub mod client;
mod gossip;

pub use gossip::{MAX_LEARNED as MAX_GOSSIP_LEARNED, MAX_SESSIONS as MAX_GOSSIP_SESSIONS};

use bytes::{BufMut, Bytes, BytesMut};

use crate::security::{KeyPair, PublicKey};
use crate::PeerId;

/// The signature after the length prefix.
pub const SIGNATURE: [u8; 3] = *b"RRV";
/// The protocol version.
pub const VERSION: u8 = 1;
/// The largest frame (after the length prefix), in bytes.
pub const MAX_FRAME: usize = 64 * 1024;
/// The largest beacon datagram a Beacon message carries.
pub const MAX_DATAGRAM: usize = 512;
/// The most hubs one Gossip message names.
pub const MAX_GOSSIP_HUBS: usize = 16;

/// What a node asks of the agent's UDP beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeaconSpec {
    /// The interface's IPv4 address.
    pub addr: Ipv4Addr,
    /// Its broadcast address (where beacons go).
    pub broadcast: Ipv4Addr,
    /// The UDP beacon port.
    pub port: u16,
    /// Milliseconds between beacons.
    pub interval_ms: u32,
}

/// Why a node is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneReason {
    /// It said Leave (a clean stop).
    Left = 1,
    /// Its connection to the agent dropped without Leave (it died).
    Lost = 2,
}

/// Error codes of [`RvMsg::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A frame that is not a valid message.
    Malformed = 1,
    /// A Register for a uuid another connection holds.
    DuplicateId = 2,
    /// A frame over [`MAX_FRAME`].
    TooLarge = 3,
    /// A message that makes no sense here (e.g. anything before Register).
    Unexpected = 4,
    /// The agent is full.
    Full = 5,
    /// A proof that does not verify.
    Forged = 6,
}

impl ErrorCode {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::DuplicateId,
            3 => ErrorCode::TooLarge,
            4 => ErrorCode::Unexpected,
            5 => ErrorCode::Full,
            6 => ErrorCode::Forged,
            _ => return None,
        })
    }
}

/// A secure node's proof that it holds the key it speaks with (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyProof {
    /// The node's Ed25519 public key.
    pub signer: [u8; 32],
    /// Its signature.
    pub signature: [u8; 64],
}

const REGISTER_CONTEXT: &[u8] = b"ryre-rv-register\0";
const LEAVE_CONTEXT: &[u8] = b"ryre-rv-leave\0";

impl KeyProof {
    fn register_message(id: PeerId, endpoint: &str) -> Vec<u8> {
        let mut m = REGISTER_CONTEXT.to_vec();
        m.extend_from_slice(id.as_bytes());
        m.extend_from_slice(endpoint.as_bytes());
        m
    }

    fn leave_message(id: PeerId) -> Vec<u8> {
        let mut m = LEAVE_CONTEXT.to_vec();
        m.extend_from_slice(id.as_bytes());
        m
    }

    /// The proof for registering `id` at `endpoint`.
    pub fn register(keys: &KeyPair, id: PeerId, endpoint: &str) -> KeyProof {
        KeyProof {
            signer: keys.signing_public(),
            signature: keys.sign(&Self::register_message(id, endpoint)),
        }
    }

    /// The proof for `id` leaving.
    pub fn leave(keys: &KeyPair, id: PeerId) -> KeyProof {
        KeyProof {
            signer: keys.signing_public(),
            signature: keys.sign(&Self::leave_message(id)),
        }
    }

    /// The CURVE key this proof stands for, if it is a valid registration of `id` at `endpoint`.
    pub fn verify_register(&self, id: PeerId, endpoint: &str) -> Option<PublicKey> {
        crate::security::verify(
            &self.signer,
            &Self::register_message(id, endpoint),
            &self.signature,
        )
    }

    /// The CURVE key this proof stands for, if it is a valid leave of `id`.
    pub fn verify_leave(&self, id: PeerId) -> Option<PublicKey> {
        crate::security::verify(&self.signer, &Self::leave_message(id), &self.signature)
    }

    fn put(proof: &Option<KeyProof>, b: &mut BytesMut) {
        if let Some(p) = proof {
            b.put_u8(1);
            b.put_slice(&p.signer);
            b.put_slice(&p.signature);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Option<KeyProof>, RvError> {
        if r.left() == 0 {
            return Ok(None);
        }
        if r.u8()? != 1 {
            return Err(RvError::BadField("proof flag"));
        }
        let mut signer = [0u8; 32];
        signer.copy_from_slice(r.take(32)?);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(r.take(64)?);
        Ok(Some(KeyProof { signer, signature }))
    }
}

/// A node's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The node's id.
    pub id: PeerId,
    /// Its name.
    pub name: String,
    /// Its inbox endpoint.
    pub endpoint: String,
    /// Beacons the agent sends and forwards for it (`None`: no UDP for this node).
    pub beacon: Option<BeaconSpec>,
    /// Its HELLO headers.
    pub headers: Vec<(String, String)>,
    /// Its groups.
    pub groups: Vec<String>,
    /// Its group status (ZRE's status byte).
    pub status: u8,
    /// A secure node's proof of its key (`None`: an open node).
    pub proof: Option<KeyProof>,
}

/// One rendezvous message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RvMsg {
    /// A node registers (or updates its registration).
    Register(Registration),
    /// The agent accepts a registration.
    Welcome {
        /// The agent's (its hosting node's) id.
        agent: PeerId,
    },
    /// Another local node is here.
    Peer {
        /// Its id.
        id: PeerId,
        /// Its name.
        name: String,
        /// Its inbox endpoint.
        endpoint: String,
        /// Its registration's proof, passed on verbatim (a secure node).
        proof: Option<KeyProof>,
    },
    /// A local node is gone.
    Gone {
        /// Its id.
        id: PeerId,
        /// Why.
        reason: GoneReason,
        /// Its Leave's proof, passed on verbatim (a secure node that left).
        proof: Option<KeyProof>,
    },
    /// A ZRE beacon the agent heard on the LAN.
    Beacon {
        /// Its sender's address.
        from: Ipv4Addr,
        /// The datagram.
        data: Bytes,
    },
    /// The node stops (clean deregistration); a secure node proves it.
    Leave {
        /// A secure node's proof.
        proof: Option<KeyProof>,
    },
    /// Asks who is registered, without registering: the agent answers Welcome and one Peer per
    /// node, then closes the connection.
    List,
    /// The node asks the agent to gossip for it through these hubs (none: stop).
    Gossip {
        /// The hubs' ZeroMQ endpoints (at most [`MAX_GOSSIP_HUBS`]).
        hubs: Vec<String>,
        /// The node's tuple value (Zyre's: the inbox endpoint, or `endpoint|<Z85 key>`).
        value: String,
        /// The tuple's ttl in ms (a ryre hub forgets it this long after the last refresh).
        ttl_ms: u32,
    },
    /// A tuple the agent's gossip session learned from a hub.
    Tuple {
        /// Its key (Zyre: a uuid in hex).
        key: String,
        /// Its value.
        value: String,
    },
    /// The agent refuses something and closes the connection.
    Error {
        /// What kind of problem.
        code: ErrorCode,
        /// For people.
        text: String,
    },
}

/// Why bytes are not a rendezvous message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RvError {
    /// A length prefix over [`MAX_FRAME`] (or under the smallest message).
    #[error("frame length {0} is outside 5..=65536")]
    BadLength(usize),
    /// No `RRV` signature.
    #[error("not a rendezvous frame (no \"RRV\" signature)")]
    BadSignature,
    /// Another version.
    #[error("rendezvous version {0} is not supported (this is version 1)")]
    BadVersion(u8),
    /// An unknown kind.
    #[error("unknown rendezvous message kind {0}")]
    BadKind(u8),
    /// The frame ends inside a field.
    #[error("rendezvous message truncated")]
    Truncated,
    /// Bytes after the body.
    #[error("{0} bytes after the end of the rendezvous message")]
    Trailing(usize),
    /// A string that is not UTF-8.
    #[error("a string is not UTF-8")]
    BadUtf8,
    /// A field value out of range (reason, error code, beacon flag, datagram size).
    #[error("bad value in field {0}")]
    BadField(&'static str),
    /// A value too long to encode.
    #[error("{0} is too long to encode")]
    TooLong(&'static str),
}

const K_REGISTER: u8 = 1;
const K_WELCOME: u8 = 2;
const K_PEER: u8 = 3;
const K_GONE: u8 = 4;
const K_BEACON: u8 = 5;
const K_LEAVE: u8 = 6;
const K_ERROR: u8 = 7;
const K_LIST: u8 = 8;
const K_GOSSIP: u8 = 9;
const K_TUPLE: u8 = 10;

fn put_str(b: &mut BytesMut, s: &str, what: &'static str) -> Result<(), RvError> {
    let len = u8::try_from(s.len()).map_err(|_| RvError::TooLong(what))?;
    b.put_u8(len);
    b.put_slice(s.as_bytes());
    Ok(())
}

fn put_longstr(b: &mut BytesMut, s: &str, what: &'static str) -> Result<(), RvError> {
    let len = u16::try_from(s.len()).map_err(|_| RvError::TooLong(what))?;
    b.put_u16(len);
    b.put_slice(s.as_bytes());
    Ok(())
}

impl RvMsg {
    /// Encodes the message as one frame, length prefix included.
    pub fn encode(&self) -> Result<Bytes, RvError> {
        let mut b = BytesMut::with_capacity(64);
        b.put_u32(0); // patched below
        b.put_slice(&SIGNATURE);
        b.put_u8(VERSION);
        match self {
            RvMsg::Register(r) => {
                b.put_u8(K_REGISTER);
                b.put_slice(r.id.as_bytes());
                put_str(&mut b, &r.name, "name")?;
                put_str(&mut b, &r.endpoint, "endpoint")?;
                match r.beacon {
                    None => b.put_u8(0),
                    Some(s) => {
                        b.put_u8(1);
                        b.put_slice(&s.addr.octets());
                        b.put_slice(&s.broadcast.octets());
                        b.put_u16(s.port);
                        b.put_u32(s.interval_ms);
                    }
                }
                let n = u16::try_from(r.headers.len()).map_err(|_| RvError::TooLong("headers"))?;
                b.put_u16(n);
                for (k, v) in &r.headers {
                    put_str(&mut b, k, "header name")?;
                    put_longstr(&mut b, v, "header value")?;
                }
                let n = u16::try_from(r.groups.len()).map_err(|_| RvError::TooLong("groups"))?;
                b.put_u16(n);
                for g in &r.groups {
                    put_str(&mut b, g, "group")?;
                }
                b.put_u8(r.status);
                KeyProof::put(&r.proof, &mut b);
            }
            RvMsg::Welcome { agent } => {
                b.put_u8(K_WELCOME);
                b.put_slice(agent.as_bytes());
            }
            RvMsg::Peer {
                id,
                name,
                endpoint,
                proof,
            } => {
                b.put_u8(K_PEER);
                b.put_slice(id.as_bytes());
                put_str(&mut b, name, "name")?;
                put_str(&mut b, endpoint, "endpoint")?;
                KeyProof::put(proof, &mut b);
            }
            RvMsg::Gone { id, reason, proof } => {
                b.put_u8(K_GONE);
                b.put_slice(id.as_bytes());
                b.put_u8(*reason as u8);
                KeyProof::put(proof, &mut b);
            }
            RvMsg::Beacon { from, data } => {
                if data.len() > MAX_DATAGRAM {
                    return Err(RvError::TooLong("datagram"));
                }
                b.put_u8(K_BEACON);
                b.put_slice(&from.octets());
                b.put_u16(data.len() as u16);
                b.put_slice(data);
            }
            RvMsg::Leave { proof } => {
                b.put_u8(K_LEAVE);
                KeyProof::put(proof, &mut b);
            }
            RvMsg::List => b.put_u8(K_LIST),
            RvMsg::Gossip {
                hubs,
                value,
                ttl_ms,
            } => {
                if hubs.len() > MAX_GOSSIP_HUBS {
                    return Err(RvError::TooLong("gossip hubs"));
                }
                b.put_u8(K_GOSSIP);
                b.put_u8(hubs.len() as u8);
                for h in hubs {
                    put_str(&mut b, h, "gossip hub")?;
                }
                put_longstr(&mut b, value, "gossip value")?;
                b.put_u32(*ttl_ms);
            }
            RvMsg::Tuple { key, value } => {
                b.put_u8(K_TUPLE);
                put_str(&mut b, key, "tuple key")?;
                put_longstr(&mut b, value, "tuple value")?;
            }
            RvMsg::Error { code, text } => {
                b.put_u8(K_ERROR);
                b.put_u8(*code as u8);
                put_str(&mut b, text, "error text")?;
            }
        }
        let len = b.len() - 4;
        if len > MAX_FRAME {
            return Err(RvError::TooLong("message"));
        }
        b[..4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(b.freeze())
    }

    /// Reads one message from the front of `buf`: `Ok(None)` when more bytes are needed,
    /// `Ok(Some((msg, used)))` when a whole frame was there. A bad length is an error at once
    /// (before the frame's bytes arrive), so a reader never buffers more than [`MAX_FRAME`].
    pub fn decode(buf: &[u8]) -> Result<Option<(RvMsg, usize)>, RvError> {
        Self::decode_in(buf, None)
    }

    /// [`RvMsg::decode`], where `buf` is `owner`'s bytes when given: a beacon's datagram is
    /// then a slice of `owner` (a count added) rather than a copy.
    pub(crate) fn decode_in(
        buf: &[u8],
        owner: Option<&Bytes>,
    ) -> Result<Option<(RvMsg, usize)>, RvError> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if !(5..=MAX_FRAME).contains(&len) {
            return Err(RvError::BadLength(len));
        }
        let Some(frame) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        Ok(Some((Self::decode_frame_in(frame, owner)?, 4 + len)))
    }

    /// Decodes one frame without its length prefix.
    pub fn decode_frame(frame: &[u8]) -> Result<RvMsg, RvError> {
        Self::decode_frame_in(frame, None)
    }

    /// [`RvMsg::decode_frame`], sharing `owner`'s bytes when given (see [`RvMsg::decode_in`]).
    fn decode_frame_in(frame: &[u8], owner: Option<&Bytes>) -> Result<RvMsg, RvError> {
        let mut r = Reader { buf: frame, pos: 0 };
        if r.take(3)? != SIGNATURE {
            return Err(RvError::BadSignature);
        }
        let v = r.u8()?;
        if v != VERSION {
            return Err(RvError::BadVersion(v));
        }
        let msg = match r.u8()? {
            K_REGISTER => {
                let id = r.id()?;
                let name = r.str()?;
                let endpoint = r.str()?;
                let beacon = match r.u8()? {
                    0 => None,
                    1 => Some(BeaconSpec {
                        addr: r.ipv4()?,
                        broadcast: r.ipv4()?,
                        port: r.u16()?,
                        interval_ms: r.u32()?,
                    }),
                    _ => return Err(RvError::BadField("beacon flag")),
                };
                let n = usize::from(r.u16()?);
                let mut headers = Vec::with_capacity(n.min(r.left() / 3));
                for _ in 0..n {
                    let k = r.str()?;
                    let v = r.longstr()?;
                    headers.push((k, v));
                }
                let n = usize::from(r.u16()?);
                let mut groups = Vec::with_capacity(n.min(r.left()));
                for _ in 0..n {
                    groups.push(r.str()?);
                }
                let status = r.u8()?;
                let proof = KeyProof::read(&mut r)?;
                RvMsg::Register(Registration {
                    id,
                    name,
                    endpoint,
                    beacon,
                    headers,
                    groups,
                    status,
                    proof,
                })
            }
            K_WELCOME => RvMsg::Welcome { agent: r.id()? },
            K_PEER => RvMsg::Peer {
                id: r.id()?,
                name: r.str()?,
                endpoint: r.str()?,
                proof: KeyProof::read(&mut r)?,
            },
            K_GONE => {
                let id = r.id()?;
                let reason = match r.u8()? {
                    1 => GoneReason::Left,
                    2 => GoneReason::Lost,
                    _ => return Err(RvError::BadField("gone reason")),
                };
                let proof = KeyProof::read(&mut r)?;
                RvMsg::Gone { id, reason, proof }
            }
            K_BEACON => {
                let from = r.ipv4()?;
                let n = usize::from(r.u16()?);
                if n > MAX_DATAGRAM {
                    return Err(RvError::BadField("datagram length"));
                }
                let raw = r.take(n)?;
                let data = match owner {
                    // `raw` lies within `owner` (the caller decodes `owner`'s own bytes).
                    Some(b) => b.slice_ref(raw),
                    None => Bytes::copy_from_slice(raw),
                };
                RvMsg::Beacon { from, data }
            }
            K_LEAVE => RvMsg::Leave {
                proof: KeyProof::read(&mut r)?,
            },
            K_LIST => RvMsg::List,
            K_GOSSIP => {
                let n = usize::from(r.u8()?);
                if n > MAX_GOSSIP_HUBS {
                    return Err(RvError::BadField("gossip hub count"));
                }
                let mut hubs = Vec::with_capacity(n);
                for _ in 0..n {
                    hubs.push(r.str()?);
                }
                RvMsg::Gossip {
                    hubs,
                    value: r.longstr()?,
                    ttl_ms: r.u32()?,
                }
            }
            K_TUPLE => RvMsg::Tuple {
                key: r.str()?,
                value: r.longstr()?,
            },
            K_ERROR => {
                let code = ErrorCode::from_u8(r.u8()?).ok_or(RvError::BadField("error code"))?;
                RvMsg::Error {
                    code,
                    text: r.str()?,
                }
            }
            other => return Err(RvError::BadKind(other)),
        };
        match r.left() {
            0 => Ok(msg),
            n => Err(RvError::Trailing(n)),
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], RvError> {
        let end = self.pos.checked_add(n).ok_or(RvError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(RvError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, RvError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, RvError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    fn u32(&mut self) -> Result<u32, RvError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn id(&mut self) -> Result<PeerId, RvError> {
        PeerId::from_slice(self.take(16)?).ok_or(RvError::Truncated)
    }

    fn ipv4(&mut self) -> Result<Ipv4Addr, RvError> {
        let s = self.take(4)?;
        Ok(Ipv4Addr::new(s[0], s[1], s[2], s[3]))
    }

    fn utf8(raw: &[u8]) -> Result<String, RvError> {
        std::str::from_utf8(raw)
            .map(str::to_string)
            .map_err(|_| RvError::BadUtf8)
    }

    fn str(&mut self) -> Result<String, RvError> {
        let n = usize::from(self.u8()?);
        Self::utf8(self.take(n)?)
    }

    fn longstr(&mut self) -> Result<String, RvError> {
        let n = usize::from(self.u16()?);
        Self::utf8(self.take(n)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_id() -> impl Strategy<Value = PeerId> {
        any::<[u8; 16]>().prop_map(PeerId::from_bytes)
    }

    fn any_proof() -> impl Strategy<Value = Option<KeyProof>> {
        proptest::option::of(
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b, c)| {
                let mut signature = [0u8; 64];
                signature[..32].copy_from_slice(&b);
                signature[32..].copy_from_slice(&c);
                KeyProof {
                    signer: a,
                    signature,
                }
            }),
        )
    }

    fn any_msg() -> impl Strategy<Value = RvMsg> {
        let spec = (any::<u32>(), any::<u32>(), any::<u16>(), any::<u32>()).prop_map(
            |(a, b, port, interval_ms)| BeaconSpec {
                addr: Ipv4Addr::from(a),
                broadcast: Ipv4Addr::from(b),
                port,
                interval_ms,
            },
        );
        let reg = (
            any_id(),
            "\\PC{0,20}",
            "tcp://[0-9.]{7,15}:[0-9]{1,5}",
            proptest::option::of(spec),
            proptest::collection::vec(("[A-Z-]{1,10}", "\\PC{0,30}"), 0..4),
            proptest::collection::vec("[a-z/]{1,12}", 0..5),
            any::<u8>(),
            any_proof(),
        )
            .prop_map(
                |(id, name, endpoint, beacon, headers, groups, status, proof)| {
                    RvMsg::Register(Registration {
                        id,
                        name,
                        endpoint,
                        beacon,
                        headers,
                        groups,
                        status,
                        proof,
                    })
                },
            );
        prop_oneof![
            reg,
            any_id().prop_map(|agent| RvMsg::Welcome { agent }),
            (any_id(), "\\PC{0,20}", "tcp://[0-9.:]{3,20}", any_proof()).prop_map(
                |(id, name, endpoint, proof)| RvMsg::Peer {
                    id,
                    name,
                    endpoint,
                    proof
                }
            ),
            (any_id(), any::<bool>(), any_proof()).prop_map(|(id, l, proof)| RvMsg::Gone {
                id,
                reason: if l {
                    GoneReason::Left
                } else {
                    GoneReason::Lost
                },
                proof,
            }),
            (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..60)).prop_map(|(a, d)| {
                RvMsg::Beacon {
                    from: Ipv4Addr::from(a),
                    data: Bytes::from(d),
                }
            }),
            any_proof().prop_map(|proof| RvMsg::Leave { proof }),
            Just(RvMsg::List),
            (
                proptest::collection::vec("tcp://[0-9.]{7,15}:[0-9]{1,5}", 0..4),
                "\\PC{0,40}",
                any::<u32>()
            )
                .prop_map(|(hubs, value, ttl_ms)| RvMsg::Gossip {
                    hubs,
                    value,
                    ttl_ms
                }),
            ("[0-9A-F]{0,32}", "\\PC{0,40}").prop_map(|(key, value)| RvMsg::Tuple { key, value }),
            (1u8..=6, "\\PC{0,40}").prop_map(|(c, text)| RvMsg::Error {
                code: ErrorCode::from_u8(c).unwrap_or(ErrorCode::Malformed),
                text
            }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(msg in any_msg()) {
            let wire = msg.encode().expect("encodable");
            prop_assert_eq!(RvMsg::decode(&wire), Ok(Some((msg, wire.len()))));
        }

        #[test]
        fn split_anywhere_needs_more_bytes_not_an_error(msg in any_msg(), cut in any::<prop::sample::Index>()) {
            let wire = msg.encode().expect("encodable");
            let at = cut.index(wire.len());
            prop_assert_eq!(RvMsg::decode(&wire[..at]), Ok(None));
        }

        #[test]
        fn any_bytes_decode_without_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = RvMsg::decode(&data);
            let _ = RvMsg::decode_frame(&data);
        }

        #[test]
        fn mutated_frames_decode_without_panic(msg in any_msg(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut v = msg.encode().expect("encodable").to_vec();
            let i = at.index(v.len());
            v[i] = byte;
            let _ = RvMsg::decode(&v);
        }
    }

    #[test]
    fn exact_layout_of_gossip_and_tuple() {
        let wire = RvMsg::Gossip {
            hubs: vec!["tcp://h:1".into()],
            value: "v".into(),
            ttl_ms: 2,
        }
        .encode()
        .expect("encodable");
        let mut want = vec![0, 0, 0, 23];
        want.extend_from_slice(b"RRV\x01\x09\x01\x09tcp://h:1\x00\x01v\x00\x00\x00\x02");
        assert_eq!(&wire[..], &want[..]);
        let wire = RvMsg::Tuple {
            key: "k".into(),
            value: "v".into(),
        }
        .encode()
        .expect("encodable");
        assert_eq!(&wire[..], b"\x00\x00\x00\x0aRRV\x01\x0a\x01k\x00\x01v");
        let too_many = RvMsg::Gossip {
            hubs: vec![String::new(); MAX_GOSSIP_HUBS + 1],
            value: String::new(),
            ttl_ms: 0,
        };
        assert_eq!(too_many.encode(), Err(RvError::TooLong("gossip hubs")));
        assert_eq!(
            RvMsg::decode_frame(b"RRV\x01\x09\x11"),
            Err(RvError::BadField("gossip hub count"))
        );
    }

    #[test]
    fn exact_layout_of_gone() {
        let wire = RvMsg::Gone {
            id: PeerId::from_bytes([0xAA; 16]),
            reason: GoneReason::Lost,
            proof: None,
        }
        .encode()
        .expect("encodable");
        let mut want = vec![0, 0, 0, 22];
        want.extend_from_slice(b"RRV\x01\x04");
        want.extend_from_slice(&[0xAA; 16]);
        want.push(2);
        assert_eq!(&wire[..], &want[..]);
    }

    #[test]
    fn proofs_verify_only_what_they_sign() {
        let keys = (0u8..=255)
            .find_map(|i| KeyPair::from_seed([i; 32]).ok())
            .unwrap();
        let id = PeerId::from_bytes([5; 16]);
        let p = KeyProof::register(&keys, id, "tcp://127.0.0.1:5000");
        assert_eq!(
            p.verify_register(id, "tcp://127.0.0.1:5000"),
            Some(keys.public())
        );
        assert_eq!(p.verify_register(id, "tcp://127.0.0.1:5001"), None);
        assert_eq!(
            p.verify_register(PeerId::from_bytes([6; 16]), "tcp://127.0.0.1:5000"),
            None
        );
        assert_eq!(
            p.verify_leave(id),
            None,
            "a register proof is not a leave proof"
        );
        let l = KeyProof::leave(&keys, id);
        assert_eq!(l.verify_leave(id), Some(keys.public()));
        assert_eq!(l.verify_register(id, ""), None);
    }

    #[test]
    fn clear_errors() {
        assert_eq!(RvMsg::decode(b"\x00\x01"), Ok(None));
        assert_eq!(
            RvMsg::decode(b"\x00\x10\x00\x01"),
            Err(RvError::BadLength(0x0010_0001))
        );
        assert_eq!(
            RvMsg::decode(b"\x00\x00\x00\x01x"),
            Err(RvError::BadLength(1))
        );
        assert_eq!(
            RvMsg::decode_frame(b"ZRE\x01\x06"),
            Err(RvError::BadSignature)
        );
        assert_eq!(
            RvMsg::decode_frame(b"RRV\x02\x06"),
            Err(RvError::BadVersion(2))
        );
        assert_eq!(
            RvMsg::decode_frame(b"RRV\x01\x63"),
            Err(RvError::BadKind(0x63))
        );
        assert_eq!(
            RvMsg::decode_frame(b"RRV\x01\x06!"),
            Err(RvError::BadField("proof flag"))
        );
        let mut leave = b"RRV\x01\x06\x01".to_vec();
        leave.extend_from_slice(&[7; 96]);
        assert!(matches!(
            RvMsg::decode_frame(&leave),
            Ok(RvMsg::Leave { proof: Some(_) })
        ));
        leave.push(0);
        assert_eq!(RvMsg::decode_frame(&leave), Err(RvError::Trailing(1)));
        assert_eq!(RvMsg::decode_frame(&leave[..50]), Err(RvError::Truncated));
        assert_eq!(
            RvMsg::decode_frame(b"RRV\x01\x07\x09\x00"),
            Err(RvError::BadField("error code"))
        );
        let long = RvMsg::Peer {
            id: PeerId::from_bytes([1; 16]),
            name: "x".repeat(256),
            endpoint: String::new(),
            proof: None,
        };
        assert_eq!(long.encode(), Err(RvError::TooLong("name")));
    }
}
