//! Extra certificate authorities moat trusts for ARM and for token requests, beside the
//! system's roots (`moat run --arm-ca-file`): a private cloud's CA, or the ARM emulator's.
//!
//! What the TLS stack honours on its own: moat's HTTP clients (reqwest 0.13 with rustls and
//! `rustls-platform-verifier`) load the platform roots through `rustls-native-certs`, which reads
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` **instead of** the system store when either is set. That
//! covers ARM and azure_identity's own client too, but replaces the public roots; an
//! [`ExtraTrust`] adds its CAs to them, for the ARM client and (through azure_core's transport
//! option) for the credential's token requests.

use std::path::Path;
use std::sync::Arc;

/// Why a CA file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the CA file {path}: {source} (give a PEM file of CA certificates)")]
    Read { path: String, source: std::io::Error },
    #[error("{what} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)")]
    Empty { what: String },
    #[error("{what} is not a valid PEM certificate bundle: {source}")]
    Parse { what: String, source: reqwest::Error },
    #[error("building an HTTP client that trusts {what}: {source}")]
    Client { what: String, source: reqwest::Error },
}

/// CA certificates trusted in addition to the system's roots. Empty by default.
#[derive(Clone, Default)]
pub struct ExtraTrust {
    pem: Vec<u8>,
    certs: Vec<reqwest::Certificate>,
    source: String,
}

impl PartialEq for ExtraTrust {
    fn eq(&self, other: &Self) -> bool {
        self.pem == other.pem
    }
}

impl std::fmt::Debug for ExtraTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraTrust").field("certificates", &self.certs.len()).field("source", &self.source).finish()
    }
}

impl ExtraTrust {
    /// The CA certificates in a PEM bundle.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TrustError> {
        Self::parse(pem, "the PEM given")
    }

    /// The CA certificates in a PEM file.
    pub fn from_file(path: &Path) -> Result<Self, TrustError> {
        let pem = std::fs::read(path).map_err(|source| TrustError::Read { path: path.display().to_string(), source })?;
        Self::parse(&pem, &path.display().to_string())
    }

    fn parse(pem: &[u8], what: &str) -> Result<Self, TrustError> {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|source| TrustError::Parse { what: what.to_string(), source })?;
        if certs.is_empty() {
            return Err(TrustError::Empty { what: what.to_string() });
        }
        Ok(Self { pem: pem.to_vec(), certs, source: what.to_string() })
    }

    /// No extra CA.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Where the CAs came from (a file name), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `builder` with these CAs trusted beside the system's roots.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        if self.certs.is_empty() { builder } else { builder.tls_certs_merge(self.certs.iter().cloned()) }
    }

    /// azure_identity client options whose HTTP client trusts these CAs too (unchanged when
    /// empty). The client follows no redirects, as azure_core's own does.
    pub fn azure_client_options(&self, mut options: azure_core::http::ClientOptions) -> Result<azure_core::http::ClientOptions, TrustError> {
        if self.is_empty() {
            return Ok(options);
        }
        let client = self
            .apply(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()))
            .build()
            .map_err(|source| TrustError::Client { what: self.source.clone(), source })?;
        options.transport = Some(azure_core::http::Transport::new(Arc::new(client)));
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert!(matches!(ExtraTrust::from_pem(b"hello"), Err(TrustError::Empty { .. })));
        let e = ExtraTrust::from_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        assert!(ExtraTrust::default().is_empty());
    }
}
