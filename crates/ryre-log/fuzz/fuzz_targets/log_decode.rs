//! LogRecord::decode, decode_lossy and decode_frame on raw frames: never panic; a frame that
//! decodes strictly re-encodes to exactly the same bytes (a signed one: version 2 and the same
//! signature appended); a repaired (lossy) record re-encodes and decodes strictly to itself; a
//! signed frame's signed bytes are the frame without its last 64 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ryre_log::proto::{SIGNATURE_LEN, SIGNED_VERSION, VERSION_OFFSET};
use ryre_log::LogRecord;

fuzz_target!(|data: &[u8]| {
    let signed = data.get(VERSION_OFFSET) == Some(&SIGNED_VERSION);
    if let Ok(rec) = LogRecord::decode(data) {
        let mut wire = rec.encode_mut().expect("a decoded record re-encodes");
        if signed {
            let sig: [u8; SIGNATURE_LEN] = data[data.len() - SIGNATURE_LEN..]
                .try_into()
                .expect("a signed record ends with its signature");
            assert!(LogRecord::sign_frame(&mut wire, |_| Some(sig)));
        }
        assert_eq!(&wire[..], data, "canonical encoding");
    }
    if let Ok(d) = LogRecord::decode_frame(data) {
        match d.signature {
            Some((part, _)) => {
                assert!(signed);
                assert_eq!(part, &data[..data.len() - SIGNATURE_LEN]);
            }
            None => assert!(!signed),
        }
    }
    if let Ok((rec, _)) = LogRecord::decode_lossy(data) {
        let mut rec = rec;
        // Repairing can lengthen strings (U+FFFD is 3 bytes) past their limits.
        rec.truncate_to_fit();
        let wire = rec.encode().expect("a repaired record re-encodes");
        assert_eq!(LogRecord::decode(&wire), Ok(rec));
    }
});
