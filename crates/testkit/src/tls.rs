//! Certificates made at test time (with the `openssl` and `keytool` commands) and the server
//! settings for ZooKeeper's TLS port.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::{Error, Result, ServerConfig};

/// The password of the generated Java key and trust stores.
pub const STORE_PASSWORD: &str = "testpass";

/// A throwaway PKI: a CA, a server certificate for `localhost` and `127.0.0.1`, a client
/// certificate, and an unrelated CA that trusts nothing of this set. Deleted on drop.
#[derive(Debug)]
pub struct TestCertificates {
    dir: TempDir,
}

/// Whether the server asks clients for a certificate (`ssl.clientAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate.
    None,
    /// A client certificate is requested but optional.
    Want,
    /// A client certificate is required (mutual TLS).
    Need,
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .output()
        .map_err(|e| Error::io(&format!("running {what} (is it installed?)"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::io(
            what,
            std::io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()),
        ))
    }
}

impl TestCertificates {
    /// Generates the certificates (a second or two: RSA keys).
    ///
    /// # Errors
    /// When `openssl` or `keytool` is missing or fails.
    pub fn generate() -> Result<TestCertificates> {
        let dir = tempfile::Builder::new()
            .prefix("zk-testkit-tls-")
            .tempdir()
            .map_err(|e| Error::io("creating the certificate directory", e))?;
        let d = dir.path();
        let p = |name: &str| d.join(name).display().to_string();
        let openssl = |args: &[&str], what: &str| {
            run(Command::new("openssl").args(args).current_dir(d), what)
        };
        for ca in ["ca", "other-ca"] {
            openssl(
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=zk-testkit {ca}"),
                    "-keyout",
                    &p(&format!("{ca}.key")),
                    "-out",
                    &p(&format!("{ca}.pem")),
                ],
                "openssl req (CA)",
            )?;
        }
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .map_err(|e| Error::io("writing server.ext", e))?;
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n")
            .map_err(|e| Error::io("writing client.ext", e))?;
        for (name, subject) in [
            ("server", "/CN=localhost"),
            ("client", "/O=zc-zk/CN=zk-client"),
        ] {
            openssl(
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    subject,
                    "-keyout",
                    &p(&format!("{name}.key")),
                    "-out",
                    &p(&format!("{name}.csr")),
                ],
                "openssl req (leaf)",
            )?;
            openssl(
                &[
                    "x509",
                    "-req",
                    "-in",
                    &p(&format!("{name}.csr")),
                    "-CA",
                    &p("ca.pem"),
                    "-CAkey",
                    &p("ca.key"),
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &p(&format!("{name}.ext")),
                    "-out",
                    &p(&format!("{name}.pem")),
                ],
                "openssl x509 (sign)",
            )?;
        }
        // rustls wants PKCS#8 keys.
        for name in ["server", "client"] {
            openssl(
                &[
                    "pkcs8",
                    "-topk8",
                    "-nocrypt",
                    "-in",
                    &p(&format!("{name}.key")),
                    "-out",
                    &p(&format!("{name}.pk8")),
                ],
                "openssl pkcs8",
            )?;
        }
        openssl(
            &[
                "pkcs12",
                "-export",
                "-in",
                &p("server.pem"),
                "-inkey",
                &p("server.key"),
                "-certfile",
                &p("ca.pem"),
                "-name",
                "server",
                "-passout",
                &format!("pass:{STORE_PASSWORD}"),
                "-out",
                &p("server.p12"),
            ],
            "openssl pkcs12",
        )?;
        run(
            Command::new("keytool").args([
                "-importcert",
                "-noprompt",
                "-storetype",
                "PKCS12",
                "-alias",
                "ca",
                "-keystore",
                &p("truststore.p12"),
                "-storepass",
                STORE_PASSWORD,
                "-file",
                &p("ca.pem"),
            ]),
            "keytool -importcert",
        )?;
        Ok(TestCertificates { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory holding every file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate (PEM) that signed the server and client certificates.
    pub fn ca_pem(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// A CA certificate (PEM) that signed nothing here: trusting only it must fail.
    pub fn other_ca_pem(&self) -> PathBuf {
        self.path("other-ca.pem")
    }

    /// The client certificate (PEM), subject `O=zc-zk, CN=zk-client`.
    pub fn client_cert_pem(&self) -> PathBuf {
        self.path("client.pem")
    }

    /// The client's private key (PKCS#8 PEM).
    pub fn client_key_pem(&self) -> PathBuf {
        self.path("client.pk8")
    }

    /// The client certificate's subject as ZooKeeper's x509 provider names it.
    pub fn client_subject(&self) -> &'static str {
        "CN=zk-client,O=zc-zk"
    }

    /// The server's key store (PKCS#12, password [`STORE_PASSWORD`]).
    pub fn server_keystore(&self) -> PathBuf {
        self.path("server.p12")
    }

    /// The server's trust store (PKCS#12 with the CA, password [`STORE_PASSWORD`]).
    pub fn server_truststore(&self) -> PathBuf {
        self.path("truststore.p12")
    }
}

impl ServerConfig {
    /// Serves TLS on `secure_port` (127.0.0.1) with `certs`, through the Netty connection
    /// factory, besides the plain client port; `client_auth` decides whether clients must
    /// present a certificate. The x509 auth provider is on, so a client certificate's subject
    /// becomes an `x509` identity.
    pub fn tls(self, certs: &TestCertificates, client_auth: ClientAuth, secure_port: u16) -> Self {
        let auth = match client_auth {
            ClientAuth::None => "none",
            ClientAuth::Want => "want",
            ClientAuth::Need => "need",
        };
        self.extra_config(format!("secureClientPort={secure_port}"))
            .extra_config("secureClientPortAddress=127.0.0.1")
            .system_property(
                "zookeeper.serverCnxnFactory",
                "org.apache.zookeeper.server.NettyServerCnxnFactory",
            )
            .system_property(
                "zookeeper.ssl.keyStore.location",
                certs.server_keystore().display().to_string(),
            )
            .system_property("zookeeper.ssl.keyStore.password", STORE_PASSWORD)
            .system_property("zookeeper.ssl.keyStore.type", "PKCS12")
            .system_property(
                "zookeeper.ssl.trustStore.location",
                certs.server_truststore().display().to_string(),
            )
            .system_property("zookeeper.ssl.trustStore.password", STORE_PASSWORD)
            .system_property("zookeeper.ssl.trustStore.type", "PKCS12")
            .system_property("zookeeper.ssl.clientAuth", auth)
            .system_property(
                "zookeeper.authProvider.x509",
                "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
            )
    }
}
