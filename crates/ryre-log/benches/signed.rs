//! What certified logging costs per record: the publisher's encode + sign against encode alone,
//! and the collector's decode + check (the admitted peer's certificate read from the heart, the
//! signature verified) against decode alone, on a typical 200-byte record.
//! `cargo bench -p ryre-log --bench signed`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ryre::certs::Services;
use ryre_log::proto::DOMAIN;
use ryre_log::{Level, LogRecord};
use ryre_testkit::pki::{link, Pki};

fn bench(c: &mut Criterion) {
    let pki = Pki::new();
    let fp = pki.issue("publisher", &[], Services::LOG);
    let fc = pki.issue("collector", &[], Services::NONE);
    let publisher = pki.node(&fp);
    let collector = pki.node(&fc);
    link(&publisher, &fp, &collector, &fc);
    let rec = LogRecord {
        seq: 41,
        time: 1_800_000_000_000_000_000,
        level: Level::Info,
        node: publisher.uuid(),
        name: "publisher".into(),
        target: "app::requests".into(),
        message: "request served in 12 ms".into(),
        fields: vec![
            ("method".into(), "GET".into()),
            ("path".into(), "/api/v1/things/12345".into()),
            ("status".into(), "200".into()),
            ("user".into(), "ann".into()),
        ],
        spans: vec!["http".into(), "request".into()],
    };
    let v1 = rec.encode().expect("encodable");
    let mut v2 = rec.encode_mut().expect("encodable");
    assert!(LogRecord::sign_frame(&mut v2, |b| publisher.sign(DOMAIN, b)));
    println!("record: {} bytes unsigned, {} signed", v1.len(), v2.len());

    c.bench_function("log record: encode (uncertified)", |b| {
        b.iter(|| black_box(black_box(&rec).encode_mut().expect("encodable")))
    });
    c.bench_function("log record: encode + sign (certified)", |b| {
        b.iter(|| {
            let mut f = black_box(&rec).encode_mut().expect("encodable");
            LogRecord::sign_frame(&mut f, |m| publisher.sign(DOMAIN, m));
            black_box(f)
        })
    });
    c.bench_function("log record: decode (uncertified)", |b| {
        b.iter(|| black_box(LogRecord::decode_frame(black_box(&v1)).expect("decodes")))
    });
    let key = publisher.certificate().expect("certified").signing_key;
    let signed = &v2[..v2.len() - ryre_log::proto::SIGNATURE_LEN];
    let sig: [u8; 64] = v2[v2.len() - 64..].try_into().expect("64 bytes");
    c.bench_function("log record: the signature's verification alone", |b| {
        b.iter(|| {
            black_box(ryre::certs::verify_service(
                &key,
                DOMAIN,
                black_box(signed),
                &sig,
            ))
        })
    });
    c.bench_function(
        "log record: Node::check_signature (heart lookup + verification)",
        |b| {
            b.iter(|| {
                black_box(
                    collector
                        .check_signature(
                            &publisher.uuid(),
                            Services::LOG,
                            DOMAIN,
                            black_box(signed),
                            &sig,
                        )
                        .is_ok(),
                )
            })
        },
    );
    c.bench_function("log record: decode + check (certified)", |b| {
        b.iter(|| {
            let d = LogRecord::decode_frame(black_box(&v2)).expect("decodes");
            let (signed, sig) = d.signature.expect("signed");
            let ok = collector
                .check_signature(&d.record.node, Services::LOG, DOMAIN, signed, &sig)
                .is_ok();
            assert!(ok);
            black_box(d.record)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
