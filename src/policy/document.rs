//! Reading the policy text into its raw shape, before any meaning is given: strict JSON
//! (a duplicated key is an error, never "last one wins"), the top-level elements, and
//! each statement's elements with their one-string-or-list form.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::PolicyError;

/// The only policy language version accepted: "2008-10-17" has no policy variables, so
/// a `${jwt:sub}` there would be literal text, which is never what the author meant.
pub(crate) const VERSION: &str = "2012-10-17";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: non-empty list of strings.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    /// `true` for the `Not*` form.
    pub(crate) negated: bool,
    pub(crate) entries: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawStatement {
    /// Sid, or `#<index>` (0-based) when there is none.
    pub(crate) name: String,
    pub(crate) effect: Effect,
    pub(crate) action: Element,
    pub(crate) resource: Element,
    /// The `Condition` object, checked only for being an object here.
    pub(crate) condition: Option<Map<String, Value>>,
}

/// Parses the document shape. Errors name the statement when one is at fault.
pub(crate) fn parse(text: &str) -> Result<Vec<RawStatement>, PolicyError> {
    let Strict(root) = serde_json::from_str::<Strict>(text)
        .map_err(|e| PolicyError::new(None, format!("invalid policy JSON: {e}")))?;
    let Value::Object(mut root) = root else {
        return Err(PolicyError::new(None, "the policy must be a JSON object"));
    };
    for field in root.keys() {
        if !matches!(field.as_str(), "Version" | "Statement" | "Id") {
            return Err(PolicyError::new(
                None,
                format!("unknown top-level element `{field}` (expected Version, Statement, Id)"),
            ));
        }
    }
    match root.get("Version") {
        None => {
            return Err(PolicyError::new(
                None,
                format!("missing Version: it must be \"{VERSION}\""),
            ));
        }
        Some(Value::String(v)) if v == VERSION => {}
        Some(other) => {
            return Err(PolicyError::new(
                None,
                format!(
                    "unsupported Version {other}: it must be \"{VERSION}\" \
                     (older versions have no policy variables)"
                ),
            ));
        }
    }
    // `Id` is valid IAM and carries no meaning here; it only has to be a string.
    if root.get("Id").is_some_and(|id| !id.is_string()) {
        return Err(PolicyError::new(None, "Id must be a string"));
    }
    let statements = match root.remove("Statement") {
        None => return Err(PolicyError::new(None, "missing Statement")),
        Some(Value::Array(list)) => list,
        Some(single @ Value::Object(_)) => vec![single],
        Some(_) => {
            return Err(PolicyError::new(
                None,
                "Statement must be an object or an array of objects",
            ));
        }
    };
    if statements.is_empty() {
        return Err(PolicyError::new(None, "Statement must not be empty"));
    }
    let mut sids = HashSet::new();
    statements
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let raw = parse_statement(index, value)?;
            if !raw.name.starts_with('#') && !sids.insert(raw.name.clone()) {
                return Err(PolicyError::new(
                    Some(raw.name),
                    "duplicate Sid: each Sid must be unique",
                ));
            }
            Ok(raw)
        })
        .collect()
}

fn parse_statement(index: usize, value: Value) -> Result<RawStatement, PolicyError> {
    let Value::Object(mut fields) = value else {
        return Err(PolicyError::new(
            Some(format!("#{index}")),
            "a statement must be a JSON object",
        ));
    };
    let name = match fields.get("Sid") {
        Some(Value::String(sid)) if valid_sid(sid) => sid.clone(),
        _ => format!("#{index}"),
    };
    let fail = |reason: String| PolicyError::new(Some(name.clone()), reason);

    for field in fields.keys() {
        match field.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource"
            | "Condition" => {}
            "Principal" | "NotPrincipal" => {
                return Err(fail(format!(
                    "{field} is not allowed: presignd policies are identity-based \
                     (the principal is the token's subject)"
                )));
            }
            _ => {
                return Err(fail(format!(
                    "unknown element `{field}` (expected Sid, Effect, Action, NotAction, \
                     Resource, NotResource, Condition)"
                )));
            }
        }
    }
    if let Some(sid) = fields.get("Sid") {
        let ok = sid.as_str().is_some_and(valid_sid);
        if !ok {
            return Err(fail(format!(
                "invalid Sid {sid}: use 1 to 128 ASCII letters, digits, ' ', '-', '_' or '.'"
            )));
        }
    }
    let effect = match fields.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(fail(format!(
                "invalid Effect {other}: it must be \"Allow\" or \"Deny\""
            )));
        }
        None => return Err(fail("missing Effect".into())),
    };
    let action = element(&mut fields, "Action", "NotAction").map_err(&fail)?;
    let resource = element(&mut fields, "Resource", "NotResource").map_err(&fail)?;
    let condition = match fields.remove("Condition") {
        None => None,
        Some(Value::Object(block)) => Some(block),
        Some(_) => return Err(fail("Condition must be a JSON object".into())),
    };
    Ok(RawStatement {
        name,
        effect,
        action,
        resource,
        condition,
    })
}

/// IAM identity policies allow only letters and digits; a few harmless separators are
/// accepted too. Never `#`, so a Sid cannot be mistaken for a statement index.
fn valid_sid(sid: &str) -> bool {
    (1..=128).contains(&sid.len())
        && sid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
}

/// Exactly one of `positive`/`negative`, as a non-empty list of strings.
fn element(
    fields: &mut Map<String, Value>,
    positive: &str,
    negative: &str,
) -> Result<Element, String> {
    let (negated, name, value) = match (fields.remove(positive), fields.remove(negative)) {
        (Some(value), None) => (false, positive, value),
        (None, Some(value)) => (true, negative, value),
        (Some(_), Some(_)) => {
            return Err(format!("{positive} and {negative} cannot both be present"));
        }
        (None, None) => return Err(format!("missing {positive} (or {negative})")),
    };
    let entries = match value {
        Value::String(s) => vec![s],
        Value::Array(list) if list.is_empty() => {
            return Err(format!("{name} must not be an empty list"));
        }
        Value::Array(list) => list
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(format!("{name} entries must be strings, found {other}")),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "{name} must be a string or an array of strings, found {other}"
            ));
        }
    };
    Ok(Element { negated, entries })
}

/// A JSON value whose objects were checked for duplicate keys while parsing. IAM's own
/// JSON reader rejects them; silently keeping the last `"Effect"` would let a policy
/// read differently to a reviewer than to the evaluator.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot hold NaN or infinities, so `from_f64` never fails here.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_rejected_at_any_depth() {
        for text in [
            r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":[]}"#,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Effect":"Allow"}}"#,
            r#"{"a":{"b":{"c":1,"c":2}}}"#,
        ] {
            let err = serde_json::from_str::<Strict>(text).err().unwrap();
            assert!(err.to_string().contains("duplicate key"), "{err}");
        }
        let Strict(v) = serde_json::from_str(r#"{"a":[1,-2,3.5,"x",true,null,{}]}"#).unwrap();
        assert_eq!(v, serde_json::json!({"a":[1,-2,3.5,"x",true,null,{}]}));
    }

    #[test]
    fn sid_rules() {
        for ok in ["OwnFolder", "a", "Allow-Get_1.0", "With Space"] {
            assert!(valid_sid(ok), "{ok}");
        }
        for bad in ["", "#1", "a/b", "ünï", &"x".repeat(129)] {
            assert!(!valid_sid(bad), "{bad}");
        }
    }
}
