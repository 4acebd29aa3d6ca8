//! `zk` with SASL and TLS against real servers.

use std::process::{Command, Output};
use std::time::Duration;

use zk_testkit::ServerConfig;

fn zk(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zk"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("zk runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "zk {args:?} did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sasl_flags_authenticate_and_a_wrong_password_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerConfig::new()
        .sasl_digest_user("bob", "bobsecret")
        .start()
        .unwrap();
    let good = dir.path().join("good");
    std::fs::write(&good, "bobsecret\n").unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "nope\n").unwrap();
    let cs = server.connect_string();
    let ok = zk(&[
        "-s",
        &cs,
        "--sasl-user",
        "bob",
        "--sasl-password-file",
        good.to_str().unwrap(),
        "ls",
        "/",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let denied = zk(&[
        "-s",
        &cs,
        "--timeout",
        "5s",
        "--sasl-user",
        "bob",
        "--sasl-password-file",
        bad.to_str().unwrap(),
        "ls",
        "/",
    ]);
    assert_eq!(denied.status.code(), Some(1), "{}", stderr(&denied));
    assert!(
        !stderr(&denied).contains("nope"),
        "the password is never shown"
    );
    assert_eq!(stderr(&denied).lines().count(), 1, "{}", stderr(&denied));
    let half = zk(&["-s", &cs, "--sasl-user", "bob", "ls", "/"]);
    assert_eq!(half.status.code(), Some(2), "{}", stderr(&half));
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_flags_explain_that_this_build_has_no_tls() {
    let out = zk(&[
        "-s",
        "127.0.0.1:1",
        "--tls-ca",
        "/nonexistent.pem",
        "ls",
        "/",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--features tls"), "{}", stderr(&out));
}

#[cfg(feature = "tls")]
#[test]
fn tls_flags_connect_and_an_untrusted_ca_is_refused() {
    use zk_testkit::{ClientAuth, TestCertificates, free_port};
    let certs = TestCertificates::generate().unwrap();
    let port = free_port().unwrap();
    let _server = ServerConfig::new()
        .tls(&certs, ClientAuth::Need, port)
        .start()
        .unwrap();
    let cs = format!("127.0.0.1:{port}");
    let (ca, cert, key) = (
        certs.ca_pem(),
        certs.client_cert_pem(),
        certs.client_key_pem(),
    );
    let ok = zk(&[
        "-s",
        &cs,
        "--tls-ca",
        ca.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "ls",
        "/",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let other = certs.other_ca_pem();
    let refused = zk(&[
        "-s",
        &cs,
        "--timeout",
        "3s",
        "--tls-ca",
        other.to_str().unwrap(),
        "ls",
        "/",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("TLS"), "{}", stderr(&refused));
}

#[test]
fn acls_on_create_register_acl_and_set_acl() {
    let cs = zk_testkit::shared_server().connect_string();
    let path = zk_testkit::unique_path("cli-acl");
    let created = zk(&[
        "-s",
        &cs,
        "create",
        &path,
        "v",
        "--acl",
        "digest-password:ann:pw:cdrwa",
        "--acl",
        "world:anyone:r",
    ]);
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    let acl = zk(&["-s", &cs, "acl", &path]);
    let shown = String::from_utf8_lossy(&acl.stdout).into_owned();
    assert!(shown.contains("world:anyone:r\n"), "{shown}");
    assert!(
        shown.contains("digest:ann:") && !shown.contains("pw:"),
        "{shown}"
    );
    let denied = zk(&["-s", &cs, "set", &path, "x"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        stderr(&denied).contains("not authorized"),
        "{}",
        stderr(&denied)
    );
    let allowed = zk(&["-s", &cs, "--auth", "digest:ann:pw", "set", &path, "x"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    let opened = zk(&[
        "-s",
        &cs,
        "--auth",
        "digest:ann:pw",
        "set-acl",
        &path,
        "world:anyone:cdrwa",
    ]);
    assert_eq!(opened.status.code(), Some(0), "{}", stderr(&opened));
    assert_eq!(
        String::from_utf8_lossy(&zk(&["-s", &cs, "acl", &path]).stdout),
        "world:anyone:cdrwa\n"
    );
    let bad = zk(&[
        "-s",
        &cs,
        "create",
        "/x",
        "--acl",
        "digest-password:ann:secretpw:zz",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(!stderr(&bad).contains("secretpw"), "{}", stderr(&bad));
}
