//! Node settings from Python keyword arguments, shared by `ryre.Node` and the services
//! (`ryre.pipeline`, `ryre.log`, `ryre.timer`), which start their own nodes.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use ryre::{Discovery, Node, NodeBuilder};

use crate::errors::ConfigError;

/// Seconds (a Python float) as a `Duration`; a clear error for negative, NaN or infinite.
pub(crate) fn seconds(what: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        ConfigError::new_err(format!(
            "{what} must be a finite number of seconds >= 0, not {s}"
        ))
    })
}

fn discovery_of(s: &str) -> PyResult<Discovery> {
    match s {
        "auto" => Ok(Discovery::Auto),
        "local" => Ok(Discovery::Local),
        "beacon" => Ok(Discovery::Beacon),
        "off" => Ok(Discovery::Off),
        other => Err(ConfigError::new_err(format!(
            "discovery must be \"auto\", \"local\", \"beacon\" or \"off\", not {other:?}"
        ))),
    }
}

/// Every node setting a Python caller may give (all optional; times in seconds).
#[derive(Default)]
pub(crate) struct NodeOptions {
    pub name: Option<String>,
    pub headers: Vec<(String, String)>,
    pub interface: Option<String>,
    pub port: Option<u16>,
    pub interval: Option<f64>,
    pub evasive_timeout: Option<f64>,
    pub expired_timeout: Option<f64>,
    pub stop_flush: Option<f64>,
    pub endpoint: Option<String>,
    pub discovery: Option<String>,
    pub rendezvous_port: Option<u16>,
    pub rendezvous_path: Option<std::path::PathBuf>,
    pub agent: Option<bool>,
    pub verbose: bool,
    pub send_hwm: Option<i32>,
    pub ipv6: bool,
    pub dual_stack: bool,
    /// Certified mode: DIR/NAME of the node's certificate and key pair.
    pub cert: Option<std::path::PathBuf>,
    /// Certified mode: trusted root CA certificates.
    pub trust: Vec<std::path::PathBuf>,
    /// Certified mode: the revocation file.
    pub revocations: Option<std::path::PathBuf>,
}

/// The keyword names [`NodeOptions::from_kwargs`] takes.
pub(crate) const NODE_KEYS: &[&str] = &[
    "name",
    "headers",
    "interface",
    "port",
    "interval",
    "evasive_timeout",
    "expired_timeout",
    "stop_flush",
    "endpoint",
    "discovery",
    "rendezvous_port",
    "rendezvous_path",
    "agent",
    "verbose",
    "send_hwm",
    "ipv6",
    "dual_stack",
    "cert",
    "trust",
    "revocations",
];

/// `trust=`: one path or a list of paths.
pub(crate) fn paths_of(what: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<std::path::PathBuf>> {
    if let Ok(one) = v.extract::<std::path::PathBuf>() {
        return Ok(vec![one]);
    }
    v.extract::<Vec<std::path::PathBuf>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: trust must be a path or a list of paths (CA certificates)"
        ))
    })
}

/// A dict of str to str as header pairs, with a clear error for anything else.
pub(crate) fn headers_of(h: &Bound<'_, PyDict>) -> PyResult<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(h.len());
    for (k, v) in h.iter() {
        let k: String = k
            .extract()
            .map_err(|_| PyValueError::new_err("header names and values must be str"))?;
        let v: String = v.extract().map_err(|_| {
            PyValueError::new_err(format!("the value of header {k:?} must be a str"))
        })?;
        out.push((k, v));
    }
    Ok(out)
}

fn get<'py, T: FromPyObject<'py>>(
    what: &str,
    kwargs: &Bound<'py, PyDict>,
    key: &str,
) -> PyResult<Option<T>> {
    match kwargs.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v
            .extract()
            .map(Some)
            .map_err(|e| PyTypeError::new_err(format!("{what}: bad value for {key}: {e}"))),
    }
}

impl NodeOptions {
    /// The node settings among `kwargs` (keys of [`NODE_KEYS`]); `what` names the caller in
    /// error messages. Any other key is a `TypeError`.
    pub(crate) fn from_kwargs(what: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let Some(kw) = kwargs else {
            return Ok(NodeOptions::default());
        };
        for k in kw.keys() {
            let k: String = k.extract()?;
            if !NODE_KEYS.contains(&k.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "{what} got an unexpected keyword argument '{k}' (node settings: {})",
                    NODE_KEYS.join(", ")
                )));
            }
        }
        let headers = match kw.get_item("headers")? {
            Some(h) if !h.is_none() => headers_of(h.downcast::<PyDict>().map_err(|_| {
                PyTypeError::new_err(format!("{what}: headers must be a dict of str to str"))
            })?)?,
            _ => Vec::new(),
        };
        Ok(NodeOptions {
            name: get(what, kw, "name")?,
            headers,
            interface: get(what, kw, "interface")?,
            port: get(what, kw, "port")?,
            interval: get(what, kw, "interval")?,
            evasive_timeout: get(what, kw, "evasive_timeout")?,
            expired_timeout: get(what, kw, "expired_timeout")?,
            stop_flush: get(what, kw, "stop_flush")?,
            endpoint: get(what, kw, "endpoint")?,
            discovery: get(what, kw, "discovery")?,
            rendezvous_port: get(what, kw, "rendezvous_port")?,
            rendezvous_path: get(what, kw, "rendezvous_path")?,
            agent: get(what, kw, "agent")?,
            verbose: get(what, kw, "verbose")?.unwrap_or(false),
            send_hwm: get(what, kw, "send_hwm")?,
            ipv6: get(what, kw, "ipv6")?.unwrap_or(false),
            dual_stack: get(what, kw, "dual_stack")?.unwrap_or(false),
            cert: get(what, kw, "cert")?,
            trust: match kw.get_item("trust")? {
                Some(t) if !t.is_none() => paths_of(what, &t)?,
                _ => Vec::new(),
            },
            revocations: get(what, kw, "revocations")?,
        })
    }

    /// The builder these settings describe (not started).
    pub(crate) fn builder(self) -> PyResult<NodeBuilder> {
        let mut b = Node::builder();
        if let Some(n) = self.name {
            b = b.name(n);
        }
        for (k, v) in self.headers {
            b = b.header(k, v);
        }
        if let Some(i) = self.interface {
            b = b.interface(i);
        }
        if let Some(p) = self.port {
            b = b.port(p);
        }
        if let Some(s) = self.interval {
            b = b.interval(seconds("interval", s)?);
        }
        if let Some(s) = self.evasive_timeout {
            b = b.evasive_timeout(seconds("evasive_timeout", s)?);
        }
        if let Some(s) = self.expired_timeout {
            b = b.expired_timeout(seconds("expired_timeout", s)?);
        }
        if let Some(s) = self.stop_flush {
            b = b.stop_flush(seconds("stop_flush", s)?);
        }
        if let Some(e) = self.endpoint {
            b = b.endpoint(e);
        }
        if let Some(d) = self.discovery {
            b = b.discovery(discovery_of(&d)?);
        }
        if let Some(p) = self.rendezvous_port {
            b = b.rendezvous_port(p);
        }
        if let Some(p) = self.rendezvous_path {
            b = b.rendezvous_path(p);
        }
        if let Some(a) = self.agent {
            b = b.agent(a);
        }
        b = b.verbose(self.verbose);
        if let Some(h) = self.send_hwm {
            b = b.send_hwm(h);
        }
        if self.ipv6 && self.dual_stack {
            return Err(ConfigError::new_err(
                "ipv6 and dual_stack exclude each other (dual_stack speaks both)",
            ));
        }
        b = b.ipv6(self.ipv6).dual_stack(self.dual_stack);
        if self.cert.is_none() && (!self.trust.is_empty() || self.revocations.is_some()) {
            return Err(ConfigError::new_err(
                "trust and revocations are for certified mode: give cert too",
            ));
        }
        if let Some(c) = self.cert {
            if self.trust.is_empty() {
                return Err(ConfigError::new_err(
                    "certified mode (cert) needs trust: the CA certificate(s) to trust",
                ));
            }
            b = b.certificate(c);
        }
        for t in self.trust {
            b = b.trust_ca(t);
        }
        if let Some(r) = self.revocations {
            b = b.revocations(r);
        }
        Ok(b)
    }
}
