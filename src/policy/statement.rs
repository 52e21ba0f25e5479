//! One compiled statement (effect, action and resource patterns, conditions), its
//! load-time validation, and whether it applies to a request.

use super::condition::{self, Condition};
use super::document::{Effect, Element, RawStatement};
use super::glob::{Case, Pattern, Syntax};
use super::tri::Tri;
use super::variables::{Bindings, Variable};
use super::{Action, PolicyError};

// `Statement::known_actions` has one bit per known action.
const _: () = assert!(Action::ALL.len() <= 32);

/// The ARN prefix every S3 object resource starts with (the `aws` partition only).
const S3_ARN_PREFIX: &str = "arn:aws:s3:::";

#[derive(Debug, Clone)]
pub(crate) struct Statement {
    /// Sid, or `#<index>`.
    pub(crate) name: String,
    pub(crate) effect: Effect,
    actions: Patterns,
    /// Bit `i` set iff the Action element covers `Action::ALL[i]`: the request path
    /// tests a bit instead of matching patterns (the answer is the same by definition).
    known_actions: u32,
    resources: Patterns,
    /// All ANDed.
    conditions: Vec<Condition>,
}

/// How a statement matched a request (see [`Statement::verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) value: Tri,
    /// What made `value` less than `True`; `None` when it is `True`.
    pub(crate) blame: Option<Part>,
}

impl Verdict {
    fn blame(value: Tri, part: Part) -> Verdict {
        Verdict {
            value,
            blame: Some(part),
        }
    }
}

/// A part of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Action,
    Resource,
    /// Index into the statement's conditions.
    Condition(usize),
}

/// `Action`/`Resource` (any pattern matches) or their `Not*` form (no pattern matches).
#[derive(Debug, Clone)]
struct Patterns {
    negated: bool,
    patterns: Vec<Pattern>,
}

impl Statement {
    pub(crate) fn compile(raw: RawStatement) -> Result<Statement, PolicyError> {
        let fail = |reason: String| PolicyError::new(Some(raw.name.clone()), reason);
        let actions = compile_element(&raw.action, compile_action).map_err(fail)?;
        let resources = compile_element(&raw.resource, compile_resource).map_err(fail)?;
        let conditions = match &raw.condition {
            Some(block) => condition::compile(block).map_err(fail)?,
            None => Vec::new(),
        };
        let mut statement = Statement {
            name: raw.name,
            effect: raw.effect,
            actions,
            known_actions: 0,
            resources,
            conditions,
        };
        for action in Action::ALL {
            if statement.matches_action_patterns(action.as_str()) {
                statement.known_actions |= 1 << action.index();
            }
        }
        Ok(statement)
    }

    /// Every variable the statement uses (resources and condition values).
    pub(crate) fn variables(&self) -> impl Iterator<Item = &Variable> {
        let in_resources = self.resources.patterns.iter().flat_map(Pattern::variables);
        let in_conditions = self.conditions.iter().flat_map(Condition::variables);
        in_resources.chain(in_conditions)
    }

    /// Whether the statement applies. An Allow needs everything definitely true; a Deny
    /// applies unless something is definitely false (an `Unknown` never helps a request).
    /// Every size its conditions compare `presign:ContentLength` with.
    pub(crate) fn content_length_values(&self) -> impl Iterator<Item = u64> + '_ {
        self.conditions
            .iter()
            .flat_map(Condition::content_length_values)
    }

    pub(crate) fn applies(&self, bindings: &Bindings<'_>) -> bool {
        let result = self.verdict(bindings).value;
        match self.effect {
            Effect::Allow => result == Tri::True,
            Effect::Deny => result != Tri::False,
        }
    }

    /// Action AND resource AND every condition, stopping at the first `False`, with the
    /// part to blame when the result is not `True` (the first `False`, else the first
    /// `Unknown`). The blame costs nothing on the request path: it is an index.
    pub(crate) fn verdict(&self, bindings: &Bindings<'_>) -> Verdict {
        let request = bindings.request();
        if self.known_actions & (1 << request.action.index()) == 0 {
            return Verdict::blame(Tri::False, Part::Action);
        }
        let mut value = self.matches_resource(request.resource, bindings);
        if value == Tri::False {
            return Verdict::blame(Tri::False, Part::Resource);
        }
        let mut blame = (value == Tri::Unknown).then_some(Part::Resource);
        for (index, condition) in self.conditions.iter().enumerate() {
            let result = condition.evaluate(bindings);
            if result == Tri::False {
                return Verdict::blame(Tri::False, Part::Condition(index));
            }
            if result == Tri::Unknown && blame.is_none() {
                blame = Some(Part::Condition(index));
            }
            value = value.and(result);
        }
        Verdict { value, blame }
    }

    /// Words for a verdict of this statement, for `policy check`.
    pub(crate) fn explain(&self, verdict: &Verdict) -> String {
        let undecided = "cannot be decided (a claim of the wrong type, or a variable that \
                         does not resolve)";
        match (verdict.value, verdict.blame) {
            (Tri::True, _) | (_, None) => "matches".into(),
            (_, Some(Part::Action)) => "the action does not match".into(),
            (Tri::False, Some(Part::Resource)) => "the resource does not match".into(),
            (_, Some(Part::Resource)) => {
                "the resource cannot be decided (a variable in NotResource does not resolve)".into()
            }
            (value, Some(Part::Condition(index))) => {
                let condition = self.conditions[index].describe();
                if value == Tri::False {
                    format!("condition {condition} is false")
                } else {
                    format!("condition {condition} {undecided}")
                }
            }
        }
    }

    fn matches_action_patterns(&self, action: &str) -> bool {
        let any =
            self.actions.patterns.iter().any(|pattern| {
                pattern.matches(action, Case::AsciiInsensitive, |_| None) == Some(true)
            });
        any != self.actions.negated
    }

    /// An entry whose variable cannot be resolved matches nothing (DESIGN §4). In
    /// NotResource that "nothing" would widen the statement, so there it is `Unknown`:
    /// an Allow does not apply, a Deny still does.
    fn matches_resource(&self, resource: &str, bindings: &Bindings<'_>) -> Tri {
        let mut unresolved = false;
        for pattern in &self.resources.patterns {
            // In Resource, unresolved and unmatched both mean "not this entry", so an
            // entry whose leading text differs is skipped without resolving variables.
            if !self.resources.negated && pattern.rejects_by_head(resource, Case::Sensitive) {
                continue;
            }
            match pattern.matches(resource, Case::Sensitive, |v| bindings.resource_value(v)) {
                Some(true) => return Tri::from(!self.resources.negated),
                Some(false) => {}
                None => unresolved = true,
            }
        }
        if !self.resources.negated {
            Tri::False
        } else if unresolved {
            Tri::Unknown
        } else {
            Tri::True
        }
    }
}

fn compile_element(
    element: &Element,
    compile: fn(&str) -> Result<Pattern, String>,
) -> Result<Patterns, String> {
    let patterns = element
        .entries
        .iter()
        .map(|entry| compile(entry))
        .collect::<Result<_, _>>()?;
    Ok(Patterns {
        negated: element.negated,
        patterns,
    })
}

/// `*`, or `s3:NAME` / `presign:NAME` where NAME is letters, digits, `*`, `?`, and the
/// pattern matches at least one action presignd knows: an action that can never match
/// (a typo like `s3:GetObjcet`) would silently disable a Deny.
fn compile_action(source: &str) -> Result<Pattern, String> {
    if source != "*" {
        let Some((service, name)) = source.split_once(':') else {
            return Err(format!(
                "action `{source}` must be \"*\" or look like s3:Name or presign:Name"
            ));
        };
        if !service.eq_ignore_ascii_case("s3") && !service.eq_ignore_ascii_case("presign") {
            return Err(format!(
                "action `{source}`: unknown service `{service}` (presignd knows s3 and presign)"
            ));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
        {
            return Err(format!(
                "action `{source}`: the name may hold only letters, digits, `*` and `?`"
            ));
        }
    }
    let pattern = Pattern::parse(source, Syntax::Glob)?;
    let known = Action::ALL.iter().any(|action| {
        pattern.matches(action.as_str(), Case::AsciiInsensitive, |_| None) == Some(true)
    });
    if !known {
        return Err(format!(
            "action `{source}` matches no action presignd knows ({})",
            Action::names()
        ));
    }
    Ok(pattern)
}

/// `*`, or a pattern starting `arn:aws:s3:::` that can reach an object (`bucket/key`):
/// a bucket ARN such as `arn:aws:s3:::photos` never matches an object, so a Deny on it
/// would protect nothing.
fn compile_resource(source: &str) -> Result<Pattern, String> {
    let pattern = Pattern::parse(source, Syntax::Glob)?;
    if source == "*" {
        return Ok(pattern);
    }
    if !source.starts_with(S3_ARN_PREFIX) {
        return Err(format!(
            "resource `{source}` must be \"*\" or an S3 object ARN starting with {S3_ARN_PREFIX}"
        ));
    }
    if !pattern.can_span_slash() {
        return Err(format!(
            "resource `{source}` names a bucket, not objects: write {S3_ARN_PREFIX}BUCKET/KEY \
             or {S3_ARN_PREFIX}BUCKET/*"
        ));
    }
    Ok(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document;

    /// The precomputed action bits agree with matching the patterns, for every known
    /// action in any ASCII case, for Action and NotAction.
    #[test]
    fn known_action_bits_agree_with_patterns() {
        let elements = [
            r#""Action":"*""#,
            r#""Action":"s3:*""#,
            r#""Action":["s3:GetObject","presign:QueryAudit"]"#,
            r#""Action":"S3:?ut*""#,
            r#""NotAction":"s3:GetObject""#,
            r#""NotAction":["presign:*","s3:Put*"]"#,
        ];
        for element in elements {
            let text = format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow",{element},"Resource":"*"}}}}"#
            );
            let raw = document::parse(&text).unwrap().remove(0);
            let statement = Statement::compile(raw).unwrap();
            for action in Action::ALL {
                let name = action.as_str();
                for spelling in [
                    name.to_string(),
                    name.to_ascii_uppercase(),
                    name.to_ascii_lowercase(),
                ] {
                    let by_bits = statement.known_actions & (1 << action.index()) != 0;
                    assert_eq!(
                        by_bits,
                        statement.matches_action_patterns(&spelling),
                        "{element} {spelling}"
                    );
                }
            }
        }
    }
}
