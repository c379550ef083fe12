//! A small reader of ZPL (ZeroMQ RFC 4, the ZeroMQ Property Language), enough for key files.
//!
//! ZPL is line-based text: each non-blank, non-comment line is a property, `name` or
//! `name = value`; a property indented by 4 spaces more than the line above it is that line's
//! child (so `curve` with `public-key = "..."` under it is the path `curve/public-key`). A value
//! is quoted (`"..."` or `'...'`, no escapes: the quotes are not part of it) or unquoted (up to
//! the first whitespace or `#`). `#` starts a comment, at the start of a line or after a value.
//! Lines end with LF, CRLF or CR.
//!
//! This reader is stricter than the RFC where a key file gains from it: tabs in the indentation,
//! an indentation that is not a multiple of 4, an unterminated quote, text after a value, control
//! characters and the same name twice under one parent are errors, each with its line number.
//! It never panics (a property test and the `key_file` fuzz target check that).

use std::fmt;

/// Most properties in one document (a key file has five).
const MAX_PROPERTIES: usize = 1024;

/// One property: a name, an optional value, the line it is on, and its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The name (ZPL names: letters, digits and `$-_@.&+/`).
    pub name: String,
    /// The value, without its quotes; `None` for a bare name (a section).
    pub value: Option<String>,
    /// The 1-based line number.
    pub line: usize,
    /// The properties indented under this one.
    pub children: Vec<Property>,
}

/// A parsed ZPL document: its top-level properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zpl {
    /// The top-level properties, in file order.
    pub properties: Vec<Property>,
}

/// Why text is not ZPL: the 1-based line and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct ZplError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong, in words.
    pub what: String,
}

impl ZplError {
    fn new(line: usize, what: impl fmt::Display) -> ZplError {
        ZplError {
            line,
            what: what.to_string(),
        }
    }
}

/// Whether `c` may be part of a ZPL name.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "$-_@.&+/".contains(c)
}

/// Splits text into lines at LF, CRLF or CR (ZPL's three line endings).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\n', '\r']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

impl Zpl {
    /// Parses bytes: they must be UTF-8 text (ZPL is ASCII; UTF-8 is allowed in values).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Zpl, ZplError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Zpl::parse(text),
            Err(e) => {
                let before = &bytes[..e.valid_up_to()];
                let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
                Err(ZplError::new(line, "not UTF-8 text"))
            }
        }
    }

    /// Parses ZPL text.
    pub fn parse(text: &str) -> Result<Zpl, ZplError> {
        let mut doc = Zpl::default();
        let mut count = 0usize;
        // The depth of the last property read (None before the first one).
        let mut last_depth: Option<usize> = None;
        for (i, line) in lines(text).enumerate() {
            let n = i + 1;
            let Some((depth, property)) = parse_line(n, line)? else {
                continue;
            };
            let allowed = last_depth.map_or(0, |d| d + 1);
            if depth > allowed {
                let what = match last_depth {
                    None => "the first property is indented (it must start the line)".to_string(),
                    Some(_) => format!(
                        "indented {} spaces, but at most {} (one level under the property above)",
                        depth * 4,
                        allowed * 4
                    ),
                };
                return Err(ZplError::new(n, what));
            }
            count += 1;
            if count > MAX_PROPERTIES {
                return Err(ZplError::new(
                    n,
                    format!("more than {MAX_PROPERTIES} properties"),
                ));
            }
            // The parent is the last property at depth - 1: walk down the last children.
            let mut siblings = &mut doc.properties;
            for _ in 0..depth {
                match siblings.last_mut() {
                    Some(p) => siblings = &mut p.children,
                    // Unreachable given the depth check, but an error is better than a panic.
                    None => return Err(ZplError::new(n, "indented under nothing")),
                }
            }
            if let Some(first) = siblings.iter().find(|p| p.name == property.name) {
                return Err(ZplError::new(
                    n,
                    format!(
                        "{:?} appears twice at the same level (first at line {})",
                        property.name, first.line
                    ),
                ));
            }
            siblings.push(property);
            last_depth = Some(depth);
        }
        Ok(doc)
    }

    /// The property at `path` (names joined by `/`, e.g. `curve/public-key`), if there is one.
    pub fn get(&self, path: &str) -> Option<&Property> {
        let mut siblings = &self.properties;
        let mut found = None;
        for name in path.split('/') {
            let p = siblings.iter().find(|p| p.name == name)?;
            siblings = &p.children;
            found = Some(p);
        }
        found
    }
}

/// Reads one line: `None` for a blank or comment line, else its depth and property.
fn parse_line(n: usize, line: &str) -> Result<Option<(usize, Property)>, ZplError> {
    if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(ZplError::new(n, format!("control character {c:?}")));
    }
    let body = line.trim_start_matches([' ', '\t']);
    if body.is_empty() || body.starts_with('#') {
        return Ok(None);
    }
    let indent = &line[..line.len() - body.len()];
    if indent.contains('\t') {
        return Err(ZplError::new(
            n,
            "a tab in the indentation: ZPL indents with 4 spaces per level",
        ));
    }
    if indent.len() % 4 != 0 {
        return Err(ZplError::new(
            n,
            format!(
                "indented {} spaces: ZPL indents with 4 spaces per level",
                indent.len()
            ),
        ));
    }
    let depth = indent.len() / 4;
    let name_len = body.find(|c| !is_name_char(c)).unwrap_or(body.len());
    if name_len == 0 {
        let c = body.chars().next().unwrap_or(' ');
        return Err(ZplError::new(
            n,
            format!("expected a name, found {c:?} (names are letters, digits and $-_@.&+/)"),
        ));
    }
    let name = body[..name_len].to_string();
    let rest = body[name_len..].trim_start_matches([' ', '\t']);
    let value = if rest.is_empty() || rest.starts_with('#') {
        None
    } else if let Some(after) = rest.strip_prefix('=') {
        let after = after.trim_start_matches([' ', '\t']);
        let (value, tail) = parse_value(n, after)?;
        let tail = tail.trim_start_matches([' ', '\t']);
        if !(tail.is_empty() || tail.starts_with('#')) {
            return Err(ZplError::new(
                n,
                format!("unexpected text after the value of {name:?}: {tail:?}"),
            ));
        }
        Some(value)
    } else {
        return Err(ZplError::new(
            n,
            format!("expected '=' or the end of the line after {name:?}, found {rest:?}"),
        ));
    };
    Ok(Some((
        depth,
        Property {
            name,
            value,
            line: n,
            children: Vec::new(),
        },
    )))
}

/// Reads a value (quoted or not) at the start of `s`: the value and what follows it.
fn parse_value(n: usize, s: &str) -> Result<(String, &str), ZplError> {
    match s.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &s[1..];
            match inner.find(q) {
                Some(end) => Ok((inner[..end].to_string(), &inner[end + 1..])),
                None => Err(ZplError::new(n, format!("unterminated quote {q}"))),
            }
        }
        _ => {
            let end = s.find([' ', '\t', '#']).unwrap_or(s.len());
            Ok((s[..end].to_string(), &s[end..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_sections_values_and_comments() {
        let text = "#   a comment\n\nmetadata\n    name = \"lap top\"   # trailing\n    \
                    empty =\ncurve\r\n    public-key = 'abc#def'\r    bare = x1\n    sub\n        deep = \"\"\n";
        let doc = Zpl::parse(text).unwrap();
        assert_eq!(
            doc.get("metadata/name").unwrap().value.as_deref(),
            Some("lap top")
        );
        assert_eq!(doc.get("metadata/name").unwrap().line, 4);
        assert_eq!(
            doc.get("metadata/empty").unwrap().value.as_deref(),
            Some("")
        );
        assert_eq!(
            doc.get("curve/public-key").unwrap().value.as_deref(),
            Some("abc#def")
        );
        assert_eq!(doc.get("curve/bare").unwrap().value.as_deref(), Some("x1"));
        assert_eq!(
            doc.get("curve/sub/deep").unwrap().value.as_deref(),
            Some("")
        );
        assert_eq!(doc.get("curve").unwrap().value, None);
        assert!(doc.get("curve/missing").is_none());
        assert!(doc.get("public-key").is_none());
    }

    #[test]
    fn unquoted_values_end_at_whitespace_or_comment() {
        let doc = Zpl::parse("a = one#two\nb = three   # c\n").unwrap();
        assert_eq!(doc.get("a").unwrap().value.as_deref(), Some("one"));
        assert_eq!(doc.get("b").unwrap().value.as_deref(), Some("three"));
    }

    fn err(text: &str) -> ZplError {
        Zpl::parse(text).expect_err(text)
    }

    #[test]
    fn errors_name_the_line_and_the_fault() {
        let e = err("curve\n\tpublic-key = \"x\"\n");
        assert_eq!(e.line, 2);
        assert!(e.what.contains("tab"), "{e}");
        let e = err("curve\n  public-key = \"x\"\n");
        assert_eq!(e.line, 2);
        assert!(e.what.contains("indented 2 spaces"), "{e}");
        let e = err("curve\n        public-key = \"x\"\n");
        assert!(e.what.contains("at most 4"), "{e}");
        let e = err("    curve\n");
        assert_eq!(
            (e.line, e.what.contains("first property")),
            (1, true),
            "{e}"
        );
        let e = err("#\ncurve\n    public-key = \"x\n");
        assert_eq!(e.line, 3);
        assert!(e.what.contains("unterminated"), "{e}");
        let e = err("a = \"x\" y\n");
        assert!(e.what.contains("after the value"), "{e}");
        let e = err("a b\n");
        assert!(e.what.contains("expected '='"), "{e}");
        let e = err("= b\n");
        assert!(e.what.contains("expected a name"), "{e}");
        let e = err("curve\n    k = 1\n    k = 2\n");
        assert_eq!(e.line, 3);
        assert!(e.what.contains("first at line 2"), "{e}");
        let e = err("a = \"x\u{1}\"\n");
        assert!(e.what.contains("control"), "{e}");
        let e = Zpl::parse_bytes(b"a = 1\nb = \"\xff\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.what.contains("UTF-8"), "{e}");
    }

    #[test]
    fn the_number_of_properties_is_bounded() {
        let text: String = (0..=MAX_PROPERTIES).map(|i| format!("p{i}\n")).collect();
        assert!(err(&text).what.contains("more than"));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Zpl::parse_bytes(&bytes);
        }

        #[test]
        fn never_panics_on_zpl_like_text(
            lines in proptest::collection::vec(
                "( {0,9}|\t)?[a-z$#=\"' -]{0,12}( = )?(\"[^\"\n]{0,8}\"?|'[a-z]{0,3}|[a-z#]{0,6})?( *#.{0,4})?",
                0..24,
            ),
            ending in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        ) {
            let text = lines.join(ending);
            if let Ok(doc) = Zpl::parse(&text) {
                // Whatever parsed is reachable by its paths.
                for p in &doc.properties {
                    prop_assert!(doc.get(&p.name).is_some());
                }
            }
        }
    }
}
