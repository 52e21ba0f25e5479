//! `Condition` blocks: operators (with `ForAnyValue:`/`ForAllValues:` and `IfExists`),
//! condition keys, typed policy values, and their evaluation with IAM's rules for
//! missing and multi-valued keys.
//!
//! Evaluation is three-valued (see `tri`): a claim that cannot be read as the operator's
//! type (NumericLessThan on `"abc"`) is `Unknown`, and so is an unresolvable variable in
//! a negated operator's values, where "matches nothing" would otherwise turn into "true".

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::glob::{Case, Pattern, Syntax};
use super::tri::Tri;
use super::variables::{Bindings, Variable};

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    ForAnyValue,
    ForAllValues,
}

/// The comparison of a Numeric or Date operator (`*NotEquals` is `Equal`, negated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Order {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Order::Equal => ordering.is_eq(),
            Order::Less => ordering.is_lt(),
            Order::LessOrEqual => ordering.is_le(),
            Order::Greater => ordering.is_gt(),
            Order::GreaterOrEqual => ordering.is_ge(),
        }
    }
}

/// The operator family, which fixes the policy values' type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// StringEquals and friends: `*`/`?` are literal.
    String(Case),
    /// StringLike / StringNotLike: `*`/`?` are wildcards, case-sensitive.
    Like,
    Numeric(Order),
    Date(Order),
    Bool,
    Ip,
    Null,
}

/// (name, family, negated). Names are case-sensitive: a misspelt operator is a load
/// error rather than a silently ignored condition.
const OPERATORS: &[(&str, Kind, bool)] = &[
    ("StringEquals", Kind::String(Case::Sensitive), false),
    ("StringNotEquals", Kind::String(Case::Sensitive), true),
    (
        "StringEqualsIgnoreCase",
        Kind::String(Case::AsciiInsensitive),
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Kind::String(Case::AsciiInsensitive),
        true,
    ),
    ("StringLike", Kind::Like, false),
    ("StringNotLike", Kind::Like, true),
    ("NumericEquals", Kind::Numeric(Order::Equal), false),
    ("NumericNotEquals", Kind::Numeric(Order::Equal), true),
    ("NumericLessThan", Kind::Numeric(Order::Less), false),
    (
        "NumericLessThanEquals",
        Kind::Numeric(Order::LessOrEqual),
        false,
    ),
    ("NumericGreaterThan", Kind::Numeric(Order::Greater), false),
    (
        "NumericGreaterThanEquals",
        Kind::Numeric(Order::GreaterOrEqual),
        false,
    ),
    ("DateEquals", Kind::Date(Order::Equal), false),
    ("DateNotEquals", Kind::Date(Order::Equal), true),
    ("DateLessThan", Kind::Date(Order::Less), false),
    ("DateLessThanEquals", Kind::Date(Order::LessOrEqual), false),
    ("DateGreaterThan", Kind::Date(Order::Greater), false),
    (
        "DateGreaterThanEquals",
        Kind::Date(Order::GreaterOrEqual),
        false,
    ),
    ("Bool", Kind::Bool, false),
    ("IpAddress", Kind::Ip, false),
    ("NotIpAddress", Kind::Ip, true),
    ("Null", Kind::Null, false),
];

/// A condition key the request can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// `jwt:NAME`; the claim name stays case-sensitive, as JWT claims are.
    Claim(Box<str>),
    SourceIp,
    CurrentTime,
    Method,
    ContentType,
    ContentLength,
    ExpiresIn,
    Issuer,
}

/// What a key holds, to refuse e.g. NumericLessThan on `presign:ContentType` at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    /// A JWT claim can be anything; it is read as the operator's type per request.
    Claim,
    String,
    Numeric,
    Date,
    Ip,
}

/// Policy values, already typed and parsed.
#[derive(Debug, Clone)]
enum Values {
    Strings(Vec<Pattern>),
    Numbers(Vec<Number>),
    /// Unix time in nanoseconds.
    Dates(Vec<i128>),
    /// Bool and Null values.
    Bools(Vec<bool>),
    Nets(Vec<IpNet>),
}

/// One `operator: { key: values }` pair.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    /// The operator and key as written, to explain a decision.
    operator_name: Box<str>,
    key_name: Box<str>,
    kind: Kind,
    negated: bool,
    qualifier: Option<Qualifier>,
    if_exists: bool,
    key: Key,
    values: Values,
}

/// Compiles a `Condition` object: every operator, every key in it (all ANDed).
pub(crate) fn compile(block: &Map<String, Value>) -> Result<Vec<Condition>, String> {
    let mut conditions = Vec::new();
    for (operator_name, keys) in block {
        let Operator {
            kind,
            negated,
            qualifier,
            if_exists,
        } = parse_operator(operator_name)?;
        let Value::Object(keys) = keys else {
            return Err(format!(
                "condition operator `{operator_name}` must map to an object of keys"
            ));
        };
        // `{}` would AND nothing, i.e. always hold: surely a mistake in a security policy.
        if keys.is_empty() {
            return Err(format!("condition operator `{operator_name}` has no keys"));
        }
        for (key_name, raw) in keys {
            let at =
                |reason: String| format!("condition `{operator_name}` on `{key_name}`: {reason}");
            let key = parse_key(key_name).map_err(at)?;
            let key_type = key_type(&key);
            if !accepts(kind, key_type) {
                return Err(at(format!(
                    "{key_name} holds {}; this operator cannot test it",
                    type_name(key_type)
                )));
            }
            let values = parse_values(kind, raw).map_err(at)?;
            conditions.push(Condition {
                operator_name: operator_name.as_str().into(),
                key_name: key_name.as_str().into(),
                kind,
                negated,
                qualifier,
                if_exists,
                key,
                values,
            });
        }
    }
    Ok(conditions)
}

/// A parsed operator name such as `ForAllValues:StringNotEqualsIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    kind: Kind,
    /// StringNotEquals, NotIpAddress, …: "none of the values matches".
    negated: bool,
    qualifier: Option<Qualifier>,
    if_exists: bool,
}

fn parse_operator(name: &str) -> Result<Operator, String> {
    let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (Some(Qualifier::ForAnyValue), rest)
    } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (Some(Qualifier::ForAllValues), rest)
    } else if let Some((prefix, _)) = name.split_once(':') {
        return Err(format!(
            "unknown condition qualifier `{prefix}:` in `{name}` \
             (expected ForAnyValue: or ForAllValues:)"
        ));
    } else {
        (None, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let Some(&(_, kind, negated)) = OPERATORS.iter().find(|(n, _, _)| *n == base) else {
        return Err(format!("unknown condition operator `{name}`"));
    };
    if kind == Kind::Null && (if_exists || qualifier.is_some()) {
        return Err(format!(
            "`{name}`: Null takes neither IfExists nor ForAnyValue:/ForAllValues:"
        ));
    }
    Ok(Operator {
        kind,
        negated,
        qualifier,
        if_exists,
    })
}

/// Prefix and name are case-insensitive (as IAM's keys are), except the claim name.
fn parse_key(name: &str) -> Result<Key, String> {
    let unknown = || {
        format!(
            "unknown condition key `{name}` (supported: jwt:CLAIM, aws:SourceIp, \
             aws:CurrentTime, presign:Method, presign:ContentType, presign:ContentLength, \
             presign:ExpiresIn, presign:Issuer)"
        )
    };
    let (prefix, rest) = name.split_once(':').ok_or_else(unknown)?;
    let lower = rest.to_ascii_lowercase();
    let key = match (prefix.to_ascii_lowercase().as_str(), lower.as_str()) {
        ("jwt", _) if !rest.is_empty() => Key::Claim(rest.into()),
        ("aws", "sourceip") => Key::SourceIp,
        ("aws", "currenttime") => Key::CurrentTime,
        ("presign", "method") => Key::Method,
        ("presign", "contenttype") => Key::ContentType,
        ("presign", "contentlength") => Key::ContentLength,
        ("presign", "expiresin") => Key::ExpiresIn,
        ("presign", "issuer") => Key::Issuer,
        _ => return Err(unknown()),
    };
    Ok(key)
}

fn key_type(key: &Key) -> KeyType {
    match key {
        Key::Claim(_) => KeyType::Claim,
        Key::SourceIp => KeyType::Ip,
        Key::CurrentTime => KeyType::Date,
        Key::Method | Key::ContentType | Key::Issuer => KeyType::String,
        Key::ContentLength | Key::ExpiresIn => KeyType::Numeric,
    }
}

fn type_name(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::Claim => "a claim",
        KeyType::String => "a string",
        KeyType::Numeric => "a number",
        KeyType::Date => "a date",
        KeyType::Ip => "an IP address",
    }
}

fn accepts(kind: Kind, key_type: KeyType) -> bool {
    matches!(
        (kind, key_type),
        (Kind::Null, _)
            | (_, KeyType::Claim)
            | (Kind::String(_) | Kind::Like, KeyType::String)
            | (Kind::Numeric(_), KeyType::Numeric)
            | (Kind::Date(_), KeyType::Date)
            | (Kind::Ip, KeyType::Ip)
    )
}

/// One scalar or a non-empty array of scalars, each parsed for `kind`.
fn parse_values(kind: Kind, raw: &Value) -> Result<Values, String> {
    let items: Vec<&Value> = match raw {
        Value::Array(list) if list.is_empty() => return Err("empty list of values".into()),
        Value::Array(list) => list.iter().collect(),
        other => vec![other],
    };
    fn each<T>(
        items: &[&Value],
        f: impl Fn(&Value) -> Option<T>,
        what: &str,
    ) -> Result<Vec<T>, String> {
        items
            .iter()
            .map(|item| f(item).ok_or_else(|| format!("value {item} is not {what}")))
            .collect()
    }
    match kind {
        Kind::String(_) | Kind::Like => {
            let syntax = if kind == Kind::Like {
                Syntax::Glob
            } else {
                Syntax::Template
            };
            let mut patterns = Vec::with_capacity(items.len());
            for item in &items {
                // Strings only: `5` or `true` here usually means the wrong operator.
                let Value::String(s) = item else {
                    return Err(format!(
                        "value {item} is not a string (use a Numeric/Bool operator for \
                         numbers and booleans)"
                    ));
                };
                patterns.push(Pattern::parse(s, syntax)?);
            }
            Ok(Values::Strings(patterns))
        }
        Kind::Numeric(_) => each(&items, policy_number, "a number").map(Values::Numbers),
        Kind::Date(_) => each(
            &items,
            policy_date,
            "a date (RFC 3339 text, or integer epoch seconds)",
        )
        .map(Values::Dates),
        Kind::Bool | Kind::Null => each(&items, policy_bool, "true or false").map(Values::Bools),
        Kind::Ip => each(
            &items,
            |v| v.as_str().and_then(parse_net),
            "an IP address or CIDR block",
        )
        .map(Values::Nets),
    }
}

fn policy_number(value: &Value) -> Option<Number> {
    match value {
        Value::Number(n) => Some(Number::from_json(n)),
        Value::String(s) => Number::parse(s),
        _ => None,
    }
}

fn policy_date(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n.as_i64().map(epoch_nanos),
        Value::String(s) => parse_date(s),
        _ => None,
    }
}

fn policy_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A CIDR block, or one address as a /32 or /128.
fn parse_net(s: &str) -> Option<IpNet> {
    if s.contains('/') {
        s.parse::<IpNet>().ok()
    } else {
        s.parse::<IpAddr>().ok().map(IpNet::from)
    }
}

/// RFC 3339 text, or integer epoch seconds as text.
fn parse_date(s: &str) -> Option<i128> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().map(epoch_nanos)
}

fn epoch_nanos(seconds: i64) -> i128 {
    i128::from(seconds) * 1_000_000_000
}

/// A number from the policy or a claim: exact for integers, `f64` otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    fn from_json(n: &serde_json::Number) -> Number {
        if let Some(i) = n.as_i64() {
            Number::Int(i.into())
        } else if let Some(u) = n.as_u64() {
            Number::Int(u.into())
        } else {
            // serde_json without arbitrary precision always has an f64 here.
            Number::Float(n.as_f64().unwrap_or(f64::NAN))
        }
    }

    /// Plain decimal text only (`-12`, `3.5`, `1e3`): Rust's `f64` parser would also take
    /// `NaN`, `inf` or `+5`, which no policy author means as a number.
    fn parse(s: &str) -> Option<Number> {
        let bytes = s.strip_prefix('-').unwrap_or(s).as_bytes();
        let mut i = 0;
        let digits = |i: &mut usize| {
            let start = *i;
            while *i < bytes.len() && bytes[*i].is_ascii_digit() {
                *i += 1;
            }
            *i > start
        };
        if !digits(&mut i) {
            return None;
        }
        let mut integral = true;
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            integral = false;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            integral = false;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        if i != bytes.len() {
            return None;
        }
        if integral && let Ok(v) = s.parse::<i128>() {
            return Some(Number::Int(v));
        }
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Number::Float)
    }

    fn as_f64(self) -> f64 {
        match self {
            // Precision loss above 2^53 only matters when comparing with a fraction.
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    fn compare(self, other: Number) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            _ => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }
}

/// One value of a key in this request.
#[derive(Debug, Clone, Copy)]
enum KeyValue<'a> {
    /// A claim, or one element of an array claim.
    Json(&'a Value),
    Str(&'a str),
    Count(u64),
    Ip(IpAddr),
    Time(OffsetDateTime),
}

/// The values of a key in this request.
enum KeyValues<'a> {
    Missing,
    One(KeyValue<'a>),
    Many(&'a [Value]),
}

impl<'a> KeyValues<'a> {
    fn of(key: &Key, bindings: &Bindings<'a>) -> KeyValues<'a> {
        let context = bindings.context();
        let present =
            |value: Option<KeyValue<'a>>| value.map_or(KeyValues::Missing, KeyValues::One);
        match key {
            // An object or null claim has no comparable value, and an empty array has no
            // values: all are "missing", so `Null: false` guards ForAllValues against them.
            Key::Claim(name) => match context.claims.get(&**name) {
                None | Some(Value::Null | Value::Object(_)) => KeyValues::Missing,
                Some(Value::Array(items)) if items.is_empty() => KeyValues::Missing,
                Some(Value::Array(items)) => KeyValues::Many(items),
                Some(value) => KeyValues::One(KeyValue::Json(value)),
            },
            Key::SourceIp => present(bindings.source_ip().map(KeyValue::Ip)),
            Key::CurrentTime => KeyValues::One(KeyValue::Time(context.current_time)),
            Key::Method => present(context.method.map(KeyValue::Str)),
            Key::ContentType => present(context.content_type.map(KeyValue::Str)),
            Key::ContentLength => present(context.content_length.map(KeyValue::Count)),
            Key::ExpiresIn => present(context.expires_in.map(KeyValue::Count)),
            Key::Issuer => KeyValues::One(KeyValue::Str(context.issuer)),
        }
    }

    fn iter(&self) -> impl Iterator<Item = KeyValue<'a>> + use<'a> {
        let (one, many): (Option<KeyValue<'a>>, &'a [Value]) = match *self {
            KeyValues::Missing => (None, &[]),
            KeyValues::One(value) => (Some(value), &[]),
            KeyValues::Many(items) => (None, items),
        };
        one.into_iter().chain(many.iter().map(KeyValue::Json))
    }
}

impl<'a> KeyValue<'a> {
    /// The value when it is text (a string claim or a string key).
    fn str(self) -> Option<&'a str> {
        match self {
            KeyValue::Json(Value::String(s)) => Some(s),
            KeyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// String form: claims' numbers and booleans as their JSON text.
    fn text(self) -> Option<Cow<'a, str>> {
        if let Some(s) = self.str() {
            return Some(Cow::Borrowed(s));
        }
        match self {
            KeyValue::Json(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
            KeyValue::Json(Value::Bool(b)) => {
                Some(Cow::Borrowed(if *b { "true" } else { "false" }))
            }
            KeyValue::Count(n) => Some(Cow::Owned(n.to_string())),
            KeyValue::Ip(ip) => Some(Cow::Owned(ip.to_string())),
            KeyValue::Time(t) => t.format(&Rfc3339).ok().map(Cow::Owned),
            KeyValue::Json(_) | KeyValue::Str(_) => None,
        }
    }

    fn number(self) -> Option<Number> {
        match self {
            KeyValue::Json(Value::Number(n)) => Some(Number::from_json(n)),
            KeyValue::Count(n) => Some(Number::Int(n.into())),
            _ => self.str().and_then(Number::parse),
        }
    }

    fn date(self) -> Option<i128> {
        match self {
            KeyValue::Json(Value::Number(n)) => n.as_i64().map(epoch_nanos),
            KeyValue::Time(t) => Some(t.unix_timestamp_nanos()),
            _ => self.str().and_then(parse_date),
        }
    }

    fn bool(self) -> Option<bool> {
        match self {
            KeyValue::Json(Value::Bool(b)) => Some(*b),
            _ => self.str().and_then(parse_bool),
        }
    }

    fn ip(self) -> Option<IpAddr> {
        match self {
            KeyValue::Ip(ip) => Some(ip),
            _ => self
                .str()
                .and_then(|s| s.parse::<IpAddr>().ok())
                .map(|ip| ip.to_canonical()),
        }
    }
}

impl Condition {
    /// `StringLike on presign:ContentType`, as written in the policy.
    /// The sizes this condition compares `presign:ContentLength` with, whole bytes (a
    /// fractional value as both neighbours): where its answer can change.
    pub(crate) fn content_length_values(&self) -> Vec<u64> {
        let (Key::ContentLength, Values::Numbers(numbers)) = (&self.key, &self.values) else {
            return Vec::new();
        };
        numbers
            .iter()
            .flat_map(|number| match *number {
                Number::Int(i) => vec![u64::try_from(i.max(0)).unwrap_or(u64::MAX)],
                Number::Float(f) if f.is_finite() => {
                    let f = f.max(0.0);
                    vec![f.floor() as u64, f.ceil() as u64]
                }
                Number::Float(_) => Vec::new(),
            })
            .collect()
    }

    pub(crate) fn describe(&self) -> String {
        format!("`{}` on `{}`", self.operator_name, self.key_name)
    }

    /// The variables used in this condition's values.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &Variable> {
        let patterns: &[Pattern] = match &self.values {
            Values::Strings(patterns) => patterns,
            _ => &[],
        };
        patterns.iter().flat_map(Pattern::variables)
    }

    pub(crate) fn evaluate(&self, bindings: &Bindings<'_>) -> Tri {
        let values = KeyValues::of(&self.key, bindings);
        if let Values::Bools(expected) = &self.values
            && self.kind == Kind::Null
        {
            // `Null: true` holds iff the key is missing, `Null: false` iff present.
            let missing = matches!(values, KeyValues::Missing);
            return Tri::from(expected.contains(&missing));
        }
        if matches!(values, KeyValues::Missing) {
            return Tri::from(if self.if_exists {
                true
            } else {
                match self.qualifier {
                    Some(Qualifier::ForAnyValue) => false,
                    // IAM: "for all values" of nothing is vacuously true.
                    Some(Qualifier::ForAllValues) => true,
                    // IAM: a missing key fails positive operators and satisfies negated ones.
                    None => self.negated,
                }
            });
        }
        // Without a qualifier, a multi-valued key needs any value to match a positive
        // operator, and every value to pass a negated one ("none of them is listed").
        let for_all = match self.qualifier {
            Some(Qualifier::ForAnyValue) => false,
            Some(Qualifier::ForAllValues) => true,
            None => self.negated,
        };
        let mut result = Tri::from(for_all);
        for value in values.iter() {
            let one = self.test(value, bindings);
            result = if for_all {
                result.and(one)
            } else {
                result.or(one)
            };
            if result == Tri::from(!for_all) {
                break;
            }
        }
        result
    }

    /// One key value against the policy values (ORed), negation applied.
    fn test(&self, value: KeyValue<'_>, bindings: &Bindings<'_>) -> Tri {
        let positive = match &self.values {
            Values::Strings(patterns) => self.test_strings(value, patterns, bindings),
            Values::Numbers(numbers) => match (value.number(), self.kind) {
                (Some(n), Kind::Numeric(order)) => any(numbers, |p| {
                    n.compare(*p)
                        .map_or(Tri::Unknown, |ord| Tri::from(order.holds(ord)))
                }),
                _ => Tri::Unknown,
            },
            Values::Dates(dates) => match (value.date(), self.kind) {
                (Some(d), Kind::Date(order)) => any(dates, |p| Tri::from(order.holds(d.cmp(p)))),
                _ => Tri::Unknown,
            },
            Values::Bools(bools) => match value.bool() {
                Some(b) => Tri::from(bools.contains(&b)),
                None => Tri::Unknown,
            },
            Values::Nets(nets) => match value.ip() {
                Some(ip) => Tri::from(nets.iter().any(|net| net.contains(&ip))),
                None => Tri::Unknown,
            },
        };
        if self.negated {
            positive.not()
        } else {
            positive
        }
    }

    fn test_strings(
        &self,
        value: KeyValue<'_>,
        patterns: &[Pattern],
        bindings: &Bindings<'_>,
    ) -> Tri {
        let Some(text) = value.text() else {
            return Tri::Unknown;
        };
        let case = match self.kind {
            Kind::String(case) => case,
            _ => Case::Sensitive,
        };
        // An unresolved variable makes its value match nothing; under a negated operator
        // that would read as "not equal, so true", so there it is Unknown instead.
        let unresolved = if self.negated {
            Tri::Unknown
        } else {
            Tri::False
        };
        any(patterns, |pattern| {
            pattern
                .matches(&text, case, |variable| bindings.value(variable))
                .map_or(unresolved, Tri::from)
        })
    }
}

/// Kleene OR over the policy values, stopping at the first `True`.
fn any<T>(items: &[T], mut test: impl FnMut(&T) -> Tri) -> Tri {
    let mut result = Tri::False;
    for item in items {
        result = result.or(test(item));
        if result == Tri::True {
            break;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let ok: &[(&str, Number)] = &[
            ("0", Number::Int(0)),
            ("-12", Number::Int(-12)),
            ("10485760", Number::Int(10_485_760)),
            ("3.5", Number::Float(3.5)),
            ("1e3", Number::Float(1000.0)),
            ("1E-2", Number::Float(0.01)),
            (
                "99999999999999999999999",
                Number::Int(99_999_999_999_999_999_999_999),
            ),
        ];
        for (text, want) in ok {
            assert_eq!(Number::parse(text), Some(*want), "{text}");
        }
        for bad in [
            "", "ten", "NaN", "inf", "+5", " 5", "5 ", "1.", ".5", "1e", "0x10", "1_000", "-",
        ] {
            assert_eq!(Number::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            Number::Int(3).compare(Number::Float(3.0)),
            Some(Ordering::Equal)
        );
        assert_eq!(
            Number::Int(3).compare(Number::Float(3.5)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Number::Int(9_007_199_254_740_993).compare(Number::Int(9_007_199_254_740_992)),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn dates_and_nets() {
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_date("1970-01-01T01:00:01+01:00"), Some(1_000_000_000));
        assert_eq!(parse_date("1"), Some(1_000_000_000));
        for bad in ["2026-01-01", "yesterday", "", "1.5", "2026-13-01T00:00:00Z"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert!(parse_net("10.0.0.0/8").is_some());
        assert!(parse_net("10.1.2.3").is_some());
        assert!(parse_net("2001:db8::/32").is_some());
        assert!(parse_net("10.0.0.0/33").is_none());
        assert!(parse_net("example.com").is_none());
    }

    #[test]
    fn operators() {
        assert_eq!(
            parse_operator("ForAllValues:StringNotEqualsIfExists"),
            Ok(Operator {
                kind: Kind::String(Case::Sensitive),
                negated: true,
                qualifier: Some(Qualifier::ForAllValues),
                if_exists: true,
            })
        );
        for bad in [
            "stringequals",
            "StringEqual",
            "ForSomeValues:StringEquals",
            "NullIfExists",
            "ForAnyValue:Null",
            "StringEqualsIfExistsIfExists",
            "ArnLike",
            "BinaryEquals",
        ] {
            assert!(parse_operator(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_key("JWT:Groups"), Ok(Key::Claim("Groups".into())));
        assert_eq!(parse_key("AWS:SOURCEIP"), Ok(Key::SourceIp));
        assert_eq!(parse_key("presign:contentLENGTH"), Ok(Key::ContentLength));
        for bad in [
            "jwt:",
            "s3:prefix",
            "aws:username",
            "presign:Bucket",
            "sub",
            "",
        ] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }
}
