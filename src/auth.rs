//! Bearer-token authentication and the pure authorization checks of the gRPC services.
//!
//! This module owns who a caller is ([`Principal`]): it turns the `authorization: Bearer
//! <token>` metadata of a request into a principal with a [`Role`] and a [`UnitScope`], and
//! answers whether that principal may do something. Handlers call [`principal`], then
//! [`Principal::require`] and [`Principal::may_touch`].
//!
//! It must never store, log or echo a token: tokens are hashed with SHA-256 as soon as they
//! are read, only the hash is compared, and every `Debug` and error message shows the
//! token's configured name at most. It does no I/O.
//!
//! # Why the lookup is safe against timing attacks
//!
//! Configured tokens are held in a `HashMap` keyed by their SHA-256 digest. A presented token
//! is hashed first and the digest is looked up, so the only comparisons that depend on secret
//! data compare the digest of the attacker's guess with stored digests. Timing can at most
//! reveal how many leading bytes of SHA-256(guess) match a stored digest (and the bucket is
//! chosen by SipHash with a per-process random key). Learning a prefix of a digest does not
//! help to find a token with that digest (SHA-256 is preimage resistant), so a byte-by-byte
//! timing attack on the token itself is impossible; a constant-time comparison of the digests
//! would add nothing. Tokens made by `dunghan token new` have 256 random bits, so brute
//! force is hopeless too.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use dunghan_domain::ids::UnitId;
use sha2::{Digest, Sha256};
use thiserror::Error;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use crate::config::{ConfigError, Role, TokenConfig};

/// Name of the principal every caller gets in open mode (no tokens configured).
pub const OPEN_PRINCIPAL_NAME: &str = "open";

/// An authenticated caller: the name of its token, its role and the units it may touch.
///
/// It holds no secret, so it may be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The configured name of the token (or [`OPEN_PRINCIPAL_NAME`]).
    pub name: String,
    /// What the caller may do.
    pub role: Role,
    /// Which units the caller may touch.
    pub scope: UnitScope,
}

/// The units a principal may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitScope {
    /// Every unit.
    All,
    /// The units in the subtrees rooted at these units (each root included).
    Subtrees(Vec<UnitId>),
}

/// Checks bearer tokens against the configured hashes.
///
/// `Debug` shows the token names only.
pub struct Authenticator {
    /// Principal of each configured token, keyed by the token's SHA-256 digest; empty in open
    /// mode.
    by_digest: HashMap<[u8; 32], Principal>,
}

/// Why a request was not authenticated. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The request has no `authorization` metadata.
    #[error("missing authorization metadata; send `authorization: Bearer <token>`")]
    MissingToken,
    /// The `authorization` metadata is not one `Bearer <token>` value.
    #[error("authorization metadata is not of the form `Bearer <token>`")]
    MalformedHeader,
    /// The token matches no configured token.
    #[error("unknown bearer token")]
    UnknownToken,
}

impl Principal {
    /// The principal of open mode: admin over every unit.
    pub fn open() -> Self {
        Self {
            name: OPEN_PRINCIPAL_NAME.to_owned(),
            role: Role::Admin,
            scope: UnitScope::All,
        }
    }

    /// Checks that the principal's role allows what `needed` allows (see [`Role::allows`]).
    ///
    /// # Errors
    /// `PERMISSION_DENIED` naming the role needed and the token's name and role.
    pub fn require(&self, needed: Role) -> Result<(), Status> {
        if self.role.allows(needed) {
            return Ok(());
        }
        Err(Status::permission_denied(format!(
            "this call needs role {needed}; token {:?} has role {}",
            self.name, self.role
        )))
    }

    /// Whether the principal may touch a unit, given the unit's ancestry chain (the unit
    /// first, then its parent and so on, as `Catalog::ancestry_at` returns it).
    ///
    /// True with [`UnitScope::All`], or if any root of the scope is in the chain. An empty
    /// chain (unknown unit) is touched only with [`UnitScope::All`].
    pub fn may_touch(&self, ancestry: &[UnitId]) -> bool {
        match &self.scope {
            UnitScope::All => true,
            UnitScope::Subtrees(roots) => ancestry.iter().any(|unit| roots.contains(unit)),
        }
    }
}

impl Authenticator {
    /// Builds the authenticator from the configured tokens; no tokens means open mode.
    ///
    /// # Errors
    /// [`ConfigError`] if a hash or unit id is invalid (which [`crate::config::load`] has
    /// already refused).
    pub fn new(tokens: &[TokenConfig]) -> Result<Self, ConfigError> {
        let mut by_digest = HashMap::with_capacity(tokens.len());
        for (index, token) in tokens.iter().enumerate() {
            let units = token.unit_ids(index)?;
            let scope = if units.is_empty() {
                UnitScope::All
            } else {
                UnitScope::Subtrees(units)
            };
            let principal = Principal {
                name: token.name.clone(),
                role: token.role,
                scope,
            };
            by_digest.insert(token.digest(index)?, principal);
        }
        Ok(Self { by_digest })
    }

    /// Whether no tokens are configured, so every caller is [`Principal::open`].
    pub fn is_open(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// Identifies the caller from the `authorization: Bearer <token>` metadata.
    ///
    /// In open mode every request is [`Principal::open`], with or without a token.
    ///
    /// # Errors
    /// [`AuthError`] if the metadata is missing or malformed, or the token is unknown.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Principal, AuthError> {
        if self.is_open() {
            return Ok(Principal::open());
        }
        let token = bearer_token(metadata)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_digest
            .get(&digest)
            .cloned()
            .ok_or(AuthError::UnknownToken)
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.by_digest.values().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        f.debug_struct("Authenticator")
            .field("tokens", &names)
            .finish()
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Status {
        match err {
            AuthError::MissingToken | AuthError::MalformedHeader | AuthError::UnknownToken => {
                Status::unauthenticated(err.to_string())
            }
        }
    }
}

/// A tonic interceptor that authenticates every request and stores its [`Principal`] in the
/// request's extensions, for [`principal`] to find.
///
/// Wrap each service with it (`InterceptedService::new(service, interceptor(auth))`).
/// Rejections are logged at `debug` with the reason and peer address, never the token.
///
/// # Errors
/// The returned closure fails with `UNAUTHENTICATED` when [`Authenticator::authenticate`]
/// fails.
pub fn interceptor(
    auth: Arc<Authenticator>,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
    move |mut request: Request<()>| match auth.authenticate(request.metadata()) {
        Ok(principal) => {
            tracing::debug!(token_name = %principal.name, role = %principal.role, "authenticated");
            request.extensions_mut().insert(principal);
            Ok(request)
        }
        Err(err) => {
            tracing::debug!(reason = %err, peer = ?request.remote_addr(), "refused unauthenticated request");
            Err(Status::from(err))
        }
    }
}

/// The principal that [`interceptor`] stored in `request`.
///
/// # Errors
/// `INTERNAL` if the request did not pass through the interceptor: a wiring bug, logged at
/// `error`.
pub fn principal<T>(request: &Request<T>) -> Result<&Principal, Status> {
    request.extensions().get::<Principal>().ok_or_else(|| {
        tracing::error!("request reached a handler without the authentication interceptor");
        Status::internal("request was not authenticated")
    })
}

/// The token of the single `authorization: Bearer <token>` value of `metadata`.
fn bearer_token(metadata: &MetadataMap) -> Result<&str, AuthError> {
    let mut values = metadata.get_all("authorization").iter();
    let value = values.next().ok_or(AuthError::MissingToken)?;
    if values.next().is_some() {
        return Err(AuthError::MalformedHeader);
    }
    let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    // The scheme is case-insensitive (RFC 7235 §2.1); the token is taken byte for byte.
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;
    use crate::config::hash_token;

    const TOKEN: &str = "dh_0123456789abcdef";

    fn unit(id: &str) -> UnitId {
        UnitId::new(id).unwrap()
    }

    fn authenticator() -> Authenticator {
        Authenticator::new(&[
            TokenConfig {
                name: "hcm-center".to_owned(),
                sha256: hash_token(TOKEN),
                role: Role::Ingest,
                units: vec!["79".to_owned()],
            },
            TokenConfig {
                name: "ministry".to_owned(),
                sha256: hash_token("other-token"),
                role: Role::Read,
                units: vec![],
            },
        ])
        .unwrap()
    }

    #[track_caller]
    fn check(header: Option<&str>, expected: Result<&str, AuthError>) {
        let mut metadata = MetadataMap::new();
        if let Some(header) = header {
            metadata.insert("authorization", header.parse().unwrap());
        }
        let got = authenticator().authenticate(&metadata);
        assert_eq!(
            got.map(|p| p.name).as_deref().map_err(Clone::clone),
            expected,
            "{header:?}"
        );
    }

    #[test]
    fn bearer_metadata() {
        check(Some(&format!("Bearer {TOKEN}")), Ok("hcm-center"));
        check(Some(&format!("bearer {TOKEN}")), Ok("hcm-center"));
        check(Some("Bearer other-token"), Ok("ministry"));
        check(None, Err(AuthError::MissingToken));
        check(Some(TOKEN), Err(AuthError::MalformedHeader));
        check(
            Some(&format!("Basic {TOKEN}")),
            Err(AuthError::MalformedHeader),
        );
        check(Some("Bearer "), Err(AuthError::MalformedHeader));
        check(
            Some(&format!("Bearer {TOKEN} x")),
            Err(AuthError::MalformedHeader),
        );
        check(
            Some(&format!("Bearer {TOKEN}x")),
            Err(AuthError::UnknownToken),
        );
        check(
            Some(&format!("Bearer {}", TOKEN.to_uppercase())),
            Err(AuthError::UnknownToken),
        );
    }

    #[test]
    fn two_authorization_values_are_malformed() {
        let mut metadata = MetadataMap::new();
        metadata.append("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        metadata.append("authorization", "Bearer other-token".parse().unwrap());
        assert_eq!(
            authenticator().authenticate(&metadata),
            Err(AuthError::MalformedHeader)
        );
    }

    #[test]
    fn principal_carries_role_and_scope() {
        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let principal = authenticator().authenticate(&metadata).unwrap();
        assert_eq!(
            principal,
            Principal {
                name: "hcm-center".to_owned(),
                role: Role::Ingest,
                scope: UnitScope::Subtrees(vec![unit("79")]),
            }
        );
    }

    #[test]
    fn open_mode_accepts_anything_as_admin() {
        let open = Authenticator::new(&[]).unwrap();
        assert!(open.is_open());
        assert_eq!(
            open.authenticate(&MetadataMap::new()),
            Ok(Principal::open())
        );
        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", "garbage".parse().unwrap());
        assert_eq!(open.authenticate(&metadata), Ok(Principal::open()));
    }

    #[test]
    fn errors_are_unauthenticated_and_never_show_the_token() {
        for err in [
            AuthError::MissingToken,
            AuthError::MalformedHeader,
            AuthError::UnknownToken,
        ] {
            let status = Status::from(err);
            assert_eq!(status.code(), Code::Unauthenticated);
            assert!(!status.message().contains(TOKEN));
        }
    }

    #[test]
    fn debug_never_shows_tokens_or_hashes() {
        let auth = authenticator();
        let debug = format!("{auth:?}");
        assert_eq!(
            debug,
            r#"Authenticator { tokens: ["hcm-center", "ministry"] }"#
        );
        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let principal = auth.authenticate(&metadata).unwrap();
        let debug = format!("{principal:?}");
        assert!(
            !debug.contains(TOKEN) && !debug.contains(&hash_token(TOKEN)),
            "{debug}"
        );
    }

    #[test]
    fn require_names_the_role_needed() {
        let reader = Principal {
            name: "dashboard".to_owned(),
            role: Role::Read,
            scope: UnitScope::All,
        };
        assert!(reader.require(Role::Read).is_ok());
        let status = reader.require(Role::Admin).unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(
            status.message(),
            "this call needs role admin; token \"dashboard\" has role read"
        );
        assert_eq!(
            reader.require(Role::Ingest).unwrap_err().code(),
            Code::PermissionDenied
        );
        assert!(Principal::open().require(Role::Ingest).is_ok());
    }

    #[test]
    fn may_touch_checks_the_ancestry_chain() {
        let principal = Principal {
            name: "district".to_owned(),
            role: Role::Read,
            scope: UnitScope::Subtrees(vec![unit("79.760"), unit("01")]),
        };
        // A commune under district 79.760, itself under province 79.
        assert!(principal.may_touch(&[unit("79.760.26734"), unit("79.760"), unit("79")]));
        assert!(principal.may_touch(&[unit("79.760"), unit("79")]));
        assert!(
            !principal.may_touch(&[unit("79")]),
            "the parent is outside the subtree"
        );
        assert!(!principal.may_touch(&[unit("79.761"), unit("79")]));
        assert!(!principal.may_touch(&[]));
        assert!(Principal::open().may_touch(&[]));
    }

    /// A log sink shared between the subscriber and the test.
    #[derive(Clone, Default)]
    struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn interceptor_logs_token_names_never_tokens() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let intercept = interceptor(Arc::new(authenticator()));
            for token in [TOKEN, "dh_wrong-token"] {
                let mut request = Request::new(());
                request
                    .metadata_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
                let _ = intercept(request);
            }
        });
        let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("token_name=hcm-center"), "{logs}");
        assert!(logs.contains("unknown bearer token"), "{logs}");
        for secret in [TOKEN, "dh_wrong-token", &hash_token(TOKEN)] {
            assert!(!logs.contains(secret), "{secret} in {logs}");
        }
    }

    #[test]
    fn interceptor_stores_the_principal() {
        let intercept = interceptor(Arc::new(authenticator()));
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let request = intercept(request).unwrap();
        assert_eq!(principal(&request).unwrap().name, "hcm-center");

        let status = intercept(Request::new(())).unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(
            principal(&Request::new(())).unwrap_err().code(),
            Code::Internal
        );
    }
}
