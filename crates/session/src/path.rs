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
    if body.is_ascii() {
        // The common case, in one pass over the bytes.
        let bytes = body.as_bytes();
        let mut start = 1;
        for i in 1..=bytes.len() {
            let b = bytes.get(i).copied().unwrap_or(b'/');
            if b == b'/' {
                match &bytes[start..i] {
                    b"" => return invalid("empty segment"),
                    b"." | b".." => return invalid("relative segments are not allowed"),
                    _ => {}
                }
                start = i + 1;
            } else if b == 0 {
                return invalid("null character");
            } else if b <= 0x1f || b == 0x7f {
                return invalid("control character");
            }
        }
        return Ok(());
    }
    for segment in body.split('/').skip(1) {
        match segment {
            "" => return invalid("empty segment"),
            "." | ".." => return invalid("relative segments are not allowed"),
            _ => {}
        }
    }
    for c in path.chars() {
        let u = c as u32;
        if u == 0 {
            return invalid("null character");
        }
        if u <= 0x1f || (0x7f..=0x9f).contains(&u) {
            return invalid("control character");
        }
        if (0xd800..=0xf8ff).contains(&u) || (0xfff0..=0xffff).contains(&u) || u > 0xffff {
            return invalid("character not allowed by ZooKeeper");
        }
    }
    Ok(())
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
        match &self.0 {
            None => path.to_owned(),
            Some(root) => match path.strip_prefix(root.as_str()) {
                Some("") => "/".to_owned(),
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                _ => path.to_owned(),
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
    }
}
