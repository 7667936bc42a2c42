//! Typed configuration for `dunghan serve`, merged from its sources and validated once at
//! startup.
//!
//! This module owns the settings, their defaults, the TOML configuration file format and the
//! rules that refuse a dangerous or inconsistent configuration before anything is opened.
//! It never opens the store, binds a socket or logs: `main` does that with the [`Config`]
//! this module returns, and logs [`Config::warnings`].
//!
//! # Sources
//!
//! Later sources override earlier ones, setting by setting:
//!
//! 1. built-in defaults, which need no configuration at all;
//! 2. the TOML file given with `--config FILE` (or `DUNGHAN_CONFIG`);
//! 3. environment variables (`DUNGHAN_LISTEN`, ...);
//! 4. command-line flags.
//!
//! Tokens, TLS and limits are set in the file only: a secret-bearing list does not fit in a
//! flag, and a flag would show in `ps`.
//! Relative paths in the file are resolved against the file's directory; relative paths
//! from flags and environment variables against the working directory.
//!
//! # Settings
//!
//! | file key | environment variable | flag | default | meaning |
//! | --- | --- | --- | --- | --- |
//! | (none) | `DUNGHAN_CONFIG` | `--config FILE` | none | TOML configuration file to read |
//! | `listen` | `DUNGHAN_LISTEN` | `--listen ADDR` | `127.0.0.1:50051` | gRPC address to listen on; a non-loopback address needs at least one token |
//! | `data_dir` | `DUNGHAN_DATA_DIR` | `--data-dir DIR` | `./dunghan-data` | folder of the journal and the derived state |
//! | `catalog` | `DUNGHAN_CATALOG` | `--catalog FILE` | none | catalog document (TOML or JSON) loaded at start |
//! | `log_format` | `DUNGHAN_LOG_FORMAT` | `--log-format human\|json` | `human` | log output format |
//! | `log_filter` | `DUNGHAN_LOG` | `--log FILTER` | `info` | tracing filter, e.g. `info,dunghan::auth=debug` |
//! | `metrics_listen` | `DUNGHAN_METRICS_LISTEN` | `--metrics-listen ADDR` | none (off) | address of the metrics endpoint |
//! | `journal_segment_bytes` | | | `67108864` (64 MiB) | size at which the journal starts a new segment file |
//! | `limits.max_message_bytes` | | | `1048576` (1 MiB) | largest gRPC message accepted or sent |
//! | `limits.max_batch_events` | | | `1000` | most events in one batch call |
//! | `limits.max_string_bytes` | | | `2000` | longest free-text string field (notes, reasons) |
//! | `limits.max_concurrent_requests` | | | `256` | requests served at once; more are shed with `RESOURCE_EXHAUSTED` |
//! | `limits.ingest_queue_events` | | | `100000` | events waiting for the journal; more are shed with `RESOURCE_EXHAUSTED` |
//! | `limits.alert_subscriber_buffer_alerts` | | | `1024` | alerts buffered per subscriber before its stream ends with `RESOURCE_EXHAUSTED` |
//! | `tls.cert` | | | none (plain text) | PEM certificate chain of the server |
//! | `tls.key` | | | none | PEM private key of the server |
//! | `tls.client_ca` | | | none (no client certificates) | PEM CA certificates; when set, every client must present a certificate signed by one |
//! | `tokens[].name` | | | | name of the token, used in logs and errors; unique |
//! | `tokens[].sha256` | | | | hex SHA-256 of the token (from `dunghan token new`); the token itself is never stored |
//! | `tokens[].role` | | | | `ingest`, `read`, `operate` or `admin` (see [`Role`]) |
//! | `tokens[].units` | | | `[]` (all units) | unit ids whose subtrees the token may touch |
//!
//! With no `[[tokens]]` the server runs open (every caller is admin), and only on a loopback
//! address.
//!
//! # Example file
//!
//! ```toml
//! listen = "0.0.0.0:50051"
//! data_dir = "/var/lib/dunghan"
//! catalog = "catalog.toml"
//! log_format = "json"
//!
//! [limits]
//! max_concurrent_requests = 512
//!
//! [tls]
//! cert = "tls/server.pem"
//! key = "tls/server.key"
//! client_ca = "tls/clients-ca.pem"
//!
//! [[tokens]]
//! name = "hcm-one-stop"
//! sha256 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
//! role = "ingest"
//! units = ["79"]
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use dunghan_domain::ids::{IdError, UnitId};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Default gRPC listen address: loopback only, so an unconfigured server is never exposed.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default data folder, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./dunghan-data";
/// Default tracing filter.
pub const DEFAULT_LOG_FILTER: &str = "info";
/// Default journal segment size: 64 MiB.
pub const DEFAULT_JOURNAL_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Bytes of randomness in a token made by [`generate_token`].
pub const TOKEN_RANDOM_BYTES: usize = 32;
/// Prefix of tokens made by [`generate_token`], so secret scanners and people recognise them.
pub const TOKEN_PREFIX: &str = "dh_";

/// The validated configuration of `dunghan serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address of the gRPC server.
    pub listen: SocketAddr,
    /// Folder of the journal and the derived state.
    pub data_dir: PathBuf,
    /// Catalog document loaded at start, if any.
    pub catalog: Option<PathBuf>,
    /// Log output format.
    pub log_format: LogFormat,
    /// Tracing filter directives, checked to parse.
    pub log_filter: String,
    /// Bearer tokens; empty means open mode (loopback only).
    pub tokens: Vec<TokenConfig>,
    /// TLS settings; `None` serves plain text.
    pub tls: Option<TlsConfig>,
    /// Resource limits.
    pub limits: Limits,
    /// Size at which the journal starts a new segment file, in bytes.
    pub journal_segment_bytes: u64,
    /// Address of the metrics endpoint; `None` disables it.
    pub metrics_listen: Option<SocketAddr>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for a log collector.
    Json,
}

/// Resource limits; every one is greater than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest gRPC message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// Most events in one batch call.
    pub max_batch_events: usize,
    /// Longest free-text string field, in bytes.
    pub max_string_bytes: usize,
    /// Requests served at once; more are shed with `RESOURCE_EXHAUSTED`.
    pub max_concurrent_requests: usize,
    /// Events accepted but not yet in the journal; more are shed with `RESOURCE_EXHAUSTED`.
    pub ingest_queue_events: usize,
    /// Alerts buffered per alert subscriber before its stream ends with `RESOURCE_EXHAUSTED`.
    pub alert_subscriber_buffer_alerts: usize,
}

/// One bearer token, as configured: its name, the SHA-256 of its value, its role and scope.
///
/// `Debug` redacts the hash: a hash of a weak token could be brute-forced offline.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Name used in logs and errors, e.g. the service center it was given to; unique.
    pub name: String,
    /// Lowercase or uppercase hex of the SHA-256 of the token (64 characters).
    pub sha256: String,
    /// What the token may do.
    pub role: Role,
    /// Roots of the unit subtrees this token may touch; empty means every unit.
    #[serde(default)]
    pub units: Vec<String>,
}

/// What a token may do. Roles are not a ladder: `ingest` cannot read, and `read` cannot ingest.
///
/// Every role is further limited to its token's unit scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Push events, for files of its units only. Nothing else.
    Ingest,
    /// Query, list and report on files, statistics and the catalog within its subtree.
    Read,
    /// Everything `read` may, plus tail alerts and preview a rejudge.
    Operate,
    /// Everything, including ingest, catalog changes and a real rejudge.
    Admin,
}

/// TLS settings of the server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the server (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates; when set, every client must present a certificate signed by one.
    pub client_ca: Option<PathBuf>,
}

/// Flags of `dunghan serve`; clap fills each from its environment variable when the flag is
/// absent.
///
/// No flag has a clap default, so that an absent flag lets the file's value through.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE", env = "DUNGHAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:50051].
    #[arg(long, value_name = "ADDR", env = "DUNGHAN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Folder of the journal and the derived state [default: ./dunghan-data].
    #[arg(long, value_name = "DIR", env = "DUNGHAN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Catalog document (TOML or JSON) to load at start.
    #[arg(long, value_name = "FILE", env = "DUNGHAN_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// Log format [default: human].
    #[arg(long, value_enum, value_name = "FORMAT", env = "DUNGHAN_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Tracing filter, e.g. `info,dunghan::auth=debug` [default: info].
    #[arg(long = "log", value_name = "FILTER", env = "DUNGHAN_LOG")]
    pub log_filter: Option<String>,
    /// Address of the metrics endpoint [default: off].
    #[arg(long, value_name = "ADDR", env = "DUNGHAN_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Why the configuration was refused. Each variant names the setting and, unless it could be
/// a secret, the value.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML, has an unknown key, or a value of the wrong
    /// type; `message` names the key.
    #[error("configuration file {path}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// What is wrong, naming the key (from the TOML parser).
        message: String,
    },
    /// The server would run open (no tokens) on an address other than loopback.
    #[error(
        "listen = {listen}: no [[tokens]] are configured, so the server would be open to anyone; \
         configure tokens or listen on a loopback address such as 127.0.0.1"
    )]
    OpenOnNonLoopback {
        /// The listen address.
        listen: SocketAddr,
    },
    /// A TLS file is missing or not a readable file.
    #[error("{key} = {path}: {source}")]
    TlsFile {
        /// The key, e.g. `tls.cert`.
        key: &'static str,
        /// The path.
        path: PathBuf,
        /// Why it cannot be used.
        source: std::io::Error,
    },
    /// A token has an empty name.
    #[error("tokens[{index}].name is empty")]
    EmptyTokenName {
        /// Position of the token in the file, from 0.
        index: usize,
    },
    /// Two tokens have the same name.
    #[error("tokens[{index}].name = {name:?}: another token already has this name")]
    DuplicateTokenName {
        /// Position of the second token, from 0.
        index: usize,
        /// The name.
        name: String,
    },
    /// A token hash is not 64 hex characters. The value is not shown: it may be the token
    /// itself, pasted into the wrong field.
    #[error(
        "tokens[{index}].sha256 of token {name:?} is {len} characters long and must be 64 hex \
         characters (the SHA-256 printed by `dunghan token new`, never the token itself)"
    )]
    BadTokenHash {
        /// Position of the token, from 0.
        index: usize,
        /// The token's name.
        name: String,
        /// Length of the value given, in characters.
        len: usize,
    },
    /// Two tokens have the same hash, so a caller could not be told apart.
    #[error("tokens[{index}].sha256 of token {name:?} is the same as that of token {other:?}")]
    DuplicateTokenHash {
        /// Position of the second token, from 0.
        index: usize,
        /// Its name.
        name: String,
        /// The name of the first token with that hash.
        other: String,
    },
    /// A unit of a token's scope is not a valid unit id.
    #[error("tokens[{index}].units[{unit_index}] of token {name:?}: {source}")]
    BadTokenUnit {
        /// Position of the token, from 0.
        index: usize,
        /// Position of the unit in `units`, from 0.
        unit_index: usize,
        /// The token's name.
        name: String,
        /// Why the unit id is invalid (names the value).
        source: IdError,
    },
    /// A limit or size is zero.
    #[error("{key} = 0: must be greater than zero")]
    Zero {
        /// The key, e.g. `limits.max_batch_events`.
        key: &'static str,
    },
    /// The tracing filter does not parse.
    #[error("log_filter = {value:?}: {reason}")]
    BadLogFilter {
        /// The filter given.
        value: String,
        /// The parser's message.
        reason: String,
    },
}

/// Something allowed but probably unintended, for `main` to log as a warning at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWarning {
    /// No tokens: every caller on loopback is admin.
    OpenMode {
        /// The (loopback) listen address.
        listen: SocketAddr,
    },
    /// Tokens travel in clear text over a non-loopback address.
    TokensWithoutTls {
        /// The listen address.
        listen: SocketAddr,
    },
    /// The metrics endpoint, which has no authentication, listens beyond loopback.
    MetricsBeyondLoopback {
        /// The metrics address.
        metrics_listen: SocketAddr,
    },
}

/// Why a token could not be generated.
#[derive(Debug, Error)]
pub enum TokenError {
    /// The operating system's random source failed.
    #[error("the operating system's random source failed: {source}")]
    Entropy {
        /// The cause.
        source: getrandom::Error,
    },
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            catalog: None,
            log_format: LogFormat::Human,
            log_filter: DEFAULT_LOG_FILTER.to_owned(),
            tokens: Vec::new(),
            tls: None,
            limits: Limits::default(),
            journal_segment_bytes: DEFAULT_JOURNAL_SEGMENT_BYTES,
            metrics_listen: None,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_batch_events: 1000,
            max_string_bytes: 2000,
            max_concurrent_requests: 256,
            ingest_queue_events: 100_000,
            alert_subscriber_buffer_alerts: 1024,
        }
    }
}

impl Config {
    /// Whether the server runs without tokens, every caller being admin.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Checks every rule of the module doc; [`load`] calls it, and so should anyone who builds
    /// a `Config` by hand.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.is_open() && !self.listen.ip().is_loopback() {
            return Err(ConfigError::OpenOnNonLoopback {
                listen: self.listen,
            });
        }
        validate_tokens(&self.tokens)?;
        if let Some(tls) = &self.tls {
            check_file("tls.cert", &tls.cert)?;
            check_file("tls.key", &tls.key)?;
            if let Some(client_ca) = &tls.client_ca {
                check_file("tls.client_ca", client_ca)?;
            }
        }
        self.limits.validate()?;
        if self.journal_segment_bytes == 0 {
            return Err(ConfigError::Zero {
                key: "journal_segment_bytes",
            });
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log_filter) {
            return Err(ConfigError::BadLogFilter {
                value: self.log_filter.clone(),
                reason: err.to_string(),
            });
        }
        Ok(())
    }

    /// Things allowed but worth a warning in the log at start.
    pub fn warnings(&self) -> Vec<ConfigWarning> {
        let mut warnings = Vec::new();
        if self.is_open() {
            warnings.push(ConfigWarning::OpenMode {
                listen: self.listen,
            });
        } else if self.tls.is_none() && !self.listen.ip().is_loopback() {
            warnings.push(ConfigWarning::TokensWithoutTls {
                listen: self.listen,
            });
        }
        if let Some(metrics_listen) = self.metrics_listen {
            if !metrics_listen.ip().is_loopback() {
                warnings.push(ConfigWarning::MetricsBeyondLoopback { metrics_listen });
            }
        }
        warnings
    }
}

impl Limits {
    /// Checks that every limit is greater than zero.
    ///
    /// # Errors
    /// [`ConfigError::Zero`] naming the first zero limit.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limits = [
            ("limits.max_message_bytes", self.max_message_bytes),
            ("limits.max_batch_events", self.max_batch_events),
            ("limits.max_string_bytes", self.max_string_bytes),
            (
                "limits.max_concurrent_requests",
                self.max_concurrent_requests,
            ),
            ("limits.ingest_queue_events", self.ingest_queue_events),
            (
                "limits.alert_subscriber_buffer_alerts",
                self.alert_subscriber_buffer_alerts,
            ),
        ];
        match limits.iter().find(|(_, value)| *value == 0) {
            Some((key, _)) => Err(ConfigError::Zero { key }),
            None => Ok(()),
        }
    }
}

impl Role {
    /// Whether a token with this role may do what `needed` allows.
    ///
    /// `admin` may do everything; `operate` may also do what `read` may; otherwise a role
    /// allows only itself.
    pub fn allows(self, needed: Role) -> bool {
        match self {
            Role::Admin => true,
            Role::Operate => matches!(needed, Role::Operate | Role::Read),
            Role::Read => needed == Role::Read,
            Role::Ingest => needed == Role::Ingest,
        }
    }

    /// The role as written in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }
}

impl TokenConfig {
    /// The decoded SHA-256 of the token.
    ///
    /// # Errors
    /// [`ConfigError::BadTokenHash`] if `sha256` is not 64 hex characters; `index` only
    /// positions the token in that message.
    pub fn digest(&self, index: usize) -> Result<[u8; 32], ConfigError> {
        decode_digest(&self.sha256).ok_or_else(|| ConfigError::BadTokenHash {
            index,
            name: self.name.clone(),
            len: self.sha256.chars().count(),
        })
    }

    /// The validated unit ids of the token's scope (empty means every unit).
    ///
    /// # Errors
    /// [`ConfigError::BadTokenUnit`] for the first invalid unit id.
    pub fn unit_ids(&self, index: usize) -> Result<Vec<UnitId>, ConfigError> {
        self.units
            .iter()
            .enumerate()
            .map(|(unit_index, unit)| {
                UnitId::new(unit.as_str()).map_err(|source| ConfigError::BadTokenUnit {
                    index,
                    unit_index,
                    name: self.name.clone(),
                    source,
                })
            })
            .collect()
    }
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("sha256", &"<redacted>")
            .field("role", &self.role)
            .field("units", &self.units)
            .finish()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::OpenMode { listen } => write!(
                f,
                "no tokens configured: running open on {listen}, every local caller is admin"
            ),
            ConfigWarning::TokensWithoutTls { listen } => write!(
                f,
                "listening on {listen} without TLS: bearer tokens travel in clear text"
            ),
            ConfigWarning::MetricsBeyondLoopback { metrics_listen } => write!(
                f,
                "metrics listen on {metrics_listen} without authentication: anyone who reaches \
                 it can read them"
            ),
        }
    }
}

/// Builds the configuration from defaults, the file named by `args.config`, and the flags
/// and environment variables clap merged into `args`, then validates it.
///
/// # Errors
/// [`ConfigError`] if the file cannot be read or parsed, or the result breaks a rule.
pub fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let file = parse_file(path, &text)?;
        let base = path.parent().unwrap_or(Path::new(""));
        file.apply(base, &mut config);
    }
    apply_args(args, &mut config);
    config.validate()?;
    Ok(config)
}

/// Builds the configuration from a file's text and the flags, as [`load`] does, without
/// reading the file system for the file itself; relative paths in the text are resolved
/// against `base`.
///
/// # Errors
/// As [`load`], with `path` naming the file in messages.
pub fn load_from_str(
    path: &Path,
    text: &str,
    base: &Path,
    args: &ServeArgs,
) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    parse_file(path, text)?.apply(base, &mut config);
    apply_args(args, &mut config);
    config.validate()?;
    Ok(config)
}

/// Hex SHA-256 of `token`, as written in `tokens[].sha256`.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A new random token: [`TOKEN_PREFIX`] then 64 hex characters (32 bytes from the operating
/// system's random source).
///
/// # Errors
/// [`TokenError::Entropy`] if the random source fails.
pub fn generate_token() -> Result<String, TokenError> {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|source| TokenError::Entropy { source })?;
    Ok(format!("{TOKEN_PREFIX}{}", hex(&bytes)))
}

/// What `dunghan token new` prints: a new token, its hash, and a `[[tokens]]` entry to paste
/// into the configuration file.
///
/// # Errors
/// [`TokenError::Entropy`] if the random source fails.
pub fn token_new_output() -> Result<String, TokenError> {
    Ok(token_output(&generate_token()?))
}

/// The text of [`token_new_output`] for a given token.
pub fn token_output(token: &str) -> String {
    let sha256 = hash_token(token);
    format!(
        "token:  {token}\n\
         sha256: {sha256}\n\
         \n\
         Give the token to the client (it sends `authorization: Bearer <token>`); it is not\n\
         stored anywhere and cannot be shown again. Add this entry to the configuration file:\n\
         \n\
         [[tokens]]\n\
         name = \"CHANGE-ME\"        # who holds it, shown in logs\n\
         sha256 = \"{sha256}\"\n\
         role = \"read\"             # ingest, read, operate or admin\n\
         units = []                # unit ids of its subtrees; empty = all units\n"
    )
}

/// The configuration file: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    catalog: Option<PathBuf>,
    log_format: Option<LogFormat>,
    log_filter: Option<String>,
    metrics_listen: Option<SocketAddr>,
    journal_segment_bytes: Option<u64>,
    limits: Option<Limits>,
    tls: Option<TlsConfig>,
    tokens: Option<Vec<TokenConfig>>,
}

impl FileConfig {
    fn apply(self, base: &Path, config: &mut Config) {
        let resolve = |path: PathBuf| {
            if path.is_absolute() {
                path
            } else {
                base.join(path)
            }
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(data_dir) = self.data_dir {
            config.data_dir = resolve(data_dir);
        }
        if let Some(catalog) = self.catalog {
            config.catalog = Some(resolve(catalog));
        }
        if let Some(log_format) = self.log_format {
            config.log_format = log_format;
        }
        if let Some(log_filter) = self.log_filter {
            config.log_filter = log_filter;
        }
        if let Some(metrics_listen) = self.metrics_listen {
            config.metrics_listen = Some(metrics_listen);
        }
        if let Some(journal_segment_bytes) = self.journal_segment_bytes {
            config.journal_segment_bytes = journal_segment_bytes;
        }
        if let Some(limits) = self.limits {
            config.limits = limits;
        }
        if let Some(tls) = self.tls {
            config.tls = Some(TlsConfig {
                cert: resolve(tls.cert),
                key: resolve(tls.key),
                client_ca: tls.client_ca.map(resolve),
            });
        }
        if let Some(tokens) = self.tokens {
            config.tokens = tokens;
        }
    }
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|err| ConfigError::Parse {
        path: path.to_owned(),
        line: err.span().map(|span| line_of(text, span.start)),
        message: err.message().trim_end().to_owned(),
    })
}

fn apply_args(args: &ServeArgs, config: &mut Config) {
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = &args.data_dir {
        config.data_dir = data_dir.clone();
    }
    if let Some(catalog) = &args.catalog {
        config.catalog = Some(catalog.clone());
    }
    if let Some(log_format) = args.log_format {
        config.log_format = log_format;
    }
    if let Some(log_filter) = &args.log_filter {
        config.log_filter = log_filter.clone();
    }
    if let Some(metrics_listen) = args.metrics_listen {
        config.metrics_listen = Some(metrics_listen);
    }
}

fn validate_tokens(tokens: &[TokenConfig]) -> Result<(), ConfigError> {
    let mut names = BTreeMap::new();
    let mut digests: BTreeMap<[u8; 32], &str> = BTreeMap::new();
    for (index, token) in tokens.iter().enumerate() {
        if token.name.is_empty() {
            return Err(ConfigError::EmptyTokenName { index });
        }
        if names.insert(token.name.as_str(), index).is_some() {
            return Err(ConfigError::DuplicateTokenName {
                index,
                name: token.name.clone(),
            });
        }
        let digest = token.digest(index)?;
        if let Some(other) = digests.insert(digest, token.name.as_str()) {
            return Err(ConfigError::DuplicateTokenHash {
                index,
                name: token.name.clone(),
                other: other.to_owned(),
            });
        }
        token.unit_ids(index)?;
    }
    Ok(())
}

fn check_file(key: &'static str, path: &Path) -> Result<(), ConfigError> {
    let error = |source| ConfigError::TlsFile {
        key,
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(error)?;
    if !metadata.is_file() {
        return Err(error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    Ok(())
}

pub(crate) fn decode_digest(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        // Both digits are below 16, so the value fits in a byte.
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    Some(digest)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|byte| **byte == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";
    const HASH_B: &str = "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35";

    fn from_text(text: &str, args: &ServeArgs) -> Result<Config, ConfigError> {
        load_from_str(
            Path::new("dunghan.toml"),
            text,
            Path::new("/etc/dunghan"),
            args,
        )
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = load(&ServeArgs::default()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.data_dir, PathBuf::from("./dunghan-data"));
        assert_eq!(config.limits.max_message_bytes, 1 << 20);
        assert_eq!(config.journal_segment_bytes, 64 << 20);
        assert!(config.is_open());
        assert_eq!(
            config.warnings(),
            vec![ConfigWarning::OpenMode {
                listen: config.listen
            }]
        );
    }

    #[test]
    fn file_overrides_defaults_and_flags_override_file() {
        let text = format!(
            r#"
listen = "0.0.0.0:6000"
data_dir = "data"
catalog = "/srv/catalog.toml"
log_format = "json"
log_filter = "debug"

[limits]
max_batch_events = 10

[[tokens]]
name = "hcm"
sha256 = "{HASH_A}"
role = "ingest"
units = ["79"]
"#
        );
        let config = from_text(&text, &ServeArgs::default()).unwrap();
        assert_eq!(config.listen, "0.0.0.0:6000".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/etc/dunghan/data"));
        assert_eq!(config.catalog, Some(PathBuf::from("/srv/catalog.toml")));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.log_filter, "debug");
        assert_eq!(config.limits.max_batch_events, 10);
        assert_eq!(
            config.limits.max_string_bytes, 2000,
            "unset limits keep defaults"
        );
        assert_eq!(config.tokens[0].role, Role::Ingest);
        assert_eq!(
            config.warnings(),
            vec![ConfigWarning::TokensWithoutTls {
                listen: config.listen
            }]
        );

        let args = ServeArgs {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            data_dir: Some(PathBuf::from("here")),
            log_format: Some(LogFormat::Human),
            log_filter: Some("warn".to_owned()),
            ..ServeArgs::default()
        };
        let config = from_text(&text, &args).unwrap();
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        assert_eq!(config.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("here"));
        assert_eq!(config.log_format, LogFormat::Human);
        assert_eq!(config.log_filter, "warn");
        assert_eq!(config.catalog, Some(PathBuf::from("/srv/catalog.toml")));
    }

    #[test]
    fn flags_carry_their_environment_variables() {
        use clap::Parser;

        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        // Setting variables would race with other tests, so this checks the flags and the
        // names of their variables; clap itself gives a flag precedence over its variable.
        let cli =
            Cli::try_parse_from(["dunghan", "--listen", "127.0.0.1:1", "--log", "debug"]).unwrap();
        assert_eq!(cli.serve.listen, Some("127.0.0.1:1".parse().unwrap()));
        assert_eq!(cli.serve.log_filter.as_deref(), Some("debug"));
        let command = <Cli as clap::CommandFactory>::command();
        let envs: Vec<String> = command
            .get_arguments()
            .filter_map(|arg| arg.get_env().map(|env| env.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(
            envs,
            [
                "DUNGHAN_CONFIG",
                "DUNGHAN_LISTEN",
                "DUNGHAN_DATA_DIR",
                "DUNGHAN_CATALOG",
                "DUNGHAN_LOG_FORMAT",
                "DUNGHAN_LOG",
                "DUNGHAN_METRICS_LISTEN"
            ]
        );
    }

    #[test]
    fn metrics_beyond_loopback_is_a_warning() {
        let args = ServeArgs {
            metrics_listen: Some("0.0.0.0:9090".parse().unwrap()),
            ..ServeArgs::default()
        };
        let warnings = load(&args).unwrap().warnings();
        assert!(warnings.contains(&ConfigWarning::MetricsBeyondLoopback {
            metrics_listen: "0.0.0.0:9090".parse().unwrap()
        }));
    }

    #[test]
    fn unknown_key_is_refused_with_line_and_key() {
        let err = from_text(
            "listen = \"127.0.0.1:1\"\n\n[limits]\nmax_batch = 3\n",
            &ServeArgs::default(),
        )
        .unwrap_err();
        let ConfigError::Parse { line, message, .. } = &err else {
            panic!("expected a parse error, got {err:?}");
        };
        assert_eq!(*line, Some(4));
        assert!(message.contains("max_batch"), "{message}");
        assert!(
            err.to_string()
                .starts_with("configuration file dunghan.toml line 4:"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_line() {
        let err = from_text("data_dir = \"x\"\nlisten = 5\n", &ServeArgs::default()).unwrap_err();
        assert!(
            matches!(err, ConfigError::Parse { line: Some(2), .. }),
            "{err:?}"
        );
    }

    #[test]
    fn open_mode_on_non_loopback_is_refused() {
        let err = from_text("listen = \"0.0.0.0:50051\"\n", &ServeArgs::default()).unwrap_err();
        assert!(
            matches!(err, ConfigError::OpenOnNonLoopback { .. }),
            "{err:?}"
        );
        let args = ServeArgs {
            listen: Some("[::]:50051".parse().unwrap()),
            ..ServeArgs::default()
        };
        let err = load(&args).unwrap_err();
        assert!(
            matches!(err, ConfigError::OpenOnNonLoopback { .. }),
            "{err:?}"
        );
        let args = ServeArgs {
            listen: Some("[::1]:50051".parse().unwrap()),
            ..ServeArgs::default()
        };
        assert!(load(&args).is_ok());
    }

    fn token_text(name: &str, sha256: &str, units: &str) -> String {
        format!("[[tokens]]\nname = \"{name}\"\nsha256 = \"{sha256}\"\nrole = \"read\"\nunits = {units}\n")
    }

    #[test]
    fn token_rules() {
        let args = ServeArgs::default();
        let bad_hash = from_text(&token_text("a", "dh_secret", "[]"), &args).unwrap_err();
        assert!(matches!(
            bad_hash,
            ConfigError::BadTokenHash {
                index: 0,
                len: 9,
                ..
            }
        ));
        assert!(!bad_hash.to_string().contains("dh_secret"), "{bad_hash}");
        let not_hex = HASH_A.replace('6', "g");
        let err = from_text(&token_text("a", &not_hex, "[]"), &args).unwrap_err();
        assert!(matches!(err, ConfigError::BadTokenHash { .. }), "{err:?}");

        let two = token_text("a", HASH_A, "[]") + &token_text("a", HASH_B, "[]");
        let err = from_text(&two, &args).unwrap_err();
        assert!(
            matches!(err, ConfigError::DuplicateTokenName { index: 1, .. }),
            "{err:?}"
        );

        let same_hash =
            token_text("a", HASH_A, "[]") + &token_text("b", &HASH_A.to_uppercase(), "[]");
        let err = from_text(&same_hash, &args).unwrap_err();
        assert!(
            matches!(err, ConfigError::DuplicateTokenHash { index: 1, .. }),
            "{err:?}"
        );

        let err = from_text(&token_text("", HASH_A, "[]"), &args).unwrap_err();
        assert!(
            matches!(err, ConfigError::EmptyTokenName { index: 0 }),
            "{err:?}"
        );

        let err = from_text(&token_text("a", HASH_A, "[\"79\", \"\"]"), &args).unwrap_err();
        assert!(
            matches!(err, ConfigError::BadTokenUnit { unit_index: 1, .. }),
            "{err:?}"
        );

        let err = from_text(
            "[[tokens]]\nname = \"a\"\nsha256 = \"x\"\nrole = \"root\"\n",
            &args,
        )
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::Parse { line: Some(4), .. }),
            "{err:?}"
        );
    }

    #[test]
    fn zero_limit_is_refused_by_name() {
        let err =
            from_text("[limits]\ningest_queue_events = 0\n", &ServeArgs::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Zero {
                    key: "limits.ingest_queue_events"
                }
            ),
            "{err:?}"
        );
        let err = from_text("journal_segment_bytes = 0\n", &ServeArgs::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Zero {
                    key: "journal_segment_bytes"
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn bad_log_filter_is_refused() {
        let args = ServeArgs {
            log_filter: Some("info,dunghan=loud".to_owned()),
            ..ServeArgs::default()
        };
        let err = load(&args).unwrap_err();
        assert!(matches!(err, ConfigError::BadLogFilter { .. }), "{err:?}");
    }

    #[test]
    fn tls_files_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), "x").unwrap();
        std::fs::write(dir.path().join("key.pem"), "x").unwrap();
        let text = "[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\nclient_ca = \"ca.pem\"\n";
        let err = load_from_str(Path::new("f.toml"), text, dir.path(), &ServeArgs::default())
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::TlsFile {
                    key: "tls.client_ca",
                    ..
                }
            ),
            "{err:?}"
        );
        std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
        let config =
            load_from_str(Path::new("f.toml"), text, dir.path(), &ServeArgs::default()).unwrap();
        let tls = config.tls.unwrap();
        assert_eq!(tls.cert, dir.path().join("cert.pem"));
    }

    #[test]
    fn load_reads_the_file_named_by_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dunghan.toml");
        std::fs::write(&path, "data_dir = \"data\"\n").unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        assert_eq!(load(&args).unwrap().data_dir, dir.path().join("data"));
        let args = ServeArgs {
            config: Some(dir.path().join("missing.toml")),
            ..ServeArgs::default()
        };
        assert!(matches!(load(&args).unwrap_err(), ConfigError::Read { .. }));
    }

    #[test]
    fn token_hash_and_generation() {
        // Known SHA-256 of "1".
        assert_eq!(hash_token("1"), HASH_A);
        let token = generate_token().unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(token, generate_token().unwrap());
        assert_eq!(
            decode_digest(&hash_token(&token)).map(|d| d.len()),
            Some(32)
        );

        let output = token_output(&token);
        let entry = output.split_once("[[tokens]]").unwrap().1;
        assert!(
            !entry.contains(&token),
            "the config entry never holds the token"
        );
        // The printed entry, once named, is a valid configuration.
        let text = format!("[[tokens]]{}", entry.replace("CHANGE-ME", "hcm"));
        let config = from_text(&text, &ServeArgs::default()).unwrap();
        assert_eq!(
            config.tokens[0].digest(0).unwrap(),
            decode_digest(&hash_token(&token)).unwrap()
        );
    }

    #[test]
    fn debug_redacts_token_hash() {
        let token = TokenConfig {
            name: "hcm".to_owned(),
            sha256: HASH_A.to_owned(),
            role: Role::Admin,
            units: vec![],
        };
        let debug = format!("{token:?}");
        assert!(!debug.contains(HASH_A), "{debug}");
        assert!(debug.contains("hcm"), "{debug}");
    }

    #[test]
    fn roles_are_not_a_ladder() {
        use Role::{Admin, Ingest, Operate, Read};
        let all = [Ingest, Read, Operate, Admin];
        let allowed: Vec<(Role, Vec<Role>)> = all
            .iter()
            .map(|role| {
                (
                    *role,
                    all.iter().copied().filter(|n| role.allows(*n)).collect(),
                )
            })
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Ingest, vec![Ingest]),
                (Read, vec![Read]),
                (Operate, vec![Read, Operate]),
                (Admin, vec![Ingest, Read, Operate, Admin]),
            ]
        );
    }
}
