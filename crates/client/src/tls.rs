//! Certificates to trust besides the public web roots: for a gateway whose certificate is
//! private (self-signed, or issued by an internal CA). Binance needs none of this.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;

/// Extra trusted certificates. Empty by default: the public web roots only.
///
/// ```
/// use userstream_client::TrustedCertificates;
///
/// assert!(TrustedCertificates::default().is_empty());
/// assert!(TrustedCertificates::from_pem(b"not PEM").is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct TrustedCertificates {
    certificates: Vec<CertificateDer<'static>>,
    /// The WebSocket TLS configuration (public roots and these), made once.
    websocket: Option<Arc<rustls::ClientConfig>>,
}

impl PartialEq for TrustedCertificates {
    fn eq(&self, other: &Self) -> bool {
        self.certificates == other.certificates
    }
}

impl Eq for TrustedCertificates {}

/// A PEM text without a usable certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no usable certificate: {0}")]
pub struct CertificateError(String);

impl TrustedCertificates {
    /// Every `CERTIFICATE` block of a PEM text (a certificate, or a CA bundle).
    pub fn from_pem(pem: &[u8]) -> Result<TrustedCertificates, CertificateError> {
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| CertificateError(error.to_string()))?;
        if certificates.is_empty() {
            return Err(CertificateError("no CERTIFICATE block found".into()));
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for certificate in &certificates {
            roots
                .add(certificate.clone())
                .map_err(|error| CertificateError(error.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| CertificateError(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TrustedCertificates {
            certificates,
            websocket: Some(Arc::new(config)),
        })
    }

    /// True when only the public roots are trusted.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// Adds these certificates to an HTTP client's roots.
    pub fn trust_in(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, CertificateError> {
        for certificate in &self.certificates {
            let certificate = reqwest::Certificate::from_der(certificate)
                .map_err(|error| CertificateError(error.to_string()))?;
            builder = builder.add_root_certificate(certificate);
        }
        Ok(builder)
    }

    /// A TLS connector for WebSockets that trusts the public roots and these; `None` when
    /// there are none to add (the default connector then serves).
    pub(crate) fn websocket_connector(&self) -> Option<tokio_tungstenite::Connector> {
        self.websocket
            .clone()
            .map(tokio_tungstenite::Connector::Rustls)
    }
}
