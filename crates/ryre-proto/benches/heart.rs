//! The heart's own cost per message, without sockets: a whisper command turned into frames, and
//! an inbox message turned into an event. `cargo bench -p ryre-proto --bench heart`

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use ryre_proto::msg::{Hello, Message};
use ryre_proto::{Command, Config, Content, Input, NodeState, PeerId, Transmit};

fn node(id: u8) -> NodeState {
    NodeState::new(Config::new(
        PeerId::from_bytes([id; 16]),
        format!("n{id}"),
        format!("tcp://127.0.0.1:{}", 1000 + u16::from(id)),
    ))
}

/// `a` knows `b` (HELLO both ways).
fn pair() -> (NodeState, NodeState) {
    let now = Instant::now();
    let (mut a, mut b) = (node(1), node(2));
    for (x, y) in [(&mut a, 2u8), (&mut b, 1u8)] {
        let hello = Message::Hello(Hello {
            endpoint: format!("tcp://127.0.0.1:{}", 1000 + u16::from(y)),
            name: format!("n{y}"),
            ..Hello::default()
        });
        let frames = hello.encode(1).expect("hello encodes");
        let id = PeerId::from_bytes([y; 16]);
        x.handle(
            now,
            Input::Inbox {
                routing_id: Bytes::copy_from_slice(&id.routing_id()),
                frames,
            },
        )
        .expect("hello accepted");
        while x.poll_transmit().is_some() {}
        while x.poll_event().is_some() {}
    }
    (a, b)
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let payload = Bytes::from_static(&[b'x'; 16]);
    let (mut a, mut b) = pair();
    let to = PeerId::from_bytes([2; 16]);
    c.bench_function("whisper command -> frames (16 B)", |bn| {
        bn.iter(|| {
            let content: Content = std::iter::once(payload.clone()).collect();
            a.handle(now, Input::Command(Command::Whisper { peer: to, content }))
                .expect("known peer");
            black_box(a.poll_transmit())
        })
    });
    // Frames from a to b, with sequence numbers that follow on.
    let from = PeerId::from_bytes([1; 16]).routing_id();
    let mut seq: u16 = 1;
    let mut head = Vec::new();
    c.bench_function("inbox frames -> WHISPER event (16 B)", |bn| {
        bn.iter(|| {
            seq = seq.wrapping_add(1);
            Message::Whisper {
                content: Content::new(),
            }
            .encode_head(seq, &mut head)
            .expect("encodes");
            let content: Content = std::iter::once(payload.clone()).collect();
            b.handle_message(now, &from, &head, content)
                .expect("in sequence");
            black_box(b.poll_event())
        })
    });
    c.bench_function("decode WHISPER head", |bn| {
        let head = Message::Whisper {
            content: Content::new(),
        }
        .encode(7)
        .expect("encodes");
        bn.iter(|| black_box(Message::decode_parts(&head[0], Content::new())))
    });
    let _ = Transmit::Disconnect { peer: to };
}

criterion_group!(benches, bench);
criterion_main!(benches);
