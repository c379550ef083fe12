//! `ryre._native` pipeline classes: the three roles of `ryre_pipeline` for Python. A worker's
//! task is a Python function, called with the GIL held (bytes in, bytes out); an exception in
//! it is that task's error, never a crash. Waiting for results releases the GIL.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyStopIteration, PyTimeoutError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use ryre_pipeline::{Batch, Client, Collector, Config, Stats, Worker};

use crate::convert::{frame_of, uuid_of};
use crate::errors::{to_py, ConfigError, Error, NetworkError, StoppedError};
use crate::options::{seconds, NodeOptions};
use crate::wait::{deadline_of, wait_sliced};

create_exception!(
    ryre.pipeline,
    TaskError,
    Error,
    "A task whose worker function raised on every attempt (``message``: the last error, \
     ``attempts``: how many failed). Yielded as a batch's result, not raised."
);

/// The pipeline settings keys (the rest of the keyword arguments are node settings).
const CONFIG_KEYS: &[&str] = &[
    "cluster",
    "window",
    "chunk",
    "task_timeout",
    "result_timeout",
    "collector_timeout",
    "max_attempts",
    "progress_interval",
    "status_interval",
];

fn pipeline_error(e: ryre_pipeline::Error) -> PyErr {
    match e {
        ryre_pipeline::Error::Node(e) => to_py(e),
        ryre_pipeline::Error::Config(m) => ConfigError::new_err(format!("pipeline: {m}")),
        ryre_pipeline::Error::TooManyTasks(_) => ConfigError::new_err(e.to_string()),
        ryre_pipeline::Error::Stopped => StoppedError::new_err(e.to_string()),
        ryre_pipeline::Error::Thread(_) => NetworkError::new_err(e.to_string()),
        #[allow(unreachable_patterns)]
        _ => Error::new_err(e.to_string()),
    }
}

/// Splits keyword arguments into the pipeline settings and the node's.
fn split(what: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<(Config, NodeOptions)> {
    let mut config = Config::default();
    let Some(kw) = kwargs else {
        return Ok((config, NodeOptions::default()));
    };
    let node = PyDict::new(kw.py());
    for (k, v) in kw.iter() {
        let key: String = k.extract()?;
        if !CONFIG_KEYS.contains(&key.as_str()) {
            node.set_item(k, v)?;
            continue;
        }
        if v.is_none() {
            continue;
        }
        let bad = |e: PyErr| PyTypeError::new_err(format!("{what}: bad value for {key}: {e}"));
        let secs = |v: &Bound<'_, PyAny>| -> PyResult<Duration> {
            seconds(&key, v.extract::<f64>().map_err(bad)?)
        };
        match key.as_str() {
            "cluster" => config.cluster = v.extract().map_err(bad)?,
            "window" => config.window = v.extract().map_err(bad)?,
            "chunk" => config.chunk = v.extract().map_err(bad)?,
            "max_attempts" => config.max_attempts = v.extract().map_err(bad)?,
            "task_timeout" => config.task_timeout = secs(&v)?,
            "result_timeout" => config.result_timeout = secs(&v)?,
            "collector_timeout" => config.collector_timeout = secs(&v)?,
            "progress_interval" => config.progress_interval = secs(&v)?,
            "status_interval" => config.status_interval = secs(&v)?,
            _ => unreachable!("every CONFIG_KEYS entry is matched"),
        }
    }
    Ok((config, NodeOptions::from_kwargs(what, Some(&node))?))
}

fn stats_dict<'py>(py: Python<'py>, s: Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("messages", s.messages)?;
    d.set_item("malformed", s.malformed)?;
    d.set_item("unexpected", s.unexpected)?;
    d.set_item("stale", s.stale)?;
    d.set_item("duplicates", s.duplicates)?;
    d.set_item("redealt", s.redealt)?;
    Ok(d)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a task function's exception becomes: the error text the client gets.
fn describe(py: Python<'_>, e: &PyErr) -> String {
    let kind = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    format!("{kind}: {}", e.value(py))
}

/// Drops a role off the calling thread: its stop joins a thread that may be waiting for the
/// GIL (a worker calling its Python function), which the caller holds.
fn drop_later<T: Send + 'static>(role: T) {
    let _ = std::thread::Builder::new()
        .name("ryre-pipeline-drop".into())
        .spawn(move || drop(role));
}

/// A pipeline worker running a Python function (use ``ryre.pipeline.Worker``).
#[pyclass(name = "PipelineWorker", module = "ryre._native", subclass, frozen)]
pub struct PyWorker {
    inner: Mutex<Option<Worker>>,
    uuid: ryre::PeerId,
    name: String,
}

#[pymethods]
impl PyWorker {
    /// Starts a worker calling ``function(payload: bytes) -> bytes`` for every task.
    #[new]
    #[pyo3(signature = (function, **kwargs))]
    fn new(
        py: Python<'_>,
        function: Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        if !function.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "the task function must be callable, not {}",
                function.get_type().name()?
            )));
        }
        let (config, options) = split("Worker", kwargs)?;
        let builder = options.builder()?;
        let f: Py<PyAny> = function.unbind();
        let task = move |payload: &[u8]| -> Result<Vec<u8>, String> {
            Python::with_gil(|py| {
                let out = f
                    .bind(py)
                    .call1((PyBytes::new(py, payload),))
                    .map_err(|e| describe(py, &e))?;
                match frame_of(&out) {
                    Ok(b) => Ok(b.to_vec()),
                    Err(_) => Err(format!(
                        "TypeError: the task function returned {}, not bytes",
                        out.get_type()
                            .name()
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    )),
                }
            })
        };
        let w = py
            .allow_threads(|| Worker::start(builder, config, task))
            .map_err(pipeline_error)?;
        let (uuid, name) = (w.node().uuid(), w.node().name().to_string());
        Ok(PyWorker {
            inner: Mutex::new(Some(w)),
            uuid,
            name,
        })
    }

    /// The worker node's id, a ``uuid.UUID``.
    #[getter]
    fn uuid(&self, py: Python<'_>) -> PyResult<PyObject> {
        uuid_of(py, &self.uuid)
    }

    /// The worker node's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// What the worker has received and dropped (a dict of counters).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = lock(&self.inner).as_ref().map(Worker::stats);
        stats_dict(py, s.unwrap_or_default())
    }

    /// Stops the worker (after the task it is running) and its node. Idempotent.
    fn stop(&self, py: Python<'_>) {
        let w = lock(&self.inner).take();
        if let Some(w) = w {
            py.allow_threads(|| w.stop());
        }
    }
}

impl Drop for PyWorker {
    fn drop(&mut self) {
        if let Some(w) = lock(&self.inner).take() {
            drop_later(w);
        }
    }
}

/// A pipeline collector (use ``ryre.pipeline.Collector``).
#[pyclass(name = "PipelineCollector", module = "ryre._native", subclass, frozen)]
pub struct PyCollector {
    inner: Mutex<Option<Collector>>,
}

#[pymethods]
impl PyCollector {
    /// Starts a collector.
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let (config, options) = split("Collector", kwargs)?;
        let builder = options.builder()?;
        let c = py
            .allow_threads(|| Collector::start(builder, config))
            .map_err(pipeline_error)?;
        Ok(PyCollector {
            inner: Mutex::new(Some(c)),
        })
    }

    /// What the collector has received and dropped (a dict of counters).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = lock(&self.inner).as_ref().map(Collector::stats);
        stats_dict(py, s.unwrap_or_default())
    }

    /// Stops the collector and its node. Idempotent.
    fn stop(&self, py: Python<'_>) {
        let c = lock(&self.inner).take();
        if let Some(c) = c {
            py.allow_threads(|| c.stop());
        }
    }
}

impl Drop for PyCollector {
    fn drop(&mut self) {
        if let Some(c) = lock(&self.inner).take() {
            drop_later(c);
        }
    }
}

/// A pipeline client (use ``ryre.pipeline.Client``).
#[pyclass(name = "PipelineClient", module = "ryre._native", subclass, frozen)]
pub struct PyClient {
    inner: Arc<Mutex<Option<Client>>>,
}

impl PyClient {
    fn with<T>(&self, f: impl FnOnce(&Client) -> T) -> PyResult<T> {
        match lock(&self.inner).as_ref() {
            Some(c) => Ok(f(c)),
            None => Err(StoppedError::new_err("the pipeline client has stopped")),
        }
    }
}

#[pymethods]
impl PyClient {
    /// Starts a client.
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let (config, options) = split("Client", kwargs)?;
        let builder = options.builder()?;
        let c = py
            .allow_threads(|| Client::start(builder, config))
            .map_err(pipeline_error)?;
        Ok(PyClient {
            inner: Arc::new(Mutex::new(Some(c))),
        })
    }

    /// Workers that have given this client credit and have not left.
    fn ready_workers(&self) -> PyResult<usize> {
        self.with(Client::ready_workers)
    }

    /// Waits (GIL released) until at least ``n`` workers are ready; ``False`` if they were not
    /// within ``timeout`` seconds.
    #[pyo3(signature = (n=1, timeout=None))]
    fn wait_workers(&self, py: Python<'_>, n: usize, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = deadline_of(timeout)?;
        let inner = self.inner.clone();
        let got = wait_sliced(py, deadline, move |wait| {
            let step = Duration::from_millis(5).min(wait);
            let end = std::time::Instant::now() + wait;
            loop {
                let ready = lock(&inner).as_ref().map(Client::ready_workers);
                match ready {
                    None => return Some(false),
                    Some(r) if r >= n => return Some(true),
                    Some(_) => {}
                }
                if std::time::Instant::now() >= end {
                    return None;
                }
                // Polls a counter the client thread keeps; nothing to block on.
                std::thread::sleep(step);
            }
        })?;
        match got {
            Some(true) => Ok(true),
            Some(false) => Err(StoppedError::new_err("the pipeline client has stopped")),
            None => Ok(false),
        }
    }

    /// Submits a batch: task ``i`` is the ``i``-th payload (bytes-like or str). Iterating the
    /// returned ``Batch`` yields ``(i, result)`` for every task exactly once; ``timeout``
    /// bounds the wait for each result of that iteration.
    #[pyo3(signature = (payloads, timeout=None))]
    fn submit(
        slf: &Bound<'_, Self>,
        payloads: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<PyBatch> {
        let timeout = timeout.map(|t| seconds("timeout", t)).transpose()?;
        let mut frames = Vec::new();
        for p in payloads.try_iter()? {
            frames.push(frame_of(&p?)?);
        }
        let batch = slf
            .get()
            .with(|c| c.submit(frames))?
            .map_err(pipeline_error)?;
        Ok(PyBatch {
            batch: Arc::new(Mutex::new(batch)),
            client: slf.clone().unbind(),
            timeout,
        })
    }

    /// The client node's id, a ``uuid.UUID``.
    #[getter]
    fn uuid(&self, py: Python<'_>) -> PyResult<PyObject> {
        let id = self.with(|c| c.node().uuid())?;
        uuid_of(py, &id)
    }

    /// What the client has received, dropped and dealt again (a dict of counters).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = lock(&self.inner).as_ref().map(Client::stats);
        stats_dict(py, s.unwrap_or_default())
    }

    /// Stops the client and its node; open batches end. Idempotent.
    fn stop(&self, py: Python<'_>) {
        let c = lock(&self.inner).take();
        if let Some(c) = c {
            py.allow_threads(|| c.stop());
        }
    }
}

/// The results of one submitted batch (``Client.submit``).
#[pyclass(name = "Batch", module = "ryre.pipeline", frozen)]
pub struct PyBatch {
    batch: Arc<Mutex<Batch>>,
    /// Keeps the client (and so the batch) alive while the batch is read.
    client: Py<PyClient>,
    timeout: Option<Duration>,
}

impl PyBatch {
    fn delivery(
        py: Python<'_>,
        (no, r): (u64, Result<ryre::Bytes, ryre_pipeline::TaskError>),
    ) -> PyResult<PyObject> {
        let value: PyObject = match r {
            Ok(b) => PyBytes::new(py, &b).into_any().unbind(),
            Err(e) => {
                let err = TaskError::new_err(e.message.clone());
                let v = err.value(py);
                v.setattr("message", e.message)?;
                v.setattr("attempts", e.attempts)?;
                v.clone().into_any().unbind()
            }
        };
        Ok(
            PyTuple::new(py, [no.into_pyobject(py)?.into_any().unbind(), value])?
                .into_any()
                .unbind(),
        )
    }

    fn next_within(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Option<PyObject>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let batch = self.batch.clone();
        let got = wait_sliced(py, deadline, move |wait| lock(&batch).recv_timeout(wait))?;
        got.map(|d| Self::delivery(py, d)).transpose()
    }

    fn client_stopped(&self) -> bool {
        lock(&self.client.get().inner).is_none()
    }
}

#[pymethods]
impl PyBatch {
    /// The batch id.
    #[getter]
    fn id(&self) -> u64 {
        lock(&self.batch).id()
    }

    /// Tasks in the batch.
    #[getter]
    fn total(&self) -> u64 {
        lock(&self.batch).total()
    }

    /// Results not yet taken.
    #[getter]
    fn remaining(&self) -> u64 {
        lock(&self.batch).remaining()
    }

    /// The next ``(task, result)``: ``result`` is ``bytes``, or a ``TaskError`` when the task
    /// failed on every attempt. ``None`` when none came within ``timeout`` seconds (``None``:
    /// as long as it takes) or the batch is complete. The GIL is released while waiting.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyObject>> {
        if lock(&self.batch).remaining() == 0 {
            return Ok(None);
        }
        let timeout = timeout.map(|t| seconds("timeout", t)).transpose()?;
        let got = self.next_within(py, timeout)?;
        if got.is_none() && self.client_stopped() {
            return Err(StoppedError::new_err(
                "the pipeline client stopped before the batch was complete",
            ));
        }
        Ok(got)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<PyObject> {
        if lock(&self.batch).remaining() == 0 {
            return Err(PyStopIteration::new_err(()));
        }
        match self.next_within(py, self.timeout)? {
            Some(d) => Ok(d),
            None if self.client_stopped() => Err(StoppedError::new_err(
                "the pipeline client stopped before the batch was complete",
            )),
            None => Err(PyTimeoutError::new_err(format!(
                "no result within {:?} ({} of {} still to come)",
                self.timeout.unwrap_or_default(),
                self.remaining(),
                self.total()
            ))),
        }
    }

    fn __len__(&self) -> usize {
        usize::try_from(self.total()).unwrap_or(usize::MAX)
    }

    fn __repr__(&self) -> String {
        let b = lock(&self.batch);
        format!(
            "<ryre.pipeline.Batch {:016x} {} of {} to come>",
            b.id(),
            b.remaining(),
            b.total()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWorker>()?;
    m.add_class::<PyCollector>()?;
    m.add_class::<PyClient>()?;
    m.add_class::<PyBatch>()?;
    m.add("TaskError", m.py().get_type::<TaskError>())?;
    Ok(())
}
