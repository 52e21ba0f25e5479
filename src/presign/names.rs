//! Newtypes for what S3 addresses and stores: a [`BucketName`] that follows S3's naming
//! rules, an [`ObjectKey`] that no client or server could rewrite on the way, and a
//! [`ContentType`] read as S3 and browsers read it. Inner code never sees an unvalidated
//! string.

use std::fmt;

use unicode_general_category::{GeneralCategory, get_general_category};

/// Longest object key S3 stores, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// A bucket name valid under S3's general-purpose bucket naming rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketName(String);

impl BucketName {
    /// Validates `name`; the error says which rule it breaks.
    pub fn parse(name: &str) -> Result<Self, String> {
        if !(3..=63).contains(&name.len()) {
            return Err("must be 3 to 63 characters long".into());
        }
        let valid_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
        if !name.chars().all(valid_char) {
            return Err("may contain only lowercase letters, digits, '.' and '-'".into());
        }
        let edge_ok =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
            return Err("must begin and end with a letter or digit".into());
        }
        if name.contains("..") {
            return Err("must not contain two adjacent periods".into());
        }
        if name.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err("must not be formatted as an IP address".into());
        }
        const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
        const RESERVED_SUFFIXES: [&str; 5] =
            ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
        if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
            return Err(format!(
                "must not begin with the reserved prefix {prefix:?}"
            ));
        }
        if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
            return Err(format!("must not end with the reserved suffix {suffix:?}"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An object key, exactly the bytes S3 will store.
///
/// Refused: empty or over 1024 bytes; a leading `/`; a `.` or `..` segment; a backslash;
/// control, format or separator characters. Each could be normalised by an HTTP client,
/// proxy or S3-compatible server into a different key than the one the policy approved
/// (a backslash becomes `/` on some), or display as another key (U+202E turns
/// `\u{202E}gnp.exe` into `exe.png` in the audit table).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(key: &str) -> Result<Self, String> {
        if key.is_empty() {
            return Err("must not be empty".into());
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("must be at most {MAX_KEY_BYTES} bytes of UTF-8"));
        }
        if key.starts_with('/') {
            return Err("must not begin with '/'".into());
        }
        if key
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err("must not contain '.' or '..' path segments".into());
        }
        if key.contains('\\') {
            return Err("must not contain a backslash".into());
        }
        if let Some(c) = key.chars().find(|&c| is_invisible(c)) {
            return Err(format!(
                "must not contain control, format or separator characters (found U+{:04X})",
                u32::from(c)
            ));
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unicode general categories Cc (controls), Cf (format: bidi overrides, zero-width
/// characters, the BOM), Zl and Zp (line and paragraph separators): characters that are
/// invisible, or move or break the text around them.
fn is_invisible(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// A `Content-Type` value holding exactly one media type.
///
/// A browser reads `image/png,text/html` as a list in which the last type wins, so a
/// value with a comma anywhere is refused, as is anything the `mime` crate does not parse
/// as one media type. The signed header is [`ContentType::as_str`], verbatim; the policy
/// sees [`ContentType::essence`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// What the caller sent; signed as is.
    text: String,
    /// Lower-cased `type/subtype`, parameters dropped.
    essence: String,
}

impl ContentType {
    /// Parses `text` as one media type; the error says which rule it breaks.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.contains(',') {
            return Err("must be one media type, not a list (no ',')".into());
        }
        const EXPECTED: &str =
            "must be one media type, such as image/png or text/plain; charset=utf-8";
        let mime: mime::Mime = text.parse().map_err(|_| EXPECTED)?;
        // `mime` takes `image/` with an empty subtype; S3 and browsers do not.
        if mime.subtype().as_str().is_empty() {
            return Err(EXPECTED.into());
        }
        Ok(Self {
            text: text.to_owned(),
            essence: mime.essence_str().to_owned(),
        })
    }

    /// The value exactly as the caller sent it: what is signed and sent to S3.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Lower-cased `type/subtype` without parameters: what `presign:ContentType` sees.
    pub fn essence(&self) -> &str {
        &self.essence
    }
}

impl serde::Serialize for ContentType {
    /// As the signed text, the value the audit row records.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for good in [
            "abc",
            "my-bucket.v2",
            "a1b",
            &"a".repeat(63),
            "192.168.1.1x",
        ] {
            assert!(BucketName::parse(good).is_ok(), "{good}");
        }
        let bad = [
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "my_bucket",
            "-abc",
            "abc-",
            ".abc",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "sthree-abc",
            "amzn-s3-demo-x",
            "abc-s3alias",
            "abc--ol-s3",
            "abc.mrap",
            "abc--x-s3",
            "abc--table-s3",
            "ab c",
            "",
        ];
        for name in bad {
            assert!(BucketName::parse(name).is_err(), "{name}");
        }
    }

    #[test]
    fn object_keys() {
        let good = [
            "a",
            "users/alice/photo 1.png",
            "ünïcödé/日本.txt",
            "100%/#?+!$&'()*,;=:@",
            "a//b",
            "a/.hidden",
            "a/...",
            &"k".repeat(1024),
        ];
        for key in good {
            assert!(ObjectKey::parse(key).is_ok(), "{key}");
        }
        let bad = [
            "",
            "/abs",
            ".",
            "..",
            "a/./b",
            "a/../b",
            "a/..",
            "./a",
            "tab\there",
            "nul\0",
            "line\nbreak",
            "del\u{7f}",
            "c1\u{85}",
            &"k".repeat(1025),
        ];
        for key in bad {
            assert!(ObjectKey::parse(key).is_err(), "{key:?}");
        }
    }

    #[test]
    fn object_keys_refuse_backslashes_and_invisible_characters() {
        assert_eq!(
            ObjectKey::parse("a\\b").unwrap_err(),
            "must not contain a backslash"
        );
        for (key, code) in [
            ("users/alice/\u{202E}gnp.exe", "U+202E"), // right-to-left override (Cf)
            ("zero\u{200B}width", "U+200B"),           // zero-width space (Cf)
            ("line\u{2028}sep", "U+2028"),             // line separator (Zl)
            ("para\u{2029}sep", "U+2029"),             // paragraph separator (Zp)
            ("\u{FEFF}bom", "U+FEFF"),                 // byte order mark (Cf)
            ("soft\u{AD}hyphen", "U+00AD"),            // soft hyphen (Cf)
            ("isolate\u{2066}", "U+2066"),             // left-to-right isolate (Cf)
            ("tag\u{E0041}", "U+E0041"),               // tag character (Cf)
            ("nul\0", "U+0000"),                       // control (Cc)
        ] {
            let error = ObjectKey::parse(key).unwrap_err();
            assert!(
                error.contains("control, format or separator") && error.contains(code),
                "{key:?}: {error}"
            );
        }
        // Visible non-ASCII, spaces and other separators (Zs) stay allowed.
        for key in ["caf\u{E9}/\u{65E5}\u{672C}", "no\u{A0}break", "a b"] {
            assert!(ObjectKey::parse(key).is_ok(), "{key:?}");
        }
    }

    #[test]
    fn content_types() {
        let png = ContentType::parse("image/png").unwrap();
        assert_eq!((png.as_str(), png.essence()), ("image/png", "image/png"));
        // Signed verbatim; the policy sees the lower-cased essence.
        let with_params = ContentType::parse("Image/PNG; charset=x").unwrap();
        assert_eq!(with_params.as_str(), "Image/PNG; charset=x");
        assert_eq!(with_params.essence(), "image/png");
        assert_eq!(
            ContentType::parse("Text/HTML").unwrap().essence(),
            "text/html"
        );
        assert_eq!(
            serde_json::to_value(&with_params).unwrap(),
            serde_json::json!("Image/PNG; charset=x")
        );
        for list in [
            "image/png,text/html",
            "text/plain,text/html",
            "image/png, text/html",
            "text/plain; a=\"x,y\"",
        ] {
            assert!(
                ContentType::parse(list).unwrap_err().contains("not a list"),
                "{list}"
            );
        }
        for bad in [
            "",
            "png",
            "image/",
            "/png",
            "image/png/x",
            "image png",
            "text/html;;",
        ] {
            assert!(
                ContentType::parse(bad)
                    .unwrap_err()
                    .contains("one media type"),
                "{bad:?}"
            );
        }
    }
}
