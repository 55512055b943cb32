//! A minimal PDF writer for receipts: one A6-ish page of monospaced text in a standard font
//! (Courier, no embedding needed), uncompressed so a receipt stays greppable. Enough for a struk
//! that any viewer or counter printer can print.

/// Render `lines` (title first) as a one-page PDF.
pub fn text_page(lines: &[String]) -> Vec<u8> {
    let width = 298; // 105 mm
    let line_height = 13;
    let height = 60 + line_height * lines.len() as i64;
    let mut content = String::from("BT\n/F1 9 Tf\n");
    content.push_str(&format!("{} TL\n20 {} Td\n", line_height, height - 30));
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            content.push_str(&format!("/F1 11 Tf ({}) Tj T* /F1 9 Tf\n", escape(line)));
        } else {
            content.push_str(&format!("({}) Tj T*\n", escape(line)));
        }
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>".to_string(),
        format!("<< /Length {} >>\nstream\n{}endstream", content.len(), content),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{}\nendobj\n", i + 1, obj).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A PDF string literal's content: ASCII only (the font is WinAnsi; receipts are ASCII anyway),
/// with `\`, `(` and `)` escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' | '(' | ')' => {
                out.push('\\');
                out.push(ch);
            }
            ' '..='~' => out.push(ch),
            _ => out.push('?'),
        }
    }
    out
}

/// Check a PDF's structure: header, every xref offset pointing at its object, startxref
/// pointing at the xref table, and the trailer's /Root. Used by the tests of receipts.
pub fn check_structure(pdf: &[u8]) -> Result<(), String> {
    // One char per byte, so that string offsets are byte offsets.
    let text: String = pdf
        .iter()
        .map(|&b| if b.is_ascii() { b as char } else { '?' })
        .collect();
    if !pdf.starts_with(b"%PDF-1.") {
        return Err("no %PDF header".into());
    }
    if !text.trim_end().ends_with("%%EOF") {
        return Err("no %%EOF".into());
    }
    let sx = text.rfind("startxref\n").ok_or("no startxref")?;
    let xref: usize = text[sx + 10..]
        .lines()
        .next()
        .ok_or("empty startxref")?
        .trim()
        .parse()
        .map_err(|_| "bad startxref")?;
    if !text[xref..].starts_with("xref\n") {
        return Err("startxref does not point at the xref table".into());
    }
    let mut lines = text[xref..].lines().skip(1);
    let header = lines.next().ok_or("no subsection")?;
    let count: usize = header
        .split(' ')
        .nth(1)
        .ok_or("bad subsection")?
        .parse()
        .map_err(|_| "bad count")?;
    lines.next();
    for n in 1..count {
        let entry = lines.next().ok_or("short xref")?;
        let off: usize = entry[..10].parse().map_err(|_| "bad offset")?;
        if !text[off..].starts_with(&format!("{n} 0 obj")) {
            return Err(format!("xref entry {n} points at the wrong place"));
        }
    }
    if !text.contains("/Root 1 0 R") {
        return Err("no /Root".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_well_formed_pdf() {
        let pdf = text_page(&[
            "STRUK (PLN)".into(),
            "NAMA : JAYUSMAN".into(),
            "back\\slash é".into(),
        ]);
        check_structure(&pdf).unwrap();
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("(STRUK \\(PLN\\)) Tj"));
        assert!(text.contains("(NAMA : JAYUSMAN) Tj"));
        assert!(text.contains("(back\\\\slash ?) Tj"));
    }
}
