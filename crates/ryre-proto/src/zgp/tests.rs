use super::*;
use proptest::prelude::*;

fn t(key: &str, value: &str, ttl: u32) -> Tuple {
    Tuple {
        key: key.into(),
        value: value.into(),
        ttl,
    }
}

fn rid(n: u8) -> Bytes {
    Bytes::from(vec![0, 0, 0, 0, n])
}

fn enc(m: Message) -> Vec<u8> {
    m.encode().expect("encodes")
}

fn drain(s: &mut Server) -> Vec<ServerOutput> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn sent(s: &mut Server) -> Vec<(Bytes, Message)> {
    drain(s)
        .into_iter()
        .filter_map(|o| match o {
            ServerOutput::Send { to, msg } => Some((to, msg)),
            _ => None,
        })
        .collect()
}

#[test]
fn wire_bytes_are_czmqs() {
    assert_eq!(enc(Message::Hello), [0xAA, 0xA0, 1, 1]);
    assert_eq!(enc(Message::Ping), [0xAA, 0xA0, 3, 1]);
    assert_eq!(enc(Message::Pong), [0xAA, 0xA0, 4, 1]);
    assert_eq!(enc(Message::Invalid), [0xAA, 0xA0, 5, 1]);
    let key = "0123456789ABCDEF0123456789ABCDEF";
    let wire = enc(Message::Publish(t(key, "tcp://10.0.0.1:5000", 0)));
    let mut want = vec![0xAA, 0xA0, 2, 1, 32];
    want.extend_from_slice(key.as_bytes());
    want.extend_from_slice(&[0, 0, 0, 19]);
    want.extend_from_slice(b"tcp://10.0.0.1:5000");
    want.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(wire, want);
}

#[test]
fn decode_errors_are_typed() {
    assert_eq!(Message::decode(&[]), Err(DecodeError::Short));
    assert_eq!(
        Message::decode(&[0xAA, 0xA1, 1, 1]),
        Err(DecodeError::Signature)
    );
    assert_eq!(
        Message::decode(&[0xAA, 0xA0, 1, 2]),
        Err(DecodeError::Version(2))
    );
    assert_eq!(
        Message::decode(&[0xAA, 0xA0, 9, 1]),
        Err(DecodeError::UnknownId(9))
    );
    assert_eq!(
        Message::decode(&[0xAA, 0xA0, 3, 1, 0]),
        Err(DecodeError::Trailing(1))
    );
    // A value length far beyond the frame.
    assert_eq!(
        Message::decode(&[0xAA, 0xA0, 2, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
        Err(DecodeError::Short)
    );
    assert_eq!(
        Message::decode(&[0xAA, 0xA0, 2, 1, 1, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(DecodeError::NotUtf8("key"))
    );
    assert_eq!(
        Message::Publish(t(&"k".repeat(256), "", 0)).encode(),
        Err(EncodeError::KeyTooLong(256))
    );
    assert!(Message::Publish(t(&"k".repeat(255), "", 0))
        .encode()
        .is_ok());
}

#[test]
fn server_answers_hello_with_every_tuple_and_forwards_new_ones() {
    let now = Instant::now();
    let mut s = Server::new(ServerConfig::default());
    s.accept(now, t("A", "tcp://a:1", 0));
    assert_eq!(
        drain(&mut s),
        vec![ServerOutput::Deliver(t("A", "tcp://a:1", 0))]
    );
    s.handle_frame(now, rid(1), &enc(Message::Hello));
    assert_eq!(
        sent(&mut s),
        vec![(rid(1), Message::Publish(t("A", "tcp://a:1", 0)))]
    );
    s.handle_frame(now, rid(2), &enc(Message::Hello));
    let _ = drain(&mut s);
    s.handle_frame(now, rid(1), &enc(Message::Publish(t("B", "tcp://b:1", 9))));
    let out = drain(&mut s);
    // Forwarded to every client in session, the publisher included (as CZMQ), and delivered.
    assert_eq!(
        out,
        vec![
            ServerOutput::Send {
                to: rid(1),
                msg: Message::Publish(t("B", "tcp://b:1", 9))
            },
            ServerOutput::Send {
                to: rid(2),
                msg: Message::Publish(t("B", "tcp://b:1", 9))
            },
            ServerOutput::Deliver(t("B", "tcp://b:1", 9)),
        ]
    );
    // A duplicate is dropped; a new value replaces and is forwarded.
    s.handle_frame(now, rid(2), &enc(Message::Publish(t("B", "tcp://b:1", 9))));
    assert_eq!(drain(&mut s), vec![]);
    s.handle_frame(now, rid(2), &enc(Message::Publish(t("B", "tcp://b:2", 9))));
    assert_eq!(drain(&mut s).len(), 3);
    assert_eq!(
        s.tuples().collect::<Vec<_>>(),
        vec![("A", "tcp://a:1"), ("B", "tcp://b:2")]
    );
}

#[test]
fn server_refuses_out_of_order_and_ends_the_session() {
    let now = Instant::now();
    let mut s = Server::new(ServerConfig::default());
    // PUBLISH and PING before HELLO.
    s.handle_frame(now, rid(1), &enc(Message::Ping));
    assert_eq!(sent(&mut s), vec![(rid(1), Message::Invalid)]);
    s.handle_frame(now, rid(1), &enc(Message::Publish(t("A", "a", 0))));
    assert_eq!(sent(&mut s), vec![(rid(1), Message::Invalid)]);
    assert_eq!(s.tuples().count(), 0);
    // HELLO twice: the second is INVALID and the session is gone.
    s.handle_frame(now, rid(1), &enc(Message::Hello));
    s.handle_frame(now, rid(1), &enc(Message::Hello));
    assert_eq!(sent(&mut s), vec![(rid(1), Message::Invalid)]);
    assert_eq!(s.sessions(), 0);
    // Garbage.
    s.handle_frame(now, rid(2), b"hello");
    assert_eq!(sent(&mut s), vec![(rid(2), Message::Invalid)]);
    assert_eq!(s.stats().malformed, 1);
    assert_eq!(s.stats().invalid, 3);
}

#[test]
fn ping_gets_pong_and_pinging_sessions_expire_when_silent() {
    let t0 = Instant::now();
    let mut s = Server::new(ServerConfig::default());
    s.handle_frame(t0, rid(1), &enc(Message::Hello)); // a Zyre client: never pings
    s.handle_frame(t0, rid(2), &enc(Message::Hello));
    s.handle_frame(t0, rid(2), &enc(Message::Ping));
    assert_eq!(sent(&mut s), vec![(rid(2), Message::Pong)]);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    s.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(
        s.sessions(),
        1,
        "the pinging client went silent; the quiet one stays"
    );
    s.handle_frame(t0, rid(2), &enc(Message::Ping));
    assert_eq!(sent(&mut s), vec![(rid(2), Message::Invalid)]);
}

#[test]
fn tuples_with_ttl_expire_unless_refreshed_and_zyres_never() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut s = Server::new(ServerConfig::default());
    s.accept(t0, t("Z", "zyre", 0));
    s.accept(t0, t("R", "ryre", 1000));
    let _ = drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(1000)));
    s.accept(t0 + ms(900), t("R", "ryre", 1000)); // refresh
    s.accept(t0 + ms(950), t("R", "ryre", 0)); // a CZMQ echo: changes nothing
    assert_eq!(
        drain(&mut s),
        vec![ServerOutput::Deliver(t("R", "ryre", 1000))],
        "a refresh a quarter of its ttl after the last forward goes on (a sign of life); the echo does not"
    );
    s.handle_timeout(t0 + ms(1000));
    assert_eq!(s.tuples().count(), 2);
    s.handle_timeout(t0 + ms(1900));
    assert_eq!(
        drain(&mut s),
        vec![ServerOutput::Expired(t("R", "ryre", 1000))]
    );
    assert_eq!(s.tuples().collect::<Vec<_>>(), vec![("Z", "zyre")]);
    s.handle_timeout(t0 + Duration::from_secs(3600));
    assert_eq!(s.tuples().count(), 1);
    // Withdrawal: the same tuple with ttl 1.
    s.accept(t0, t("W", "w", 30_000));
    s.accept(t0, t("W", "w", 1));
    s.handle_timeout(t0 + ms(1));
    assert!(s.tuples().all(|(k, _)| k != "W"));
}

#[test]
fn server_limits_hold() {
    let now = Instant::now();
    let mut s = Server::new(ServerConfig {
        max_sessions: 2,
        max_tuples: 1,
        ..ServerConfig::default()
    });
    for n in 0..3 {
        s.handle_frame(
            now + Duration::from_millis(u64::from(n)),
            rid(n),
            &enc(Message::Hello),
        );
    }
    assert_eq!(s.sessions(), 2);
    s.accept(now, t("a", "1", 0));
    s.accept(now, t("b", "1", 0));
    assert_eq!(s.tuples().count(), 1);
    assert_eq!(s.stats().full, 1);
}

#[test]
fn client_says_hello_publishes_pings_and_restarts_on_invalid() {
    let t0 = Instant::now();
    let mut c = Client::new(ClientConfig::default());
    c.publish("ME".into(), "tcp://me:1".into());
    let _ = std::iter::from_fn(|| c.poll_transmit()).count();
    c.start(t0);
    let out: Vec<Message> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(
        out,
        vec![
            Message::Hello,
            Message::Publish(t("ME", "tcp://me:1", 30_000))
        ]
    );
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_millis(400)));
    c.handle_timeout(t0 + Duration::from_millis(400));
    assert_eq!(c.poll_transmit(), Some(Message::Ping));
    c.handle_frame(t0, &enc(Message::Publish(t("X", "tcp://x:1", 0))))
        .expect("decodes");
    assert_eq!(c.poll_tuple(), Some(t("X", "tcp://x:1", 0)));
    // The answer to that PING: the server forgot the session. HELLO and the tuple again, once
    // however many INVALIDs follow (they answer frames sent before the HELLO).
    let t1 = t0 + Duration::from_millis(401);
    c.handle_frame(t1, &enc(Message::Invalid)).expect("decodes");
    c.handle_frame(t1, &enc(Message::Invalid)).expect("decodes");
    c.handle_frame(t1 + Duration::from_millis(399), &enc(Message::Invalid))
        .expect("decodes");
    let out: Vec<Message> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(
        out,
        vec![
            Message::Hello,
            Message::Publish(t("ME", "tcp://me:1", 30_000))
        ]
    );
    assert_eq!(c.invalids(), 1);
    // One a PING interval after that HELLO answers the new session: it opens again.
    c.handle_frame(t1 + Duration::from_millis(400), &enc(Message::Invalid))
        .expect("decodes");
    assert_eq!(c.invalids(), 2);
    let out: Vec<Message> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(out.first(), Some(&Message::Hello));
    c.handle_timeout(t0 + Duration::from_secs(11));
    let out: Vec<Message> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(
        out,
        vec![
            Message::Ping,
            Message::Publish(t("ME", "tcp://me:1", 30_000))
        ]
    );
    c.withdraw();
    assert_eq!(
        c.poll_transmit(),
        Some(Message::Publish(t("ME", "tcp://me:1", 1)))
    );
    assert!(c.handle_frame(t0, b"junk").is_err());
}

#[test]
fn a_client_and_a_server_back_to_back_converge() {
    let t0 = Instant::now();
    let mut s = Server::new(ServerConfig::default());
    let mut clients: Vec<Client> = (0..3)
        .map(|_| Client::new(ClientConfig::default()))
        .collect();
    for (n, c) in clients.iter_mut().enumerate() {
        c.publish(format!("K{n}"), format!("V{n}"));
        let _ = std::iter::from_fn(|| c.poll_transmit()).count();
        c.start(t0);
    }
    let mut learned: Vec<Vec<String>> = vec![Vec::new(); 3];
    for _round in 0..3 {
        for (n, c) in clients.iter_mut().enumerate() {
            while let Some(m) = c.poll_transmit() {
                s.handle_frame(t0, rid(n as u8), &enc(m));
            }
        }
        while let Some(o) = s.poll_output() {
            if let ServerOutput::Send { to, msg } = o {
                let n = usize::from(to[4]);
                clients[n].handle_frame(t0, &enc(msg)).expect("decodes");
            }
        }
        for (n, c) in clients.iter_mut().enumerate() {
            while let Some(t) = c.poll_tuple() {
                learned[n].push(t.key);
            }
        }
    }
    for l in &mut learned {
        l.sort();
        l.dedup();
        assert_eq!(l, &["K0", "K1", "K2"]);
    }
}

fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Hello),
        Just(Message::Ping),
        Just(Message::Pong),
        Just(Message::Invalid),
        ("\\PC{0,60}", "\\PC{0,300}", any::<u32>())
            .prop_filter("key fits", |(k, _, _)| k.len() <= MAX_KEY)
            .prop_map(|(key, value, ttl)| Message::Publish(Tuple { key, value, ttl })),
    ]
}

proptest! {
    #[test]
    fn round_trip(m in any_message()) {
        let wire = enc(m.clone());
        prop_assert_eq!(Message::decode(&wire), Ok(m));
    }

    #[test]
    fn decode_never_panics_and_is_canonical(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(m) = Message::decode(&data) {
            prop_assert_eq!(enc(m), data);
        }
    }

    #[test]
    fn mutated_messages_never_panic(m in any_message(), at in any::<usize>(), b in any::<u8>(), cut in any::<usize>()) {
        let mut wire = enc(m);
        let i = at % wire.len();
        wire[i] = b;
        wire.truncate(cut % (wire.len() + 1));
        let _ = Message::decode(&wire);
        let mut s = Server::new(ServerConfig::default());
        s.handle_frame(Instant::now(), rid(0), &wire);
        let mut c = Client::new(ClientConfig::default());
        let _ = c.handle_frame(Instant::now(), &wire);
    }
}

#[test]
fn a_refresh_goes_to_the_sessions_once_per_quarter_ttl_and_a_withdrawal_never() {
    // A node that dropped a peer after a link fault learns of it again from its refresh (a
    // ryre client re-publishes every third of the ttl); an echo within a quarter of the ttl
    // (hubs that are clients of each other) and a clean stop's withdrawal (ttl 1 ms) do not
    // go on, and neither do Zyre's ttl-0 tuples.
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut s = Server::new(ServerConfig::default());
    s.handle_frame(t0, rid(1), &enc(Message::Hello));
    let _ = drain(&mut s);
    let r = t("R", "ryre", 30_000);
    s.accept(t0, r.clone());
    assert_eq!(sent(&mut s), vec![(rid(1), Message::Publish(r.clone()))]);
    s.accept(t0 + ms(7_000), r.clone()); // an echo, or a refresh too early
    assert_eq!(sent(&mut s), vec![], "within a quarter of the ttl");
    s.accept(t0 + ms(10_000), r.clone()); // the refresh, a third of the ttl later
    assert_eq!(sent(&mut s), vec![(rid(1), Message::Publish(r.clone()))]);
    s.accept(t0 + ms(10_001), r.clone()); // its echo
    assert_eq!(sent(&mut s), vec![]);
    s.accept(t0 + ms(20_000), t("R", "ryre", 1)); // the withdrawal
    assert_eq!(sent(&mut s), vec![], "a withdrawal is no sign of life");
    s.accept(t0, t("Z", "zyre", 0));
    let _ = drain(&mut s);
    s.accept(t0 + ms(60_000), t("Z", "zyre", 0));
    assert_eq!(
        sent(&mut s),
        vec![],
        "Zyre's tuples are forwarded once, as in CZMQ"
    );
}

/// One step of a hub's life: a frame from one of four clients, or time passing.
#[derive(Debug, Clone)]
enum Step {
    Hello(u8),
    Ping(u8),
    Publish(u8, u8, u32),
    Wait(u64),
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..4u8).prop_map(Step::Hello),
        (0..4u8).prop_map(Step::Ping),
        (
            0..4u8,
            0..6u8,
            prop_oneof![Just(0u32), Just(1), 500..8_000u32]
        )
            .prop_map(|(c, k, ttl)| Step::Publish(c, k, ttl)),
        (0..4_000u64).prop_map(Step::Wait),
    ]
}

/// What the hub holds that a timeout could take away.
fn holding(s: &Server) -> (Vec<(String, String)>, usize) {
    let tuples = s
        .tuples()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (tuples, s.sessions())
}

proptest! {
    /// The hub's next deadline is exact: a timeout before it changes nothing, one at it takes a
    /// tuple or a session away (the deadlines are kept in order, not found by a scan).
    #[test]
    fn the_next_deadline_is_exact(steps in proptest::collection::vec(any_step(), 1..60)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut s = Server::new(ServerConfig::default());
        for step in steps {
            match step {
                Step::Hello(c) => s.handle_frame(now, rid(c), &enc(Message::Hello)),
                Step::Ping(c) => s.handle_frame(now, rid(c), &enc(Message::Ping)),
                Step::Publish(c, k, ttl) => {
                    let m = Message::Publish(t(&format!("k{k}"), "v", ttl));
                    s.handle_frame(now, rid(c), &enc(m));
                }
                Step::Wait(ms) => {
                    let until = now + Duration::from_millis(ms);
                    while let Some(due) = s.poll_timeout().filter(|&d| d <= until) {
                        let due = due.max(now);
                        if due > now {
                            let before = holding(&s);
                            s.handle_timeout(due - Duration::from_nanos(1));
                            prop_assert_eq!(holding(&s), before, "nothing is due before the deadline");
                        }
                        let before = holding(&s);
                        s.handle_timeout(due);
                        prop_assert_ne!(holding(&s), before, "something goes at the deadline");
                        now = due;
                    }
                    now = until;
                    s.handle_timeout(now);
                }
            }
            drain(&mut s);
        }
    }
}
