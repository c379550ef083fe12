//! The exception classes of `ryre` and the mapping from `ryre::Error`.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    ryre,
    Error,
    PyException,
    "Base class of every error the ryre node raises."
);
create_exception!(
    ryre,
    TooLongError,
    Error,
    "A name, group, header or endpoint is over ZRE's 255 bytes."
);
create_exception!(
    ryre,
    ConfigError,
    Error,
    "A node setting makes no sense (a zero interval, an unknown discovery mode, ...)."
);
create_exception!(ryre, UnknownPeerError, Error, "No ready peer has this id.");
create_exception!(
    ryre,
    StoppedError,
    Error,
    "The node has stopped (and every event has been taken)."
);
create_exception!(
    ryre,
    NetworkError,
    Error,
    "The interface, the inbox or the beacon socket could not be set up."
);
create_exception!(
    ryre,
    ProtocolError,
    Error,
    "The protocol refused a command."
);

create_exception!(
    ryre,
    NotEntitledError,
    ProtocolError,
    "Certified mode: the node's certificate does not give the right to do this (join, shout or whisper in that group)."
);
create_exception!(
    ryre,
    CertificateError,
    ConfigError,
    "Certified mode: a certificate, key or revocation file cannot be used (unreadable, tampered, expired, not from a trusted CA, ...)."
);

create_exception!(
    ryre,
    NulError,
    Error,
    "A name, group or header holds a NUL byte (Zyre reads them as C strings)."
);
create_exception!(
    ryre,
    WouldBlockError,
    Error,
    "A peer's send queue stayed full for as long as the node's send policy allows; nothing was sent."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("TooLongError", py.get_type::<TooLongError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("UnknownPeerError", py.get_type::<UnknownPeerError>())?;
    m.add("StoppedError", py.get_type::<StoppedError>())?;
    m.add("NetworkError", py.get_type::<NetworkError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("NulError", py.get_type::<NulError>())?;
    m.add("NotEntitledError", py.get_type::<NotEntitledError>())?;
    m.add("CertificateError", py.get_type::<CertificateError>())?;
    m.add("WouldBlockError", py.get_type::<WouldBlockError>())?;
    Ok(())
}

/// The Python exception for a node error, with the node's own message.
pub(crate) fn to_py(e: ryre::Error) -> PyErr {
    let msg = e.to_string();
    match e {
        ryre::Error::TooLong { .. } => TooLongError::new_err(msg),
        ryre::Error::Nul { .. } => NulError::new_err(msg),
        ryre::Error::WouldBlock { .. } => WouldBlockError::new_err(msg),
        ryre::Error::Config(_) => ConfigError::new_err(msg),
        ryre::Error::UnknownPeer(_) => UnknownPeerError::new_err(msg),
        ryre::Error::Stopped => StoppedError::new_err(msg),
        ryre::Error::Interface(_)
        | ryre::Error::Transport(_)
        | ryre::Error::Beacon { .. }
        | ryre::Error::Thread(_) => NetworkError::new_err(msg),
        ryre::Error::Protocol(ryre::Problem::NotEntitled { .. }) => NotEntitledError::new_err(msg),
        ryre::Error::Protocol(_) => ProtocolError::new_err(msg),
        ryre::Error::Cert(_) => CertificateError::new_err(msg),
        // `ryre::Error` may grow; anything new is still a ryre.Error with its message.
        #[allow(unreachable_patterns)]
        _ => Error::new_err(msg),
    }
}
