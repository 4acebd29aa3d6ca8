//! The global options, connecting (a bare session or a zc-zk handle), authentication, and how
//! ZooKeeper errors become one-line messages.

use std::future::Future;
use std::time::Duration;

use clap::Args;
use zc_zk::{ZooKeeper, ZooKeeperOptions};
use zk_session::{Client, ConnectString, Error as ZkError, SessionConfig};

use crate::{Failure, duration};

/// The options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// ZooKeeper servers: HOST[:PORT][,HOST[:PORT]...][/CHROOT].
    #[arg(
        short = 's',
        long = "server",
        value_name = "CONNECTION",
        env = zc_zk::CONNECTION_STRING_ENV,
        default_value = zc_zk::DEFAULT_CONNECTION_STRING,
        global = true
    )]
    pub server: String,
    /// How long to wait for a connection or a reply, e.g. 500ms, 4s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration::parse, global = true)]
    pub timeout: Duration,
    /// The session timeout asked of the server (it clamps it to its own bounds).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration::parse, global = true)]
    pub session_timeout: Duration,
    /// Print results as JSON (where the output has structure).
    #[arg(long, global = true)]
    pub json: bool,
    /// Authenticate after connecting, e.g. digest:USER:PASSWORD (repeatable).
    #[arg(long, value_name = "SCHEME:CREDENTIALS", value_parser = secret, global = true)]
    pub auth: Vec<Secret>,
    /// Speak TLS to the servers' secure port, trusting this CA certificate (PEM). Any --tls-*
    /// option turns TLS on.
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// The client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The client's private key (PKCS#8 PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_key: Option<std::path::PathBuf>,
    /// Authenticate with SASL DIGEST-MD5 as USER (with --sasl-password-file).
    #[arg(long, value_name = "USER", global = true)]
    pub sasl_user: Option<String>,
    /// The file whose first line is the SASL password.
    #[arg(long, value_name = "FILE", global = true)]
    pub sasl_password_file: Option<std::path::PathBuf>,
}

/// A command-line value that must not be shown: its `Debug` is `<redacted>`.
#[derive(Clone)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Takes any value: checking happens later, in messages that do not echo it.
fn secret(text: &str) -> Result<Secret, String> {
    Ok(Secret(text.to_owned()))
}

fn parse_connection_string(text: &str) -> Result<String, String> {
    text.parse::<ConnectString>()
        .map(|_| text.trim().to_owned())
        .map_err(|_| {
            format!(
                "invalid connection string {text:?} (from --server or ${}): expected HOST[:PORT][,HOST[:PORT]...][/CHROOT], e.g. 127.0.0.1:2181",
                zc_zk::CONNECTION_STRING_ENV
            )
        })
}

/// An `add_auth` to make after connecting. Its `Debug` hides the credentials.
#[derive(Clone)]
pub struct Auth {
    scheme: String,
    credentials: Vec<u8>,
    /// What may be shown of it: the scheme, and for digest the user.
    shown: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Auth {
    /// Parses `SCHEME:CREDENTIALS` (`digest:USER:PASSWORD`). The error never contains the
    /// credentials.
    ///
    /// # Errors
    /// A message without the value.
    pub fn parse(text: &str) -> Result<Auth, String> {
        let Some((scheme, credentials)) = text.split_once(':') else {
            return Err("--auth expects SCHEME:CREDENTIALS, e.g. digest:USER:PASSWORD".into());
        };
        if scheme.is_empty() || credentials.is_empty() {
            return Err("--auth expects SCHEME:CREDENTIALS, e.g. digest:USER:PASSWORD".into());
        }
        let shown = if scheme == "digest" {
            match credentials.split_once(':') {
                Some((user, _)) if !user.is_empty() => format!("digest:{user}"),
                _ => {
                    return Err("--auth digest expects digest:USER:PASSWORD".into());
                }
            }
        } else {
            scheme.to_owned()
        };
        Ok(Auth {
            scheme: scheme.to_owned(),
            credentials: credentials.as_bytes().to_vec(),
            shown,
        })
    }
}

/// The validated global options, what commands connect with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The connection string.
    pub server: String,
    /// The connection and reply deadline.
    pub timeout: Duration,
    /// The session timeout asked of the server.
    pub session_timeout: Duration,
    /// Whether to print JSON.
    pub json: bool,
    /// Authentications to add.
    pub auth: Vec<Auth>,
    /// TLS files: CA, client certificate, client key.
    pub tls: Option<TlsFiles>,
    /// SASL DIGEST-MD5 user and password file.
    pub sasl: Option<(String, std::path::PathBuf)>,
}

/// The `--tls-*` files.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub struct TlsFiles {
    /// The CA certificate.
    pub ca: std::path::PathBuf,
    /// The client certificate.
    pub cert: Option<std::path::PathBuf>,
    /// The client key.
    pub key: Option<std::path::PathBuf>,
}

impl Settings {
    /// Validates the global options.
    ///
    /// # Errors
    /// A usage message (never containing credentials).
    pub fn new(args: GlobalArgs) -> Result<Settings, String> {
        let auth = args
            .auth
            .iter()
            .map(|a| Auth::parse(&a.0))
            .collect::<Result<_, _>>()?;
        let tls = match (args.tls_ca, args.tls_cert, args.tls_key) {
            (None, None, None) => None,
            (Some(ca), cert, key) => {
                if cert.is_some() != key.is_some() {
                    return Err("--tls-cert and --tls-key go together".into());
                }
                Some(TlsFiles { ca, cert, key })
            }
            (None, _, _) => return Err("TLS needs --tls-ca FILE (the CA to trust)".into()),
        };
        let sasl = match (args.sasl_user, args.sasl_password_file) {
            (None, None) => None,
            (Some(user), Some(file)) => Some((user, file)),
            _ => return Err("--sasl-user and --sasl-password-file go together".into()),
        };
        Ok(Settings {
            server: parse_connection_string(&args.server)?,
            timeout: args.timeout,
            session_timeout: args.session_timeout,
            json: args.json,
            auth,
            tls,
            sasl,
        })
    }

    fn session_config(&self) -> Result<SessionConfig, Failure> {
        let sasl = match &self.sasl {
            None => None,
            Some((user, file)) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| Failure(format!("cannot read {}: {e}", file.display())))?;
                let password = text.lines().next().unwrap_or_default().to_owned();
                Some(zk_session::sasl::SaslConfig::digest_md5(
                    user.clone(),
                    password,
                ))
            }
        };
        #[allow(unused_mut)]
        let mut config = SessionConfig {
            session_timeout: self.session_timeout,
            request_timeout: Some(self.timeout),
            close_timeout: self.timeout.min(Duration::from_secs(2)),
            sasl,
            ..SessionConfig::default()
        };
        if let Some(files) = &self.tls {
            #[cfg(feature = "tls")]
            {
                let tls = zk_session::tls::TlsConfig::from_files(
                    &files.ca,
                    files.cert.as_deref(),
                    files.key.as_deref(),
                )
                .map_err(|e| Failure(e.to_string()))?;
                config.tls = Some(tls);
            }
            #[cfg(not(feature = "tls"))]
            {
                let _ = files;
                return Err(Failure(
                    "this zk was built without TLS; build it with `--features tls`".into(),
                ));
            }
        }
        Ok(config)
    }

    fn cannot_connect(&self) -> Failure {
        Failure(format!(
            "cannot connect to ZooKeeper at {} within {}",
            self.server,
            duration::format(self.timeout)
        ))
    }

    /// Connects a bare session, waiting up to `--timeout`, and authenticates.
    ///
    /// # Errors
    /// No connection within the deadline; authentication failures.
    pub async fn client(&self) -> Result<Session, Failure> {
        let client = Client::start(&self.server, self.session_config()?)
            .map_err(|e| Failure(e.to_string()))?;
        match client.wait_connected(Some(self.timeout)).await {
            Ok(()) => {}
            Err(ZkError::Timeout) => {
                let cause = client.last_connect_error();
                client.close().await;
                if let Some((message, true)) = cause {
                    return Err(Failure(format!("TLS to {} failed: {message}", self.server)));
                }
                return Err(self.cannot_connect());
            }
            Err(e) => {
                client.close().await;
                return Err(Failure(format!("cannot connect to {}: {e}", self.server)));
            }
        }
        let session = Session {
            client,
            timeout: self.timeout,
        };
        if let Err(e) = self.authenticate(&session.client).await {
            session.client.close().await;
            return Err(e);
        }
        Ok(session)
    }

    /// Connects a zc-zk handle (it survives session expiry), waiting up to `--timeout`; zc-zk
    /// authenticates it, and every session after an expiry, with the `--auth` credentials.
    ///
    /// # Errors
    /// No connection within the deadline; authentication failures.
    pub async fn zookeeper(&self) -> Result<ZooKeeper, Failure> {
        let options = ZooKeeperOptions {
            session_timeout: self.session_timeout,
            connect_timeout: Some(self.timeout),
            session: self.session_config()?,
            auth: self
                .auth
                .iter()
                .map(|a| (a.scheme.clone(), a.credentials.clone()))
                .collect(),
            ..ZooKeeperOptions::default()
        };
        match ZooKeeper::connect_with(&self.server, options).await {
            Ok(zk) => Ok(zk),
            Err(zc_zk::Error::FailedConnect { .. }) => Err(self.cannot_connect()),
            Err(zc_zk::Error::ZooKeeper(ZkError::AuthFailed)) => {
                Err(Failure(format!("authentication failed at {}", self.server)))
            }
            Err(e) => Err(Failure(format!("cannot connect to {}: {e}", self.server))),
        }
    }

    /// Adds every `--auth` to `client`'s session.
    ///
    /// # Errors
    /// The first that fails, naming the scheme (and digest user), never the password.
    pub async fn authenticate(&self, client: &Client) -> Result<(), Failure> {
        for auth in &self.auth {
            let result = tokio::time::timeout(
                self.timeout,
                client.add_auth(&auth.scheme, &auth.credentials),
            )
            .await
            .unwrap_or(Err(ZkError::Timeout));
            if let Err(e) = result {
                return Err(Failure(format!("authentication as {:?} failed: {e}", auth)));
            }
        }
        Ok(())
    }
}

/// A connected bare session with the reply deadline.
#[derive(Debug)]
pub struct Session {
    /// The session.
    pub client: Client,
    /// How long a reply may take.
    pub timeout: Duration,
}

impl Session {
    /// Runs one ZooKeeper operation with the reply deadline.
    ///
    /// # Errors
    /// The operation's error, or [`ZkError::Timeout`].
    pub async fn op<T>(
        &self,
        fut: impl Future<Output = zk_session::Result<T>>,
    ) -> zk_session::Result<T> {
        with_deadline(self.timeout, fut).await
    }

    /// Closes the session (its ephemeral nodes go at once).
    pub async fn close(&self) {
        self.client.close().await;
    }
}

/// `fut`, failing with [`ZkError::Timeout`] past `timeout`.
///
/// # Errors
/// `fut`'s error, or [`ZkError::Timeout`].
pub async fn with_deadline<T, E: From<ZkError>>(
    timeout: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| Err(ZkError::Timeout.into()))
}

/// The one-line message of a ZooKeeper error about `path`: `no node: /a/b`.
pub fn describe(error: &ZkError, path: &str) -> Failure {
    Failure(match error {
        ZkError::InvalidPath { .. } | ZkError::InvalidArgument(_) => error.to_string(),
        ZkError::Unimplemented => format!(
            "{error}: {path} (TTL nodes need a server with zookeeper.extendedTypesEnabled=true)"
        ),
        ZkError::Timeout => format!("timed out: {path}"),
        _ => format!("{error}: {path}"),
    })
}

/// As [`describe`], for zc-zk's errors.
pub fn describe_zc(error: &zc_zk::Error, path: &str) -> Failure {
    match error {
        zc_zk::Error::ZooKeeper(e) => describe(e, path),
        zc_zk::Error::NoNode { path } => describe(&ZkError::NoNode, path),
        other => Failure(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_parses_and_never_shows_the_password() {
        let auth = Auth::parse("digest:alice:s3cret").unwrap();
        assert_eq!(auth.scheme, "digest");
        assert_eq!(auth.credentials, b"alice:s3cret");
        assert_eq!(format!("{auth:?}"), "digest:alice");
        for bad in ["digest", "digest:", ":x", "digest:alice", "digest::s3cret"] {
            let e = Auth::parse(bad).unwrap_err();
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn global_options_debug_hides_credentials() {
        let args = GlobalArgs {
            server: "h".into(),
            timeout: Duration::from_secs(1),
            session_timeout: Duration::from_secs(1),
            json: false,
            auth: vec![Secret("digest:alice:s3cret".into())],
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            sasl_user: None,
            sasl_password_file: None,
        };
        assert!(!format!("{args:?}").contains("s3cret"));
        let settings = Settings::new(args).unwrap();
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn errors_name_the_path() {
        assert_eq!(describe(&ZkError::NoNode, "/a/b").0, "no node: /a/b");
        assert_eq!(
            describe_zc(&zc_zk::Error::ZooKeeper(ZkError::NodeExists), "/a").0,
            "node exists: /a"
        );
    }
}
