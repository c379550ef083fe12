//! What a node asks of its transport: connect, send encoded frames, disconnect.

use bytes::Bytes;

use crate::msg::Content;
use crate::PeerId;

/// Something the transport must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Open a link (DEALER) to a peer's inbox.
    Connect {
        /// The peer.
        peer: PeerId,
        /// Its inbox endpoint.
        endpoint: String,
    },
    /// Send these frames on the link to a peer.
    Send {
        /// The peer.
        peer: PeerId,
        /// The encoded ZRE message.
        frames: Frames,
    },
    /// Close the link to a peer.
    Disconnect {
        /// The peer.
        peer: PeerId,
    },
}

/// An encoded ZRE message ready for the wire: frame 1 (signature, id, version, sequence and
/// fields) and the content frames. Short first frames (WHISPER, PING, most SHOUTs) are kept inline,
/// so sending costs no allocation beyond the content the application handed over.
#[derive(Clone, PartialEq, Eq)]
pub struct Frames {
    head: Head,
    content: Content,
}

#[derive(Clone, PartialEq, Eq)]
enum Head {
    Inline { len: u8, buf: [u8; Head::INLINE] },
    Heap(Bytes),
}

impl Head {
    const INLINE: usize = 30;

    fn new(bytes: &[u8]) -> Self {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= Self::INLINE => {
                let mut buf = [0u8; Self::INLINE];
                buf[..bytes.len()].copy_from_slice(bytes);
                Head::Inline { len, buf }
            }
            _ => Head::Heap(Bytes::copy_from_slice(bytes)),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Head::Inline { len, buf } => &buf[..usize::from(*len)],
            Head::Heap(b) => b,
        }
    }
}

impl Frames {
    /// Frame 1 (copied, inline when short) and the content frames (moved).
    pub(crate) fn new(head: &[u8], content: Content) -> Self {
        Frames {
            head: Head::new(head),
            content,
        }
    }

    /// Frame 1 given as shared bytes (kept without a copy unless short enough to go inline,
    /// so the result equals [`Frames::new`] of the same bytes) and the content frames.
    pub(crate) fn from_head(head: Bytes, content: Content) -> Self {
        let head = if head.len() <= Head::INLINE {
            Head::new(&head)
        } else {
            Head::Heap(head)
        };
        Frames { head, content }
    }

    /// A copy of frame 1 with `sequence` in bytes 4..6 (where every ZRE message has it) and
    /// `content` as the content frames: a SHOUT's head is encoded once for all members.
    pub(crate) fn with_sequence(&self, sequence: u16, content: Content) -> Self {
        let mut head = self.head.clone();
        match &mut head {
            Head::Inline { buf, .. } => buf[4..6].copy_from_slice(&sequence.to_be_bytes()),
            Head::Heap(b) => {
                let mut v = b.to_vec();
                v[4..6].copy_from_slice(&sequence.to_be_bytes());
                *b = Bytes::from(v);
            }
        }
        Frames { head, content }
    }

    /// Frame 1.
    pub fn head(&self) -> &[u8] {
        self.head.as_slice()
    }

    /// The frames after frame 1 (WHISPER and SHOUT content).
    pub fn content(&self) -> &[Bytes] {
        &self.content
    }

    /// Takes the content frames out (moved, not cloned), leaving none: for a transport that
    /// hands frame 1 and the content to the receiving heart separately (the simulator).
    pub fn take_content(&mut self) -> Content {
        std::mem::take(&mut self.content)
    }

    /// How many frames.
    pub fn len(&self) -> usize {
        1 + self.content.len()
    }

    /// Never empty: there is always frame 1.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every frame, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.head()).chain(self.content.iter().map(|b| &b[..]))
    }

    /// Every frame as owned bytes (copies frame 1).
    pub fn to_vec(&self) -> Vec<Bytes> {
        std::iter::once(Bytes::copy_from_slice(self.head()))
            .chain(self.content.iter().cloned())
            .collect()
    }
}

impl std::fmt::Debug for Frames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frames")
            .field("head", &self.head())
            .field("content", &self.content)
            .finish()
    }
}
