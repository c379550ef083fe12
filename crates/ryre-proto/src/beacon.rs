//! ZRE discovery beacons (UDP): 22-byte version 1, and Zyre's 54-byte CURVE version 3.
//!
//! Layout: `'Z' 'R' 'E'`, version byte, 16-byte UUID, 2-byte big-endian inbox port, then (version 3
//! only) the sender's 32-byte CURVE public key. Port 0 means the sender is leaving.

use crate::PeerId;

/// Size of a version 1 beacon.
pub const BEACON_V1_LEN: usize = 22;
/// Size of a version 3 (CURVE) beacon.
pub const BEACON_V3_LEN: usize = 54;
/// The default UDP port for ZRE beacons (IANA "ZRE-DISC").
pub const DEFAULT_BEACON_PORT: u16 = 5670;

/// One decoded beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beacon {
    /// The sender's identity.
    pub id: PeerId,
    /// TCP port of the sender's inbox; 0 announces that the sender is leaving.
    pub port: u16,
    /// The sender's CURVE public key: present exactly in version 3 beacons.
    pub public_key: Option<[u8; 32]>,
}

/// Why a datagram is not a beacon we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BeaconError {
    /// Not 22 or 54 bytes long.
    #[error("a beacon is 22 or 54 bytes, got {0}")]
    BadLength(usize),
    /// Does not start with `ZRE`.
    #[error("a beacon starts with \"ZRE\"")]
    BadSignature,
    /// The version byte does not fit the length (1 for 22 bytes, 3 for 54 bytes).
    #[error("beacon version {version} does not fit its length {len}")]
    BadVersion {
        /// The version byte received.
        version: u8,
        /// The datagram's length.
        len: usize,
    },
}

impl Beacon {
    /// A version 1 beacon.
    pub fn new(id: PeerId, port: u16) -> Self {
        Beacon {
            id,
            port,
            public_key: None,
        }
    }

    /// The version byte this beacon carries on the wire (1, or 3 with a public key).
    pub fn version(&self) -> u8 {
        if self.public_key.is_some() {
            3
        } else {
            1
        }
    }

    /// Whether the sender announces that it is leaving (port 0).
    pub fn is_leaving(&self) -> bool {
        self.port == 0
    }

    /// The wire form: 22 bytes, or 54 with a public key.
    ///
    /// ```
    /// use ryre_proto::{beacon::Beacon, PeerId};
    /// let b = Beacon::new(PeerId::from_bytes([1; 16]), 49152);
    /// let wire = b.encode();
    /// assert_eq!(&wire[..4], b"ZRE\x01");
    /// assert_eq!(Beacon::decode(&wire), Ok(b));
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BEACON_V3_LEN);
        out.extend_from_slice(b"ZRE");
        out.push(self.version());
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.port.to_be_bytes());
        if let Some(key) = &self.public_key {
            out.extend_from_slice(key);
        }
        out
    }

    /// Reads a beacon; any other datagram is an error, never a panic.
    pub fn decode(data: &[u8]) -> Result<Beacon, BeaconError> {
        let len = data.len();
        if len != BEACON_V1_LEN && len != BEACON_V3_LEN {
            return Err(BeaconError::BadLength(len));
        }
        if &data[..3] != b"ZRE" {
            return Err(BeaconError::BadSignature);
        }
        let version = data[3];
        let expected = if len == BEACON_V1_LEN { 1 } else { 3 };
        if version != expected {
            return Err(BeaconError::BadVersion { version, len });
        }
        let id = PeerId::from_slice(&data[4..20]).ok_or(BeaconError::BadLength(len))?;
        let port = u16::from_be_bytes([data[20], data[21]]);
        let public_key = if len == BEACON_V3_LEN {
            <[u8; 32]>::try_from(&data[22..54]).ok()
        } else {
            None
        };
        Ok(Beacon {
            id,
            port,
            public_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        let mut id = [0u8; 16];
        id[15] = 0x42;
        let b = Beacon::new(PeerId::from_bytes(id), 0x1234);
        let mut want = b"ZRE\x01".to_vec();
        want.extend_from_slice(&id);
        want.extend_from_slice(&[0x12, 0x34]);
        assert_eq!(b.encode(), want);
    }

    #[test]
    fn leaving_beacon() {
        let b = Beacon::decode(&Beacon::new(PeerId::from_bytes([3; 16]), 0).encode()).unwrap();
        assert!(b.is_leaving());
    }

    #[test]
    fn errors() {
        assert_eq!(Beacon::decode(b"ZRE"), Err(BeaconError::BadLength(3)));
        let mut v1 = Beacon::new(PeerId::default(), 1).encode();
        v1[0] = b'X';
        assert_eq!(Beacon::decode(&v1), Err(BeaconError::BadSignature));
        v1[0] = b'Z';
        v1[3] = 3;
        assert_eq!(
            Beacon::decode(&v1),
            Err(BeaconError::BadVersion {
                version: 3,
                len: 22
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip(id in any::<[u8; 16]>(), port in any::<u16>(), key in any::<Option<[u8; 32]>>()) {
            let b = Beacon { id: PeerId::from_bytes(id), port, public_key: key };
            let wire = b.encode();
            prop_assert_eq!(wire.len(), if key.is_some() { 54 } else { 22 });
            prop_assert_eq!(Beacon::decode(&wire), Ok(b));
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Beacon::decode(&data);
        }
    }
}
