//! Beacon::decode on raw datagrams: never panics; what decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ryre_proto::beacon::Beacon;

fuzz_target!(|data: &[u8]| {
    if let Ok(beacon) = Beacon::decode(data) {
        assert_eq!(
            beacon.encode(),
            data,
            "a decoded beacon re-encodes to its datagram"
        );
        assert_eq!(Beacon::decode(&beacon.encode()), Ok(beacon));
    }
});
