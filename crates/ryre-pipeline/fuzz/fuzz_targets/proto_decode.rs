//! `proto::Msg::decode` on raw frames: never panics; what decodes re-encodes to exactly the same
//! bytes (the encoding is canonical: no trailing bytes, no alternative forms).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ryre_pipeline::proto::Msg;

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    if let Ok(msg) = Msg::decode(&frame) {
        let again = msg.encode();
        assert_eq!(again, frame, "a decoded message re-encodes to its frame");
        assert_eq!(Msg::decode(&again), Ok(msg));
    }
});
