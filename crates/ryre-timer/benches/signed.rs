//! What certified ticks cost: the timer node's encode + sign against encode alone, and the
//! subscriber's decode + check (the admitted peer's certificate read from the heart, the
//! signature verified) against decode alone.
//! `cargo bench -p ryre-timer --bench signed`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ryre::certs::Services;
use ryre_testkit::pki::{link, Pki};
use ryre_timer::proto::{TimerMsg, DOMAIN};

fn bench(c: &mut Criterion) {
    let pki = Pki::new();
    let fs = pki.issue("timer", &[], Services::TIMER);
    let fc = pki.issue("app", &[], Services::NONE);
    let server = pki.node(&fs);
    let client = pki.node(&fc);
    link(&server, &fs, &client, &fc);
    let tick = TimerMsg::Tick {
        rate: 100,
        n: 123_456,
        t0: 1_800_000_000_000_000_000,
        scheduled: 1_800_001_234_560_000_000,
    };
    let v1 = tick.encode().expect("encodable");
    let v2 = tick
        .encode_signed(|b| server.sign(DOMAIN, b))
        .expect("encodable")
        .expect("signed");
    println!("tick: {} bytes unsigned, {} signed", v1.len(), v2.len());
    let sid = server.uuid();

    c.bench_function("tick: encode (uncertified)", |b| {
        b.iter(|| black_box(black_box(&tick).encode().expect("encodable")))
    });
    c.bench_function("tick: encode + sign (certified)", |b| {
        b.iter(|| black_box(black_box(&tick).encode_signed(|m| server.sign(DOMAIN, m))))
    });
    c.bench_function("tick: decode (uncertified)", |b| {
        b.iter(|| black_box(TimerMsg::decode_frame(black_box(&v1)).expect("decodes")))
    });
    c.bench_function("tick: decode + check (certified)", |b| {
        b.iter(|| {
            let (msg, sig) = TimerMsg::decode_frame(black_box(&v2)).expect("decodes");
            let (signed, sig) = sig.expect("signed");
            assert!(client
                .check_signature(&sid, Services::TIMER, DOMAIN, &signed, &sig)
                .is_ok());
            black_box(msg)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
