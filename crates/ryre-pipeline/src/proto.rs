//! The pipeline's wire messages: one ZeroMQ frame each, carried as a ryre whisper.
//!
//! Every message starts with a 2-byte signature (`0xAA 0xB6`), a version byte (1) and a message
//! id; fields follow big-endian. Byte strings are a `u32` length and the bytes; lists are a `u32`
//! count and the items. [`Msg::decode`] never panics on any input: it checks every length
//! against what is left before reading or allocating, and refuses trailing bytes, so a message
//! that decodes has exactly one encoding.
//!
//! [`Msg::Status`] is the one message that is shouted rather than whispered: each role reports
//! what it is doing to the cluster's status group ([`crate::status_group`]) for whoever watches
//! (the bridge's dashboard), and only while someone does.

use bytes::{BufMut, Bytes, BytesMut};
use ryre::PeerId;

use crate::Role;

/// First two bytes of every pipeline message.
pub const SIGNATURE: [u8; 2] = [0xAA, 0xB6];
/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Most tasks (task numbers) a batch can have: keeps the collector's dedupe bitmap bounded
/// (8 MiB) whatever a forged message claims.
pub const MAX_TASKS: u64 = 1 << 26;

/// Why bytes are not a pipeline message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer than the 4 header bytes, or the signature is not ours (a foreign message).
    #[error("not a pipeline message (bad signature)")]
    Signature,
    /// A version this crate does not speak.
    #[error("pipeline protocol version {0} is not supported (this is version 1)")]
    Version(u8),
    /// An unknown message id.
    #[error("unknown pipeline message id {0}")]
    UnknownId(u8),
    /// The message ends before a field does.
    #[error("message truncated in {0}")]
    Truncated(&'static str),
    /// Bytes left after the last field.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// A field holds a value that makes no sense (e.g. a task number past the batch).
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// One task of a [`Msg::Tasks`] message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The task number (0 upwards within its batch).
    pub no: u64,
    /// Its payload.
    pub payload: Bytes,
}

/// One result of a [`Msg::Results`] message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    /// The task number.
    pub no: u64,
    /// The worker's answer: `Ok(result)` or `Err(error text)`.
    pub outcome: Result<Bytes, Bytes>,
}

/// What a role reports of itself in a [`Msg::Status`]. Counts marked "so far" only grow for
/// as long as the role runs (a restarted role is a new node, with a new id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Who reports.
    pub role: Role,
    /// Tasks finished so far: results delivered (client), computed (worker), forwarded
    /// (collector).
    pub done: u64,
    /// Right now: tasks held at workers (client), tasks held (worker), open batches
    /// (collector).
    pub held: u64,
    /// Tasks dealt again so far (client; 0 for the others).
    pub redealt: u64,
    /// Duplicate results dropped so far.
    pub duplicates: u64,
    /// A client's open batches and those that ended since its last status (at most
    /// [`MAX_STATUS_BATCHES`]); empty for the other roles.
    pub batches: Vec<BatchStatus>,
}

/// One batch of a client's [`Status`]. Every task is in exactly one state: done, at a worker,
/// at the collector (done by a worker, its result not yet through), or pending (the rest), so
/// `done + at_workers + at_collector <= total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatus {
    /// The batch id.
    pub batch: u64,
    /// Tasks in the batch (at most [`MAX_TASKS`]).
    pub total: u64,
    /// Results delivered.
    pub done: u64,
    /// Tasks dealt to workers that have not reported them done.
    pub at_workers: u64,
    /// Tasks workers reported done whose result has not come from the collector.
    pub at_collector: u64,
    /// Tasks of this batch dealt again so far.
    pub redealt: u64,
    /// The batch is over: complete (`done == total`) or given up by its application.
    pub ended: bool,
}

impl BatchStatus {
    /// Tasks waiting to be dealt.
    pub fn pending(&self) -> u64 {
        self.total
            .saturating_sub(self.done)
            .saturating_sub(self.at_workers)
            .saturating_sub(self.at_collector)
    }
}

/// Most batches a [`Status`] lists.
pub const MAX_STATUS_BATCHES: usize = 64;

/// The messages of the pipeline protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Worker to client, once per client: "you may send me up to `window` tasks".
    Ready {
        /// The worker's window (most tasks it holds for this client).
        window: u32,
    },
    /// Client to worker: tasks to run, whose results go to `collector`.
    Tasks {
        /// The batch.
        batch: u64,
        /// Tasks in the batch.
        total: u64,
        /// The collector the results go to.
        collector: PeerId,
        /// The tasks.
        tasks: Vec<Task>,
    },
    /// Worker to client: `n` more tasks may be sent (the `n` oldest it held are done).
    Credit {
        /// How many.
        n: u32,
    },
    /// Worker to collector (with `client` naming the batch's owner), and collector to client.
    Results {
        /// The client that owns the batch.
        client: PeerId,
        /// The batch.
        batch: u64,
        /// Tasks in the batch.
        total: u64,
        /// The results.
        results: Vec<TaskResult>,
    },
    /// Client to collector: a batch begins (or resumes on this collector).
    Start {
        /// The batch.
        batch: u64,
        /// Tasks in the batch.
        total: u64,
    },
    /// Collector to client: what it has of a batch.
    Progress {
        /// The batch.
        batch: u64,
        /// Distinct task numbers received with a result.
        received: u64,
        /// Every task below this number has been received.
        contiguous: u64,
        /// Some task numbers (the lowest, at most [`MAX_MISSING`]) below the highest received
        /// that are missing.
        missing: Vec<u64>,
    },
    /// Client to collector: the batch is complete; forget it.
    End {
        /// The batch.
        batch: u64,
    },
    /// Any role to the cluster's status group (shouted): what it is doing.
    Status(Status),
}

/// Most task numbers a [`Msg::Progress`] lists as missing.
pub const MAX_MISSING: usize = 64;

const READY: u8 = 1;
const TASKS: u8 = 2;
const CREDIT: u8 = 3;
const RESULTS: u8 = 4;
const START: u8 = 5;
const PROGRESS: u8 = 6;
const END: u8 = 7;
const STATUS: u8 = 8;

/// Bytes of one [`BatchStatus`] on the wire.
const BATCH_STATUS_LEN: usize = 6 * 8 + 1;

fn role_code(role: Role) -> u8 {
    match role {
        Role::Client => 1,
        Role::Worker => 2,
        Role::Collector => 3,
    }
}

impl Msg {
    /// A short name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Ready { .. } => "READY",
            Msg::Tasks { .. } => "TASKS",
            Msg::Credit { .. } => "CREDIT",
            Msg::Results { .. } => "RESULTS",
            Msg::Start { .. } => "START",
            Msg::Progress { .. } => "PROGRESS",
            Msg::End { .. } => "END",
            Msg::Status(_) => "STATUS",
        }
    }

    /// Encodes into one frame.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.encoded_len_hint());
        b.put_slice(&SIGNATURE);
        b.put_u8(VERSION);
        match self {
            Msg::Ready { window } => {
                b.put_u8(READY);
                b.put_u32(*window);
            }
            Msg::Tasks {
                batch,
                total,
                collector,
                tasks,
            } => {
                b.put_u8(TASKS);
                b.put_u64(*batch);
                b.put_u64(*total);
                b.put_slice(collector.as_bytes());
                b.put_u32(tasks.len() as u32);
                for t in tasks {
                    b.put_u64(t.no);
                    put_bytes(&mut b, &t.payload);
                }
            }
            Msg::Credit { n } => {
                b.put_u8(CREDIT);
                b.put_u32(*n);
            }
            Msg::Results {
                client,
                batch,
                total,
                results,
            } => {
                b.put_u8(RESULTS);
                b.put_slice(client.as_bytes());
                b.put_u64(*batch);
                b.put_u64(*total);
                b.put_u32(results.len() as u32);
                for r in results {
                    b.put_u64(r.no);
                    match &r.outcome {
                        Ok(v) => {
                            b.put_u8(0);
                            put_bytes(&mut b, v);
                        }
                        Err(e) => {
                            b.put_u8(1);
                            put_bytes(&mut b, e);
                        }
                    }
                }
            }
            Msg::Start { batch, total } => {
                b.put_u8(START);
                b.put_u64(*batch);
                b.put_u64(*total);
            }
            Msg::Progress {
                batch,
                received,
                contiguous,
                missing,
            } => {
                b.put_u8(PROGRESS);
                b.put_u64(*batch);
                b.put_u64(*received);
                b.put_u64(*contiguous);
                b.put_u32(missing.len() as u32);
                for m in missing {
                    b.put_u64(*m);
                }
            }
            Msg::End { batch } => {
                b.put_u8(END);
                b.put_u64(*batch);
            }
            Msg::Status(st) => {
                b.put_u8(STATUS);
                b.put_u8(role_code(st.role));
                b.put_u64(st.done);
                b.put_u64(st.held);
                b.put_u64(st.redealt);
                b.put_u64(st.duplicates);
                b.put_u32(st.batches.len() as u32);
                for s in &st.batches {
                    b.put_u64(s.batch);
                    b.put_u64(s.total);
                    b.put_u64(s.done);
                    b.put_u64(s.at_workers);
                    b.put_u64(s.at_collector);
                    b.put_u64(s.redealt);
                    b.put_u8(u8::from(s.ended));
                }
            }
        }
        b.freeze()
    }

    fn encoded_len_hint(&self) -> usize {
        4 + match self {
            Msg::Tasks { tasks, .. } => {
                36 + tasks.iter().map(|t| 12 + t.payload.len()).sum::<usize>()
            }
            Msg::Results { results, .. } => {
                36 + results
                    .iter()
                    .map(|r| 13 + r.outcome.as_ref().map_or_else(Bytes::len, Bytes::len))
                    .sum::<usize>()
            }
            Msg::Progress { missing, .. } => 28 + 8 * missing.len(),
            Msg::Status(st) => 37 + BATCH_STATUS_LEN * st.batches.len(),
            _ => 16,
        }
    }

    /// Decodes one frame. Payloads are slices of `frame` (no copy). Never panics.
    pub fn decode(frame: &Bytes) -> Result<Msg, DecodeError> {
        if frame.len() < 4 || frame[..2] != SIGNATURE {
            return Err(DecodeError::Signature);
        }
        if frame[2] != VERSION {
            return Err(DecodeError::Version(frame[2]));
        }
        let mut r = Reader { buf: frame, pos: 4 };
        let msg = match frame[3] {
            READY => Msg::Ready {
                window: r.u32("window")?,
            },
            TASKS => {
                let batch = r.u64("batch")?;
                let total = r.total()?;
                let collector = r.peer("collector")?;
                let n = r.count("task count", 12)?;
                let mut tasks = Vec::with_capacity(n);
                for _ in 0..n {
                    let no = r.task_no(total)?;
                    let payload = r.bytes("payload")?;
                    tasks.push(Task { no, payload });
                }
                Msg::Tasks {
                    batch,
                    total,
                    collector,
                    tasks,
                }
            }
            CREDIT => Msg::Credit {
                n: r.u32("credit")?,
            },
            RESULTS => {
                let client = r.peer("client")?;
                let batch = r.u64("batch")?;
                let total = r.total()?;
                let n = r.count("result count", 13)?;
                let mut results = Vec::with_capacity(n);
                for _ in 0..n {
                    let no = r.task_no(total)?;
                    let status = r.u8("status")?;
                    let v = r.bytes("result")?;
                    let outcome = match status {
                        0 => Ok(v),
                        1 => Err(v),
                        _ => return Err(DecodeError::Invalid("result status")),
                    };
                    results.push(TaskResult { no, outcome });
                }
                Msg::Results {
                    client,
                    batch,
                    total,
                    results,
                }
            }
            START => Msg::Start {
                batch: r.u64("batch")?,
                total: r.total()?,
            },
            PROGRESS => {
                let batch = r.u64("batch")?;
                let received = r.u64("received")?;
                let contiguous = r.u64("contiguous")?;
                let n = r.count("missing count", 8)?;
                if n > MAX_MISSING {
                    return Err(DecodeError::Invalid("missing count"));
                }
                let mut missing = Vec::with_capacity(n);
                for _ in 0..n {
                    missing.push(r.u64("missing")?);
                }
                Msg::Progress {
                    batch,
                    received,
                    contiguous,
                    missing,
                }
            }
            END => Msg::End {
                batch: r.u64("batch")?,
            },
            STATUS => Msg::Status(r.status()?),
            other => return Err(DecodeError::UnknownId(other)),
        };
        let left = frame.len() - r.pos;
        if left != 0 {
            return Err(DecodeError::Trailing(left));
        }
        Ok(msg)
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_u32(v.len() as u32);
    b.put_slice(v);
}

struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError::Truncated(what))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let s = self.take(4, what)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }

    fn peer(&mut self, what: &'static str) -> Result<PeerId, DecodeError> {
        let s = self.take(16, what)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(s);
        Ok(PeerId::from_bytes(a))
    }

    fn total(&mut self) -> Result<u64, DecodeError> {
        let t = self.u64("total")?;
        if t > MAX_TASKS {
            return Err(DecodeError::Invalid("batch size"));
        }
        Ok(t)
    }

    fn task_no(&mut self, total: u64) -> Result<u64, DecodeError> {
        let n = self.u64("task number")?;
        if n >= total {
            return Err(DecodeError::Invalid("task number"));
        }
        Ok(n)
    }

    /// A list count, checked against the bytes left (each item takes at least `min` bytes) so a
    /// forged count cannot make us allocate.
    fn count(&mut self, what: &'static str, min: usize) -> Result<usize, DecodeError> {
        let n = self.u32(what)? as usize;
        let left = self.buf.len() - self.pos;
        if n > left / min {
            return Err(DecodeError::Truncated(what));
        }
        Ok(n)
    }

    fn status(&mut self) -> Result<Status, DecodeError> {
        let role = match self.u8("role")? {
            1 => Role::Client,
            2 => Role::Worker,
            3 => Role::Collector,
            _ => return Err(DecodeError::Invalid("role")),
        };
        let done = self.u64("done")?;
        let held = self.u64("held")?;
        let redealt = self.u64("redealt")?;
        let duplicates = self.u64("duplicates")?;
        let n = self.count("batch count", BATCH_STATUS_LEN)?;
        if n > MAX_STATUS_BATCHES {
            return Err(DecodeError::Invalid("batch count"));
        }
        if n > 0 && role != Role::Client {
            return Err(DecodeError::Invalid("batches in a status not of a client"));
        }
        let mut batches = Vec::with_capacity(n);
        for _ in 0..n {
            let batch = self.u64("batch")?;
            let total = self.total()?;
            let done = self.u64("done")?;
            let at_workers = self.u64("at workers")?;
            let at_collector = self.u64("at collector")?;
            let redealt = self.u64("redealt")?;
            // Each is at most MAX_TASKS, so the sum cannot overflow.
            if done > total
                || at_workers > total
                || at_collector > total
                || done + at_workers + at_collector > total
            {
                return Err(DecodeError::Invalid("batch counts above its total"));
            }
            let ended = match self.u8("ended")? {
                0 => false,
                1 => true,
                _ => return Err(DecodeError::Invalid("ended flag")),
            };
            batches.push(BatchStatus {
                batch,
                total,
                done,
                at_workers,
                at_collector,
                redealt,
                ended,
            });
        }
        Ok(Status {
            role,
            done,
            held,
            redealt,
            duplicates,
            batches,
        })
    }

    fn bytes(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let n = self.u32(what)? as usize;
        let start = self.pos;
        self.take(n, what)?;
        Ok(self.buf.slice(start..start + n))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peer() -> impl Strategy<Value = PeerId> {
        any::<[u8; 16]>().prop_map(PeerId::from_bytes)
    }

    fn bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
    }

    fn batch_status() -> impl Strategy<Value = BatchStatus> {
        (
            any::<u64>(),
            0..=MAX_TASKS,
            any::<[u64; 3]>(),
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(batch, total, [a, b, c], redealt, ended)| {
                // Three shares of the total, in any proportion, that add up to at most it.
                let done = a % (total + 1);
                let at_workers = b % (total - done + 1);
                let at_collector = c % (total - done - at_workers + 1);
                BatchStatus {
                    batch,
                    total,
                    done,
                    at_workers,
                    at_collector,
                    redealt,
                    ended,
                }
            })
    }

    pub(crate) fn status() -> impl Strategy<Value = Status> {
        (
            prop_oneof![
                Just(Role::Client),
                Just(Role::Worker),
                Just(Role::Collector)
            ],
            any::<[u64; 4]>(),
            proptest::collection::vec(batch_status(), 0..=MAX_STATUS_BATCHES),
        )
            .prop_map(
                |(role, [done, held, redealt, duplicates], batches)| Status {
                    role,
                    done,
                    held,
                    redealt,
                    duplicates,
                    batches: if role == Role::Client {
                        batches
                    } else {
                        Vec::new()
                    },
                },
            )
    }

    fn msg() -> impl Strategy<Value = Msg> {
        let total = 1..MAX_TASKS;
        prop_oneof![
            status().prop_map(Msg::Status),
            any::<u32>().prop_map(|window| Msg::Ready { window }),
            any::<u32>().prop_map(|n| Msg::Credit { n }),
            (any::<u64>(), 0..=MAX_TASKS).prop_map(|(batch, total)| Msg::Start { batch, total }),
            any::<u64>().prop_map(|batch| Msg::End { batch }),
            (
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(any::<u64>(), 0..=MAX_MISSING)
            )
                .prop_map(|(batch, received, contiguous, missing)| Msg::Progress {
                    batch,
                    received,
                    contiguous,
                    missing
                }),
            (
                any::<u64>(),
                total.clone(),
                peer(),
                proptest::collection::vec((any::<u64>(), bytes()), 0..8)
            )
                .prop_map(|(batch, total, collector, t)| Msg::Tasks {
                    batch,
                    total,
                    collector,
                    tasks: t
                        .into_iter()
                        .map(|(no, payload)| Task {
                            no: no % total,
                            payload
                        })
                        .collect()
                }),
            (
                peer(),
                any::<u64>(),
                total,
                proptest::collection::vec((any::<u64>(), any::<bool>(), bytes()), 0..8)
            )
                .prop_map(|(client, batch, total, r)| Msg::Results {
                    client,
                    batch,
                    total,
                    results: r
                        .into_iter()
                        .map(|(no, ok, v)| TaskResult {
                            no: no % total,
                            outcome: if ok { Ok(v) } else { Err(v) }
                        })
                        .collect()
                }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(m in msg()) {
            let frame = m.encode();
            prop_assert_eq!(Msg::decode(&frame), Ok(m));
        }

        #[test]
        fn arbitrary_bytes_never_panic(v in proptest::collection::vec(any::<u8>(), 0..200)) {
            let frame = Bytes::from(v);
            if let Ok(m) = Msg::decode(&frame) {
                // Canonical: what decodes re-encodes to the same bytes.
                prop_assert_eq!(m.encode(), frame);
            }
        }

        #[test]
        fn valid_head_then_garbage_never_panics(
            id in 0u8..12,
            v in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut f = vec![0xAA, 0xB6, VERSION, id];
            f.extend(v);
            let frame = Bytes::from(f);
            if let Ok(m) = Msg::decode(&frame) {
                prop_assert_eq!(m.encode(), frame);
            }
        }

        #[test]
        fn truncations_are_errors(m in msg(), cut in any::<prop::sample::Index>()) {
            let frame = m.encode();
            let at = cut.index(frame.len());
            prop_assert!(Msg::decode(&frame.slice(..at)).is_err());
        }
    }

    #[test]
    fn fuzz_seeds_are_valid_messages() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/proto_decode");
        for name in [
            "ready", "tasks", "credit", "results", "start", "progress", "end", "status",
        ] {
            let bytes = std::fs::read(format!("{dir}/{name}")).expect("seed file");
            let frame = Bytes::from(bytes);
            let m = Msg::decode(&frame).unwrap_or_else(|e| panic!("seed {name}: {e}"));
            assert_eq!(m.kind().to_ascii_lowercase(), name);
            assert_eq!(m.encode(), frame);
        }
    }

    #[test]
    fn foreign_and_versions() {
        assert_eq!(
            Msg::decode(&Bytes::from_static(b"")),
            Err(DecodeError::Signature)
        );
        assert_eq!(
            Msg::decode(&Bytes::from_static(b"hello")),
            Err(DecodeError::Signature)
        );
        assert_eq!(
            Msg::decode(&Bytes::from_static(&[0xAA, 0xB6, 9, 1])),
            Err(DecodeError::Version(9))
        );
        assert_eq!(
            Msg::decode(&Bytes::from_static(&[0xAA, 0xB6, 1, 99])),
            Err(DecodeError::UnknownId(99))
        );
        // A huge forged count is refused before any allocation.
        let mut f = Msg::Tasks {
            batch: 1,
            total: 10,
            collector: PeerId::from_bytes([1; 16]),
            tasks: vec![],
        }
        .encode()
        .to_vec();
        let l = f.len();
        f[l - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Msg::decode(&Bytes::from(f)).is_err());
    }

    fn client_status(b: BatchStatus) -> Msg {
        Msg::Status(Status {
            role: Role::Client,
            done: 1,
            held: 2,
            redealt: 3,
            duplicates: 4,
            batches: vec![b],
        })
    }

    #[test]
    fn status_layout_and_refusals() {
        let b = BatchStatus {
            batch: 0x0102_0304_0506_0708,
            total: 10,
            done: 4,
            at_workers: 3,
            at_collector: 2,
            redealt: 5,
            ended: false,
        };
        assert_eq!(b.pending(), 1);
        let frame = client_status(b.clone()).encode();
        // Header, role, four counts, the list count, one batch.
        assert_eq!(frame.len(), 4 + 1 + 32 + 4 + BATCH_STATUS_LEN);
        assert_eq!(&frame[..5], &[0xAA, 0xB6, 1, STATUS, 1]);
        let worker = Msg::Status(Status {
            role: Role::Worker,
            done: 7,
            held: 1,
            redealt: 0,
            duplicates: 0,
            batches: vec![],
        })
        .encode();
        // A worker's status: 41 bytes, twice a second at most.
        assert_eq!(worker.len(), 41);
        let bad = |f: Vec<u8>| Msg::decode(&Bytes::from(f));
        // Counts that add up to more than the total.
        let mut f = frame.to_vec();
        let at = 4 + 1 + 32 + 4 + 8 + 8; // the batch's `done`
        f[at..at + 8].copy_from_slice(&6u64.to_be_bytes());
        assert_eq!(
            bad(f),
            Err(DecodeError::Invalid("batch counts above its total"))
        );
        // A total above MAX_TASKS.
        let mut f = frame.to_vec();
        f[at - 8..at].copy_from_slice(&(MAX_TASKS + 1).to_be_bytes());
        assert_eq!(bad(f), Err(DecodeError::Invalid("batch size")));
        // An ended flag that is not 0 or 1; an unknown role.
        let mut f = frame.to_vec();
        let l = f.len();
        f[l - 1] = 2;
        assert_eq!(bad(f), Err(DecodeError::Invalid("ended flag")));
        let mut f = frame.to_vec();
        f[4] = 9;
        assert_eq!(bad(f), Err(DecodeError::Invalid("role")));
        // Batches in a worker's status.
        let mut f = frame.to_vec();
        f[4] = 2;
        assert_eq!(
            bad(f),
            Err(DecodeError::Invalid("batches in a status not of a client"))
        );
        // More batches than a status may list, with the bytes for them.
        let many = Msg::Status(Status {
            role: Role::Client,
            done: 0,
            held: 0,
            redealt: 0,
            duplicates: 0,
            batches: vec![b; MAX_STATUS_BATCHES + 1],
        })
        .encode();
        assert_eq!(Msg::decode(&many), Err(DecodeError::Invalid("batch count")));
    }
}
