//! `ryre._native`: the PyO3 extension under the `ryre` Python package.
//!
//! It wraps the public API of the `ryre` crate and nothing else: [`node::PyNode`] is a started
//! `ryre::Node`, [`event::PyEvent`] one of its events, [`errors`] the exception classes. The
//! Pythonic parts that need no speed (context manager, iteration, asyncio, the `ryre.pyre`
//! drop-in) are Python code in `python/ryre/`.

use pyo3::prelude::*;

mod convert;
mod errors;
mod event;
mod log;
mod node;
mod options;
mod pipeline;
mod pyre_pipe;
mod timer;
mod wait;

/// The extension module `ryre._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<node::PyNode>()?;
    m.add_class::<event::PyEvent>()?;
    errors::register(m)?;
    pipeline::register(m)?;
    log::register(m)?;
    timer::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(private_port, m)?)?;
    m.add_function(wrap_pyfunction!(zmq_has, m)?)?;
    Ok(())
}

/// A UDP/TCP port for a private group of nodes (tests, demos): nodes started with this port
/// meet only each other.
#[pyfunction]
fn private_port() -> PyResult<u16> {
    ryre::private_port().map_err(|e| errors::NetworkError::new_err(format!("no free port: {e}")))
}

/// Whether the linked libzmq has a capability (``"curve"``, ``"ipc"``, ...), as
/// ``zmq_has()`` answers it.
#[pyfunction]
fn zmq_has(capability: &str) -> bool {
    zmq::has(capability).unwrap_or(false)
}
