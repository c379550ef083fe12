use super::*;

use std::collections::BTreeSet;

use proptest::prelude::*;

use crate::msg::Envelope;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Short timeouts for the virtual clock: reap interval = min(100 ms, 500 ms, 1 s) = 100 ms.
const EVASIVE: Duration = Duration::from_millis(100);
const EXPIRED: Duration = Duration::from_millis(500);
const REAP: Duration = Duration::from_millis(100);

/// No deadline, or one strictly after `now`: `handle_timeout(now)` left nothing due.
fn after_now(deadline: Option<Instant>, now: Instant) -> bool {
    match deadline {
        Some(t) => t > now,
        None => true,
    }
}

fn pid(n: u8) -> PeerId {
    PeerId::from_bytes([n; 16])
}

fn endpoint_of(n: u8) -> String {
    format!("tcp://10.0.0.{n}:49152")
}

fn name_of(n: u8) -> Arc<str> {
    Arc::from(format!("node-{n}").as_str())
}

fn config(n: u8) -> Config {
    let mut c = Config::new(pid(n), format!("node-{n}"), endpoint_of(n));
    c.headers.insert("X-NODE".into(), n.to_string());
    c.evasive = EVASIVE;
    c.expired = EXPIRED;
    c
}

/// A virtual clock: a base instant plus an offset that only moves forward.
#[derive(Debug, Clone, Copy)]
struct Clock {
    base: Instant,
    offset: Duration,
}

impl Clock {
    fn new() -> Self {
        Clock {
            base: Instant::now(),
            offset: Duration::ZERO,
        }
    }

    fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// The instant `d` after the base.
    fn at(&self, d: Duration) -> Instant {
        self.base + d
    }

    fn set(&mut self, at: Instant) {
        assert!(at >= self.now(), "the virtual clock never goes back");
        self.offset = at - self.base;
    }

    fn advance(&mut self, d: Duration) -> Instant {
        self.offset += d;
        self.now()
    }
}

/// Checks what one node asks of its transport: Connect before Send, HELLO with sequence 1
/// first on every link, then exactly +1 per message (wrapping 65535 -> 0), Disconnect only for
/// open links. Panics on any violation.
#[derive(Debug, Default)]
struct LinkCheck {
    /// Open links: the sequence of the last message sent (None: nothing sent yet).
    links: HashMap<PeerId, Option<u16>>,
}

impl LinkCheck {
    /// Checks one transmit; returns the decoded message for a Send.
    fn observe(&mut self, t: &Transmit) -> Option<Envelope> {
        match t {
            Transmit::Connect { peer, .. } => {
                let was = self.links.insert(*peer, None);
                assert!(was.is_none(), "Connect to {peer} while already connected");
                None
            }
            Transmit::Disconnect { peer } => {
                let was = self.links.remove(peer);
                assert!(was.is_some(), "Disconnect from {peer}, not connected");
                None
            }
            Transmit::Send { peer, frames } => {
                let env = Message::decode(&frames.to_vec()).expect("own messages decode");
                let link = self
                    .links
                    .get_mut(peer)
                    .unwrap_or_else(|| panic!("Send to {peer} without Connect"));
                match *link {
                    None => {
                        assert_eq!(env.sequence, 1, "first message on a link has sequence 1");
                        assert!(
                            matches!(env.message, Message::Hello(_)),
                            "first message on a link is HELLO, got {}",
                            env.message.name()
                        );
                    }
                    Some(last) => assert_eq!(
                        env.sequence,
                        last.wrapping_add(1),
                        "sequence to {peer} steps by exactly 1"
                    ),
                }
                *link = Some(env.sequence);
                Some(env)
            }
        }
    }
}

/// Several NodeStates wired back to back in memory. Every `Transmit::Send` from node `i` to
/// peer `p` is delivered to the node whose id is `p` as `Input::Inbox` with node `i`'s routing
/// id, in order; links are tracked from Connect/Disconnect and checked by [`LinkCheck`].
struct Net {
    clock: Clock,
    nodes: Vec<NodeState>,
    checks: Vec<LinkCheck>,
    in_flight: VecDeque<(usize, PeerId, Vec<Bytes>)>,
    /// (from, to) pairs whose messages are held back instead of delivered.
    hold: BTreeSet<(usize, usize)>,
    held: Vec<(usize, usize, Vec<Bytes>)>,
    /// Events each node reported (drain with [`Net::events`]).
    events: Vec<Vec<Event>>,
    /// Problems each node's `handle` returned.
    problems: Vec<Vec<Problem>>,
    /// Messages each node sent: (to, message), decoded.
    sent: Vec<Vec<(PeerId, Envelope)>>,
    /// Transmits other than Send each node asked for.
    links: Vec<Vec<Transmit>>,
}

impl Net {
    /// Nodes with ids 1..=n.
    fn new(n: u8) -> Self {
        let mut net = Net {
            clock: Clock::new(),
            nodes: Vec::new(),
            checks: Vec::new(),
            in_flight: VecDeque::new(),
            hold: BTreeSet::new(),
            held: Vec::new(),
            events: Vec::new(),
            problems: Vec::new(),
            sent: Vec::new(),
            links: Vec::new(),
        };
        for i in 1..=n {
            net.nodes.push(NodeState::new(config(i)));
            net.checks.push(LinkCheck::default());
            net.events.push(Vec::new());
            net.problems.push(Vec::new());
            net.sent.push(Vec::new());
            net.links.push(Vec::new());
        }
        net
    }

    fn id(&self, i: usize) -> PeerId {
        self.nodes[i].config().id
    }

    fn index_of(&self, id: PeerId) -> Option<usize> {
        self.nodes.iter().position(|n| n.config().id == id)
    }

    fn handle(&mut self, i: usize, input: Input) -> Result<(), Problem> {
        let now = self.clock.now();
        let r = self.nodes[i].handle(now, input);
        if let Err(p) = &r {
            self.problems[i].push(p.clone());
        }
        self.pump();
        r
    }

    fn command(&mut self, i: usize, cmd: Command) -> Result<(), Problem> {
        self.handle(i, Input::Command(cmd))
    }

    /// Node `i` hears of node `j` (as from its beacon).
    fn discover(&mut self, i: usize, j: usize) {
        let input = Input::Discovered {
            id: self.id(j),
            endpoint: self.nodes[j].config().endpoint.clone(),
        };
        self.handle(i, input).unwrap();
    }

    /// Every node hears of every other one.
    fn discover_all(&mut self) {
        for i in 0..self.nodes.len() {
            for j in 0..self.nodes.len() {
                if i != j {
                    self.discover(i, j);
                }
            }
        }
    }

    /// Drains every node's transmits and events, delivering messages until the net is quiet.
    fn pump(&mut self) {
        loop {
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].poll_transmit() {
                    match self.checks[i].observe(&t) {
                        Some(env) => {
                            let Transmit::Send { peer, frames } = t else {
                                unreachable!()
                            };
                            self.sent[i].push((peer, env));
                            self.in_flight.push_back((i, peer, frames.to_vec()));
                        }
                        None => self.links[i].push(t),
                    }
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    self.events[i].push(e);
                }
            }
            let Some((from, to, frames)) = self.in_flight.pop_front() else {
                break;
            };
            let Some(j) = self.index_of(to) else {
                continue;
            };
            if self.hold.contains(&(from, j)) {
                self.held.push((from, j, frames));
                continue;
            }
            self.deliver(from, j, frames);
        }
    }

    fn deliver(&mut self, from: usize, to: usize, frames: Vec<Bytes>) {
        let input = Input::Inbox {
            routing_id: Bytes::copy_from_slice(&self.id(from).routing_id()),
            frames,
        };
        let now = self.clock.now();
        if let Err(p) = self.nodes[to].handle(now, input) {
            self.problems[to].push(p);
        }
    }

    /// Delivers, in order, what was held from `from` to `to`, and stops holding.
    fn release(&mut self, from: usize, to: usize) {
        self.hold.remove(&(from, to));
        let (now_due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(f, t, _)| (*f, *t) == (from, to));
        self.held = rest;
        for (f, t, frames) in now_due {
            self.deliver(f, t, frames);
        }
        self.pump();
    }

    /// Moves the virtual clock forward by `d`, calling `handle_timeout` on every node whose
    /// deadline falls in between, at that deadline, and pumping after each.
    fn advance(&mut self, d: Duration) {
        let target = self.clock.now() + d;
        for _ in 0..100_000 {
            let next = self
                .nodes
                .iter()
                .filter_map(NodeState::poll_timeout)
                .filter(|&t| t <= target)
                .min();
            let Some(next) = next else {
                break;
            };
            if next > self.clock.now() {
                self.clock.set(next);
            }
            let now = self.clock.now();
            for i in 0..self.nodes.len() {
                if self.nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                    self.nodes[i].handle_timeout(now);
                    let after = self.nodes[i].poll_timeout();
                    assert!(after_now(after, now), "timeout loop at {now:?}");
                }
            }
            self.pump();
        }
        self.clock.set(target);
    }

    /// Takes the events node `i` reported so far.
    fn events(&mut self, i: usize) -> Vec<Event> {
        std::mem::take(&mut self.events[i])
    }

    /// Takes the messages node `i` sent so far.
    fn sent(&mut self, i: usize) -> Vec<(PeerId, Envelope)> {
        std::mem::take(&mut self.sent[i])
    }

    /// Takes the Connect/Disconnect transmits of node `i` so far.
    fn links(&mut self, i: usize) -> Vec<Transmit> {
        std::mem::take(&mut self.links[i])
    }

    /// Takes the problems of node `i` so far.
    fn problems(&mut self, i: usize) -> Vec<Problem> {
        std::mem::take(&mut self.problems[i])
    }

    /// Clears everything recorded so far.
    fn clear(&mut self) {
        for i in 0..self.nodes.len() {
            self.events(i);
            self.sent(i);
            self.links(i);
            self.problems(i);
        }
    }

    /// Node `i` restarts: a fresh NodeState with the same config; its own links are gone.
    fn restart(&mut self, i: usize) {
        let config = self.nodes[i].config().clone();
        self.nodes[i] = NodeState::new(config);
        self.checks[i] = LinkCheck::default();
    }
}

/// A peer played by hand: encodes messages with its own link sequence.
struct Fake {
    id: PeerId,
    n: u8,
    seq: u16,
}

impl Fake {
    fn new(n: u8) -> Self {
        Fake {
            id: pid(n),
            n,
            seq: 0,
        }
    }

    fn routing_id(&self) -> Bytes {
        Bytes::copy_from_slice(&self.id.routing_id())
    }

    fn hello_msg(&self, groups: &[&str], status: u8) -> Message {
        let mut headers = BTreeMap::new();
        headers.insert("X-FAKE".to_string(), self.n.to_string());
        Message::Hello(Hello {
            endpoint: endpoint_of(self.n),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            status,
            name: format!("node-{}", self.n),
            headers,
        })
    }

    /// HELLO, sequence 1 (a new link).
    fn hello(&mut self, groups: &[&str], status: u8) -> Input {
        self.seq = 0;
        let msg = self.hello_msg(groups, status);
        self.send(&msg)
    }

    /// `msg` with the next sequence.
    fn send(&mut self, msg: &Message) -> Input {
        self.seq = self.seq.wrapping_add(1);
        self.send_seq(self.seq, msg)
    }

    /// `msg` with the given sequence (the link's sequence is not changed).
    fn send_seq(&self, seq: u16, msg: &Message) -> Input {
        self.raw(msg.encode(seq).unwrap())
    }

    fn raw(&self, frames: Vec<Bytes>) -> Input {
        Input::Inbox {
            routing_id: self.routing_id(),
            frames,
        }
    }
}

/// One node under test, with a virtual clock and fake peers.
struct Solo {
    clock: Clock,
    node: NodeState,
    check: LinkCheck,
}

impl Solo {
    fn new() -> Self {
        Solo {
            clock: Clock::new(),
            node: NodeState::new(config(1)),
            check: LinkCheck::default(),
        }
    }

    fn handle(&mut self, input: Input) -> Result<(), Problem> {
        self.node.handle(self.clock.now(), input)
    }

    /// A fake peer `n` that has said HELLO (in `groups`, status 0); drains everything.
    fn fake(&mut self, n: u8, groups: &[&str]) -> Fake {
        let mut f = Fake::new(n);
        self.handle(f.hello(groups, 0)).unwrap();
        self.transmits();
        self.events();
        f
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.node.poll_event()).collect()
    }

    /// All transmits, checked.
    fn transmits(&mut self) -> Vec<Transmit> {
        let ts: Vec<Transmit> = std::iter::from_fn(|| self.node.poll_transmit()).collect();
        for t in &ts {
            self.check.observe(t);
        }
        ts
    }

    /// The messages sent, decoded, (to, message); other transmits are dropped (but checked).
    fn sent(&mut self) -> Vec<(PeerId, Envelope)> {
        self.transmits()
            .into_iter()
            .filter_map(|t| match t {
                Transmit::Send { peer, frames } => {
                    Some((peer, Message::decode(&frames.to_vec()).unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    /// Calls handle_timeout at `at` (after the base).
    fn timeout_at(&mut self, at: Duration) {
        let now = self.clock.at(at);
        self.clock.set(now);
        self.node.handle_timeout(now);
    }
}

fn exit(n: u8, reason: ExitReason) -> Event {
    Event::Exit {
        peer: pid(n),
        name: name_of(n),
        reason,
    }
}

fn join_event(n: u8, group: &str) -> Event {
    Event::Join {
        peer: pid(n),
        name: name_of(n),
        group: group.into(),
    }
}

fn content(s: &'static str) -> Content {
    Content::from_vec(vec![Bytes::from_static(s.as_bytes())])
}

fn whisper(s: &'static str) -> Message {
    Message::Whisper {
        content: content(s),
    }
}

// ---------------------------------------------------------------------------------------------
// HELLO and ENTER
// ---------------------------------------------------------------------------------------------

#[test]
fn hello_is_the_first_message_with_sequence_one() {
    let mut net = Net::new(2);
    net.command(0, Command::Join("g".into())).unwrap();
    net.command(0, Command::Join("h".into())).unwrap();
    net.discover_all();
    let sent = net.sent(0);
    let (to, first) = &sent[0];
    assert_eq!(*to, pid(2));
    assert_eq!(first.sequence, 1);
    let Message::Hello(hello) = &first.message else {
        panic!("first message is {}", first.message.name());
    };
    assert_eq!(hello.endpoint, endpoint_of(1));
    assert_eq!(hello.groups, vec!["g".to_string(), "h".to_string()]);
    assert_eq!(hello.status, 2, "HELLO carries the current status");
    assert_eq!(hello.name, "node-1");
    assert_eq!(hello.headers.get("X-NODE").map(String::as_str), Some("1"));
    // Connect comes before the HELLO.
    assert_eq!(
        net.links(0),
        vec![Transmit::Connect {
            peer: pid(2),
            endpoint: endpoint_of(2)
        }]
    );
}

#[test]
fn enter_carries_name_headers_endpoint_then_joins_for_hello_groups() {
    let mut net = Net::new(2);
    net.command(0, Command::Join("g".into())).unwrap();
    net.command(0, Command::Join("h".into())).unwrap();
    net.discover_all();
    let events = net.events(1);
    let mut headers = BTreeMap::new();
    headers.insert("X-NODE".to_string(), "1".to_string());
    assert_eq!(
        events,
        vec![
            Event::Enter {
                peer: pid(1),
                name: name_of(1),
                headers,
                endpoint: endpoint_of(1),
            },
            join_event(1, "g"),
            join_event(1, "h"),
        ]
    );
    assert_eq!(
        net.nodes[1].peers_by_group("g").collect::<Vec<_>>(),
        [pid(1)]
    );
    let info = net.nodes[1].peer(&pid(1)).unwrap();
    assert!(info.ready);
    assert_eq!(&*info.name, "node-1");
    assert!(net.problems(0).is_empty() && net.problems(1).is_empty());
}

#[test]
fn hello_from_an_undiscovered_peer_connects_back_and_says_hello() {
    let mut solo = Solo::new();
    let mut f = Fake::new(2);
    solo.handle(f.hello(&[], 0)).unwrap();
    let ts = solo.transmits();
    assert_eq!(
        ts[0],
        Transmit::Connect {
            peer: pid(2),
            endpoint: endpoint_of(2)
        }
    );
    assert!(matches!(&ts[1], Transmit::Send { peer, .. } if *peer == pid(2)));
    assert!(matches!(solo.events()[..], [Event::Enter { .. }]));
}

#[test]
fn messages_before_hello_are_ignored_as_not_ready() {
    let mut solo = Solo::new();
    let mut f = Fake::new(2);
    // Unknown peer.
    assert_eq!(
        solo.handle(f.send(&whisper("early"))),
        Err(Problem::NotReady {
            from: pid(2),
            msg: "WHISPER"
        })
    );
    // Known from its beacon, still no HELLO.
    solo.handle(Input::Discovered {
        id: pid(2),
        endpoint: endpoint_of(2),
    })
    .unwrap();
    assert_eq!(
        solo.handle(f.send(&Message::Join {
            group: "g".into(),
            status: 1
        })),
        Err(Problem::NotReady {
            from: pid(2),
            msg: "JOIN"
        })
    );
    assert!(solo.events().is_empty());
    assert_eq!(solo.node.peers().count(), 0);
    assert_eq!(solo.node.peers_by_group("g").count(), 0);
    assert_eq!(solo.node.stats().ignored, 2);
    assert_eq!(solo.node.stats().received, 0);
    // HELLO then makes it a peer.
    solo.handle(f.hello(&[], 1)).unwrap();
    assert!(matches!(solo.events()[..], [Event::Enter { .. }]));
}

// ---------------------------------------------------------------------------------------------
// Sequence numbers
// ---------------------------------------------------------------------------------------------

#[test]
fn sequence_gap_drops_the_peer() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &["g"]);
    solo.handle(f.send(&whisper("2"))).unwrap();
    assert_eq!(
        solo.handle(f.send_seq(4, &whisper("4"))),
        Err(Problem::SequenceGap {
            from: pid(2),
            expected: 3,
            got: 4
        })
    );
    let events = solo.events();
    assert_eq!(
        events.last(),
        Some(&exit(
            2,
            ExitReason::SequenceGap {
                expected: 3,
                got: 4
            }
        ))
    );
    assert!(solo
        .transmits()
        .contains(&Transmit::Disconnect { peer: pid(2) }));
    assert!(solo.node.peer(&pid(2)).is_none());
    assert_eq!(solo.node.peers_by_group("g").count(), 0);
    // What follows is from a peer that has not said HELLO.
    assert!(matches!(
        solo.handle(f.send_seq(5, &whisper("5"))),
        Err(Problem::NotReady { .. })
    ));
}

#[test]
fn replayed_sequence_is_a_gap() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &[]);
    solo.handle(f.send(&whisper("2"))).unwrap();
    assert_eq!(
        solo.handle(f.send_seq(2, &whisper("again"))),
        Err(Problem::SequenceGap {
            from: pid(2),
            expected: 3,
            got: 2
        })
    );
}

#[test]
fn sequence_gap_on_a_real_link_drops_the_peer() {
    let mut net = Net::new(2);
    net.discover_all();
    net.clear();
    net.hold.insert((1, 0));
    for _ in 0..3 {
        net.command(
            1,
            Command::Whisper {
                peer: pid(1),
                content: content("x"),
            },
        )
        .unwrap();
    }
    // The first of the three is lost.
    let lost = net.held.remove(0);
    assert_eq!(Message::decode(&lost.2).unwrap().sequence, 2);
    net.release(1, 0);
    let events = net.events(0);
    assert_eq!(
        events,
        vec![exit(
            2,
            ExitReason::SequenceGap {
                expected: 2,
                got: 3
            }
        )]
    );
}

#[test]
fn sequence_wraps_65535_to_0_over_more_than_70000_messages() {
    const N: usize = 70_005;
    let mut net = Net::new(2);
    net.discover_all();
    net.clear();
    for chunk in 0..N.div_ceil(1000) {
        for _ in 0..1000.min(N - chunk * 1000) {
            net.nodes[0]
                .handle(
                    net.clock.now(),
                    Input::Command(Command::Whisper {
                        peer: pid(2),
                        content: content("w"),
                    }),
                )
                .unwrap();
        }
        net.pump();
        let sent = net.sent(0);
        // The LinkCheck already asserted +1 per message; see the wrap itself go by.
        for pair in sent.windows(2) {
            if pair[0].1.sequence == 65535 {
                assert_eq!(pair[1].1.sequence, 0);
            }
        }
        let events = net.events(1);
        assert!(events.iter().all(|e| matches!(e, Event::Whisper { .. })));
        assert_eq!(events.len(), 1000.min(N - chunk * 1000));
    }
    assert!(net.problems(1).is_empty());
    // HELLO was 1, then N whispers: the last is N + 1 modulo 65536.
    assert_eq!(net.checks[0].links[&pid(2)], Some(((N + 1) % 65536) as u16));
    assert_eq!(net.nodes[1].stats().received, N as u64 + 1);
    assert!(net.nodes[1].peer(&pid(1)).is_some());
}

/// Drives a fake peer's link to `last` (sending PING-OKs, which need no answer).
fn fake_link_up_to(solo: &mut Solo, f: &mut Fake, last: u16) {
    while f.seq != last {
        solo.handle(f.send(&Message::PingOk)).unwrap();
    }
    assert!(solo.events().is_empty());
}

#[test]
fn zyre_wrap_65535_to_0_is_accepted() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &[]);
    fake_link_up_to(&mut solo, &mut f, 65535);
    solo.handle(f.send(&whisper("zero"))).unwrap();
    assert_eq!(f.seq, 0);
    solo.handle(f.send(&whisper("one"))).unwrap();
    let events = solo.events();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| matches!(e, Event::Whisper { .. })));
}

#[test]
fn pyre_wrap_65534_to_0_is_tolerated() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &[]);
    fake_link_up_to(&mut solo, &mut f, 65534);
    // Pyre counts modulo 65535: after 65534 comes 0.
    solo.handle(f.send_seq(0, &whisper("zero"))).unwrap();
    solo.handle(f.send_seq(1, &whisper("one"))).unwrap();
    solo.handle(f.send_seq(2, &whisper("two"))).unwrap();
    let events = solo.events();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| matches!(e, Event::Whisper { .. })));
    assert!(solo.node.peer(&pid(2)).is_some());
}

#[test]
fn skipping_past_the_wrap_is_still_a_gap() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &[]);
    fake_link_up_to(&mut solo, &mut f, 65534);
    assert_eq!(
        solo.handle(f.send_seq(1, &whisper("one"))),
        Err(Problem::SequenceGap {
            from: pid(2),
            expected: 65535,
            got: 1
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicate HELLO
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_hello_recreates_the_peer() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &["g"]);
    solo.handle(f.send(&whisper("x"))).unwrap();
    solo.events();
    solo.transmits();
    // It restarted: HELLO again, sequence 1, now in "h" only.
    solo.handle(f.hello(&["h"], 0)).unwrap();
    let events = solo.events();
    assert_eq!(events[0], exit(2, ExitReason::Rehello));
    assert!(matches!(&events[1], Event::Enter { peer, .. } if *peer == pid(2)));
    assert_eq!(events[2], join_event(2, "h"));
    assert_eq!(events.len(), 3);
    assert_eq!(solo.node.peers_by_group("g").count(), 0);
    assert_eq!(solo.node.peers_by_group("h").count(), 1);
    // The link is re-opened and our HELLO sent anew with sequence 1 (LinkCheck asserts it).
    let ts = solo.transmits();
    assert_eq!(ts[0], Transmit::Disconnect { peer: pid(2) });
    assert!(matches!(&ts[1], Transmit::Connect { peer, .. } if *peer == pid(2)));
    assert!(matches!(&ts[2], Transmit::Send { .. }));
    // And the link from it goes on from 1.
    solo.handle(f.send(&whisper("after"))).unwrap();
}

/// Found by ryre-sim (swarm seed 512: 507,000 ENTERs in 160 s): we took a peer anew (its message
/// came before its HELLO) and greeted it, then its older HELLO made it ready; its answer to our
/// greeting is a second HELLO. Re-greeting that one lands on a ready peer too, and a HELLO
/// bounced between the two for ever. An answer to our own recent greeting is EXIT and ENTER,
/// with no new greeting.
#[test]
fn a_hello_answering_our_own_greeting_is_not_greeted_again() {
    let mut solo = Solo::new();
    solo.handle(Input::Discovered {
        id: pid(2),
        endpoint: endpoint_of(2),
    })
    .unwrap();
    solo.transmits();
    let mut f = Fake::new(2);
    // A message from its old link, before its HELLO: we take it anew and greet it again.
    assert!(matches!(
        solo.handle(f.send_seq(7, &Message::Ping)),
        Err(Problem::NotReady { .. })
    ));
    let ts = solo.transmits();
    assert!(
        ts.iter().any(|t| matches!(t, Transmit::Connect { .. })),
        "{ts:?}"
    );
    // Its HELLO (sent before ours arrived) makes it ready.
    solo.handle(f.hello(&["g"], 0)).unwrap();
    assert!(matches!(
        &solo.events()[..],
        [Event::Enter { .. }, Event::Join { .. }]
    ));
    // Its answer to our greeting: EXIT and ENTER, but we do not greet it once more.
    solo.handle(f.hello(&["g"], 0)).unwrap();
    let events = solo.events();
    assert_eq!(events[0], exit(2, ExitReason::Rehello));
    assert!(matches!(&events[1], Event::Enter { peer, .. } if *peer == pid(2)));
    assert_eq!(events[2], join_event(2, "g"));
    assert_eq!(solo.transmits(), vec![], "no new link, no HELLO");
    assert_eq!(solo.node.peers_by_group("g").count(), 1);
    // Its link goes on from 1, ours from where it was.
    solo.handle(f.send(&Message::Ping)).unwrap();
    assert_eq!(solo.sent().len(), 1);
    // Much later a second HELLO is a restart again: taken anew and greeted.
    solo.timeout_at(Duration::from_millis(150));
    solo.handle(f.send(&Message::Ping)).unwrap();
    solo.transmits();
    solo.handle(f.hello(&["g"], 0)).unwrap();
    let ts = solo.transmits();
    assert!(
        ts.iter().any(|t| matches!(t, Transmit::Connect { .. })),
        "{ts:?}"
    );
}

#[test]
fn restarted_node_is_exited_and_entered_again_over_a_real_link() {
    let mut net = Net::new(2);
    net.discover_all();
    net.clear();
    net.restart(1);
    net.discover(1, 0);
    let events = net.events(0);
    assert_eq!(events[0], exit(2, ExitReason::Rehello));
    assert!(matches!(&events[1], Event::Enter { peer, .. } if *peer == pid(2)));
    assert!(matches!(&net.events(1)[..], [Event::Enter { peer, .. }] if *peer == pid(1)));
    assert!(net.problems(0).is_empty());
    // Both ways work afterwards.
    net.command(
        0,
        Command::Whisper {
            peer: pid(2),
            content: content("hi"),
        },
    )
    .unwrap();
    assert!(matches!(&net.events(1)[..], [Event::Whisper { .. }]));
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

#[test]
fn status_steps_by_one_per_join_and_leave_and_hello_carries_it() {
    let mut net = Net::new(3);
    net.discover(0, 1);
    net.discover(1, 0);
    net.clear();
    let mut statuses = Vec::new();
    for cmd in [
        Command::Join("g".into()),
        Command::Join("h".into()),
        Command::Leave("g".into()),
    ] {
        net.command(0, cmd).unwrap();
        for (to, env) in net.sent(0) {
            assert_eq!(to, pid(2));
            match env.message {
                Message::Join { status, .. } | Message::Leave { status, .. } => {
                    statuses.push(status)
                }
                m => panic!("unexpected {}", m.name()),
            }
        }
    }
    assert_eq!(statuses, [1, 2, 3]);
    assert_eq!(net.nodes[0].status(), 3);
    assert_eq!(net.nodes[1].peers[&pid(1)].status, 3);
    // A peer met now gets HELLO with status 3 and the groups still joined.
    net.discover(0, 2);
    let sent = net.sent(0);
    let Message::Hello(hello) = &sent[0].1.message else {
        panic!("HELLO expected");
    };
    assert_eq!(hello.status, 3);
    assert_eq!(hello.groups, ["h"]);
    assert!(net.problems(1).is_empty() && net.problems(2).is_empty());
}

#[test]
fn status_wraps_at_256_over_300_join_leave_cycles() {
    let mut net = Net::new(2);
    net.discover_all();
    net.clear();
    for _ in 0..300 {
        net.command(0, Command::Join("g".into())).unwrap();
        net.command(0, Command::Leave("g".into())).unwrap();
    }
    assert!(net.problems(1).is_empty(), "no StatusMismatch");
    assert_eq!(net.nodes[0].status(), (600 % 256) as u8);
    assert_eq!(net.nodes[1].peers[&pid(1)].status, (600 % 256) as u8);
    let events = net.events(1);
    assert_eq!(events.len(), 600);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Join { .. }))
            .count(),
        300
    );
    // And a JOIN after that is still in step.
    net.command(0, Command::Join("g".into())).unwrap();
    assert!(net.problems(1).is_empty());
}

#[test]
fn wrong_status_is_reported_and_adopted() {
    let mut solo = Solo::new();
    let mut f = Fake::new(2);
    solo.handle(f.hello(&[], 5)).unwrap();
    solo.events();
    assert_eq!(
        solo.handle(f.send(&Message::Join {
            group: "g".into(),
            status: 9
        })),
        Err(Problem::StatusMismatch {
            from: pid(2),
            expected: 6,
            got: 9
        })
    );
    // The JOIN still counts.
    assert_eq!(solo.events(), vec![join_event(2, "g")]);
    assert_eq!(solo.node.peers_by_group("g").collect::<Vec<_>>(), [pid(2)]);
    // 9 was adopted: 10 is in step.
    solo.handle(f.send(&Message::Leave {
        group: "g".into(),
        status: 10,
    }))
    .unwrap();
    assert!(matches!(solo.events()[..], [Event::Leave { .. }]));
    assert!(solo.node.peer(&pid(2)).is_some());
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

#[test]
fn join_and_leave_are_sent_to_all_peers_not_only_group_members() {
    let mut net = Net::new(3);
    net.discover_all();
    net.clear();
    net.command(0, Command::Join("g".into())).unwrap();
    let to: BTreeSet<PeerId> = net.sent(0).into_iter().map(|(p, _)| p).collect();
    assert_eq!(to, BTreeSet::from([pid(2), pid(3)]));
    // Nobody else is in "h": the JOIN still goes to both.
    net.command(1, Command::Join("h".into())).unwrap();
    let sent = net.sent(1);
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|(_, e)| matches!(&e.message, Message::Join { group, status: 1 } if group == "h")));
    assert_eq!(net.events(0), vec![join_event(2, "h")]);
    assert_eq!(net.events(2), vec![join_event(1, "g"), join_event(2, "h")]);
    net.command(1, Command::Leave("h".into())).unwrap();
    let sent = net.sent(1);
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|(_, e)| matches!(&e.message, Message::Leave { status: 2, .. })));
    for i in [0, 2] {
        assert_eq!(
            net.events(i),
            vec![Event::Leave {
                peer: pid(2),
                name: name_of(2),
                group: "h".into()
            }]
        );
    }
}

#[test]
fn joining_twice_or_leaving_a_group_not_joined_sends_nothing() {
    let mut net = Net::new(2);
    net.discover_all();
    net.command(0, Command::Join("g".into())).unwrap();
    net.clear();
    net.command(0, Command::Join("g".into())).unwrap();
    net.command(0, Command::Leave("other".into())).unwrap();
    assert!(net.sent(0).is_empty());
    assert_eq!(net.nodes[0].status(), 1);
    net.command(0, Command::Leave("g".into())).unwrap();
    net.command(0, Command::Leave("g".into())).unwrap();
    assert_eq!(net.sent(0).len(), 1);
    assert_eq!(net.nodes[0].status(), 2);
    assert!(net.problems(1).is_empty());
}

#[test]
fn shout_goes_only_to_group_members() {
    let mut net = Net::new(3);
    net.discover_all();
    net.command(1, Command::Join("g".into())).unwrap();
    net.clear();
    net.command(
        0,
        Command::Shout {
            group: "g".into(),
            content: content("hey"),
        },
    )
    .unwrap();
    let sent = net.sent(0);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, pid(2));
    assert_eq!(
        net.events(1),
        vec![Event::Shout {
            peer: pid(1),
            name: name_of(1),
            group: "g".into(),
            content: content("hey"),
        }]
    );
    assert!(net.events(2).is_empty());
    // A group with no members: nothing is sent.
    net.command(
        0,
        Command::Shout {
            group: "nobody".into(),
            content: content("x"),
        },
    )
    .unwrap();
    assert!(net.sent(0).is_empty());
}

/// SHOUT walks a cached list of the group's members: it must follow every join, leave and
/// departure (and the peers' sequences stay their own).
#[test]
fn shout_follows_joins_leaves_and_departures() {
    let mut solo = Solo::new();
    let mut a = solo.fake(2, &["g"]);
    let _b = solo.fake(3, &["g"]);
    let shout = |solo: &mut Solo| {
        solo.handle(Input::Command(Command::Shout {
            group: "g".into(),
            content: content("x"),
        }))
        .unwrap();
        solo.sent()
            .into_iter()
            .map(|(to, env)| (to, env.sequence))
            .collect::<Vec<_>>()
    };
    assert_eq!(shout(&mut solo), vec![(pid(2), 2), (pid(3), 2)]);
    assert_eq!(shout(&mut solo), vec![(pid(2), 3), (pid(3), 3)]);
    // 2 leaves, 4 comes in the group, 2 comes back.
    solo.handle(a.send(&fake_message(3, "g", 1))).unwrap();
    assert_eq!(shout(&mut solo), vec![(pid(3), 4)]);
    let _c = solo.fake(4, &["g"]);
    assert_eq!(shout(&mut solo), vec![(pid(3), 5), (pid(4), 2)]);
    solo.handle(a.send(&fake_message(2, "g", 2))).unwrap();
    assert_eq!(
        shout(&mut solo),
        vec![(pid(2), 4), (pid(3), 6), (pid(4), 3)]
    );
    // 3 says it is leaving.
    solo.handle(Input::Departed { id: pid(3) }).unwrap();
    solo.events();
    assert_eq!(shout(&mut solo), vec![(pid(2), 5), (pid(4), 4)]);
    // 2 restarts (a second HELLO): a new peer, its sequence starts again.
    solo.handle(a.hello(&["g"], 0)).unwrap();
    solo.transmits();
    assert_eq!(shout(&mut solo), vec![(pid(2), 2), (pid(4), 5)]);
}

#[test]
fn whisper_to_an_unknown_peer_is_an_unknown_peer_problem() {
    let mut net = Net::new(2);
    net.discover_all();
    net.clear();
    assert_eq!(
        net.command(
            0,
            Command::Whisper {
                peer: pid(9),
                content: content("x"),
            }
        ),
        Err(Problem::UnknownPeer(pid(9)))
    );
    assert!(net.sent(0).is_empty());
    assert_eq!(net.nodes[0].stats().ignored, 1);
    net.command(
        0,
        Command::Whisper {
            peer: pid(2),
            content: content("x"),
        },
    )
    .unwrap();
    assert_eq!(
        net.events(1),
        vec![Event::Whisper {
            peer: pid(1),
            name: name_of(1),
            content: content("x")
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// Liveness
// ---------------------------------------------------------------------------------------------

fn pings_to(sent: &[(PeerId, Envelope)], n: u8) -> usize {
    sent.iter()
        .filter(|(p, e)| *p == pid(n) && e.message == Message::Ping)
        .count()
}

#[test]
fn silent_peer_is_pinged_evasive_then_silent_then_expired() {
    let mut solo = Solo::new();
    let _f = solo.fake(2, &[]);
    // Half-way to evasive: a keep-alive PING, no event.
    assert_eq!(solo.node.poll_timeout(), Some(solo.clock.at(EVASIVE / 2)));
    solo.timeout_at(EVASIVE / 2);
    assert!(solo.events().is_empty());
    assert_eq!(pings_to(&solo.sent(), 2), 1);
    assert_eq!(solo.node.poll_timeout(), Some(solo.clock.at(EVASIVE)));
    // Just before evasive: nothing.
    solo.timeout_at(EVASIVE - Duration::from_millis(1));
    assert!(solo.events().is_empty() && solo.sent().is_empty());
    // Evasive: PING and EVASIVE.
    solo.timeout_at(EVASIVE);
    assert_eq!(
        solo.events(),
        vec![Event::Evasive {
            peer: pid(2),
            name: name_of(2)
        }]
    );
    assert_eq!(pings_to(&solo.sent(), 2), 1);
    assert_eq!(solo.node.peer(&pid(2)).unwrap().state, PeerState::Evasive);
    assert_eq!(
        solo.node.poll_timeout(),
        Some(solo.clock.at(EVASIVE + REAP))
    );
    // One reap interval later: SILENT (and another PING).
    solo.timeout_at(EVASIVE + REAP);
    assert_eq!(
        solo.events(),
        vec![Event::Silent {
            peer: pid(2),
            name: name_of(2)
        }]
    );
    assert_eq!(pings_to(&solo.sent(), 2), 1);
    assert_eq!(solo.node.peer(&pid(2)).unwrap().state, PeerState::Silent);
    // Pinged every reap interval, with no more events, until expired.
    let mut t = EVASIVE + REAP;
    while t + REAP < EXPIRED {
        t += REAP;
        solo.timeout_at(t);
        assert!(solo.events().is_empty());
        assert_eq!(pings_to(&solo.sent(), 2), 1);
    }
    assert!(solo.node.poll_timeout().unwrap() <= solo.clock.at(EXPIRED));
    solo.timeout_at(EXPIRED);
    assert_eq!(solo.events(), vec![exit(2, ExitReason::Expired)]);
    assert!(solo
        .transmits()
        .contains(&Transmit::Disconnect { peer: pid(2) }));
    assert_eq!(solo.node.poll_timeout(), None);
}

#[test]
fn traffic_makes_an_evasive_peer_alive_again() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &[]);
    solo.timeout_at(EVASIVE);
    assert!(matches!(solo.events()[..], [Event::Evasive { .. }]));
    solo.sent();
    // It answers the PING at 150 ms.
    solo.clock.set(solo.clock.at(Duration::from_millis(150)));
    solo.handle(f.send(&Message::PingOk)).unwrap();
    assert_eq!(solo.node.peer(&pid(2)).unwrap().state, PeerState::Alive);
    // No SILENT at 200 ms: it is alive until 150 + 100; at 200 (150 + 50) a keep-alive PING.
    solo.timeout_at(EVASIVE + REAP);
    assert!(solo.events().is_empty());
    assert_eq!(pings_to(&solo.sent(), 2), 1);
    solo.timeout_at(Duration::from_millis(250));
    assert!(matches!(solo.events()[..], [Event::Evasive { .. }]));
    // Silent from then on: SILENT at 350, EXIT at 150 + 500.
    solo.timeout_at(Duration::from_millis(350));
    assert!(matches!(solo.events()[..], [Event::Silent { .. }]));
    solo.timeout_at(Duration::from_millis(649));
    assert!(solo.events().is_empty());
    solo.timeout_at(Duration::from_millis(650));
    assert_eq!(solo.events(), vec![exit(2, ExitReason::Expired)]);
}

#[test]
fn connected_nodes_keep_each_other_alive_and_a_partitioned_one_expires() {
    let mut net = Net::new(2);
    net.discover_all();
    net.clear();
    net.advance(Duration::from_secs(3));
    // Idle peers get keep-alive PINGs and answer: no EVASIVE, SILENT or EXIT at all.
    for i in 0..2 {
        let events = net.events(i);
        assert!(events.is_empty(), "{events:?}");
    }
    let sent = net.sent(0);
    assert!(sent.iter().any(|(_, e)| e.message == Message::Ping));
    assert!(sent.iter().any(|(_, e)| e.message == Message::PingOk));
    // Node 2's messages stop reaching node 1.
    net.hold.insert((1, 0));
    net.advance(EXPIRED);
    let events = net.events(0);
    assert!(events.contains(&Event::Evasive {
        peer: pid(2),
        name: name_of(2)
    }));
    assert!(events.contains(&Event::Silent {
        peer: pid(2),
        name: name_of(2)
    }));
    assert_eq!(events.last(), Some(&exit(2, ExitReason::Expired)));
    assert!(net.nodes[0].peer(&pid(2)).is_none());
}

#[test]
fn ping_is_answered_with_ping_ok() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &[]);
    solo.handle(f.send(&Message::Ping)).unwrap();
    let sent = solo.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, pid(2));
    assert_eq!(sent[0].1.message, Message::PingOk);
    // HELLO was 1.
    assert_eq!(sent[0].1.sequence, 2);
    assert!(solo.events().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Peers leaving
// ---------------------------------------------------------------------------------------------

#[test]
fn departed_peer_exits_with_leaving() {
    let mut net = Net::new(2);
    net.discover_all();
    net.clear();
    net.handle(0, Input::Departed { id: pid(2) }).unwrap();
    assert_eq!(net.events(0), vec![exit(2, ExitReason::Leaving)]);
    assert_eq!(net.links(0), vec![Transmit::Disconnect { peer: pid(2) }]);
    // Departure of someone unknown changes nothing.
    net.handle(0, Input::Departed { id: pid(9) }).unwrap();
    assert!(net.events(0).is_empty() && net.links(0).is_empty());
}

#[test]
fn new_peer_at_the_endpoint_of_an_existing_one_purges_the_old_one() {
    let mut solo = Solo::new();
    let _f = solo.fake(2, &["g"]);
    solo.handle(Input::Discovered {
        id: pid(3),
        endpoint: endpoint_of(2),
    })
    .unwrap();
    assert_eq!(solo.events(), vec![exit(2, ExitReason::EndpointReused)]);
    let ts = solo.transmits();
    assert_eq!(ts[0], Transmit::Disconnect { peer: pid(2) });
    assert_eq!(
        ts[1],
        Transmit::Connect {
            peer: pid(3),
            endpoint: endpoint_of(2)
        }
    );
    assert_eq!(solo.node.peers_by_group("g").count(), 0);
    // Rediscovering a known peer at its own endpoint does nothing.
    solo.handle(Input::Discovered {
        id: pid(3),
        endpoint: endpoint_of(2),
    })
    .unwrap();
    assert!(solo.transmits().is_empty() && solo.events().is_empty());
}

#[test]
fn send_failed_exits_with_queue_full_and_disconnects() {
    let mut net = Net::new(2);
    net.discover_all();
    net.clear();
    net.handle(0, Input::SendFailed { id: pid(2) }).unwrap();
    assert_eq!(net.events(0), vec![exit(2, ExitReason::QueueFull)]);
    assert_eq!(net.links(0), vec![Transmit::Disconnect { peer: pid(2) }]);
    assert!(net.nodes[0].peer(&pid(2)).is_none());
}

#[test]
fn goodbye_exits_with_goodbye() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &["g"]);
    solo.handle(f.send(&Message::Goodbye)).unwrap();
    assert_eq!(solo.events(), vec![exit(2, ExitReason::Goodbye)]);
    assert_eq!(
        solo.transmits(),
        vec![Transmit::Disconnect { peer: pid(2) }]
    );
    assert_eq!(solo.node.peers_by_group("g").count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------------

#[test]
fn own_beacon_and_own_id_are_ignored() {
    let mut solo = Solo::new();
    solo.handle(Input::Discovered {
        id: pid(1),
        endpoint: endpoint_of(1),
    })
    .unwrap();
    assert!(solo.transmits().is_empty());
    // Our own HELLO echoed back at us.
    let mut me = Fake::new(1);
    solo.handle(me.hello(&[], 0)).unwrap();
    solo.handle(me.send(&whisper("me"))).unwrap();
    assert!(solo.transmits().is_empty());
    assert!(solo.events().is_empty());
    assert_eq!(solo.node.peers().count(), 0);
    assert_eq!(solo.node.stats().ignored, 2);
    assert_eq!(solo.node.poll_timeout(), None);
    // Our own port-0 beacon does nothing either.
    solo.handle(Input::Departed { id: pid(1) }).unwrap();
    assert!(solo.events().is_empty());
}

#[test]
fn bad_routing_ids_are_malformed_and_the_node_keeps_working() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &[]);
    let frames = whisper("x").encode(2).unwrap();
    for rid in [
        &[][..],
        &[1; 16][..],
        &[1; 18][..],
        &[0; 17][..],
        &[2; 17][..],
    ] {
        assert_eq!(
            solo.handle(Input::Inbox {
                routing_id: Bytes::copy_from_slice(rid),
                frames: frames.clone(),
            }),
            Err(Problem::BadRoutingId(rid.len()))
        );
    }
    assert_eq!(solo.node.stats().malformed, 5);
    assert!(solo.events().is_empty());
    // The link from the peer is undisturbed.
    solo.handle(f.send(&whisper("ok"))).unwrap();
    assert!(matches!(solo.events()[..], [Event::Whisper { .. }]));
}

#[test]
fn malformed_frames_are_counted_and_the_node_keeps_working() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &[]);
    let b = |s: &[u8]| vec![Bytes::copy_from_slice(s)];
    let cases: Vec<(Vec<Bytes>, DecodeError)> = vec![
        (Vec::new(), DecodeError::Empty),
        (b(&[]), DecodeError::BadSignature),
        (b(&[0xAA, 0xA0, 6, 2, 0, 2]), DecodeError::BadSignature),
        (b(&[0xAA, 0xA1, 11, 2, 0, 2]), DecodeError::UnknownId(11)),
        (b(&[0xAA, 0xA1, 0, 2, 0, 2]), DecodeError::UnknownId(0)),
        (b(&[0xAA, 0xA1, 6, 3, 0, 2]), DecodeError::BadVersion(3)),
        (
            b(&[0xAA, 0xA1, 6, 2, 0]),
            DecodeError::Truncated {
                msg: "PING",
                field: "sequence",
            },
        ),
        (
            b(&[0xAA, 0xA1, 4, 2, 0, 2, 5, b'g']),
            DecodeError::Truncated {
                msg: "JOIN",
                field: "group",
            },
        ),
        (
            b(&[0xAA, 0xA1, 4, 2, 0, 2, 1, 0xFF, 1]),
            DecodeError::InvalidUtf8 {
                msg: "JOIN",
                field: "group",
            },
        ),
    ];
    let n = cases.len() as u64;
    for (frames, error) in cases {
        assert_eq!(
            solo.handle(f.raw(frames)),
            Err(Problem::Malformed {
                from: pid(2),
                error
            })
        );
    }
    assert_eq!(solo.node.stats().malformed, n);
    assert!(solo.events().is_empty());
    assert!(solo.transmits().is_empty());
    // A malformed message does not use up a sequence number: the next good one is 2.
    solo.handle(f.send(&whisper("still here"))).unwrap();
    assert!(matches!(solo.events()[..], [Event::Whisper { .. }]));
    assert_eq!(solo.node.stats().received, 2);
}

#[test]
fn stop_disconnects_all_and_emits_stop() {
    let mut net = Net::new(3);
    net.discover_all();
    net.clear();
    net.command(0, Command::Stop).unwrap();
    let links: BTreeSet<PeerId> = net
        .links(0)
        .into_iter()
        .map(|t| match t {
            Transmit::Disconnect { peer } => peer,
            t => panic!("unexpected {t:?}"),
        })
        .collect();
    assert_eq!(links, BTreeSet::from([pid(2), pid(3)]));
    assert_eq!(
        net.events(0),
        vec![Event::Stop {
            peer: pid(1),
            name: name_of(1)
        }]
    );
    assert!(net.nodes[0].is_stopped());
    assert_eq!(net.nodes[0].peers().count(), 0);
    assert_eq!(net.nodes[0].poll_timeout(), None);
    // After Stop: commands are refused, inputs do nothing.
    assert_eq!(
        net.command(0, Command::Join("g".into())),
        Err(Problem::Stopped)
    );
    assert_eq!(net.command(0, Command::Stop), Err(Problem::Stopped));
    net.discover(0, 1);
    net.command(
        1,
        Command::Whisper {
            peer: pid(1),
            content: content("x"),
        },
    )
    .unwrap();
    assert!(net.events(0).is_empty() && net.sent(0).is_empty() && net.links(0).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------------

fn earliest_peer_deadline(node: &NodeState) -> Option<Instant> {
    let (e, x) = (node.config().evasive, node.config().expired);
    node.peers.values().filter_map(|p| p.deadline(e, x)).min()
}

/// The endpoint index holds exactly (key of its endpoint, slot) for every peer; every fresh peer
/// (alive, not pinged, not supervised) is in the fresh list, which is in (heard, id) order and
/// holds nothing else; every other peer's live deadline entry is in the deadline heap, never
/// later than its deadline.
fn check_indexes(node: &NodeState) {
    let (e, x) = (node.config().evasive, node.config().expired);
    let want: BTreeSet<(u64, u32)> = node
        .peers
        .keys()
        .filter_map(|id| node.peers.slot(id))
        .map(|i| {
            (
                crate::peer::endpoint_key(&node.peers.at(i).info.endpoint),
                i,
            )
        })
        .collect();
    assert_eq!(node.endpoints.pairs(), want, "endpoint index out of date");
    let entries: BTreeSet<(Instant, PeerId)> =
        node.timers.iter().map(|std::cmp::Reverse(e)| *e).collect();
    let list: Vec<(Instant, PeerId)> = node
        .peers
        .fresh_slots()
        .into_iter()
        .map(|i| {
            let p = node.peers.at(i);
            assert!(
                p.fresh && p.is_fresh(),
                "only fresh peers in the fresh list"
            );
            (p.heard_at, p.info.id)
        })
        .collect();
    assert!(
        list.windows(2).all(|w| w[0] < w[1]),
        "fresh list out of order"
    );
    let fresh = node.peers.values().filter(|p| p.is_fresh()).count();
    assert_eq!(
        list.len(),
        fresh,
        "a fresh peer missing from the fresh list"
    );
    for p in node.peers.values().filter(|p| !p.is_fresh()) {
        if let Some(d) = p.deadline(e, x) {
            let at = p.timer_at.expect("a peer with a deadline is indexed");
            assert!(at <= d, "index entry later than the deadline");
            assert!(entries.contains(&(at, p.info.id)), "live entry missing");
        }
    }
    assert!(node.timers.len() <= 64 + 2 * node.peers.len() + 1);
}

/// Many peers heard at different moments: every wake-up finds exactly the due peers, and the
/// next deadline is always the brute-force minimum (the index replaced a scan of every peer).
#[test]
fn the_deadline_index_matches_a_scan_with_many_peers() {
    let mut solo = Solo::new();
    let mut fakes = Vec::new();
    for n in 2..60u8 {
        fakes.push(solo.fake(n, &[]));
        solo.clock
            .advance(Duration::from_millis(u64::from(n % 7) + 1));
        assert_eq!(solo.node.poll_timeout(), earliest_peer_deadline(&solo.node));
    }
    for round in 0..400u32 {
        // A third of the peers talk now and then; the rest go evasive, silent, expired.
        let n = (round * 7) as usize % fakes.len();
        if n % 3 == 0 && round < 200 {
            let input = fakes[n].send(&Message::PingOk);
            let _ = solo.handle(input);
        }
        let next = solo.node.poll_timeout();
        assert_eq!(next, earliest_peer_deadline(&solo.node));
        match next {
            Some(t) if t > solo.clock.now() => solo.clock.set(t),
            Some(_) => {}
            None => break,
        }
        solo.node.handle_timeout(solo.clock.now());
        while solo.node.poll_transmit().is_some() {}
        while solo.node.poll_event().is_some() {}
        assert_eq!(solo.node.poll_timeout(), earliest_peer_deadline(&solo.node));
        assert!(after_now(solo.node.poll_timeout(), solo.clock.now()));
        check_indexes(&solo.node);
    }
    // Everyone expired in the end.
    assert_eq!(solo.node.peers.len(), 0);
    assert_eq!(solo.node.poll_timeout(), None);
}

/// A peer whose HELLO named another endpoint than its beacon is indexed under the new one: a
/// new peer at that endpoint replaces it.
#[test]
fn the_endpoint_index_follows_the_hello_endpoint() {
    let mut solo = Solo::new();
    solo.node
        .handle(
            solo.clock.now(),
            Input::Discovered {
                id: pid(2),
                endpoint: "tcp://10.9.9.9:1".into(),
            },
        )
        .unwrap();
    let _two = solo.fake(2, &[]);
    check_indexes(&solo.node);
    let ep = solo.node.peer(&pid(2)).expect("entered").endpoint.clone();
    assert_ne!(ep, "tcp://10.9.9.9:1");
    solo.node
        .handle(
            solo.clock.now(),
            Input::Discovered {
                id: pid(3),
                endpoint: ep,
            },
        )
        .unwrap();
    assert!(
        solo.node.peer(&pid(2)).is_none(),
        "replaced at its endpoint"
    );
    check_indexes(&solo.node);
}

#[test]
fn poll_timeout_is_the_earliest_peer_deadline() {
    let mut solo = Solo::new();
    assert_eq!(solo.node.poll_timeout(), None);
    let _a = solo.fake(2, &[]);
    solo.clock.advance(Duration::from_millis(30));
    let mut b = solo.fake(3, &[]);
    // Peer 2's keep-alive is due at 50.
    assert_eq!(solo.node.poll_timeout(), Some(solo.clock.at(EVASIVE / 2)));
    // Peer 3 talks at 60: the earliest stays peer 2's.
    solo.clock.set(solo.clock.at(Duration::from_millis(60)));
    solo.handle(b.send(&Message::PingOk)).unwrap();
    assert_eq!(solo.node.poll_timeout(), earliest_peer_deadline(&solo.node));
    solo.timeout_at(EVASIVE);
    // Peer 2 is evasive (next at 200), peer 3's keep-alive is due at 110.
    assert_eq!(
        solo.node.poll_timeout(),
        Some(solo.clock.at(Duration::from_millis(110)))
    );
}

// ---------------------------------------------------------------------------------------------
// Property test: random inputs
// ---------------------------------------------------------------------------------------------

/// The fake peers of the property test are 10, 11, 12; 1 is the node itself.
const FAKES: [u8; 4] = [10, 11, 12, 1];
const GROUPS: [&str; 3] = ["g", "h", "k"];

#[derive(Debug, Clone)]
enum Op {
    /// Fake peer says HELLO (its link restarts at 1).
    Hello {
        peer: usize,
        groups: Vec<usize>,
        status: u8,
    },
    /// Fake peer sends a message with its next sequence.
    Msg {
        peer: usize,
        kind: u8,
        group: usize,
        status: u8,
    },
    /// Fake peer sends a message with any sequence.
    MsgSeq {
        peer: usize,
        seq: u16,
        kind: u8,
    },
    /// Fake peer sends raw bytes.
    Raw {
        peer: usize,
        bytes: Vec<u8>,
    },
    /// Bytes with a bad routing id.
    BadRouting(Vec<u8>),
    Discovered {
        peer: usize,
        endpoint: u8,
    },
    Departed(usize),
    SendFailed(usize),
    Join(usize),
    Leave(usize),
    Shout(usize),
    Whisper(usize),
    /// Time passes (ms); handle_timeout is called when the deadline has come.
    Advance(u16),
    /// handle_timeout now, due or not.
    Timeout,
    Stop,
}

fn op() -> impl Strategy<Value = Op> {
    let peer = 0..FAKES.len();
    let group = 0..GROUPS.len();
    prop_oneof![
        4 => (peer.clone(), proptest::collection::vec(group.clone(), 0..3), any::<u8>())
            .prop_map(|(peer, groups, status)| Op::Hello { peer, groups, status }),
        10 => (peer.clone(), 0u8..10, group.clone(), any::<u8>())
            .prop_map(|(peer, kind, group, status)| Op::Msg { peer, kind, group, status }),
        1 => (peer.clone(), any::<u16>(), 0u8..10).prop_map(|(peer, seq, kind)| Op::MsgSeq { peer, seq, kind }),
        1 => (peer.clone(), proptest::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(peer, bytes)| Op::Raw { peer, bytes }),
        1 => proptest::collection::vec(any::<u8>(), 0..20).prop_map(Op::BadRouting),
        2 => (peer.clone(), 0u8..3).prop_map(|(peer, endpoint)| Op::Discovered { peer, endpoint }),
        1 => peer.clone().prop_map(Op::Departed),
        1 => peer.clone().prop_map(Op::SendFailed),
        2 => group.clone().prop_map(Op::Join),
        2 => group.clone().prop_map(Op::Leave),
        1 => group.prop_map(Op::Shout),
        1 => peer.prop_map(Op::Whisper),
        4 => (0u16..300).prop_map(Op::Advance),
        1 => Just(Op::Timeout),
        1 => (0u8..8).prop_map(|n| if n == 0 { Op::Stop } else { Op::Timeout }),
    ]
}

fn fake_message(kind: u8, group: &str, status: u8) -> Message {
    let group = group.to_string();
    match kind {
        0 => whisper("w"),
        1 => Message::Shout {
            group,
            content: content("s"),
        },
        2 => Message::Join { group, status },
        3 => Message::Leave { group, status },
        4 => Message::Ping,
        5 => Message::PingOk,
        6 => Message::Elect {
            group,
            challenger: pid(10).to_string(),
        },
        7 => Message::Leader {
            group,
            leader: pid(10).to_string(),
        },
        8 => Message::Goodbye,
        _ => whisper("w2"),
    }
}

/// What the property test tracks of the node's reports.
#[derive(Default)]
struct Observer {
    entered: BTreeSet<PeerId>,
    links: LinkCheck,
    stopped: bool,
}

impl Observer {
    fn check(&mut self, node: &mut NodeState) {
        while let Some(t) = node.poll_transmit() {
            if self.stopped {
                assert!(
                    matches!(t, Transmit::Disconnect { .. }),
                    "after Stop only disconnects: {t:?}"
                );
            }
            self.links.observe(&t);
        }
        while let Some(e) = node.poll_event() {
            match &e {
                Event::Enter { peer, .. } => {
                    assert!(*peer != pid(1), "ENTER for self");
                    assert!(self.entered.insert(*peer), "ENTER twice for {peer}");
                }
                Event::Exit { peer, .. } => {
                    assert!(self.entered.remove(peer), "EXIT without ENTER for {peer}");
                }
                Event::Stop { peer, .. } => {
                    assert_eq!(*peer, pid(1));
                    assert!(!self.stopped, "STOP twice");
                    self.stopped = true;
                    self.entered.clear();
                }
                // LEADER names whichever id the election (or a LEADER message) settled on,
                // which need not be a peer we have met.
                Event::Leader { .. } => {}
                Event::Join { peer, .. }
                | Event::Leave { peer, .. }
                | Event::Whisper { peer, .. }
                | Event::Shout { peer, .. }
                | Event::Evasive { peer, .. }
                | Event::Silent { peer, .. } => {
                    assert!(self.entered.contains(peer), "{e:?} for a peer not entered");
                }
            }
        }
        // The application's view matches the events.
        let ready: BTreeSet<PeerId> = node.peers().map(|p| p.id).collect();
        assert_eq!(ready, self.entered);
        for g in GROUPS {
            assert!(node.peers_by_group(g).all(|p| self.entered.contains(&p)));
        }
        // Every peer in the table has an open link, and only those.
        let table: BTreeSet<PeerId> = node.peers.keys().copied().collect();
        let open: BTreeSet<PeerId> = self.links.links.keys().copied().collect();
        assert_eq!(table, open);
        // The deadline index: the next deadline is exactly the earliest peer deadline (the
        // brute-force minimum), and the endpoint index holds every peer under its endpoint.
        assert_eq!(node.poll_timeout(), earliest_peer_deadline(node));
        check_indexes(node);
    }
}

fn run_ops(ops: Vec<Op>) {
    let mut clock = Clock::new();
    let mut node = NodeState::new(config(1));
    let mut fakes: Vec<Fake> = FAKES.iter().map(|&n| Fake::new(n)).collect();
    let mut obs = Observer::default();
    for op in ops {
        let now = clock.now();
        let r = match op {
            Op::Hello {
                peer,
                groups,
                status,
            } => {
                let groups: Vec<&str> = groups.iter().map(|&g| GROUPS[g]).collect();
                let input = fakes[peer].hello(&groups, status);
                node.handle(now, input)
            }
            Op::Msg {
                peer,
                kind,
                group,
                status,
            } => {
                let input = fakes[peer].send(&fake_message(kind, GROUPS[group], status));
                node.handle(now, input)
            }
            Op::MsgSeq { peer, seq, kind } => {
                let input = fakes[peer].send_seq(seq, &fake_message(kind, "g", 0));
                node.handle(now, input)
            }
            Op::Raw { peer, bytes } => node.handle(now, fakes[peer].raw(vec![Bytes::from(bytes)])),
            Op::BadRouting(bytes) => node.handle(
                now,
                Input::Inbox {
                    routing_id: Bytes::from(bytes),
                    frames: whisper("x").encode(1).unwrap(),
                },
            ),
            Op::Discovered { peer, endpoint } => node.handle(
                now,
                Input::Discovered {
                    id: pid(FAKES[peer]),
                    endpoint: endpoint_of(FAKES[endpoint as usize]),
                },
            ),
            Op::Departed(peer) => node.handle(
                now,
                Input::Departed {
                    id: pid(FAKES[peer]),
                },
            ),
            Op::SendFailed(peer) => node.handle(
                now,
                Input::SendFailed {
                    id: pid(FAKES[peer]),
                },
            ),
            Op::Join(g) => node.handle(now, Input::Command(Command::Join(GROUPS[g].into()))),
            Op::Leave(g) => node.handle(now, Input::Command(Command::Leave(GROUPS[g].into()))),
            Op::Shout(g) => node.handle(
                now,
                Input::Command(Command::Shout {
                    group: GROUPS[g].into(),
                    content: content("s"),
                }),
            ),
            Op::Whisper(peer) => node.handle(
                now,
                Input::Command(Command::Whisper {
                    peer: pid(FAKES[peer]),
                    content: content("w"),
                }),
            ),
            Op::Advance(ms) => {
                let now = clock.advance(Duration::from_millis(ms.into()));
                if node.poll_timeout().is_some_and(|t| t <= now) {
                    node.handle_timeout(now);
                    assert!(after_now(node.poll_timeout(), now));
                }
                Ok(())
            }
            Op::Timeout => {
                node.handle_timeout(now);
                assert!(after_now(node.poll_timeout(), now));
                Ok(())
            }
            Op::Stop => node.handle(now, Input::Command(Command::Stop)),
        };
        // Any problem is fine; the state must stay consistent.
        let _ = r;
        obs.check(&mut node);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_keep_the_invariants(ops in proptest::collection::vec(op(), 1..120)) {
        run_ops(ops);
    }
}

/// A leaving beacon that overtakes the peer's HELLO must not let that HELLO bring the peer back
/// for an expiry period (it would linger until expired).
#[test]
fn hello_after_the_leaving_beacon_is_ignored() {
    let clock = Clock::new();
    let me = pid(1);
    let peer = pid(2);
    let mut node = NodeState::new(Config::new(me, "me", "tcp://127.0.0.1:1000"));
    node.handle(clock.now(), Input::Departed { id: peer })
        .unwrap();
    let mut hello = vec![0xaa, 0xa1, 1, 2, 0, 1, 20];
    hello.extend_from_slice(b"tcp://127.0.0.1:2000");
    hello.extend_from_slice(&[0, 0, 0, 0, 0, 1, b'p', 0, 0, 0, 0]);
    let r = node.handle_message(clock.now(), &peer.routing_id(), &hello, Content::new());
    assert_eq!(r, Err(Problem::Departed(peer)));
    node.handle(
        clock.now(),
        Input::Discovered {
            id: peer,
            endpoint: "tcp://127.0.0.1:2000".into(),
        },
    )
    .unwrap();
    assert_eq!(node.peers().count(), 0);
    assert!(node.poll_event().is_none());
    assert!(node.poll_transmit().is_none());
}

/// The last LEADER each node reported for `group`.
fn last_leaders(net: &mut Net, group: &str) -> Vec<Option<PeerId>> {
    (0..net.nodes.len())
        .map(|i| {
            net.events(i)
                .into_iter()
                .filter_map(|e| match e {
                    Event::Leader { peer, group: g, .. } if g == group => Some(peer),
                    _ => None,
                })
                .last()
        })
        .collect()
}

#[test]
fn election_elects_the_lowest_contesting_id_everywhere() {
    let mut net = Net::new(4);
    net.discover_all();
    for i in 0..4 {
        net.command(i, Command::Contest("g".into())).unwrap();
        net.command(i, Command::Join("g".into())).unwrap();
    }
    assert_eq!(last_leaders(&mut net, "g"), vec![Some(pid(1)); 4]);
    for i in 0..4 {
        assert_eq!(net.nodes[i].leader("g"), Some(pid(1)));
    }
    assert!(
        net.problems.iter().all(|p| p.is_empty()),
        "{:?}",
        net.problems
    );
}

#[test]
fn a_node_that_does_not_contest_still_relays_so_the_election_completes() {
    let mut net = Net::new(3);
    net.discover_all();
    // Node 0 (the lowest id) does not contest: the lowest contester, pid 2, must win.
    net.command(0, Command::Join("g".into())).unwrap();
    for i in 1..3 {
        net.command(i, Command::Contest("g".into())).unwrap();
        net.command(i, Command::Join("g".into())).unwrap();
    }
    assert_eq!(last_leaders(&mut net, "g"), vec![Some(pid(2)); 3]);
    // ELECT and LEADER went only to group members, with 32-hex uppercase ids.
    for i in 0..3 {
        for (_, env) in net.sent(i) {
            if let Message::Elect { challenger: id, .. } | Message::Leader { leader: id, .. } =
                env.message
            {
                assert_eq!(id.len(), 32);
                assert_eq!(id, id.to_uppercase());
            }
        }
    }
}

#[test]
fn the_leader_leaving_starts_a_new_election() {
    let mut net = Net::new(3);
    net.discover_all();
    for i in 0..3 {
        net.command(i, Command::Contest("g".into())).unwrap();
        net.command(i, Command::Join("g".into())).unwrap();
    }
    assert_eq!(last_leaders(&mut net, "g"), vec![Some(pid(1)); 3]);
    // The leader stops: the others hear its leaving beacon.
    let gone = net.id(0);
    net.command(0, Command::Stop).unwrap();
    net.handle(1, Input::Departed { id: gone }).unwrap();
    net.handle(2, Input::Departed { id: gone }).unwrap();
    let leaders = last_leaders(&mut net, "g");
    assert_eq!(leaders[1..], [Some(pid(2)), Some(pid(2))]);
}

/// Found by ryre-sim: a member that joins while a wave runs, after the other members echoed,
/// used to wait for ever for their ELECT (they had relayed before it joined), and so did the
/// challenger, whose restarted wave looked like the old one to the members.
#[test]
fn a_member_joining_mid_wave_still_gets_a_leader() {
    let mut net = Net::new(3);
    net.discover_all();
    net.clear();
    // Node 2's echo to node 1 is held back: node 1's wave is still running when node 3 joins.
    net.hold.insert((1, 0));
    net.command(1, Command::Join("g".into())).unwrap();
    net.command(0, Command::Contest("g".into())).unwrap();
    net.command(0, Command::Join("g".into())).unwrap();
    net.command(2, Command::Join("g".into())).unwrap();
    net.release(1, 0);
    net.advance(Duration::from_secs(1));
    for i in 0..3 {
        assert_eq!(net.nodes[i].leader("g"), Some(pid(1)), "node {}", i + 1);
    }
    assert_eq!(last_leaders(&mut net, "g"), vec![Some(pid(1)); 3]);
}

/// The same challenger starting its wave again (Zyre does at every JOIN) is a restart, not
/// more of the old wave: every member that already echoed echoes again.
#[test]
fn a_challenger_restarting_its_wave_gets_fresh_echoes() {
    let mut solo = Solo::new();
    let mut f2 = solo.fake(2, &["g"]);
    solo.handle(Input::Command(Command::Join("g".into())))
        .unwrap();
    let elect = |c: u8| Message::Elect {
        group: "g".into(),
        challenger: pid(c).to_string(),
    };
    // Peer 2 is alone with us in g: its ELECT completes the wave at once and we echo.
    solo.handle(f2.send(&elect(2))).unwrap();
    let echoes = |sent: Vec<(PeerId, Envelope)>| {
        sent.iter()
            .filter(|(to, env)| *to == pid(2) && env.message == elect(2))
            .count()
    };
    assert_eq!(echoes(solo.sent()), 1);
    // It starts again (same id): we echo again rather than count it as more of the old wave.
    solo.handle(f2.send(&elect(2))).unwrap();
    assert_eq!(echoes(solo.sent()), 1);
}

/// A challenger whose wave does not complete (a member has not answered) starts it again, backing
/// off, until it decides.
#[test]
fn an_incomplete_wave_is_started_again() {
    let mut solo = Solo::new();
    let mut f2 = solo.fake(2, &["g"]);
    solo.handle(Input::Command(Command::Contest("g".into())))
        .unwrap();
    solo.handle(Input::Command(Command::Join("g".into())))
        .unwrap();
    let own = Message::Elect {
        group: "g".into(),
        challenger: pid(1).to_string(),
    };
    let elects =
        |sent: Vec<(PeerId, Envelope)>| sent.iter().filter(|(_, e)| e.message == own).count();
    assert_eq!(elects(solo.sent()), 1);
    // Peer 2 does not answer ELECT (it stays alive): the wave starts again after a reap
    // interval, then after two more.
    let at = |solo: &mut Solo, f2: &mut Fake, t: Duration| {
        solo.timeout_at(t);
        solo.handle(f2.send(&Message::Ping)).unwrap();
        elects(solo.sent())
    };
    assert_eq!(at(&mut solo, &mut f2, REAP + REAP / 10), 1);
    assert_eq!(
        at(&mut solo, &mut f2, REAP * 2 + REAP / 5),
        0,
        "backing off"
    );
    assert_eq!(at(&mut solo, &mut f2, REAP * 3 + REAP / 5), 1);
    // Its echo completes the wave: LEADER, and no more retries.
    solo.handle(f2.send(&own)).unwrap();
    assert_eq!(solo.node.leader("g"), Some(pid(1)));
    assert!(solo.sent().iter().any(|(to, e)| *to == pid(2)
        && e.message
            == Message::Leader {
                group: "g".into(),
                leader: pid(1).to_string()
            }));
    for k in 4..60 {
        assert_eq!(at(&mut solo, &mut f2, REAP * k), 0);
    }
}

#[test]
fn contesting_alone_makes_us_the_leader() {
    let mut solo = Solo::new();
    solo.handle(Input::Command(Command::Contest("g".into())))
        .unwrap();
    solo.handle(Input::Command(Command::Join("g".into())))
        .unwrap();
    let leaders: Vec<PeerId> = solo
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Leader { peer, .. } => Some(peer),
            _ => None,
        })
        .collect();
    assert_eq!(leaders, vec![pid(1)]);
}

#[test]
fn leader_without_elect_is_relayed_not_fatal() {
    // Zyre aborts here (it builds the relay from an election it never started).
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &["g"]);
    let leader = pid(2).to_string();
    solo.handle(f.send(&Message::Leader {
        group: "g".into(),
        leader: leader.clone(),
    }))
    .unwrap();
    let sent = solo.sent();
    assert!(sent.iter().any(|(to, env)| *to == pid(2)
        && env.message
            == Message::Leader {
                group: "g".into(),
                leader: leader.clone()
            }));
    assert!(solo
        .events()
        .iter()
        .any(|e| matches!(e, Event::Leader { peer, .. } if *peer == pid(2))));
}

#[test]
fn election_messages_with_bad_ids_are_refused() {
    let mut solo = Solo::new();
    let mut f = solo.fake(2, &["g"]);
    for msg in [
        Message::Elect {
            group: "g".into(),
            challenger: "not-an-id".into(),
        },
        Message::Leader {
            group: "g".into(),
            leader: "ZZ".repeat(16),
        },
    ] {
        let r = solo.handle(f.send(&msg));
        assert!(matches!(r, Err(Problem::BadElection { from, .. }) if from == pid(2)));
    }
    // The peer is still there and in sequence.
    solo.handle(f.send(&Message::Ping)).unwrap();
    assert_eq!(solo.node.peers().count(), 1);
}

fn beacon_input(from: [u8; 4], id: PeerId, port: u16, key: Option<[u8; 32]>) -> Input {
    let b = crate::beacon::Beacon {
        id,
        port,
        public_key: key,
    };
    Input::Beacon {
        from: std::net::IpAddr::from(from),
        data: Bytes::from(b.encode()),
    }
}

#[test]
fn a_beacon_introduces_its_sender_at_the_source_address() {
    let mut solo = Solo::new();
    solo.handle(beacon_input([10, 0, 0, 7], pid(7), 49999, None))
        .unwrap();
    let ts = solo.transmits();
    assert_eq!(
        ts[0],
        Transmit::Connect {
            peer: pid(7),
            endpoint: "tcp://10.0.0.7:49999".into()
        }
    );
    assert!(matches!(&ts[1], Transmit::Send { peer, .. } if *peer == pid(7)));
    // A second beacon from a known peer changes nothing.
    solo.handle(beacon_input([10, 0, 0, 7], pid(7), 49999, None))
        .unwrap();
    assert!(solo.transmits().is_empty());
}

#[test]
fn own_and_other_version_beacons_are_ignored() {
    let mut solo = Solo::new();
    solo.handle(beacon_input([10, 0, 0, 1], pid(1), 1234, None))
        .unwrap();
    solo.handle(beacon_input([10, 0, 0, 8], pid(8), 1234, Some([9; 32])))
        .unwrap();
    assert!(solo.transmits().is_empty());
    assert_eq!(solo.node.stats().ignored, 2);
}

#[test]
fn a_port_zero_beacon_means_leaving() {
    let mut solo = Solo::new();
    let _f = solo.fake(2, &[]);
    solo.handle(beacon_input([10, 0, 0, 2], pid(2), 0, None))
        .unwrap();
    assert_eq!(solo.events(), vec![exit(2, ExitReason::Leaving)]);
}

#[test]
fn garbage_on_the_beacon_port_is_a_problem_not_a_panic() {
    let mut solo = Solo::new();
    for data in [&b""[..], b"ZRE", &[0u8; 22], &[b'Z'; 54]] {
        let r = solo.handle(Input::Beacon {
            from: std::net::IpAddr::from([10, 0, 0, 9]),
            data: Bytes::copy_from_slice(data),
        });
        assert!(matches!(r, Err(Problem::BadBeacon { .. })), "{r:?}");
    }
    assert_eq!(solo.node.stats().malformed, 4);
    assert!(solo.transmits().is_empty());
}

/// A HELLO lost on the wire (the link was re-established after it left) would leave the peer
/// half-known for ever: its later messages are refused as "not ready". The receiver says HELLO
/// again on a fresh link; the other side takes that as a restart and greets it back.
#[test]
fn a_lost_hello_is_recovered_by_saying_hello_again() {
    let mut net = Net::new(2);
    // Node 0's HELLO to node 1 is lost.
    net.hold.insert((0, 1));
    net.discover(0, 1);
    net.held.clear();
    net.hold.clear();
    net.discover(1, 0);
    assert!(
        net.nodes[0].peer(&pid(2)).is_some(),
        "node 0 has node 1's HELLO"
    );
    assert!(
        net.nodes[1].peer(&pid(1)).is_none(),
        "node 1 never got node 0's HELLO"
    );
    net.clear();
    // Node 0 whispers; node 1 refuses it (not ready) and says HELLO again.
    net.command(
        0,
        Command::Whisper {
            peer: pid(2),
            content: content("lost?"),
        },
    )
    .unwrap();
    assert!(matches!(net.problems[1][..], [Problem::NotReady { .. }]));
    assert!(
        net.nodes[1].peer(&pid(1)).is_some(),
        "node 1 now knows node 0"
    );
    assert!(net.nodes[0].peer(&pid(2)).is_some());
    let at_0 = net.events(0);
    assert_eq!(
        at_0[..2],
        [
            exit(2, ExitReason::Rehello),
            Event::Enter {
                peer: pid(2),
                name: name_of(2),
                headers: config(2).headers,
                endpoint: endpoint_of(2)
            }
        ]
    );
    // Traffic flows both ways afterwards.
    net.command(
        0,
        Command::Whisper {
            peer: pid(2),
            content: content("found"),
        },
    )
    .unwrap();
    assert!(net
        .events(1)
        .iter()
        .any(|e| matches!(e, Event::Whisper { peer, .. } if *peer == pid(1))));
}

#[test]
fn saying_hello_again_is_rate_limited() {
    let mut solo = Solo::new();
    // Peer 2 is discovered (we said HELLO) but its HELLO never arrives; it sends PINGs.
    solo.handle(Input::Discovered {
        id: pid(2),
        endpoint: endpoint_of(2),
    })
    .unwrap();
    solo.transmits();
    let f = Fake::new(2);
    for seq in 2..6 {
        let r = solo.handle(f.send_seq(seq, &Message::Ping));
        assert!(matches!(r, Err(Problem::NotReady { .. })));
    }
    // One new link and one HELLO for the four refusals.
    let ts = solo.transmits();
    let connects = ts
        .iter()
        .filter(|t| matches!(t, Transmit::Connect { .. }))
        .count();
    assert_eq!(connects, 1, "{ts:?}");
    // A reap interval later it may happen again.
    solo.clock.advance(REAP);
    let _ = solo.handle(f.send_seq(7, &Message::Ping));
    assert_eq!(
        solo.transmits()
            .iter()
            .filter(|t| matches!(t, Transmit::Connect { .. }))
            .count(),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// Supervised peers (the machine's agent or the process registry vouches for them)
// ---------------------------------------------------------------------------------------------

/// Nodes 1 and 2 learn of each other from a vouching party and greet each other.
fn supervised_pair() -> Net {
    let mut net = Net::new(2);
    for (i, j) in [(0, 1), (1, 0)] {
        let input = Input::Local {
            id: net.id(j),
            endpoint: net.nodes[j].config().endpoint.clone(),
        };
        net.handle(i, input).unwrap();
    }
    assert!(net
        .events(0)
        .iter()
        .any(|e| matches!(e, Event::Enter { .. })));
    assert!(net
        .events(1)
        .iter()
        .any(|e| matches!(e, Event::Enter { .. })));
    net.clear();
    net
}

#[test]
fn supervised_peers_are_never_pinged_evasive_or_expired() {
    let mut net = supervised_pair();
    // Node 2 goes quiet (its messages are held): it would be EVASIVE then EXIT if unsupervised.
    net.hold.insert((1, 0));
    net.advance(EXPIRED * 10);
    assert_eq!(net.events(0), vec![]);
    assert!(net.sent(0).is_empty(), "no keep-alive to a supervised peer");
    assert_eq!(net.nodes[0].poll_timeout(), None, "nothing to wake up for");
    assert_eq!(net.nodes[0].peers().count(), 1);
}

/// Found by ryre-sim (swarm seed 13): nodes of one machine hear no beacons of each other, so a
/// vouched peer dropped at a full queue must be taken again by the heart itself, later.
#[test]
fn a_vouched_peer_dropped_at_a_full_queue_is_taken_again_later() {
    let mut net = supervised_pair();
    net.handle(0, Input::SendFailed { id: pid(2) }).unwrap();
    assert_eq!(net.events(0), vec![exit(2, ExitReason::QueueFull)]);
    // Not at once: sending to it now fails cleanly (SendPolicy::DropPeer relies on that).
    assert!(net.nodes[0].peer(&pid(2)).is_none());
    let whisper = Command::Whisper {
        peer: pid(2),
        content: Content::new(),
    };
    assert!(matches!(
        net.command(0, whisper),
        Err(Problem::UnknownPeer(p)) if p == pid(2)
    ));
    net.advance(Duration::from_secs(2));
    assert!(net.nodes[0].peer(&pid(2)).is_some(), "taken again");
    assert!(net
        .events(0)
        .iter()
        .any(|e| matches!(e, Event::Enter { peer, .. } if *peer == pid(2))));
    // Still supervised: no keep-alive, never expired.
    net.clear();
    net.advance(EXPIRED * 3);
    assert!(net.nodes[0].peer(&pid(2)).is_some());
    // A peer nobody vouches for is not taken again (its beacons bring it back).
    let mut net = Net::new(2);
    net.discover_all();
    net.handle(0, Input::SendFailed { id: pid(2) }).unwrap();
    net.clear();
    net.hold.insert((1, 0));
    net.advance(Duration::from_secs(3));
    assert!(net.nodes[0].peer(&pid(2)).is_none());
}

#[test]
fn lost_reports_exit_at_once_and_a_late_hello_does_not_revive() {
    let mut net = supervised_pair();
    net.handle(0, Input::Lost { id: pid(2) }).unwrap();
    assert_eq!(net.events(0), vec![exit(2, ExitReason::Lost)]);
    // A re-announcement of the dead id within the expiry period is stale.
    let again = Input::Local {
        id: pid(2),
        endpoint: endpoint_of(2),
    };
    net.handle(0, again).unwrap();
    assert_eq!(net.nodes[0].peers().count(), 0);
    // Gone with a goodbye: EXIT (leaving) at once.
    let mut net = supervised_pair();
    net.handle(1, Input::Departed { id: pid(1) }).unwrap();
    assert_eq!(net.events(1), vec![exit(1, ExitReason::Leaving)]);
}

#[test]
fn when_the_agent_is_lost_peers_fall_back_to_liveness_checks() {
    let mut net = supervised_pair();
    net.handle(0, Input::Unsupervise).unwrap();
    // A healthy peer keeps answering keep-alives: no event at all.
    net.advance(EXPIRED * 3);
    assert_eq!(net.events(0), vec![]);
    assert!(net
        .sent(0)
        .iter()
        .any(|(p, e)| *p == pid(2) && e.message == Message::Ping));
    // A dead one expires as usual (no spurious EXIT before that).
    net.hold.insert((1, 0));
    net.advance(EXPIRED / 2);
    assert!(!net
        .events(0)
        .iter()
        .any(|e| matches!(e, Event::Exit { .. })));
    net.advance(EXPIRED);
    assert!(net.events(0).contains(&exit(2, ExitReason::Expired)));
    // A peer that was known from a beacon becomes supervised when the agent vouches for it.
    let mut net = Net::new(2);
    net.discover_all();
    net.clear();
    let input = Input::Local {
        id: pid(2),
        endpoint: endpoint_of(2),
    };
    net.handle(0, input).unwrap();
    net.hold.insert((1, 0));
    net.advance(EXPIRED * 3);
    assert_eq!(net.events(0), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Forged leaving beacons (issue 11)
// ---------------------------------------------------------------------------------------------

/// Node `i` hears node `j`'s beacon (port 0: its leaving beacon) from 10.0.0.<j+1>.
fn beacon_of(net: &mut Net, i: usize, j: usize, port: u16) -> Result<(), Problem> {
    let n = u8::try_from(j + 1).unwrap();
    net.handle(i, beacon_input([10, 0, 0, n], net.id(j), port, None))
}

/// Anyone on the LAN can send a live node's UUID with port 0. The peer is removed (as Zyre does),
/// but its next beacon after the grace brings it back: ENTER, its groups, and the other side
/// takes our fresh HELLO as a restart, so both ends agree again.
#[test]
fn a_forged_leaving_beacon_is_undone_by_the_next_beacon() {
    let mut net = Net::new(2);
    // Scaled to the harness's short timeouts (evasive 100 ms): a grace of 20 ms, beacons 30 ms.
    net.nodes[0].config.rejoin_grace = Duration::from_millis(20);
    net.command(1, Command::Join("g".into())).unwrap();
    net.discover_all();
    net.clear();
    beacon_of(&mut net, 0, 1, 0).unwrap(); // the forgery
    assert_eq!(net.events(0), vec![exit(2, ExitReason::Leaving)]);
    assert_eq!(net.nodes[0].peers_by_group("g").count(), 0);
    // A beacon within the grace is taken for one the leaving beacon overtook: still gone.
    net.advance(Duration::from_millis(10));
    beacon_of(&mut net, 0, 1, 49152).unwrap();
    assert!(net.events(0).is_empty());
    assert_eq!(net.nodes[0].peers().count(), 0);
    // The live peer's next beacon, one interval later, brings it back with its groups.
    net.advance(Duration::from_millis(30));
    beacon_of(&mut net, 0, 1, 49152).unwrap();
    let events = net.events(0);
    assert!(
        matches!(&events[..], [Event::Enter { peer, .. }, Event::Join { group, .. }]
            if *peer == pid(2) && group == "g"),
        "{events:?}"
    );
    assert!(net.nodes[0].peer(&pid(2)).is_some_and(|p| p.ready));
    assert_eq!(net.nodes[0].peers_by_group("g").count(), 1);
    // Node 2 saw our second HELLO as a restart: it has us again, and messages flow both ways.
    let seen = net.events(1);
    assert_eq!(
        seen.first(),
        Some(&exit(1, ExitReason::Rehello)),
        "{seen:?}"
    );
    assert!(seen
        .iter()
        .any(|e| matches!(e, Event::Enter { peer, .. } if *peer == pid(1))));
    net.command(
        0,
        Command::Whisper {
            peer: pid(2),
            content: content("hi"),
        },
    )
    .unwrap();
    assert!(net
        .events(1)
        .iter()
        .any(|e| matches!(e, Event::Whisper { peer, .. } if *peer == pid(1))));
    assert!(net.problems(0).is_empty() && net.problems(1).is_empty());
}

/// The original race stays fixed: a node that really stopped sends no beacon after its leaving
/// one, so its HELLO that the leaving beacon overtook never brings it back, at any time.
#[test]
fn a_stopped_nodes_late_hello_never_brings_it_back() {
    let mut net = Net::new(2);
    net.hold.insert((1, 0)); // what node 2 sends us is in flight...
    net.discover(0, 1);
    net.discover(1, 0);
    beacon_of(&mut net, 0, 1, 0).unwrap(); // ...when node 2 stops: its leaving beacon overtakes
    assert!(net.events(0).is_empty());
    for wait in [0, 100, 400, 1000] {
        net.advance(Duration::from_millis(wait));
        net.release(1, 0); // its HELLO arrives late
        net.hold.insert((1, 0));
        assert!(
            !net.events(0)
                .iter()
                .any(|e| matches!(e, Event::Enter { .. })),
            "a ghost came back after {wait} ms"
        );
    }
}

/// A peer the machine's agent (or this process) vouches for leaves through them: a leaving
/// beacon for it is forged and changes nothing.
#[test]
fn a_leaving_beacon_for_a_supervised_peer_is_ignored() {
    let mut net = supervised_pair();
    let ignored = net.nodes[0].stats().ignored;
    beacon_of(&mut net, 0, 1, 0).unwrap();
    assert!(net.events(0).is_empty());
    assert!(net.nodes[0].peer(&pid(2)).is_some_and(|p| p.ready));
    assert_eq!(net.nodes[0].stats().ignored, ignored + 1);
    // Its supervisor's word still counts.
    net.handle(0, Input::Departed { id: pid(2) }).unwrap();
    assert_eq!(net.events(0), vec![exit(2, ExitReason::Leaving)]);
}

/// Found by ryre-sim (swarm seed 7): nodes of one machine hear no beacons of each other, so a
/// peer the agent vouches for that is dropped at a sequence gap (a link reset lost a message) must
/// be taken again at once, and stay supervised when it is re-created.
#[test]
fn a_vouched_peer_dropped_at_a_gap_is_taken_again_and_stays_supervised() {
    let mut net = supervised_pair();
    net.hold.insert((0, 1));
    let to = net.id(1);
    for _ in 0..2 {
        net.command(
            0,
            Command::Whisper {
                peer: to,
                content: Content::from_vec(vec![Bytes::from_static(b"x")]),
            },
        )
        .unwrap();
    }
    net.pump();
    // A reset loses the first whisper; the second arrives.
    assert_eq!(net.held.len(), 2);
    net.held.remove(0);
    net.release(0, 1);
    let seen = net.events(1);
    let gap = seen.iter().position(|e| {
        matches!(
            e,
            Event::Exit {
                reason: ExitReason::SequenceGap { .. },
                ..
            }
        )
    });
    let enter = seen.iter().rposition(|e| matches!(e, Event::Enter { .. }));
    assert!(
        matches!((gap, enter), (Some(g), Some(e)) if g < e),
        "dropped at the gap, then taken again: {seen:?}"
    );
    net.clear();
    net.advance(Duration::from_secs(120));
    for i in 0..2 {
        let seen = net.events(i);
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, Event::Evasive { .. } | Event::Exit { .. })),
            "node {i} still supervises its peer: {seen:?}"
        );
    }
}

#[test]
fn a_dual_stack_node_announces_to_each_peer_the_endpoint_of_its_family() {
    let mut c = config(1);
    c.endpoint_v6 = Some("tcp://[fd00::1]:49152".into());
    let mut solo = Solo {
        clock: Clock::new(),
        node: NodeState::new(c),
        check: LinkCheck::default(),
    };
    for (n, endpoint, announced) in [
        (2, "tcp://[fd00::2]:5000", "tcp://[fd00::1]:49152"),
        (3, "tcp://10.0.0.3:5000", "tcp://10.0.0.1:49152"),
    ] {
        solo.handle(Input::Discovered {
            id: pid(n),
            endpoint: endpoint.into(),
        })
        .unwrap();
        let sent = solo.sent();
        let hello = sent.iter().find_map(|(to, env)| match &env.message {
            Message::Hello(h) if *to == pid(n) => Some(h.endpoint.clone()),
            _ => None,
        });
        assert_eq!(hello.as_deref(), Some(announced), "to {endpoint}");
    }
}

/// Three nodes; node 1 (index 0) waits up to 500 ms at stop for its peers' PING-OK.
fn net_with_stop_flush() -> Net {
    let mut net = Net::new(3);
    let mut c = config(1);
    c.stop_flush = Duration::from_millis(500);
    net.nodes[0] = NodeState::new(c);
    net.discover_all();
    net.clear();
    net
}

/// [`net_with_stop_flush`] where node 1 whispers to node 2 (held on the way: not delivered
/// until released) and then stops.
fn whisper_held_then_stop() -> Net {
    let mut net = net_with_stop_flush();
    net.hold.insert((0, 1));
    net.command(
        0,
        Command::Whisper {
            peer: pid(2),
            content: content("last words"),
        },
    )
    .unwrap();
    net.sent(0);
    net.command(0, Command::Stop).unwrap();
    net
}

#[test]
fn stop_with_a_flush_waits_for_the_ping_ok_of_peers_it_sent_to() {
    // The whisper to node 2 is still on its way when node 1 stops.
    let mut net = whisper_held_then_stop();
    // A PING to node 2 only: node 3 was sent nothing but HELLO.
    let pings: Vec<(PeerId, Message)> = net
        .sent(0)
        .into_iter()
        .map(|(p, e)| (p, e.message))
        .collect();
    assert_eq!(pings, vec![(pid(2), Message::Ping)]);
    assert!(net.nodes[0].is_stopping() && !net.nodes[0].is_stopped());
    assert!(net.events(0).is_empty(), "no STOP before the PING-OK");
    assert!(net.links(0).is_empty(), "no link closed before the PING-OK");
    assert_eq!(
        net.command(0, Command::Join("g".into())),
        Err(Problem::Stopped)
    );
    assert_eq!(net.command(0, Command::Stop), Err(Problem::Stopped));
    // Node 2 gets the whisper, then the PING; its PING-OK ends the stop.
    net.release(0, 1);
    assert!(net
        .events(1)
        .iter()
        .any(|e| matches!(e, Event::Whisper { peer, .. } if *peer == pid(1))));
    assert!(net.nodes[0].is_stopped());
    assert_eq!(
        net.events(0),
        vec![Event::Stop {
            peer: pid(1),
            name: name_of(1)
        }]
    );
    assert_eq!(net.nodes[0].peers().count(), 0);
    assert_eq!(net.nodes[0].poll_timeout(), None);
}

#[test]
fn stop_with_a_flush_gives_up_on_a_silent_peer_after_the_wait() {
    let mut net = whisper_held_then_stop();
    net.advance(Duration::from_millis(499));
    assert!(!net.nodes[0].is_stopped());
    net.advance(Duration::from_millis(1));
    assert!(net.nodes[0].is_stopped());
    // (Node 2's silence made it EVASIVE meanwhile.)
    let events = net.events(0);
    assert!(
        matches!(events.last(), Some(Event::Stop { .. })),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Exit { .. })));
}

#[test]
fn stop_with_a_flush_is_immediate_when_nothing_was_sent_or_the_peer_leaves() {
    // Nothing but HELLO sent: nothing to wait for.
    let mut net = net_with_stop_flush();
    net.command(0, Command::Stop).unwrap();
    assert!(net.nodes[0].is_stopped());
    // A peer that leaves while the node waits for it: no more waiting.
    let mut net = net_with_stop_flush();
    net.hold.insert((0, 1));
    net.command(0, Command::Join("g".into())).unwrap();
    net.command(0, Command::Stop).unwrap();
    assert!(!net.nodes[0].is_stopped());
    // Node 3 answered at once; node 2's answer is held. Then node 2 says it is leaving.
    net.handle(0, Input::Departed { id: pid(2) }).unwrap();
    assert!(net.nodes[0].is_stopped());
}

/// The HELLO a new peer gets from `n`, decoded (and its sequence checked: 1).
fn hello_sent_to(n: &mut NodeState, now: Instant, peer: u8) -> Hello {
    n.handle(
        now,
        Input::Discovered {
            id: pid(peer),
            endpoint: endpoint_of(peer),
        },
    )
    .expect("discovered");
    let mut got = None;
    while let Some(t) = n.poll_transmit() {
        if let Transmit::Send { peer: to, frames } = t {
            let env = Message::decode(&frames.to_vec()).expect("decodes");
            if let (true, Message::Hello(h)) = (to == pid(peer), env.message) {
                assert_eq!(env.sequence, 1);
                got = Some(h);
            }
        }
    }
    got.expect("a HELLO to the new peer")
}

#[test]
fn the_kept_hello_follows_joins_leaves_and_the_endpoint() {
    let now = Instant::now();
    let mut n = NodeState::new(config(1));
    let first = hello_sent_to(&mut n, now, 2);
    assert_eq!(hello_sent_to(&mut n, now, 3), first, "the same HELLO, kept");
    assert_eq!((first.groups.len(), first.status), (0, 0));
    n.handle(now, Input::Command(Command::Join("a".into())))
        .expect("join");
    let joined = hello_sent_to(&mut n, now, 4);
    assert_eq!((joined.groups, joined.status), (vec!["a".to_string()], 1));
    n.handle(now, Input::Command(Command::Join("b".into())))
        .expect("join");
    n.handle(now, Input::Command(Command::Leave("a".into())))
        .expect("leave");
    let left = hello_sent_to(&mut n, now, 5);
    assert_eq!((left.groups, left.status), (vec!["b".to_string()], 3));
    n.set_endpoint("tcp://10.0.0.9:1");
    assert_eq!(hello_sent_to(&mut n, now, 6).endpoint, "tcp://10.0.0.9:1");
    assert_eq!(hello_sent_to(&mut n, now, 7).headers, first.headers);
}

#[test]
fn a_shout_reaches_every_member_with_its_own_sequence() {
    let now = Instant::now();
    let mut n = NodeState::new(config(1));
    for p in 2..=4 {
        hello_sent_to(&mut n, now, p);
        let mut hello = Hello {
            endpoint: endpoint_of(p),
            name: format!("node-{p}"),
            ..Default::default()
        };
        hello.groups = if p == 3 { vec![] } else { vec!["g".into()] };
        let head = Message::Hello(hello).encode(1).expect("encodes");
        n.handle_message(now, &pid(p).routing_id(), &head[0], Content::new())
            .expect("hello");
    }
    // One more message to peer 2 first: its sequence is one ahead.
    n.handle(
        now,
        Input::Command(Command::Whisper {
            peer: pid(2),
            content: Content::new(),
        }),
    )
    .expect("whisper");
    while n.poll_transmit().is_some() {}
    n.handle(
        now,
        Input::Command(Command::Shout {
            group: "g".into(),
            content: [Bytes::from_static(b"x")].into_iter().collect(),
        }),
    )
    .expect("shout");
    let mut got = Vec::new();
    while let Some(t) = n.poll_transmit() {
        if let Transmit::Send { peer, frames } = t {
            let env = Message::decode(&frames.to_vec()).expect("decodes");
            let Message::Shout { group, content } = env.message else {
                panic!("not a SHOUT");
            };
            assert_eq!((group.as_str(), &content[0][..]), ("g", &b"x"[..]));
            got.push((peer, env.sequence));
        }
    }
    assert_eq!(got, vec![(pid(2), 3), (pid(4), 2)]);
}
