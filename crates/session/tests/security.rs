//! ACLs and authentication against a real ZooKeeper server.

use std::time::Duration;

use tokio::time::timeout;
use zk_session::{Client, CreateOptions, Error, Perms, SessionConfig, SessionState, acl};
use zk_testkit::{FaultProxy, shared_server, unique_path};

const WAIT: Duration = Duration::from_secs(20);

async fn client_at(cs: &str) -> Client {
    let config = SessionConfig {
        session_timeout: Duration::from_secs(10),
        ..SessionConfig::default()
    };
    Client::connect_with(cs, config).await.expect("connect")
}

#[tokio::test]
async fn a_digest_acl_admits_its_user_and_refuses_others() {
    let cs = shared_server().connect_string();
    let path = unique_path("digest-acl");
    let owner = client_at(&cs).await;
    let acl = vec![
        acl::digest(Perms::ALL, "dora", "s3cret"),
        acl::world(Perms::READ),
    ];
    owner
        .create(&path, b"v1", &CreateOptions::persistent().with_acl(acl))
        .await
        .unwrap();
    let stranger = client_at(&cs).await;
    assert_eq!(
        &stranger.get_data(&path).await.unwrap().0[..],
        b"v1",
        "world may read"
    );
    assert_eq!(
        stranger.set_data(&path, b"x", None).await,
        Err(Error::NoAuth)
    );
    stranger.add_auth("digest", b"dora:wrong").await.unwrap();
    assert_eq!(
        stranger.set_data(&path, b"x", None).await,
        Err(Error::NoAuth),
        "wrong password"
    );
    let dora = client_at(&cs).await;
    dora.add_auth("digest", b"dora:s3cret").await.unwrap();
    dora.set_data(&path, b"v2", None).await.unwrap();
    dora.delete(&path, None).await.unwrap();
    for c in [owner, stranger, dora] {
        c.close().await;
    }
}

#[tokio::test]
async fn digest_auth_is_replayed_after_a_reconnect() {
    let proxy = FaultProxy::start(shared_server().addr()).unwrap();
    let path = unique_path("digest-replay");
    let c = client_at(&proxy.connect_string()).await;
    c.add_auth("digest", b"erin:pw").await.unwrap();
    let acl = vec![acl::digest(Perms::ALL, "erin", "pw")];
    c.create(&path, b"", &CreateOptions::persistent().with_acl(acl))
        .await
        .unwrap();
    let id = c.session_id();
    let mut events = c.session_events();
    proxy.cut();
    timeout(WAIT, async {
        let mut down = false;
        while let Some(ev) = events.next().await {
            down |= ev.state == SessionState::Disconnected;
            if down && ev.state.is_connected() {
                return;
            }
        }
    })
    .await
    .expect("reconnected");
    assert_eq!(c.session_id(), id);
    // The new connection carries the identity again: the ACL still admits us.
    c.set_data(&path, b"after", None).await.unwrap();
    let who = c.whoami().await.unwrap();
    assert!(
        who.iter().any(
            |i| i.auth_scheme.as_deref() == Some("digest") && i.user.as_deref() == Some("erin")
        )
    );
    c.delete(&path, None).await.unwrap();
    c.close().await;
}

#[tokio::test]
async fn creator_acl_without_authentication_is_an_invalid_acl() {
    let c = client_at(&shared_server().connect_string()).await;
    let path = unique_path("creator");
    let result = c
        .create(
            &path,
            b"",
            &CreateOptions::persistent().with_acl(vec![acl::creator(Perms::ALL)]),
        )
        .await;
    assert_eq!(result.map(drop), Err(Error::InvalidAcl));
    c.close().await;
}

/// A server that knows the SASL user `bob` / `bobsecret`.
fn sasl_server() -> zk_testkit::Server {
    zk_testkit::ServerConfig::new()
        .sasl_digest_user("bob", "bobsecret")
        .start()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_digest_md5_authenticates_and_a_sasl_acl_admits_the_principal() {
    let server = tokio::task::block_in_place(sasl_server);
    let config = SessionConfig {
        sasl: Some(zk_session::sasl::SaslConfig::digest_md5("bob", "bobsecret")),
        ..SessionConfig::default()
    };
    let c = Client::connect_with(&server.connect_string(), config)
        .await
        .unwrap();
    let who = c.whoami().await.unwrap();
    assert!(
        who.iter()
            .any(|i| i.auth_scheme.as_deref() == Some("sasl") && i.user.as_deref() == Some("bob")),
        "{who:?}"
    );
    c.create(
        "/bobs",
        b"",
        &CreateOptions::persistent().with_acl(vec![acl::sasl(Perms::ALL, "bob")]),
    )
    .await
    .unwrap();
    let anonymous = Client::connect(&server.connect_string()).await.unwrap();
    assert_eq!(anonymous.get_data("/bobs").await, Err(Error::NoAuth));
    anonymous.close().await;
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sasl_password_ends_the_session_with_auth_failed() {
    let server = tokio::task::block_in_place(sasl_server);
    let config = SessionConfig {
        sasl: Some(zk_session::sasl::SaslConfig::digest_md5("bob", "wrong")),
        ..SessionConfig::default()
    };
    let result = Client::connect_with(&server.connect_string(), config).await;
    // The handshake itself succeeds; the SASL exchange then fails and ends the session.
    match result {
        Err(e) => assert_eq!(e, Error::AuthFailed),
        Ok(c) => {
            let r = c.get_data("/").await;
            assert_eq!(r.map(drop), Err(Error::AuthFailed));
            assert_eq!(c.state().state, SessionState::AuthFailed);
        }
    }
}
