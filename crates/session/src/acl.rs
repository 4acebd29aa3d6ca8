//! Building ACLs: the id schemes, and digest ids computed exactly as the server does.

use base64::Engine;
use sha1::{Digest, Sha1};
use zk_proto::{ACL, Id, Perms};

/// The `digest` id for `user:password`: `user:base64(sha1("user:password"))`, as the server's
/// `DigestAuthenticationProvider.generateDigest` computes it. A client that authenticates with
/// `add_auth("digest", b"user:password")` matches an ACL with this id.
pub fn digest_id(user: &str, password: &str) -> Id {
    let hash = Sha1::digest(format!("{user}:{password}").as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(hash);
    Id::new("digest", format!("{user}:{encoded}"))
}

/// An ACL entry granting `perms` to `user` authenticated by digest with `password`.
pub fn digest(perms: Perms, user: &str, password: &str) -> ACL {
    ACL::new(perms, digest_id(user, password))
}

/// An ACL entry granting `perms` to clients connecting from `address` (`a.b.c.d` or
/// `a.b.c.d/bits`).
pub fn ip(perms: Perms, address: &str) -> ACL {
    ACL::new(perms, Id::new("ip", address))
}

/// An ACL entry granting `perms` to a SASL principal.
pub fn sasl(perms: Perms, principal: &str) -> ACL {
    ACL::new(perms, Id::new("sasl", principal))
}

/// An ACL entry granting `perms` to a TLS client certificate's subject (X.500 distinguished
/// name, as the server's `X509AuthenticationProvider` reports it).
pub fn x509(perms: Perms, subject: &str) -> ACL {
    ACL::new(perms, Id::new("x509", subject))
}

/// An ACL entry granting `perms` to everyone (`world:anyone`).
pub fn world(perms: Perms) -> ACL {
    ACL::new(perms, Id::anyone())
}

/// An ACL entry granting `perms` to whoever creates the node, by their authenticated ids
/// (`auth:`); creating with it fails with InvalidACL when the client has not authenticated.
pub fn creator(perms: Perms) -> ACL {
    ACL::new(perms, Id::creator())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_id_matches_the_server_computation() {
        // `DigestAuthenticationProvider.generateDigest("super:test")`, ZooKeeper's own example.
        assert_eq!(
            digest_id("super", "test").id.as_deref(),
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
    }
}
