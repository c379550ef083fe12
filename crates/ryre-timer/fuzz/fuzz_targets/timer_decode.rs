//! TimerMsg::decode on raw frames: never panics; what decodes re-encodes to exactly the same
//! bytes (the codec is canonical) and decodes again to the same message.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ryre_timer::proto::TimerMsg;

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let Ok(msg) = TimerMsg::decode(&frame) else {
        return;
    };
    let wire = msg.encode().expect("a decoded timer message re-encodes");
    assert_eq!(&wire[..], data, "canonical encoding");
    assert_eq!(TimerMsg::decode(&wire), Ok(msg));
});
