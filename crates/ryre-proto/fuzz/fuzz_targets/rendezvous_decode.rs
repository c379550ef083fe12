//! RvMsg::decode on raw byte streams: never panics, never claims more bytes than it was given;
//! every message it reads re-encodes to exactly the bytes it consumed; the rest of the stream
//! is read the same way until an error or the need for more bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ryre_proto::rendezvous::RvMsg;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((msg, used))) = RvMsg::decode(rest) {
        assert!(used >= 9 && used <= rest.len());
        let wire = msg.encode().expect("a decoded message re-encodes");
        assert_eq!(&wire[..], &rest[..used], "canonical encoding");
        rest = &rest[used..];
    }
});
