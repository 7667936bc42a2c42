//! The connection shared by the client commands (`dunghan push`, `dunghan catalog load`):
//! server address, bearer token and optional TLS, as flags or environment variables.
//!
//! It only opens a channel and attaches the token; it never retries, and it never
//! prints the token (clap hides its environment value in `--help`).

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status};

use super::CliError;

/// The server address used when neither `--server` nor `DUNGHAN_SERVER` is given.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// How long to wait for the TCP connection (and TLS handshake) before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server is and how to authenticate to it.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The server's address; `https://` turns on TLS.
    #[arg(long, env = "DUNGHAN_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// The API token, sent as `authorization: Bearer <token>`.
    #[arg(long, env = "DUNGHAN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CA that signed the server's certificate (default: the system
    /// roots). Needs an `https://` server.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// PEM file of this client's certificate, for mutual TLS; needs --client-key.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM file of this client's private key, for mutual TLS; needs --client-cert.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

/// An interceptor that adds `authorization: Bearer <token>` to every request, or
/// nothing when no token was given.
#[derive(Debug, Clone)]
pub struct BearerToken {
    /// The whole header value, `Bearer <token>`, checked once when built.
    header: Option<MetadataValue<Ascii>>,
}

/// A channel whose requests carry the bearer token.
pub type AuthorizedChannel = InterceptedService<Channel, BearerToken>;

impl ClientArgs {
    /// Arguments for `server` with no token and no TLS files, as tests and embedding
    /// code use them.
    pub fn for_server(server: impl Into<String>) -> ClientArgs {
        ClientArgs {
            server: server.into(),
            token: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
        }
    }
}

impl BearerToken {
    /// The interceptor for `token`, or one that adds nothing for `None`.
    ///
    /// # Errors
    /// [`CliError::Argument`] if the token has characters an HTTP header cannot carry.
    pub fn new(token: Option<&str>) -> Result<BearerToken, CliError> {
        let Some(token) = token else {
            return Ok(BearerToken { header: None });
        };
        let header = format!("Bearer {token}")
            .parse::<MetadataValue<Ascii>>()
            .map_err(|_| CliError::Argument {
                flag: "token",
                // Never echo a secret, even a malformed one.
                value: "<hidden>".to_owned(),
                reason: "must be visible ASCII without spaces or control characters".to_owned(),
            })?;
        Ok(BearerToken {
            header: Some(header),
        })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// Opens a channel to `args.server`, with TLS when the address is `https://`.
///
/// The connection is made eagerly, so an unreachable server fails here, with its
/// address in the message, rather than at the first RPC.
///
/// # Errors
/// [`CliError::Argument`] for a malformed address or TLS files given for an
/// `http://` address, [`CliError::Read`] for an unreadable PEM file, and
/// [`CliError::Connect`] when the server cannot be reached.
pub async fn connect(args: &ClientArgs) -> Result<Channel, CliError> {
    let endpoint = endpoint(args)?;
    endpoint.connect().await.map_err(|err| CliError::Connect {
        server: args.server.clone(),
        reason: error_chain(&err),
    })
}

/// Opens a channel like [`connect`] and attaches the bearer token of `args`.
///
/// # Errors
/// As [`connect`], and [`CliError::Argument`] for a token that is not a valid header.
pub async fn connect_authorized(args: &ClientArgs) -> Result<AuthorizedChannel, CliError> {
    let token = BearerToken::new(args.token.as_deref())?;
    let channel = connect(args).await?;
    Ok(InterceptedService::new(channel, token))
}

/// The endpoint for `args`: address, timeout and TLS settings.
fn endpoint(args: &ClientArgs) -> Result<Endpoint, CliError> {
    let invalid_server = |reason: String| CliError::Argument {
        flag: "server",
        value: args.server.clone(),
        reason,
    };
    let endpoint = Endpoint::from_shared(args.server.clone())
        .map_err(|err| invalid_server(error_chain(&err)))?
        .connect_timeout(CONNECT_TIMEOUT);
    let uses_tls = match endpoint.uri().scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(invalid_server(
                "must start with http:// or https://".to_owned(),
            ))
        }
    };
    let has_tls_files =
        args.ca_cert.is_some() || args.client_cert.is_some() || args.client_key.is_some();
    if !uses_tls {
        if has_tls_files {
            return Err(invalid_server(
                "TLS files were given; use an https:// address".to_owned(),
            ));
        }
        return Ok(endpoint);
    }
    let mut tls = ClientTlsConfig::new();
    tls = match &args.ca_cert {
        Some(path) => tls.ca_certificate(Certificate::from_pem(read_pem(path)?)),
        None => tls.with_native_roots(),
    };
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        tls = tls.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
    }
    endpoint.tls_config(tls).map_err(|err| CliError::Connect {
        server: args.server.clone(),
        reason: error_chain(&err),
    })
}

/// The bytes of a PEM file.
fn read_pem(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|source| CliError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// `err` and each of its sources, joined by `": "`; tonic's transport errors say
/// only "transport error" at the top and keep the cause (refused, timed out) below.
pub(crate) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some layers repeat their source's message; print it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_becomes_a_bearer_header() {
        let mut interceptor = BearerToken::new(Some("s3cret")).unwrap();
        let request = interceptor.call(Request::new(())).unwrap();
        assert_eq!(
            request.metadata().get("authorization").unwrap(),
            "Bearer s3cret"
        );
    }

    #[test]
    fn no_token_adds_no_header() {
        let mut interceptor = BearerToken::new(None).unwrap();
        let request = interceptor.call(Request::new(())).unwrap();
        assert!(request.metadata().get("authorization").is_none());
    }

    #[test]
    fn token_with_newline_is_refused_without_echoing_it() {
        let err = BearerToken::new(Some("abc\ndef")).unwrap_err();
        assert!(matches!(err, CliError::Argument { flag: "token", .. }));
        assert!(!err.to_string().contains("abc"));
    }

    #[test]
    fn tls_files_need_https() {
        let mut args = ClientArgs::for_server("http://127.0.0.1:1");
        args.ca_cert = Some(PathBuf::from("ca.pem"));
        let err = endpoint(&args).unwrap_err();
        assert!(matches!(err, CliError::Argument { flag: "server", .. }));
    }

    #[test]
    fn address_without_scheme_is_refused() {
        let err = endpoint(&ClientArgs::for_server("127.0.0.1:50051")).unwrap_err();
        assert!(matches!(err, CliError::Argument { flag: "server", .. }));
    }
}
