//! In-process discovery: the nodes of one process that share an interface and a beacon port
//! find each other through a process-wide registry the moment they start, with no socket in
//! between, and vouch for each other (a node of this process cannot die alone: it stops, and
//! says so here). The registry also hands out in-memory links (see `memlink`) to any node of
//! the process by endpoint.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use ryre_proto::{Input, PeerId};

use crate::memlink::MemSender;
use crate::runtime::Shared;

struct Entry {
    key: (IpAddr, u16),
    id: PeerId,
    endpoint: String,
    node: Weak<Shared>,
    mem: MemSender,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Adds a started node; it and the nodes already there learn of each other. (No node's lock is
/// taken while the registry's is held: a node that links to a peer asks the registry while it
/// holds its own.)
pub(crate) fn join(
    key: (IpAddr, u16),
    id: PeerId,
    endpoint: &str,
    node: &Arc<Shared>,
    mem: MemSender,
) {
    let others: Vec<(Arc<Shared>, PeerId, String)> = {
        let mut reg = registry();
        reg.retain(|e| e.node.strong_count() > 0);
        let others = reg
            .iter()
            .filter(|e| e.key == key)
            .filter_map(|e| Some((e.node.upgrade()?, e.id, e.endpoint.clone())))
            .collect();
        reg.push(Entry {
            key,
            id,
            endpoint: endpoint.to_string(),
            node: Arc::downgrade(node),
            mem,
        });
        others
    };
    let now = Instant::now();
    for (other, other_id, other_endpoint) in others {
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
                id: other_id,
                endpoint: other_endpoint,
            }],
        );
    }
}

/// Removes a stopping node; the others see it leave at once.
pub(crate) fn leave(id: PeerId) {
    let others: Vec<Arc<Shared>> = {
        let mut reg = registry();
        let Some(i) = reg.iter().position(|e| e.id == id) else {
            return;
        };
        let gone = reg.remove(i);
        reg.iter()
            .filter(|e| e.key == gone.key)
            .filter_map(|e| e.node.upgrade())
            .collect()
    };
    let now = Instant::now();
    for other in others {
        other.feed(now, vec![Input::Departed { id }]);
        other.wake();
    }
}

/// The in-memory link to the node of this process whose inbox is `endpoint`, if there is one.
pub(crate) fn mem_sender_for(endpoint: &str) -> Option<MemSender> {
    registry()
        .iter()
        .find(|e| e.endpoint == endpoint && e.node.strong_count() > 0)
        .map(|e| e.mem.clone())
}
