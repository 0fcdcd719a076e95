//! The emulator's HTTPS: a certificate authority generated at start, a server certificate it
//! signs for `localhost` and `127.0.0.1` (and `::1`), and a listener that hands axum TLS streams.
//!
//! The CA's PEM is what a caller trusts: [`EmulatorTls::ca_pem`] in process, or the file the
//! `moat emulator --ca-file` flag writes (for `moat run --arm-ca-file`, `SSL_CERT_FILE`, curl's
//! `--cacert`). Keys live only in memory and die with the process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Names the server certificate is valid for.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the TLS material could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the emulator's {what}: {source}")]
    Generate { what: &'static str, source: rcgen::Error },
    #[error("building the emulator's TLS server configuration: {0}")]
    Server(#[from] rustls::Error),
}

/// A CA and the server configuration of a certificate it signed.
#[derive(Clone)]
pub struct EmulatorTls {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for EmulatorTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorTls").finish_non_exhaustive()
    }
}

fn failed(what: &'static str) -> impl FnOnce(rcgen::Error) -> TlsError {
    move |source| TlsError::Generate { what, source }
}

impl EmulatorTls {
    /// A fresh CA (ECDSA P-256) and a server certificate for [`SERVER_NAMES`].
    pub fn generate() -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate().map_err(failed("CA key"))?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed("CA parameters"))?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name.push(DnType::CommonName, "moat ARM emulator CA");
        ca.distinguished_name.push(DnType::OrganizationName, "moat (tests only)");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).map_err(failed("CA certificate"))?;
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().map_err(failed("server key"))?;
        let mut leaf = CertificateParams::new(SERVER_NAMES.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map_err(failed("server parameters"))?;
        leaf.distinguished_name.push(DnType::CommonName, "localhost");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let leaf_cert = leaf.signed_by(&key, &issuer).map_err(failed("server certificate"))?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, private)?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(EmulatorTls { ca_pem: ca_cert.pem(), server: Arc::new(server) })
    }

    /// The CA certificate (PEM) to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Wraps a bound TCP listener: connections are accepted and their handshakes run in the
    /// background, so a slow client never holds up the others.
    pub fn listener(&self, tcp: TcpListener) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(self.server.clone());
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(tcp, acceptor, tx));
        Ok(TlsListener { rx, local, task })
    }
}

async fn accept_loop(tcp: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "emulator: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let out = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = out.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "emulator: TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "emulator: TLS handshake timed out"),
            }
        });
        if tx.is_closed() {
            return;
        }
    }
}

/// An axum listener of TLS connections (see [`EmulatorTls::listener`]).
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop only ends with the listener; never resolve then.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
