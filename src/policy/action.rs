//! [`Action`]: every operation presignd asks the policy about. A request always names one
//! of these; policy patterns (`s3:*`, `presign:*Link`) are matched against their names.

use std::fmt;

/// One operation presignd authorizes, named as IAM policies name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A GET URL, or a share link's redemption.
    GetObject,
    /// A PUT URL, a POST form, or a multipart upload's create, parts and completion.
    PutObject,
    AbortMultipartUpload,
    ListMultipartUploadParts,
    /// Reading the audit log.
    QueryAudit,
    CreateLink,
    ListLinks,
    RevokeLink,
    /// Seeing every caller's multipart upload sessions, not only one's own.
    ListUploads,
    /// Asking what the running policy decides for someone else (`POST /policy/simulate`).
    SimulatePolicy,
}

impl Action {
    /// Every action, in a fixed order (a statement keeps one bit per action, by index).
    pub const ALL: [Action; 10] = [
        Action::GetObject,
        Action::PutObject,
        Action::AbortMultipartUpload,
        Action::ListMultipartUploadParts,
        Action::QueryAudit,
        Action::CreateLink,
        Action::ListLinks,
        Action::RevokeLink,
        Action::ListUploads,
        Action::SimulatePolicy,
    ];

    /// The IAM name: `s3:GetObject`, `presign:QueryAudit`, ….
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::GetObject => "s3:GetObject",
            Action::PutObject => "s3:PutObject",
            Action::AbortMultipartUpload => "s3:AbortMultipartUpload",
            Action::ListMultipartUploadParts => "s3:ListMultipartUploadParts",
            Action::QueryAudit => "presign:QueryAudit",
            Action::CreateLink => "presign:CreateLink",
            Action::ListLinks => "presign:ListLinks",
            Action::RevokeLink => "presign:RevokeLink",
            Action::ListUploads => "presign:ListUploads",
            Action::SimulatePolicy => "presign:SimulatePolicy",
        }
    }

    /// Whether presignd always asks this action on the resource `*` (it is about the
    /// service, not an object).
    pub const fn is_asked_on_any_resource(self) -> bool {
        matches!(
            self,
            Action::QueryAudit | Action::ListLinks | Action::ListUploads | Action::SimulatePolicy
        )
    }

    /// The action named `name`, ASCII case-insensitively (as policies match actions).
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str().eq_ignore_ascii_case(name))
    }

    /// Its index in [`Action::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// The names of all actions, for messages.
    pub fn names() -> String {
        Action::ALL.map(Action::as_str).join(", ")
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all() {
        for (index, action) in Action::ALL.into_iter().enumerate() {
            assert_eq!(action.index(), index);
            assert_eq!(
                Action::parse(&action.as_str().to_ascii_uppercase()),
                Some(action)
            );
        }
        assert_eq!(Action::parse("s3:DeleteObject"), None);
        assert_eq!(Action::parse("GetObject"), None);
        assert_eq!(Action::parse("s3:GetObj\u{0435}ct"), None);
    }
}
