//! TimerMsg::decode and decode_frame on raw frames: never panic; what decodes re-encodes to
//! exactly the same bytes (the codec is canonical; a signed frame: version 2 and the same
//! signature appended) and decodes again to the same message; a signed frame's signed bytes
//! are the frame without its last 64 bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ryre_timer::proto::{TimerMsg, SIGNATURE_LEN};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let Ok((msg, sig)) = TimerMsg::decode_frame(&frame) else {
        assert!(TimerMsg::decode(&frame).is_err());
        return;
    };
    assert_eq!(TimerMsg::decode(&frame).as_ref(), Ok(&msg));
    let wire = match sig {
        None => msg.encode().expect("a decoded timer message re-encodes"),
        Some((signed, sig)) => {
            assert_eq!(&signed[..], &data[..data.len() - SIGNATURE_LEN]);
            msg.encode_signed(|_| Some(sig))
                .expect("a decoded timer message re-encodes")
                .expect("signed")
        }
    };
    assert_eq!(&wire[..], data, "canonical encoding");
    assert_eq!(TimerMsg::decode(&wire), Ok(msg));
});
