//! What HTTP and WebSocket clients send, through the bridge's decoders: message bodies (JSON
//! frames or raw), WebSocket commands (alone and in batches), stream filters, log queries. Never panics; every rejection is a 400;
//! a body that is not JSON is always one frame, whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ryre_bridge::decode::{event_filter, log_query, message_frames, ws_batch, ws_command};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 5 {
        0 => match message_frames(Some("application/json"), rest.to_vec().into()) {
            Ok(frames) => assert!(!frames.is_empty()),
            Err(p) => assert_eq!(p.status, 400),
        },
        1 => {
            let frames = message_frames(Some("text/plain"), rest.to_vec().into())
                .expect("a raw body is always accepted");
            assert_eq!(frames.len(), 1);
            assert_eq!(&frames[0][..], rest);
        }
        2 => {
            if let Err(e) = ws_command(&text) {
                assert_eq!(e.problem.status, 400);
            }
            // The same text as a batch (a JSON array of commands).
            match ws_batch(&text) {
                Ok(cmds) => {
                    for c in cmds {
                        if let Err(e) = c {
                            assert_eq!(e.problem.status, 400);
                        }
                    }
                }
                Err(e) => assert_eq!(e.problem.status, 400),
            }
        }
        3 => {
            let (types, group) = text.split_once('&').unwrap_or((&text, ""));
            if let Err(p) = event_filter(Some(types), Some(group)) {
                assert_eq!(p.status, 400);
            }
        }
        _ => {
            let mut parts = text.splitn(3, '&');
            let (n, level, node) = (parts.next(), parts.next(), parts.next());
            if let Err(p) = log_query(n, level, node) {
                assert_eq!(p.status, 400);
            }
        }
    }
});
