//! Z85 (ZeroMQ RFC 32): 4 bytes as 5 printable characters. CURVE keys are shown, stored and sent
//! in HELLO (`X-PUBLICKEY`) this way: 32 bytes, 40 characters.

const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Why a string is not Z85.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Z85Error {
    /// Z85 text is a multiple of 5 characters long.
    #[error("Z85 text is a multiple of 5 characters, got {0}")]
    BadLength(usize),
    /// A character outside the Z85 alphabet.
    #[error("{0:?} is not a Z85 character")]
    BadChar(char),
    /// Five characters whose value does not fit in 4 bytes.
    #[error("Z85 group {0:?} is out of range")]
    Overflow(String),
}

/// Encodes `data` (a multiple of 4 bytes; other lengths return `None`).
pub fn encode(data: &[u8]) -> Option<String> {
    if data.len() % 4 != 0 {
        return None;
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks_exact(4) {
        let mut v = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut group = [0u8; 5];
        for slot in group.iter_mut().rev() {
            *slot = ALPHABET[(v % 85) as usize];
            v /= 85;
        }
        out.extend(group.iter().map(|&c| c as char));
    }
    Some(out)
}

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Decodes Z85 text.
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    if let Some(bad) = text
        .chars()
        .find(|c| !c.is_ascii() || value(*c as u8).is_none())
    {
        return Err(Z85Error::BadChar(bad));
    }
    let bytes = text.as_bytes();
    if bytes.len() % 5 != 0 {
        return Err(Z85Error::BadLength(bytes.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() / 5 * 4);
    for group in bytes.chunks_exact(5) {
        let mut v: u64 = 0;
        for &c in group {
            v = v * 85 + u64::from(value(c).unwrap_or(0));
        }
        let v = u32::try_from(v)
            .map_err(|_| Z85Error::Overflow(String::from_utf8_lossy(group).into_owned()))?;
        out.extend_from_slice(&v.to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc32_test_vector() {
        // The example of RFC 32.
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).as_deref(), Some("HelloWorld"));
        assert_eq!(decode("HelloWorld").unwrap(), data);
    }

    #[test]
    fn errors() {
        assert_eq!(encode(&[1, 2, 3]), None);
        assert_eq!(decode("abcd"), Err(Z85Error::BadLength(4)));
        assert_eq!(decode("abcd~"), Err(Z85Error::BadChar('~')));
        assert!(matches!(decode("#####"), Err(Z85Error::Overflow(_))));
        assert!(decode("é1234").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<[u8; 4]>(), 0..16)) {
            let flat: Vec<u8> = data.concat();
            let text = encode(&flat).unwrap();
            prop_assert_eq!(decode(&text).unwrap(), flat);
        }

        #[test]
        fn decode_never_panics(s in "\\PC{0,50}") {
            let _ = decode(&s);
        }
    }
}
