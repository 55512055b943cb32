//! The isikuota signature: a strict JSON parser, PHP's `json_encode` re-implemented for the
//! canonical body, and the HMAC over it (`shared/spec/isikuota.md`, "Authentication").
//!
//! A signed body is handled in four steps, on the server and in [`crate::isikuota`] alike:
//!
//! 1. [`parse`] the raw body strictly (RFC 8259, duplicate keys refused, numbers kept as text);
//! 2. [`business_params`]: every top-level field but `api_id`, `timestamp` and `signature`;
//! 3. [`canonical_body`]: those params sorted by key and written as PHP's
//!    `json_encode($params, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)` writes the array
//!    `json_decode($body, true)` gives ([`encode_php`]);
//! 4. [`body_hash`], [`string_to_sign`], [`sign`]; the server compares with [`signatures_match`].
//!
//! # What `encode_php` writes (checked against PHP 8.2's `json_decode`/`json_encode`)
//!
//! - `null`, `true`, `false`; no spaces anywhere.
//! - Strings: `"` → `\"`, `\` → `\\`, U+0008 → `\b`, U+000C → `\f`, `\n`, `\r`, `\t`, every
//!   other character below U+0020 → `\u00xx` (lowercase hex, e.g. `\u001f`), U+2028 →
//!   `\u2028`, U+2029 → `\u2029`; `/`, DEL (U+007F) and all other non-ASCII characters raw.
//! - Integers (no fraction, no exponent) that fit in an `i64`: their decimal digits (`-0` → `0`,
//!   as `json_decode` gives the int 0). Larger ones become PHP floats, written as below
//!   (`9223372036854775808` → `9.223372036854776e+18`).
//! - Floats (a fraction or an exponent): PHP's `json_encode` calls
//!   `zend_gcvt(d, serialize_precision = -1, '.', 'e')`, which is `zend_dtoa` mode 0 (the
//!   shortest digits that read back as the same double, the nearest such, ties to an even last
//!   digit: `2092150650307965.25` → `2092150650307965.2`) with `ndigit = 17`, and then:
//!   with `decpt` the position of the decimal point relative to those digits
//!   (value = 0.DIGITS × 10^decpt), the exponential form `D.DDDe±X` is used when
//!   `decpt < -3 || decpt > 17` (the mantissa always has a `.` and at least one digit after it,
//!   the exponent a sign and no padding: `1.0e+17`, `1.5e-5`, `5.0e-324`), otherwise the plain
//!   form (`0.0001`, `1000000000000000`, `10000000000000000`, `12345678901234568`).
//!   **No `.0` is appended** to a whole float: that is `JSON_PRESERVE_ZERO_FRACTION`, which the
//!   signing flags do not include, so `1.0` → `1`, `10.0` → `10`, `2.5E+3` → `2500`.
//!   `-0.0` → `-0`. (`json_encode` refuses INF; [`parse`] refuses numbers that overflow.)
//! - Arrays `[a,b]`; objects `{"k":v}` in received order, keys escaped like strings, nested
//!   keys never sorted. An object `json_decode` turns into a PHP *list* is written as a list:
//!   `{}` → `[]`, and `{"0":a,"1":b}` (keys exactly `0..n-1` in order) → `[a,b]`.
//!
//! [`canonical_body`] sorts the top-level keys by byte order, as the spec says. (PHP's `ksort`
//! compares integer-like keys as numbers: the two orders differ only for keys such as `"10"` and
//! `"9"`, which no isikuota param has.)

use std::collections::HashSet;
use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How deeply arrays and objects may nest (the top-level object counts as 1).
pub const MAX_DEPTH: usize = 32;

/// The top-level fields that authenticate a body rather than being business params.
pub const AUTH_FIELDS: [&str; 3] = ["api_id", "timestamp", "signature"];

/// A parsed JSON value, numbers kept exactly as received and object members in received order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number's text as received (always valid JSON number syntax when from [`parse`]).
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in received order (no duplicate keys when from [`parse`]).
    Object(Vec<(String, Json)>),
}

/// Why a body could not be parsed or canonicalised. Offsets are byte offsets into the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    #[error("invalid UTF-8 at byte {0}")]
    InvalidUtf8(usize),
    #[error("unexpected end of input")]
    UnexpectedEnd,
    #[error("unexpected character at byte {0}")]
    Unexpected(usize),
    #[error("invalid escape sequence at byte {0}")]
    InvalidEscape(usize),
    #[error("unpaired UTF-16 surrogate at byte {0}")]
    LoneSurrogate(usize),
    #[error("unescaped control character in a string at byte {0}")]
    ControlCharacter(usize),
    #[error("invalid number at byte {0}")]
    InvalidNumber(usize),
    #[error("number out of range at byte {0}")]
    NumberOutOfRange(usize),
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("data after the JSON value at byte {0}")]
    TrailingData(usize),
    #[error("the body is not a JSON object")]
    NotAnObject,
}

// ---------------------------------------------------------------------------------------------
// Parser

/// Parses `bytes` as exactly one JSON value (RFC 8259), strictly: UTF-8 only (no BOM), no
/// comments, no trailing commas, whitespace only where JSON allows it (space, tab, CR, LF),
/// no raw control characters in strings, no unpaired surrogates in `\u` escapes, no duplicate
/// key in any object, at most [`MAX_DEPTH`] levels of nesting, no number that overflows a
/// double, nothing after the value but whitespace. Never panics.
pub fn parse(bytes: &[u8]) -> Result<Json, CanonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| CanonError::InvalidUtf8(e.valid_up_to()))?;
    let mut p = Parser {
        src: text,
        s: text.as_bytes(),
        i: 0,
    };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.i < p.s.len() {
        return Err(CanonError::TrailingData(p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    src: &'a str,
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), CanonError> {
        match self.peek() {
            Some(c) if c == b => {
                self.i += 1;
                Ok(())
            }
            Some(_) => Err(CanonError::Unexpected(self.i)),
            None => Err(CanonError::UnexpectedEnd),
        }
    }

    /// A value starting at the current byte; `depth` is the nesting of its container.
    fn value(&mut self, depth: usize) -> Result<Json, CanonError> {
        match self.peek() {
            None => Err(CanonError::UnexpectedEnd),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(CanonError::Unexpected(self.i)),
        }
    }

    fn literal(&mut self, word: &[u8], v: Json) -> Result<Json, CanonError> {
        for &b in word {
            self.expect(b)?;
        }
        Ok(v)
    }

    fn object(&mut self, depth: usize) -> Result<Json, CanonError> {
        if depth > MAX_DEPTH {
            return Err(CanonError::TooDeep);
        }
        self.expect(b'{')?;
        self.skip_ws();
        let mut members = Vec::new();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Object(members));
        }
        loop {
            if self.peek().is_none() {
                return Err(CanonError::UnexpectedEnd);
            }
            if self.peek() != Some(b'"') {
                return Err(CanonError::Unexpected(self.i));
            }
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            let v = self.value(depth)?;
            members.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                Some(_) => return Err(CanonError::Unexpected(self.i)),
                None => return Err(CanonError::UnexpectedEnd),
            }
        }
        let mut seen = HashSet::with_capacity(members.len());
        for (k, _) in &members {
            if !seen.insert(k.as_str()) {
                return Err(CanonError::DuplicateKey(k.clone()));
            }
        }
        Ok(Json::Object(members))
    }

    fn array(&mut self, depth: usize) -> Result<Json, CanonError> {
        if depth > MAX_DEPTH {
            return Err(CanonError::TooDeep);
        }
        self.expect(b'[')?;
        self.skip_ws();
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Array(items));
                }
                Some(_) => return Err(CanonError::Unexpected(self.i)),
                None => return Err(CanonError::UnexpectedEnd),
            }
        }
    }

    /// A string starting at its opening quote.
    fn string(&mut self) -> Result<String, CanonError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // `start` and `self.i` sit on ASCII bytes (or the end), so on char boundaries.
            out.push_str(
                self.src
                    .get(start..self.i)
                    .ok_or(CanonError::InvalidUtf8(start))?,
            );
            match self.peek() {
                None => return Err(CanonError::UnexpectedEnd),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(_) => return Err(CanonError::ControlCharacter(self.i)),
            }
        }
    }

    /// An escape sequence starting at its backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), CanonError> {
        let at = self.i;
        self.i += 1;
        let c = match self.peek() {
            None => return Err(CanonError::UnexpectedEnd),
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.i += 1;
                let hi = self.hex4()?;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                            return Err(CanonError::LoneSurrogate(at));
                        }
                        self.i += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(CanonError::LoneSurrogate(at));
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(CanonError::LoneSurrogate(at)),
                    _ => hi,
                };
                out.push(char::from_u32(code).ok_or(CanonError::InvalidEscape(at))?);
                return Ok(());
            }
            Some(_) => return Err(CanonError::InvalidEscape(at)),
        };
        self.i += 1;
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, CanonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                None => return Err(CanonError::UnexpectedEnd),
                Some(b) => (b as char)
                    .to_digit(16)
                    .ok_or(CanonError::InvalidEscape(self.i))?,
            };
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`, kept as text; refused when its
    /// value overflows a double (PHP could not encode it).
    fn number(&mut self) -> Result<Json, CanonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            Some(_) => return Err(CanonError::InvalidNumber(start)),
            None => return Err(CanonError::UnexpectedEnd),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(CanonError::InvalidNumber(start));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(CanonError::InvalidNumber(start));
            }
        }
        let raw = self
            .src
            .get(start..self.i)
            .ok_or(CanonError::InvalidNumber(start))?;
        match php_number(raw) {
            Some(PhpNumber::Float(f)) if !f.is_finite() => Err(CanonError::NumberOutOfRange(start)),
            Some(_) => Ok(Json::Number(raw.to_string())),
            None => Err(CanonError::InvalidNumber(start)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PHP's json_encode

/// A JSON number as `json_decode` gives it to PHP.
enum PhpNumber {
    Int(i64),
    Float(f64),
}

/// `None` when `raw` is not JSON number syntax.
fn php_number(raw: &str) -> Option<PhpNumber> {
    if !is_json_number(raw) {
        return None;
    }
    let integer = !raw.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if integer {
        if let Ok(i) = raw.parse::<i64>() {
            return Some(PhpNumber::Int(i));
        }
    }
    raw.parse::<f64>().ok().map(PhpNumber::Float)
}

fn is_json_number(raw: &str) -> bool {
    let s = raw.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while s.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if s.first() == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if let Some(b'e' | b'E') = s.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = s.get(i) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == s.len()
}

/// What `json_encode($v, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)` writes for the PHP
/// value `json_decode($json_of_v, true)` gives (see the module docs for every rule).
///
/// A [`Json::Number`] that is not JSON number syntax (never from [`parse`]) is written as is;
/// one that overflows a double (never from [`parse`]) is written `0`.
pub fn encode_php(v: &Json) -> String {
    let mut out = String::new();
    write_php(&mut out, v);
    out
}

fn write_php(out: &mut String, v: &Json) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Number(raw) => write_php_number(out, raw),
        Json::String(s) => write_php_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_php(out, item);
            }
            out.push(']');
        }
        Json::Object(members) => write_php_members(out, members.iter().map(|(k, v)| (k, v))),
    }
}

/// An object's members, or a list when PHP would hold them as one (keys `0..n-1` in order,
/// which includes no member at all).
fn write_php_members<'a, I>(out: &mut String, members: I)
where
    I: Iterator<Item = (&'a String, &'a Json)> + Clone,
{
    let list = members
        .clone()
        .enumerate()
        .all(|(n, (k, _))| is_index(k, n));
    out.push(if list { '[' } else { '{' });
    for (n, (k, v)) in members.enumerate() {
        if n > 0 {
            out.push(',');
        }
        if !list {
            write_php_string(out, k);
            out.push(':');
        }
        write_php(out, v);
    }
    out.push(if list { ']' } else { '}' });
}

/// Whether `key` is the decimal form of `n` as PHP writes integer array keys.
fn is_index(key: &str, n: usize) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.iter().all(u8::is_ascii_digit)
        && (b.len() == 1 || b[0] != b'0')
        && key.parse::<usize>() == Ok(n)
}

fn write_php_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_php_number(out: &mut String, raw: &str) {
    match php_number(raw) {
        Some(PhpNumber::Int(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(PhpNumber::Float(f)) if f.is_finite() => out.push_str(&php_double(f)),
        Some(PhpNumber::Float(_)) => out.push('0'),
        None => out.push_str(raw),
    }
}

/// A finite double as `zend_gcvt(d, -1, '.', 'e')` writes it (mode 0, `ndigit` 17; see the
/// module docs).
pub fn php_double(f: f64) -> String {
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push('0');
        return out;
    }
    let (digits, decpt) = shortest_digits(f.abs());
    // zend_gcvt: exponential when `decpt < 0 ? decpt < -3 : decpt > ndigit`, ndigit = 17.
    if !(-3..=17).contains(&decpt) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        out.push('.');
        out.push_str(if rest.is_empty() { "0" } else { rest });
        let e = decpt - 1;
        let _ = write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    } else if decpt <= 0 {
        out.push_str("0.");
        for _ in decpt..0 {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let point = decpt as usize;
        if digits.len() > point {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        } else {
            out.push_str(&digits);
            for _ in digits.len()..point {
                out.push('0');
            }
        }
    }
    out
}

/// The digits and `decpt` zend_dtoa's mode 0 gives for a finite, positive double: the fewest
/// digits that read back as `f`, the nearest to `f` among those, and on an exact tie between
/// two such (`2092150650307965.25` is halfway between `…65.2` and `…65.3`) the even one.
///
/// Rust's `{:e}` gives the fewest digits (n) but can break such a tie upwards; `{:.(n-1)e}`
/// rounds the exact value to n digits, ties to even. That is dtoa's answer whenever it reads
/// back as `f`; when it does not (the nearest n-digit number lies outside `f`'s rounding
/// interval, which is narrower below a power of two), `{:e}`'s in-interval digits are.
/// (Checked against Python's `repr`, which is David Gay's dtoa mode 0 too, on three million
/// doubles; PHP's `zend_dtoa` is the same code.)
fn shortest_digits(f: f64) -> (String, i32) {
    let split = |sci: &str| -> (String, i32) {
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let digits = match digits.trim_end_matches('0') {
            "" => "0".to_string(),
            d => d.to_string(),
        };
        (digits, exp.parse::<i32>().unwrap_or(0) + 1)
    };
    let shortest = format!("{f:e}");
    let (digits, decpt) = split(&shortest);
    let exact = format!("{:.*e}", digits.len().saturating_sub(1), f);
    if exact.parse::<f64>() == Ok(f) {
        split(&exact)
    } else {
        (digits, decpt)
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical body and signature

/// The business params of a parsed body: every top-level member except `api_id`, `timestamp`
/// and `signature`, in received order. [`CanonError::NotAnObject`] unless `body` is an object.
pub fn business_params(body: &Json) -> Result<Vec<(String, Json)>, CanonError> {
    match body {
        Json::Object(members) => Ok(members
            .iter()
            .filter(|(k, _)| !AUTH_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect()),
        _ => Err(CanonError::NotAnObject),
    }
}

/// `params` sorted by key (byte order, stable) and written by [`encode_php`]; the empty string
/// when there are no params (`/v1/balance`).
pub fn canonical_body(params: &[(String, Json)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<&(String, Json)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    write_php_members(&mut out, sorted.into_iter().map(|(k, v)| (k, v)));
    out
}

/// Lowercase hex SHA-256 of the canonical body.
pub fn body_hash(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// `api_id|api_key|timestamp|bodyHash`.
pub fn string_to_sign(api_id: &str, api_key: &str, timestamp: &str, body_hash: &str) -> String {
    format!("{api_id}|{api_key}|{timestamp}|{body_hash}")
}

/// Lowercase hex HMAC-SHA256 of `string_to_sign` keyed with `secret_key`.
pub fn sign(secret_key: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The whole signature of a request: [`canonical_body`] of `params`, [`body_hash`],
/// [`string_to_sign`], [`sign`].
pub fn signature(
    api_id: &str,
    api_key: &str,
    secret_key: &str,
    timestamp: &str,
    params: &[(String, Json)],
) -> String {
    let hash = body_hash(&canonical_body(params));
    sign(
        secret_key,
        &string_to_sign(api_id, api_key, timestamp, &hash),
    )
}

/// Compares an expected (lowercase hex) signature with the one a client sent, in constant time.
///
/// `given` is lowercased first, so an uppercase HMAC is accepted; `expected` is taken as is.
/// Different lengths never match.
pub fn signatures_match(expected: &str, given: &str) -> bool {
    let given = given.to_ascii_lowercase();
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests;
