//! LogRecord::decode and decode_lossy on raw frames: never panic; a frame that decodes strictly
//! re-encodes to exactly the same bytes; a repaired (lossy) record re-encodes and decodes
//! strictly to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ryre_log::LogRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = LogRecord::decode(data) {
        let wire = rec.encode().expect("a decoded record re-encodes");
        assert_eq!(&wire[..], data, "canonical encoding");
    }
    if let Ok((rec, _)) = LogRecord::decode_lossy(data) {
        let mut rec = rec;
        // Repairing can lengthen strings (U+FFFD is 3 bytes) past their limits.
        rec.truncate_to_fit();
        let wire = rec.encode().expect("a repaired record re-encodes");
        assert_eq!(LogRecord::decode(&wire), Ok(rec));
    }
});
