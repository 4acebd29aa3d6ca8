//! [`Recording`]: an in-memory sink for a recording [`FaultProxy`](crate::FaultProxy), and
//! what tests read back from it.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex};

/// Where a recording proxy ([`FaultProxy::with_recording`](crate::FaultProxy::with_recording))
/// writes its JSON lines, kept in memory for the test to read. Clones share one buffer.
#[derive(Clone, Default)]
pub struct Recording(Arc<Mutex<Vec<u8>>>);

impl io::Write for Recording {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The value of `"key": ` in one of the proxy's lines: a number, or a string's contents.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\": "))? + key.len() + 4;
    let rest = &line[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split([',', '}']).next(),
    }
}

impl Recording {
    /// The op code of every request recorded so far, in order: each connection's client
    /// frames after its first (the ConnectRequest), read at bytes 8..12 (length, xid, type).
    pub fn request_ops(&self) -> Vec<i32> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let text = String::from_utf8_lossy(&bytes);
        let mut seen_connect = HashSet::new();
        let mut ops = Vec::new();
        for line in text.lines() {
            if field(line, "dir") != Some("c2s") {
                continue;
            }
            let Some(conn) = field(line, "conn") else {
                continue;
            };
            if seen_connect.insert(conn.to_owned()) {
                continue;
            }
            let op = field(line, "hex")
                .and_then(|hex| hex.get(16..24))
                .and_then(|op| u32::from_str_radix(op, 16).ok());
            if let Some(op) = op {
                ops.push(op as i32);
            }
        }
        ops
    }
}

impl Recording {
    /// How many watch notifications (server frames with xid -1) were recorded so far.
    pub fn notifications(&self) -> usize {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| field(line, "dir") == Some("s2c"))
            .filter_map(|line| field(line, "hex").and_then(|hex| hex.get(8..16)))
            .filter(|xid| *xid == "ffffffff")
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn request_ops_skips_each_connections_first_frame_and_the_replies() {
        let mut r = Recording::default();
        for line in [
            r#"{"conn": 0, "dir": "c2s", "hex": "0000002c000000000000000000"}"#,
            r#"{"conn": 0, "dir": "c2s", "hex": "0000001000000001000000030000"}"#,
            r#"{"conn": 0, "dir": "s2c", "hex": "0000001000000001000000090000"}"#,
            r#"{"conn": 1, "dir": "c2s", "hex": "0000002c000000000000000000"}"#,
            r#"{"conn": 1, "dir": "c2s", "hex": "00000010fffffff8000000650000"}"#,
            r#"{"conn": 1, "dir": "s2c", "hex": "00000010ffffffffffffffffffffffff0000000000000003"}"#,
        ] {
            writeln!(r, "{line}").unwrap();
        }
        assert_eq!(r.request_ops(), [3, 101]);
        assert_eq!(r.notifications(), 1);
    }
}
