//! Writing results: lines flushed one by one (watchers' readers see each at once), JSON, Stat.

use std::io::{self, Write};

use serde_json::{Value, json};
use zk_session::Stat;

/// Writes `text` and a newline to stdout and flushes.
///
/// # Errors
/// Stdout's error (`BrokenPipe` when the reader went away).
pub fn line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes `value` as one compact JSON line.
///
/// # Errors
/// As [`line`].
pub fn json_line(value: &Value) -> io::Result<()> {
    line(&value.to_string())
}

/// Writes raw bytes to stdout and flushes.
///
/// # Errors
/// As [`line`].
pub fn raw(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// A Stat as JSON: zxids and times (ms since the epoch) as numbers, the ephemeral owner (a
/// session id, often beyond JSON's exact integers) as a hex string.
pub fn stat_json(stat: &Stat) -> Value {
    json!({
        "czxid": stat.czxid,
        "mzxid": stat.mzxid,
        "pzxid": stat.pzxid,
        "ctime": stat.ctime,
        "mtime": stat.mtime,
        "version": stat.version,
        "cversion": stat.cversion,
        "aversion": stat.aversion,
        "ephemeral_owner": format!("{:#x}", stat.ephemeral_owner),
        "data_length": stat.data_length,
        "num_children": stat.num_children,
    })
}

/// A Stat for people, one `name: value` a line.
pub fn stat_text(stat: &Stat) -> String {
    [
        format!("czxid: {:#x}", stat.czxid),
        format!("mzxid: {:#x}", stat.mzxid),
        format!("pzxid: {:#x}", stat.pzxid),
        format!("ctime: {} ({})", iso8601(stat.ctime), stat.ctime),
        format!("mtime: {} ({})", iso8601(stat.mtime), stat.mtime),
        format!("version: {}", stat.version),
        format!("cversion: {}", stat.cversion),
        format!("aversion: {}", stat.aversion),
        format!("ephemeral_owner: {:#x}", stat.ephemeral_owner),
        format!("data_length: {}", stat.data_length),
        format!("num_children: {}", stat.num_children),
    ]
    .join("\n")
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn iso8601(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_714_564_800_000), "2024-05-01T12:00:00.000Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }
}
