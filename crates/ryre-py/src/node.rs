//! `ryre._native.Node`: a started `ryre::Node`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use ryre::Node;

use crate::convert::{content_of, peer_of, uuid_of};
use crate::errors::{to_py, NetworkError};
use crate::event::PyEvent;
use crate::options::{headers_of, NodeOptions};
use crate::wait::{deadline_of, wait_sliced};

/// The native node (use ``ryre.Node``, which adds the context manager, iteration and asyncio).
#[pyclass(name = "Node", module = "ryre._native", subclass, frozen)]
pub struct PyNode {
    pub(crate) node: Node,
    /// Events taken by a wait whose caller went away (a cancelled ``arecv``): handed out
    /// before any newer event. `has_pending` lets the hot path skip the lock.
    pending: Mutex<VecDeque<Py<PyEvent>>>,
    has_pending: AtomicBool,
}

fn event_object(py: Python<'_>, ev: ryre::Event) -> PyResult<PyObject> {
    Ok(Py::new(py, PyEvent { ev })?.into_any())
}

impl PyNode {
    fn take_pending(&self) -> Option<PyObject> {
        if !self.has_pending.load(Ordering::Acquire) {
            return None;
        }
        let mut q = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let ev = q.pop_front();
        if q.is_empty() {
            self.has_pending.store(false, Ordering::Release);
        }
        ev.map(Py::into_any)
    }
}

#[pymethods]
impl PyNode {
    /// Starts a node. Times are in seconds.
    #[new]
    #[pyo3(signature = (name=None, *, headers=None, interface=None, port=None, interval=None,
        evasive_timeout=None, expired_timeout=None, stop_flush=None, endpoint=None, discovery=None,
        rendezvous_port=None, rendezvous_path=None, agent=None, verbose=false, send_hwm=None,
        ipv6=false, dual_stack=false, cert=None, trust=None, revocations=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: Option<String>,
        headers: Option<&Bound<'_, PyDict>>,
        interface: Option<String>,
        port: Option<u16>,
        interval: Option<f64>,
        evasive_timeout: Option<f64>,
        expired_timeout: Option<f64>,
        stop_flush: Option<f64>,
        endpoint: Option<String>,
        discovery: Option<String>,
        rendezvous_port: Option<u16>,
        rendezvous_path: Option<std::path::PathBuf>,
        agent: Option<bool>,
        verbose: bool,
        send_hwm: Option<i32>,
        ipv6: bool,
        dual_stack: bool,
        cert: Option<std::path::PathBuf>,
        trust: Option<&Bound<'_, PyAny>>,
        revocations: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let options = NodeOptions {
            name,
            headers: match headers {
                Some(h) => headers_of(h)?,
                None => Vec::new(),
            },
            interface,
            port,
            interval,
            evasive_timeout,
            expired_timeout,
            stop_flush,
            endpoint,
            discovery,
            rendezvous_port,
            rendezvous_path,
            agent,
            verbose,
            send_hwm,
            ipv6,
            dual_stack,
            cert,
            trust: match trust {
                Some(t) if !t.is_none() => crate::options::paths_of("Node", t)?,
                _ => Vec::new(),
            },
            revocations,
        };
        let b = options.builder()?;
        let node = py.allow_threads(|| b.start()).map_err(to_py)?;
        Ok(PyNode {
            node,
            pending: Mutex::new(VecDeque::new()),
            has_pending: AtomicBool::new(false),
        })
    }

    /// This node's id, a ``uuid.UUID``.
    #[getter]
    fn uuid(&self, py: Python<'_>) -> PyResult<PyObject> {
        uuid_of(py, &self.node.uuid())
    }

    /// This node's name.
    #[getter]
    fn name(&self) -> &str {
        self.node.name()
    }

    /// The endpoint peers reach this node at (``tcp://IP:PORT``).
    #[getter]
    fn endpoint(&self) -> &str {
        self.node.endpoint()
    }

    /// The name of the network interface the node uses.
    #[getter]
    fn interface(&self) -> &str {
        &self.node.interface().name
    }

    /// The IPv6 address the node uses (``ipv6=True`` or ``dual_stack=True``, or an IPv6-only
    /// host), else ``None``.
    #[getter]
    fn ipv6_address(&self) -> Option<String> {
        self.node.interface6().map(|i| i.addr.to_string())
    }

    /// How the node finds peers: ``"auto"``, ``"local"``, ``"beacon"`` or ``"off"``.
    #[getter]
    fn discovery(&self) -> &'static str {
        self.node.discovery().as_str()
    }

    /// Whether this node hosts the machine's rendezvous agent.
    #[getter]
    fn is_agent(&self) -> bool {
        self.node.is_agent()
    }

    /// Whether the node runs in certified mode (started with ``cert=``).
    #[getter]
    fn is_certified(&self) -> bool {
        self.node.is_certified()
    }

    /// Certified mode: hands the node the revocations of a revocation file (of ``ryre cert
    /// revoke``); the peers they revoke are dropped (``EXIT`` with reason ``"revoked"``), and
    /// they are passed on to every certified peer. Raises ``ConfigError`` when the node is not
    /// certified, ``OSError``/``ValueError`` for a file that cannot be read.
    fn add_revocations(&self, path: std::path::PathBuf) -> PyResult<()> {
        if !self.node.is_certified() {
            return Err(crate::errors::ConfigError::new_err(
                "add_revocations: this node is not in certified mode (cert=)",
            ));
        }
        let list = ryre::certs::read_revocations(&path).map_err(|e| to_py(e.into()))?;
        self.node.add_revocations(list).map_err(to_py)
    }

    /// Joins a group (nothing happens when already in it).
    fn join(&self, group: &str) -> PyResult<()> {
        self.node.join(group).map_err(to_py)
    }

    /// Leaves a group (nothing happens when not in it).
    fn leave(&self, group: &str) -> PyResult<()> {
        self.node.leave(group).map_err(to_py)
    }

    /// Sends a message (one frame, or a list of frames) to one peer. Never waits for the
    /// network. Raises ``UnknownPeerError`` if no ready peer has this id.
    fn whisper(&self, peer: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let peer = peer_of(peer)?;
        // The common case, one bytes frame: no list of frames to build.
        if let Ok(b) = data.downcast::<PyBytes>() {
            let frame = ryre::Bytes::copy_from_slice(b.as_bytes());
            return self.node.whisper(peer, [frame]).map_err(to_py);
        }
        let frames = content_of(data)?;
        self.node.whisper(peer, frames).map_err(to_py)
    }

    /// Sends a message (one frame, or a list of frames) to every peer in a group.
    fn shout(&self, group: &str, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let frames = content_of(data)?;
        self.node.shout(group, frames).map_err(to_py)
    }

    /// Introduces a peer by id and endpoint (for ``discovery="off"``).
    fn connect_peer(&self, peer: &Bound<'_, PyAny>, endpoint: &str) -> PyResult<()> {
        let peer = peer_of(peer)?;
        self.node.connect_peer(peer, endpoint).map_err(to_py)
    }

    /// Takes part in the leader election of a group (a ``LEADER`` event names the winner).
    fn contest_in_group(&self, group: &str) -> PyResult<()> {
        self.node.contest_in_group(group).map_err(to_py)
    }

    /// The ready peers, as a list of ``uuid.UUID``.
    fn peers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let ids = self.node.peers();
        let list = PyList::empty(py);
        for id in &ids {
            list.append(uuid_of(py, id)?)?;
        }
        Ok(list)
    }

    /// The ready peers in a group, as a list of ``uuid.UUID``.
    fn peers_by_group<'py>(&self, py: Python<'py>, group: &str) -> PyResult<Bound<'py, PyList>> {
        let ids = self.node.peers_by_group(group);
        let list = PyList::empty(py);
        for id in &ids {
            list.append(uuid_of(py, id)?)?;
        }
        Ok(list)
    }

    /// The groups this node is in.
    fn own_groups(&self) -> Vec<String> {
        self.node.own_groups()
    }

    /// The groups known peers are in.
    fn peer_groups(&self) -> Vec<String> {
        self.node.peer_groups()
    }

    /// A peer's endpoint, or ``None`` if the peer is unknown.
    fn peer_address(&self, peer: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
        Ok(self.node.peer_address(&peer_of(peer)?))
    }

    /// A peer's name, or ``None`` if the peer is unknown.
    fn peer_name(&self, peer: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
        Ok(self.node.peer_name(&peer_of(peer)?))
    }

    /// The value of one HELLO header of a peer, or ``None`` (unknown peer or header).
    fn peer_header_value(&self, peer: &Bound<'_, PyAny>, key: &str) -> PyResult<Option<String>> {
        Ok(self.node.peer_header_value(&peer_of(peer)?, key))
    }

    /// Every HELLO header of a peer as a dict, or ``None`` if the peer is unknown.
    fn peer_headers<'py>(
        &self,
        py: Python<'py>,
        peer: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(info) = self.node.peer_info(&peer_of(peer)?) else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        for (k, v) in &info.headers {
            d.set_item(k, v)?;
        }
        Ok(Some(d))
    }

    /// The elected leader of a group, a ``uuid.UUID``, or ``None``.
    fn leader(&self, py: Python<'_>, group: &str) -> PyResult<Option<PyObject>> {
        self.node
            .leader(group)
            .map(|id| uuid_of(py, &id))
            .transpose()
    }

    /// The next event; waits at most ``timeout`` seconds (``None``: as long as it takes) and
    /// returns ``None`` when none came. The GIL is released while waiting, and Ctrl-C raises
    /// ``KeyboardInterrupt`` within 50 ms. Raises ``StoppedError`` once the node has stopped
    /// and every event (the last is ``STOP``) has been taken.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyObject>> {
        if let Some(ev) = self.take_pending() {
            return Ok(Some(ev));
        }
        if let Some(ev) = self.node.try_recv() {
            return Ok(Some(event_object(py, ev)?));
        }
        let deadline = deadline_of(timeout)?;
        let node = &self.node;
        let got = wait_sliced(py, deadline, |wait| match node.recv_timeout(wait) {
            Ok(Some(ev)) => Some(Ok(ev)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })?;
        match got {
            None => Ok(None),
            Some(Ok(ev)) => Ok(Some(event_object(py, ev)?)),
            Some(Err(e)) => Err(to_py(e)),
        }
    }

    /// The next event if one is waiting, else ``None`` (never waits).
    fn try_recv(&self, py: Python<'_>) -> PyResult<Option<PyObject>> {
        if let Some(ev) = self.take_pending() {
            return Ok(Some(ev));
        }
        self.node
            .try_recv()
            .map(|ev| event_object(py, ev))
            .transpose()
    }

    /// Puts back an event taken by a wait whose caller went away (``arecv`` cancelled): the
    /// next ``recv``/``try_recv`` returns it, before any newer event.
    fn _keep_event(&self, ev: Py<PyEvent>) {
        let mut q = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(ev);
        self.has_pending.store(true, Ordering::Release);
    }

    /// Stops the node: leaving beacon, links closed, a ``STOP`` event, thread joined. Calling it
    /// again does nothing.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| self.node.stop()).map_err(to_py)
    }

    /// For ``ryre.pyre``: starts a thread that writes every event, as Pyre's frames, to a
    /// ZeroMQ PAIR socket bound at ``endpoint`` (``ipc://...``), until the node stops. The
    /// events then go there only; do not also call ``recv``.
    fn _pyre_pipe(&self, endpoint: &str) -> PyResult<()> {
        crate::pyre_pipe::start(self.node.clone(), endpoint).map_err(NetworkError::new_err)
    }

    fn __repr__(&self) -> String {
        format!(
            "<ryre.Node {} name={:?} endpoint={}>",
            self.node.uuid(),
            self.node.name(),
            self.node.endpoint()
        )
    }
}
