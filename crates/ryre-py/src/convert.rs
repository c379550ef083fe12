//! Python values to ryre values: peers, content frames.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView, PyString, PyTuple};
use ryre::{Bytes, PeerId};

static UUID_CLASS: GILOnceCell<PyObject> = GILOnceCell::new();

/// `uuid.UUID(bytes=...)` for a peer id.
pub(crate) fn uuid_of(py: Python<'_>, id: &PeerId) -> PyResult<PyObject> {
    let class = UUID_CLASS.get_or_try_init(py, || -> PyResult<PyObject> {
        Ok(py.import("uuid")?.getattr("UUID")?.unbind())
    })?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("bytes", PyBytes::new(py, id.as_bytes()))?;
    Ok(class.bind(py).call((), Some(&kwargs))?.unbind())
}

/// A peer given as `uuid.UUID`, 16 raw bytes or 32 hex digits.
pub(crate) fn peer_of(obj: &Bound<'_, PyAny>) -> PyResult<PeerId> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return PeerId::from_slice(b.as_bytes()).ok_or_else(|| {
            PyValueError::new_err(format!(
                "a peer id as bytes must be 16 bytes long, not {}",
                b.as_bytes().len()
            ))
        });
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        let s = s.to_cow()?;
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        return hex
            .parse::<PeerId>()
            .map_err(|_| PyValueError::new_err(format!("{s:?} is not a peer id (32 hex digits)")));
    }
    let class = UUID_CLASS.get_or_try_init(obj.py(), || -> PyResult<PyObject> {
        Ok(obj.py().import("uuid")?.getattr("UUID")?.unbind())
    })?;
    if obj.is_instance(class.bind(obj.py()))? {
        let raw = obj.getattr("bytes")?;
        let raw = raw.downcast::<PyBytes>()?;
        if let Some(id) = PeerId::from_slice(raw.as_bytes()) {
            return Ok(id);
        }
    }
    Err(PyTypeError::new_err(format!(
        "a peer must be a uuid.UUID, 16 bytes or 32 hex digits, not {}",
        obj.get_type().name()?
    )))
}

/// One frame: bytes, bytearray, memoryview or str (sent as UTF-8).
pub(crate) fn frame_of(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        return Ok(Bytes::copy_from_slice(s.to_cow()?.as_bytes()));
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    if obj.downcast::<PyMemoryView>().is_ok() {
        let b = obj
            .py()
            .import("builtins")?
            .getattr("bytes")?
            .call1((obj,))?;
        let b = b.downcast::<PyBytes>()?;
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "a message frame must be bytes, bytearray, memoryview or str, not {}",
        obj.get_type().name()?
    )))
}

/// Content: one frame, or a list/tuple of frames (at least one).
pub(crate) fn content_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Bytes>> {
    let frames: Vec<Bytes> = if let Ok(list) = obj.downcast::<PyList>() {
        list.iter().map(|f| frame_of(&f)).collect::<PyResult<_>>()?
    } else if let Ok(t) = obj.downcast::<PyTuple>() {
        t.iter().map(|f| frame_of(&f)).collect::<PyResult<_>>()?
    } else {
        vec![frame_of(obj)?]
    };
    if frames.is_empty() {
        return Err(PyValueError::new_err(
            "a message needs at least one frame (got an empty list)",
        ));
    }
    Ok(frames)
}
