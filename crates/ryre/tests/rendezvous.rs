//! The device rendezvous across real processes: one agent out of nodes started at once; the
//! agent killed again and again while two nodes whisper; bad input to the rendezvous port.
//! Child processes are this test binary again (`child_rv`), killed on drop; loopback only,
//! OS-chosen ports, bounded waits.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use ryre::{Discovery, Event, ExitReason, PeerId};
use ryre_proto::rendezvous::{ErrorCode, Registration, RvMsg};

/// A child node: killed (SIGKILL) and reaped on drop.
struct ChildNode {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    id: Option<PeerId>,
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildNode {
    /// Starts `child_rv` in `mode` (`host`, `echo`), on beacon port `port`. It starts its node
    /// when it reads a line on stdin.
    fn spawn(port: u16, mode: &str) -> ChildNode {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "child_rv", "--nocapture", "--test-threads", "1"])
            .env("RYRE_RV_PORT", port.to_string())
            .env("RYRE_RV_MODE", mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        ChildNode {
            stdin: child.stdin.take(),
            child,
            lines,
            id: None,
        }
    }

    fn go(&mut self) {
        let s = self.stdin.as_mut().expect("stdin");
        s.write_all(b"go\n").expect("write");
        s.flush().expect("flush");
    }

    /// Reads the child's `NODE <id> <agent>` line.
    fn started(&mut self) -> (PeerId, bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).expect("child start line");
            // libtest prints `test child_rv ... ` before the child's own output.
            if let Some(rest) = line.split_once("NODE ").map(|(_, r)| r) {
                let mut it = rest.split(' ');
                let id: PeerId = it.next().and_then(|s| s.parse().ok()).expect("id");
                let agent = it.next() == Some("true");
                self.id = Some(id);
                return (id, agent);
            }
        }
    }
}

/// The child: waits for a line on stdin, starts a node (discovery `local`), prints its id and
/// whether it took the rendezvous, then serves until killed. `echo` nodes may not host the
/// agent and whisper every whisper back.
#[test]
fn child_rv() {
    let (Ok(port), Ok(mode)) = (std::env::var("RYRE_RV_PORT"), std::env::var("RYRE_RV_MODE"))
    else {
        return;
    };
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let node = builder(port.parse().expect("port"), &mode)
        .discovery(Discovery::Local)
        .agent(mode == "host")
        .evasive_timeout(Duration::from_millis(300))
        .expired_timeout(Duration::from_millis(1000))
        .start()
        .expect("start");
    println!("NODE {} {}", node.uuid(), node.is_agent());
    let until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < until {
        if let Ok(Some(Event::Whisper { peer, content, .. })) =
            node.recv_timeout(Duration::from_secs(1))
        {
            if mode == "echo" {
                let _ = node.whisper(peer, content.iter().cloned());
            }
        }
    }
}

/// Asks the agent who it serves: (the agent's id, the registered ids).
fn probe(port: u16) -> Option<(PeerId, BTreeSet<PeerId>)> {
    let view = ryre::agent_view(&ryre::Rendezvous::Tcp(port), Duration::from_millis(500)).ok()?;
    Some((view.agent, view.nodes.iter().map(|n| n.0).collect()))
}

#[test]
fn ten_nodes_started_at_once_elect_exactly_one_agent() {
    let port = free_udp_port();
    let mut kids: Vec<ChildNode> = (0..10).map(|_| ChildNode::spawn(port, "host")).collect();
    for k in &mut kids {
        k.go();
    }
    let started: Vec<(PeerId, bool)> = kids.iter_mut().map(ChildNode::started).collect();
    let agents: Vec<&(PeerId, bool)> = started.iter().filter(|(_, a)| *a).collect();
    assert_eq!(agents.len(), 1, "exactly one agent: {started:?}");
    let ids: BTreeSet<PeerId> = started.iter().map(|(id, _)| *id).collect();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some((agent, peers)) = probe(port) {
            assert_eq!(agent, agents[0].0, "the agent is the one that said so");
            if peers == ids {
                break;
            }
        }
        assert!(Instant::now() < deadline, "not every node registered");
    }
}

#[test]
fn agent_killed_twenty_times_while_two_nodes_whisper() {
    const KILLS: usize = 20;
    let port = free_udp_port();
    // The whispering pair never hosts the agent: `a` here, `b` an echoing child process.
    let a = builder(port, "a")
        .discovery(Discovery::Local)
        .agent(false)
        .evasive_timeout(Duration::from_millis(300))
        .expired_timeout(Duration::from_millis(1000))
        .start()
        .expect("a");
    let mut hosts: Vec<ChildNode> = (0..KILLS + 2)
        .map(|_| ChildNode::spawn(port, "host"))
        .collect();
    for h in &mut hosts {
        h.go();
        h.started();
    }
    let mut b = ChildNode::spawn(port, "echo");
    b.go();
    let (b_id, _) = b.started();
    let mut alive: BTreeMap<PeerId, ChildNode> = hosts
        .into_iter()
        .map(|h| (h.id.expect("started"), h))
        .collect();
    // `a` has met every host and `b` before the first kill: a node killed before its HELLO
    // reached `a` would vanish without ENTER, and so without EXIT.
    let mut unmet: BTreeSet<PeerId> = alive.keys().copied().chain([b_id]).collect();
    while !unmet.is_empty() {
        if let Event::Enter { peer, .. } = expect(&a, "ENTER of every node", |e| {
            matches!(e, Event::Enter { .. })
        }) {
            unmet.remove(&peer);
        }
    }
    let mut killed = BTreeSet::new();
    let mut exits = Vec::new();
    let mut sent = 0u64;
    let mut echoed = Vec::new();
    let pump = |a: &ryre::Node,
                sent: &mut u64,
                echoed: &mut Vec<u64>,
                exits: &mut Vec<(PeerId, ExitReason)>| {
        // Whisper a few numbers and take every event that came meanwhile.
        for _ in 0..20 {
            a.whisper(b_id, [sent.to_string()]).expect("b is known");
            *sent += 1;
        }
        while let Ok(Some(ev)) = a.recv_timeout(Duration::from_millis(1)) {
            match ev {
                Event::Whisper { content, .. } => echoed.push(
                    std::str::from_utf8(&content[0])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .expect("a number"),
                ),
                Event::Exit { peer, reason, .. } => exits.push((peer, reason)),
                _ => {}
            }
        }
    };
    for round in 0..KILLS {
        // Find the agent (it must be one of the hosts), kill it, wait for a new one to serve
        // every survivor.
        let deadline = Instant::now() + WAIT;
        let agent = loop {
            pump(&a, &mut sent, &mut echoed, &mut exits);
            if let Some((agent, _)) = probe(port) {
                if !killed.contains(&agent) {
                    break agent;
                }
            }
            assert!(Instant::now() < deadline, "round {round}: no agent");
        };
        let mut victim = alive.remove(&agent).expect("the agent is a host");
        let _ = victim.child.kill();
        let _ = victim.child.wait();
        killed.insert(agent);
        let want: BTreeSet<PeerId> = alive.keys().copied().chain([a.uuid(), b_id]).collect();
        let deadline = Instant::now() + WAIT;
        loop {
            pump(&a, &mut sent, &mut echoed, &mut exits);
            if let Some((new, peers)) = probe(port) {
                if new != agent && want.iter().all(|id| peers.contains(id) || *id == new) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "round {round}: nobody took over");
        }
    }
    // Every echo arrives, in order; then the dead hosts expire, and only they.
    let deadline = Instant::now() + WAIT;
    while (echoed.len() as u64) < sent
        || exits.iter().filter(|(p, _)| killed.contains(p)).count() < killed.len()
    {
        if Instant::now() >= deadline {
            let missing: Vec<_> = killed
                .iter()
                .filter(|k| !exits.iter().any(|(p, _)| p == *k))
                .map(|k| (k, a.peer_info(k)))
                .collect();
            panic!(
                "echoes {}/{sent}, exits {exits:?}, killed without EXIT: {missing:?}",
                echoed.len()
            );
        }
        if let Ok(Some(ev)) = a.recv_timeout(Duration::from_millis(50)) {
            match ev {
                Event::Whisper { content, .. } => echoed.push(
                    std::str::from_utf8(&content[0])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .expect("a number"),
                ),
                Event::Exit { peer, reason, .. } => exits.push((peer, reason)),
                _ => {}
            }
        }
    }
    assert_eq!(
        echoed,
        (0..sent).collect::<Vec<_>>(),
        "no whisper lost or reordered"
    );
    let exited: BTreeSet<PeerId> = exits.iter().map(|(p, _)| *p).collect();
    assert_eq!(exited, killed, "EXIT for the killed agents only: {exits:?}");
    // Each at once: an agent's connections close only when its process dies.
    assert!(
        exits.iter().all(|(_, r)| *r == ExitReason::Lost),
        "{exits:?}"
    );
    assert!(!exited.contains(&b_id));
}

#[test]
fn bad_input_never_takes_the_agent_down() {
    let port = free_udp_port();
    let host = builder(port, "host")
        .discovery(Discovery::Local)
        .start()
        .expect("host");
    assert!(host.is_agent());
    let read_error = |s: &mut TcpStream| -> Option<ErrorCode> {
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = s.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Ok(Some((RvMsg::Error { code, .. }, _))) = RvMsg::decode(&buf) {
                return Some(code);
            }
        }
    };
    // Garbage: an Error, then the connection closes.
    let mut s = TcpStream::connect((loopback(), port)).expect("connect");
    s.write_all(b"\x00\x00\x00\x08GET / HTTP/1.1\r\n")
        .expect("write");
    assert_eq!(read_error(&mut s), Some(ErrorCode::Malformed));
    // A length prefix over the limit: refused before the bytes arrive.
    let mut s = TcpStream::connect((loopback(), port)).expect("connect");
    s.write_all(&[0xFF, 0xFF, 0xFF, 0xFF]).expect("write");
    assert_eq!(read_error(&mut s), Some(ErrorCode::TooLarge));
    // A registration claiming the host's id.
    let mut s = TcpStream::connect((loopback(), port)).expect("connect");
    let forged = RvMsg::Register(Registration {
        id: host.uuid(),
        name: "impostor".into(),
        endpoint: "tcp://127.0.0.1:9".into(),
        beacon: None,
        headers: vec![],
        groups: vec![],
        status: 0,
        proof: None,
    });
    s.write_all(&forged.encode().expect("encode"))
        .expect("write");
    assert_eq!(read_error(&mut s), Some(ErrorCode::DuplicateId));
    // Something only an agent sends.
    let mut s = TcpStream::connect((loopback(), port)).expect("connect");
    let w = RvMsg::Welcome { agent: host.uuid() }
        .encode()
        .expect("encode");
    s.write_all(&w).expect("write");
    assert_eq!(read_error(&mut s), Some(ErrorCode::Unexpected));
    // Half a message, then gone; and 1,000 connections that say nothing.
    let mut half = TcpStream::connect((loopback(), port)).expect("connect");
    let frame = forged.encode().expect("encode");
    half.write_all(&frame[..frame.len() / 2]).expect("write");
    drop(half);
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect((loopback(), port)).expect("idle connection"))
        .collect();
    // The agent still serves: a new node registers and the host sees it.
    let late = builder(port, "late")
        .discovery(Discovery::Local)
        .start()
        .expect("late");
    let id = late.uuid();
    expect(
        &host,
        "ENTER late",
        |e| matches!(e, Event::Enter { peer, .. } if *peer == id),
    );
    assert!(!late.is_agent());
    drop(idle);
    assert!(host.peers().contains(&id));
    // None of the impostors made it into the table.
    assert_eq!(host.peers(), vec![id]);
}

#[test]
fn the_rendezvous_on_a_unix_socket_takes_over_a_stale_file() {
    let dir = std::env::temp_dir().join(format!(
        "ryre-rv-{}-{}",
        std::process::id(),
        free_udp_port()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("agent.sock");
    // A socket file left by a dead agent: nobody listens on it.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("stale socket"));
    assert!(path.exists());
    // Two nodes on different beacon ports (so the process registry does not introduce them)
    // meet through the agent on the Unix socket.
    let a = builder(free_udp_port(), "ipc-a")
        .discovery(Discovery::Local)
        .rendezvous_path(&path)
        .start()
        .expect("a");
    assert!(a.is_agent(), "the stale file was taken over");
    let b = builder(free_udp_port(), "ipc-b")
        .discovery(Discovery::Local)
        .rendezvous_path(&path)
        .start()
        .expect("b");
    assert!(!b.is_agent());
    let id = b.uuid();
    expect(
        &a,
        "ENTER ipc-b",
        |e| matches!(e, Event::Enter { peer, .. } if *peer == id),
    );
    let view = ryre::agent_view(&ryre::Rendezvous::Ipc(path.clone()), Duration::from_secs(2))
        .expect("the agent answers on the socket");
    assert_eq!(view.agent, a.uuid());
    assert_eq!(view.nodes.len(), 2);
    // The agent's node stops cleanly: b sees it leave, takes over, and the file is b's now.
    a.stop().expect("stop a");
    let aid = a.uuid();
    expect(
        &b,
        "EXIT ipc-a",
        |e| matches!(e, Event::Exit { peer, .. } if *peer == aid),
    );
    let deadline = Instant::now() + WAIT;
    while !b.is_agent() {
        assert!(Instant::now() < deadline, "b never took over");
        let _ = b.recv_timeout(Duration::from_millis(10));
    }
    b.stop().expect("stop b");
    let _ = std::fs::remove_dir_all(&dir);
}
