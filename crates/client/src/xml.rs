//! The IAK XML codec: documents whose root element is `<mp>`, one child element per field.
//!
//! Parsing is deliberately strict about anything that could make a parser do more than read the
//! bytes it was given: DTDs are refused outright, only the five predefined entities and numeric
//! character references are understood (custom entities are never expanded, nothing external is
//! ever read), and depth and element count are bounded.

use quick_xml::escape::{resolve_xml_entity, unescape_with, EscapeError};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

/// Deepest nesting accepted, counting the root `<mp>` as level 1.
pub const MAX_DEPTH: usize = 8;
/// Most elements accepted in one document, the root included.
pub const MAX_ELEMENTS: usize = 10_000;
/// Most characters of the input an error message may quote.
const MAX_ECHO: usize = 64;

/// Why an XML body was refused. Messages are short and quote at most 64 characters of input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    #[error("body is not valid UTF-8")]
    InvalidUtf8,
    #[error("DOCTYPE / DTD is not allowed")]
    Doctype,
    #[error("processing instructions are not allowed")]
    ProcessingInstruction,
    #[error("XML declaration is only allowed at the start")]
    MisplacedDeclaration,
    #[error("entity reference not allowed: &{0};")]
    Entity(String),
    #[error("invalid character or entity reference")]
    BadReference,
    #[error("root element must be <mp>, found <{0}>")]
    WrongRoot(String),
    #[error("only one root element is allowed")]
    MultipleRoots,
    #[error("text outside the root element")]
    TextOutsideRoot,
    #[error("no root element")]
    NoRoot,
    #[error("mixed text and element content in <{0}>")]
    MixedContent(String),
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("unexpected end of document (unclosed element)")]
    UnexpectedEof,
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// At most [`MAX_ECHO`] characters of `s`, cut on a character boundary.
fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, XmlError> {
    std::str::from_utf8(bytes).map_err(|_| XmlError::InvalidUtf8)
}

fn is_xml_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_blank(s: &str) -> bool {
    s.chars().all(is_xml_ws)
}

fn unescape_text(raw: &str) -> Result<String, XmlError> {
    match unescape_with(raw, resolve_xml_entity) {
        Ok(s) => Ok(s.into_owned()),
        Err(EscapeError::UnrecognizedEntity(_, name)) => Err(XmlError::Entity(clip(&name))),
        Err(_) => Err(XmlError::BadReference),
    }
}

struct Frame {
    name: String,
    text: String,
    has_text: bool,
    has_child: bool,
    children: Map<String, Value>,
}

impl Frame {
    fn new(name: String) -> Self {
        Frame {
            name,
            text: String::new(),
            has_text: false,
            has_child: false,
            children: Map::new(),
        }
    }

    fn add_text(&mut self, s: &str) -> Result<(), XmlError> {
        if is_blank(s) {
            if !self.has_child {
                self.text.push_str(s);
            }
            return Ok(());
        }
        if self.has_child {
            return Err(XmlError::MixedContent(clip(&self.name)));
        }
        self.has_text = true;
        self.text.push_str(s);
        Ok(())
    }

    fn into_value(self) -> Value {
        if self.has_child {
            Value::Object(self.children)
        } else {
            Value::String(self.text.trim_matches(is_xml_ws).to_string())
        }
    }
}

fn insert(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// Parses an `<mp>` document into a map of its fields.
///
/// Text-only elements become strings (trimmed; `<x/>` and `<x></x>` are `""`), elements with
/// children become objects, repeated siblings become arrays in document order. Attributes and
/// comments are ignored; CDATA is text. See the module docs for what is refused.
pub fn parse_mp(body: &[u8]) -> Result<Map<String, Value>, XmlError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = utf8(body)?;
    let mut reader = Reader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.allow_unmatched_ends = false;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
    }

    let mut stack: Vec<Frame> = Vec::new();
    let mut result: Option<Map<String, Value>> = None;
    let mut elements = 0usize;
    let mut prolog_done = false; // something other than whitespace has been seen

    loop {
        let event = reader.read_event().map_err(|e| {
            XmlError::Malformed(clip(&format!("{e} (at byte {})", reader.error_position())))
        })?;
        match event {
            Event::Decl(_) => {
                if prolog_done {
                    return Err(XmlError::MisplacedDeclaration);
                }
                prolog_done = true;
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::PI(_) => return Err(XmlError::ProcessingInstruction),
            Event::Comment(_) => prolog_done = true,
            Event::Start(e) => {
                prolog_done = true;
                let name = utf8(e.name().as_ref())?.to_string();
                open(&mut stack, &result, &mut elements, &name)?;
                stack.push(Frame::new(name));
                if stack.len() > MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
            }
            Event::Empty(e) => {
                prolog_done = true;
                let name = utf8(e.name().as_ref())?.to_string();
                open(&mut stack, &result, &mut elements, &name)?;
                if stack.len() + 1 > MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                close(&mut stack, &mut result, Frame::new(name))?;
            }
            Event::End(_) => {
                // quick-xml has already checked that the name matches the open element.
                let frame = stack.pop().ok_or_else(|| {
                    XmlError::Malformed("end tag without a start tag".to_string())
                })?;
                close(&mut stack, &mut result, frame)?;
            }
            Event::Text(t) => {
                let raw = t.into_inner();
                let raw = utf8(&raw)?;
                match stack.last_mut() {
                    Some(frame) => frame.add_text(&unescape_text(raw)?)?,
                    None => {
                        if !is_blank(raw) {
                            return Err(XmlError::TextOutsideRoot);
                        }
                    }
                }
            }
            Event::CData(t) => {
                let raw = t.into_inner();
                let raw = utf8(&raw)?;
                match stack.last_mut() {
                    Some(frame) => frame.add_text(raw)?,
                    None => return Err(XmlError::TextOutsideRoot),
                }
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(XmlError::UnexpectedEof);
                }
                return result.ok_or(XmlError::NoRoot);
            }
        }
    }
}

/// Checks and counts a new element before it is opened.
fn open(
    stack: &mut [Frame],
    result: &Option<Map<String, Value>>,
    elements: &mut usize,
    name: &str,
) -> Result<(), XmlError> {
    *elements += 1;
    if *elements > MAX_ELEMENTS {
        return Err(XmlError::TooManyElements);
    }
    match stack.last_mut() {
        None => {
            if result.is_some() {
                return Err(XmlError::MultipleRoots);
            }
            if name != "mp" {
                return Err(XmlError::WrongRoot(clip(name)));
            }
        }
        Some(parent) => {
            if parent.has_text {
                return Err(XmlError::MixedContent(clip(&parent.name)));
            }
            parent.has_child = true;
            parent.text.clear();
        }
    }
    Ok(())
}

/// Attaches a finished element to its parent, or makes it the result when it is the root.
fn close(
    stack: &mut [Frame],
    result: &mut Option<Map<String, Value>>,
    frame: Frame,
) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            let name = frame.name.clone();
            insert(&mut parent.children, name, frame.into_value());
        }
        None => {
            if frame.has_text {
                return Err(XmlError::MixedContent(clip(&frame.name)));
            }
            *result = Some(frame.children);
        }
    }
    Ok(())
}

/// Escapes text for element content: `& < > " '`, plus `\r` (kept as a character reference so
/// it survives parsing) and characters XML 1.0 cannot carry (replaced by U+FFFD).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_field(out: &mut String, depth: usize, key: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            for item in items {
                write_field(out, depth, key, item);
            }
        }
        Value::Object(map) if !map.is_empty() => {
            indent(out, depth);
            out.push('<');
            out.push_str(key);
            out.push_str(">\n");
            for (k, v) in map {
                write_field(out, depth + 1, k, v);
            }
            indent(out, depth);
            out.push_str("</");
            out.push_str(key);
            out.push_str(">\n");
        }
        scalar => {
            let text = match scalar {
                Value::String(s) => escape(s),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => String::new(), // null, empty object
            };
            indent(out, depth);
            out.push('<');
            out.push_str(key);
            out.push('>');
            out.push_str(&text);
            out.push_str("</");
            out.push_str(key);
            out.push_str(">\n");
        }
    }
}

/// Writes fields as an `<mp>` document: declaration, two-space indentation, one element per line,
/// nested objects as nested elements, arrays as repeated elements, null / `""` / `{}` as an empty
/// pair (`<x></x>`), empty arrays not at all.
pub fn write_mp(fields: &Map<String, Value>) -> String {
    write_mp_pairs(fields.iter().map(|(k, v)| (k.as_str(), v)))
}

/// [`write_mp`] over ordered `(name, value)` pairs (answers built without a map).
pub fn write_mp_pairs<'a>(fields: impl IntoIterator<Item = (&'a str, &'a Value)>) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("<?xml version=\"1.0\"?>\n<mp>\n");
    for (k, v) in fields {
        write_field(&mut out, 1, k, v);
    }
    out.push_str("</mp>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    /// The string form of a JSON value as parse_mp would give it back.
    fn stringly(v: &Value) -> Value {
        match v {
            Value::Null => Value::String(String::new()),
            Value::Bool(b) => Value::String(b.to_string()),
            Value::Number(n) => Value::String(n.to_string()),
            Value::String(s) => Value::String(s.clone()),
            Value::Array(items) => Value::Array(items.iter().map(stringly).collect()),
            Value::Object(m) if m.is_empty() => Value::String(String::new()),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), stringly(v))).collect())
            }
        }
    }

    const SEED_REQUEST: &str = r#"<?xml version="1.0" ?>
<mp>
  <commands>inq-pasca</commands>
  <username>123123123</username>
  <code>PLNNONTAG</code>
  <hp>3225030005901</hp>
  <ref_id>09128374655</ref_id>
  <sign>0f32cc44bb9469687ef24b6ea857db06</sign>
</mp>
"#;

    #[test]
    fn seed_request_parses() {
        let m = parse_mp(SEED_REQUEST.as_bytes()).unwrap();
        let expected = obj(json!({
            "commands": "inq-pasca",
            "username": "123123123",
            "code": "PLNNONTAG",
            "hp": "3225030005901",
            "ref_id": "09128374655",
            "sign": "0f32cc44bb9469687ef24b6ea857db06"
        }));
        assert_eq!(m, expected);
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["commands", "username", "code", "hp", "ref_id", "sign"]
        );
    }

    #[test]
    fn seed_response_writes_exactly() {
        let fields = obj(json!({
            "tr_id": 219346108,
            "code": "PLNNONTAG",
            "hp": "3225030005901",
            "tr_name": "JAYUSMAN",
            "period": "",
            "nominal": 696400,
            "admin": 1600,
            "ref_id": "09128374655",
            "response_code": "00",
            "message": "INQUIRY SUCCESS",
            "price": 698000,
            "selling_price": 696200,
            "desc": {
                "transaksi": "PENYAMBUNGAN BARU",
                "no_registrasi": "5392112011703",
                "tanggal_registrasi": "20120524"
            }
        }));
        let expected = "<?xml version=\"1.0\"?>
<mp>
  <tr_id>219346108</tr_id>
  <code>PLNNONTAG</code>
  <hp>3225030005901</hp>
  <tr_name>JAYUSMAN</tr_name>
  <period></period>
  <nominal>696400</nominal>
  <admin>1600</admin>
  <ref_id>09128374655</ref_id>
  <response_code>00</response_code>
  <message>INQUIRY SUCCESS</message>
  <price>698000</price>
  <selling_price>696200</selling_price>
  <desc>
    <transaksi>PENYAMBUNGAN BARU</transaksi>
    <no_registrasi>5392112011703</no_registrasi>
    <tanggal_registrasi>20120524</tanggal_registrasi>
  </desc>
</mp>
";
        let written = write_mp(&fields);
        assert_eq!(written, expected);
        assert_eq!(
            parse_mp(written.as_bytes()).unwrap(),
            obj(stringly(&Value::Object(fields)))
        );
    }

    #[test]
    fn seed_response_with_its_typos_is_refused() {
        // The seed's XML answer closes <no_registrasi> with </daya>: not well-formed.
        let bad = "<mp><desc><no_registrasi>5392112011703</daya></desc></mp>";
        assert!(parse_mp(bad.as_bytes()).is_err());
    }

    #[test]
    fn write_shapes() {
        let fields = obj(json!({
            "a": null,
            "b": {},
            "c": [],
            "d": [1, "x", {"p": "q"}],
            "e": true,
            "f": "<&>\"'",
            "g": 1.5,
            "h": {"detail": [{"periode": "01"}, {"periode": "02"}]}
        }));
        let expected = "<?xml version=\"1.0\"?>
<mp>
  <a></a>
  <b></b>
  <d>1</d>
  <d>x</d>
  <d>
    <p>q</p>
  </d>
  <e>true</e>
  <f>&lt;&amp;&gt;&quot;&apos;</f>
  <g>1.5</g>
  <h>
    <detail>
      <periode>01</periode>
    </detail>
    <detail>
      <periode>02</periode>
    </detail>
  </h>
</mp>
";
        assert_eq!(write_mp(&fields), expected);
        assert_eq!(
            write_mp(&Map::new()),
            "<?xml version=\"1.0\"?>\n<mp>\n</mp>\n"
        );
    }

    #[test]
    fn round_trip_gives_string_forms() {
        let fields = obj(json!({
            "tr_id": 219346108,
            "ref_id": "09128374655",
            "amount": -5,
            "ok": false,
            "empty": "",
            "nothing": null,
            "weird": "a & b < c > d \"e\" 'f' ünïcödé 漢字",
            "desc": {
                "tarif": "R1",
                "daya": 1300,
                "tagihan": {"detail": [
                    {"periode": "201608", "total": 302500},
                    {"periode": "201609", "total": 1}
                ]}
            },
            "list": ["1", "2", "3"]
        }));
        let parsed = parse_mp(write_mp(&fields).as_bytes()).unwrap();
        assert_eq!(Value::Object(parsed), stringly(&Value::Object(fields)));
    }

    #[test]
    fn control_characters_survive_or_are_replaced() {
        let fields = obj(json!({"a": "x\r\ny\tz", "b": "bell\u{7}"}));
        let parsed = parse_mp(write_mp(&fields).as_bytes()).unwrap();
        assert_eq!(parsed["a"], "x\r\ny\tz");
        assert_eq!(parsed["b"], "bell\u{FFFD}");
    }

    #[test]
    fn parse_shapes() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<mp version="2">
  <a/>
  <b></b>
  <c attr="ignored">  spaced  </c>
  <d><![CDATA[<raw & text>]]></d>
  <e>&amp;&lt;&gt;&quot;&apos;&#65;&#x42;</e>
  <f>
    <g>1</g>
    <g>2</g>
    <g>3</g>
    <h><i>deep</i></h>
  </f>
  <f>second</f>
  <j>one<!-- c -->two</j>
</mp>
<!-- trailing -->
"#;
        let m = parse_mp(doc).unwrap();
        assert_eq!(
            Value::Object(m),
            json!({
                "a": "",
                "b": "",
                "c": "spaced",
                "d": "<raw & text>",
                "e": "&<>\"'AB",
                "f": [{"g": ["1", "2", "3"], "h": {"i": "deep"}}, "second"],
                "j": "onetwo"
            })
        );
    }

    #[test]
    fn accepts_small_variants() {
        assert_eq!(parse_mp(b"<mp/>").unwrap(), Map::new());
        assert_eq!(parse_mp(b"  <mp>  </mp>  ").unwrap(), Map::new());
        assert_eq!(
            parse_mp(b"\xEF\xBB\xBF<mp><a>1</a></mp>").unwrap()["a"],
            "1"
        );
        // Depth 8 (mp + 7) is fine.
        let doc = "<mp><a><a><a><a><a><a><a>x</a></a></a></a></a></a></a></mp>";
        assert!(parse_mp(doc.as_bytes()).is_ok());
        let doc = "<mp><a><a><a><a><a><a><a/></a></a></a></a></a></a></mp>";
        assert!(parse_mp(doc.as_bytes()).is_ok());
        // Exactly 10_000 elements (root included) is fine.
        let doc = format!("<mp>{}</mp>", "<a/>".repeat(MAX_ELEMENTS - 1));
        let m = parse_mp(doc.as_bytes()).unwrap();
        assert_eq!(m["a"].as_array().unwrap().len(), MAX_ELEMENTS - 1);
    }

    fn refuse(doc: &[u8]) -> XmlError {
        match parse_mp(doc) {
            Ok(m) => panic!("accepted {:?}: {m:?}", String::from_utf8_lossy(doc)),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.chars().count() <= 120, "message too long: {msg}");
                e
            }
        }
    }

    #[test]
    fn billion_laughs_is_refused() {
        let doc = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<mp><commands>&lol4;</commands></mp>"#;
        assert_eq!(refuse(doc), XmlError::Doctype);
    }

    #[test]
    fn external_entity_is_refused() {
        let doc = br#"<?xml version="1.0"?>
<!DOCTYPE mp [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<mp><username>&xxe;</username></mp>"#;
        assert_eq!(refuse(doc), XmlError::Doctype);
        let doc = br#"<!DOCTYPE mp SYSTEM "http://example.invalid/x.dtd"><mp/>"#;
        assert_eq!(refuse(doc), XmlError::Doctype);
    }

    #[test]
    fn custom_entity_without_dtd_is_refused() {
        assert_eq!(
            refuse(b"<mp><a>&custom;</a></mp>"),
            XmlError::Entity("custom".to_string())
        );
        assert_eq!(
            refuse(b"<mp><a>&nbsp;</a></mp>"),
            XmlError::Entity("nbsp".into())
        );
        assert_eq!(refuse(b"<mp><a>&#0;</a></mp>"), XmlError::BadReference);
        assert_eq!(refuse(b"<mp><a>&#xD800;</a></mp>"), XmlError::BadReference);
        assert_eq!(refuse(b"<mp><a>&#xZZ;</a></mp>"), XmlError::BadReference);
        refuse(b"<mp><a>&amp</a></mp>");
        let long = format!("<mp><a>&{};</a></mp>", "e".repeat(1000));
        let e = refuse(long.as_bytes());
        assert!(e.to_string().len() < 100);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = "<mp><a><a><a><a><a><a><a><a>x</a></a></a></a></a></a></a></a></mp>";
        assert_eq!(refuse(doc.as_bytes()), XmlError::TooDeep);
        let doc = "<mp><a><a><a><a><a><a><a><a/></a></a></a></a></a></a></a></mp>";
        assert_eq!(refuse(doc.as_bytes()), XmlError::TooDeep);
        let doc = format!(
            "<mp>{}{}</mp>",
            "<a>".repeat(100_000),
            "</a>".repeat(100_000)
        );
        assert_eq!(refuse(doc.as_bytes()), XmlError::TooDeep);
    }

    #[test]
    fn too_many_elements_is_refused() {
        let doc = format!("<mp>{}</mp>", "<a>1</a>".repeat(20_000));
        assert_eq!(refuse(doc.as_bytes()), XmlError::TooManyElements);
        let doc = format!("<mp>{}</mp>", "<a/>".repeat(MAX_ELEMENTS));
        assert_eq!(refuse(doc.as_bytes()), XmlError::TooManyElements);
    }

    #[test]
    fn structure_errors_are_refused() {
        assert_eq!(
            refuse(b"<root><a>1</a></root>"),
            XmlError::WrongRoot("root".into())
        );
        assert_eq!(refuse(b"<MP/>"), XmlError::WrongRoot("MP".into()));
        assert_eq!(refuse(b"<mp><a>1</a></mp><mp/>"), XmlError::MultipleRoots);
        assert_eq!(refuse(b"<mp/><other/>"), XmlError::MultipleRoots);
        assert_eq!(refuse(b"junk<mp/>"), XmlError::TextOutsideRoot);
        assert_eq!(refuse(b"<mp/>junk"), XmlError::TextOutsideRoot);
        assert_eq!(refuse(b"<mp/><![CDATA[x]]>"), XmlError::TextOutsideRoot);
        assert_eq!(refuse(b""), XmlError::NoRoot);
        assert_eq!(refuse(b"   "), XmlError::NoRoot);
        assert_eq!(refuse(b"<?xml version=\"1.0\"?>"), XmlError::NoRoot);
        assert_eq!(
            refuse(b"<mp><a>text<b>1</b></a></mp>"),
            XmlError::MixedContent("a".into())
        );
        assert_eq!(
            refuse(b"<mp><a><b>1</b>text</a></mp>"),
            XmlError::MixedContent("a".into())
        );
        assert_eq!(
            refuse(b"<mp>text</mp>"),
            XmlError::MixedContent("mp".into())
        );
        assert_eq!(
            refuse(b"<mp><a/>text</mp>"),
            XmlError::MixedContent("mp".into())
        );
        assert_eq!(
            refuse(b"<mp><a><![CDATA[t]]><b/></a></mp>"),
            XmlError::MixedContent("a".into())
        );
        assert_eq!(
            refuse(b"<mp/><?xml version=\"1.0\"?>"),
            XmlError::MisplacedDeclaration
        );
        assert_eq!(
            refuse(b"<?pi stuff?><mp/>"),
            XmlError::ProcessingInstruction
        );
    }

    #[test]
    fn truncated_and_mismatched_are_refused() {
        let full = SEED_REQUEST.as_bytes();
        for cut in 1..full.len() - 2 {
            // Every proper prefix that ends before "</mp>" completes must be refused.
            if cut < SEED_REQUEST.rfind("</mp>").unwrap() + 5 {
                refuse(&full[..cut]);
            }
        }
        refuse(b"<mp><a>1</b></mp>");
        refuse(b"<mp><a>1</a>");
        refuse(b"<mp><a>1</a></mp></mp>");
        refuse(b"</mp>");
        refuse(b"<mp><a>1 < 2</a></mp>");
        refuse(b"<mp><a 1</a></mp>");
        let long = format!("<mp><{0}>1</{0}x></mp>", "n".repeat(500));
        assert!(refuse(long.as_bytes()).to_string().len() < 120);
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(refuse(b"<mp><a>\xff\xfe</a></mp>"), XmlError::InvalidUtf8);
        assert_eq!(refuse(b"<mp><a\xc3>1</a\xc3></mp>"), XmlError::InvalidUtf8);
        assert_eq!(
            refuse(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><mp><a>caf\xe9</a></mp>"),
            XmlError::InvalidUtf8
        );
        assert_eq!(
            refuse(b"\xfe\xff\x00<\x00m\x00p\x00/\x00>"),
            XmlError::InvalidUtf8
        );
    }

    #[test]
    fn fuzzish_inputs_never_panic() {
        let pieces: [&[u8]; 14] = [
            b"<mp>",
            b"</mp>",
            b"<a>",
            b"</a>",
            b"<a/>",
            b"&amp;",
            b"&x;",
            b"<!--",
            b"-->",
            b"<![CDATA[",
            b"]]>",
            b"<!DOCTYPE",
            b"\xff",
            b"text",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            let mut doc = Vec::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                doc.extend_from_slice(pieces[(seed % pieces.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let _ = parse_mp(&doc);
        }
    }
}
