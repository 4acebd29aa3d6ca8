//! Client-side path validation (as the Java client's `PathUtils.validatePath`) and the chroot.

use crate::error::Error;

/// Checks a path as the Java client does before sending it: absolute, no empty, `.` or `..`
/// segments, no trailing slash except the root, and none of the characters the Java client
/// refuses (controls, U+D800–U+F8FF, U+FFF0–U+FFFF, and anything outside the Basic Multilingual
/// Plane, which Java sees as surrogates). A sequential create's path is checked with a
/// placeholder suffix, so it may end in `/`.
///
/// # Errors
/// [`Error::InvalidPath`] naming the rule broken.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), Error> {
    let invalid = |reason| {
        Err(Error::InvalidPath {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return invalid("path is empty");
    }
    if !path.starts_with('/') {
        return invalid("path must start with /");
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') && !sequential {
        return invalid("path must not end with /");
    }
    let body = if sequential {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let problem = if body.is_ascii() {
        ascii_problem(body.as_bytes())
    } else {
        general_problem(body, path)
    };
    match problem {
        Some(reason) => invalid(reason),
        None => Ok(()),
    }
}

/// The rules for an ASCII path (after its leading `/`): one branch-free pass over the pairs of
/// neighbouring bytes (which the compiler vectorises) for control bytes and for a slash
/// followed by a slash or a dot, the only places an empty or relative segment can start.
/// Only a path with such a place has its segments looked at, one by one.
fn ascii_problem(body: &[u8]) -> Option<&'static str> {
    let is_control = |b: u8| (b <= 0x1f) | (b == 0x7f);
    let (control, suspect) = body.iter().zip(body.iter().skip(1)).fold(
        (body.first().is_some_and(|&b| is_control(b)), false),
        |(control, suspect), (&a, &b)| {
            (
                control | is_control(b),
                suspect | ((a == b'/') & ((b == b'/') | (b == b'.'))),
            )
        },
    );
    if control {
        return Some(if body.contains(&0) {
            "null character"
        } else {
            "control character"
        });
    }
    if !suspect && body.last() != Some(&b'/') {
        return None;
    }
    // Each segment found by a search for the next slash (a tight loop; `split` cost more).
    let segment_problem = |segment: &[u8]| match segment {
        b"" => Some("empty segment"),
        b"." | b".." => Some("relative segments are not allowed"),
        _ => None,
    };
    let mut rest = body.get(1..).unwrap_or_default();
    while let Some(end) = rest.iter().position(|&b| b == b'/') {
        if let Some(problem) = segment_problem(rest.get(..end).unwrap_or_default()) {
            return Some(problem);
        }
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    segment_problem(rest)
}

/// The rules for any path: segments of `body`, then every character of `path`.
fn general_problem(body: &str, path: &str) -> Option<&'static str> {
    for segment in body.split('/').skip(1) {
        match segment {
            "" => return Some("empty segment"),
            "." | ".." => return Some("relative segments are not allowed"),
            _ => {}
        }
    }
    for c in path.chars() {
        let u = c as u32;
        if u == 0 {
            return Some("null character");
        }
        if u <= 0x1f || (0x7f..=0x9f).contains(&u) {
            return Some("control character");
        }
        if (0xd800..=0xf8ff).contains(&u) || (0xfff0..=0xffff).contains(&u) || u > 0xffff {
            return Some("character not allowed by ZooKeeper");
        }
    }
    None
}

/// A chroot: a path prefix added to every outgoing path and stripped from every incoming one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chroot(Option<String>);

impl Chroot {
    /// A chroot at `prefix` (`None` or `"/"` means none).
    ///
    /// # Errors
    /// [`Error::InvalidPath`] when `prefix` is not a valid path.
    pub fn new(prefix: Option<&str>) -> Result<Self, Error> {
        match prefix {
            None | Some("/") | Some("") => Ok(Chroot(None)),
            Some(p) => {
                validate_path(p, false)?;
                Ok(Chroot(Some(p.to_owned())))
            }
        }
    }

    /// The prefix, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The server-side path for a client path.
    pub fn add(&self, path: &str) -> String {
        match &self.0 {
            None => path.to_owned(),
            Some(root) if path == "/" => root.clone(),
            Some(root) => {
                let mut s = String::with_capacity(root.len() + path.len());
                s.push_str(root);
                s.push_str(path);
                s
            }
        }
    }

    /// The client path for a server-side path. A path outside the chroot is returned unchanged
    /// (the server sends none).
    pub fn strip(&self, path: &str) -> String {
        self.strip_str(path).to_owned()
    }

    /// [`strip`](Chroot::strip) of a path the caller owns: without a chroot it is returned as
    /// it is, with one it is cut in place (no new allocation either way).
    pub fn strip_owned(&self, mut path: String) -> String {
        let Some(root) = &self.0 else { return path };
        match path.strip_prefix(root.as_str()) {
            Some("") => {
                path.truncate(1);
                path
            }
            Some(rest) if rest.starts_with('/') => {
                path.drain(..root.len());
                path
            }
            _ => path,
        }
    }

    /// [`strip`](Chroot::strip) without a copy: the client path within `path`.
    pub fn strip_str<'a>(&self, path: &'a str) -> &'a str {
        match &self.0 {
            None => path,
            Some(root) => match path.strip_prefix(root.as_str()) {
                Some("") => "/",
                Some(rest) if rest.starts_with('/') => rest,
                _ => path,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths_pass() {
        for p in ["/", "/a", "/a/b", "/a b/c-d_e.f", "/é"] {
            assert_eq!(validate_path(p, false), Ok(()), "{p}");
        }
    }

    #[test]
    fn invalid_paths_are_refused_with_a_reason() {
        for p in [
            "",
            "a",
            "/a/",
            "//a",
            "/a//b",
            "/a/./b",
            "/a/..",
            "/a\u{1}",
            "/a\u{d7ff}\u{e000}",
            "/😀",
        ] {
            assert!(validate_path(p, false).is_err(), "{p:?}");
        }
    }

    #[test]
    fn control_characters_are_refused_in_ascii_and_unicode_paths() {
        for p in ["/a\u{0}b", "/a\u{7f}", "/é\u{1}", "/é\u{85}"] {
            assert!(validate_path(p, false).is_err(), "{p:?}");
        }
        assert_eq!(validate_path("/a.b/..c/...", false), Ok(()));
    }

    #[test]
    fn the_ascii_pass_agrees_with_the_general_rules_on_every_short_path() {
        // Every string of up to 7 bytes over an alphabet that reaches every rule.
        let alphabet = [b'/', b'.', b'a', 0, 1, 0x7f];
        let mut checked = 0;
        for len in 1..=7u32 {
            for mut n in 0..alphabet.len().pow(len) {
                let mut path = vec![b'/'];
                for _ in 0..len {
                    path.push(alphabet[n % alphabet.len()]);
                    n /= alphabet.len();
                }
                let text = std::str::from_utf8(&path).unwrap();
                let fast = ascii_problem(&path);
                let general = general_problem(text, text);
                assert_eq!(
                    fast.is_some(),
                    general.is_some(),
                    "{text:?}: {fast:?} vs {general:?}"
                );
                // A path that breaks one rule only is refused for the same reason.
                if general.is_some()
                    && !text.contains("//")
                    && !text.bytes().any(|b| b < 0x20 || b == 0x7f)
                {
                    assert_eq!(fast, general, "{text:?}");
                }
                checked += 1;
            }
        }
        assert!(checked > 300_000);
    }

    #[test]
    fn sequential_path_may_end_with_slash() {
        assert_eq!(validate_path("/a/", true), Ok(()));
        assert!(validate_path("/a//", true).is_err());
    }

    #[test]
    fn chroot_is_added_and_stripped() {
        let c = Chroot::new(Some("/app")).unwrap();
        assert_eq!(c.add("/"), "/app");
        assert_eq!(c.add("/x"), "/app/x");
        assert_eq!(c.strip("/app"), "/");
        assert_eq!(c.strip("/app/x"), "/x");
        assert_eq!(c.strip("/apple"), "/apple");
        for server in ["/app", "/app/x", "/apple", "/"] {
            assert_eq!(
                c.strip_owned(server.to_owned()),
                c.strip(server),
                "{server}"
            );
        }
        let none = Chroot::new(None).unwrap();
        assert_eq!(none.strip_owned("/app/x".to_owned()), "/app/x");
    }
}
