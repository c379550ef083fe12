//! Message::decode on up to 4 frames cut from the input: never panics; what decodes re-encodes
//! and decodes to the same message.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ryre_proto::msg::{Envelope, Message};

/// Cuts `data` into 1..=4 frames: the first byte gives the frame count (low 2 bits), the next
/// up-to-3 bytes give the lengths of all frames but the last, which takes the rest.
fn frames(data: &[u8]) -> Vec<Bytes> {
    let Some((&ctl, rest)) = data.split_first() else {
        return Vec::new();
    };
    let n = usize::from(ctl & 3) + 1;
    let cuts = (n - 1).min(rest.len());
    let (lens, mut body) = rest.split_at(cuts);
    let mut out = Vec::with_capacity(n);
    for &len in lens {
        let len = usize::from(len).min(body.len());
        let (frame, tail) = body.split_at(len);
        out.push(Bytes::copy_from_slice(frame));
        body = tail;
    }
    out.push(Bytes::copy_from_slice(body));
    out
}

/// WHISPER and SHOUT with no content frames are sent with one empty frame (as Zyre does), so
/// they come back with one empty frame: the same content.
fn normalise(mut env: Envelope) -> Envelope {
    match &mut env.message {
        Message::Whisper { content } | Message::Shout { content, .. } if content.is_empty() => {
            content.push(Bytes::new());
        }
        _ => {}
    }
    env
}

fuzz_target!(|data: &[u8]| {
    let frames = frames(data);
    let Ok(env) = Message::decode(&frames) else {
        return;
    };
    let wire = env
        .message
        .encode(env.sequence)
        .expect("a decoded message re-encodes");
    let again = Message::decode(&wire).expect("a re-encoded message decodes");
    assert_eq!(again, normalise(env.clone()));
    // And the encoding is canonical from then on.
    assert_eq!(again.message.encode(again.sequence).unwrap(), wire);
});
