//! TLS to ZooKeeper's `secureClientPort` (feature `tls`), with rustls.
//!
//! The crypto provider is rustls' `ring`, which compiles C and assembly: that is why the feature
//! is off by default and the default build stays free of C. No well-kept pure-Rust provider for
//! rustls exists yet (`rustls-rustcrypto` is an alpha).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::Error;

/// How to speak TLS to the servers. `Debug` never shows the private key.
#[derive(Clone, Default)]
pub struct TlsConfig {
    /// PEM certificates of the certificate authorities to trust.
    pub ca_pem: Vec<u8>,
    /// The client's PEM certificate chain, for mutual TLS.
    pub client_cert_pem: Option<Vec<u8>>,
    /// The client's PEM private key, for mutual TLS.
    pub client_key_pem: Option<Vec<u8>>,
    /// The name to verify and send as SNI instead of each server's host.
    pub server_name: Option<String>,
    /// Whether the certificate must match the server's name. Default (true) in
    /// [`TlsConfig::new`]; turn off only for tests.
    pub verify_hostname: bool,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field("client_cert", &self.client_cert_pem.is_some())
            .field(
                "client_key",
                &self.client_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("server_name", &self.server_name)
            .field("verify_hostname", &self.verify_hostname)
            .finish()
    }
}

impl TlsConfig {
    /// Trust the authorities in `ca_pem`, verify host names.
    pub fn new(ca_pem: Vec<u8>) -> Self {
        Self {
            ca_pem,
            verify_hostname: true,
            ..Self::default()
        }
    }

    /// Reads the CA file (and the client certificate and key files, for mutual TLS).
    ///
    /// # Errors
    /// [`Error::Tls`] naming the file that could not be read.
    pub fn from_files(
        ca: &std::path::Path,
        client_cert: Option<&std::path::Path>,
        client_key: Option<&std::path::Path>,
    ) -> Result<Self, Error> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| Error::Tls(format!("cannot read {}: {e}", p.display())))
        };
        Ok(Self {
            client_cert_pem: client_cert.map(read).transpose()?,
            client_key_pem: client_key.map(read).transpose()?,
            ..Self::new(read(ca)?)
        })
    }

    /// Builds the connector.
    ///
    /// # Errors
    /// [`Error::Tls`] for unreadable PEM or a key that does not match.
    pub(crate) fn connector(&self) -> Result<tokio_rustls::TlsConnector, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&self.ca_pem) {
            let cert = cert.map_err(|e| Error::Tls(format!("bad CA PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::Tls(format!("bad CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(Error::Tls("no CA certificate in the CA PEM".into()));
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let roots = Arc::new(roots);
        let builder = if self.verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            let inner =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| Error::Tls(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName { inner }))
        };
        let config = match (&self.client_cert_pem, &self.client_key_pem) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Error::Tls(format!("bad client certificate PEM: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| Error::Tls(format!("bad client key PEM: {e}")))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::Tls(format!("client certificate and key: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(Error::Tls(
                    "a client certificate needs its key, and a key its certificate".into(),
                ));
            }
        };
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    /// The name to verify for `host`.
    pub(crate) fn server_name(&self, host: &str) -> Result<ServerName<'static>, Error> {
        let name = self.server_name.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_owned())
            .map_err(|e| Error::Tls(format!("bad server name {name:?}: {e}")))
    }
}

/// Verifies the chain but accepts any name (for `verify_hostname = false`).
#[derive(Debug)]
struct AnyName {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
