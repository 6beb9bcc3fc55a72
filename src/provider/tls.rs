//! TLS trust as boto3 (OpenSSL) applies a CA bundle: the bundle's certificates are the only
//! trust anchors, and a certificate that is itself in the bundle is trusted as the server's
//! certificate even when it is a CA (`openssl req -x509` makes CA:TRUE certificates, the common
//! self-signed MinIO setup); the host name is still checked. Failures are put in words.
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

/// The webpki verifier over the bundle, plus the bundle's certificates themselves.
#[derive(Debug)]
pub struct BundleVerifier {
    inner: Arc<WebPkiServerVerifier>,
    bundle: Vec<CertificateDer<'static>>,
}

impl BundleVerifier {
    /// Accepts `end_entity` as OpenSSL does when webpki refuses it only because it is a CA or
    /// self-signed, and it is byte for byte one of the bundle's certificates.
    fn pinned(&self, end_entity: &CertificateDer<'_>, refused: &Error) -> bool {
        let only_because_ca_or_self_signed = match refused {
            Error::InvalidCertificate(CertificateError::UnknownIssuer) => true,
            Error::InvalidCertificate(CertificateError::Other(o)) => {
                format!("{o:?}").contains("CaUsedAsEndEntity")
            }
            _ => false,
        };
        only_because_ca_or_self_signed
            && self
                .bundle
                .iter()
                .any(|c| c.as_ref() == end_entity.as_ref())
    }
}

impl ServerCertVerifier for BundleVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => Ok(v),
            Err(e) if self.pinned(end_entity, &e) => {
                let parsed = ParsedCertificate::try_from(end_entity)?;
                verify_server_name(&parsed, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The certificates of a PEM bundle (none when it holds none).
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// A rustls client configuration trusting exactly `bundle`, as boto3 does with `verify=<path>`.
pub fn client_config(bundle: Vec<CertificateDer<'static>>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(bundle.iter().cloned());
    if added == 0 {
        return Err("none of its certificates can be used as a trust anchor".into());
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(BundleVerifier { inner, bundle }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A certificate failure in words a person understands, when `error` is one.
pub fn in_words(error: &str) -> Option<&'static str> {
    const WORDS: &[(&str, &str)] = &[
        ("Expired", "the server's certificate has expired"),
        (
            "certificate expired",
            "the server's certificate has expired",
        ),
        ("NotValidYet", "the server's certificate is not valid yet"),
        ("not valid yet", "the server's certificate is not valid yet"),
        (
            "NotValidForName",
            "the server's certificate is not for this host name",
        ),
        (
            "not valid for name",
            "the server's certificate is not for this host name",
        ),
        (
            "CaUsedAsEndEntity",
            "the server presents a self-signed CA certificate that is not in the trusted bundle",
        ),
        (
            "UnknownIssuer",
            "the server's certificate is signed by a CA that is not trusted (self-signed, or \
             its CA is missing from the bundle)",
        ),
        (
            "BadSignature",
            "the server's certificate has a bad signature",
        ),
        ("Revoked", "the server's certificate is revoked"),
    ];
    WORDS
        .iter()
        .find(|(k, _)| error.contains(k))
        .map(|(_, w)| *w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_in_words() {
        assert_eq!(
            in_words("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))"),
            Some(
                "the server presents a self-signed CA certificate that is not in the trusted \
                 bundle"
            )
        );
        assert!(
            in_words("invalid peer certificate: Expired")
                .unwrap()
                .contains("expired")
        );
        assert!(
            in_words("invalid peer certificate: NotValidForName")
                .unwrap()
                .contains("host name")
        );
        assert!(
            in_words("invalid peer certificate: certificate not valid for name \"127.0.0.1\"")
                .unwrap()
                .contains("host name")
        );
        assert_eq!(in_words("connection refused"), None);
    }

    #[test]
    fn an_empty_bundle_is_refused() {
        assert!(pem_certificates(b"").unwrap().is_empty());
        assert!(client_config(Vec::new()).is_err());
    }
}
