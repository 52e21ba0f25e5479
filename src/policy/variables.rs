//! Policy variables: `${jwt:CLAIM}`, `${aws:SourceIp}`, `${presign:Issuer}` and the
//! escapes `${*}`, `${?}`, `${$}`. Parsed once at load time; resolved per request by
//! [`Bindings`], which also derives the per-request values the evaluator shares.
//!
//! A resolved value is always used as literal text by the caller (see `glob`), never
//! parsed again, so nothing is expanded twice.

use std::net::IpAddr;

use super::{Context, Request};

/// A variable whose value comes from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Variable {
    /// `${jwt:NAME}`: a string claim; the claim name is case-sensitive, as JWT claims are.
    Claim(Box<str>),
    /// `${aws:SourceIp}`: the caller's address in canonical text form.
    SourceIp,
    /// `${presign:Issuer}`: the token's `iss`.
    Issuer,
}

/// What a `${...}` placeholder stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placeholder {
    Variable(Variable),
    /// `${*}`, `${?}`, `${$}`: the literal character.
    Escape(char),
}

/// Parses the text between `${` and `}`. Namespaces and the aws/presign names are
/// case-insensitive, as IAM's are; anything else is a load error.
pub(crate) fn parse_placeholder(inner: &str) -> Result<Placeholder, String> {
    match inner {
        "*" => return Ok(Placeholder::Escape('*')),
        "?" => return Ok(Placeholder::Escape('?')),
        "$" => return Ok(Placeholder::Escape('$')),
        _ => {}
    }
    // IAM's `${key, 'default'}` form would silently turn an absent claim into a value;
    // presignd prefers "matches nothing", so the form is refused outright.
    if inner.contains([',', '\'']) || inner.chars().any(char::is_whitespace) {
        return Err(format!(
            "policy variable `${{{inner}}}`: default values and spaces are not supported"
        ));
    }
    let unknown = || {
        format!(
            "unknown policy variable `${{{inner}}}` (supported: ${{jwt:CLAIM}}, \
             ${{aws:SourceIp}}, ${{presign:Issuer}}, and the escapes ${{*}} ${{?}} ${{$}})"
        )
    };
    let (namespace, name) = inner.split_once(':').ok_or_else(unknown)?;
    if namespace.eq_ignore_ascii_case("jwt") {
        if name.is_empty() || name.contains('{') {
            return Err(format!(
                "policy variable `${{{inner}}}` has no valid claim name"
            ));
        }
        Ok(Placeholder::Variable(Variable::Claim(name.into())))
    } else if namespace.eq_ignore_ascii_case("aws") && name.eq_ignore_ascii_case("SourceIp") {
        Ok(Placeholder::Variable(Variable::SourceIp))
    } else if namespace.eq_ignore_ascii_case("presign") && name.eq_ignore_ascii_case("Issuer") {
        Ok(Placeholder::Variable(Variable::Issuer))
    } else {
        Err(unknown())
    }
}

/// Whether a substituted value may stand in a Resource. A value that is empty, `.`,
/// `..`, or holds `/`, `\` or a control character could climb out of (or blur) the
/// folder the policy author meant, e.g. `${jwt:sub}` = `../bob` or `alice/../bob`; such
/// a value makes the Resource entry match nothing.
fn is_path_safe(value: &str) -> bool {
    !value.is_empty()
        && value != "."
        && value != ".."
        && !value.contains(['/', '\\'])
        && !value.chars().any(char::is_control)
}

/// Everything one evaluation reads from the request, with the derived values computed
/// once per request rather than once per statement.
pub(crate) struct Bindings<'a> {
    request: &'a Request<'a>,
    /// The source address with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) folded to IPv4, so a
    /// dual-stack listener cannot slip past an IPv4 `IpAddress` Deny.
    source_ip: Option<IpAddr>,
    /// Text of `source_ip`, only when some pattern uses `${aws:SourceIp}` (saves an
    /// allocation per request otherwise).
    source_ip_text: Option<String>,
}

impl<'a> Bindings<'a> {
    pub(crate) fn new(request: &'a Request<'a>, needs_source_ip_text: bool) -> Bindings<'a> {
        let source_ip = request.context.source_ip.map(|ip| ip.to_canonical());
        let source_ip_text = if needs_source_ip_text {
            source_ip.map(|ip| ip.to_string())
        } else {
            None
        };
        Bindings {
            request,
            source_ip,
            source_ip_text,
        }
    }

    pub(crate) fn request(&self) -> &'a Request<'a> {
        self.request
    }

    pub(crate) fn context(&self) -> &'a Context<'a> {
        self.request.context
    }

    pub(crate) fn source_ip(&self) -> Option<IpAddr> {
        self.source_ip
    }

    /// The value of a variable, for condition values: any string, used literally.
    /// Only string claims resolve: a number's text form is ambiguous (`1e3`, `1000`,
    /// `1000.0`) and a bool or array is not a name, so those are unresolved.
    pub(crate) fn value(&self, variable: &Variable) -> Option<&str> {
        match variable {
            Variable::Claim(name) => self.context().claims.get(&**name)?.as_str(),
            Variable::SourceIp => self.source_ip_text.as_deref(),
            Variable::Issuer => Some(self.context().issuer),
        }
    }

    /// The value of a variable inside a Resource/NotResource: as [`Bindings::value`], but
    /// refusing values that are not a safe single path segment (see `is_path_safe`).
    pub(crate) fn resource_value(&self, variable: &Variable) -> Option<&str> {
        self.value(variable).filter(|value| is_path_safe(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let ok: &[(&str, Placeholder)] = &[
            ("*", Placeholder::Escape('*')),
            ("?", Placeholder::Escape('?')),
            ("$", Placeholder::Escape('$')),
            (
                "jwt:sub",
                Placeholder::Variable(Variable::Claim("sub".into())),
            ),
            (
                "JWT:Sub",
                Placeholder::Variable(Variable::Claim("Sub".into())),
            ),
            (
                "jwt:https://example.com/tenant",
                Placeholder::Variable(Variable::Claim("https://example.com/tenant".into())),
            ),
            ("aws:SourceIp", Placeholder::Variable(Variable::SourceIp)),
            ("AWS:sourceip", Placeholder::Variable(Variable::SourceIp)),
            ("presign:issuer", Placeholder::Variable(Variable::Issuer)),
        ];
        for (inner, want) in ok {
            assert_eq!(parse_placeholder(inner).as_ref(), Ok(want), "{inner}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "unknown policy variable"),
            ("sub", "unknown policy variable"),
            ("aws:username", "unknown policy variable"),
            ("aws:CurrentTime", "unknown policy variable"),
            ("presign:Method", "unknown policy variable"),
            ("s3:prefix", "unknown policy variable"),
            ("jwt:", "no valid claim name"),
            ("jwt:sub, 'nobody'", "default values"),
            ("jwt: sub", "spaces"),
        ];
        for (inner, want) in bad {
            let err = parse_placeholder(inner).unwrap_err();
            assert!(err.contains(want), "{inner}: {err}");
        }
    }

    #[test]
    fn path_safety() {
        for ok in [
            "alice",
            "a.b",
            "a..b",
            "...",
            "*",
            "?",
            "user@example.com",
            "ünï",
        ] {
            assert!(is_path_safe(ok), "{ok}");
        }
        for bad in [
            "", ".", "..", "a/b", "../bob", "a\\b", "a\nb", "a\u{0}b", "/",
        ] {
            assert!(!is_path_safe(bad), "{bad:?}");
        }
    }
}
