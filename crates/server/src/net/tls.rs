//! TLS for both listeners: a PEM certificate chain and key, reloadable while connections stay up.

use parking_lot::RwLock;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {path}: {message}")]
    Certificate { path: PathBuf, message: String },
    #[error("TLS key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("TLS: {0}")]
    Config(String),
}

/// The certificate in force, shared by both listeners. [`Tls::reload`] swaps it for the files'
/// current contents: handshakes from then on use the new one, open connections keep theirs.
#[derive(Clone)]
pub struct Tls(Arc<Files>);

struct Files {
    cert: PathBuf,
    key: PathBuf,
    acceptor: RwLock<TlsAcceptor>,
}

impl Tls {
    /// Reads the files now; a bad certificate or key stops the start.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let acceptor = read_acceptor(cert, key)?;
        Ok(Tls(Arc::new(Files {
            cert: cert.to_owned(),
            key: key.to_owned(),
            acceptor: RwLock::new(acceptor),
        })))
    }

    /// Reads the files again. On failure the certificate in force stays, and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let acceptor = read_acceptor(&self.0.cert, &self.0.key)?;
        *self.0.acceptor.write() = acceptor;
        Ok(())
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        self.0.acceptor.read().clone()
    }
}

fn read_acceptor(cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, TlsError> {
    let cert_error = |message: String| TlsError::Certificate {
        path: cert_path.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no CERTIFICATE block found".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::Key {
        path: key_path.to_owned(),
        message: e.to_string(),
    })?;
    // The provider is named, not taken from a process-wide default, so it cannot clash with
    // whatever else in the process uses rustls.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
