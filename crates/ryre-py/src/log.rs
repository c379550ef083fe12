//! `ryre._native` logging classes: a publisher of records (behind `ryre.log.Handler`, a
//! `logging.Handler`) on `ryre_log`'s publisher, and `ryre_log`'s collector, whose records a
//! Python program can read.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use ryre::Node;
use ryre_log::{
    layer_with, Collector, CollectorConfig, FileConfig, Level, LogError, LogLayer, LogPublisher,
    LogRecord, PublisherConfig,
};

use crate::convert::{peer_of, uuid_of};
use crate::errors::{to_py, ConfigError, Error, NetworkError, StoppedError};
use crate::node::PyNode;
use crate::options::{seconds, NodeOptions};
use crate::wait::{deadline_of, wait_sliced};

fn log_error(e: LogError) -> PyErr {
    match e {
        LogError::Node(e) => to_py(e),
        LogError::Config(m) => ConfigError::new_err(format!("log: {m}")),
        e @ (LogError::Zmq(_) | LogError::Interface(_) | LogError::Thread(_)) => {
            NetworkError::new_err(e.to_string())
        }
        e => Error::new_err(e.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A Python `logging` level number as a record level: ERROR and above (CRITICAL) are
/// ``ERROR``, WARNING ``WARN``, INFO, DEBUG, and anything below DEBUG ``TRACE``.
fn level_of_number(n: i64) -> Level {
    match n {
        n if n >= 40 => Level::Error,
        n if n >= 30 => Level::Warn,
        n if n >= 20 => Level::Info,
        n if n >= 10 => Level::Debug,
        _ => Level::Trace,
    }
}

/// The Python `logging` number of a record level.
fn number_of_level(l: Level) -> i64 {
    match l {
        Level::Error => 40,
        Level::Warn => 30,
        Level::Info => 20,
        Level::Debug => 10,
        Level::Trace => 5,
    }
}

/// A level given as a `logging` number or a name (``"info"``, ``"WARNING"``, ...).
fn level_arg(v: &Bound<'_, PyAny>) -> PyResult<Level> {
    if let Ok(n) = v.extract::<i64>() {
        return Ok(level_of_number(n));
    }
    if let Ok(s) = v.extract::<String>() {
        if s.eq_ignore_ascii_case("critical") {
            return Ok(Level::Error);
        }
        return Level::parse(&s).ok_or_else(|| {
            ConfigError::new_err(format!(
                "{s:?} is not a log level (error, warn, info, debug, trace or a logging number)"
            ))
        });
    }
    Err(PyTypeError::new_err(
        "a log level is a logging number (logging.INFO) or a name (\"info\")",
    ))
}

/// The publisher behind ``ryre.log.Handler``: publishes records as the node given (or a
/// node of its own, started from the node settings) to every collector that wants them.
#[pyclass(name = "LogPublisher", module = "ryre._native", subclass, frozen)]
pub struct PyLogPublisher {
    layer: LogLayer,
    publisher: Mutex<Option<LogPublisher>>,
    /// The counters as `close` found them.
    last: Mutex<Option<ryre_log::PublisherStats>>,
    /// The node this publisher started (stopped with it); `None` when it was given one.
    own: Option<Node>,
}

#[pymethods]
impl PyLogPublisher {
    /// Starts publishing as ``node`` (a ``ryre.Node``), or as a node of its own started from
    /// the node settings in ``kwargs``. ``queue``: records waiting for the socket (default
    /// 65536; when full, records are dropped and counted); ``scan_every``: seconds between
    /// looks for new collectors (0.2).
    #[new]
    #[pyo3(signature = (node=None, *, queue=None, hwm=None, scan_every=None, **kwargs))]
    fn new(
        py: Python<'_>,
        node: Option<&Bound<'_, PyAny>>,
        queue: Option<usize>,
        hwm: Option<i32>,
        scan_every: Option<f64>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut config = PublisherConfig::default();
        if let Some(q) = queue {
            config.queue = q;
        }
        if let Some(h) = hwm {
            config.hwm = h;
        }
        if let Some(s) = scan_every {
            config.scan_every = seconds("scan_every", s)?;
        }
        let (node, own) = match node {
            Some(n) if !n.is_none() => {
                let n = n.downcast::<PyNode>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "node must be a ryre.Node, not {}",
                        n.get_type()
                            .name()
                            .map(|s| s.to_string())
                            .unwrap_or_default()
                    ))
                })?;
                if kwargs.is_some_and(|k| !k.is_empty()) {
                    return Err(PyTypeError::new_err(
                        "node settings are for a publisher's own node: give a node or settings, not both",
                    ));
                }
                (n.get().node.clone(), None)
            }
            _ => {
                let b = NodeOptions::from_kwargs("LogPublisher", kwargs)?.builder()?;
                let n = py.allow_threads(|| b.start()).map_err(to_py)?;
                (n.clone(), Some(n))
            }
        };
        let (layer, publisher) = match layer_with(&node, config) {
            Ok(v) => v,
            Err(e) => {
                if let Some(n) = &own {
                    let _ = py.allow_threads(|| n.stop());
                }
                return Err(log_error(e));
            }
        };
        Ok(PyLogPublisher {
            layer,
            publisher: Mutex::new(Some(publisher)),
            last: Mutex::new(None),
            own,
        })
    }

    /// Whether a collector wants records of this level (a ``logging`` number or a name) now.
    fn enabled(&self, level: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.layer.enabled(level_arg(level)?))
    }

    /// Publishes one record: ``target`` is the logger name, ``fields`` a list of ``(name,
    /// value)`` pairs of str. Returns ``False`` when nobody wants the level (nothing is sent)
    /// or the queue is full. Never blocks.
    #[pyo3(signature = (level, target, message, fields=None))]
    fn publish(
        &self,
        level: &Bound<'_, PyAny>,
        target: &str,
        message: String,
        fields: Option<Vec<(String, String)>>,
    ) -> PyResult<bool> {
        if lock(&self.publisher).is_none() {
            return Err(StoppedError::new_err("the log publisher has stopped"));
        }
        Ok(self.layer.publish(
            level_arg(level)?,
            target,
            message,
            fields.unwrap_or_default(),
        ))
    }

    /// Waits (GIL released) until some collector wants records of ``level`` (default
    /// ``"info"``); ``False`` if
    /// none did within ``timeout`` seconds. Records logged before are dropped unformatted.
    #[pyo3(signature = (level=None, timeout=None))]
    fn wait_collector(
        &self,
        py: Python<'_>,
        level: Option<Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        let level = match level {
            Some(l) => level_arg(&l)?,
            None => Level::Info,
        };
        let deadline = deadline_of(timeout)?;
        let layer = self.layer.clone();
        let got = wait_sliced(py, deadline, move |wait| {
            let end = std::time::Instant::now() + wait;
            loop {
                if layer.enabled(level) {
                    return Some(());
                }
                if std::time::Instant::now() >= end {
                    return None;
                }
                // A flag the publisher's thread sets as subscriptions arrive: nothing to block on.
                std::thread::sleep(Duration::from_millis(2));
            }
        })?;
        Ok(got.is_some())
    }

    /// The publisher's counters: ``published``, ``queued``, ``dropped``, ``truncated``,
    /// ``collectors``, ``bad_endpoints`` and ``wanted`` (the least severe level any collector
    /// wants, as a name, or ``None``); after ``close``, as they were when it was called.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let s = match lock(&self.publisher).as_ref() {
            Some(p) => Some(p.stats()),
            None => *lock(&self.last),
        };
        if let Some(s) = s {
            d.set_item("published", s.published)?;
            d.set_item("queued", s.queued)?;
            d.set_item("dropped", s.dropped)?;
            d.set_item("truncated", s.truncated)?;
            d.set_item("collectors", s.collectors)?;
            d.set_item("bad_endpoints", s.bad_endpoints)?;
            d.set_item("wanted", s.wanted.map(Level::as_str))?;
        }
        Ok(d)
    }

    /// Sends what is queued (at most 1 s more), stops the publisher, and stops its node if
    /// it started one. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let p = lock(&self.publisher).take();
        if let Some(p) = p {
            *lock(&self.last) = Some(p.stats());
            py.allow_threads(|| p.stop());
            if let Some(n) = &self.own {
                match py.allow_threads(|| n.stop()) {
                    Ok(()) | Err(ryre::Error::Stopped) => {}
                    Err(e) => return Err(to_py(e)),
                }
            }
        }
        Ok(())
    }
}

/// One log record, as a collector received it.
#[pyclass(name = "LogRecord", module = "ryre.log", frozen)]
pub struct PyLogRecord {
    rec: LogRecord,
}

#[pymethods]
impl PyLogRecord {
    /// The record's number among its node's records of its level (gaps: records missed).
    #[getter]
    fn seq(&self) -> u64 {
        self.rec.seq
    }

    /// When it was logged, in seconds since the Unix epoch (as ``time.time()``).
    #[getter]
    fn time(&self) -> f64 {
        self.rec.time as f64 / 1e9
    }

    /// When it was logged, in nanoseconds since the Unix epoch.
    #[getter]
    fn time_ns(&self) -> u64 {
        self.rec.time
    }

    /// The level's name: ``"ERROR"``, ``"WARN"``, ``"INFO"``, ``"DEBUG"`` or ``"TRACE"``.
    #[getter]
    fn level(&self) -> &'static str {
        self.rec.level.as_str()
    }

    /// The level as a ``logging`` number (40, 30, 20, 10; 5 for TRACE).
    #[getter]
    fn levelno(&self) -> i64 {
        number_of_level(self.rec.level)
    }

    /// The publishing node's id, a ``uuid.UUID``.
    #[getter]
    fn node(&self, py: Python<'_>) -> PyResult<PyObject> {
        uuid_of(py, &self.rec.node)
    }

    /// The publishing node's name.
    #[getter]
    fn name(&self) -> &str {
        &self.rec.name
    }

    /// The logger name (Python) or target (Rust ``tracing``).
    #[getter]
    fn target(&self) -> &str {
        &self.rec.target
    }

    /// The message.
    #[getter]
    fn message(&self) -> &str {
        &self.rec.message
    }

    /// The fields, a list of ``(name, value)`` pairs of str.
    #[getter]
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .rec
            .fields
            .iter()
            .map(|(k, v)| PyTuple::new(py, [k, v]))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The names of the spans the record was logged in (Rust ``tracing``), outermost first.
    #[getter]
    fn spans(&self) -> Vec<String> {
        self.rec.spans.clone()
    }

    /// The record as a JSON line (the collector's file format).
    fn json(&self) -> String {
        ryre_log::json_line(&self.rec)
    }

    fn __repr__(&self) -> String {
        format!(
            "<ryre.log.LogRecord {} {} {}: {:?}>",
            self.rec.level, self.rec.name, self.rec.target, self.rec.message
        )
    }
}

/// A log collector (use ``ryre.log.Collector``).
#[pyclass(name = "LogCollector", module = "ryre._native", subclass, frozen)]
pub struct PyLogCollector {
    inner: Mutex<Option<Collector>>,
    records: flume::Receiver<LogRecord>,
    endpoint: String,
}

#[pymethods]
impl PyLogCollector {
    /// Starts a collector asking for ``level`` and above (default ``"info"``), optionally
    /// only from one node (``node_id``) and of targets starting with ``target``; it keeps the
    /// newest ``memory`` records, hands up to ``buffer`` to ``recv`` and writes JSON lines
    /// into ``directory`` if given. Other keyword arguments are node settings.
    #[new]
    #[pyo3(signature = (level=None, *, node_id=None, target=None, memory=10_000, buffer=100_000,
        directory=None, **kwargs))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        level: Option<&Bound<'_, PyAny>>,
        node_id: Option<&Bound<'_, PyAny>>,
        target: Option<String>,
        memory: usize,
        buffer: usize,
        directory: Option<std::path::PathBuf>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let options = NodeOptions::from_kwargs("Collector", kwargs)?;
        let config = CollectorConfig {
            level: level.map(level_arg).transpose()?.unwrap_or(Level::Info),
            node: node_id.map(peer_of).transpose()?,
            target,
            files: directory.map(FileConfig::new),
            memory,
            interface: options.interface.clone(),
            ipv6: options.ipv6,
            ..CollectorConfig::default()
        };
        let builder = options.builder()?;
        let c = py
            .allow_threads(|| Collector::start(builder, config))
            .map_err(log_error)?;
        let records = c.listen(buffer);
        let endpoint = c.endpoint().to_string();
        Ok(PyLogCollector {
            inner: Mutex::new(Some(c)),
            records,
            endpoint,
        })
    }

    /// Where the collector's SUB socket listens (``tcp://IP:PORT``, its ``X-RYRE-LOG`` header).
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The collector node's id, a ``uuid.UUID``.
    #[getter]
    fn uuid(&self, py: Python<'_>) -> PyResult<Option<PyObject>> {
        let id = lock(&self.inner).as_ref().map(|c| c.node().uuid());
        id.map(|id| uuid_of(py, &id)).transpose()
    }

    /// The next record received since the collector started; waits at most ``timeout``
    /// seconds (``None``: as long as it takes; GIL released) and returns ``None`` when none
    /// came.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyLogRecord>> {
        let deadline = deadline_of(timeout)?;
        let rx = self.records.clone();
        let got = wait_sliced(py, deadline, move |wait| match rx.recv_timeout(wait) {
            Ok(r) => Some(Some(r)),
            Err(flume::RecvTimeoutError::Timeout) => None,
            Err(flume::RecvTimeoutError::Disconnected) => Some(None),
        })?;
        match got {
            Some(Some(rec)) => Ok(Some(PyLogRecord { rec })),
            Some(None) => Err(StoppedError::new_err("the log collector has stopped")),
            None => Ok(None),
        }
    }

    /// The newest ``n`` records kept in memory, oldest first.
    fn recent(&self, n: usize) -> Vec<PyLogRecord> {
        lock(&self.inner)
            .as_ref()
            .map(|c| c.recent(n))
            .unwrap_or_default()
            .into_iter()
            .map(|rec| PyLogRecord { rec })
            .collect()
    }

    /// The collector's counters (``received``, ``written``, ``malformed``, ``filtered``,
    /// ``missed``, ...).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if let Some(c) = lock(&self.inner).as_ref() {
            let s = c.stats();
            d.set_item("received", s.received)?;
            d.set_item("written", s.written)?;
            d.set_item("malformed", s.malformed)?;
            d.set_item("filtered", s.filtered)?;
            d.set_item("missed", s.missed)?;
            d.set_item("rotations", s.rotations)?;
            d.set_item("removed_files", s.removed_files)?;
            d.set_item("write_errors", s.write_errors)?;
        }
        Ok(d)
    }

    /// Stops collecting, flushes the files and stops the node. Idempotent.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let c = lock(&self.inner).take();
        if let Some(c) = c {
            py.allow_threads(|| c.stop()).map_err(log_error)?;
        }
        Ok(())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLogPublisher>()?;
    m.add_class::<PyLogCollector>()?;
    m.add_class::<PyLogRecord>()?;
    Ok(())
}
