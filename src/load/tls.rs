//! TLS settings for `STORAGE_AWS_S3_VERIFY` other than the platform's roots (the lean
//! request path of `lsprobe load`).
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::RunError;

/// Verifies against the CA bundle at `path` (PEM).
pub fn ca_bundle(path: &Path) -> Result<ClientConfig, RunError> {
    let bad = |e: String| {
        RunError::BadInput(format!(
            "STORAGE_AWS_S3_VERIFY: {} is not a usable PEM CA bundle: {e}",
            path.display()
        ))
    };
    let pem = crate::config::limits::read_bytes(path, crate::config::limits::MAX_PEM_BYTES)
        .map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    // The same trust as the checks (and boto3): a certificate in the bundle is trusted as the
    // server's own. The lean connection speaks HTTP/1.1 only: no ALPN.
    let mut config = crate::provider::tls::client_config(certs).map_err(bad)?;
    config.alpn_protocols.clear();
    Ok(config)
}

/// `STORAGE_AWS_S3_VERIFY=false`: no certificate verification, as Label Studio does then.
pub fn no_verification() -> ClientConfig {
    ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(
            rustls::crypto::ring::default_provider(),
        )))
        .with_no_client_auth()
}

#[derive(Debug)]
struct NoVerify(rustls::crypto::CryptoProvider);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
