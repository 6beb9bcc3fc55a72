//! Emulators behind TLS, as production buckets are: a certificate authority and a server
//! certificate for 127.0.0.1 generated at test time (rcgen), and a TLS-terminating proxy
//! (tokio-rustls) on 127.0.0.1 in front of a running emulator. lsprobe then talks HTTPS to the
//! proxy and trusts the CA through `STORAGE_AWS_S3_VERIFY=<bundle>`, as Label Studio would;
//! the emulator sees the very bytes boto3 sends over HTTPS (aws-chunked bodies).
//!
//! The proxy runs on a thread of the test process, so it ends with it: nothing to orphan.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The test PKI: the CA bundle lsprobe is told to trust, and one it is not.
pub struct Pki {
    /// PEM of the CA that signed the proxy's certificate.
    pub ca_bundle: PathBuf,
    /// PEM of an unrelated CA (a bundle that does not match the server).
    pub other_ca_bundle: PathBuf,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("lsprobe test CA {name}"));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("self-signed CA");
    (cert, rcgen::Issuer::new(params, key))
}

/// The PKI of this test process (made once), written under its state dir.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = super::test_state_dir("tls");
        std::fs::create_dir_all(&dir).expect("tls dir");
        let (ca_cert, issuer) = ca("A");
        let (other_cert, _) = ca("B");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &issuer).expect("server cert");
        let ca_bundle = dir.join("ca.pem");
        let other_ca_bundle = dir.join("other-ca.pem");
        std::fs::write(&ca_bundle, ca_cert.pem()).expect("write ca.pem");
        std::fs::write(&other_ca_bundle, other_cert.pem()).expect("write other-ca.pem");
        Pki {
            ca_bundle,
            other_ca_bundle,
            server_cert: cert.der().clone(),
            server_key: key.serialize_der(),
        }
    })
}

/// A TLS port on 127.0.0.1 forwarding to the plain-HTTP `backend_port` (one per backend).
pub fn tls_front(backend_port: u16) -> u16 {
    static FRONTS: OnceLock<Mutex<HashMap<u16, u16>>> = OnceLock::new();
    let fronts = FRONTS.get_or_init(Default::default);
    let mut fronts = fronts.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(port) = fronts.get(&backend_port) {
        return *port;
    }
    let pki = pki();
    let port = tls_front_with(
        backend_port,
        pki.server_cert.clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
    );
    fronts.insert(backend_port, port);
    port
}

/// A new TLS port on 127.0.0.1 presenting `cert` (signed by anything, or self-signed) and
/// forwarding to the plain-HTTP `backend_port`.
pub fn tls_front_with(
    backend_port: u16,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> u16 {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind TLS front");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return; // a client that does not trust the CA hangs up here
                    };
                    let Ok(mut backend) =
                        tokio::net::TcpStream::connect(("127.0.0.1", backend_port)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut backend).await;
                });
            }
        });
    });
    port
}
