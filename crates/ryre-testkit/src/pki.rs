//! A throw-away certificate authority for certified-mode tests: a root CA in a temporary
//! directory (removed on drop), node certificates with the grants and service rights a test
//! asks for, and certified nodes on loopback that meet by explicit introduction (no beacons).

use std::path::PathBuf;

use ryre::certs::{self, CertFiles, Grant, Request, Role, Services};
use ryre::{Discovery, Node, NodeBuilder};

/// A root CA in a temporary directory, removed on drop.
pub struct Pki {
    /// Where its files (and the nodes' certificates) are.
    pub dir: PathBuf,
    /// The root CA.
    pub ca: CertFiles,
}

impl Pki {
    /// A fresh root CA valid from a minute ago for a day.
    pub fn new() -> Pki {
        let mut b = [0u8; 8];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (std::process::id() as u8).wrapping_add(i as u8);
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let dir = std::env::temp_dir().join(format!(
            "ryre-pki-{}-{nanos:016x}-{:016x}",
            std::process::id(),
            u64::from_be_bytes(b)
        ));
        let now = certs::unix_now();
        let ca = certs::create_ca(&dir, "root", now - 60, now + 86_400, false).expect("CA");
        Pki { dir, ca }
    }

    /// A node certificate named `name` with `grants` (`GROUP=RIGHTS`, as `ryre cert issue
    /// --group`) and `services`, valid from a minute ago for an hour.
    pub fn issue(&self, name: &str, grants: &[&str], services: Services) -> CertFiles {
        let now = certs::unix_now();
        certs::issue(
            &self.ca,
            &Request {
                name: name.into(),
                role: Role::Node,
                grants: grants
                    .iter()
                    .map(|g| Grant::parse(g).expect("grant"))
                    .collect(),
                services,
                not_before: now - 60,
                not_after: now + 3600,
            },
            &self.dir,
            false,
        )
        .expect("issued")
    }

    /// A builder of a certified node with `files`, trusting this CA, on a loopback endpoint
    /// with discovery off (introduce peers with [`link`]).
    pub fn builder(&self, files: &CertFiles) -> NodeBuilder {
        Node::builder()
            .name(files.cert().body().name.clone())
            .discovery(Discovery::Off)
            .interface("lo")
            .endpoint(crate::local_endpoint())
            .certificate(&files.base)
            .trust_ca(self.ca.cert_path())
    }

    /// A started certified node with `files`.
    pub fn node(&self, files: &CertFiles) -> Node {
        self.builder(files).start().expect("certified node starts")
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Introduces two certified nodes to each other: each connects to the other's endpoint with
/// its key. Does not wait (for nodes whose events a service reads).
pub fn introduce(a: &Node, fa: &CertFiles, b: &Node, fb: &CertFiles) {
    a.connect_peer_key(b.uuid(), b.endpoint(), fb.keys.public())
        .expect("connect");
    b.connect_peer_key(a.uuid(), a.endpoint(), fa.keys.public())
        .expect("connect");
}

/// [`introduce`], then waits until each has seen the other enter (taking their events up to
/// the ENTER).
pub fn link(a: &Node, fa: &CertFiles, b: &Node, fb: &CertFiles) {
    introduce(a, fa, b, fb);
    for (x, y) in [(a, b), (b, a)] {
        let id = y.uuid();
        crate::expect(
            x,
            &format!("ENTER {}", y.name()),
            |e| matches!(e, ryre::Event::Enter { peer, .. } if *peer == id),
        );
    }
}
