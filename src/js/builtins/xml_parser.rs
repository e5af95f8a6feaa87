//! A small, strict XML 1.0 parser producing a plain Rust tree for `XML.parse`.
//!
//! Handles elements, attributes, character and predefined entity references, CDATA,
//! comments, processing instructions and a DOCTYPE (skipped, internal subset included).
//! Like expat without a DTD: undefined entities, mismatched or unclosed tags, duplicate
//! attributes and content outside the single root element are errors. Text between markup
//! is kept verbatim (whitespace included); adjacent text and CDATA merge into one string.
//! Line ends are normalised to `\n` (XML 1.0 section 2.11).

/// Content of an element: a child element or a run of text.
#[derive(Debug, PartialEq, Eq)]
pub enum XmlContent {
    /// A child element.
    Element(XmlElement),
    /// Character data.
    Text(String),
}

/// A parsed element.
#[derive(Debug, PartialEq, Eq)]
pub struct XmlElement {
    /// Tag name as written (prefix included).
    pub name: String,
    /// Attributes in document order.
    pub attributes: Vec<(String, String)>,
    /// Child elements and text in document order.
    pub children: Vec<XmlContent>,
}

/// Why parsing failed (byte offset into the normalised input).
#[derive(Debug, PartialEq, Eq)]
pub struct XmlError {
    /// What went wrong.
    pub message: &'static str,
    /// Where.
    pub offset: usize,
}

/// Parses a whole document and returns its root element.
pub fn parse_document(text: &str) -> Result<XmlElement, XmlError> {
    let normalised;
    let text = if text.contains('\r') {
        normalised = text.replace("\r\n", "\n").replace('\r', "\n");
        normalised.as_str()
    } else {
        text
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser { s: text, pos: 0 };
    p.skip_misc()?;
    if p.rest().starts_with("<!DOCTYPE") {
        p.skip_doctype()?;
        p.skip_misc()?;
    }
    if !p.rest().starts_with('<') {
        return Err(p.error("document has no root element"));
    }
    let root = p.element()?;
    p.skip_misc()?;
    if p.pos < p.s.len() {
        return Err(p.error("junk after document element"));
    }
    Ok(root)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':' || (!c.is_ascii() && !c.is_whitespace())
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn error(&self, message: &'static str) -> XmlError {
        XmlError {
            message,
            offset: self.pos,
        }
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, prefix: &str, message: &'static str) -> Result<(), XmlError> {
        if self.eat(prefix) {
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn skip_ws(&mut self) -> bool {
        let before = self.pos;
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\n']);
        self.pos = self.s.len() - trimmed.len();
        self.pos > before
    }

    /// Skips up to and including `end`.
    fn skip_past(&mut self, end: &str, message: &'static str) -> Result<&'a str, XmlError> {
        match self.rest().find(end) {
            Some(i) => {
                let skipped = &self.rest()[..i];
                self.pos += i + end.len();
                Ok(skipped)
            }
            None => Err(self.error(message)),
        }
    }

    /// Whitespace, comments and processing instructions outside the root element.
    fn skip_misc(&mut self) -> Result<(), XmlError> {
        loop {
            self.skip_ws();
            if self.eat("<!--") {
                self.skip_past("-->", "unclosed comment")?;
            } else if self.eat("<?") {
                self.skip_past("?>", "unclosed processing instruction")?;
            } else {
                return Ok(());
            }
        }
    }

    fn skip_doctype(&mut self) -> Result<(), XmlError> {
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        for (i, c) in self.rest().char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '[') => depth += 1,
                (None, ']') => depth = depth.saturating_sub(1),
                (None, '>') if depth == 0 => {
                    self.pos += i + 1;
                    return Ok(());
                }
                _ => {}
            }
        }
        Err(self.error("unclosed DOCTYPE"))
    }

    fn name(&mut self) -> Result<&'a str, XmlError> {
        let rest = self.rest();
        let mut chars = rest.char_indices();
        match chars.next() {
            Some((_, c)) if is_name_start(c) => {}
            _ => return Err(self.error("invalid name")),
        }
        let end = chars
            .find(|&(_, c)| !is_name_char(c))
            .map_or(rest.len(), |(i, _)| i);
        self.pos += end;
        Ok(&rest[..end])
    }

    /// Decodes one `&...;` reference at the cursor into `out`.
    fn reference(&mut self, out: &mut String) -> Result<(), XmlError> {
        let start = self.pos;
        self.pos += 1;
        let body = self.skip_past(";", "unterminated entity reference")?;
        let decoded = match body {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "apos" => Some('\''),
            "quot" => Some('"'),
            _ => body
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| body.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32)
                .filter(|c| *c != '\0'),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                Ok(())
            }
            None => Err(XmlError {
                message: "undefined entity",
                offset: start,
            }),
        }
    }

    fn attribute_value(&mut self) -> Result<String, XmlError> {
        let quote = match self.rest().chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return Err(self.error("attribute value must be quoted")),
        };
        self.pos += 1;
        let mut value = String::new();
        loop {
            let rest = self.rest();
            let Some(i) = rest.find([quote, '&', '<']) else {
                return Err(self.error("unclosed attribute value"));
            };
            // Attribute-value normalisation (XML 1.0 section 3.3.3).
            value.extend(
                rest[..i]
                    .chars()
                    .map(|c| if c == '\t' || c == '\n' { ' ' } else { c }),
            );
            self.pos += i;
            match rest[i..].chars().next() {
                Some('&') => self.reference(&mut value)?,
                Some('<') => return Err(self.error("'<' in attribute value")),
                _ => {
                    self.pos += 1;
                    return Ok(value);
                }
            }
        }
    }

    /// Parses an element whose `<` is at the cursor.
    fn element(&mut self) -> Result<XmlElement, XmlError> {
        self.expect("<", "expected '<'")?;
        let name = self.name()?.to_owned();
        let mut attributes: Vec<(String, String)> = Vec::new();
        loop {
            let had_space = self.skip_ws();
            if self.eat("/>") {
                return Ok(XmlElement {
                    name,
                    attributes,
                    children: Vec::new(),
                });
            }
            if self.eat(">") {
                break;
            }
            if !had_space {
                return Err(self.error("expected whitespace before attribute"));
            }
            let key = self.name()?.to_owned();
            self.skip_ws();
            self.expect("=", "expected '=' after attribute name")?;
            self.skip_ws();
            let value = self.attribute_value()?;
            if attributes.iter().any(|(k, _)| *k == key) {
                return Err(self.error("duplicate attribute"));
            }
            attributes.push((key, value));
        }
        let children = self.content(&name)?;
        Ok(XmlElement {
            name,
            attributes,
            children,
        })
    }

    /// Parses content up to and including the end tag of `name`.
    fn content(&mut self, name: &str) -> Result<Vec<XmlContent>, XmlError> {
        let mut children = Vec::new();
        let mut text = String::new();
        loop {
            let rest = self.rest();
            let Some(i) = rest.find(['<', '&']) else {
                return Err(self.error("unclosed element"));
            };
            text.push_str(&rest[..i]);
            self.pos += i;
            if rest[i..].starts_with('&') {
                self.reference(&mut text)?;
            } else if self.eat("<![CDATA[") {
                text.push_str(self.skip_past("]]>", "unclosed CDATA section")?);
            } else if self.eat("<!--") {
                self.skip_past("-->", "unclosed comment")?;
            } else if self.eat("<?") {
                self.skip_past("?>", "unclosed processing instruction")?;
            } else if self.eat("</") {
                if self.name()? != name {
                    return Err(self.error("mismatched end tag"));
                }
                self.skip_ws();
                self.expect(">", "expected '>' in end tag")?;
                if !text.is_empty() {
                    children.push(XmlContent::Text(text));
                }
                return Ok(children);
            } else {
                if !text.is_empty() {
                    children.push(XmlContent::Text(std::mem::take(&mut text)));
                }
                children.push(XmlContent::Element(self.element()?));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(name: &str, attributes: &[(&str, &str)], children: Vec<XmlContent>) -> XmlElement {
        XmlElement {
            name: name.into(),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            children,
        }
    }

    fn text(s: &str) -> XmlContent {
        XmlContent::Text(s.into())
    }

    #[test]
    fn nested_with_attributes_and_entities() {
        let doc = parse_document(
            "<?xml version=\"1.0\"?>\n<!-- c -->\n<a x='1' y=\"&lt;&#65;&#x42;\">t&amp;u<b/><c>i<![CDATA[<j>]]>k</c><!--z--></a>\n",
        );
        assert_eq!(
            doc,
            Ok(el(
                "a",
                &[("x", "1"), ("y", "<AB")],
                vec![
                    text("t&u"),
                    XmlContent::Element(el("b", &[], vec![])),
                    XmlContent::Element(el("c", &[], vec![text("i<j>k")])),
                ]
            ))
        );
    }

    #[test]
    fn whitespace_text_kept_and_crlf_normalised() {
        let doc = parse_document("<r>\r\n  <m>x</m>\r\n</r>");
        assert_eq!(
            doc,
            Ok(el(
                "r",
                &[],
                vec![
                    text("\n  "),
                    XmlContent::Element(el("m", &[], vec![text("x")])),
                    text("\n"),
                ]
            ))
        );
    }

    #[test]
    fn doctype_is_skipped() {
        let doc = parse_document("<!DOCTYPE r [ <!ELEMENT r ANY> ]><r/>");
        assert_eq!(doc, Ok(el("r", &[], vec![])));
    }

    #[test]
    fn malformed_documents_fail() {
        for bad in [
            "",
            "text",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<a x=1/>",
            "<a x='1' x='2'/>",
            "<a>&nope;</a>",
            "<a>x<</a>",
            "<a x='<'/>",
            "<a/>junk",
        ] {
            assert!(parse_document(bad).is_err(), "{bad:?}");
        }
    }
}
