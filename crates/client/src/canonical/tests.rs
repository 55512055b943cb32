use super::*;

/// `(JSON as received, what PHP 8.2's json_encode(json_decode($json, true),
/// JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES) writes)`. Every row was checked with php-cli,
/// and `php_agrees_with_the_table_and_random_documents` checks them again where php is installed.
const TABLE: &[(&str, &str)] = &[
    // Strings: unicode, slashes, quotes, backslashes.
    (r#""Dédé Şükür 王""#, r#""Dédé Şükür 王""#),
    (r#""\u00e9\u738b""#, r#""é王""#),
    (r#""\ud83d\ude00""#, r#""😀""#),
    (r#""a/b""#, r#""a/b""#),
    (r#""a\/b""#, r#""a/b""#),
    (r#""say \"hi\" \\ bye""#, r#""say \"hi\" \\ bye""#),
    // Control characters: short escapes where PHP has them, else \u00xx in lowercase.
    (r#""\u0001\n\t\u001f""#, r#""\u0001\n\t\u001f""#),
    (r#""\b\f\r""#, r#""\b\f\r""#),
    (r#""\u0008\u000c\u000A\u000d\u0009""#, r#""\b\f\n\r\t""#),
    (r#""\u0000""#, r#""\u0000""#),
    (r#""\u001B""#, r#""\u001b""#),
    // Line and paragraph separators are escaped, raw or escaped on the way in.
    (r#""\u2028\u2029""#, r#""\u2028\u2029""#),
    ("\"a\u{2028}b\u{2029}c\"", r#""a\u2028b\u2029c""#),
    // DEL stays raw.
    (r#""a\u007fb""#, "\"a\u{7f}b\""),
    ("\"a\u{7f}b\"", "\"a\u{7f}b\""),
    // A numeric string stays a string.
    (r#""1234567890""#, r#""1234567890""#),
    (r#""1.0""#, r#""1.0""#),
    // Integers.
    ("0", "0"),
    ("-0", "0"),
    ("-5", "-5"),
    ("1234567890", "1234567890"),
    ("9007199254740993", "9007199254740993"),
    ("9223372036854775807", "9223372036854775807"),
    ("-9223372036854775808", "-9223372036854775808"),
    // Beyond i64: PHP floats.
    ("9223372036854775808", "9.223372036854776e+18"),
    ("-9223372036854775809", "-9.223372036854776e+18"),
    ("123456789012345678901234567890", "1.2345678901234568e+29"),
    // Floats: shortest round-trip digits, no ".0" added, exponential when decpt < -3 or > 17.
    ("1.0", "1"),
    ("10.0", "10"),
    ("1.50", "1.5"),
    ("0.1", "0.1"),
    ("-2.5", "-2.5"),
    ("123.456", "123.456"),
    ("0.30000000000000004", "0.30000000000000004"),
    // Exact ties between two shortest candidates go to the even digit, as in dtoa.
    ("-2.0921506503079653e15", "-2092150650307965.2"),
    ("1.1258999068426243e15", "1125899906842624.2"),
    ("2.6132153838039713e14", "261321538380397.12"),
    ("7.304827280077363e13", "73048272800773.62"),
    ("2.9802322387695313e-8", "2.9802322387695312e-8"),
    ("2.5E+3", "2500"),
    ("1E2", "100"),
    ("1e14", "100000000000000"),
    ("1e15", "1000000000000000"),
    ("1e16", "10000000000000000"),
    ("12345678901234567.0", "12345678901234568"),
    ("39528480211503568.0", "39528480211503570"),
    ("1e17", "1.0e+17"),
    ("100000000000000000000.0", "1.0e+20"),
    ("1e20", "1.0e+20"),
    ("1e25", "1.0e+25"),
    ("1.7976931348623157e308", "1.7976931348623157e+308"),
    ("0.001", "0.001"),
    ("0.0001", "0.0001"),
    ("0.00001", "1.0e-5"),
    ("1.5e-5", "1.5e-5"),
    ("-1e-7", "-1.0e-7"),
    ("5e-324", "5.0e-324"),
    ("0.0", "0"),
    ("-0.0", "-0"),
    ("1e-400", "0"),
    ("-1e-400", "-0"),
    // Literals.
    ("true", "true"),
    ("false", "false"),
    ("null", "null"),
    // Structures: order kept, nested keys not sorted, no spaces.
    (
        r#"{"b":{"z":1,"a":[3,2,1]},"a":[{"y":null,"x":true}]}"#,
        r#"{"b":{"z":1,"a":[3,2,1]},"a":[{"y":null,"x":true}]}"#,
    ),
    (
        " { \"a\" : [ 1 , 2.0 ] ,\t\"b\" :\r\n\"/\" } ",
        r#"{"a":[1,2],"b":"/"}"#,
    ),
    (r#"{"k\"ey/é":1}"#, r#"{"k\"ey/é":1}"#),
    (r#"{"":1}"#, r#"{"":1}"#),
    // What json_decode($x, true) turns into a PHP list is written as a list.
    ("{}", "[]"),
    ("[]", "[]"),
    (r#"{"a":{}}"#, r#"{"a":[]}"#),
    (r#"{"a":[],"b":{"x":{}}}"#, r#"{"a":[],"b":{"x":[]}}"#),
    (r#"{"0":"a","1":"b"}"#, r#"["a","b"]"#),
    (r#"{"1":"a","0":"b"}"#, r#"{"1":"a","0":"b"}"#),
    (r#"{"0":"a","2":"b"}"#, r#"{"0":"a","2":"b"}"#),
    (r#"{"00":"x"}"#, r#"{"00":"x"}"#),
];

fn enc(json: &str) -> String {
    match parse(json.as_bytes()) {
        Ok(v) => encode_php(&v),
        Err(e) => panic!("{json:?} did not parse: {e}"),
    }
}

fn params(json: &str) -> Vec<(String, Json)> {
    business_params(&parse(json.as_bytes()).unwrap()).unwrap()
}

#[test]
fn php_encoding_table() {
    for (input, expected) in TABLE {
        assert_eq!(&enc(input), expected, "input {input:?}");
    }
}

#[test]
fn encoding_numbers_directly() {
    // Expected values from php -r 'echo json_encode(...);'.
    assert_eq!(php_double(1.0), "1");
    assert_eq!(php_double(-0.0), "-0");
    assert_eq!(php_double(1e17), "1.0e+17");
    assert_eq!(php_double(99999999999999990.0), "99999999999999980");
    assert_eq!(php_double(123456789012345680.0), "1.2345678901234568e+17");
    assert_eq!(php_double(0.000123), "0.000123");
    assert_eq!(php_double(0.0000123), "1.23e-5");
    assert_eq!(php_double(f64::MIN_POSITIVE), "2.2250738585072014e-308");
    assert_eq!(php_double(1e100), "1.0e+100");
    // Hand-made numbers that `parse` never yields: written, never a panic.
    assert_eq!(encode_php(&Json::Number("1e400".into())), "0");
    assert_eq!(encode_php(&Json::Number("0x1F".into())), "0x1F");
    assert_eq!(encode_php(&Json::Number(String::new())), "");
}

#[test]
fn numbers_are_kept_as_received() {
    let v = parse(br#"[1.50, -0, 1E2, 9223372036854775808, 0.1]"#).unwrap();
    let Json::Array(items) = v else {
        panic!("not an array")
    };
    let raw: Vec<_> = items
        .iter()
        .map(|n| match n {
            Json::Number(s) => s.as_str(),
            _ => panic!("not a number"),
        })
        .collect();
    assert_eq!(raw, ["1.50", "-0", "1E2", "9223372036854775808", "0.1"]);
}

#[test]
fn top_level_keys_sorted_nested_kept() {
    let p =
        params(r#"{"ref_id":"INQ-1","cmd":"inquiry","code":"MPBPJS","customer_no":"1234567890"}"#);
    assert_eq!(
        canonical_body(&p),
        r#"{"cmd":"inquiry","code":"MPBPJS","customer_no":"1234567890","ref_id":"INQ-1"}"#
    );
    let p = params(r#"{"z":{"b":1,"a":2},"a":[{"d":1,"c":2}],"testing":true}"#);
    assert_eq!(
        canonical_body(&p),
        r#"{"a":[{"d":1,"c":2}],"testing":true,"z":{"b":1,"a":2}}"#
    );
    // Byte order: uppercase, then `_`, then lowercase, then non-ASCII.
    let p = params(r#"{"é":1,"a":2,"_":3,"Z":4,"B":5,"aa":6}"#);
    assert_eq!(
        canonical_body(&p),
        r#"{"B":5,"Z":4,"_":3,"a":2,"aa":6,"é":1}"#
    );
}

#[test]
fn number_and_string_params_differ() {
    let as_string = canonical_body(&params(r#"{"customer_no":"1234567890"}"#));
    let as_number = canonical_body(&params(r#"{"customer_no":1234567890}"#));
    assert_eq!(as_string, r#"{"customer_no":"1234567890"}"#);
    assert_eq!(as_number, r#"{"customer_no":1234567890}"#);
    assert_ne!(body_hash(&as_string), body_hash(&as_number));
}

#[test]
fn empty_params_give_the_empty_string() {
    assert_eq!(canonical_body(&[]), "");
    let only_auth = r#"{"api_id":"LK1","timestamp":1700000000,"signature":"ab"}"#;
    assert_eq!(canonical_body(&params(only_auth)), "");
    assert_eq!(
        body_hash(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn list_like_top_level_is_written_as_php_would() {
    // ksort'ed keys 0..n-1 make a PHP list.
    assert_eq!(canonical_body(&params(r#"{"0":"x"}"#)), r#"["x"]"#);
    assert_eq!(
        canonical_body(&params(r#"{"1":"b","0":"a"}"#)),
        r#"["a","b"]"#
    );
}

#[test]
fn business_params_drop_only_the_auth_fields() {
    let body = parse(
        br#"{"signature":"x","cmd":"inquiry","api_id":"LK1","code":"C","timestamp":1,"testing":false,"api_key":"k"}"#,
    )
    .unwrap();
    let p = business_params(&body).unwrap();
    let keys: Vec<_> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["cmd", "code", "testing", "api_key"]);
    for not_object in ["[]", "1", "\"a\"", "null"] {
        assert_eq!(
            business_params(&parse(not_object.as_bytes()).unwrap()),
            Err(CanonError::NotAnObject)
        );
    }
}

// python3 -c 'import hashlib,hmac;c=b"{\"cmd\":\"inquiry\",\"code\":\"MPBPJS\",\"customer_no\":\"1234567890\",\"ref_id\":\"INQ-1\"}";h=hashlib.sha256(c).hexdigest();print(h, hmac.new(b"s",b"LK1|k|1700000000|"+h.encode(),hashlib.sha256).hexdigest())'
// (and the seed's PHP code gives the same signature).
const VECTOR_HASH: &str = "2ab89baf3be00fa476e19fe400dd8b5ad070b1bbf4ba0561788c1eb419867cef";
const VECTOR_SIGNATURE: &str = "5f6568692558ed57b78a9177272b52dace2c337fcb9b2a9fae8dfdd99628f629";

#[test]
fn known_vector() {
    let p =
        params(r#"{"cmd":"inquiry","code":"MPBPJS","customer_no":"1234567890","ref_id":"INQ-1"}"#);
    let canonical = canonical_body(&p);
    assert_eq!(
        canonical,
        r#"{"cmd":"inquiry","code":"MPBPJS","customer_no":"1234567890","ref_id":"INQ-1"}"#
    );
    assert_eq!(body_hash(&canonical), VECTOR_HASH);
    let sts = string_to_sign("LK1", "k", "1700000000", VECTOR_HASH);
    assert_eq!(sts, format!("LK1|k|1700000000|{VECTOR_HASH}"));
    assert_eq!(sign("s", &sts), VECTOR_SIGNATURE);
    assert_eq!(
        signature("LK1", "k", "s", "1700000000", &p),
        VECTOR_SIGNATURE
    );
    // The order received does not matter; the auth fields are not params.
    let shuffled = params(
        r#"{"signature":"zz","ref_id":"INQ-1","api_id":"LK1","customer_no":"1234567890","code":"MPBPJS","timestamp":1700000000,"cmd":"inquiry"}"#,
    );
    assert_eq!(
        signature("LK1", "k", "s", "1700000000", &shuffled),
        VECTOR_SIGNATURE
    );
    // python3 -c 'import hashlib,hmac;print(hmac.new(b"s",b"LK1|k|1700000000|"+hashlib.sha256(b"").hexdigest().encode(),hashlib.sha256).hexdigest())'
    assert_eq!(
        signature("LK1", "k", "s", "1700000000", &[]),
        "402c7ffdf66027e732e03f8cb68e200da711fbea30cb4cae02f452395e371475"
    );
}

#[test]
fn hmac_rfc4231_case_2() {
    assert_eq!(
        sign("Jefe", "what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn matching() {
    let s = VECTOR_SIGNATURE;
    assert!(signatures_match(s, s));
    assert!(signatures_match(s, &s.to_uppercase()));
    assert!(!signatures_match(s, &s[..63]));
    assert!(!signatures_match(s, ""));
    assert!(!signatures_match(s, &format!("{s}0")));
    assert!(!signatures_match(s, VECTOR_HASH));
    assert!(!signatures_match("", "x"));
    assert!(signatures_match("", ""));
}

#[test]
fn parse_keeps_order_and_unescapes() {
    let v = parse(br#"{"b":1,"a":"x\u0041\n","c":[true,false,null,{}]}"#).unwrap();
    assert_eq!(
        v,
        Json::Object(vec![
            ("b".into(), Json::Number("1".into())),
            ("a".into(), Json::String("xA\n".into())),
            (
                "c".into(),
                Json::Array(vec![
                    Json::Bool(true),
                    Json::Bool(false),
                    Json::Null,
                    Json::Object(vec![]),
                ])
            ),
        ])
    );
    assert_eq!(parse(b" \t\r\n7 \n").unwrap(), Json::Number("7".into()));
    assert_eq!(
        parse("\"\u{10ffff}\"".as_bytes()).unwrap(),
        Json::String("\u{10ffff}".into())
    );
    assert_eq!(
        parse(br#""\udbff\udfff""#).unwrap(),
        Json::String("\u{10ffff}".into())
    );
}

#[test]
fn parse_rejects() {
    use CanonError::*;
    let cases: &[(&[u8], CanonError)] = &[
        (b"", UnexpectedEnd),
        (b"   ", UnexpectedEnd),
        (b"{", UnexpectedEnd),
        (b"[1,", UnexpectedEnd),
        (br#"{"a":1,}"#, Unexpected(7)),
        (b"[1,]", Unexpected(3)),
        (b"[,1]", Unexpected(1)),
        (br#"{"a" 1}"#, Unexpected(5)),
        (br#"{a:1}"#, Unexpected(1)),
        (b"{'a':1}", Unexpected(1)),
        (b"[1 2]", Unexpected(3)),
        (b"/* c */ 1", Unexpected(0)),
        (b"1 // c", TrailingData(2)),
        (b"[1]#", TrailingData(3)),
        (b"1 2", TrailingData(2)),
        (b"{}{}", TrailingData(2)),
        (b"\xef\xbb\xbf{}", Unexpected(0)),
        (b"\x0b1", Unexpected(0)),
        (b"\x0c1", Unexpected(0)),
        ("\u{a0}1".as_bytes(), Unexpected(0)),
        (b"[1\xff]", InvalidUtf8(2)),
        (b"\"\xc3\"", InvalidUtf8(1)),
        (b"\"\xed\xa0\x80\"", InvalidUtf8(1)),
        (b"tru", UnexpectedEnd),
        (b"True", Unexpected(0)),
        (b"nul", UnexpectedEnd),
        (b"NaN", Unexpected(0)),
        (b"Infinity", Unexpected(0)),
        (b"-Infinity", InvalidNumber(0)),
        (b"+1", Unexpected(0)),
        (b"01", TrailingData(1)),
        (b"-01", TrailingData(2)),
        (b"1.", InvalidNumber(0)),
        (b".5", Unexpected(0)),
        (b"1.e5", InvalidNumber(0)),
        (b"1e", InvalidNumber(0)),
        (b"1e+", InvalidNumber(0)),
        (b"-", UnexpectedEnd),
        (b"0x10", TrailingData(1)),
        (b"1e400", NumberOutOfRange(0)),
        (b"[-1e400]", NumberOutOfRange(1)),
        (b"\"abc", UnexpectedEnd),
        (b"\"a\nb\"", ControlCharacter(2)),
        (b"\"a\tb\"", ControlCharacter(2)),
        (b"\"\x00\"", ControlCharacter(1)),
        (br#""\x41""#, InvalidEscape(1)),
        (br#""\'""#, InvalidEscape(1)),
        (br#""\u12""#, InvalidEscape(5)),
        (br#""\u12g4""#, InvalidEscape(5)),
        (br#""\ud800""#, LoneSurrogate(1)),
        (br#""\ud800x""#, LoneSurrogate(1)),
        (br#""\ud800\n""#, LoneSurrogate(1)),
        (br#""\ud800\u0041""#, LoneSurrogate(1)),
        (br#""\ud800\ud800""#, LoneSurrogate(1)),
        (br#""\udc00""#, LoneSurrogate(1)),
        (br#""a\udfff\ud800""#, LoneSurrogate(2)),
        (br#""\"#, UnexpectedEnd),
        (br#""\u"#, UnexpectedEnd),
        (br#"{"a":1,"a":2}"#, DuplicateKey("a".into())),
        (br#"{"a":1,"\u0061":2}"#, DuplicateKey("a".into())),
        (br#"{"x":[{"k":1,"j":2,"k":3}]}"#, DuplicateKey("k".into())),
        (br#"{"":1,"":2}"#, DuplicateKey(String::new())),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse(input).as_ref(),
            Err(expected),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn the_same_key_in_different_objects_is_fine() {
    let v = parse(br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#).unwrap();
    assert_eq!(encode_php(&v), r#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#);
}

#[test]
fn depth_limit() {
    let nested = |n: usize, open: &str, close: &str| {
        let mut s = open.repeat(n);
        s.push('1');
        s.push_str(&close.repeat(n));
        s
    };
    assert!(parse(nested(MAX_DEPTH, "[", "]").as_bytes()).is_ok());
    assert_eq!(
        parse(nested(MAX_DEPTH + 1, "[", "]").as_bytes()),
        Err(CanonError::TooDeep)
    );
    assert!(parse(nested(MAX_DEPTH, r#"{"a":"#, "}").as_bytes()).is_ok());
    assert_eq!(
        parse(nested(MAX_DEPTH + 1, r#"{"a":"#, "}").as_bytes()),
        Err(CanonError::TooDeep)
    );
    // Far deeper input fails fast instead of overflowing the stack.
    assert_eq!(
        parse("[".repeat(1_000_000).as_bytes()),
        Err(CanonError::TooDeep)
    );
    // Empty containers count too.
    let mut s = "[".repeat(MAX_DEPTH);
    s.push_str("{}");
    s.push_str(&"]".repeat(MAX_DEPTH));
    assert_eq!(parse(s.as_bytes()), Err(CanonError::TooDeep));
}

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Plain JSON text of a value (numbers raw, strings escaped minimally with `\u` for controls).
fn to_json(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.clone(),
        Json::String(s) => json_string(s),
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(to_json).collect::<Vec<_>>().join(",")
        ),
        Json::Object(members) => format!(
            "{{{}}}",
            members
                .iter()
                .map(|(k, v)| format!("{}:{}", json_string(k), to_json(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const CHARS: &[char] = &[
    'a',
    'Z',
    '0',
    '9',
    ' ',
    '/',
    '"',
    '\\',
    '\u{0}',
    '\u{1}',
    '\u{8}',
    '\u{9}',
    '\n',
    '\u{c}',
    '\r',
    '\u{1b}',
    '\u{1f}',
    '\u{7f}',
    '\u{80}',
    'é',
    'Ş',
    '王',
    '\u{2028}',
    '\u{2029}',
    '\u{fffd}',
    '\u{feff}',
    '😀',
    '\u{10ffff}',
    '-',
    '.',
    'e',
];

fn random_string(rng: &mut Rng) -> String {
    let n = rng.below(6);
    (0..n).map(|_| *rng.pick(CHARS)).collect()
}

fn random_number(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => (rng.next() as i64 >> rng.below(64)).to_string(),
        1 => format!("{}", rng.next() % 1000),
        2 => {
            // Any finite double, written shortest (Rust's `{:e}` is JSON syntax).
            let f = f64::from_bits(rng.next());
            if f.is_finite() {
                format!("{f:e}")
            } else {
                "1.5".into()
            }
        }
        3 => {
            // Decimal-looking floats around the fixed/exponential thresholds.
            let mantissa = rng.next() % 100_000;
            let exp = rng.below(44) as i32 - 22;
            format!("{mantissa}e{exp}")
        }
        4 => {
            let int = rng.next() % 1_000_000;
            let frac = rng.next() % 1000;
            format!("{int}.{frac:03}")
        }
        5 => {
            // Integers past i64.
            let digits = 19 + rng.below(12);
            let mut s = String::from(if rng.below(2) == 0 { "-" } else { "" });
            s.push(char::from(b'1' + rng.below(9) as u8));
            for _ in 1..digits {
                s.push(char::from(b'0' + rng.below(10) as u8));
            }
            s
        }
        6 => rng
            .pick(&["-0", "-0.0", "0.0", "1e-400", "5e-324", "1E+2", "1.0"])
            .to_string(),
        _ => {
            let f = (rng.next() % 10_000_000) as f64 / 10f64.powi(rng.below(12) as i32);
            format!("{f}")
        }
    }
}

fn random_value(rng: &mut Rng, depth: usize) -> Json {
    let leaf = depth >= 4 || rng.below(3) > 0;
    if leaf {
        return match rng.below(6) {
            0 => Json::Null,
            1 => Json::Bool(rng.below(2) == 0),
            2 | 3 => Json::Number(random_number(rng)),
            _ => Json::String(random_string(rng)),
        };
    }
    let n = rng.below(4);
    if rng.below(2) == 0 {
        Json::Array((0..n).map(|_| random_value(rng, depth + 1)).collect())
    } else {
        random_object(rng, depth + 1, n)
    }
}

fn random_object(rng: &mut Rng, depth: usize, n: usize) -> Json {
    let sequential = rng.below(4) == 0;
    let mut members: Vec<(String, Json)> = Vec::new();
    for i in 0..n {
        let key = if sequential {
            i.to_string()
        } else {
            match rng.below(4) {
                0 => rng
                    .pick(&["0", "1", "10", "9", "01", "-1", "", "a"])
                    .to_string(),
                _ => random_string(rng),
            }
        };
        if members.iter().any(|(k, _)| *k == key) {
            continue;
        }
        members.push((key, random_value(rng, depth)));
    }
    Json::Object(members)
}

#[test]
fn random_documents_round_trip_through_our_parser() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..3000 {
        let v = random_value(&mut rng, 0);
        let text = to_json(&v);
        assert_eq!(parse(text.as_bytes()).as_ref(), Ok(&v), "{text}");
        // PHP's output is JSON again.
        let php = encode_php(&v);
        assert!(parse(php.as_bytes()).is_ok(), "{php}");
    }
}

#[test]
fn never_panics_on_garbage() {
    const TOKENS: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"",
        b"\\",
        b"\\u",
        b"d800",
        b"dc00",
        b"00e9",
        b"-",
        b"0",
        b"1",
        b"9",
        b"e",
        b"E",
        b".",
        b"+",
        b" ",
        b"\n",
        b"true",
        b"null",
        b"fals",
        b"\"a\"",
        b"\xc3\xa9",
        b"\xff",
        b"\x00",
        b"\x1f",
        b"\xe2\x80\xa8",
        b"\xf0\x9f",
        b"1e400",
        b"\"k\":",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let check = |input: &[u8]| {
        if let Ok(v) = parse(input) {
            let php = encode_php(&v);
            assert!(parse(php.as_bytes()).is_ok(), "{php}");
            if let Ok(p) = business_params(&v) {
                canonical_body(&p);
            }
        }
    };
    // Every prefix of valid documents, and single-byte mutations of them.
    let mut docs: Vec<Vec<u8>> = TABLE.iter().map(|(i, _)| i.as_bytes().to_vec()).collect();
    for _ in 0..50 {
        docs.push(to_json(&random_value(&mut rng, 0)).into_bytes());
    }
    for doc in &docs {
        for end in 0..=doc.len() {
            check(&doc[..end]);
        }
        for _ in 0..20 {
            let mut m = doc.clone();
            if m.is_empty() {
                continue;
            }
            let at = rng.below(m.len());
            m[at] = rng.next() as u8;
            check(&m);
        }
    }
    // Token soup and raw random bytes.
    for _ in 0..20_000 {
        let mut input = Vec::new();
        for _ in 0..rng.below(24) {
            let token: &&[u8] = rng.pick(TOKENS);
            input.extend_from_slice(token);
        }
        check(&input);
        let raw: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
        check(&raw);
    }
}

/// Runs php-cli on every line of `input` (one JSON document per line), printing for each the hex
/// of `json_encode(json_decode(line, true))` and of the canonical body PHP's client builds.
fn run_php(input: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const SCRIPT: &str = r#"
        $flags = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES;
        while (($line = fgets(STDIN)) !== false) {
            $v = json_decode(rtrim($line, "\n"), true, 512, JSON_THROW_ON_ERROR);
            $canonical = "-";
            if (is_array($v) && substr(ltrim($line), 0, 1) === "{") {
                unset($v["api_id"], $v["timestamp"], $v["signature"]);
                ksort($v, SORT_STRING);
                $canonical = count($v) === 0 ? "" : json_encode($v, $flags);
                $v = json_decode(rtrim($line, "\n"), true);
            }
            echo bin2hex(json_encode($v, $flags)), " ", bin2hex($canonical), "\n";
        }
    "#;
    let mut child = Command::new("php")
        .args(["-d", "serialize_precision=-1", "-r", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().ok()?;
    let _ = writer.join();
    assert!(out.status.success(), "php failed");
    String::from_utf8(out.stdout).ok()
}

fn unhex(s: &str) -> String {
    String::from_utf8(hex::decode(s).unwrap()).unwrap()
}

#[test]
fn php_agrees_with_the_table_and_random_documents() {
    let has_php = std::process::Command::new("php")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_php {
        println!("php-cli not found: skipping the comparison with PHP's json_encode");
        return;
    }
    let mut docs: Vec<String> = TABLE
        .iter()
        .map(|(i, _)| i.replace(['\n', '\r'], " "))
        .collect();
    let mut rng = Rng(0x0bad_cafe_f00d_d00d);
    for n in 0..4000 {
        let v = if n % 2 == 0 {
            let size = rng.below(5);
            random_object(&mut rng, 1, size)
        } else {
            random_value(&mut rng, 0)
        };
        docs.push(to_json(&v));
    }
    let docs: Vec<String> = docs.into_iter().filter(|d| !d.contains('\n')).collect();
    let Some(out) = run_php(&(docs.join("\n") + "\n")) else {
        panic!("could not run php");
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), docs.len());
    for (doc, line) in docs.iter().zip(lines) {
        let (encoded, canonical) = line.split_once(' ').unwrap_or((line, ""));
        let v = parse(doc.as_bytes()).unwrap();
        assert_eq!(encode_php(&v), unhex(encoded), "json_encode of {doc}");
        if canonical != hex::encode("-") {
            let p = business_params(&v).unwrap();
            assert_eq!(
                canonical_body(&p),
                unhex(canonical),
                "canonical body of {doc}"
            );
        }
    }
}
