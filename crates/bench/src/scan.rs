//! Reading one field out of a JSON answer without parsing the rest: the generator checks every
//! answer's RC, and a full parse of each would cost the generator more than it needs.
//!
//! [`field`] finds the first `"key": value` in the text (the first occurrence is the envelope's
//! for the fields read here: IAK's `response_code` and `tr_id` come before `desc`, and isikuota's
//! top-level `code` comes before `data`). The unit tests check it against `serde_json`.

/// The raw text of the first `"key": value` in `body`: a string's content (escapes kept as they
/// are) or a scalar's text (number, `true`, `null`). `None` when absent or not a scalar.
pub fn field<'a>(body: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let needle_len = key.len() + 2;
    let mut from = 0;
    while from + needle_len <= body.len() {
        let pos = find_quoted(&body[from..], key.as_bytes())? + from;
        let mut i = pos + needle_len;
        from = pos + 1;
        i = skip_ws(body, i);
        if body.get(i) != Some(&b':') {
            continue; // a value that happens to equal the key
        }
        i = skip_ws(body, i + 1);
        return match body.get(i)? {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < body.len() {
                    match body[j] {
                        b'\\' => j += 2,
                        b'"' => return Some(&body[start..j]),
                        _ => j += 1,
                    }
                }
                None
            }
            b'{' | b'[' => None,
            _ => {
                let start = i;
                let mut j = i;
                while j < body.len()
                    && !matches!(body[j], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                {
                    j += 1;
                }
                Some(&body[start..j])
            }
        };
    }
    None
}

/// The first position of `"key"` in `hay`.
fn find_quoted(hay: &[u8], key: &[u8]) -> Option<usize> {
    let n = key.len() + 2;
    if hay.len() < n {
        return None;
    }
    (0..=hay.len() - n)
        .find(|&i| hay[i] == b'"' && hay[i + n - 1] == b'"' && &hay[i + 1..i + n - 1] == key)
}

fn skip_ws(body: &[u8], mut i: usize) -> usize {
    while i < body.len() && matches!(body[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// The first `key` as text.
pub fn field_str<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    field(body, key).and_then(|b| std::str::from_utf8(b).ok())
}

/// The first `key` as an integer (a JSON number or a numeric string, as IAK's `tr_id` may be).
pub fn field_i64(body: &[u8], key: &str) -> Option<i64> {
    field_str(body, key)?.trim().parse().ok()
}

/// A short, printable excerpt of a body, for error kinds and messages.
pub fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(160)]);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn check(body: &str, key: &str) {
        let v: Value = serde_json::from_str(body).unwrap();
        let expected = v
            .pointer(&format!("/data/{key}"))
            .or_else(|| v.get(key))
            .cloned();
        let got = field_str(body.as_bytes(), key);
        match expected {
            Some(Value::String(s)) => assert_eq!(got, Some(s.as_str()), "{key} in {body}"),
            Some(Value::Number(n)) => assert_eq!(got, Some(n.to_string().as_str())),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn reads_iak_answers() {
        let body = r#"{"data":{"tr_id":123456,"code":"PGAS","hp":"0110010000","tr_name":"NGATIMUN","period":"0917","nominal":322002,"admin":2500,"ref_id":"bq1","response_code":"00","message":"INQUIRY SUCCESS","price":324502,"selling_price":323902,"desc":{"address":"-","response_code":"99"}},"meta":[]}"#;
        check(body, "tr_id");
        check(body, "response_code");
        check(body, "ref_id");
        assert_eq!(field_i64(body.as_bytes(), "tr_id"), Some(123456));
        let spaced = "{\"data\": {\"tr_id\" : \"42\",\n \"response_code\" :\"17\"}}";
        assert_eq!(field_i64(spaced.as_bytes(), "tr_id"), Some(42));
        assert_eq!(field_str(spaced.as_bytes(), "response_code"), Some("17"));
    }

    #[test]
    fn reads_isikuota_answers() {
        let body = r#"{"success":true,"code":"BILL_INQUIRY_SUCCESS","message":"Tagihan berhasil ditemukan","data":{"ref_id":"x","code":"MPBPJS"},"errors":null,"meta":null}"#;
        assert_eq!(
            field_str(body.as_bytes(), "code"),
            Some("BILL_INQUIRY_SUCCESS")
        );
        assert_eq!(field_str(body.as_bytes(), "success"), Some("true"));
    }

    #[test]
    fn skips_values_equal_to_the_key_and_absent_keys() {
        let body = r#"{"message":"response_code","response_code":"00"}"#;
        assert_eq!(field_str(body.as_bytes(), "response_code"), Some("00"));
        assert_eq!(field_str(body.as_bytes(), "tr_id"), None);
        assert_eq!(field_str(br#"{"desc":{"a":1}}"#, "desc"), None);
        assert_eq!(field_str(b"", "x"), None);
        assert_eq!(field_str(br#"{"x":"unterminated"#, "x"), None);
    }
}
