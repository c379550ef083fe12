//! `ryre._native` timer classes: `ryre_timer`'s client (tick subscriptions, wake-ups) and
//! server for Python. Waiting releases the GIL.

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use ryre_timer::{Tick, TimerConfig, TimerError, TimerEvent, TimerServer, Timers, Wake};

use crate::convert::{frame_of, uuid_of};
use crate::errors::{to_py, ConfigError, Error, StoppedError};
use crate::event::PyEvent;
use crate::options::{seconds, NodeOptions};
use crate::wait::{deadline_of, wait_sliced};

fn timer_error(e: TimerError) -> PyErr {
    match e {
        TimerError::Node(e) => to_py(e),
        e @ (TimerError::BadRate(_)
        | TimerError::NothingToServe
        | TimerError::TimeOutOfRange
        | TimerError::PeriodTooShort
        | TimerError::Encode(_)) => ConfigError::new_err(format!("timer: {e}")),
        #[allow(unreachable_patterns)]
        e => Error::new_err(e.to_string()),
    }
}

/// A rate from Python: an int in 1..=1000 (checked by the service; here only the type).
fn rate_of(rate: i64) -> PyResult<u16> {
    u16::try_from(rate)
        .map_err(|_| ConfigError::new_err(format!("timer: rate {rate} Hz is outside 1..=1000")))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One tick of a subscribed rate. Tick ``n`` of a rate is due at ``t0 + n / rate``; each
/// number comes once, increasing (``missed`` counts a gap just before this tick).
#[pyclass(name = "Tick", module = "ryre.timer", frozen)]
pub struct PyTick {
    tick: Tick,
}

#[pymethods]
impl PyTick {
    /// Ticks per second.
    #[getter]
    fn rate(&self) -> u16 {
        self.tick.rate
    }
    /// The tick's number since ``t0``.
    #[getter]
    fn n(&self) -> u64 {
        self.tick.n
    }
    /// The time base (Unix ns): tick 0 was due then.
    #[getter]
    fn t0_ns(&self) -> u64 {
        self.tick.t0
    }
    /// When the tick was due (Unix ns, the timer's clock).
    #[getter]
    fn scheduled_ns(&self) -> u64 {
        self.tick.scheduled
    }
    /// When the tick was due, in seconds since the Unix epoch.
    #[getter]
    fn scheduled(&self) -> f64 {
        self.tick.scheduled as f64 / 1e9
    }
    /// When it arrived (Unix ns, our clock).
    #[getter]
    fn received_ns(&self) -> u64 {
        self.tick.received
    }
    /// Received minus scheduled, in seconds (negative only when two hosts' clocks differ).
    #[getter]
    fn lateness(&self) -> f64 {
        self.tick.lateness_ns() as f64 / 1e9
    }
    /// Ticks missed just before this one.
    #[getter]
    fn missed(&self) -> u64 {
        self.tick.missed
    }
    /// The timer node that sent it, a ``uuid.UUID``.
    #[getter]
    fn peer(&self, py: Python<'_>) -> PyResult<PyObject> {
        uuid_of(py, &self.tick.from)
    }

    fn __repr__(&self) -> String {
        format!(
            "<ryre.timer.Tick {} Hz n={} late={:.3} ms missed={}>",
            self.tick.rate,
            self.tick.n,
            self.tick.lateness_ns() as f64 / 1e6,
            self.tick.missed
        )
    }
}

/// A wake-up asked for with ``Timers.wake_after``/``wake_at``/``wake_every``, delivered once
/// per occurrence.
#[pyclass(name = "Wake", module = "ryre.timer", frozen)]
pub struct PyWake {
    wake: Wake,
}

#[pymethods]
impl PyWake {
    /// The request's id (as ``wake_*`` returned it).
    #[getter]
    fn id(&self) -> u64 {
        self.wake.id
    }
    /// Which occurrence (0 for a one-shot).
    #[getter]
    fn occurrence(&self) -> u64 {
        self.wake.occurrence
    }
    /// When it was due (Unix ns, the timer's clock).
    #[getter]
    fn scheduled_ns(&self) -> u64 {
        self.wake.scheduled
    }
    /// When it arrived (Unix ns, our clock).
    #[getter]
    fn received_ns(&self) -> u64 {
        self.wake.received
    }
    /// The request's payload.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.wake.payload)
    }
    /// The timer node that sent it, a ``uuid.UUID``.
    #[getter]
    fn peer(&self, py: Python<'_>) -> PyResult<PyObject> {
        uuid_of(py, &self.wake.from)
    }

    fn __repr__(&self) -> String {
        format!(
            "<ryre.timer.Wake id={} occurrence={} {} bytes>",
            self.wake.id,
            self.wake.occurrence,
            self.wake.payload.len()
        )
    }
}

/// A notice of the wake-up service: ``kind`` is ``"REJECTED"`` (the leader refused request
/// ``id``, for ``reason``; it is forgotten) or ``"WAKE_LEADER"`` (``peer`` now serves
/// wake-ups; pending requests went to it).
#[pyclass(name = "TimerNotice", module = "ryre.timer", frozen, get_all)]
pub struct PyTimerNotice {
    /// ``"REJECTED"`` or ``"WAKE_LEADER"``.
    kind: &'static str,
    /// The refused request (``REJECTED``), else ``None``.
    id: Option<u64>,
    /// Why it was refused (``REJECTED``), else ``None``.
    reason: Option<String>,
    /// The new wake-up leader (``WAKE_LEADER``), a ``uuid.UUID``, else ``None``.
    peer: Option<PyObject>,
}

#[pymethods]
impl PyTimerNotice {
    fn __repr__(&self) -> String {
        match (self.id, &self.reason) {
            (Some(id), Some(r)) => format!("<ryre.timer.TimerNotice {} id={id}: {r}>", self.kind),
            _ => format!("<ryre.timer.TimerNotice {}>", self.kind),
        }
    }
}

fn to_object(py: Python<'_>, ev: TimerEvent) -> PyResult<PyObject> {
    Ok(match ev {
        TimerEvent::Tick(tick) => PyTick { tick }.into_pyobject(py)?.into_any().unbind(),
        TimerEvent::Wake(wake) => PyWake { wake }.into_pyobject(py)?.into_any().unbind(),
        TimerEvent::Rejected { id, reason } => PyTimerNotice {
            kind: "REJECTED",
            id: Some(id),
            reason: Some(reason),
            peer: None,
        }
        .into_pyobject(py)?
        .into_any()
        .unbind(),
        TimerEvent::WakeLeader(peer) => PyTimerNotice {
            kind: "WAKE_LEADER",
            id: None,
            reason: None,
            peer: Some(uuid_of(py, &peer)?),
        }
        .into_pyobject(py)?
        .into_any()
        .unbind(),
        TimerEvent::Node(ev) => PyEvent { ev }.into_pyobject(py)?.into_any().unbind(),
    })
}

fn time_of(what: &str, unix_seconds: f64) -> PyResult<SystemTime> {
    UNIX_EPOCH
        .checked_add(seconds(what, unix_seconds)?)
        .ok_or_else(|| ConfigError::new_err(format!("timer: {what} is out of range")))
}

/// A timer client (use ``ryre.timer.Timers``).
#[pyclass(name = "Timers", module = "ryre._native", subclass, frozen)]
pub struct PyTimers {
    timers: Timers,
}

#[pymethods]
impl PyTimers {
    /// Starts a node (from the node settings) and a timer client on it.
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let b = NodeOptions::from_kwargs("Timers", kwargs)?.builder()?;
        let timers = py.allow_threads(|| Timers::start(b)).map_err(timer_error)?;
        Ok(PyTimers { timers })
    }

    /// The client node's id, a ``uuid.UUID``.
    #[getter]
    fn uuid(&self, py: Python<'_>) -> PyResult<PyObject> {
        uuid_of(py, &self.timers.node().uuid())
    }

    /// Receives ticks of ``rate`` Hz (1..=1000) from now on.
    fn subscribe(&self, rate: i64) -> PyResult<()> {
        self.timers.subscribe(rate_of(rate)?).map_err(timer_error)
    }

    /// Stops receiving ticks of ``rate`` Hz.
    fn unsubscribe(&self, rate: i64) -> PyResult<()> {
        self.timers.unsubscribe(rate_of(rate)?).map_err(timer_error)
    }

    /// Asks for one wake-up ``after`` seconds from now carrying ``payload``; returns its id.
    #[pyo3(signature = (after, payload=None))]
    fn wake_after(&self, after: f64, payload: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        let payload = payload.map(frame_of).transpose()?.unwrap_or_default();
        self.timers
            .wake_after(seconds("after", after)?, payload)
            .map_err(timer_error)
    }

    /// Asks for one wake-up at ``at`` (seconds since the Unix epoch, as ``time.time()``).
    #[pyo3(signature = (at, payload=None))]
    fn wake_at(&self, at: f64, payload: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        let payload = payload.map(frame_of).transpose()?.unwrap_or_default();
        self.timers
            .wake_at(time_of("at", at)?, payload)
            .map_err(timer_error)
    }

    /// Asks for a wake-up at ``first`` (Unix seconds) and then every ``every`` seconds (at
    /// least 0.001), until cancelled.
    #[pyo3(signature = (first, every, payload=None))]
    fn wake_every(
        &self,
        first: f64,
        every: f64,
        payload: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let payload = payload.map(frame_of).transpose()?.unwrap_or_default();
        self.timers
            .wake_every(time_of("first", first)?, seconds("every", every)?, payload)
            .map_err(timer_error)
    }

    /// Cancels a wake-up request (nothing happens for an unknown id).
    fn cancel(&self, id: u64) -> PyResult<()> {
        self.timers.cancel(id).map_err(timer_error)
    }

    /// Requests not yet completed.
    #[getter]
    fn pending(&self) -> usize {
        self.timers.pending()
    }

    /// The wake-up leader last announced, a ``uuid.UUID``, or ``None``.
    #[getter]
    fn wake_leader(&self, py: Python<'_>) -> PyResult<Option<PyObject>> {
        self.timers
            .wake_leader()
            .map(|p| uuid_of(py, &p))
            .transpose()
    }

    /// What the tick tracker of ``rate`` counted (``received``, ``missed``, ``stale``,
    /// ``malformed``, ``new_epochs``), or ``None`` when not subscribed.
    fn tick_counts<'py>(&self, py: Python<'py>, rate: i64) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(c) = self.timers.tick_counts(rate_of(rate)?) else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("received", c.received)?;
        d.set_item("missed", c.missed)?;
        d.set_item("stale", c.stale)?;
        d.set_item("malformed", c.malformed)?;
        d.set_item("new_epochs", c.new_epochs)?;
        Ok(Some(d))
    }

    /// The next event: a ``Tick``, a ``Wake``, a ``TimerNotice``, or any other event of the
    /// node (a ``ryre.Event``). Waits at most ``timeout`` seconds (``None``: as long as it
    /// takes; GIL released; Ctrl-C raises ``KeyboardInterrupt``) and returns ``None`` when
    /// none came. Raises ``StoppedError`` once stopped.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyObject>> {
        let deadline = deadline_of(timeout)?;
        let timers = self.timers.clone();
        let got = wait_sliced(py, deadline, move |wait| match timers.recv_timeout(wait) {
            Ok(Some(ev)) => Some(Ok(ev)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })?;
        match got {
            None => Ok(None),
            Some(Ok(ev)) => to_object(py, ev).map(Some),
            Some(Err(TimerError::Node(ryre::Error::Stopped))) => {
                Err(StoppedError::new_err("the timer client has stopped"))
            }
            Some(Err(e)) => Err(timer_error(e)),
        }
    }

    /// Stops the client's node. Idempotent.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        match py.allow_threads(|| self.timers.node().stop()) {
            Ok(()) | Err(ryre::Error::Stopped) => Ok(()),
            Err(e) => Err(to_py(e)),
        }
    }
}

/// A timer node (use ``ryre.timer.Server``).
#[pyclass(name = "TimerServer", module = "ryre._native", subclass, frozen)]
pub struct PyTimerServer {
    inner: Mutex<Option<TimerServer>>,
    uuid: ryre::PeerId,
}

#[pymethods]
impl PyTimerServer {
    /// Starts a timer node serving ticks at ``rates`` (Hz, 1..=1000; default 1, 10, 100) and,
    /// with ``wakeups``, wake-ups. A tick more than ``max_late`` periods late is skipped.
    /// Other keyword arguments are node settings.
    #[new]
    #[pyo3(signature = (rates=None, *, wakeups=true, max_late=None, **kwargs))]
    fn new(
        py: Python<'_>,
        rates: Option<Vec<i64>>,
        wakeups: bool,
        max_late: Option<u64>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut config = TimerConfig {
            wakeups,
            ..TimerConfig::default()
        };
        if let Some(r) = rates {
            config.rates = r.into_iter().map(rate_of).collect::<PyResult<_>>()?;
        }
        if let Some(m) = max_late {
            config.max_late = m;
        }
        let b = NodeOptions::from_kwargs("TimerServer", kwargs)?.builder()?;
        let s = py
            .allow_threads(|| TimerServer::start(b, config))
            .map_err(timer_error)?;
        let uuid = s.node().uuid();
        Ok(PyTimerServer {
            inner: Mutex::new(Some(s)),
            uuid,
        })
    }

    /// The timer node's id, a ``uuid.UUID``.
    #[getter]
    fn uuid(&self, py: Python<'_>) -> PyResult<PyObject> {
        uuid_of(py, &self.uuid)
    }

    /// The server's counters (``ticks_sent``, ``ticks_skipped``, ``requests_accepted``,
    /// ``requests_rejected``, ``wakes_sent``, ``misdirected``, ``bad_messages``).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if let Some(s) = lock(&self.inner).as_ref() {
            let s = s.stats();
            d.set_item("ticks_sent", s.ticks_sent)?;
            d.set_item("ticks_skipped", s.ticks_skipped)?;
            d.set_item("requests_accepted", s.requests_accepted)?;
            d.set_item("requests_rejected", s.requests_rejected)?;
            d.set_item("wakes_sent", s.wakes_sent)?;
            d.set_item("misdirected", s.misdirected)?;
            d.set_item("bad_messages", s.bad_messages)?;
        }
        Ok(d)
    }

    /// Stops serving and stops the node. Idempotent.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let s = lock(&self.inner).take();
        if let Some(s) = s {
            py.allow_threads(|| s.stop()).map_err(timer_error)?;
        }
        Ok(())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTimers>()?;
    m.add_class::<PyTimerServer>()?;
    m.add_class::<PyTick>()?;
    m.add_class::<PyWake>()?;
    m.add_class::<PyTimerNotice>()?;
    Ok(())
}
