//! Nodes: settings before start, commands and events after.

use std::ffi::{c_char, c_int, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use ryre::{Bytes, Discovery, Event, Node, NodeBuilder, PeerId};

use crate::event::ryre_event_t;
use crate::util::{cstring, guard, guard_int, non_null, str_arg, Fail};
use crate::{ryre_error_t, ryre_list_t};

/// A ryre node: created by ryre_node_new, configured with ryre_node_set_*, started with
/// ryre_node_start, freed with ryre_node_destroy.
pub struct ryre_node_t {
    builder: Mutex<Option<NodeBuilder>>,
    running: OnceLock<Running>,
    pump: Mutex<Option<Pump>>,
}

struct Running {
    node: Node,
    uuid: CString,
    name: CString,
    endpoint: CString,
    gossip_endpoint: Option<CString>,
}

/// The event pump behind ryre_node_fd: a thread moves events from the node to a channel and
/// counts them in an eventfd (semaphore mode), so the fd is readable while events wait.
struct Pump {
    rx: flume::Receiver<Event>,
    efd: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn node_ref<'a>(node: *const ryre_node_t) -> Result<&'a ryre_node_t, Fail> {
    non_null(node, "node")?;
    // SAFETY: checked non-NULL; a live node from ryre_node_new (the header's rule).
    Ok(unsafe { &*node })
}

fn running<'a>(node: *const ryre_node_t) -> Result<&'a Running, Fail> {
    node_ref(node)?.running.get().ok_or_else(|| {
        Fail::new(
            ryre_error_t::RYRE_ERR_STATE,
            "the node has not been started (ryre_node_start)",
        )
    })
}

fn started(node: *const ryre_node_t) -> Result<&'static Node, Fail> {
    // SAFETY of the lifetime: the node lives until ryre_node_destroy, which must not race with
    // any other call (the header's rule), so the reference outlives this call.
    running(node).map(|r| &r.node)
}

fn peer_arg(p: *const c_char, what: &str) -> Result<PeerId, Fail> {
    let s = str_arg(p, what)?;
    s.parse::<PeerId>().map_err(|_| {
        Fail::new(
            ryre_error_t::RYRE_ERR_UUID,
            format!("{what} {s:?} is not a peer id (32 hex digits)"),
        )
    })
}

fn millis(ms: c_int, what: &str) -> Result<Duration, Fail> {
    u64::try_from(ms).map(Duration::from_millis).map_err(|_| {
        Fail::new(
            ryre_error_t::RYRE_ERR_INVALID,
            format!("{what} must not be negative (got {ms})"),
        )
    })
}

fn configure(
    node: *mut ryre_node_t,
    f: impl FnOnce(NodeBuilder) -> Result<NodeBuilder, Fail>,
) -> c_int {
    guard_int(|| {
        let n = node_ref(node)?;
        let mut slot = lock(&n.builder);
        let b = slot.take().ok_or_else(|| {
            Fail::new(
                ryre_error_t::RYRE_ERR_STATE,
                "the node has started: settings can no longer change",
            )
        })?;
        let keep = b.clone();
        match f(b) {
            Ok(b) => {
                *slot = Some(b);
                Ok(())
            }
            Err(e) => {
                *slot = Some(keep);
                Err(e)
            }
        }
    })
}

/// A new, unstarted node named `name` (NULL: the first 6 hex digits of its id, as Zyre does).
/// NULL on failure (RYRE_ERR_UTF8).
#[no_mangle]
pub extern "C" fn ryre_node_new(name: *const c_char) -> *mut ryre_node_t {
    guard(std::ptr::null_mut(), || {
        let mut b = Node::builder();
        if !name.is_null() {
            b = b.name(str_arg(name, "name")?);
        }
        Ok(Box::into_raw(Box::new(ryre_node_t {
            builder: Mutex::new(Some(b)),
            running: OnceLock::new(),
            pump: Mutex::new(None),
        })))
    })
}

/// Adds a HELLO header (e.g. "X-SERVICE"). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_header(
    node: *mut ryre_node_t,
    key: *const c_char,
    value: *const c_char,
) -> c_int {
    configure(node, |b| {
        Ok(b.header(str_arg(key, "key")?, str_arg(value, "value")?))
    })
}

/// The interface to beacon on, by name ("eth0", "lo"), IPv4 address, or IPv6 address (with
/// ryre_node_set_ipv6 or ryre_node_set_dual_stack). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_interface(
    node: *mut ryre_node_t,
    interface: *const c_char,
) -> c_int {
    configure(node, |b| Ok(b.interface(str_arg(interface, "interface")?)))
}

/// The UDP beacon port, 1..65535 (default 5670). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_port(node: *mut ryre_node_t, port: c_int) -> c_int {
    configure(node, |b| Ok(b.port(port_arg(port)?)))
}

fn port_arg(port: c_int) -> Result<u16, Fail> {
    u16::try_from(port).ok().filter(|p| *p != 0).ok_or_else(|| {
        Fail::new(
            ryre_error_t::RYRE_ERR_INVALID,
            format!("port {port} is not in 1..65535"),
        )
    })
}

/// Milliseconds between beacons (default 1000; above zero). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_interval(node: *mut ryre_node_t, ms: c_int) -> c_int {
    configure(node, |b| Ok(b.interval(millis(ms, "interval")?)))
}

/// Milliseconds of silence before a peer is reported EVASIVE (default 5000). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_evasive_timeout(node: *mut ryre_node_t, ms: c_int) -> c_int {
    configure(node, |b| {
        Ok(b.evasive_timeout(millis(ms, "evasive timeout")?))
    })
}

/// Milliseconds of silence before a peer is dropped with EXIT (default 30000). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_expired_timeout(node: *mut ryre_node_t, ms: c_int) -> c_int {
    configure(node, |b| {
        Ok(b.expired_timeout(millis(ms, "expired timeout")?))
    })
}

/// Milliseconds a stopping node may wait for the peers it sent messages to to confirm them
/// (a PING each, answered after everything queued before it) before it leaves (default 500;
/// 0: stop at once, as Zyre does). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_stop_flush(node: *mut ryre_node_t, ms: c_int) -> c_int {
    configure(node, |b| Ok(b.stop_flush(millis(ms, "stop flush")?)))
}

/// Binds the inbox to this ZeroMQ endpoint (e.g. "tcp://127.0.0.1:*"). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_endpoint(node: *mut ryre_node_t, endpoint: *const c_char) -> c_int {
    configure(node, |b| Ok(b.endpoint(str_arg(endpoint, "endpoint")?)))
}

/// How the node finds peers: "auto" (default), "local", "beacon" or "off". Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_discovery(node: *mut ryre_node_t, mode: *const c_char) -> c_int {
    configure(node, |b| {
        let mode = str_arg(mode, "discovery")?;
        let d: Discovery = mode
            .parse()
            .map_err(|e: String| Fail::new(ryre_error_t::RYRE_ERR_INVALID, e))?;
        Ok(b.discovery(d))
    })
}

/// false: no discovery ("off"); true: the default ("auto"). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_beacon(node: *mut ryre_node_t, on: bool) -> c_int {
    configure(node, |b| Ok(b.beacon(on)))
}

/// The device rendezvous on TCP 127.0.0.1 at this port (default: the beacon port). Before
/// start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_rendezvous_port(node: *mut ryre_node_t, port: c_int) -> c_int {
    configure(node, |b| Ok(b.rendezvous_port(port_arg(port)?)))
}

/// The device rendezvous on a Unix socket at `path` instead of TCP. Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_rendezvous_path(
    node: *mut ryre_node_t,
    path: *const c_char,
) -> c_int {
    configure(node, |b| Ok(b.rendezvous_path(str_arg(path, "path")?)))
}

/// Whether this node may serve as the machine's agent (default true). Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_agent(node: *mut ryre_node_t, may_host: bool) -> c_int {
    configure(node, |b| Ok(b.agent(may_host)))
}

/// Logs connections and events through the Rust `tracing` facade (default false). Before start
/// only.
#[no_mangle]
pub extern "C" fn ryre_node_set_verbose(node: *mut ryre_node_t, on: bool) -> c_int {
    configure(node, |b| Ok(b.verbose(on)))
}

/// Messages queued to one peer before it is dropped as unreachable (default 100000; above zero).
/// Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_send_hwm(node: *mut ryre_node_t, hwm: c_int) -> c_int {
    configure(node, |b| Ok(b.send_hwm(hwm)))
}

/// IPv6 instead of IPv4 (default false; Zyre's ZSYS_IPV6=1): the inbox on the interface's IPv6
/// address (`tcp://[::1]:PORT` on "lo"), beacons to the IPv6 multicast group ff02::1 on that
/// interface. Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_ipv6(node: *mut ryre_node_t, on: bool) -> c_int {
    configure(node, |b| Ok(b.ipv6(on)))
}

/// IPv4 and IPv6 at once (default false): the inbox on both addresses of the interface, beacons
/// over both; HELLO announces the IPv4 endpoint. Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_dual_stack(node: *mut ryre_node_t, on: bool) -> c_int {
    configure(node, |b| Ok(b.dual_stack(on)))
}

/// Certified mode: the node's certificate and key pair, `DIR/NAME` (the files NAME.cert and
/// NAME.secret of `ryre cert issue`). Needs at least one ryre_node_add_trust. A certificate that
/// cannot be read or does not verify makes ryre_node_start fail with RYRE_ERR_INVALID and a
/// message naming the file and the reason. Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_certificate(node: *mut ryre_node_t, path: *const c_char) -> c_int {
    configure(node, |b| Ok(b.certificate(str_arg(path, "path")?)))
}

/// Certified mode: trusts this root CA certificate (CA.cert of `ryre cert ca`); repeatable.
/// Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_add_trust(node: *mut ryre_node_t, ca_cert: *const c_char) -> c_int {
    configure(node, |b| Ok(b.trust_ca(str_arg(ca_cert, "ca_cert")?)))
}

/// Certified mode: the revocation file, read at start (if it exists) and rewritten whenever the
/// node learns new revocations from its peers. Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_set_revocations(node: *mut ryre_node_t, path: *const c_char) -> c_int {
    configure(node, |b| Ok(b.revocations(str_arg(path, "path")?)))
}

/// Whether the started node runs in certified mode: 1 yes, 0 no, -1 on failure
/// (ryre_last_error_code: RYRE_ERR_NULL, or RYRE_ERR_STATE before start).
#[no_mangle]
pub extern "C" fn ryre_node_is_certified(node: *const ryre_node_t) -> c_int {
    guard(-1, || Ok(c_int::from(started(node)?.is_certified())))
}

/// Certified mode: hands the running node the revocations of a revocation file (of `ryre cert
/// revoke`): the peers they revoke are dropped (EXIT with reason "revoked") and they are passed
/// on to every certified peer. RYRE_ERR_STATE when the node is not certified, RYRE_ERR_INVALID
/// for a file that cannot be read or verified.
#[no_mangle]
pub extern "C" fn ryre_node_add_revocations(node: *mut ryre_node_t, path: *const c_char) -> c_int {
    guard_int(|| {
        let n = started(node)?;
        let path = str_arg(path, "path")?;
        if !n.is_certified() {
            return Err(Fail::new(
                ryre_error_t::RYRE_ERR_STATE,
                "the node is not in certified mode (ryre_node_set_certificate)",
            ));
        }
        let list = ryre::certs::read_revocations(path)
            .map_err(|e| Fail::new(ryre_error_t::RYRE_ERR_INVALID, e.to_string()))?;
        Ok(n.add_revocations(list)?)
    })
}

/// Serves gossip (ZGP, as Zyre's zyre_gossip_bind) at this ZeroMQ endpoint (`tcp://[::1]:*` or
/// `tcp://10.0.0.1:5670`); turns beacons off unless discovery is set too. Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_gossip_bind(node: *mut ryre_node_t, endpoint: *const c_char) -> c_int {
    configure(node, |b| Ok(b.gossip_bind(str_arg(endpoint, "endpoint")?)))
}

/// Gossips through the hub at this endpoint (repeatable; as Zyre's zyre_gossip_connect); turns
/// beacons off unless discovery is set too. Before start only.
#[no_mangle]
pub extern "C" fn ryre_node_gossip_connect(
    node: *mut ryre_node_t,
    endpoint: *const c_char,
) -> c_int {
    configure(node, |b| {
        Ok(b.gossip_connect(str_arg(endpoint, "endpoint")?))
    })
}

/// The gossip hub's bound endpoint (the port the OS chose for "*"), if this node serves gossip;
/// NULL when it is no hub, and before start (RYRE_ERR_STATE). Valid while the node lives.
#[no_mangle]
pub extern "C" fn ryre_node_gossip_endpoint(node: *const ryre_node_t) -> *const c_char {
    guard(std::ptr::null(), || {
        let r = running(node)?;
        Ok(r.gossip_endpoint
            .as_ref()
            .map_or(std::ptr::null(), |c| c.as_ptr()))
    })
}

/// Starts the node: checks the settings, binds its inbox, starts discovery. On failure the
/// settings are kept, so the node can be fixed and started again; RYRE_ERR_STATE when it has
/// started already.
#[no_mangle]
pub extern "C" fn ryre_node_start(node: *mut ryre_node_t) -> c_int {
    guard_int(|| {
        let n = node_ref(node)?;
        let mut slot = lock(&n.builder);
        let b = slot.as_ref().ok_or_else(|| {
            Fail::new(ryre_error_t::RYRE_ERR_STATE, "the node has started already")
        })?;
        let started = b.clone().start()?;
        let r = Running {
            uuid: cstring(&started.uuid().to_string()),
            name: cstring(started.name()),
            endpoint: cstring(started.endpoint()),
            gossip_endpoint: started.gossip_endpoint().map(cstring),
            node: started,
        };
        if n.running.set(r).is_err() {
            return Err(Fail::new(
                ryre_error_t::RYRE_ERR_STATE,
                "the node has started already",
            ));
        }
        *slot = None;
        Ok(())
    })
}

/// The node's id (32 uppercase hex digits), owned by the node. NULL before start.
#[no_mangle]
pub extern "C" fn ryre_node_uuid(node: *const ryre_node_t) -> *const c_char {
    guard(std::ptr::null(), || Ok(running(node)?.uuid.as_ptr()))
}

/// The node's name, owned by the node. NULL before start.
#[no_mangle]
pub extern "C" fn ryre_node_name(node: *const ryre_node_t) -> *const c_char {
    guard(std::ptr::null(), || Ok(running(node)?.name.as_ptr()))
}

/// The node's inbox endpoint as announced to peers, owned by the node. NULL before start.
#[no_mangle]
pub extern "C" fn ryre_node_endpoint(node: *const ryre_node_t) -> *const c_char {
    guard(std::ptr::null(), || Ok(running(node)?.endpoint.as_ptr()))
}

/// Joins a group (nothing happens when already in it).
#[no_mangle]
pub extern "C" fn ryre_node_join(node: *mut ryre_node_t, group: *const c_char) -> c_int {
    guard_int(|| Ok(started(node)?.join(str_arg(group, "group")?)?))
}

/// Leaves a group (nothing happens when not in it).
#[no_mangle]
pub extern "C" fn ryre_node_leave(node: *mut ryre_node_t, group: *const c_char) -> c_int {
    guard_int(|| Ok(started(node)?.leave(str_arg(group, "group")?)?))
}

/// Takes part in leader elections in `group`: LEADER events report the winner.
#[no_mangle]
pub extern "C" fn ryre_node_contest_in_group(
    node: *mut ryre_node_t,
    group: *const c_char,
) -> c_int {
    guard_int(|| Ok(started(node)?.contest_in_group(str_arg(group, "group")?)?))
}

fn one_frame(data: *const u8, len: usize) -> Result<Bytes, Fail> {
    if len == 0 {
        return Ok(Bytes::new());
    }
    non_null(data, "data")?;
    // SAFETY: checked non-NULL; the caller passes `len` readable bytes (the header's rule).
    Ok(Bytes::copy_from_slice(unsafe {
        std::slice::from_raw_parts(data, len)
    }))
}

fn frames(frames: *const *const u8, lens: *const usize, count: usize) -> Result<Vec<Bytes>, Fail> {
    if count == 0 {
        return Err(Fail::new(
            ryre_error_t::RYRE_ERR_INVALID,
            "a message needs at least one frame",
        ));
    }
    non_null(frames, "frames")?;
    non_null(lens, "lens")?;
    // SAFETY: checked non-NULL; the caller passes `count` entries in each array.
    let (ptrs, lens) = unsafe {
        (
            std::slice::from_raw_parts(frames, count),
            std::slice::from_raw_parts(lens, count),
        )
    };
    ptrs.iter()
        .zip(lens)
        .map(|(p, l)| one_frame(*p, *l))
        .collect()
}

/// Shouts one frame of `len` bytes to every peer in `group` (`data` may be NULL when `len` is 0).
#[no_mangle]
pub extern "C" fn ryre_node_shout(
    node: *mut ryre_node_t,
    group: *const c_char,
    data: *const u8,
    len: usize,
) -> c_int {
    guard_int(|| {
        let n = started(node)?;
        let group = str_arg(group, "group")?;
        Ok(n.shout(group, [one_frame(data, len)?])?)
    })
}

/// Shouts a message of `count` frames (`frames[i]` of `lens[i]` bytes) to every peer in `group`.
#[no_mangle]
pub extern "C" fn ryre_node_shout_frames(
    node: *mut ryre_node_t,
    group: *const c_char,
    frames: *const *const u8,
    lens: *const usize,
    count: usize,
) -> c_int {
    guard_int(|| {
        let n = started(node)?;
        let group = str_arg(group, "group")?;
        Ok(n.shout(group, self::frames(frames, lens, count)?)?)
    })
}

/// Whispers one frame of `len` bytes to the peer with id `peer_uuid_hex` (32 hex digits).
#[no_mangle]
pub extern "C" fn ryre_node_whisper(
    node: *mut ryre_node_t,
    peer_uuid_hex: *const c_char,
    data: *const u8,
    len: usize,
) -> c_int {
    guard_int(|| {
        let n = started(node)?;
        let peer = peer_arg(peer_uuid_hex, "peer")?;
        Ok(n.whisper(peer, [one_frame(data, len)?])?)
    })
}

/// Whispers a message of `count` frames (`frames[i]` of `lens[i]` bytes) to one peer.
#[no_mangle]
pub extern "C" fn ryre_node_whisper_frames(
    node: *mut ryre_node_t,
    peer_uuid_hex: *const c_char,
    frames: *const *const u8,
    lens: *const usize,
    count: usize,
) -> c_int {
    guard_int(|| {
        let n = started(node)?;
        let peer = peer_arg(peer_uuid_hex, "peer")?;
        Ok(n.whisper(peer, self::frames(frames, lens, count)?)?)
    })
}

/// Introduces a peer by id and inbox endpoint, as a beacon would (networks without broadcast).
#[no_mangle]
pub extern "C" fn ryre_node_connect_peer(
    node: *mut ryre_node_t,
    peer_uuid_hex: *const c_char,
    endpoint: *const c_char,
) -> c_int {
    guard_int(|| {
        let n = started(node)?;
        let peer = peer_arg(peer_uuid_hex, "peer")?;
        Ok(n.connect_peer(peer, str_arg(endpoint, "endpoint")?)?)
    })
}

/// The next event, waiting up to `timeout_ms` milliseconds (0: only what is waiting; negative:
/// for ever). NULL with RYRE_ERR_TIMEOUT when none came, RYRE_ERR_STOPPED once the node has
/// stopped and its last event (STOP) has been taken.
#[no_mangle]
pub extern "C" fn ryre_node_recv(node: *mut ryre_node_t, timeout_ms: c_int) -> *mut ryre_event_t {
    guard(std::ptr::null_mut(), || {
        let n = node_ref(node)?;
        let r = running(node)?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        let pumped = lock(&n.pump)
            .as_ref()
            .map(|p| (p.rx.clone(), p.efd.as_raw_fd()));
        let ev = match pumped {
            Some((rx, efd)) => {
                let mut got = match timeout {
                    None => rx.recv().map_err(|_| flume::RecvTimeoutError::Disconnected),
                    Some(t) => rx.recv_timeout(t),
                };
                if matches!(got, Err(flume::RecvTimeoutError::Timeout)) && counted(efd) {
                    // The pump has counted an event and is about to send it (it counts first):
                    // a readable fd promises an event, so wait for it a little.
                    got = rx.recv_timeout(Duration::from_millis(100));
                }
                match got {
                    Ok(ev) => {
                        let mut one = 0u64;
                        // SAFETY: an eventfd we own; reads 8 bytes into a u64. The pump wrote
                        // before it sent, so this read takes this event's count.
                        unsafe { libc::read(efd, (&mut one as *mut u64).cast(), 8) };
                        Some(ev)
                    }
                    Err(flume::RecvTimeoutError::Timeout) => None,
                    Err(flume::RecvTimeoutError::Disconnected) => {
                        return Err(Fail::new(
                            ryre_error_t::RYRE_ERR_STOPPED,
                            "the node has stopped",
                        ))
                    }
                }
            }
            None => match timeout {
                None => Some(r.node.recv()?),
                Some(t) => r.node.recv_timeout(t)?,
            },
        };
        match ev {
            Some(ev) => Ok(Box::into_raw(Box::new(ryre_event_t::from_event(ev)))),
            None => Err(Fail::new(
                ryre_error_t::RYRE_ERR_TIMEOUT,
                format!("no event within {timeout_ms} ms"),
            )),
        }
    })
}

/// Whether the eventfd counts an event (polls readable now).
fn counted(efd: c_int) -> bool {
    let mut p = libc::pollfd {
        fd: efd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on our eventfd, no waiting.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

/// A file descriptor that polls readable while events are waiting, for select/poll/epoll loops
/// (see EVENT LOOPS above). Owned by the node: do not read, write or close it. The same fd every
/// call; -1 (with the last error set) on failure. Once asked for, events flow through a pump
/// thread of the node (one extra hop per event).
#[no_mangle]
pub extern "C" fn ryre_node_fd(node: *mut ryre_node_t) -> c_int {
    guard(-1, || {
        let n = node_ref(node)?;
        let r = running(node)?;
        let mut pump = lock(&n.pump);
        if let Some(p) = pump.as_ref() {
            return Ok(p.efd.as_raw_fd());
        }
        // SAFETY: plain syscall; the result is checked.
        let raw = unsafe {
            libc::eventfd(
                0,
                libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | libc::EFD_SEMAPHORE,
            )
        };
        if raw < 0 {
            return Err(Fail::new(
                ryre_error_t::RYRE_ERR_SYSTEM,
                format!("eventfd: {}", std::io::Error::last_os_error()),
            ));
        }
        // SAFETY: a fresh fd we own from here on.
        let efd = unsafe { OwnedFd::from_raw_fd(raw) };
        let (tx, rx) = flume::unbounded();
        let source = r.node.clone();
        let wfd = raw;
        let thread = std::thread::Builder::new()
            .name("ryre-ffi-pump".into())
            .spawn(move || {
                // Ends when the node has stopped and handed out its last event. `wfd` outlives
                // this thread: ryre_node_destroy joins it before closing the fd.
                while let Ok(ev) = source.recv() {
                    let one = 1u64;
                    // SAFETY: writes 8 bytes from a u64 to our eventfd.
                    unsafe { libc::write(wfd, (&one as *const u64).cast(), 8) };
                    if tx.send(ev).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Fail::new(ryre_error_t::RYRE_ERR_SYSTEM, e.to_string()))?;
        *pump = Some(Pump {
            rx,
            efd,
            thread: Some(thread),
        });
        Ok(raw)
    })
}

/// Ids of the peers that have said HELLO, sorted. NULL before start.
#[no_mangle]
pub extern "C" fn ryre_node_peers(node: *const ryre_node_t) -> *mut ryre_list_t {
    guard(std::ptr::null_mut(), || {
        Ok(ryre_list_t::boxed(
            started(node)?.peers().iter().map(|p| p.to_string()),
        ))
    })
}

/// Ids of the peers in `group`, sorted.
#[no_mangle]
pub extern "C" fn ryre_node_peers_by_group(
    node: *const ryre_node_t,
    group: *const c_char,
) -> *mut ryre_list_t {
    guard(std::ptr::null_mut(), || {
        let n = started(node)?;
        let group = str_arg(group, "group")?;
        Ok(ryre_list_t::boxed(
            n.peers_by_group(group).iter().map(|p| p.to_string()),
        ))
    })
}

/// Groups this node is in.
#[no_mangle]
pub extern "C" fn ryre_node_own_groups(node: *const ryre_node_t) -> *mut ryre_list_t {
    guard(std::ptr::null_mut(), || {
        Ok(ryre_list_t::boxed(started(node)?.own_groups()))
    })
}

/// Groups that peers are in.
#[no_mangle]
pub extern "C" fn ryre_node_peer_groups(node: *const ryre_node_t) -> *mut ryre_list_t {
    guard(std::ptr::null_mut(), || {
        Ok(ryre_list_t::boxed(started(node)?.peer_groups()))
    })
}

fn owned(s: Option<String>, what: &str) -> Result<*mut c_char, Fail> {
    s.map(|s| cstring(&s).into_raw())
        .ok_or_else(|| Fail::new(ryre_error_t::RYRE_ERR_UNKNOWN_PEER, what.to_string()))
}

/// A peer's name; free with ryre_string_free. NULL (RYRE_ERR_UNKNOWN_PEER) for an unknown peer.
#[no_mangle]
pub extern "C" fn ryre_node_peer_name(
    node: *const ryre_node_t,
    peer_uuid_hex: *const c_char,
) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        let n = started(node)?;
        let peer = peer_arg(peer_uuid_hex, "peer")?;
        owned(n.peer_name(&peer), &format!("unknown peer {peer}"))
    })
}

/// A peer's inbox endpoint; free with ryre_string_free. NULL (RYRE_ERR_UNKNOWN_PEER) for an
/// unknown peer.
#[no_mangle]
pub extern "C" fn ryre_node_peer_address(
    node: *const ryre_node_t,
    peer_uuid_hex: *const c_char,
) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        let n = started(node)?;
        let peer = peer_arg(peer_uuid_hex, "peer")?;
        owned(n.peer_address(&peer), &format!("unknown peer {peer}"))
    })
}

/// One of a peer's HELLO headers; free with ryre_string_free. NULL (RYRE_ERR_UNKNOWN_PEER) when
/// the peer is unknown or has no such header.
#[no_mangle]
pub extern "C" fn ryre_node_peer_header(
    node: *const ryre_node_t,
    peer_uuid_hex: *const c_char,
    key: *const c_char,
) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        let n = started(node)?;
        let peer = peer_arg(peer_uuid_hex, "peer")?;
        let key = str_arg(key, "key")?;
        owned(
            n.peer_header_value(&peer, key),
            &format!("peer {peer} is unknown or has no header {key:?}"),
        )
    })
}

/// The leader of `group` (a peer id; free with ryre_string_free) once an election there has
/// completed; NULL (RYRE_ERR_UNKNOWN_PEER) while there is none.
#[no_mangle]
pub extern "C" fn ryre_node_leader(node: *const ryre_node_t, group: *const c_char) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        let n = started(node)?;
        let group = str_arg(group, "group")?;
        owned(
            n.leader(group).map(|p| p.to_string()),
            &format!("no leader in {group:?} yet"),
        )
    })
}

/// Stops the node: leaving beacon, links closed, STOP event, thread joined. Any thread may call
/// it; calling it again does nothing. RYRE_ERR_STATE before start.
#[no_mangle]
pub extern "C" fn ryre_node_stop(node: *mut ryre_node_t) -> c_int {
    guard_int(|| Ok(started(node)?.stop()?))
}

/// Stops the node if it runs and frees it. NULL is ignored. No other thread may use the node
/// during or after this call.
#[no_mangle]
pub extern "C" fn ryre_node_destroy(node: *mut ryre_node_t) {
    if node.is_null() {
        return;
    }
    let _ = guard_int(|| {
        // SAFETY: `node` came from Box::into_raw in ryre_node_new and is freed once (the rule).
        let n = unsafe { Box::from_raw(node) };
        if let Some(r) = n.running.get() {
            r.node.stop()?;
        }
        let pump = lock(&n.pump).take();
        if let Some(mut p) = pump {
            if let Some(t) = p.thread.take() {
                let _ = t.join();
            }
            drop(p);
        }
        drop(n);
        Ok(())
    });
}
