//! The servers of the TLS benchmark: web/servers.rs's, each given the certificate the
//! parent passes (`KAOS_TLS_CERT_PEM`, `KAOS_TLS_KEY_PEM`), rustls with ring on both
//! sides.

use std::sync::Arc;

use kaos_http::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::web_servers::{
    hyper_server, kaos_http_server, kaos_ws_server, listen, serve_hyper, tokio_tungstenite_server,
};

/// Runs server `kind`: prints its port, serves until stdin closes.
pub fn serve(kind: &str) {
    let (cert, key) = (std::env::var("KAOS_TLS_CERT_PEM").unwrap(), std::env::var("KAOS_TLS_KEY_PEM").unwrap());
    let kaos = || Some(TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap());
    let listener = listen();
    match kind {
        "kaos-http-tls" => kaos_http_server(listener, kaos()),
        "kaos-ws-tls" => kaos_ws_server(listener, kaos()),
        "hyper-rustls" => hyper_server(listener, Some(acceptor(&cert, &key, false))),
        "hyper-rustls-h2" => serve_hyper(listener, Some(acceptor(&cert, &key, true)), true),
        "tokio-tungstenite-rustls" => tokio_tungstenite_server(listener, None, Some(acceptor(&cert, &key, false))),
        other => panic!("unknown server {other}"),
    }
}

/// A TLS acceptor; with `h2`, offering HTTP/2 by ALPN.
fn acceptor(cert: &str, key: &str, h2: bool) -> tokio_rustls::TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    #[allow(deprecated)] // ring's provider, as kaos-http uses
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    if h2 {
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
