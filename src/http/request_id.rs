//! Request ids: a caller's `x-request-id` is kept only when it is 1..=128 visible ASCII
//! characters (0x21..=0x7e), so what is echoed, logged and stored in the audit row stays
//! small and printable. Any other value (or several headers) is dropped before
//! `SetRequestIdLayer` runs, which then makes a UUID; the caller's value survives only as a
//! short escaped extension ([`RefusedRequestId`]), logged as its own field.

use axum::extract::Request;
use axum::http::HeaderName;

/// The header presignd reads, makes and echoes.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id kept, in bytes.
pub const MAX_LEN: usize = 128;

/// Characters of a refused id that are kept for the log, before escaping.
const SHOWN_LEN: usize = 64;

/// A caller's request id that was replaced: its first characters, escaped.
#[derive(Debug, Clone)]
pub struct RefusedRequestId(pub String);

/// Whether `value` may serve as the request id.
pub fn is_valid(value: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&value.len()) && value.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// Drops an unusable `x-request-id` (see the module docs). Runs before `SetRequestIdLayer`.
pub fn screen(mut request: Request) -> Request {
    let mut values = request.headers().get_all(&X_REQUEST_ID).iter();
    let refused = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(one), None) if is_valid(one.as_bytes()) => None,
        (Some(first), _) => Some(shown(first.as_bytes())),
    };
    if let Some(shown) = refused {
        request.headers_mut().remove(&X_REQUEST_ID);
        request.extensions_mut().insert(RefusedRequestId(shown));
    }
    request
}

/// The first bytes of `value`, with control and non-ASCII bytes escaped (`\n`, `\xff`),
/// and the length said when cut.
fn shown(value: &[u8]) -> String {
    let cut = value.len() > SHOWN_LEN;
    let mut text: String = value[..value.len().min(SHOWN_LEN)]
        .escape_ascii()
        .to_string();
    if cut {
        text.push_str(&format!("... ({} bytes)", value.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_visible_ascii_ids_are_kept() {
        assert!(is_valid(b"caller-chosen-42"));
        assert!(is_valid(&[b'a'; MAX_LEN]));
        assert!(is_valid(b"!~"));
        for bad in [
            &b""[..],
            &[b'a'; MAX_LEN + 1],
            b"has space",
            b"tab\there",
            b"nul\0",
            "caf\u{e9}".as_bytes(),
            b"\x7f",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_refused_id_is_shown_short_and_escaped() {
        assert_eq!(shown(b"a b\n\xff"), r"a b\n\xff");
        let long = vec![b'x'; 300_000];
        let text = shown(&long);
        assert!(text.len() < 100, "{text}");
        assert!(text.ends_with("... (300000 bytes)"), "{text}");
    }

    #[test]
    fn screening_removes_bad_and_duplicate_ids() {
        let request = |values: &[&[u8]]| {
            let mut builder = Request::builder();
            for value in values {
                builder = builder.header(
                    &X_REQUEST_ID,
                    axum::http::HeaderValue::from_bytes(value).unwrap(),
                );
            }
            screen(builder.body(axum::body::Body::empty()).unwrap())
        };
        let kept = request(&[b"good-1"]);
        assert_eq!(kept.headers()[&X_REQUEST_ID], "good-1");
        assert!(kept.extensions().get::<RefusedRequestId>().is_none());
        for values in [&[&b"two words"[..]][..], &[b"a", b"b"], &[b"\xe9t\xe9"]] {
            let screened = request(values);
            assert!(
                screened.headers().get(&X_REQUEST_ID).is_none(),
                "{values:?}"
            );
            assert!(screened.extensions().get::<RefusedRequestId>().is_some());
        }
    }
}
