//! Peer identities: 16-byte UUIDs shown as 32 uppercase hex characters, as Zyre does.

use std::fmt;
use std::str::FromStr;

/// The identity of a ZRE node: a 16-byte UUID.
///
/// Displayed (and parsed) as 32 uppercase hexadecimal characters, the form Zyre and Pyre use in
/// their APIs and in ELECT/LEADER messages.
///
/// ```
/// use ryre_proto::PeerId;
/// let id = PeerId::from_bytes([0xab; 16]);
/// assert_eq!(id.to_string(), "ABABABABABABABABABABABABABABABAB");
/// assert_eq!(id.to_string().parse::<PeerId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PeerId([u8; 16]);

/// Parsing a [`PeerId`] from text failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a peer id is 32 hexadecimal characters, got {0:?}")]
pub struct ParsePeerIdError(pub String);

impl PeerId {
    /// Wraps 16 raw UUID bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        PeerId(bytes)
    }

    /// The 16 raw UUID bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Reads an id from a slice of exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(PeerId)
    }

    /// The ZeroMQ routing id a node uses on its DEALER to a peer: `0x01` followed by its own UUID.
    pub fn routing_id(&self) -> [u8; 17] {
        let mut out = [0u8; 17];
        out[0] = 1;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// Reads the sender's id from a ROUTER routing id (`0x01` + 16 bytes); `None` for any other shape.
    pub fn from_routing_id(routing_id: &[u8]) -> Option<Self> {
        match routing_id {
            [1, rest @ ..] => Self::from_slice(rest),
            _ => None,
        }
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut buf = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            buf[2 * i] = HEX[(b >> 4) as usize];
            buf[2 * i + 1] = HEX[(b & 0xf) as usize];
        }
        // The buffer holds only ASCII hex digits.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

impl FromStr for PeerId {
    type Err = ParsePeerIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParsePeerIdError(s.chars().take(64).collect());
        let raw = s.as_bytes();
        if raw.len() != 32 {
            return Err(err());
        }
        let mut out = [0u8; 16];
        for (i, pair) in raw.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or_else(err)?;
            let lo = hex_val(pair[1]).ok_or_else(err)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(PeerId(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn routing_id_round_trip() {
        let id = PeerId::from_bytes([7; 16]);
        assert_eq!(PeerId::from_routing_id(&id.routing_id()), Some(id));
        assert_eq!(PeerId::from_routing_id(&[2; 17]), None);
        assert_eq!(PeerId::from_routing_id(&[1; 16]), None);
    }

    #[test]
    fn rejects_bad_text() {
        assert!("xyz".parse::<PeerId>().is_err());
        assert!("G".repeat(32).parse::<PeerId>().is_err());
        assert!("é".repeat(16).parse::<PeerId>().is_err());
    }

    proptest! {
        #[test]
        fn text_round_trip(bytes in any::<[u8; 16]>()) {
            let id = PeerId::from_bytes(bytes);
            let text = id.to_string();
            prop_assert_eq!(text.len(), 32);
            prop_assert_eq!(text.to_uppercase(), text.clone());
            prop_assert_eq!(text.parse::<PeerId>().unwrap(), id);
            prop_assert_eq!(text.to_lowercase().parse::<PeerId>().unwrap(), id);
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = s.parse::<PeerId>();
        }
    }
}
