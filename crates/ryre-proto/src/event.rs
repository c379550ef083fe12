//! What a node reports to the application: Zyre's event set, and why peers leave.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::msg::Content;
use crate::PeerId;

/// Why a peer left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// Silent for the expired timeout.
    Expired,
    /// It sent a port-0 beacon.
    Leaving,
    /// It sent GOODBYE.
    Goodbye,
    /// A message arrived out of sequence: messages were lost.
    SequenceGap {
        /// The sequence we expected.
        expected: u16,
        /// The sequence that arrived.
        got: u16,
    },
    /// It said HELLO again: it restarted; it is re-created at once.
    Rehello,
    /// Another peer appeared at its endpoint.
    EndpointReused,
    /// Our queue to it was full (high-water mark): its messages could not be sent.
    QueueFull,
    /// It was a node of this machine (or process) and its registration with the machine's agent
    /// dropped without a goodbye: it died.
    Lost,
    /// Certified mode: a revocation of its certificate (or of a CA above it) arrived.
    Revoked,
    /// Certified mode: its certificate expired.
    CertificateExpired,
}

impl ExitReason {
    /// Every reason's tag ([`ExitReason::as_str`]), in the order of [`ExitReason::kind_index`].
    pub const KINDS: [&'static str; 10] = [
        "expired",
        "leaving",
        "goodbye",
        "sequence-gap",
        "rehello",
        "endpoint-reused",
        "queue-full",
        "lost",
        "revoked",
        "certificate-expired",
    ];

    /// This reason's index in [`ExitReason::KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            ExitReason::Expired => 0,
            ExitReason::Leaving => 1,
            ExitReason::Goodbye => 2,
            ExitReason::SequenceGap { .. } => 3,
            ExitReason::Rehello => 4,
            ExitReason::EndpointReused => 5,
            ExitReason::QueueFull => 6,
            ExitReason::Lost => 7,
            ExitReason::Revoked => 8,
            ExitReason::CertificateExpired => 9,
        }
    }

    /// A short lower-case tag for logs and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExitReason::Expired => "expired",
            ExitReason::Leaving => "leaving",
            ExitReason::Goodbye => "goodbye",
            ExitReason::SequenceGap { .. } => "sequence-gap",
            ExitReason::Rehello => "rehello",
            ExitReason::EndpointReused => "endpoint-reused",
            ExitReason::QueueFull => "queue-full",
            ExitReason::Lost => "lost",
            ExitReason::Revoked => "revoked",
            ExitReason::CertificateExpired => "certificate-expired",
        }
    }
}

/// What the node reports to the application (Zyre's event set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A peer said HELLO.
    Enter {
        /// The peer.
        peer: PeerId,
        /// Its name.
        name: Arc<str>,
        /// Its headers.
        headers: BTreeMap<String, String>,
        /// Its inbox endpoint.
        endpoint: String,
    },
    /// A peer is gone.
    Exit {
        /// The peer.
        peer: PeerId,
        /// Its name.
        name: Arc<str>,
        /// Why.
        reason: ExitReason,
    },
    /// A peer joined a group.
    Join {
        /// The peer.
        peer: PeerId,
        /// Its name.
        name: Arc<str>,
        /// The group.
        group: String,
    },
    /// A peer left a group.
    Leave {
        /// The peer.
        peer: PeerId,
        /// Its name.
        name: Arc<str>,
        /// The group.
        group: String,
    },
    /// A peer whispered to us.
    Whisper {
        /// The peer.
        peer: PeerId,
        /// Its name.
        name: Arc<str>,
        /// The content frames.
        content: Content,
    },
    /// A peer shouted to a group.
    Shout {
        /// The peer.
        peer: PeerId,
        /// Its name.
        name: Arc<str>,
        /// The group (the name shared with the node's record of the peer's groups: a SHOUT
        /// allocates no string).
        group: Arc<str>,
        /// The content frames.
        content: Content,
    },
    /// A peer has been silent past the evasive timeout.
    Evasive {
        /// The peer.
        peer: PeerId,
        /// Its name.
        name: Arc<str>,
    },
    /// A peer is still silent one reap interval after EVASIVE.
    Silent {
        /// The peer.
        peer: PeerId,
        /// Its name.
        name: Arc<str>,
    },
    /// An election in a group has a leader.
    Leader {
        /// The leader (possibly ourselves).
        peer: PeerId,
        /// Its name.
        name: Arc<str>,
        /// The group.
        group: String,
    },
    /// This node stopped.
    Stop {
        /// Own id.
        peer: PeerId,
        /// Own name.
        name: Arc<str>,
    },
}
