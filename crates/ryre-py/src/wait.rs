//! Waiting with the GIL released, in slices, so Ctrl-C (a pending signal) is handled promptly.

use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::options::seconds;

/// How long one wait lasts before Python gets to handle signals (Ctrl-C). A result ends the
/// wait at once; this only bounds how late a KeyboardInterrupt is raised.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// The deadline `timeout` seconds from now (`None`: no deadline).
pub(crate) fn deadline_of(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    Ok(match timeout {
        None => None,
        Some(t) => Some(Instant::now() + seconds("timeout", t)?),
    })
}

/// Calls `attempt(wait)` with the GIL released until it gives a value or `deadline` passes
/// (then `Ok(None)`); between attempts, pending signals are handled (an exception from a
/// signal handler, e.g. `KeyboardInterrupt`, ends the wait). `attempt` should return within
/// about `wait`.
pub(crate) fn wait_sliced<T, F>(
    py: Python<'_>,
    deadline: Option<Instant>,
    mut attempt: F,
) -> PyResult<Option<T>>
where
    T: Send,
    F: FnMut(Duration) -> Option<T> + Send,
{
    loop {
        let wait = match deadline {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        if let Some(v) = py.allow_threads(|| attempt(wait)) {
            return Ok(Some(v));
        }
        py.check_signals()?;
        if let Some(d) = deadline {
            if Instant::now() >= d {
                return Ok(None);
            }
        }
    }
}
