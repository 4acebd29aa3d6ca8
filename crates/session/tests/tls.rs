//! TLS to a real ZooKeeper's secure port (feature `tls`): one server, certificates made at test
//! time.
#![cfg(feature = "tls")]

use std::sync::OnceLock;
use std::time::Duration;

use zk_session::tls::TlsConfig;
use zk_session::{Client, CreateOptions, Error, Perms, SessionConfig, acl};
use zk_testkit::{ClientAuth, Server, ServerConfig, TestCertificates, free_port, unique_path};

struct Fixture {
    certs: TestCertificates,
    _server: Server,
    secure_port: u16,
}

/// A server that wants (but does not need) client certificates.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let certs = TestCertificates::generate().expect("openssl and keytool make certificates");
        let secure_port = free_port().unwrap();
        let server = ServerConfig::new()
            .tls(&certs, ClientAuth::Want, secure_port)
            .start()
            .expect("TLS server");
        Fixture {
            certs,
            _server: server,
            secure_port,
        }
    })
}

fn config(tls: TlsConfig) -> SessionConfig {
    SessionConfig {
        session_timeout: Duration::from_secs(4),
        tls: Some(tls),
        ..SessionConfig::default()
    }
}

async fn tls_client(host: &str, tls: TlsConfig) -> Result<Client, Error> {
    let f = tokio::task::block_in_place(fixture);
    Client::connect_with(&format!("{host}:{}", f.secure_port), config(tls)).await
}

fn ca() -> TlsConfig {
    let f = fixture();
    TlsConfig::from_files(&f.certs.ca_pem(), None, None).unwrap()
}

fn mutual() -> TlsConfig {
    let f = fixture();
    TlsConfig::from_files(
        &f.certs.ca_pem(),
        Some(&f.certs.client_cert_pem()),
        Some(&f.certs.client_key_pem()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_work_over_tls_with_hostname_verification() {
    let tls = tokio::task::block_in_place(ca);
    let c = tls_client("127.0.0.1", tls.clone())
        .await
        .expect("TLS by IP address");
    let path = unique_path("tls");
    c.create(&path, b"secret data", &CreateOptions::ephemeral())
        .await
        .unwrap();
    assert_eq!(&c.get_data(&path).await.unwrap().0[..], b"secret data");
    c.close().await;
    let c = tls_client("localhost", tls).await.expect("TLS by name");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused_with_a_clear_error() {
    let f = tokio::task::block_in_place(fixture);
    let tls = TlsConfig::from_files(&f.certs.other_ca_pem(), None, None).unwrap();
    match tls_client("127.0.0.1", tls).await {
        Err(Error::Tls(message)) => assert!(message.contains("certificate"), "{message}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_certificate_does_not_carry_is_refused_unless_verification_is_off() {
    let mut tls = tokio::task::block_in_place(ca);
    tls.server_name = Some("zookeeper.invalid".into());
    assert!(matches!(
        tls_client("127.0.0.1", tls.clone()).await,
        Err(Error::Tls(_))
    ));
    tls.verify_hostname = false;
    let c = tls_client("127.0.0.1", tls)
        .await
        .expect("chain still verified, name not");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_gives_an_x509_identity_that_an_x509_acl_admits() {
    let f = tokio::task::block_in_place(fixture);
    let c = tls_client("127.0.0.1", tokio::task::block_in_place(mutual))
        .await
        .unwrap();
    let who = c.whoami().await.unwrap();
    assert!(
        who.iter().any(|i| i.auth_scheme.as_deref() == Some("x509")
            && i.user.as_deref() == Some(f.certs.client_subject())),
        "{who:?}"
    );
    let path = unique_path("x509");
    let acl = vec![acl::x509(Perms::ALL, f.certs.client_subject())];
    c.create(&path, b"mine", &CreateOptions::persistent().with_acl(acl))
        .await
        .unwrap();
    assert_eq!(&c.get_data(&path).await.unwrap().0[..], b"mine");
    let anonymous = tls_client("127.0.0.1", tokio::task::block_in_place(ca))
        .await
        .unwrap();
    assert_eq!(anonymous.get_data(&path).await, Err(Error::NoAuth));
    anonymous.close().await;
    c.delete(&path, None).await.unwrap();
    c.close().await;
}

#[test]
fn debug_output_hides_the_client_key() {
    let f = fixture();
    let tls = TlsConfig::from_files(
        &f.certs.ca_pem(),
        Some(&f.certs.client_cert_pem()),
        Some(&f.certs.client_key_pem()),
    )
    .unwrap();
    let key = std::fs::read_to_string(f.certs.client_key_pem()).unwrap();
    let shown = format!("{tls:?}");
    assert!(!shown.contains(key.lines().nth(1).unwrap()), "{shown}");
}
