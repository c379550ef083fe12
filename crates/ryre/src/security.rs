//! Secure mode on real sockets: the settings ([`Security`]), ryre's own ZAP handler (RFC 27)
//! installed in the node's ZeroMQ context before any CURVE socket, and the beacons a secure node
//! sends (Zyre's v3 beacon and ryre's signed beacon). Which key may speak for which UUID is
//! decided by the heart ([`ryre_proto::security`]); this file only carries the keys.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use ryre_proto::beacon::Beacon;
pub use ryre_proto::security::{KeyPair, PublicKey, Refusal, Trust};
use ryre_proto::PeerId;
use tracing::warn;

/// How a node protects its links and discovery.
#[derive(Debug, Clone, Default)]
// A setting made once per node: its size does not matter, a flat shape reads better.
#[allow(clippy::large_enum_variant)]
pub enum Security {
    /// Open ZRE v2 (the default): interoperates with Zyre and Pyre; anyone on the LAN can read
    /// and forge traffic.
    #[default]
    Open,
    /// CURVE on every ZeroMQ link, Zyre-compatible (v3 beacons with the key, `X-PUBLICKEY` in
    /// HELLO), keys bound to UUIDs, signed beacons between ryre nodes.
    Curve {
        /// The node's own key pair.
        keys: KeyPair,
        /// Which peers' keys are accepted.
        trust: Trust,
    },
}

impl Security {
    /// CURVE with the keys of a key directory (see [`crate::keys`]): its own key pair, trusting
    /// the keys in its `peers/` and its own.
    pub fn key_dir(dir: impl AsRef<std::path::Path>) -> Result<Security, crate::Error> {
        let dir = crate::keys::KeyDir::load(dir)?;
        let trust = dir.trust();
        Ok(Security::Curve {
            keys: dir.keys,
            trust,
        })
    }

    /// CURVE with trust on first use: any key, each UUID pinned to the first key seen for it.
    pub fn tofu(keys: KeyPair) -> Security {
        Security::Curve {
            keys,
            trust: Trust::FirstUse,
        }
    }

    /// Whether this is a CURVE mode.
    pub fn is_secure(&self) -> bool {
        matches!(self, Security::Curve { .. })
    }

    /// `open` or `curve`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Security::Open => "open",
            Security::Curve { .. } => "curve",
        }
    }
}

/// How a node guards its links ([`crate::Node::security_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Plain ZRE, as Zyre and Pyre speak it.
    Open,
    /// Secure mode: CURVE on every link, keys bound to UUIDs, signed beacons.
    Curve,
    /// Certified mode: secure mode plus certificates and their group rights.
    Certified,
}

impl Mode {
    /// Every mode, weakest first.
    pub const ALL: [Mode; 3] = [Mode::Open, Mode::Curve, Mode::Certified];

    /// `open`, `curve` or `certified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Open => "open",
            Mode::Curve => "curve",
            Mode::Certified => "certified",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What secure mode has refused (see [`crate::Node::security_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecurityStats {
    /// Beacons, messages and announcements the heart refused: plain (downgrade), forged,
    /// replayed, from a key not bound to the sender's UUID, untrusted.
    pub refused: u64,
    /// CURVE connections the ZAP handler refused (untrusted keys).
    pub refused_connections: u64,
    /// Certified mode: HELLOs refused for their certificate, by reason, indexed as
    /// [`SecurityStats::CERT_REFUSAL_KINDS`] (each also counts in `refused`).
    pub certificates_refused: [u64; SecurityStats::CERT_REFUSAL_KINDS.len()],
}

impl SecurityStats {
    /// The reasons a certificate is refused for: `missing`, `malformed`, `wrong-key`,
    /// `expired`, `not-yet-valid`, `revoked`, `unknown-issuer`, `bad-signature`,
    /// `wider-rights`, `wider-window`, `invalid` (any other defect of the chain).
    pub const CERT_REFUSAL_KINDS: [&'static str; 11] =
        ryre_proto::security::certified::CertRefusal::KINDS;

    /// The certificate refusals that happened, as (reason, count), in
    /// [`SecurityStats::CERT_REFUSAL_KINDS`] order.
    pub fn certificate_refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Self::CERT_REFUSAL_KINDS
            .iter()
            .zip(self.certificates_refused)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (*k, n))
    }
}

/// Why the ZAP handler could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum ZapError {
    /// libzmq was built without CURVE.
    #[error("this libzmq has no CURVE support (zmq_has(\"curve\") is false)")]
    NoCurve,
    /// The ZAP endpoint is taken in this context (another ZAP handler) or ZeroMQ failed.
    #[error("cannot bind the ZAP handler at inproc://zeromq.zap.01: {0} (does the context already have a ZAP handler?)")]
    Bind(zmq::Error),
    /// ZeroMQ failed otherwise.
    #[error("ZAP handler: {0}")]
    Zmq(#[from] zmq::Error),
    /// The handler thread could not start.
    #[error("cannot start the ZAP thread: {0}")]
    Thread(std::io::Error),
}

/// The ZAP endpoint of RFC 27.
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// ryre's ZAP handler: answers libzmq's authentication requests for the CURVE inbox of one
/// context. A client key the trust settings accept gets 200 with the key (Z85) as User-Id, so
/// every message carries the key its connection authenticated; any other gets 400.
pub(crate) struct ZapHandler {
    stop: std::sync::Mutex<zmq::Socket>,
    thread: Option<JoinHandle<()>>,
    refused: Arc<AtomicU64>,
}

impl ZapHandler {
    /// Binds the handler in `ctx`; fails (and the node must not start) if it cannot.
    pub fn install(ctx: &zmq::Context, trust: Trust) -> Result<ZapHandler, ZapError> {
        if !zmq::has("curve").unwrap_or(false) {
            return Err(ZapError::NoCurve);
        }
        let rep = ctx.socket(zmq::REP)?;
        rep.set_linger(0)?;
        rep.bind(ZAP_ENDPOINT).map_err(ZapError::Bind)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let ctl = format!(
            "inproc://ryre-zap-stop-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let stop_rx = ctx.socket(zmq::PAIR)?;
        stop_rx.set_linger(0)?;
        stop_rx.bind(&ctl)?;
        let stop = ctx.socket(zmq::PAIR)?;
        stop.set_linger(0)?;
        stop.connect(&ctl)?;
        let refused = Arc::new(AtomicU64::new(0));
        let count = refused.clone();
        let thread = std::thread::Builder::new()
            .name("ryre-zap".into())
            .spawn(move || serve(rep, stop_rx, trust, count))
            .map_err(ZapError::Thread)?;
        Ok(ZapHandler {
            stop: std::sync::Mutex::new(stop),
            thread: Some(thread),
            refused,
        })
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for ZapHandler {
    fn drop(&mut self) {
        if let Ok(stop) = self.stop.lock() {
            let _ = stop.send("", 0);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The decision for one ZAP request: `Ok(user id)` or `Err(reason)`.
pub(crate) fn decide(
    trust: &Trust,
    mechanism: &[u8],
    credentials: &[&[u8]],
) -> Result<String, &'static str> {
    if mechanism != b"CURVE" {
        return Err("only CURVE is accepted");
    }
    let key = credentials
        .first()
        .and_then(|c| <[u8; 32]>::try_from(*c).ok())
        .map(PublicKey)
        .ok_or("no CURVE key")?;
    if key == PublicKey([0; 32]) || !trust.allows(&key) {
        return Err("key not trusted");
    }
    Ok(key.to_z85())
}

fn serve(rep: zmq::Socket, stop: zmq::Socket, trust: Trust, refused: Arc<AtomicU64>) {
    loop {
        let mut items = [
            rep.as_poll_item(zmq::POLLIN),
            stop.as_poll_item(zmq::POLLIN),
        ];
        match zmq::poll(&mut items, -1) {
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(_) => return,
        }
        if items[1].is_readable() {
            return;
        }
        if !items[0].is_readable() {
            continue;
        }
        let frames = match rep.recv_multipart(0) {
            Ok(f) => f,
            Err(zmq::Error::ETERM) => return,
            Err(_) => continue,
        };
        // version, request id, domain, address, identity, mechanism, credentials...
        let reply: Vec<Vec<u8>> = if frames.len() < 6 || frames[0] != b"1.0" {
            let id = frames.get(1).cloned().unwrap_or_default();
            vec![
                b"1.0".to_vec(),
                id,
                b"500".to_vec(),
                b"malformed ZAP request".to_vec(),
                vec![],
                vec![],
            ]
        } else {
            let creds: Vec<&[u8]> = frames[6..].iter().map(Vec::as_slice).collect();
            match decide(&trust, &frames[5], &creds) {
                Ok(user) => vec![
                    b"1.0".to_vec(),
                    frames[1].clone(),
                    b"200".to_vec(),
                    b"OK".to_vec(),
                    user.into_bytes(),
                    vec![],
                ],
                Err(why) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                    let addr = String::from_utf8_lossy(&frames[3]).into_owned();
                    warn!(%addr, reason = why, "CURVE connection refused");
                    vec![
                        b"1.0".to_vec(),
                        frames[1].clone(),
                        b"400".to_vec(),
                        why.as_bytes().to_vec(),
                        vec![],
                        vec![],
                    ]
                }
            }
        };
        if rep.send_multipart(reply, 0).is_err() {
            return;
        }
    }
}

/// A ZeroMQ context handed to the builder (Debug for the builder's sake).
#[derive(Clone)]
pub(crate) struct Context(pub zmq::Context);

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("zmq::Context")
    }
}

/// What a secure node puts in its beacons: the key pair and the replay counter.
pub(crate) struct BeaconSigner {
    keys: KeyPair,
    counter: AtomicU64,
}

impl BeaconSigner {
    pub fn new(keys: KeyPair) -> Self {
        // Start from the wall clock in microseconds, so counters also grow across restarts.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2))
            .unwrap_or(1);
        BeaconSigner {
            keys,
            counter: AtomicU64::new(start),
        }
    }

    /// The datagrams of one beacon round: Zyre's 54-byte v3 beacon, then the signed one.
    pub fn beacons(&self, id: PeerId, port: u16) -> [Vec<u8>; 2] {
        let v3 = Beacon {
            id,
            port,
            public_key: Some(*self.keys.public().as_bytes()),
        }
        .encode();
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        [v3, self.keys.signed_beacon(id, port, n)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey([n; 32])
    }

    #[test]
    fn zap_decisions() {
        let keys = Trust::Keys([key(1)].into());
        assert_eq!(decide(&keys, b"CURVE", &[&[1; 32]]), Ok(key(1).to_z85()));
        assert!(decide(&keys, b"CURVE", &[&[2; 32]]).is_err());
        assert!(decide(&keys, b"PLAIN", &[b"user", b"pass"]).is_err());
        assert!(decide(&keys, b"NULL", &[]).is_err());
        assert!(decide(&keys, b"CURVE", &[&[1; 31]]).is_err());
        assert!(decide(&Trust::FirstUse, b"CURVE", &[&[2; 32]]).is_ok());
        assert!(decide(&Trust::FirstUse, b"CURVE", &[&[0; 32]]).is_err());
    }

    #[test]
    fn a_second_zap_handler_in_one_context_is_refused() {
        let ctx = zmq::Context::new();
        let first = ZapHandler::install(&ctx, Trust::FirstUse).expect("first handler");
        let second = ZapHandler::install(&ctx, Trust::FirstUse);
        assert!(
            matches!(second, Err(ZapError::Bind(zmq::Error::EADDRINUSE))),
            "{:?}",
            second.err()
        );
        drop(first);
        // Once the first is gone the endpoint is free again (libzmq's reaper thread releases
        // an inproc endpoint a moment after zmq_close: retry, bounded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let again = loop {
            match ZapHandler::install(&ctx, Trust::FirstUse) {
                Err(ZapError::Bind(zmq::Error::EADDRINUSE))
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
                other => break other,
            }
        };
        assert!(again.is_ok(), "{:?}", again.err());
    }
}
