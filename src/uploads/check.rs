//! The check presignd runs before `CompleteMultipartUpload`, on the parts S3 lists: pure,
//! so each refusal is tested on its own.

use crate::presign::{ListedPart, MIN_PART_BYTES};

/// A part the caller names in its completion: number and ETag (unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedPart {
    pub part_number: u32,
    pub etag: String,
}

/// A completion that passed: the object's size and the parts to complete with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Bytes: the sum of the named parts' listed sizes.
    pub total: u64,
    /// (number, ETag), ascending.
    pub parts: Vec<(u32, String)>,
}

/// Why a completion is refused (409 `conflict`); the session stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("parts: part {0} was never uploaded")]
    Missing(u32),
    #[error("parts: part {part} has ETag {listed:?} in S3, not {asked:?}")]
    EtagMismatch {
        part: u32,
        asked: String,
        listed: String,
    },
    #[error(
        "parts: part {part} is {size} bytes; every part but the last must be at least {MIN_PART_BYTES} bytes (5 MiB)"
    )]
    TooSmall { part: u32, size: u64 },
    #[error("parts: the parts total {total} bytes, over the {declared} bytes declared at create")]
    OverDeclared { total: u64, declared: u64 },
    #[error("parts: the parts total {total} bytes, over uploads.max_object_bytes ({max})")]
    OverMax { total: u64, max: u64 },
}

/// Checks `asked` (ascending, unique; validated by the caller) against `listed`: every
/// named part exists with that ETag (where the store lists one; else S3's own check at
/// completion decides), all but the last are at least 5 MiB, and the total is within
/// `declared` and `max_object_bytes`. The policy's size check (`presign:ContentLength` =
/// the total) comes after, on [`Completion::total`].
pub fn check_completion(
    asked: &[AskedPart],
    listed: &[ListedPart],
    declared: Option<u64>,
    max_object_bytes: u64,
) -> Result<Completion, Refused> {
    let mut total: u64 = 0;
    let mut parts = Vec::with_capacity(asked.len());
    for (index, part) in asked.iter().enumerate() {
        let found = listed
            .binary_search_by_key(&part.part_number, |l| l.part_number)
            .map(|at| &listed[at])
            .map_err(|_| Refused::Missing(part.part_number))?;
        if let Some(etag) = &found.etag
            && !etag.eq_ignore_ascii_case(&part.etag)
        {
            return Err(Refused::EtagMismatch {
                part: part.part_number,
                asked: part.etag.clone(),
                listed: etag.clone(),
            });
        }
        let is_last = index + 1 == asked.len();
        if !is_last && found.size < MIN_PART_BYTES {
            return Err(Refused::TooSmall {
                part: part.part_number,
                size: found.size,
            });
        }
        total = total.saturating_add(found.size);
        parts.push((part.part_number, part.etag.clone()));
    }
    if let Some(declared) = declared
        && total > declared
    {
        return Err(Refused::OverDeclared { total, declared });
    }
    if total > max_object_bytes {
        return Err(Refused::OverMax {
            total,
            max: max_object_bytes,
        });
    }
    Ok(Completion { total, parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn listed(parts: &[(u32, u64, Option<&str>)]) -> Vec<ListedPart> {
        parts
            .iter()
            .map(|&(part_number, size, etag)| ListedPart {
                part_number,
                size,
                etag: etag.map(str::to_owned),
            })
            .collect()
    }

    fn asked(parts: &[(u32, &str)]) -> Vec<AskedPart> {
        parts
            .iter()
            .map(|&(part_number, etag)| AskedPart {
                part_number,
                etag: etag.to_owned(),
            })
            .collect()
    }

    #[test]
    fn a_complete_upload_passes_with_its_total() {
        let store = listed(&[
            (1, 5 * MIB, Some("a")),
            (2, 5 * MIB, Some("b")),
            (3, 7, Some("c")),
        ]);
        let done = check_completion(
            &asked(&[(1, "a"), (2, "B"), (3, "c")]),
            &store,
            None,
            u64::MAX,
        )
        .unwrap();
        assert_eq!(done.total, 10 * MIB + 7);
        assert_eq!(done.parts.len(), 3);
    }

    #[test]
    fn parts_left_out_of_the_completion_do_not_count() {
        let store = listed(&[(1, 5 * MIB, None), (2, 3, None), (3, 9, None)]);
        let done = check_completion(
            &asked(&[(1, "x"), (3, "y")]),
            &store,
            Some(5 * MIB + 9),
            1 << 40,
        )
        .unwrap();
        assert_eq!(done.total, 5 * MIB + 9);
    }

    #[test]
    fn each_refusal_names_its_reason() {
        let store = listed(&[
            (1, 5 * MIB, Some("a")),
            (2, 4 * MIB, Some("b")),
            (3, MIB, None),
        ]);
        let cases = [
            (
                asked(&[(1, "a"), (4, "d")]),
                None,
                u64::MAX,
                Refused::Missing(4),
            ),
            (
                asked(&[(1, "zz")]),
                None,
                u64::MAX,
                Refused::EtagMismatch {
                    part: 1,
                    asked: "zz".into(),
                    listed: "a".into(),
                },
            ),
            (
                asked(&[(2, "b"), (3, "c")]),
                None,
                u64::MAX,
                Refused::TooSmall {
                    part: 2,
                    size: 4 * MIB,
                },
            ),
            (
                asked(&[(1, "a"), (2, "b")]),
                Some(9 * MIB - 1),
                u64::MAX,
                Refused::OverDeclared {
                    total: 9 * MIB,
                    declared: 9 * MIB - 1,
                },
            ),
            (
                asked(&[(1, "a"), (2, "b")]),
                None,
                6 * MIB,
                Refused::OverMax {
                    total: 9 * MIB,
                    max: 6 * MIB,
                },
            ),
        ];
        for (parts, declared, max, refusal) in cases {
            assert_eq!(
                check_completion(&parts, &store, declared, max),
                Err(refusal.clone()),
                "{refusal}"
            );
        }
    }

    #[test]
    fn a_store_that_lists_no_etag_leaves_the_etag_to_s3() {
        let store = listed(&[(1, 12, None)]);
        assert!(check_completion(&asked(&[(1, "anything")]), &store, Some(12), 100).is_ok());
    }
}
