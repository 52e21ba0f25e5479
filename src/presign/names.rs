//! Newtypes for what S3 addresses: a [`BucketName`] that follows S3's naming rules and an
//! [`ObjectKey`] that no client or server could rewrite on the way. Inner code never sees
//! an unvalidated string.

use std::fmt;

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
/// Refused: empty or over 1024 bytes; a leading `/`; a `.` or `..` segment; control
/// characters. Each could be normalised by an HTTP client, proxy or S3-compatible server
/// into a different key than the one the policy approved.
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
        if key.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
}
