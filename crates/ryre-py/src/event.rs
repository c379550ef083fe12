//! `ryre.Event`: one event of a node, converted to Python values when a field is read.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use ryre::Event;

use crate::convert::uuid_of;

/// One event of a node: ``type`` is one of ``"ENTER"``, ``"EXIT"``, ``"JOIN"``, ``"LEAVE"``,
/// ``"WHISPER"``, ``"SHOUT"``, ``"EVASIVE"``, ``"SILENT"``, ``"LEADER"``, ``"STOP"``. Fields an
/// event type does not carry are ``None``.
#[pyclass(name = "Event", module = "ryre", frozen)]
pub struct PyEvent {
    pub(crate) ev: Event,
}

fn peer_and_name(ev: &Event) -> (&ryre::PeerId, &str) {
    match ev {
        Event::Enter { peer, name, .. }
        | Event::Exit { peer, name, .. }
        | Event::Join { peer, name, .. }
        | Event::Leave { peer, name, .. }
        | Event::Whisper { peer, name, .. }
        | Event::Shout { peer, name, .. }
        | Event::Evasive { peer, name }
        | Event::Silent { peer, name }
        | Event::Leader { peer, name, .. }
        | Event::Stop { peer, name } => (peer, name),
    }
}

pub(crate) fn type_of(ev: &Event) -> &'static str {
    match ev {
        Event::Enter { .. } => "ENTER",
        Event::Exit { .. } => "EXIT",
        Event::Join { .. } => "JOIN",
        Event::Leave { .. } => "LEAVE",
        Event::Whisper { .. } => "WHISPER",
        Event::Shout { .. } => "SHOUT",
        Event::Evasive { .. } => "EVASIVE",
        Event::Silent { .. } => "SILENT",
        Event::Leader { .. } => "LEADER",
        Event::Stop { .. } => "STOP",
    }
}

#[pymethods]
impl PyEvent {
    /// The event type, an upper-case string (``"ENTER"``, ``"WHISPER"``, ...).
    #[getter(r#type)]
    fn get_type<'py>(&self, py: Python<'py>) -> &Bound<'py, PyString> {
        // Interned once: reading the type of every event allocates no string.
        match &self.ev {
            Event::Enter { .. } => intern!(py, "ENTER"),
            Event::Exit { .. } => intern!(py, "EXIT"),
            Event::Join { .. } => intern!(py, "JOIN"),
            Event::Leave { .. } => intern!(py, "LEAVE"),
            Event::Whisper { .. } => intern!(py, "WHISPER"),
            Event::Shout { .. } => intern!(py, "SHOUT"),
            Event::Evasive { .. } => intern!(py, "EVASIVE"),
            Event::Silent { .. } => intern!(py, "SILENT"),
            Event::Leader { .. } => intern!(py, "LEADER"),
            Event::Stop { .. } => intern!(py, "STOP"),
        }
    }

    /// The peer the event is about, a ``uuid.UUID`` (our own id for ``STOP``).
    #[getter]
    fn peer(&self, py: Python<'_>) -> PyResult<PyObject> {
        uuid_of(py, peer_and_name(&self.ev).0)
    }

    /// The peer id as 16 raw bytes.
    #[getter]
    fn peer_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, peer_and_name(&self.ev).0.as_bytes())
    }

    /// The peer's name.
    #[getter]
    fn name(&self) -> &str {
        peer_and_name(&self.ev).1
    }

    /// The group (``JOIN``, ``LEAVE``, ``SHOUT``, ``LEADER``), else ``None``.
    #[getter]
    fn group(&self) -> Option<&str> {
        match &self.ev {
            Event::Join { group, .. }
            | Event::Leave { group, .. }
            | Event::Leader { group, .. } => Some(group),
            Event::Shout { group, .. } => Some(group),
            _ => None,
        }
    }

    /// The message frames (``WHISPER``, ``SHOUT``) as a ``list[bytes]``, else ``None``.
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        match &self.ev {
            Event::Whisper { content, .. } | Event::Shout { content, .. } => {
                let frames = content.iter().map(|f| PyBytes::new(py, f));
                Ok(Some(PyList::new(py, frames)?))
            }
            _ => Ok(None),
        }
    }

    /// The peer's HELLO headers (``ENTER``) as a ``dict[str, str]``, else ``None``.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match &self.ev {
            Event::Enter { headers, .. } => {
                let d = PyDict::new(py);
                for (k, v) in headers {
                    d.set_item(k, v)?;
                }
                Ok(Some(d))
            }
            _ => Ok(None),
        }
    }

    /// The peer's inbox endpoint (``ENTER``), else ``None``.
    #[getter]
    fn endpoint(&self) -> Option<&str> {
        match &self.ev {
            Event::Enter { endpoint, .. } => Some(endpoint),
            _ => None,
        }
    }

    /// Why the peer left (``EXIT``): ``"expired"``, ``"leaving"``, ``"goodbye"``,
    /// ``"sequence-gap"``, ``"rehello"``, ``"endpoint-reused"``, ``"queue-full"``, ``"lost"``,
    /// ``"revoked"`` or ``"certificate-expired"`` (certified mode);
    /// else ``None``.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        match &self.ev {
            Event::Exit { reason, .. } => Some(reason.as_str()),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        let (peer, name) = peer_and_name(&self.ev);
        let mut s = format!(
            "<ryre.Event {} peer={peer} name={name:?}",
            type_of(&self.ev)
        );
        if let Some(g) = self.group() {
            s.push_str(&format!(" group={g:?}"));
        }
        if let Event::Whisper { content, .. } | Event::Shout { content, .. } = &self.ev {
            s.push_str(&format!(" frames={}", content.len()));
        }
        if let Some(r) = self.reason() {
            s.push_str(&format!(" reason={r}"));
        }
        s.push('>');
        s
    }
}
