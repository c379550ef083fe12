//! Events handed to C: a copy of a [`ryre::Event`] with C strings ready to borrow.

use std::ffi::{c_char, c_int, CStr, CString};

use ryre::{Bytes, Event};

use crate::ryre_error_t;
use crate::util::{cstring, guard, non_null, str_arg, Fail};

/// The kinds of event (Zyre's set).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ryre_event_type_t {
    /// A peer said HELLO (it has a name, headers and an endpoint).
    RYRE_EVENT_ENTER = 1,
    /// A peer is gone (see ryre_event_exit_reason).
    RYRE_EVENT_EXIT = 2,
    /// A peer joined a group.
    RYRE_EVENT_JOIN = 3,
    /// A peer left a group.
    RYRE_EVENT_LEAVE = 4,
    /// A peer whispered to this node (frames).
    RYRE_EVENT_WHISPER = 5,
    /// A peer shouted to a group (group, frames).
    RYRE_EVENT_SHOUT = 6,
    /// A peer has been silent past the evasive timeout.
    RYRE_EVENT_EVASIVE = 7,
    /// A peer is still silent one interval after EVASIVE.
    RYRE_EVENT_SILENT = 8,
    /// An election in a group has a leader.
    RYRE_EVENT_LEADER = 9,
    /// This node stopped: the last event.
    RYRE_EVENT_STOP = 10,
}

/// One event, owned by the caller; free with ryre_event_free. The strings and frames it hands
/// out are owned by the event.
pub struct ryre_event_t {
    kind: ryre_event_type_t,
    peer: CString,
    name: CString,
    group: Option<CString>,
    endpoint: Option<CString>,
    reason: Option<CString>,
    headers: Vec<(CString, CString)>,
    frames: Vec<Bytes>,
}

impl ryre_event_t {
    pub(crate) fn from_event(ev: Event) -> ryre_event_t {
        use ryre_event_type_t as T;
        let mut out = ryre_event_t {
            kind: T::RYRE_EVENT_STOP,
            peer: CString::default(),
            name: CString::default(),
            group: None,
            endpoint: None,
            reason: None,
            headers: Vec::new(),
            frames: Vec::new(),
        };
        let (kind, peer, name) = match ev {
            Event::Enter {
                peer,
                name,
                headers,
                endpoint,
            } => {
                out.headers = headers
                    .iter()
                    .map(|(k, v)| (cstring(k), cstring(v)))
                    .collect();
                out.endpoint = Some(cstring(&endpoint));
                (T::RYRE_EVENT_ENTER, peer, name)
            }
            Event::Exit { peer, name, reason } => {
                out.reason = Some(cstring(reason.as_str()));
                (T::RYRE_EVENT_EXIT, peer, name)
            }
            Event::Join { peer, name, group } => {
                out.group = Some(cstring(&group));
                (T::RYRE_EVENT_JOIN, peer, name)
            }
            Event::Leave { peer, name, group } => {
                out.group = Some(cstring(&group));
                (T::RYRE_EVENT_LEAVE, peer, name)
            }
            Event::Whisper {
                peer,
                name,
                content,
            } => {
                out.frames = content.into_vec();
                (T::RYRE_EVENT_WHISPER, peer, name)
            }
            Event::Shout {
                peer,
                name,
                group,
                content,
            } => {
                out.group = Some(cstring(&group));
                out.frames = content.into_vec();
                (T::RYRE_EVENT_SHOUT, peer, name)
            }
            Event::Evasive { peer, name } => (T::RYRE_EVENT_EVASIVE, peer, name),
            Event::Silent { peer, name } => (T::RYRE_EVENT_SILENT, peer, name),
            Event::Leader { peer, name, group } => {
                out.group = Some(cstring(&group));
                (T::RYRE_EVENT_LEADER, peer, name)
            }
            Event::Stop { peer, name } => (T::RYRE_EVENT_STOP, peer, name),
        };
        out.kind = kind;
        out.peer = cstring(&peer.to_string());
        out.name = cstring(&name);
        out
    }
}

fn event<'a>(ev: *const ryre_event_t) -> Result<&'a ryre_event_t, Fail> {
    non_null(ev, "event")?;
    // SAFETY: checked non-NULL; a live event from ryre_node_recv (the header's rule).
    Ok(unsafe { &*ev })
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

/// The event's kind (a ryre_event_type_t), or RYRE_ERR_NULL when `event` is NULL.
#[no_mangle]
pub extern "C" fn ryre_event_type(event: *const ryre_event_t) -> c_int {
    guard(ryre_error_t::RYRE_ERR_NULL as c_int, || {
        Ok(self::event(event)?.kind as c_int)
    })
}

/// The name of an event kind, as Zyre spells it ("ENTER", "SHOUT", ...): a static string; NULL
/// (RYRE_ERR_RANGE) for a value that is no kind.
#[no_mangle]
pub extern "C" fn ryre_event_type_name(kind: c_int) -> *const c_char {
    guard(std::ptr::null(), || {
        let s: &'static CStr = match kind {
            1 => c"ENTER",
            2 => c"EXIT",
            3 => c"JOIN",
            4 => c"LEAVE",
            5 => c"WHISPER",
            6 => c"SHOUT",
            7 => c"EVASIVE",
            8 => c"SILENT",
            9 => c"LEADER",
            10 => c"STOP",
            _ => {
                return Err(Fail::new(
                    ryre_error_t::RYRE_ERR_RANGE,
                    format!("{kind} is not an event type (1..10)"),
                ))
            }
        };
        Ok(s.as_ptr())
    })
}

/// The peer's id, 32 uppercase hex digits (for STOP: this node's own id).
#[no_mangle]
pub extern "C" fn ryre_event_peer_uuid(event: *const ryre_event_t) -> *const c_char {
    guard(std::ptr::null(), || Ok(self::event(event)?.peer.as_ptr()))
}

/// The peer's name (for STOP: this node's own name).
#[no_mangle]
pub extern "C" fn ryre_event_peer_name(event: *const ryre_event_t) -> *const c_char {
    guard(std::ptr::null(), || Ok(self::event(event)?.name.as_ptr()))
}

/// The group of a JOIN, LEAVE, SHOUT or LEADER event; NULL for other kinds (not an error).
#[no_mangle]
pub extern "C" fn ryre_event_group(event: *const ryre_event_t) -> *const c_char {
    guard(std::ptr::null(), || Ok(opt_ptr(&self::event(event)?.group)))
}

/// The peer's inbox endpoint for ENTER; NULL for other kinds (not an error).
#[no_mangle]
pub extern "C" fn ryre_event_endpoint(event: *const ryre_event_t) -> *const c_char {
    guard(std::ptr::null(), || {
        Ok(opt_ptr(&self::event(event)?.endpoint))
    })
}

/// Why the peer left, for EXIT ("expired", "leaving", "goodbye", "sequence-gap", ...); NULL for
/// other kinds (not an error).
#[no_mangle]
pub extern "C" fn ryre_event_exit_reason(event: *const ryre_event_t) -> *const c_char {
    guard(std::ptr::null(), || {
        Ok(opt_ptr(&self::event(event)?.reason))
    })
}

/// The number of content frames (WHISPER and SHOUT; 0 for other kinds and for NULL).
#[no_mangle]
pub extern "C" fn ryre_event_frame_count(event: *const ryre_event_t) -> usize {
    guard(0, || Ok(self::event(event)?.frames.len()))
}

/// Content frame `index`: its bytes (owned by the event) and, in `*len`, its length. NULL
/// (RYRE_ERR_RANGE / RYRE_ERR_NULL) when out of range or an argument is NULL. An empty frame
/// gives a non-NULL pointer and length 0.
#[no_mangle]
pub extern "C" fn ryre_event_frame(
    event: *const ryre_event_t,
    index: usize,
    len: *mut usize,
) -> *const u8 {
    static EMPTY: u8 = 0;
    guard(std::ptr::null(), || {
        let ev = self::event(event)?;
        non_null(len, "len")?;
        let frame = ev.frames.get(index).ok_or_else(|| {
            Fail::new(
                ryre_error_t::RYRE_ERR_RANGE,
                format!(
                    "frame {index} is past the event's {} frames",
                    ev.frames.len()
                ),
            )
        })?;
        // SAFETY: checked non-NULL; the caller's out-parameter.
        unsafe { *len = frame.len() };
        Ok(if frame.is_empty() {
            &EMPTY as *const u8
        } else {
            frame.as_ptr()
        })
    })
}

/// The value of HELLO header `key` of an ENTER event; NULL when absent (not an error) or when an
/// argument is NULL or not UTF-8 (an error).
#[no_mangle]
pub extern "C" fn ryre_event_header(
    event: *const ryre_event_t,
    key: *const c_char,
) -> *const c_char {
    guard(std::ptr::null(), || {
        let ev = self::event(event)?;
        let key = str_arg(key, "key")?;
        Ok(ev
            .headers
            .iter()
            .find(|(k, _)| k.as_bytes() == key.as_bytes())
            .map_or(std::ptr::null(), |(_, v)| v.as_ptr()))
    })
}

/// The number of HELLO headers of an ENTER event (0 for other kinds and for NULL).
#[no_mangle]
pub extern "C" fn ryre_event_header_count(event: *const ryre_event_t) -> usize {
    guard(0, || Ok(self::event(event)?.headers.len()))
}

/// Header `index` (in key order) of an ENTER event: its key and value in `*key` and `*value`,
/// owned by the event. Returns RYRE_OK, RYRE_ERR_RANGE or RYRE_ERR_NULL.
#[no_mangle]
pub extern "C" fn ryre_event_header_at(
    event: *const ryre_event_t,
    index: usize,
    key: *mut *const c_char,
    value: *mut *const c_char,
) -> c_int {
    crate::util::guard_int(|| {
        let ev = self::event(event)?;
        non_null(key, "key")?;
        non_null(value, "value")?;
        let (k, v) = ev.headers.get(index).ok_or_else(|| {
            Fail::new(
                ryre_error_t::RYRE_ERR_RANGE,
                format!(
                    "header {index} is past the event's {} headers",
                    ev.headers.len()
                ),
            )
        })?;
        // SAFETY: checked non-NULL; the caller's out-parameters.
        unsafe {
            *key = k.as_ptr();
            *value = v.as_ptr();
        }
        Ok(())
    })
}

/// Frees an event. NULL is ignored.
#[no_mangle]
pub extern "C" fn ryre_event_free(event: *mut ryre_event_t) {
    if event.is_null() {
        return;
    }
    // SAFETY: `event` came from Box::into_raw in ryre_node_recv and is freed once (the rule).
    drop(unsafe { Box::from_raw(event) });
}
