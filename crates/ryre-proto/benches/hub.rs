//! A gossip hub's cost per frame at scale: a refresh arriving at a hub holding `n` tuples and
//! `n / 10` pinging sessions, followed by the `poll_timeout` an event loop asks after every
//! frame (sans-IO: no sockets).

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ryre_proto::zgp::{Message, Server, ServerConfig, Tuple};

fn hub(n: usize, t0: Instant) -> (Server, Vec<Vec<u8>>) {
    let mut s = Server::new(ServerConfig::default());
    let sessions = (n / 10).max(1);
    for c in 0..sessions {
        let id = Bytes::from(format!("client-{c}"));
        s.handle_frame(t0, id.clone(), &Message::Hello.encode().unwrap_or_default());
        s.handle_frame(t0, id, &Message::Ping.encode().unwrap_or_default());
    }
    let mut refreshes = Vec::with_capacity(n);
    for k in 0..n {
        let m = Message::Publish(Tuple {
            key: format!("{k:032X}"),
            value: format!("tcp://10.0.{}.{}:49152", k / 250, k % 250),
            ttl: 30_000,
        });
        let wire = m.encode().unwrap_or_default();
        let from = Bytes::from(format!("client-{}", k % sessions));
        s.handle_frame(t0, from, &wire);
        refreshes.push(wire);
    }
    while s.poll_output().is_some() {}
    (s, refreshes)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("hub refresh + poll_timeout");
    for n in [100usize, 1_000, 10_000] {
        let t0 = Instant::now();
        let (mut s, refreshes) = hub(n, t0);
        let ids: Vec<Bytes> = (0..(n / 10).max(1))
            .map(|c| Bytes::from(format!("client-{c}")))
            .collect();
        let mut i = 0usize;
        let mut now = t0;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                // A refresh within the quarter-ttl window: stored, not forwarded (no outputs).
                now += Duration::from_micros(1);
                let from = ids[i % ids.len()].clone();
                s.handle_frame(now, from, &refreshes[i % refreshes.len()]);
                i += 1;
                while s.poll_output().is_some() {}
                std::hint::black_box(s.poll_timeout())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
