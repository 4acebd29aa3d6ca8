//! SASL DIGEST-MD5 (RFC 2831), the mechanism ZooKeeper's `DigestLoginModule` serves, as the
//! Java client speaks it: protocol `zookeeper`, server name `zk-sasl-md5`, no initial response.

use md5::{Digest, Md5};

use crate::error::Error;

/// Credentials for SASL DIGEST-MD5. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// The user, as in the server's JAAS `user_<name>="<password>"`.
    pub user: String,
    /// The password.
    pub password: String,
    /// The SASL protocol (service) name. Default `zookeeper`.
    pub protocol: String,
    /// The SASL server name. Default `zk-sasl-md5`, the Java client's for DIGEST-MD5.
    pub server_name: String,
}

impl SaslConfig {
    /// DIGEST-MD5 credentials with the Java client's defaults.
    pub fn digest_md5(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
            protocol: "zookeeper".into(),
            server_name: "zk-sasl-md5".into(),
        }
    }
}

impl std::fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConfig")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("protocol", &self.protocol)
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// Where a DIGEST-MD5 exchange stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Sent the empty initial token; waiting for the challenge.
    AwaitChallenge,
    /// Sent the response; waiting for `rspauth`.
    AwaitRspauth { expected: String },
    /// Done.
    Complete,
}

/// One DIGEST-MD5 exchange (one per connection: the server keeps SASL identity per connection).
#[derive(Debug)]
pub(crate) struct DigestMd5 {
    config: SaslConfig,
    cnonce: String,
    step: Step,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Parses `key=value,key="quoted, value"` directives.
fn directives(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.trim_start_matches(',').trim_start();
        out.push((key, value));
    }
    out
}

impl DigestMd5 {
    /// A new exchange; `cnonce_seed` supplies the client nonce (the session's seeded RNG).
    pub(crate) fn new(config: SaslConfig, cnonce_seed: [u64; 2]) -> Self {
        let cnonce = format!("{:016x}{:016x}", cnonce_seed[0], cnonce_seed[1]);
        Self {
            config,
            cnonce,
            step: Step::AwaitChallenge,
        }
    }

    /// The first token: empty (DIGEST-MD5 has no initial response).
    pub(crate) fn initial(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Whether the exchange finished.
    pub(crate) fn is_complete(&self) -> bool {
        self.step == Step::Complete
    }

    /// Answers the server's token: `Some(token)` to send, `None` when done.
    ///
    /// # Errors
    /// [`Error::AuthFailed`] for a challenge that cannot be answered or a wrong `rspauth`.
    pub(crate) fn step(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        match std::mem::replace(&mut self.step, Step::Complete) {
            Step::AwaitChallenge => {
                let text = std::str::from_utf8(server).map_err(|_| Error::AuthFailed)?;
                let d = directives(text);
                let get = |k: &str| d.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
                let nonce = get("nonce").ok_or(Error::AuthFailed)?;
                let realm = get("realm").unwrap_or(&self.config.server_name);
                if let Some(qop) = get("qop") {
                    if !qop.split(',').any(|q| q.trim() == "auth") {
                        return Err(Error::AuthFailed);
                    }
                }
                let digest_uri = format!("{}/{}", self.config.protocol, self.config.server_name);
                let nc = "00000001";
                let (response, rspauth) = self.compute(realm, nonce, nc, &digest_uri);
                let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
                let message = format!(
                    "charset=utf-8,username=\"{}\",realm=\"{}\",nonce=\"{}\",nc={nc},cnonce=\"{}\",digest-uri=\"{}\",maxbuf=65536,response={response},qop=auth",
                    quote(&self.config.user),
                    quote(realm),
                    quote(nonce),
                    self.cnonce,
                    quote(&digest_uri),
                );
                self.step = Step::AwaitRspauth { expected: rspauth };
                Ok(Some(message.into_bytes()))
            }
            Step::AwaitRspauth { expected } => {
                let text = std::str::from_utf8(server).map_err(|_| Error::AuthFailed)?;
                let d = directives(text);
                match d.iter().find(|(k, _)| k == "rspauth") {
                    Some((_, v)) if *v == expected => Ok(None),
                    _ => Err(Error::AuthFailed),
                }
            }
            Step::Complete => Ok(None),
        }
    }

    /// The `response` and the expected `rspauth` values.
    fn compute(&self, realm: &str, nonce: &str, nc: &str, digest_uri: &str) -> (String, String) {
        let user_hash = md5(&[
            self.config.user.as_bytes(),
            b":",
            realm.as_bytes(),
            b":",
            self.config.password.as_bytes(),
        ]);
        let a1 = md5(&[
            &user_hash,
            b":",
            nonce.as_bytes(),
            b":",
            self.cnonce.as_bytes(),
        ]);
        let kd = |a2: &str| {
            let ha2 = hex(&md5(&[a2.as_bytes()]));
            hex(&md5(&[
                hex(&a1).as_bytes(),
                b":",
                nonce.as_bytes(),
                b":",
                nc.as_bytes(),
                b":",
                self.cnonce.as_bytes(),
                b":auth:",
                ha2.as_bytes(),
            ]))
        };
        (
            kd(&format!("AUTHENTICATE:{digest_uri}")),
            kd(&format!(":{digest_uri}")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2831 §4's example: user chris, password secret, realm elwood.innosoft.com, IMAP.
    #[test]
    fn rfc_2831_example_response() {
        let config = SaslConfig {
            user: "chris".into(),
            password: "secret".into(),
            protocol: "imap".into(),
            server_name: "elwood.innosoft.com".into(),
        };
        let mut m = DigestMd5 {
            config,
            cnonce: "OA6MHXh6VqTrRk".into(),
            step: Step::AwaitChallenge,
        };
        let challenge = br#"realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8"#;
        let reply = String::from_utf8(m.step(challenge).unwrap().unwrap()).unwrap();
        assert!(
            reply.contains("response=d388dad90d4bbd760a152321f2143af7"),
            "{reply}"
        );
        assert_eq!(
            m.step(b"rspauth=ea40f60335c427b5527b84dbabcdfffd").unwrap(),
            None
        );
    }

    #[test]
    fn wrong_rspauth_fails() {
        let mut m = DigestMd5::new(SaslConfig::digest_md5("u", "p"), [1, 2]);
        m.step(br#"nonce="n",qop="auth""#).unwrap();
        assert_eq!(m.step(b"rspauth=00"), Err(Error::AuthFailed));
    }

    #[test]
    fn debug_hides_the_password() {
        assert!(!format!("{:?}", SaslConfig::digest_md5("u", "hunter2")).contains("hunter2"));
    }
}
