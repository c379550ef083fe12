//! Errors, the thread-local last error, the panic guard, strings and lists.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Result codes: `RYRE_OK` (0) or a negative error.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ryre_error_t {
    /// Success.
    RYRE_OK = 0,
    /// A required pointer argument was NULL.
    RYRE_ERR_NULL = -1,
    /// A string argument is not valid UTF-8.
    RYRE_ERR_UTF8 = -2,
    /// An argument or setting is out of range or malformed (too long, zero interval, ...).
    RYRE_ERR_INVALID = -3,
    /// The call does not fit the node's state (a setter after start, a command before start).
    RYRE_ERR_STATE = -4,
    /// A peer id is not 32 hex digits.
    RYRE_ERR_UUID = -5,
    /// No ready peer has this id.
    RYRE_ERR_UNKNOWN_PEER = -6,
    /// The node has stopped.
    RYRE_ERR_STOPPED = -7,
    /// No event came within the timeout (ryre_node_recv returned NULL).
    RYRE_ERR_TIMEOUT = -8,
    /// The network refused something: no such interface, a port in use, a bad endpoint.
    RYRE_ERR_NETWORK = -9,
    /// The protocol refused the command.
    RYRE_ERR_PROTOCOL = -10,
    /// The operating system refused something (threads, file descriptors).
    RYRE_ERR_SYSTEM = -11,
    /// A bug: the library panicked; the panic was caught at the boundary.
    RYRE_ERR_PANIC = -12,
    /// An index is past the end (of an event's frames or headers, of a list).
    RYRE_ERR_RANGE = -13,
}

/// A failure on its way to the caller: a code and a message.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: ryre_error_t,
    pub(crate) msg: String,
}

impl Fail {
    pub(crate) fn new(code: ryre_error_t, msg: impl Into<String>) -> Fail {
        Fail {
            code,
            msg: msg.into(),
        }
    }
}

impl From<ryre::Error> for Fail {
    fn from(e: ryre::Error) -> Fail {
        use ryre::Error as E;
        let code = match &e {
            E::Interface(_) | E::Transport(_) | E::Beacon { .. } => ryre_error_t::RYRE_ERR_NETWORK,
            E::TooLong { .. } | E::Nul { .. } | E::Config(_) | E::Cert(_) | E::Keys(_) => {
                ryre_error_t::RYRE_ERR_INVALID
            }
            E::UnknownPeer(_) => ryre_error_t::RYRE_ERR_UNKNOWN_PEER,
            E::Stopped => ryre_error_t::RYRE_ERR_STOPPED,
            E::Protocol(_) => ryre_error_t::RYRE_ERR_PROTOCOL,
            E::Thread(_) => ryre_error_t::RYRE_ERR_SYSTEM,
            _ => ryre_error_t::RYRE_ERR_PROTOCOL,
        };
        Fail::new(code, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<(ryre_error_t, CString)> =
        RefCell::new((ryre_error_t::RYRE_OK, CString::default()));
}

pub(crate) fn set_last_error(fail: &Fail) {
    let msg = cstring(&fail.msg);
    LAST_ERROR.with(|l| *l.borrow_mut() = (fail.code, msg));
}

fn panic_fail(payload: Box<dyn std::any::Any + Send>) -> Fail {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    Fail::new(
        ryre_error_t::RYRE_ERR_PANIC,
        format!("internal error (panic caught at the C boundary): {what}"),
    )
}

/// Runs `f`, turning a failure or a panic into the last error and `on_fail`.
pub(crate) fn guard<T>(on_fail: T, f: impl FnOnce() -> Result<T, Fail>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(fail)) => {
            set_last_error(&fail);
            on_fail
        }
        Err(payload) => {
            set_last_error(&panic_fail(payload));
            on_fail
        }
    }
}

/// [`guard`] for functions returning a code.
pub(crate) fn guard_int(f: impl FnOnce() -> Result<(), Fail>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => ryre_error_t::RYRE_OK as c_int,
        Ok(Err(fail)) => {
            set_last_error(&fail);
            fail.code as c_int
        }
        Err(payload) => {
            let fail = panic_fail(payload);
            set_last_error(&fail);
            fail.code as c_int
        }
    }
}

/// A C string from a Rust one; a NUL inside (a peer may send one) becomes U+FFFD.
pub(crate) fn cstring(s: &str) -> CString {
    match CString::new(s) {
        Ok(c) => c,
        Err(_) => CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default(),
    }
}

/// A borrowed, non-NULL, UTF-8 string argument.
pub(crate) fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, Fail> {
    if p.is_null() {
        return Err(Fail::new(
            ryre_error_t::RYRE_ERR_NULL,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: the caller passes a NUL-terminated string valid for the call (the header's rule).
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|e| Fail::new(ryre_error_t::RYRE_ERR_UTF8, format!("{what}: {e}")))
}

/// A NULL check for other pointer arguments.
pub(crate) fn non_null<T>(p: *const T, what: &str) -> Result<(), Fail> {
    if p.is_null() {
        Err(Fail::new(
            ryre_error_t::RYRE_ERR_NULL,
            format!("{what} is NULL"),
        ))
    } else {
        Ok(())
    }
}

/// The message of the last failed call on this thread ("" when none has failed). Owned by the
/// library; valid until the next ryre call on this thread.
#[no_mangle]
pub extern "C" fn ryre_last_error() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().1.as_ptr())
}

/// The code (a negative ryre_error_t) of the last failed call on this thread; RYRE_OK when none
/// has failed.
#[no_mangle]
pub extern "C" fn ryre_last_error_code() -> c_int {
    LAST_ERROR.with(|l| l.borrow().0 as c_int)
}

/// The library version ("0.1.0"): a static string, never freed.
#[no_mangle]
pub extern "C" fn ryre_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// A UDP+TCP port free on 127.0.0.1 and outside the ephemeral range, for a private group of
/// nodes on this machine (give it to ryre_node_set_port together with interface "lo"). Returns
/// the port, or a negative ryre_error_t.
#[no_mangle]
pub extern "C" fn ryre_private_port() -> c_int {
    guard(ryre_error_t::RYRE_ERR_SYSTEM as c_int, || {
        ryre::private_port()
            .map(c_int::from)
            .map_err(|e| Fail::new(ryre_error_t::RYRE_ERR_SYSTEM, e.to_string()))
    })
}

/// Frees a string returned by ryre_node_peer_name, ryre_node_peer_address,
/// ryre_node_peer_header or ryre_node_leader. NULL is ignored.
#[no_mangle]
pub extern "C" fn ryre_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    // SAFETY: `s` came from CString::into_raw in this library (the header's rule).
    drop(unsafe { CString::from_raw(s) });
}

/// A list of strings (peer ids or group names), owned by the caller; free with ryre_list_free.
pub struct ryre_list_t {
    pub(crate) items: Vec<CString>,
}

impl ryre_list_t {
    pub(crate) fn boxed<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> *mut ryre_list_t {
        Box::into_raw(Box::new(ryre_list_t {
            items: items.into_iter().map(|s| cstring(s.as_ref())).collect(),
        }))
    }
}

/// The number of items in a list (0 for NULL).
#[no_mangle]
pub extern "C" fn ryre_list_size(list: *const ryre_list_t) -> usize {
    // SAFETY: NULL or a live list from this library.
    unsafe { list.as_ref() }.map_or(0, |l| l.items.len())
}

/// Item `index` of a list, owned by the list; NULL (RYRE_ERR_RANGE / RYRE_ERR_NULL) when out of
/// range or `list` is NULL.
#[no_mangle]
pub extern "C" fn ryre_list_item(list: *const ryre_list_t, index: usize) -> *const c_char {
    guard(std::ptr::null(), || {
        non_null(list, "list")?;
        // SAFETY: checked non-NULL; a live list from this library.
        let l = unsafe { &*list };
        l.items.get(index).map(|s| s.as_ptr()).ok_or_else(|| {
            Fail::new(
                ryre_error_t::RYRE_ERR_RANGE,
                format!("index {index} is past the list's {} items", l.items.len()),
            )
        })
    })
}

/// Frees a list. NULL is ignored.
#[no_mangle]
pub extern "C" fn ryre_list_free(list: *mut ryre_list_t) {
    if list.is_null() {
        return;
    }
    // SAFETY: `list` came from Box::into_raw in this library and is freed once (the rule).
    drop(unsafe { Box::from_raw(list) });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_code_and_message() {
        let code = guard_int(|| panic!("boom"));
        assert_eq!(code, ryre_error_t::RYRE_ERR_PANIC as c_int);
        assert_eq!(
            ryre_last_error_code(),
            ryre_error_t::RYRE_ERR_PANIC as c_int
        );
        // SAFETY: the library's own message.
        let msg = unsafe { CStr::from_ptr(ryre_last_error()) }
            .to_str()
            .unwrap();
        assert!(msg.contains("boom"), "{msg}");
        let p: *const u8 = guard(std::ptr::null(), || panic!("again"));
        assert!(p.is_null());
    }

    #[test]
    fn the_last_error_is_per_thread() {
        let _ = guard_int(|| Err(Fail::new(ryre_error_t::RYRE_ERR_INVALID, "here")));
        let other = std::thread::spawn(|| ryre_last_error_code())
            .join()
            .unwrap();
        assert_eq!(other, 0);
        assert_eq!(
            ryre_last_error_code(),
            ryre_error_t::RYRE_ERR_INVALID as c_int
        );
    }

    #[test]
    fn nul_inside_a_peer_string_is_replaced() {
        assert_eq!(cstring("a\0b").to_str().unwrap(), "a\u{FFFD}b");
    }
}
