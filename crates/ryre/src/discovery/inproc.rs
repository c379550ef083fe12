//! In-process discovery: the nodes of one process that share an interface and a beacon port
//! find each other through a process-wide registry the moment they start, with no socket in
//! between, and vouch for each other (a node of this process cannot die alone: it stops, and
//! says so here).

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use ryre_proto::{Input, PeerId};

use crate::runtime::Shared;

struct Entry {
    key: (Ipv4Addr, u16),
    id: PeerId,
    endpoint: String,
    node: Weak<Shared>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Adds a started node; it and the nodes already there learn of each other.
pub(crate) fn join(key: (Ipv4Addr, u16), id: PeerId, endpoint: &str, node: &Arc<Shared>) {
    let mut reg = registry();
    reg.retain(|e| e.node.strong_count() > 0);
    let now = Instant::now();
    for e in reg.iter().filter(|e| e.key == key) {
        if let Some(other) = e.node.upgrade() {
            other.feed(
                now,
                vec![Input::Local {
                    id,
                    endpoint: endpoint.to_string(),
                }],
            );
            other.wake();
            node.feed(
                now,
                vec![Input::Local {
                    id: e.id,
                    endpoint: e.endpoint.clone(),
                }],
            );
        }
    }
    reg.push(Entry {
        key,
        id,
        endpoint: endpoint.to_string(),
        node: Arc::downgrade(node),
    });
}

/// Removes a stopping node; the others see it leave at once.
pub(crate) fn leave(id: PeerId) {
    let mut reg = registry();
    let Some(i) = reg.iter().position(|e| e.id == id) else {
        return;
    };
    let gone = reg.remove(i);
    let now = Instant::now();
    for e in reg.iter().filter(|e| e.key == gone.key) {
        if let Some(other) = e.node.upgrade() {
            other.feed(now, vec![Input::Departed { id }]);
            other.wake();
        }
    }
}
