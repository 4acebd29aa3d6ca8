//! Durations on the command line: a number and a unit, `500ms`, `4s`, `1.5s`, `2m`, `1h`.
//!
//! A bare number is refused (is `10` seconds or milliseconds?), except where an option documents
//! a default unit ([`parse_millis_or_duration`] for `--ttl MS`).

use std::time::Duration;

/// The units understood, longest suffix first so that `ms` is not read as `m`.
const UNITS: &[(&str, f64)] = &[("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];

/// Parses `500ms`, `4s`, `1.5s`, `2m` or `1h` into a positive duration.
///
/// # Errors
/// A message for clap (which exits with status 2): no unit, an unknown unit, a number that does
/// not parse, zero, or more than a year.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let Some((number, scale)) = UNITS
        .iter()
        .find_map(|(unit, scale)| s.strip_suffix(unit).map(|n| (n, *scale)))
    else {
        return Err(
            if s.chars().all(|c| c.is_ascii_digit() || c == '.') && !s.is_empty() {
                format!("a duration needs a unit, e.g. {s}s or {s}ms")
            } else {
                "expected a duration such as 500ms, 4s, 2m or 1h".to_owned()
            },
        );
    };
    let number = number.trim();
    if number.is_empty()
        || !number.chars().all(|c| c.is_ascii_digit() || c == '.')
        || number.starts_with('.')
        || number.ends_with('.')
    {
        return Err("expected a duration such as 500ms, 4s, 2m or 1h".to_owned());
    }
    let value: f64 = number
        .parse()
        .map_err(|_| "expected a duration such as 500ms, 4s, 2m or 1h".to_owned())?;
    let seconds = value * scale;
    if seconds <= 0.0 {
        return Err("a duration must be positive".to_owned());
    }
    if seconds > 366.0 * 24.0 * 3600.0 {
        return Err("a duration must be at most a year".to_owned());
    }
    let duration = Duration::from_secs_f64(seconds);
    if duration < Duration::from_millis(1) {
        return Err("a duration must be at least 1ms".to_owned());
    }
    Ok(duration)
}

/// As [`parse`], but a bare integer is a number of milliseconds (`--ttl 5000`).
///
/// # Errors
/// As [`parse`].
pub fn parse_millis_or_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        let ms: u64 = s
            .parse()
            .map_err(|_| "the number of milliseconds is too large".to_owned())?;
        if ms == 0 {
            return Err("a duration must be positive".to_owned());
        }
        return Ok(Duration::from_millis(ms));
    }
    parse(s)
}

/// Formats a duration the way [`parse`] reads it: `500ms`, `4s`, `1.5s`, `2m`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 && ms >= 1000 {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("4s"), Ok(Duration::from_secs(4)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse(" 10s "), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn bad_durations_are_refused_with_a_hint() {
        for bad in [
            "", "s", "ms", "10", "10x", "-1s", "1.s", ".5s", "1e3s", "abc", "4 s s", "0s", "0ms",
            "0.0001ms", "400d", "9999h",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("10").unwrap_err().contains("10s"));
    }

    #[test]
    fn ttl_takes_bare_milliseconds() {
        assert_eq!(
            parse_millis_or_duration("5000"),
            Ok(Duration::from_millis(5000))
        );
        assert_eq!(parse_millis_or_duration("5s"), Ok(Duration::from_secs(5)));
        assert!(parse_millis_or_duration("0").is_err());
        assert!(parse_millis_or_duration("99999999999999999999999").is_err());
    }

    #[test]
    fn formatting_round_trips() {
        for text in ["500ms", "4s", "1.5s", "2m", "90s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
