//! The cost of certified mode's decisions: a rights check per message (a peer's grants scanned
//! for a group), and a peer's admission (its chain decoded and verified once per HELLO).
//! `cargo bench -p ryre-proto --bench rights`

use std::hint::black_box;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use ryre_proto::security::cert::{
    encode_chain, CertBody, Certificate, Grant, Rights, Role, Services,
};
use ryre_proto::security::certified::{Certified, CertifiedConfig};
use ryre_proto::security::revocation::RevocationSet;
use ryre_proto::security::KeyPair;
use ryre_proto::PeerId;

const T0: u64 = 1_800_000_000;

fn pair(n: u8) -> KeyPair {
    (0u8..=255)
        .find_map(|i| KeyPair::from_seed([n ^ i; 32]).ok())
        .expect("some seed is Zyre-safe")
}

fn cert(
    issuer: &KeyPair,
    subject: &KeyPair,
    role: Role,
    grants: Vec<Grant>,
    serial: u64,
) -> Certificate {
    Certificate::sign(
        CertBody {
            role,
            services: Services::ALL,
            subject: subject.signing_public(),
            issuer: issuer.signing_public(),
            serial,
            not_before: T0,
            not_after: T0 + 86_400,
            name: format!("n{serial}"),
            grants,
        },
        |m| issuer.sign(m),
    )
    .expect("valid body")
}

fn grants(n: usize) -> Vec<Grant> {
    // n - 1 other groups, then the one the messages use.
    (0..n)
        .map(|i| Grant {
            pattern: if i + 1 == n {
                "chat".into()
            } else {
                format!("group-{i}")
            },
            rights: Rights::JOIN | Rights::SHOUT,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ca = pair(1);
    let root = cert(
        &ca,
        &ca,
        Role::Ca,
        vec![Grant {
            pattern: "*".into(),
            rights: Rights::ALL,
        }],
        1,
    );
    let me = pair(2);
    let mut state = Certified::new(
        CertifiedConfig {
            chain: vec![cert(&ca, &me, Role::Node, grants(4), 2)],
            roots: vec![root],
            skew: 60,
        },
        RevocationSet::new(),
        T0 + 10,
        0,
    )
    .expect("own chain verifies");
    for n in [1usize, 8, 32] {
        let peer = pair(10 + n as u8);
        let id = PeerId::from_bytes([n as u8; 16]);
        let chain = [cert(&ca, &peer, Role::Node, grants(n), 100 + n as u64)];
        let header = base64::engine::general_purpose::STANDARD.encode(encode_chain(&chain));
        state
            .admit(id, Some(peer.public()), Some(&header), T0 + 10)
            .expect("admitted");
        c.bench_function(
            &format!("rights check: shout in a group, peer with {n} grants"),
            |b| {
                b.iter(|| {
                    black_box(state.peer_may(black_box(&id), black_box("chat"), Rights::SHOUT))
                })
            },
        );
        if n == 8 {
            c.bench_function(
                "admission: decode and verify a one-certificate chain (HELLO)",
                |b| {
                    b.iter(|| {
                        black_box(
                            state
                                .admit(id, Some(peer.public()), Some(black_box(&header)), T0 + 10)
                                .is_ok(),
                        )
                    })
                },
            );
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
