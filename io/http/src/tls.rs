//! TLS on the mio loop (rustls, ring as its crypto provider; no OpenSSL, no tokio).
//!
//! [`TlsConfig`] holds the certificate chain and key read from PEM files. It can be
//! reloaded (SIGHUP in kaos-server): new connections take the new certificate, open ones
//! keep their sessions. [`Stream`] is a connection, plain or TLS, that the HTTP and
//! WebSocket loops read and write without caring which.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Plaintext a TLS connection buffers for sending before writes report `WouldBlock`.
const SEND_BUFFER_LIMIT: usize = 64 * 1024;

/// Why a certificate or key could not be used; the message names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// A server certificate and key, shared by the loops that terminate TLS, reloadable.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    current: Arc<RwLock<Configs>>,
    files: Option<(PathBuf, PathBuf)>,
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1
    /// or SEC1). Refuses a missing or unreadable file, a file with no certificate or key,
    /// and a key that does not belong to the certificate, naming the file.
    pub fn load(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<TlsConfig, TlsError> {
        let (cert, key) = (cert.as_ref().to_path_buf(), key.as_ref().to_path_buf());
        let config = build_from_files(&cert, &key)?;
        Ok(TlsConfig { current: Arc::new(RwLock::new(Configs::new(config))), files: Some((cert, key)) })
    }

    /// A configuration from PEM bytes (tests, embedded certificates); not reloadable.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        let config = build(cert, Path::new("<certificate>"), key, Path::new("<key>"))?;
        Ok(TlsConfig { current: Arc::new(RwLock::new(Configs::new(config))), files: None })
    }

    /// Reads the files again. On success new connections use them (open ones keep their
    /// sessions); on failure the old certificate stays in use and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some((cert, key)) = &self.files else {
            return Err(TlsError("this TLS configuration was not loaded from files".into()));
        };
        let config = build_from_files(cert, key)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Configs::new(config);
        Ok(())
    }

    /// The certificate and key files, if loaded from files.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        self.files.as_ref().map(|(c, k)| (c.as_path(), k.as_path()))
    }

    fn server_config(&self, offer_h2: bool) -> Arc<ServerConfig> {
        let configs = self.current.read().unwrap_or_else(PoisonError::into_inner);
        if offer_h2 {
            configs.http2.clone()
        } else {
            configs.http1.clone()
        }
    }
}

/// One certificate, offered with two ALPN lists: HTTP/1.1 only (WebSocket listeners),
/// and HTTP/2 first (the HTTP server).
#[derive(Debug)]
struct Configs {
    http1: Arc<ServerConfig>,
    http2: Arc<ServerConfig>,
}

impl Configs {
    fn new(http1: ServerConfig) -> Configs {
        let mut http2 = http1.clone();
        http2.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Configs { http1: Arc::new(http1), http2: Arc::new(http2) }
    }
}

/// `build` over the contents of the two files; a file that cannot be read is named.
fn build_from_files(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| TlsError(format!("{}: {e}", path.display())));
    build(&read(cert)?, cert, &read(key)?, key)
}

fn build(cert_pem: &[u8], cert_path: &Path, key_pem: &[u8], key_path: &Path) -> Result<ServerConfig, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("{}: not a PEM certificate chain: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!("{}: no certificate in the file", cert_path.display())));
    }
    check_validity(&certs[0], cert_path)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError(format!("{}: no usable private key: {e}", key_path.display())))?;
    // rustls marks ring's provider deprecated because it lacks the post-quantum key
    // exchange (X25519MLKEM768) that aws-lc-rs offers; its X25519 and P-256 exchanges are
    // today's browsers' fallback, and ring builds without a C toolchain for aws-lc.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        // TLS 1.3 and 1.2, with rustls's cipher suites (no weak ones exist in it).
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(format!("TLS settings: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            TlsError(format!(
                "{} and {}: the key does not fit the certificate: {e}",
                key_path.display(),
                cert_path.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Refuses a leaf certificate outside its validity period: every client would refuse
/// it, so a server starting with one would only look healthy.
fn check_validity(leaf: &CertificateDer<'_>, path: &Path) -> Result<(), TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| TlsError(format!("{}: the first certificate cannot be read: {e}", path.display())))?;
    let validity = cert.validity();
    let now = x509_parser::time::ASN1Time::now();
    if now > validity.not_after {
        return Err(TlsError(format!("{}: the certificate expired on {}", path.display(), validity.not_after)));
    }
    if now < validity.not_before {
        return Err(TlsError(format!(
            "{}: the certificate is not valid before {}",
            path.display(),
            validity.not_before
        )));
    }
    Ok(())
}

/// One TLS session over a non-blocking socket.
#[derive(Debug)]
pub struct TlsStream {
    sock: TcpStream,
    tls: rustls::ServerConnection,
}

impl TlsStream {
    /// Sends what rustls has queued (handshake messages, records) until the socket
    /// would block.
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A connection, plain TCP or TLS over it.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (boxed: a session holds its buffers).
    Tls(Box<TlsStream>),
}

impl Stream {
    /// A TLS server session over `sock` with the current certificate, offering HTTP/1.1.
    pub fn tls(sock: TcpStream, config: &TlsConfig) -> io::Result<Stream> {
        Stream::tls_alpn(sock, config, false)
    }

    /// A TLS server session that offers HTTP/2 (ALPN `h2`) before HTTP/1.1 when
    /// `offer_h2`; see [`Stream::is_h2`] once the handshake is done.
    pub fn tls_alpn(sock: TcpStream, config: &TlsConfig, offer_h2: bool) -> io::Result<Stream> {
        let mut tls = rustls::ServerConnection::new(config.server_config(offer_h2)).map_err(io::Error::other)?;
        tls.set_buffer_limit(Some(SEND_BUFFER_LIMIT));
        Ok(Stream::Tls(Box::new(TlsStream { sock, tls })))
    }

    fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
        }
    }

    /// Whether this is TLS. A short read from a TLS stream does not mean the socket is
    /// drained (rustls reads records one buffer at a time): read to `WouldBlock`.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Whether the TLS handshake is still in progress.
    pub fn is_handshaking(&self) -> bool {
        matches!(self, Stream::Tls(t) if t.tls.is_handshaking())
    }

    /// Whether the client chose HTTP/2 in the TLS handshake (ALPN `h2`).
    pub fn is_h2(&self) -> bool {
        matches!(self, Stream::Tls(t) if t.tls.alpn_protocol() == Some(b"h2"))
    }

    /// Whether TLS records wait to be written to the socket.
    pub fn has_pending_output(&self) -> bool {
        matches!(self, Stream::Tls(t) if t.tls.wants_write())
    }

    /// Writes what TLS has queued, until the socket would block.
    pub fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(t) => t.flush_tls(),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket().peer_addr()
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.socket().set_nodelay(on)
    }

    /// Shuts the socket down; a TLS stream first sends its close_notify (best effort).
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if let Stream::Tls(t) = self {
            t.tls.send_close_notify();
            let _ = t.flush_tls();
        }
        self.socket().shutdown(how)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = match self {
            Stream::Plain(s) => return s.read(buf),
            Stream::Tls(t) => t,
        };
        loop {
            match t.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the socket without close_notify: an end of stream here.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match t.tls.read_tls(&mut t.sock) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    let state = t.tls.process_new_packets();
                    // Handshake answers and alerts (the one for a protocol error too).
                    let flushed = t.flush_tls();
                    state.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    flushed?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = match self {
            Stream::Plain(s) => return s.write(buf),
            Stream::Tls(t) => t,
        };
        let mut n = t.tls.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            // rustls's send buffer is full: push records out, then try once more.
            t.flush_tls()?;
            n = t.tls.writer().write(buf)?;
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        t.flush_tls()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_pending()
    }
}

impl Source for Stream {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.register(registry, token, interests),
            Stream::Tls(t) => t.sock.register(registry, token, interests),
        }
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.reregister(registry, token, interests),
            Stream::Tls(t) => t.sock.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.deregister(registry),
            Stream::Tls(t) => t.sock.deregister(registry),
        }
    }
}
