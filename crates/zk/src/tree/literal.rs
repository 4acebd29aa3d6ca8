//! Property values: a safe parser for the Python literals that zc.zk files hold (and JSON), and
//! the canonical text export writes.
//!
//! zc.zk evaluated property values with Python's `eval`, which runs arbitrary code. This module
//! parses literals only, and never evaluates anything.
//!
//! # What is accepted, and what it becomes
//!
//! | text | JSON value |
//! |---|---|
//! | `'a'`, `"a"`, `u'a'`, `b'a'`, `r'a\b'`, `ur'…'`, `'''a'''`, `"""a"""` | string |
//! | `'a' "b" u'c'` (adjacent strings) | one string, concatenated (`"abc"`) |
//! | `1`, `-1`, `+1`, `1L`, `0x1f`, `0o17`, `017` (Python 2 octal), `0b101` | integer |
//! | `1.5`, `.5`, `5.`, `1e10`, `-1.5E-3` | float |
//! | `True`, `False`, `None`, and JSON's `true`, `false`, `null` | boolean, null |
//! | `[a, b]`, `(a, b)`, `(a,)`, `()` | array (tuples become arrays, as `json.dumps` made them) |
//! | `{k: v, …}` | object |
//!
//! A trailing `# comment` is allowed (zc.zk's `eval` ignored it too). Anything else is an error
//! naming the column: names other than the six above, operators (`2**10`), calls, sets
//! (`{1, 2}`: JSON has none), complex numbers, `f'…'` strings.
//!
//! Choices where Python and JSON differ, or JSON cannot hold a Python value:
//! - **Integers** must fit JSON's integers as serde_json holds them: `-2^63 ..= 2^64 - 1`.
//!   Larger ones (Python longs) are an error rather than a silently rounded float; write them
//!   as strings, or as floats if rounding is acceptable.
//! - **Floats** must be finite (`1e400` is an error: JSON has no infinity).
//! - **Strings without a prefix** follow Python 3 (and JSON): `\xhh`, `\uXXXX` and `\UXXXXXXXX`
//!   are code points, and `\/` is `/` as in JSON. (Python 2 kept `\u` literally in such strings
//!   and read `\xhh` as bytes.) JSON's surrogate pairs (`"\ud83d\ude00"`) are combined; a lone
//!   surrogate is an error.
//! - **`u'…'` strings** follow Python 2: `\xhh`, `\uXXXX`, `\UXXXXXXXX` and octal escapes are
//!   code points. `\N{…}` is not supported.
//! - **`b'…'` strings** are bytes (`\xhh` and octal escapes are bytes) and must be UTF-8, as
//!   `json.dumps` required.
//! - **Raw strings** keep backslashes; `ur'…'` still processes `\u` and `\U`, as Python 2 did.
//! - **Dict keys** may be strings, or what `json.dumps` turned into strings: integers
//!   (`1` → `"1"`), floats (`1.5` → `"1.5"`), `True`/`False` (→ `"true"`/`"false"`) and `None`
//!   (→ `"null"`). A repeated key keeps the last value, as in Python.
//!
//! # Canonical text
//!
//! [`format_value`] writes Python 2's `repr`, which is what zc.zk's export wrote:
//! `u'1.2.3.4:80'`, `3`, `True`, `None`, `1.5`, `[1, u'a']`, `{u'k': 1}`. Integers above
//! `2^63 - 1` get Python 2's `L` suffix. Every output parses back to the same value.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// How deeply lists and dicts may nest.
const MAX_DEPTH: usize = 128;

/// A value that is not an accepted literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at column {column})")]
pub struct LiteralError {
    /// The 1-based column (in characters) where the problem is.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses one property value: a Python literal or JSON, with an optional trailing `# comment`.
///
/// ```
/// use serde_json::json;
/// use zc_zk::tree::parse_value;
///
/// assert_eq!(parse_value("u'a' 'b'  # a comment").unwrap(), json!("ab"));
/// assert_eq!(parse_value("(1, 2L, 0x10, None)").unwrap(), json!([1, 2, 16, null]));
/// assert_eq!(parse_value(r#"{"k": [true, 1.5]}"#).unwrap(), json!({"k": [true, 1.5]}));
/// assert!(parse_value("__import__('os').getpid()").is_err());
/// ```
///
/// # Errors
/// [`LiteralError`] for anything that is not a literal (see the [module docs](self)).
pub fn parse_value(text: &str) -> Result<Value, LiteralError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(p.error("a value is missing"));
    }
    let value = p.value()?;
    p.skip_ws();
    match p.peek() {
        None | Some('#') => Ok(value),
        Some(c) => Err(p.error(format!(
            "unexpected {c:?} after the value (only a # comment may follow)"
        ))),
    }
}

/// Parses a `NAME=VALUE` argument (as `zk set-property` takes them): the name is the text
/// before the first `=` (trimmed), the value is parsed with [`parse_value`].
///
/// # Errors
/// [`LiteralError`] when there is no `=`, the name is empty, or the value does not parse.
pub fn parse_assignment(argument: &str) -> Result<(String, Value), LiteralError> {
    let Some((name, value)) = argument.split_once('=') else {
        return Err(LiteralError {
            column: 1,
            message: format!("expected NAME=VALUE, got {argument:?}"),
        });
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(LiteralError {
            column: 1,
            message: "the property name is empty".to_owned(),
        });
    }
    let offset = argument.chars().take_while(|c| *c != '=').count() + 1;
    let value = parse_value(value).map_err(|e| LiteralError {
        column: e.column + offset,
        message: e.message,
    })?;
    Ok((name.to_owned(), value))
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StrKind {
    /// No prefix: Python 3 / JSON rules.
    Plain,
    /// `u`: Python 2 unicode.
    Unicode,
    /// `b`: bytes, must be UTF-8.
    Bytes,
}

impl Parser {
    fn error(&self, message: impl Into<String>) -> LiteralError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> LiteralError {
        LiteralError {
            column: pos + 1,
            message: message.into(),
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if is_ws(c)) {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Value, LiteralError> {
        let Some(c) = self.peek() else {
            return Err(self.error("a value is missing"));
        };
        match c {
            '[' => self.nested(|p| p.list()),
            '(' => self.nested(|p| p.tuple()),
            '{' => self.nested(|p| p.dict()),
            '\'' | '"' => self.strings(),
            '+' | '-' | '.' | '0'..='9' => self.number(),
            c if c.is_alphabetic() || c == '_' => {
                if self.string_prefix().is_some() {
                    self.strings()
                } else {
                    self.name()
                }
            }
            c => Err(self.error(format!("unexpected {c:?}: not a literal"))),
        }
    }

    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Value, LiteralError>,
    ) -> Result<Value, LiteralError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    /// Items up to `close`, separated by commas, with an optional trailing comma. Returns them
    /// and whether a comma was seen.
    fn items(&mut self, close: char) -> Result<(Vec<Value>, bool), LiteralError> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok((items, comma));
                }
                None => return Err(self.error(format!("missing {close:?}"))),
                _ => {}
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    comma = true;
                }
                Some(c) if c == close => {}
                None => return Err(self.error(format!("missing {close:?}"))),
                Some(c) => return Err(self.error(format!("expected ',' or {close:?}, got {c:?}"))),
            }
        }
    }

    fn list(&mut self) -> Result<Value, LiteralError> {
        self.pos += 1;
        Ok(Value::Array(self.items(']')?.0))
    }

    fn tuple(&mut self) -> Result<Value, LiteralError> {
        self.pos += 1;
        let (mut items, comma) = self.items(')')?;
        if items.len() == 1 && !comma {
            // Parentheses around one value: the value itself.
            return Ok(items.pop().unwrap_or(Value::Null));
        }
        Ok(Value::Array(items))
    }

    fn dict(&mut self) -> Result<Value, LiteralError> {
        let open = self.pos;
        self.pos += 1;
        let mut map = Map::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some('}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                None => return Err(self.error("missing '}'")),
                _ => {}
            }
            let key_at = self.pos;
            let key = self.value()?;
            self.skip_ws();
            match self.peek() {
                Some(':') => self.pos += 1,
                Some(',' | '}') => {
                    return Err(self.error_at(open, "sets are not supported (JSON has no sets)"));
                }
                _ => return Err(self.error("expected ':' after a dict key")),
            }
            let key = dict_key(&key).ok_or_else(|| {
                self.error_at(
                    key_at,
                    "dict keys must be strings, numbers, booleans or None",
                )
            })?;
            self.skip_ws();
            let value = self.value()?;
            map.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                None => return Err(self.error("missing '}'")),
                Some(c) => return Err(self.error(format!("expected ',' or '}}', got {c:?}"))),
            }
        }
    }

    fn name(&mut self) -> Result<Value, LiteralError> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        match name.as_str() {
            "True" | "true" => Ok(Value::Bool(true)),
            "False" | "false" => Ok(Value::Bool(false)),
            "None" | "null" => Ok(Value::Null),
            _ => Err(self.error_at(
                start,
                format!(
                    "{name:?} is not a literal (only True, False, None, true, false and null \
                     are names; strings need quotes)"
                ),
            )),
        }
    }

    /// The prefix letters before a quote at the current position, if any: (length, unicode,
    /// bytes, raw).
    fn string_prefix(&self) -> Option<(usize, StrKind, bool)> {
        let mut len = 0;
        let mut kind = StrKind::Plain;
        let mut raw = false;
        while let Some(c) = self.peek_at(len) {
            match c.to_ascii_lowercase() {
                'u' if kind == StrKind::Plain && !raw => kind = StrKind::Unicode,
                'b' if kind == StrKind::Plain => kind = StrKind::Bytes,
                'r' if !raw => raw = true,
                '\'' | '"' if len > 0 => return Some((len, kind, raw)),
                _ => return None,
            }
            len += 1;
            if len > 2 {
                return None;
            }
        }
        None
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Result<Value, LiteralError> {
        let mut out = String::new();
        loop {
            let (prefix_len, kind, raw) = match self.peek() {
                Some('\'' | '"') => (0, StrKind::Plain, false),
                _ => match self.string_prefix() {
                    Some(p) => p,
                    None => break,
                },
            };
            self.pos += prefix_len;
            out.push_str(&self.string(kind, raw)?);
            let save = self.pos;
            self.skip_ws();
            let next_is_string = match self.peek() {
                Some('\'' | '"') => true,
                Some(_) => self.string_prefix().is_some(),
                None => false,
            };
            if !next_is_string {
                self.pos = save;
                break;
            }
        }
        Ok(Value::String(out))
    }

    /// One string literal; the position is at its opening quote.
    fn string(&mut self, kind: StrKind, raw: bool) -> Result<String, LiteralError> {
        let start = self.pos;
        let quote = self.chars[self.pos];
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        // Bytes accumulate here for b'' strings; text otherwise.
        let mut bytes: Vec<u8> = Vec::new();
        let mut text = String::new();
        let push_char = |c: char, bytes: &mut Vec<u8>, text: &mut String| {
            if kind == StrKind::Bytes {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            } else {
                text.push(c);
            }
        };
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error_at(start, "unterminated string"));
            };
            if c == quote {
                if !triple {
                    self.pos += 1;
                    break;
                }
                if self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote) {
                    self.pos += 3;
                    break;
                }
            }
            if c != '\\' {
                push_char(c, &mut bytes, &mut text);
                self.pos += 1;
                continue;
            }
            let escape_at = self.pos;
            let Some(e) = self.peek_at(1) else {
                return Err(self.error_at(start, "unterminated string"));
            };
            if raw {
                // Raw strings keep the backslash; an escaped quote does not end the string.
                // ur'' strings still process \u and \U (Python 2).
                if kind == StrKind::Unicode && (e == 'u' || e == 'U') {
                    let c = self.unicode_escape(e)?;
                    text.push(c);
                    continue;
                }
                push_char('\\', &mut bytes, &mut text);
                push_char(e, &mut bytes, &mut text);
                self.pos += 2;
                continue;
            }
            self.pos += 2;
            let simple = match e {
                '\\' => Some('\\'),
                '\'' => Some('\''),
                '"' => Some('"'),
                'a' => Some('\x07'),
                'b' => Some('\x08'),
                'f' => Some('\x0c'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\x0b'),
                '/' if kind == StrKind::Plain => Some('/'),
                _ => None,
            };
            if let Some(s) = simple {
                push_char(s, &mut bytes, &mut text);
                continue;
            }
            match e {
                '0'..='7' => {
                    let mut n = e.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        match self.peek().and_then(|c| c.to_digit(8)) {
                            Some(d) => {
                                n = n * 8 + d;
                                self.pos += 1;
                            }
                            None => break,
                        }
                    }
                    if kind == StrKind::Bytes {
                        let b = u8::try_from(n).map_err(|_| {
                            self.error_at(escape_at, "octal escape out of range for bytes")
                        })?;
                        bytes.push(b);
                    } else {
                        text.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                    }
                }
                'x' => {
                    let n = self.hex_digits(2, escape_at)?;
                    if kind == StrKind::Bytes {
                        bytes.push(n as u8);
                    } else {
                        text.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                    }
                }
                'u' | 'U' if kind != StrKind::Bytes => {
                    self.pos -= 2;
                    let c = self.unicode_escape(e)?;
                    text.push(c);
                }
                'N' if kind != StrKind::Bytes => {
                    return Err(self.error_at(escape_at, "\\N{...} escapes are not supported"));
                }
                other => {
                    // Python keeps unknown escapes as they are.
                    push_char('\\', &mut bytes, &mut text);
                    push_char(other, &mut bytes, &mut text);
                }
            }
        }
        if kind == StrKind::Bytes {
            String::from_utf8(bytes).map_err(|_| self.error_at(start, "byte string is not UTF-8"))
        } else {
            Ok(text)
        }
    }

    /// `\uXXXX` or `\UXXXXXXXX` at the current position (the backslash), combining a UTF-16
    /// surrogate pair written as two `\u` escapes.
    fn unicode_escape(&mut self, e: char) -> Result<char, LiteralError> {
        let at = self.pos;
        self.pos += 2;
        let n = self.hex_digits(if e == 'u' { 4 } else { 8 }, at)?;
        if (0xd800..0xdc00).contains(&n) {
            // A high surrogate: a low one must follow.
            if self.peek() == Some('\\') && self.peek_at(1) == Some('u') {
                let save = self.pos;
                self.pos += 2;
                let low = self.hex_digits(4, save)?;
                if (0xdc00..0xe000).contains(&low) {
                    let c = 0x10000 + ((n - 0xd800) << 10) + (low - 0xdc00);
                    return char::from_u32(c)
                        .ok_or_else(|| self.error_at(at, "invalid surrogate pair"));
                }
            }
            return Err(self.error_at(at, "lone UTF-16 surrogate in \\u escape"));
        }
        char::from_u32(n).ok_or_else(|| {
            self.error_at(
                at,
                format!("\\{e} escape {n:#x} is not a Unicode scalar value"),
            )
        })
    }

    fn hex_digits(&mut self, count: usize, escape_at: usize) -> Result<u32, LiteralError> {
        let mut n: u32 = 0;
        for _ in 0..count {
            let d = self.peek().and_then(|c| c.to_digit(16)).ok_or_else(|| {
                self.error_at(escape_at, format!("escape needs {count} hex digits"))
            })?;
            n = n.saturating_mul(16).saturating_add(d);
            self.pos += 1;
        }
        Ok(n)
    }

    fn number(&mut self) -> Result<Value, LiteralError> {
        let start = self.pos;
        let mut negative = false;
        while let Some(c @ ('+' | '-')) = self.peek() {
            if c == '-' {
                negative = !negative;
            }
            self.pos += 1;
            self.skip_ws();
        }
        let digits_at = self.pos;
        match self.peek() {
            Some('0'..='9' | '.') => {}
            _ => return Err(self.error_at(start, "a sign must be followed by a number")),
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '.')
            || (matches!(self.peek(), Some('+' | '-'))
                && matches!(self.chars.get(self.pos.wrapping_sub(1)), Some('e' | 'E'))
                && !self.number_text(digits_at).starts_with("0x")
                && !self.number_text(digits_at).starts_with("0X"))
        {
            self.pos += 1;
        }
        let text = self.number_text(digits_at);
        let bad =
            |p: &Self, why: &str| p.error_at(start, format!("invalid number {text:?}: {why}"));
        let lower = text.to_ascii_lowercase();
        if lower.ends_with('j') {
            return Err(bad(self, "complex numbers are not supported"));
        }
        let (body, long) = match lower.strip_suffix('l') {
            Some(b) => (b, true),
            None => (lower.as_str(), false),
        };
        let radix = |prefix: &str, radix: u32| -> Option<Result<u128, ()>> {
            body.strip_prefix(prefix).map(|d| {
                if d.is_empty() {
                    Err(())
                } else {
                    u128::from_str_radix(d, radix).map_err(|_| ())
                }
            })
        };
        let magnitude =
            if let Some(r) = radix("0x", 16) {
                Some(r.map_err(|()| bad(self, "bad hexadecimal digits"))?)
            } else if let Some(r) = radix("0o", 8) {
                Some(r.map_err(|()| bad(self, "bad octal digits"))?)
            } else if let Some(r) = radix("0b", 2) {
                Some(r.map_err(|()| bad(self, "bad binary digits"))?)
            } else if body.bytes().all(|b| b.is_ascii_digit()) && !body.is_empty() {
                if body.len() > 1 && body.starts_with('0') {
                    // Python 2 octal (017); 08 and 09 are errors there too.
                    Some(
                        u128::from_str_radix(body, 8)
                            .map_err(|_| bad(self, "a leading 0 means octal (Python 2)"))?,
                    )
                } else {
                    Some(body.parse::<u128>().map_err(|_| {
                        bad(self, "out of range for JSON integers (-2^63 ..= 2^64-1)")
                    })?)
                }
            } else {
                None
            };
        if let Some(m) = magnitude {
            return int_value(m, negative)
                .ok_or_else(|| bad(self, "out of range for JSON integers (-2^63 ..= 2^64-1)"));
        }
        if long {
            return Err(bad(self, "the L suffix is for integers"));
        }
        if !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
            || body == "."
        {
            return Err(bad(self, "not a number"));
        }
        let f: f64 = body.parse().map_err(|_| bad(self, "not a number"))?;
        let f = if negative { -f } else { f };
        Number::from_f64(f)
            .map(Value::Number)
            .filter(|_| f.is_finite())
            .ok_or_else(|| bad(self, "out of range for a float"))
    }

    fn number_text(&self, from: usize) -> String {
        self.chars[from..self.pos].iter().collect()
    }
}

fn int_value(magnitude: u128, negative: bool) -> Option<Value> {
    if negative {
        if magnitude <= i64::MAX as u128 + 1 {
            let n = (magnitude as i128).checked_neg()?;
            return i64::try_from(n).ok().map(Value::from);
        }
        None
    } else {
        u64::try_from(magnitude).ok().map(Value::from)
    }
}

/// What `json.dumps` turned a dict key into.
fn dict_key(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(if n.is_f64() {
            format_value(key)
        } else {
            n.to_string()
        }),
        Value::Bool(true) => Some("true".to_owned()),
        Value::Bool(false) => Some("false".to_owned()),
        Value::Null => Some("null".to_owned()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// The whitespace of zc.zk's format (Python 2's `\s`): space, tab, newline, carriage return,
/// vertical tab and form feed.
pub(crate) fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Formats a value as Python 2's `repr` would, which is what zc.zk's export wrote; the text
/// parses back to the same value with [`parse_value`].
///
/// ```
/// use serde_json::json;
/// use zc_zk::tree::format_value;
///
/// assert_eq!(format_value(&json!("1.2.3.4:80")), "u'1.2.3.4:80'");
/// assert_eq!(format_value(&json!({"a": [1, 2.5, null, true]})), "{u'a': [1, 2.5, None, True]}");
/// assert_eq!(format_value(&json!(u64::MAX)), "18446744073709551615L");
/// ```
pub fn format_value(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

/// Formats a value as Python's `%s` did in zc.zk's dry-run messages: strings as they are,
/// anything else as [`format_value`].
pub fn format_value_plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => format_value(other),
    }
}

fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}L");
            } else if let Some(f) = n.as_f64() {
                out.push_str(&float_repr(f));
            }
        }
        Value::String(s) => write_unicode_repr(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_unicode_repr(out, k);
                out.push_str(": ");
                write_repr(out, v);
            }
            out.push('}');
        }
    }
}

/// Python 2's `repr` of a unicode string: `u'…'`, every non-ASCII or control character escaped.
fn write_unicode_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push('u');
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
}

/// Python's `repr` of a float: the shortest text that reads back the same, in fixed notation
/// for exponents -4 ..= 15 (with `.0` when whole), else `1.5e+16` style.
fn float_repr(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let mut s = String::from(sign);
        if point <= 0 {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-point) as usize));
            s.push_str(&digits);
        } else if point as usize >= digits.len() {
            s.push_str(&digits);
            s.extend(std::iter::repeat_n('0', point as usize - digits.len()));
            s.push_str(".0");
        } else {
            s.push_str(&digits[..point as usize]);
            s.push('.');
            s.push_str(&digits[point as usize..]);
        }
        s
    } else {
        let mut s = String::from(sign);
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        let _ = write!(
            s,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(text: &str) -> Value {
        parse_value(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &str) -> LiteralError {
        match parse_value(text) {
            Ok(v) => panic!("{text:?} parsed as {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn python_strings() {
        assert_eq!(ok("'a'"), json!("a"));
        assert_eq!(ok("\"a\""), json!("a"));
        assert_eq!(ok("u'1.2.3.4:80'"), json!("1.2.3.4:80"));
        assert_eq!(ok("U'x'"), json!("x"));
        assert_eq!(ok("b'x'"), json!("x"));
        assert_eq!(ok("r'a\\b'"), json!("a\\b"));
        assert_eq!(ok("R'a\\'b'"), json!("a\\'b"));
        assert_eq!(ok("'a' 'b'"), json!("ab"));
        assert_eq!(ok("'a'u'b'  \"c\""), json!("abc"));
        assert_eq!(ok("'''it's'''"), json!("it's"));
        assert_eq!(ok("\"\"\"a\"b\"\"\""), json!("a\"b"));
        assert_eq!(ok("''"), json!(""));
        assert_eq!(ok("u'\\xe9\\u20ac\\U0001f600'"), json!("é€😀"));
        assert_eq!(ok("'\\xe9'"), json!("é"));
        assert_eq!(ok("b'\\xc3\\xa9'"), json!("é"));
        assert_eq!(ok("u'\\101\\0'"), json!("A\0"));
        assert_eq!(ok("'\\t\\n\\r\\\\\\''"), json!("\t\n\r\\'"));
        assert_eq!(ok("'\\q'"), json!("\\q"));
        assert_eq!(ok("ur'\\u00e9\\n'"), json!("é\\n"));
        assert_eq!(ok("'café'"), json!("café"));
    }

    #[test]
    fn json_strings() {
        assert_eq!(ok(r#""a\/b""#), json!("a/b"));
        assert_eq!(ok(r#""\u00e9""#), json!("é"));
        assert_eq!(ok(r#""\ud83d\ude00""#), json!("😀"));
        assert!(err(r#""\ud83d""#).message.contains("surrogate"));
    }

    #[test]
    fn numbers() {
        assert_eq!(ok("1"), json!(1));
        assert_eq!(ok("-1"), json!(-1));
        assert_eq!(ok("+ 1"), json!(1));
        assert_eq!(ok("0"), json!(0));
        assert_eq!(ok("1L"), json!(1));
        assert_eq!(ok("0x1f"), json!(31));
        assert_eq!(ok("0X1FL"), json!(31));
        assert_eq!(ok("0o17"), json!(15));
        assert_eq!(ok("017"), json!(15));
        assert_eq!(ok("0b101"), json!(5));
        assert_eq!(ok("18446744073709551615L"), json!(u64::MAX));
        assert_eq!(ok("-9223372036854775808"), json!(i64::MIN));
        assert_eq!(ok("1.5"), json!(1.5));
        assert_eq!(ok(".5"), json!(0.5));
        assert_eq!(ok("5."), json!(5.0));
        assert_eq!(ok("1e10"), json!(1e10));
        assert_eq!(ok("-1.5E-3"), json!(-1.5e-3));
        assert_eq!(ok("1e+16"), json!(1e16));
        for bad in [
            "18446744073709551616",
            "-9223372036854775809",
            "08",
            "1j",
            "1e400",
            "1.5L",
            "0x",
            "1.2.3",
            "-",
            "1_000",
        ] {
            err(bad);
        }
    }

    #[test]
    fn names_and_containers() {
        assert_eq!(ok("True"), json!(true));
        assert_eq!(ok("false"), json!(false));
        assert_eq!(ok("None"), json!(null));
        assert_eq!(ok("null"), json!(null));
        assert_eq!(ok("[1, {'a': None}]"), json!([1, {"a": null}]));
        assert_eq!(ok("(1,2)"), json!([1, 2]));
        assert_eq!(ok("(1,)"), json!([1]));
        assert_eq!(ok("(1)"), json!(1));
        assert_eq!(ok("()"), json!([]));
        assert_eq!(ok("[1, 2, ]"), json!([1, 2]));
        assert_eq!(ok("{}"), json!({}));
        assert_eq!(
            ok("{1: 'a', 1.5: 2, True: 3, None: 4, u'k': (5,)}"),
            json!({"1": "a", "1.5": 2, "true": 3, "null": 4, "k": [5]})
        );
        assert_eq!(ok("{'a': 1, 'a': 2}"), json!({"a": 2}));
        assert_eq!(
            ok(r#"{"a": [true, false, null, 1.5, "x"]}"#),
            json!({"a": [true, false, null, 1.5, "x"]})
        );
        assert_eq!(ok("'b' # c"), json!("b"));
        assert_eq!(ok("  3  "), json!(3));
    }

    #[test]
    fn rejects_what_is_not_a_literal() {
        for bad in [
            "__import__('os').getpid() > 0",
            "2**10",
            "1 + 2",
            "{1, 2}",
            "{(1, 2): 3}",
            "x",
            "inf",
            "f'x'",
            "'a",
            "[1, 2",
            "'\\N{BULLET}'",
            "b'\\xff'",
            "",
            "   ",
            "1 2",
            "'a' 1",
            "[1 2]",
        ] {
            err(bad);
        }
        let deep = "[".repeat(1000);
        assert!(err(&deep).message.contains("nested"));
        assert_eq!(err("1 + 2").column, 3);
    }

    #[test]
    fn repr_round_trips() {
        let values = [
            json!("1.2.3.4:80"),
            json!("it's"),
            json!("it's \"q\""),
            json!("tab\tnl\ncr\r\\ \u{7f} é € 😀 \u{0}"),
            json!(3),
            json!(-3),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(0.1),
            json!(1e16),
            json!(1e15),
            json!(1e-5),
            json!(1.0e-4),
            json!(123456789.125),
            json!(-0.0),
            json!(1e300),
            json!(5e-324),
            json!(true),
            json!(null),
            json!([1, [2, {"a": "b"}], []]),
            json!({"": {}, "k": [null]}),
        ];
        for v in values {
            let text = format_value(&v);
            assert_eq!(parse_value(&text).unwrap(), v, "{text}");
        }
        assert_eq!(format_value(&json!(1e16)), "1e+16");
        assert_eq!(format_value(&json!(1e15)), "1000000000000000.0");
        assert_eq!(format_value(&json!(1e-5)), "1e-05");
        assert_eq!(format_value(&json!(0.0001)), "0.0001");
        assert_eq!(format_value(&json!(1.5e300)), "1.5e+300");
        assert_eq!(format_value(&json!(100.0)), "100.0");
        assert_eq!(format_value(&json!("it's")), "u\"it's\"");
        assert_eq!(format_value(&json!("é")), "u'\\xe9'");
    }

    #[test]
    fn assignments() {
        assert_eq!(
            parse_assignment("threads=4").unwrap(),
            ("threads".into(), json!(4))
        );
        assert_eq!(
            parse_assignment("comment='a=b'").unwrap(),
            ("comment".into(), json!("a=b"))
        );
        assert_eq!(
            parse_assignment("debug=True").unwrap(),
            ("debug".into(), json!(true))
        );
        assert!(parse_assignment("x").is_err());
        assert!(parse_assignment("=1").is_err());
        assert_eq!(parse_assignment("x=1 +").unwrap_err().column, 5);
    }
}
