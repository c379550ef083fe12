//! zgp::Message::decode on raw frames: never panics; what decodes re-encodes to exactly the same
//! bytes and decodes again to the same message. The same bytes fed to a server session and a
//! client session never panic either.
#![no_main]

use std::time::Instant;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ryre_proto::zgp::{Client, ClientConfig, Message, Server, ServerConfig};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut server = Server::new(ServerConfig::default());
    server.handle_frame(now, Bytes::from_static(b"\0id"), &Message::Hello.encode().unwrap());
    server.handle_frame(now, Bytes::from_static(b"\0id"), data);
    while server.poll_output().is_some() {}
    let mut client = Client::new(ClientConfig::default());
    client.start(now);
    let _ = client.handle_frame(now, data);
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    let wire = msg.encode().expect("a decoded ZGP message re-encodes");
    assert_eq!(&wire[..], data, "canonical encoding");
    assert_eq!(Message::decode(&wire), Ok(msg));
});
