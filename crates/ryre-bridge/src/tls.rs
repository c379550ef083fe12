//! HTTPS for the bridge: a certificate chain and its private key (PEM files, or an ephemeral
//! self-signed certificate), served with rustls (the `ring` provider, TLS 1.2 and 1.3, ALPN
//! `http/1.1`).
//!
//! With [`BridgeConfig::tls`](crate::BridgeConfig::tls) set, every connection on the bridge's
//! port must complete a TLS handshake (within the header timeout) before anything is read as
//! HTTP: plain HTTP on that port is never served. The bearer token and everything else work as
//! over plain HTTP, for REST, SSE and WebSocket (`wss://`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rustls::crypto::ring as provider;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// Why a TLS setting could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file is not valid PEM (a broken section, bad base64).
    #[error("{what} {path} is not valid PEM: {detail}")]
    BadPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file (or `<memory>`).
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    #[error("{0} holds no certificate (no -----BEGIN CERTIFICATE----- section)")]
    NoCertificate(PathBuf),
    /// The key file holds no private key (`PRIVATE KEY`, `EC PRIVATE KEY` or `RSA PRIVATE
    /// KEY`).
    #[error("{0} holds no private key (no PKCS#8, SEC1 or PKCS#1 PRIVATE KEY section)")]
    NoKey(PathBuf),
    /// The private key is of a type or curve rustls cannot sign with (supported: RSA, ECDSA
    /// P-256 and P-384, Ed25519).
    #[error("unsupported private key: {0} (supported: RSA, ECDSA P-256 or P-384, Ed25519)")]
    UnsupportedKey(String),
    /// The private key is not the key of the first (leaf) certificate.
    #[error("the private key does not match the certificate (the first certificate of the chain must be the one the key belongs to)")]
    KeyMismatch,
    /// The first certificate cannot be parsed as X.509.
    #[error("bad certificate: {0}")]
    BadCertificate(String),
    /// A name for a self-signed certificate is neither an IP address nor a DNS name.
    #[error("cannot make a self-signed certificate: {0}")]
    SelfSigned(String),
}

/// What the bridge serves HTTPS with: a rustls server configuration and the leaf certificate.
/// Cheap to clone.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    leaf: CertificateDer<'static>,
    spki: Vec<u8>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("sha256", &self.fingerprint())
            .finish()
    }
}

impl TlsConfig {
    /// From PEM files: `cert` holds the chain, leaf first (`CERTIFICATE` sections; anything
    /// else in the file is skipped), `key` the leaf's private key (PKCS#8, SEC1 or PKCS#1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsConfig, TlsError> {
        let cert_pem = std::fs::read(cert).map_err(|source| TlsError::Read {
            what: "certificate",
            path: cert.to_path_buf(),
            source,
        })?;
        let key_pem = std::fs::read(key).map_err(|source| TlsError::Read {
            what: "private key",
            path: key.to_path_buf(),
            source,
        })?;
        TlsConfig::parse(&cert_pem, cert, &key_pem, key)
    }

    /// From PEM text in memory, as [`TlsConfig::from_pem_files`].
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsConfig, TlsError> {
        let here = Path::new("<memory>");
        TlsConfig::parse(cert_pem, here, key_pem, here)
    }

    /// An ephemeral self-signed certificate (ECDSA P-256, made now, never written anywhere)
    /// for `names`: each an IP address or a DNS name. Clients pin it by
    /// [`TlsConfig::fingerprint`] or [`TlsConfig::spki_sha256`].
    pub fn self_signed(names: &[String]) -> Result<TlsConfig, TlsError> {
        if names.is_empty() {
            return Err(TlsError::SelfSigned("no host name or address given".into()));
        }
        for n in names {
            let dns = !n.is_empty()
                && n.len() <= 253
                && n.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if n.parse::<std::net::IpAddr>().is_err() && !dns {
                return Err(TlsError::SelfSigned(format!(
                    "{n:?} is neither an IP address nor a DNS name"
                )));
            }
        }
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(names.to_vec())
            .map_err(|e| TlsError::SelfSigned(format!("{names:?}: {e}")))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0].clone());
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
        let key_der = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
        TlsConfig::build(vec![cert.der().clone()], key_der)
    }

    fn parse(
        cert_pem: &[u8],
        cert_path: &Path,
        key_pem: &[u8],
        key_path: &Path,
    ) -> Result<TlsConfig, TlsError> {
        let mut chain = Vec::new();
        for c in CertificateDer::pem_slice_iter(cert_pem) {
            chain.push(c.map_err(|e| TlsError::BadPem {
                what: "certificate",
                path: cert_path.to_path_buf(),
                detail: e.to_string(),
            })?);
        }
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(cert_path.to_path_buf()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey(key_path.to_path_buf()),
            e => TlsError::BadPem {
                what: "private key",
                path: key_path.to_path_buf(),
                detail: e.to_string(),
            },
        })?;
        TlsConfig::build(chain, key)
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<TlsConfig, TlsError> {
        let provider = Arc::new(provider::default_provider());
        let signer = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| TlsError::UnsupportedKey(e.to_string()))?;
        let spki = signer
            .public_key()
            .map(|k| k.as_ref().to_vec())
            .ok_or_else(|| TlsError::UnsupportedKey("its public key is unknown".into()))?;
        let leaf = chain[0].clone();
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::UnsupportedKey(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    TlsError::KeyMismatch
                }
                e => TlsError::BadCertificate(e.to_string()),
            })?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            server: Arc::new(server),
            leaf,
            spki,
        })
    }

    /// The SHA-256 of the leaf certificate (DER), as colon-separated upper-case hex: what
    /// browsers show and `openssl x509 -fingerprint -sha256` prints.
    pub fn fingerprint(&self) -> String {
        let d = Sha256::digest(self.leaf.as_ref());
        let hex: Vec<String> = d.iter().map(|b| format!("{b:02X}")).collect();
        hex.join(":")
    }

    /// The SHA-256 of the leaf's public key (SubjectPublicKeyInfo, DER) in base64: an HPKP-style
    /// pin, what chromium's `--ignore-certificate-errors-spki-list` and curl's `--pinnedpubkey
    /// sha256//...` take.
    pub fn spki_sha256(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&self.spki))
    }

    /// The leaf certificate in PEM, for a client to trust.
    pub fn certificate_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.leaf.as_ref());
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// The acceptor every connection goes through.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_round_trip() {
        let t = TlsConfig::self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert_eq!(t.fingerprint().len(), 32 * 3 - 1);
        let again = TlsConfig::from_pem(t.certificate_pem().as_bytes(), b"");
        assert!(matches!(again, Err(TlsError::NoKey(_))), "{again:?}");
    }

    #[test]
    fn no_names_no_certificate() {
        assert!(matches!(
            TlsConfig::self_signed(&[]),
            Err(TlsError::SelfSigned(_))
        ));
        assert!(matches!(
            TlsConfig::self_signed(&["bad name with spaces\0".into()]),
            Err(TlsError::SelfSigned(_))
        ));
    }
}
