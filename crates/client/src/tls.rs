//! Certificates to trust besides the public web roots: for a gateway whose certificate is
//! private (self-signed, or issued by an internal CA). Binance needs none of this.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;

/// Extra trusted certificates, in DER. Empty by default: the public web roots only.
///
/// ```
/// use userstream_client::TrustedCertificates;
///
/// assert!(TrustedCertificates::default().is_empty());
/// assert!(TrustedCertificates::from_pem(b"not PEM").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedCertificates(Vec<CertificateDer<'static>>);

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
        Ok(TrustedCertificates(certificates))
    }

    /// True when only the public roots are trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds these certificates to an HTTP client's roots.
    pub fn trust_in(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, CertificateError> {
        for certificate in &self.0 {
            let certificate = reqwest::Certificate::from_der(certificate)
                .map_err(|error| CertificateError(error.to_string()))?;
            builder = builder.add_root_certificate(certificate);
        }
        Ok(builder)
    }

    /// A TLS connector for WebSockets that trusts the public roots and these; `None` when
    /// there are none to add (the default connector then serves).
    pub(crate) fn websocket_connector(&self) -> Option<tokio_tungstenite::Connector> {
        if self.0.is_empty() {
            return None;
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // Certificates were parsed when read; one the verifier cannot use is skipped here and
        // the handshake then fails with the verifier's own reason.
        roots.add_parsable_certificates(self.0.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Some(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
    }
}
