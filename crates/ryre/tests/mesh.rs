//! Many nodes in one process; the async event stream.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use ryre::{Event, PeerId};

#[test]
fn ten_nodes_find_each_other_and_shout() {
    let port = free_udp_port();
    let nodes: Vec<_> = (0..10)
        .map(|i| builder(port, &format!("n{i}")).start().unwrap())
        .collect();
    for n in &nodes {
        n.join("all").unwrap();
    }
    let ids: HashSet<PeerId> = nodes.iter().map(|n| n.uuid()).collect();
    // Every node sees the 9 others join "all".
    for n in &nodes {
        let mut joined = HashSet::new();
        while joined.len() < 9 {
            if let Event::Join { peer, group, .. } =
                expect(n, "JOIN all", |e| matches!(e, Event::Join { .. }))
            {
                assert_eq!(group, "all");
                assert!(ids.contains(&peer) && peer != n.uuid());
                joined.insert(peer);
            }
        }
        assert_eq!(n.peers_by_group("all").len(), 9);
    }
    nodes[0].shout_str("all", "hi everyone").unwrap();
    for n in &nodes[1..] {
        let ev = expect(n, "SHOUT", |e| matches!(e, Event::Shout { .. }));
        assert!(matches!(ev, Event::Shout { peer, .. } if peer == nodes[0].uuid()));
    }
    // Whispers in a ring.
    for (i, n) in nodes.iter().enumerate() {
        n.whisper_str(nodes[(i + 1) % 10].uuid(), &format!("from {i}"))
            .unwrap();
    }
    for (i, n) in nodes.iter().enumerate() {
        let ev = expect(n, "WHISPER", |e| matches!(e, Event::Whisper { .. }));
        let Event::Whisper { peer, content, .. } = ev else {
            unreachable!()
        };
        assert_eq!(peer, nodes[(i + 9) % 10].uuid());
        assert_eq!(&content[0][..], format!("from {}", (i + 9) % 10).as_bytes());
    }
    for n in &nodes {
        n.stop().unwrap();
    }
}

#[test]
fn leader_election_among_ryre_nodes() {
    let port = free_udp_port();
    let nodes: Vec<_> = (0..3)
        .map(|i| builder(port, &format!("e{i}")).start().unwrap())
        .collect();
    // Meet first, then contest and join, so the JOIN messages start the waves (Zyre's way).
    for n in &nodes {
        let mut seen = HashSet::new();
        while seen.len() < 2 {
            if let Event::Enter { peer, .. } =
                expect(n, "ENTER", |e| matches!(e, Event::Enter { .. }))
            {
                seen.insert(peer);
            }
        }
    }
    for n in &nodes {
        n.contest_in_group("lead").unwrap();
        n.join("lead").unwrap();
    }
    let lowest = nodes.iter().map(|n| n.uuid()).min().unwrap();
    for n in &nodes {
        // Waves restart while members join: the last LEADER a node reports is the lowest id.
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        while last != Some(lowest) && Instant::now() < deadline {
            if let Ok(Some(Event::Leader { peer, group, .. })) =
                n.recv_timeout(Duration::from_millis(200))
            {
                assert_eq!(group, "lead");
                last = Some(peer);
            }
        }
        assert_eq!(last, Some(lowest), "{} elected the lowest id", n.name());
    }
}

#[test]
fn async_event_stream() {
    use futures_util::StreamExt;
    let port = free_udp_port();
    let a = builder(port, "a").start().unwrap();
    let b = builder(port, "b").start().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut events = a.events();
        let enter = tokio::time::timeout(WAIT, async {
            while let Some(ev) = events.next().await {
                if let Event::Enter { peer, .. } = ev {
                    return peer;
                }
            }
            panic!("stream ended");
        })
        .await
        .expect("ENTER within the wait");
        assert_eq!(enter, b.uuid());
        a.stop().unwrap();
        // The stream ends after STOP.
        let rest = tokio::time::timeout(WAIT, events.collect::<Vec<_>>())
            .await
            .unwrap();
        assert!(matches!(rest.last(), Some(Event::Stop { .. })));
    });
}

/// Healthy idle peers answer the keep-alive PING sent half-way to the evasive timeout, so an idle
/// mesh reports no EVASIVE at all (Zyre reports every idle peer EVASIVE each evasive period).
#[test]
fn idle_healthy_peers_never_turn_evasive() {
    let port = free_udp_port();
    let fast = |name: &str| {
        builder(port, name)
            .evasive_timeout(Duration::from_millis(200))
            .expired_timeout(Duration::from_millis(1000))
            .start()
            .unwrap()
    };
    let a = fast("idle-a");
    let b = fast("idle-b");
    expect(&a, "ENTER", |e| matches!(e, Event::Enter { .. }));
    // Ten evasive periods of silence, watched from a; b's events queue up meanwhile.
    let bad = |e: &Event| {
        matches!(
            e,
            Event::Evasive { .. } | Event::Silent { .. } | Event::Exit { .. }
        )
    };
    let until = Instant::now() + Duration::from_millis(2000);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Some(e) = a.recv_timeout(left).unwrap() {
            assert!(!bad(&e), "a: a healthy idle peer was reported: {e:?}");
        }
    }
    while let Some(e) = b.try_recv() {
        assert!(!bad(&e), "b: a healthy idle peer was reported: {e:?}");
    }
    assert_eq!(a.peers(), vec![b.uuid()]);
}

/// Forty nodes in one process on loopback: every node sees the 39 others join, and a shout from
/// one reaches all of them.
#[test]
fn forty_nodes_in_one_process() {
    const N: usize = 40;
    let port = free_udp_port();
    let nodes: Vec<_> = (0..N)
        .map(|i| {
            builder(port, &format!("m{i}"))
                .interval(Duration::from_millis(200))
                .start()
                .unwrap()
        })
        .collect();
    for n in &nodes {
        n.join("many").unwrap();
    }
    let started = Instant::now();
    for n in &nodes {
        let mut joined = HashSet::new();
        while joined.len() < N - 1 {
            if let Event::Join { peer, .. } =
                expect(n, "JOIN many", |e| matches!(e, Event::Join { .. }))
            {
                joined.insert(peer);
            }
        }
    }
    let met = started.elapsed();
    nodes[7].shout_str("many", "to all").unwrap();
    for (i, n) in nodes.iter().enumerate().filter(|(i, _)| *i != 7) {
        let ev = expect(n, "SHOUT", |e| matches!(e, Event::Shout { .. }));
        assert!(
            matches!(ev, Event::Shout { peer, .. } if peer == nodes[7].uuid()),
            "node {i}"
        );
    }
    eprintln!("40 nodes met in {met:?}");
}
