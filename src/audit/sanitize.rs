//! Makes every text of an [`AuditEvent`] storable on both stores, so that no caller's
//! input can make a row (and with it a whole batch) fail: PostgreSQL `text` cannot hold
//! NUL, `jsonb` refuses `\u0000`, and a btree index refuses entries over about 2.7 kB.
//! Applied by the writer to every row it is given (`AuditWriter::commit` and `commit_all`
//! share one write path), so no path can skip it.

use serde_json::Value;

use super::{AuditEvent, AuditQuery};

/// Longest text kept in an indexed column (`subject`, `bucket`, `object_key`), in bytes: `bucket` and `object_key` together stay under
/// PostgreSQL's btree entry limit.
const MAX_INDEXED_BYTES: usize = 1024;
/// Longest text kept in any other column or JSON string, in bytes.
const MAX_TEXT_BYTES: usize = 4096;
/// Marks where a text was cut.
const ELLIPSIS: char = '…';

impl AuditEvent {
    /// This row with NUL replaced by U+FFFD and each text cut to its bound (ending in `…`).
    /// Everything else is unchanged; clean text is not copied.
    pub(crate) fn sanitized(mut self) -> Self {
        for (text, max) in [
            (&mut self.request_id, MAX_TEXT_BYTES),
            (&mut self.issuer, MAX_TEXT_BYTES),
            (&mut self.subject, MAX_INDEXED_BYTES),
            (&mut self.action, MAX_TEXT_BYTES),
        ] {
            safe_text(text, max);
        }
        safe_optional_texts([
            (&mut self.reason, MAX_TEXT_BYTES),
            (&mut self.client_ip, MAX_TEXT_BYTES),
            (&mut self.user_agent, MAX_TEXT_BYTES),
            (&mut self.bucket, MAX_INDEXED_BYTES),
            (&mut self.key, MAX_INDEXED_BYTES),
            (&mut self.statement, MAX_TEXT_BYTES),
        ]);
        // Stored as its 32 bytes: a fingerprint is what `signature_fingerprint` makes (every
        // row with one gets it there), so nothing else can be kept.
        self.signature_sha256 = self
            .signature_sha256
            .map(|text| text.to_ascii_lowercase())
            .filter(|text| is_fingerprint(text));
        safe_json(&mut self.request);
        self
    }
}

impl AuditQuery {
    /// This query with its text filters made safe as rows are, so that a filter finds the
    /// rows whose text was made safe, and a NUL never reaches PostgreSQL.
    pub(crate) fn sanitized(mut self) -> Self {
        safe_optional_texts([
            (&mut self.subject, MAX_INDEXED_BYTES),
            (&mut self.issuer, MAX_TEXT_BYTES),
            (&mut self.bucket, MAX_INDEXED_BYTES),
            (&mut self.key_prefix, MAX_INDEXED_BYTES),
            (&mut self.action, MAX_TEXT_BYTES),
        ]);
        self
    }
}

/// Whether `text` is a SHA-256 in hex, as [`super::signature_fingerprint`] writes it.
fn is_fingerprint(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Each text present, made safe under its bound.
fn safe_optional_texts<const N: usize>(texts: [(&mut Option<String>, usize); N]) {
    for (text, max) in texts {
        if let Some(text) = text {
            safe_text(text, max);
        }
    }
}

/// Every string and object key inside `value`, made safe.
fn safe_json(value: &mut Value) {
    match value {
        Value::String(text) => safe_text(text, MAX_TEXT_BYTES),
        Value::Array(items) => items.iter_mut().for_each(safe_json),
        Value::Object(map) => {
            let dirty = |key: &String| key.len() > MAX_TEXT_BYTES || key.contains('\0');
            if map.keys().any(dirty) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(mut key, value)| {
                        safe_text(&mut key, MAX_TEXT_BYTES);
                        (key, value)
                    })
                    .collect();
            }
            map.values_mut().for_each(safe_json);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Replaces NUL with U+FFFD, then cuts `text` to at most `max` bytes on a char boundary.
fn safe_text(text: &mut String, max: usize) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
    }
    if text.len() > max {
        let mut end = max - ELLIPSIS.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push(ELLIPSIS);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::sample_event;

    #[test]
    fn nul_becomes_the_replacement_character_everywhere() {
        let mut event = sample_event();
        event.subject = "a\0b".into();
        event.user_agent = Some("\0".into());
        event.request = json!({"subject": "x\0", "list": ["\0"], "k\0": {"deep": "\0"}, "n": 1});
        let event = event.sanitized();
        assert_eq!(event.subject, "a\u{FFFD}b");
        assert_eq!(event.user_agent.as_deref(), Some("\u{FFFD}"));
        assert_eq!(
            event.request,
            json!({"subject": "x\u{FFFD}", "list": ["\u{FFFD}"], "k\u{FFFD}": {"deep": "\u{FFFD}"}, "n": 1})
        );
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let mut event = sample_event();
        event.subject = "é".repeat(1000); // 2000 bytes
        event.user_agent = Some("u".repeat(10_000));
        event.request = json!({"filter": "f".repeat(10_000)});
        let event = event.sanitized();
        assert!(event.subject.len() <= MAX_INDEXED_BYTES);
        assert!(event.subject.ends_with("é…"), "{}", event.subject);
        let user_agent = event.user_agent.unwrap();
        assert_eq!(user_agent.len(), MAX_TEXT_BYTES);
        assert!(user_agent.ends_with('…'));
        assert_eq!(
            event.request["filter"].as_str().unwrap().len(),
            MAX_TEXT_BYTES
        );
    }

    #[test]
    fn only_a_fingerprint_is_kept_as_one() {
        let mut event = sample_event();
        let fingerprint = event.signature_sha256.clone().unwrap();
        event.signature_sha256 = Some(fingerprint.to_ascii_uppercase());
        assert_eq!(
            event.clone().sanitized().signature_sha256,
            Some(fingerprint)
        );
        event.signature_sha256 = Some("not a fingerprint".into());
        assert_eq!(event.sanitized().signature_sha256, None);
    }

    #[test]
    fn clean_rows_are_unchanged() {
        let event = sample_event();
        assert_eq!(event.clone().sanitized(), event);
    }
}
