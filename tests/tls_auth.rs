//! End-to-end checks of bearer tokens and TLS with client certificates, against a real tonic
//! server on a loopback port serving the standard gRPC health service behind
//! `dunghan::auth::interceptor`.
//!
//! Certificates are generated in the test with rcgen; nothing leaves loopback or a temporary
//! folder.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dunghan::auth::{interceptor, Authenticator};
use dunghan::config::{hash_token, Role, TlsConfig, TokenConfig};
use dunghan::tls::{client_tls, server_tls};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Server, ServerTlsConfig};
use tonic::{Code, Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const TOKEN: &str = "dh_test-token-for-the-hcm-center";

/// A server running on a bound loopback listener until [`TestServer::stop`].
struct TestServer {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl TestServer {
    async fn start(tokens: &[TokenConfig], tls: Option<ServerTlsConfig>) -> TestServer {
        // Binding first means the port is ready before any client connects: no sleep.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let auth = Arc::new(Authenticator::new(tokens).unwrap());
        let (_reporter, health) = tonic_health::server::health_reporter();
        let mut builder = Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).unwrap();
        }
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let router = builder.add_service(InterceptedService::new(health, interceptor(auth)));
        let task = tokio::spawn(router.serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            async {
                let _ = shutdown_rx.await;
            },
        ));
        TestServer {
            addr,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// Calls `Health/Check` on `channel`, sending `token` as a bearer token when given.
async fn check_health(channel: Channel, token: Option<&str>) -> Result<(), Status> {
    let header = token.map(|token| MetadataValue::try_from(format!("Bearer {token}")).unwrap());
    let mut client = HealthClient::with_interceptor(channel, move |mut request: Request<()>| {
        if let Some(header) = &header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    });
    let response = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    assert_eq!(response.into_inner().status, ServingStatus::Serving as i32);
    Ok(())
}

async fn plain_channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// How a TLS call failed.
#[derive(Debug)]
enum Failure {
    /// The connection (TCP or TLS handshake) failed.
    Connect(tonic::transport::Error),
    /// The call failed (with TLS 1.3 a refused client certificate surfaces here).
    Call(Status),
}

/// Connects over TLS and calls `Health/Check`.
async fn check_health_tls(
    addr: SocketAddr,
    tls: ClientTlsConfig,
    token: Option<&str>,
) -> Result<(), Failure> {
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(Failure::Connect)?;
    check_health(channel, token).await.map_err(Failure::Call)
}

/// Checks that TLS refused the connection for the reason `expected` (a rustls alert or
/// error name): the handshake failed, or (TLS 1.3, where the client finishes before the
/// server has checked its certificate) the first call failed with a transport error.
/// Never an answer, and never a refusal by the token check.
#[track_caller]
fn assert_refused_by_tls(result: Result<(), Failure>, expected: &str) {
    let chain = match result {
        Err(Failure::Connect(err)) => format!("{err:?}"),
        Err(Failure::Call(status)) if status.code() == Code::Unknown => format!("{status:?}"),
        other => panic!("expected a TLS refusal ({expected}), got {other:?}"),
    };
    assert!(chain.contains(expected), "expected {expected}, got {chain}");
}

fn token_config(name: &str, token: &str, role: Role) -> TokenConfig {
    TokenConfig {
        name: name.to_owned(),
        sha256: hash_token(token),
        role,
        units: vec![],
    }
}

#[tokio::test]
async fn open_mode_accepts_a_call_without_token() {
    let server = TestServer::start(&[], None).await;
    check_health(plain_channel(server.addr).await, None)
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_required_when_configured() {
    let tokens = [
        token_config("hcm-center", TOKEN, Role::Ingest),
        token_config("dashboard", "dh_another-token", Role::Read),
    ];
    let server = TestServer::start(&tokens, None).await;
    let channel = plain_channel(server.addr).await;

    let missing = check_health(channel.clone(), None).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");

    let wrong = check_health(channel.clone(), Some("dh_wrong-token"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");
    assert!(!wrong.message().contains("dh_wrong-token"), "{wrong:?}");

    check_health(channel.clone(), Some(TOKEN)).await.unwrap();
    check_health(channel, Some("dh_another-token"))
        .await
        .unwrap();
    server.stop().await;
}

/// PEM files of a CA, a server certificate for `localhost`, and a client certificate.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A client certificate signed by another CA, which the server must refuse.
    rogue_cert: PathBuf,
    rogue_key: PathBuf,
}

fn ca(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params, KeyPair::generate().unwrap())
}

fn leaf(
    dir: &Path,
    name: &str,
    purpose: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> (PathBuf, PathBuf) {
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let (ca_params, ca_key) = ca("dunghan test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let (server_cert, server_key) = leaf(
        dir.path(),
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
        &issuer,
    );
    let (client_cert, client_key) = leaf(
        dir.path(),
        "hcm-center",
        ExtendedKeyUsagePurpose::ClientAuth,
        &issuer,
    );
    let (rogue_params, rogue_key) = ca("rogue CA");
    let rogue_issuer = Issuer::new(rogue_params, rogue_key);
    let (rogue_cert, rogue_key) = leaf(
        dir.path(),
        "rogue",
        ExtendedKeyUsagePurpose::ClientAuth,
        &rogue_issuer,
    );
    Pki {
        _dir: dir,
        ca: ca_path,
        server_cert,
        server_key,
        client_cert,
        client_key,
        rogue_cert,
        rogue_key,
    }
}

#[tokio::test]
async fn tls_requires_a_client_certificate_signed_by_the_client_ca() {
    let pki = pki();
    let server_config = server_tls(&TlsConfig {
        cert: pki.server_cert.clone(),
        key: pki.server_key.clone(),
        client_ca: Some(pki.ca.clone()),
    })
    .unwrap();
    let tokens = [token_config("hcm-center", TOKEN, Role::Ingest)];
    let server = TestServer::start(&tokens, Some(server_config)).await;

    let with_cert = client_tls(
        &pki.ca,
        Some((&pki.client_cert, &pki.client_key)),
        "localhost",
    )
    .unwrap();
    check_health_tls(server.addr, with_cert.clone(), Some(TOKEN))
        .await
        .unwrap();

    // TLS does not replace the token: a valid certificate without one is still refused.
    let no_token = check_health_tls(server.addr, with_cert, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&no_token, Failure::Call(status) if status.code() == Code::Unauthenticated),
        "{no_token:?}"
    );

    let without_cert = client_tls(&pki.ca, None, "localhost").unwrap();
    let refused = check_health_tls(server.addr, without_cert, Some(TOKEN)).await;
    assert_refused_by_tls(refused, "CertificateRequired");

    let rogue = client_tls(
        &pki.ca,
        Some((&pki.rogue_cert, &pki.rogue_key)),
        "localhost",
    )
    .unwrap();
    let refused = check_health_tls(server.addr, rogue, Some(TOKEN)).await;
    assert_refused_by_tls(refused, "UnknownCA");

    // The server's name is checked too.
    let wrong_name = client_tls(
        &pki.ca,
        Some((&pki.client_cert, &pki.client_key)),
        "dunghan.example",
    )
    .unwrap();
    let refused = check_health_tls(server.addr, wrong_name, Some(TOKEN)).await;
    assert_refused_by_tls(refused, "NotValidForName");

    server.stop().await;
}

#[tokio::test]
async fn tls_without_client_ca_serves_any_client() {
    let pki = pki();
    let server_config = server_tls(&TlsConfig {
        cert: pki.server_cert.clone(),
        key: pki.server_key.clone(),
        client_ca: None,
    })
    .unwrap();
    let server = TestServer::start(&[], Some(server_config)).await;
    let without_cert = client_tls(&pki.ca, None, "localhost").unwrap();
    check_health_tls(server.addr, without_cert, None)
        .await
        .unwrap();
    server.stop().await;
}
