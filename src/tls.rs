//! TLS settings of the gRPC server and of the command-line clients, read from PEM files.
//!
//! This module owns reading and checking certificates and keys, so a bad file is refused at
//! startup with its path rather than at the first connection. It never generates
//! certificates, never logs key material, and never turns off verification: a client always
//! checks the server against the given CA, and a server with a client CA always requires a
//! client certificate signed by it.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::config::TlsConfig;

/// Why TLS could not be set up. Each variant names the file.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file should hold, e.g. `server certificate`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A certificate file holds no valid PEM certificate.
    #[error("{what} {path} holds no PEM certificate{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    NoCertificate {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The PEM parser's message, if it failed.
        reason: Option<String>,
    },
    /// A key file holds no valid PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{what} {path} holds no PEM private key: {reason}")]
    NoPrivateKey {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The PEM parser's message.
        reason: String,
    },
}

/// The server's TLS settings: its identity, and when `client_ca` is set, required client
/// certificates signed by that CA.
///
/// # Errors
/// [`TlsError`] naming the file that cannot be read or holds no certificate or key.
pub fn server_tls(config: &TlsConfig) -> Result<ServerTlsConfig, TlsError> {
    let identity = identity(
        "server certificate",
        &config.cert,
        "server key",
        &config.key,
    )?;
    let tls = ServerTlsConfig::new().identity(identity);
    match &config.client_ca {
        // `client_auth_optional` stays false: a client without a certificate is refused.
        Some(client_ca) => Ok(tls.client_ca_root(certificate("client CA", client_ca)?)),
        None => Ok(tls),
    }
}

/// A client's TLS settings: trust the server certificates signed by `ca`, expect the server
/// to be `domain`, and present `client_cert` (certificate, key) when the server requires
/// client certificates.
///
/// # Errors
/// [`TlsError`] naming the file that cannot be read or holds no certificate or key.
pub fn client_tls(
    ca: &Path,
    client_cert: Option<(&Path, &Path)>,
    domain: &str,
) -> Result<ClientTlsConfig, TlsError> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(certificate("CA certificate", ca)?)
        .domain_name(domain);
    match client_cert {
        Some((cert, key)) => {
            Ok(tls.identity(identity("client certificate", cert, "client key", key)?))
        }
        None => Ok(tls),
    }
}

/// Reads a PEM file of certificates, checking that it holds at least one.
fn certificate(what: &'static str, path: &Path) -> Result<Certificate, TlsError> {
    let pem = read(what, path)?;
    let mut n_certificates = 0usize;
    for parsed in CertificateDer::pem_slice_iter(&pem) {
        if let Err(err) = parsed {
            return Err(TlsError::NoCertificate {
                what,
                path: path.to_owned(),
                reason: Some(err.to_string()),
            });
        }
        n_certificates += 1;
    }
    if n_certificates == 0 {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_owned(),
            reason: None,
        });
    }
    Ok(Certificate::from_pem(pem))
}

/// Reads a certificate chain and its private key into an identity.
fn identity(
    cert_what: &'static str,
    cert: &Path,
    key_what: &'static str,
    key: &Path,
) -> Result<Identity, TlsError> {
    let cert_pem = certificate(cert_what, cert)?;
    let key_pem = read(key_what, key)?;
    // The parsed key is dropped at once: only the check matters, tonic parses it again.
    if let Err(err) = PrivateKeyDer::from_pem_slice(&key_pem) {
        return Err(TlsError::NoPrivateKey {
            what: key_what,
            path: key.to_owned(),
            reason: err.to_string(),
        });
    }
    Ok(Identity::from_pem(cert_pem.into_inner(), key_pem))
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let config = TlsConfig {
            cert: dir.path().join("missing.pem"),
            key: garbage.clone(),
            client_ca: None,
        };
        let err = server_tls(&config).unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Read {
                    what: "server certificate",
                    ..
                }
            ),
            "{err:?}"
        );

        let config = TlsConfig {
            cert: garbage.clone(),
            key: garbage.clone(),
            client_ca: None,
        };
        let err = server_tls(&config).unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::NoCertificate {
                    what: "server certificate",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("garbage.pem"), "{err}");

        let err = client_tls(&garbage, None, "localhost").unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::NoCertificate {
                    what: "CA certificate",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
