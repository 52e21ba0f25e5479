//! Table-driven tests of the public API: AWS's documented example policies adapted to
//! presignd's actions, DESIGN.md §4's example, IAM's edge cases, and every load error.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::tri::Tri;
use super::*;

const NOW: OffsetDateTime = datetime!(2026-11-22 13:00 UTC);

/// An owned request, so table rows can build one fluently.
#[derive(Debug, Clone)]
struct Req {
    action: Action,
    resource: String,
    claims: Map<String, Value>,
    issuer: String,
    source_ip: Option<IpAddr>,
    now: OffsetDateTime,
    method: Option<String>,
    content_type: Option<String>,
    content_length: Option<u64>,
    expires_in: Option<u64>,
    max_uses: Option<u64>,
    link_expires_in: Option<u64>,
}

/// `action` is parsed as presignd parses `--action`: ASCII case-insensitively.
fn req(action: &str, resource: &str) -> Req {
    Req {
        action: Action::parse(action).unwrap_or_else(|| panic!("unknown action {action}")),
        resource: resource.into(),
        claims: Map::new(),
        issuer: "https://idp.example.com/".into(),
        source_ip: None,
        now: NOW,
        method: None,
        content_type: None,
        content_length: None,
        expires_in: None,
        max_uses: None,
        link_expires_in: None,
    }
}

/// `s3:GetObject` on `arn:aws:s3:::{object}`, method GET.
fn get(object: &str) -> Req {
    let mut r = req("s3:GetObject", &format!("arn:aws:s3:::{object}"));
    r.method = Some("GET".into());
    r
}

/// `s3:PutObject` on `arn:aws:s3:::{object}`, method PUT.
fn put(object: &str) -> Req {
    let mut r = req("s3:PutObject", &format!("arn:aws:s3:::{object}"));
    r.method = Some("PUT".into());
    r
}

fn audit() -> Req {
    req("presign:QueryAudit", "*")
}

impl Req {
    fn sub(self, sub: &str) -> Req {
        self.claim("sub", json!(sub))
    }

    fn claim(mut self, name: &str, value: Value) -> Req {
        self.claims.insert(name.into(), value);
        self
    }

    fn ip(mut self, ip: &str) -> Req {
        self.source_ip = Some(ip.parse().unwrap());
        self
    }

    fn at(mut self, now: OffsetDateTime) -> Req {
        self.now = now;
        self
    }

    fn issuer(mut self, issuer: &str) -> Req {
        self.issuer = issuer.into();
        self
    }

    fn content_type(mut self, content_type: &str) -> Req {
        self.content_type = Some(content_type.into());
        self
    }

    fn length(mut self, bytes: u64) -> Req {
        self.content_length = Some(bytes);
        self
    }

    fn expires(mut self, seconds: u64) -> Req {
        self.expires_in = Some(seconds);
        self
    }

    fn link(mut self, max_uses: Option<u64>, link_expires_in: u64) -> Req {
        self.max_uses = max_uses;
        self.link_expires_in = Some(link_expires_in);
        self
    }

    fn decide(&self, policy: &Policy) -> Decision {
        self.with(|request| policy.evaluate(request))
    }

    /// Runs `f` on this request in the borrowed form the policy takes.
    fn with<R>(&self, f: impl FnOnce(&Request<'_>) -> R) -> R {
        let context = Context {
            claims: &self.claims,
            issuer: &self.issuer,
            source_ip: self.source_ip,
            current_time: self.now,
            method: self.method.as_deref(),
            content_type: self.content_type.as_deref(),
            content_length: self.content_length,
            expires_in: self.expires_in,
            max_uses: self.max_uses,
            link_expires_in: self.link_expires_in,
        };
        f(&Request {
            action: self.action,
            resource: &self.resource,
            context: &context,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Want {
    AllowBy(&'static str),
    DenyBy(&'static str),
    Implicit,
}
use Want::{AllowBy, DenyBy, Implicit};

fn load(text: &str) -> Policy {
    Policy::from_json(text).unwrap_or_else(|e| panic!("policy does not load: {e}\n{text}"))
}

/// Runs every row, then reports all failures at once.
fn check(policy: &str, cases: Vec<(&str, Req, Want)>) {
    let policy = load(policy);
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, request, want)| {
            let expected = match want {
                AllowBy(s) => Decision::Allow {
                    statement: s.into(),
                },
                DenyBy(s) => Decision::Deny(Denial::Explicit {
                    statement: s.into(),
                }),
                Implicit => Decision::Deny(Denial::NoStatementAllows),
            };
            let got = request.decide(&policy);
            (got != expected).then(|| format!("{name}: expected {expected:?}, got {got:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// DESIGN.md §4's example, shared with benches/policy.rs.
const DESIGN_EXAMPLE: &str = include_str!("design_example.json");

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn design_example_loads_and_behaves_as_described() {
    assert_eq!(load(DESIGN_EXAMPLE).statement_count(), 3);
    let upload = |key: &str| {
        put(&format!("uploads/users/{key}"))
            .sub("alice")
            .content_type("image/png")
            .length(1234)
            .expires(900)
    };
    check(
        DESIGN_EXAMPLE,
        vec![
            ("own folder image", upload("alice/a.png"), AllowBy("OwnFolder")),
            ("own folder pdf", upload("alice/doc.pdf").content_type("application/pdf"), AllowBy("OwnFolder")),
            ("download with the same constraints", get("uploads/users/alice/a.png").sub("alice").content_type("image/jpeg").length(1).expires(60), AllowBy("OwnFolder")),
            // GET without content_type/length: positive operators on missing keys fail.
            ("download without content type or length", get("uploads/users/alice/a.png").sub("alice").expires(60), Implicit),
            ("nested key", upload("alice/2026/11/a.png"), AllowBy("OwnFolder")),
            ("html is not allowed", upload("alice/a.html").content_type("text/html"), Implicit),
            ("exactly 10 MiB", upload("alice/a.png").length(10_485_760), AllowBy("OwnFolder")),
            ("one byte over 10 MiB", upload("alice/a.png").length(10_485_761), Implicit),
            ("expires over 900 s", upload("alice/a.png").expires(901), Implicit),
            ("someone else's folder", upload("bob/a.png"), Implicit),
            ("no sub claim", upload("alice/a.png").claim("sub", json!(null)), Implicit),
            ("other bucket", put("other/users/alice/a.png").sub("alice"), Implicit),
            ("secrets inside own folder", upload("alice/secrets/a.png"), DenyBy("NoSecrets")),
            ("secrets anywhere", get("any/x/secrets/y").sub("alice"), DenyBy("NoSecrets")),
            ("ops can query audit (array claim)", audit().claim("groups", json!(["dev", "ops"])), AllowBy("OpsAudit")),
            ("ops can query audit (string claim)", audit().claim("groups", json!("ops")), AllowBy("OpsAudit")),
            ("non-ops cannot", audit().claim("groups", json!(["dev"])), Implicit),
            ("no groups claim", audit(), Implicit),
            ("group names are case-sensitive", audit().claim("groups", json!(["OPS"])), Implicit),
        ],
    );
}

/// AWS: "Allows IAM users to access their own home directory in Amazon S3", with
/// `${aws:username}` rewritten as `${jwt:sub}` and without the ListBucket statement.
const HOME_FOLDER: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "ReadWriteYourObjects", "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject"],
      "Resource": ["arn:aws:s3:::bucket-name/home/${jwt:sub}", "arn:aws:s3:::bucket-name/home/${jwt:sub}/*"] }
  ]
}"#;

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn aws_home_folder_policy_and_substitution_safety() {
    let home = |key: &str| get(&format!("bucket-name/home/{key}"));
    check(
        HOME_FOLDER,
        vec![
            ("own object", home("alice/notes.txt").sub("alice"), AllowBy("ReadWriteYourObjects")),
            ("own folder marker", home("alice").sub("alice"), AllowBy("ReadWriteYourObjects")),
            ("upload", put("bucket-name/home/alice/x").sub("alice"), AllowBy("ReadWriteYourObjects")),
            ("other user", home("bob/notes.txt").sub("alice"), Implicit),
            ("prefix of another name", home("alicex/notes.txt").sub("alice"), Implicit),
            ("resources are case-sensitive", home("Alice/notes.txt").sub("alice"), Implicit),
            ("actions are case-insensitive", req("S3:GETOBJECT", "arn:aws:s3:::bucket-name/home/alice/x").sub("alice"), AllowBy("ReadWriteYourObjects")),
            ("unicode sub", home("ünï/x").sub("ünï"), AllowBy("ReadWriteYourObjects")),
            ("missing sub", home("alice/x"), Implicit),
            ("numeric sub does not substitute", home("1234/x").claim("sub", json!(1234)), Implicit),
            ("array sub does not substitute", home("a/x").claim("sub", json!(["a"])), Implicit),
            // A claim is literal text: wildcards in it match only themselves.
            ("star sub cannot widen", home("bob/x").sub("*"), Implicit),
            ("star sub matches a literal star", home("*/x").sub("*"), AllowBy("ReadWriteYourObjects")),
            ("question mark sub cannot widen", home("b/x").sub("?"), Implicit),
            ("partial star sub", home("bob/x").sub("b*"), Implicit),
            // Path-unsafe claims never substitute into a resource.
            ("dot-dot sub", home("../x").sub(".."), Implicit),
            ("dot sub", home("./x").sub("."), Implicit),
            ("traversal sub", home("alice/../bob/x").sub("alice/../bob"), Implicit),
            ("slash sub", home("alice/bob/x").sub("alice/bob"), Implicit),
            ("backslash sub", home("a\\b/x").sub("a\\b"), Implicit),
            ("empty sub", home("/x").sub(""), Implicit),
            ("control char sub", home("a\nb/x").sub("a\nb"), Implicit),
            ("dots inside a name are fine", home("a..b/x").sub("a..b"), AllowBy("ReadWriteYourObjects")),
            // Substituted text is never expanded again.
            ("variable syntax in a claim stays literal", home("${jwt:admin}/x").sub("${jwt:admin}").claim("admin", json!("root")), AllowBy("ReadWriteYourObjects")),
            ("variable syntax in a claim is not expanded", home("root/x").sub("${jwt:admin}").claim("admin", json!("root")), Implicit),
            ("audit is not an object", audit().sub("alice"), Implicit),
        ],
    );
}

/// AWS: "Denies access to AWS based on the source IP", with an Allow to deny from.
const DENY_BY_IP: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Effect": "Deny", "Action": "*", "Resource": "*",
      "Condition": { "NotIpAddress": { "aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24", "2001:db8:1::/48"] } } },
    { "Sid": "Everything", "Effect": "Allow", "Action": ["s3:*", "presign:*"], "Resource": "*" }
  ]
}"#;

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn aws_deny_by_source_ip() {
    check(
        DENY_BY_IP,
        vec![
            ("inside range", get("b/k").ip("192.0.2.10"), AllowBy("Everything")),
            ("second range", put("b/k").ip("203.0.113.255"), AllowBy("Everything")),
            ("ipv6 range", get("b/k").ip("2001:db8:1::7"), AllowBy("Everything")),
            ("outside", get("b/k").ip("198.51.100.1"), DenyBy("#0")),
            ("outside ipv6", get("b/k").ip("2001:db8:2::1"), DenyBy("#0")),
            ("ipv4-mapped ipv6 is folded", get("b/k").ip("::ffff:192.0.2.10"), AllowBy("Everything")),
            ("ipv4-mapped outside", get("b/k").ip("::ffff:198.51.100.1"), DenyBy("#0")),
            // Missing key: a negated operator holds (IAM), so the Deny applies.
            ("no source ip", get("b/k"), DenyBy("#0")),
            ("audit outside", audit().ip("10.0.0.1"), DenyBy("#0")),
            ("audit inside", audit().ip("192.0.2.1"), AllowBy("Everything")),
        ],
    );
    // A blocklist Deny (positive IpAddress) sees mapped addresses too.
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Block","Effect":"Deny","Action":"*","Resource":"*",
             "Condition":{"IpAddress":{"aws:SourceIp":"198.51.100.0/24"}}},
            {"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        vec![
            ("blocked", get("b/k").ip("198.51.100.9"), DenyBy("Block")),
            ("blocked via mapped", get("b/k").ip("::ffff:198.51.100.9"), DenyBy("Block")),
            ("other", get("b/k").ip("192.0.2.1"), AllowBy("All")),
            ("no ip: positive operator fails", get("b/k"), AllowBy("All")),
        ],
    );
}

/// AWS: "Allows access within specific dates" (DateGreaterThan + DateLessThan).
const DATE_WINDOW: &str = r#"{
  "Version": "2012-10-17",
  "Statement": { "Sid": "Window", "Effect": "Allow", "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::reports/*",
    "Condition": {
      "DateGreaterThan": { "aws:CurrentTime": "2020-04-01T00:00:00Z" },
      "DateLessThan": { "aws:CurrentTime": "2020-06-30T23:59:59Z" } } }
}"#;

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn aws_date_window() {
    let at = |t| get("reports/q2.pdf").at(t);
    check(
        DATE_WINDOW,
        vec![
            ("inside", at(datetime!(2020-05-15 12:00 UTC)), AllowBy("Window")),
            ("before", at(datetime!(2020-03-31 23:59:59 UTC)), Implicit),
            ("start is exclusive", at(datetime!(2020-04-01 00:00 UTC)), Implicit),
            ("just after start", at(datetime!(2020-04-01 00:00:00.001 UTC)), AllowBy("Window")),
            ("end is exclusive", at(datetime!(2020-06-30 23:59:59 UTC)), Implicit),
            ("after", at(datetime!(2020-07-01 00:00 UTC)), Implicit),
            ("offsets are honoured", at(datetime!(2020-04-01 01:30 +02:00)), Implicit),
            ("now", get("reports/q2.pdf"), Implicit),
        ],
    );
    // Epoch seconds work as values too; 1585699200 = 2020-04-01T00:00:00Z.
    check(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"E","Effect":"Allow","Action":"s3:GetObject",
            "Resource":"*","Condition":{"DateGreaterThanEquals":{"aws:CurrentTime":1585699200}}}}"#,
        vec![
            ("at epoch value", get("b/k").at(datetime!(2020-04-01 00:00 UTC)), AllowBy("E")),
            ("before epoch value", get("b/k").at(datetime!(2020-03-31 23:59 UTC)), Implicit),
        ],
    );
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn explicit_deny_wins_in_any_order() {
    let allow = r#"{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}"#;
    let deny = r#"{"Sid":"D","Effect":"Deny","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/ro/*"}"#;
    for statements in [format!("[{allow},{deny}]"), format!("[{deny},{allow}]")] {
        check(
            &format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#),
            vec![
                ("put read-only", put("b/ro/x"), DenyBy("D")),
                ("get read-only", get("b/ro/x"), AllowBy("A")),
                ("put elsewhere", put("b/rw/x"), AllowBy("A")),
            ],
        );
    }
    // Several deciding statements: the first in the document is named.
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"A1","Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
            {"Sid":"A2","Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Sid":"D1","Effect":"Deny","Action":"s3:PutObject","Resource":"*"},
            {"Sid":"D2","Effect":"Deny","Action":"*","Resource":"arn:aws:s3:::b/*"}]}"#,
        vec![
            ("two allows", get("c/k"), AllowBy("A1")),
            ("two denies", put("b/k"), DenyBy("D1")),
            ("one deny", get("b/k"), DenyBy("D2")),
        ],
    );
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn not_action_and_not_resource() {
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"ReadOnly","Effect":"Allow","NotAction":"s3:PutObject","Resource":"arn:aws:s3:::pub/*"},
            {"Sid":"AllButPrivate","Effect":"Allow","Action":"s3:GetObject","NotResource":["arn:aws:s3:::pub/private/*","arn:aws:s3:::x/*"]}]}"#,
        vec![
            ("get pub", get("pub/a"), AllowBy("ReadOnly")),
            ("put pub", put("pub/a"), Implicit),
            ("audit is not a pub resource", audit(), Implicit),
            ("get private", get("pub/private/a"), AllowBy("ReadOnly")),
            ("get other bucket", get("other/a"), AllowBy("AllButPrivate")),
            ("get excluded bucket", get("x/a"), Implicit),
        ],
    );
    // Confine everyone to their folder: Deny + NotResource with a variable.
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Confine","Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::data/${jwt:sub}/*"},
            {"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        vec![
            ("own folder", get("data/alice/x").sub("alice"), AllowBy("All")),
            ("other folder", get("data/bob/x").sub("alice"), DenyBy("Confine")),
            ("no sub: deny still applies", get("data/alice/x"), DenyBy("Confine")),
            ("traversal sub: deny still applies", get("data/../x").sub(".."), DenyBy("Confine")),
            ("audit is not s3", audit(), AllowBy("All")),
        ],
    );
    // Allow + NotResource with a variable: an unresolved variable must not widen it.
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"NotOthers","Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::vault/${jwt:sub}/*"}]}"#,
        vec![
            ("resolved, outside", get("pub/x").sub("alice"), AllowBy("NotOthers")),
            ("resolved, excluded", get("vault/alice/x").sub("alice"), Implicit),
            ("unresolved", get("vault/alice/x"), Implicit),
            ("unresolved, unrelated resource", get("pub/x"), Implicit),
        ],
    );
    // A Deny whose Resource does not resolve matches nothing (DESIGN §4).
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Locked","Effect":"Deny","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/${jwt:sub}/locked/*"},
            {"Sid":"All","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}"#,
        vec![
            ("own locked", put("b/alice/locked/x").sub("alice"), DenyBy("Locked")),
            ("someone else's locked", put("b/bob/locked/x").sub("alice"), AllowBy("All")),
            ("no sub", put("b/bob/locked/x"), AllowBy("All")),
        ],
    );
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn actions_wildcards_and_case() {
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Get","Effect":"Allow","Action":"S3:get*","Resource":"arn:aws:s3:::Bucket/*"},
            {"Sid":"Put","Effect":"Allow","Action":"s3:?utObject","Resource":"arn:aws:s3:::up/*"},
            {"Sid":"Audit","Effect":"Allow","Action":"presign:*","Resource":"*"}]}"#,
        vec![
            ("case-insensitive action", get("Bucket/k"), AllowBy("Get")),
            ("case-sensitive bucket", get("bucket/k"), Implicit),
            ("question mark in action", put("up/k"), AllowBy("Put")),
            ("s3:* does not cover presign", audit(), AllowBy("Audit")),
            ("another s3 action", req("s3:AbortMultipartUpload", "arn:aws:s3:::up/k"), Implicit),
            ("presign:* covers links", req("presign:CreateLink", "*"), AllowBy("Audit")),
        ],
    );
    check(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"Exact","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
        vec![
            ("exact", get("b/k"), AllowBy("Exact")),
            ("another action", req("s3:ListMultipartUploadParts", "arn:aws:s3:::b/k"), Implicit),
        ],
    );
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn resource_wildcards_escapes_and_unicode() {
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Q","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/f?le"},
            {"Sid":"Star","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/lit${*}eral"},
            {"Sid":"Quest","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/what${?}"},
            {"Sid":"Dollar","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${$}{jwt:sub}"},
            {"Sid":"Lone","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/$price/*"},
            {"Sid":"Deep","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::c/*.png"}]}"#,
        vec![
            ("? matches ascii", get("b/file"), AllowBy("Q")),
            ("? matches a 2-byte char", get("b/fïle"), AllowBy("Q")),
            ("? matches a 4-byte char", get("b/f😀le"), AllowBy("Q")),
            ("? needs one char", get("b/fle"), Implicit),
            ("? is only one char", get("b/fiile"), Implicit),
            ("${*} is a literal star", get("b/lit*eral"), AllowBy("Star")),
            ("${*} is not a wildcard", get("b/litXeral"), Implicit),
            ("${?} is a literal question mark", get("b/what?"), AllowBy("Quest")),
            ("${?} is not a wildcard", get("b/whatX"), Implicit),
            ("${$} is a literal dollar", get("b/${jwt:sub}").sub("alice"), AllowBy("Dollar")),
            ("${$} does not make a variable", get("b/alice").sub("alice"), Implicit),
            ("lone $ is literal", get("b/$price/x"), AllowBy("Lone")),
            ("* spans slashes", get("c/a/b/c/d.png"), AllowBy("Deep")),
            ("* needs the suffix", get("c/a/b/c/d.png.txt"), Implicit),
        ],
    );
}

#[test]
fn long_patterns_do_not_blow_up() {
    // a*a*a*…*b against aaaa…a: exponential for a naive backtracking matcher.
    let pattern = format!("arn:aws:s3:::b/{}b", "a*".repeat(300));
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Sid":"Long","Effect":"Allow","Action":"s3:GetObject","Resource":"{pattern}"}}}}"#
    );
    let key = "a".repeat(1024);
    let start = Instant::now();
    check(
        &policy,
        vec![
            ("no match", get(&format!("b/{key}")), Implicit),
            ("match", get(&format!("b/{key}b")), AllowBy("Long")),
        ],
    );
    let many = format!("arn:aws:s3:::b/{}z", "*?".repeat(400));
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Sid":"Many","Effect":"Allow","Action":"s3:GetObject","Resource":"{many}"}}}}"#
    );
    check(
        &policy,
        vec![("no match", get(&format!("b/{key}")), Implicit)],
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// One statement `C` with `effect`, on every request, with `condition` as its block.
fn condition_policy(effect: &str, condition: &Value) -> String {
    let mut statements = vec![json!({
        "Sid": "C", "Effect": effect, "Action": "*", "Resource": "*", "Condition": condition
    })];
    if effect == "Deny" {
        statements.push(json!({"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}));
    }
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// Each row's condition block is evaluated as an Allow and as a Deny, which together
/// show its three-valued result: True allows and denies, False does neither, Unknown
/// does not allow but does deny.
fn check_conditions(rows: Vec<(&str, Value, Req, Tri)>) {
    let mut failures = Vec::new();
    for (name, condition, request, want) in rows {
        let allow = load(&condition_policy("Allow", &condition));
        let deny = load(&condition_policy("Deny", &condition));
        let allowed = request.decide(&allow).is_allowed();
        let denied = !request.decide(&deny).is_allowed();
        let got = match (allowed, denied) {
            (true, true) => Tri::True,
            (false, false) => Tri::False,
            (false, true) => Tri::Unknown,
            (true, false) => {
                failures.push(format!("{name}: allowed as Allow yet not denied as Deny"));
                continue;
            }
        };
        if got != want {
            failures.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const T: Tri = Tri::True;
const F: Tri = Tri::False;
const U: Tri = Tri::Unknown;

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn missing_keys_if_exists_and_null() {
    let r = || get("b/k");
    check_conditions(vec![
        ("StringEquals, missing", json!({"StringEquals": {"presign:ContentType": "image/png"}}), r(), F),
        ("StringEquals, present", json!({"StringEquals": {"presign:ContentType": "image/png"}}), r().content_type("image/png"), T),
        ("StringNotEquals, missing (IAM: true)", json!({"StringNotEquals": {"presign:ContentType": "image/png"}}), r(), T),
        ("StringNotEquals, other", json!({"StringNotEquals": {"presign:ContentType": "image/png"}}), r().content_type("text/html"), T),
        ("StringNotEquals, same", json!({"StringNotEquals": {"presign:ContentType": "image/png"}}), r().content_type("image/png"), F),
        ("StringLike, missing", json!({"StringLike": {"presign:ContentType": "*"}}), r(), F),
        ("StringNotLike, missing", json!({"StringNotLike": {"presign:ContentType": "*"}}), r(), T),
        ("NumericLessThan, missing", json!({"NumericLessThan": {"presign:ContentLength": 10}}), r(), F),
        ("NumericNotEquals, missing", json!({"NumericNotEquals": {"presign:ContentLength": 10}}), r(), T),
        ("IpAddress, missing", json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), r(), F),
        ("NotIpAddress, missing", json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), r(), T),
        ("DateNotEquals, missing claim", json!({"DateNotEquals": {"jwt:since": "2020-01-01T00:00:00Z"}}), r(), T),
        ("Bool, missing claim", json!({"Bool": {"jwt:email_verified": "true"}}), r(), F),
        ("StringEqualsIfExists, missing", json!({"StringEqualsIfExists": {"presign:ContentType": "image/png"}}), r(), T),
        ("StringEqualsIfExists, other", json!({"StringEqualsIfExists": {"presign:ContentType": "image/png"}}), r().content_type("text/html"), F),
        ("StringEqualsIfExists, same", json!({"StringEqualsIfExists": {"presign:ContentType": "image/png"}}), r().content_type("image/png"), T),
        ("NumericLessThanEqualsIfExists, missing", json!({"NumericLessThanEqualsIfExists": {"presign:ContentLength": 5}}), r(), T),
        ("NumericLessThanEqualsIfExists, too big", json!({"NumericLessThanEqualsIfExists": {"presign:ContentLength": 5}}), r().length(6), F),
        ("IpAddressIfExists, missing", json!({"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}), r(), T),
        ("Null true, missing", json!({"Null": {"presign:ContentType": "true"}}), r(), T),
        ("Null true, present", json!({"Null": {"presign:ContentType": true}}), r().content_type("a/b"), F),
        ("Null false, missing", json!({"Null": {"presign:ContentType": "false"}}), r(), F),
        ("Null false, present", json!({"Null": {"presign:ContentType": false}}), r().content_type("a/b"), T),
        ("Null false, empty string is present", json!({"Null": {"presign:ContentType": false}}), r().content_type(""), T),
        ("Null on object claim", json!({"Null": {"jwt:o": true}}), r().claim("o", json!({"a": 1})), T),
        ("Null on null claim", json!({"Null": {"jwt:o": true}}), r().claim("o", json!(null)), T),
        ("Null on empty array claim", json!({"Null": {"jwt:o": true}}), r().claim("o", json!([])), T),
        ("Null on issuer", json!({"Null": {"presign:Issuer": false}}), r(), T),
        ("Null on current time", json!({"Null": {"aws:CurrentTime": false}}), r(), T),
        ("Null on claim name case", json!({"Null": {"jwt:Sub": true}}), r().sub("alice"), T),
    ]);
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn multi_valued_claims_and_set_qualifiers() {
    let groups = |g: Value| get("b/k").claim("groups", g);
    let none = || get("b/k");
    let any_ops = json!({"ForAnyValue:StringEquals": {"jwt:groups": "ops"}});
    let all_allowed = json!({"ForAllValues:StringEquals": {"jwt:groups": ["ops", "dev"]}});
    let guarded = json!({
        "ForAllValues:StringEquals": {"jwt:groups": ["ops", "dev"]},
        "Null": {"jwt:groups": "false"}
    });
    check_conditions(vec![
        ("ForAnyValue, one of two", any_ops.clone(), groups(json!(["ops", "dev"])), T),
        ("ForAnyValue, none", any_ops.clone(), groups(json!(["dev", "qa"])), F),
        ("ForAnyValue, scalar claim", any_ops.clone(), groups(json!("ops")), T),
        ("ForAnyValue, empty set", any_ops.clone(), groups(json!([])), F),
        ("ForAnyValue, missing", any_ops.clone(), none(), F),
        ("ForAllValues, subset", all_allowed.clone(), groups(json!(["ops"])), T),
        ("ForAllValues, all listed", all_allowed.clone(), groups(json!(["dev", "ops"])), T),
        ("ForAllValues, one extra", all_allowed.clone(), groups(json!(["ops", "admin"])), F),
        // IAM's trap, kept on purpose: "all of nothing" holds.
        ("ForAllValues, missing (IAM: true)", all_allowed.clone(), none(), T),
        ("ForAllValues, empty set (IAM: true)", all_allowed.clone(), groups(json!([])), T),
        ("ForAllValues + Null guard, missing", guarded.clone(), none(), F),
        ("ForAllValues + Null guard, empty set", guarded.clone(), groups(json!([])), F),
        ("ForAllValues + Null guard, subset", guarded, groups(json!(["dev"])), T),
        ("ForAnyValue IfExists, missing", json!({"ForAnyValue:StringEqualsIfExists": {"jwt:groups": "ops"}}), none(), T),
        // No qualifier: positive = any value, negated = none of the values.
        ("unqualified positive, array", json!({"StringEquals": {"jwt:groups": "ops"}}), groups(json!(["dev", "ops"])), T),
        ("unqualified positive, array miss", json!({"StringEquals": {"jwt:groups": "ops"}}), groups(json!(["dev"])), F),
        ("unqualified negated, array with it", json!({"StringNotEquals": {"jwt:groups": "ops"}}), groups(json!(["dev", "ops"])), F),
        ("unqualified negated, array without", json!({"StringNotEquals": {"jwt:groups": "ops"}}), groups(json!(["dev", "qa"])), T),
        ("ForAnyValue negated: some value unlisted", json!({"ForAnyValue:StringNotEquals": {"jwt:groups": "ops"}}), groups(json!(["ops", "dev"])), T),
        ("ForAnyValue negated: all listed", json!({"ForAnyValue:StringNotEquals": {"jwt:groups": "ops"}}), groups(json!(["ops"])), F),
        ("ForAllValues negated: none listed", json!({"ForAllValues:StringNotEquals": {"jwt:groups": "ops"}}), groups(json!(["dev", "qa"])), T),
        ("ForAllValues negated: one listed", json!({"ForAllValues:StringNotEquals": {"jwt:groups": "ops"}}), groups(json!(["ops", "dev"])), F),
        ("ForAnyValue StringLike", json!({"ForAnyValue:StringLike": {"jwt:groups": "team-*"}}), groups(json!(["x", "team-a"])), T),
        ("numbers in an array claim", json!({"ForAnyValue:NumericGreaterThan": {"jwt:levels": 5}}), get("b/k").claim("levels", json!([1, "7"])), T),
        ("odd element is unknown", json!({"ForAllValues:StringEquals": {"jwt:groups": "ops"}}), groups(json!(["ops", {"x": 1}])), U),
        ("odd element does not hide a match", json!({"ForAnyValue:StringEquals": {"jwt:groups": "ops"}}), groups(json!([{"x": 1}, "ops"])), T),
        ("several values OR", json!({"StringEquals": {"presign:Method": ["PUT", "GET"]}}), get("b/k"), T),
        ("several keys AND", json!({"StringEquals": {"presign:Method": "GET", "jwt:sub": "alice"}}), get("b/k").sub("bob"), F),
        ("several operators AND", json!({"StringEquals": {"presign:Method": "GET"}, "Null": {"jwt:sub": "false"}}), get("b/k"), F),
    ]);
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn typed_operators() {
    let r = || get("b/k");
    check_conditions(vec![
        ("StringEquals is case-sensitive", json!({"StringEquals": {"presign:Method": "get"}}), r(), F),
        ("StringEqualsIgnoreCase", json!({"StringEqualsIgnoreCase": {"presign:Method": "get"}}), r(), T),
        ("StringEqualsIgnoreCase folds ASCII", json!({"StringEqualsIgnoreCase": {"jwt:email": "Kim@Example.COM"}}), r().claim("email", json!("kim@example.com")), T),
        ("StringEqualsIgnoreCase: non-ASCII letters stay distinct", json!({"StringEqualsIgnoreCase": {"jwt:name": "ÄRGER"}}), r().claim("name", json!("ärger")), F),
        ("StringEqualsIgnoreCase: the Kelvin sign is not K", json!({"StringEqualsIgnoreCase": {"jwt:email": "kim@example.com"}}), r().claim("email", json!("\u{212A}im@example.com")), F),
        ("StringNotEqualsIgnoreCase: the Kelvin sign is not K", json!({"StringNotEqualsIgnoreCase": {"jwt:email": "kim@example.com"}}), r().claim("email", json!("\u{212A}im@example.com")), T),
        ("StringNotEqualsIgnoreCase", json!({"StringNotEqualsIgnoreCase": {"presign:Method": "get"}}), r(), F),
        ("StringEquals has no wildcards", json!({"StringEquals": {"presign:ContentType": "image/*"}}), r().content_type("image/png"), F),
        ("StringLike wildcards", json!({"StringLike": {"presign:ContentType": "image/*"}}), r().content_type("image/png"), T),
        ("StringLike is case-sensitive", json!({"StringLike": {"presign:ContentType": "image/*"}}), r().content_type("IMAGE/png"), F),
        ("StringNotLike", json!({"StringNotLike": {"presign:ContentType": ["text/*", "*html*"]}}), r().content_type("image/png"), T),
        ("number claim as string", json!({"StringEquals": {"jwt:level": "5"}}), r().claim("level", json!(5)), T),
        ("bool claim as string", json!({"StringEquals": {"jwt:admin": "true"}}), r().claim("admin", json!(true)), T),
        ("object claim is missing", json!({"StringNotEquals": {"jwt:o": "x"}}), r().claim("o", json!({"a": "x"})), T),
        ("NumericEquals string value", json!({"NumericEquals": {"presign:ExpiresIn": "900"}}), r().expires(900), T),
        ("NumericLessThan", json!({"NumericLessThan": {"presign:ExpiresIn": 900}}), r().expires(900), F),
        ("NumericLessThanEquals", json!({"NumericLessThanEquals": {"presign:ExpiresIn": 900}}), r().expires(900), T),
        ("NumericGreaterThan", json!({"NumericGreaterThan": {"presign:ContentLength": 0}}), r().length(1), T),
        ("NumericGreaterThanEquals", json!({"NumericGreaterThanEquals": {"presign:ContentLength": 2}}), r().length(1), F),
        ("NumericNotEquals", json!({"NumericNotEquals": {"presign:ContentLength": [1, 2]}}), r().length(3), T),
        ("fractional value", json!({"NumericLessThan": {"presign:ContentLength": 1.5}}), r().length(1), T),
        ("numeric claim", json!({"NumericGreaterThan": {"jwt:level": 5}}), r().claim("level", json!(7)), T),
        ("numeric string claim", json!({"NumericGreaterThan": {"jwt:level": 5}}), r().claim("level", json!("7")), T),
        ("float claim", json!({"NumericEquals": {"jwt:level": 5}}), r().claim("level", json!(5.0)), T),
        ("non-numeric claim is unknown", json!({"NumericGreaterThan": {"jwt:level": 5}}), r().claim("level", json!("abc")), U),
        ("non-numeric claim, negated, is unknown", json!({"NumericNotEquals": {"jwt:level": 5}}), r().claim("level", json!("abc")), U),
        ("NaN text is not a number", json!({"NumericNotEquals": {"jwt:level": 5}}), r().claim("level", json!("NaN")), U),
        ("bool claim is not a number", json!({"NumericEquals": {"jwt:level": 1}}), r().claim("level", json!(true)), U),
        ("DateLessThan epoch claim", json!({"DateLessThan": {"jwt:iat": "2030-01-01T00:00:00Z"}}), r().claim("iat", json!(1_700_000_000)), T),
        ("DateGreaterThan text claim", json!({"DateGreaterThan": {"jwt:since": "2020-01-01T00:00:00Z"}}), r().claim("since", json!("2021-01-01T00:00:00+01:00")), T),
        ("DateEquals across offsets", json!({"DateEquals": {"jwt:t": "2021-01-01T00:00:00Z"}}), r().claim("t", json!("2021-01-01T01:00:00+01:00")), T),
        ("bad date claim is unknown", json!({"DateLessThan": {"jwt:t": "2021-01-01T00:00:00Z"}}), r().claim("t", json!("tomorrow")), U),
        ("Bool true", json!({"Bool": {"jwt:email_verified": "true"}}), r().claim("email_verified", json!(true)), T),
        ("Bool json value", json!({"Bool": {"jwt:email_verified": true}}), r().claim("email_verified", json!("true")), T),
        ("Bool false", json!({"Bool": {"jwt:email_verified": "true"}}), r().claim("email_verified", json!(false)), F),
        ("Bool on odd claim is unknown", json!({"Bool": {"jwt:email_verified": "true"}}), r().claim("email_verified", json!("yes")), U),
        ("IpAddress plain address", json!({"IpAddress": {"aws:SourceIp": "10.1.2.3"}}), r().ip("10.1.2.3"), T),
        ("IpAddress v6 cidr", json!({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}), r().ip("2001:db8::5"), T),
        ("IpAddress v4 cidr vs v6", json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), r().ip("2001:db8::5"), F),
        ("IpAddress host bits set", json!({"IpAddress": {"aws:SourceIp": "10.9.9.9/8"}}), r().ip("10.1.2.3"), T),
        ("IpAddress on a claim", json!({"IpAddress": {"jwt:ip": "10.0.0.0/8"}}), r().claim("ip", json!("10.1.1.1")), T),
        ("IpAddress on an odd claim", json!({"IpAddress": {"jwt:ip": "10.0.0.0/8"}}), r().claim("ip", json!("localhost")), U),
        ("condition keys are case-insensitive", json!({"StringEquals": {"PRESIGN:method": "GET"}}), r(), T),
        ("claim names are case-sensitive", json!({"StringEquals": {"jwt:Sub": "alice"}}), r().sub("alice"), F),
        ("namespaced claim name", json!({"StringEquals": {"jwt:https://example.com/tenant": "acme"}}), r().claim("https://example.com/tenant", json!("acme")), T),
        ("issuer", json!({"StringEquals": {"presign:Issuer": "https://idp.example.com/"}}), r(), T),
    ]);
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn variables_in_condition_values() {
    let r = || get("b/k");
    check_conditions(vec![
        ("claim equals claim", json!({"StringEquals": {"jwt:team": "${jwt:owner_team}"}}), r().claim("team", json!("a")).claim("owner_team", json!("a")), T),
        ("claim differs", json!({"StringEquals": {"jwt:team": "${jwt:owner_team}"}}), r().claim("team", json!("a")).claim("owner_team", json!("b")), F),
        ("issuer variable (a URL is fine here)", json!({"StringEquals": {"jwt:expected_iss": "${presign:Issuer}"}}), r().claim("expected_iss", json!("https://idp.example.com/")), T),
        ("source ip variable", json!({"StringEquals": {"jwt:bound_ip": "${aws:SourceIp}"}}), r().ip("::ffff:10.0.0.1").claim("bound_ip", json!("10.0.0.1")), T),
        ("source ip variable, no ip", json!({"StringEquals": {"jwt:bound_ip": "${aws:SourceIp}"}}), r().claim("bound_ip", json!("10.0.0.1")), F),
        ("value may hold a slash", json!({"StringEquals": {"presign:ContentType": "${jwt:ct}"}}), r().content_type("image/png").claim("ct", json!("image/png")), T),
        ("StringLike: claim is literal inside a pattern", json!({"StringLike": {"presign:ContentType": "${jwt:family}/*"}}), r().content_type("image/png").claim("family", json!("image")), T),
        ("StringLike: star claim does not widen", json!({"StringLike": {"presign:ContentType": "${jwt:family}/*"}}), r().content_type("image/png").claim("family", json!("*")), F),
        ("StringLike: star claim matches literally", json!({"StringLike": {"presign:ContentType": "${jwt:family}/*"}}), r().content_type("*/png").claim("family", json!("*")), T),
        ("escapes in values", json!({"StringLike": {"presign:ContentType": "a${*}${?}${$}*"}}), r().content_type("a*?$zzz"), T),
        // Unresolved: matches nothing; under a negated operator, unknown.
        ("unresolved, positive", json!({"StringEquals": {"jwt:team": "${jwt:nope}"}}), r().claim("team", json!("a")), F),
        ("unresolved, positive, other value matches", json!({"StringEquals": {"jwt:team": ["${jwt:nope}", "a"]}}), r().claim("team", json!("a")), T),
        ("unresolved, negated", json!({"StringNotEquals": {"jwt:team": "${jwt:nope}"}}), r().claim("team", json!("a")), U),
        ("unresolved, negated, other value listed", json!({"StringNotEquals": {"jwt:team": ["${jwt:nope}", "a"]}}), r().claim("team", json!("a")), F),
        ("number claim does not resolve", json!({"StringEquals": {"jwt:level": "${jwt:n}"}}), r().claim("level", json!("5")).claim("n", json!(5)), F),
        ("empty string claim substitutes in conditions", json!({"StringEquals": {"jwt:a": "x${jwt:b}"}}), r().claim("a", json!("x")).claim("b", json!("")), T),
    ]);
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn variables_in_resources() {
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"ByIp","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::drop/${aws:SourceIp}/*"},
            {"Sid":"ByIss","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::tenants/${presign:Issuer}/${jwt:sub}/*"}]}"#,
        vec![
            ("ip folder", put("drop/10.1.2.3/x").ip("10.1.2.3"), AllowBy("ByIp")),
            ("mapped ip folder uses ipv4 text", put("drop/10.1.2.3/x").ip("::ffff:10.1.2.3"), AllowBy("ByIp")),
            ("ipv6 folder", put("drop/2001:db8::1/x").ip("2001:db8::1"), AllowBy("ByIp")),
            ("other ip folder", put("drop/10.1.2.4/x").ip("10.1.2.3"), Implicit),
            ("no ip", put("drop/10.1.2.3/x"), Implicit),
            ("plain issuer", get("tenants/acme/alice/x").issuer("acme").sub("alice"), AllowBy("ByIss")),
            ("URL issuer holds a slash: never substitutes into a resource", get("tenants/https:/idp.example.com//alice/x").sub("alice"), Implicit),
        ],
    );
}

#[test]
fn statement_forms_and_names() {
    // A single statement object, no Sid: named by index; Id accepted.
    check(
        r#"{"Id":"p1","Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
        vec![("indexed name", get("b/k"), AllowBy("#0"))],
    );
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"First","Effect":"Allow","Action":"s3:PutObject","Resource":"*"},
            {"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}"#,
        vec![("second statement", get("b/k"), DenyBy("#1"))],
    );
    assert!(!Decision::Deny(Denial::NoStatementAllows).is_allowed());
    assert!(
        Decision::Allow {
            statement: "x".into()
        }
        .is_allowed()
    );
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Policy>();
    shareable::<PolicyError>();
}

/// (what, policy text, statement named, text the reason contains).
type LoadError = (&'static str, String, Option<&'static str>, &'static str);

fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#)
}

/// A statement `S` allowing GetObject on everything, with `extra` fields merged in.
fn stmt(extra: Value) -> String {
    let mut s = json!({"Sid": "S", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            s.as_object_mut().unwrap().remove(k);
        } else {
            s[k] = v.clone();
        }
    }
    doc(&s.to_string())
}

fn cond(block: Value) -> String {
    stmt(json!({ "Condition": block }))
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn every_load_error_names_its_statement() {
    let rows: Vec<LoadError> = vec![
        // Document.
        ("not JSON", "{".into(), None, "invalid policy JSON"),
        ("trailing garbage", format!("{} x", stmt(json!({}))), None, "invalid policy JSON"),
        ("not an object", "[]".into(), None, "must be a JSON object"),
        ("missing Version", r#"{"Statement":[]}"#.into(), None, "missing Version"),
        ("old Version", r#"{"Version":"2008-10-17","Statement":[]}"#.into(), None, "unsupported Version"),
        ("numeric Version", r#"{"Version":2012,"Statement":[]}"#.into(), None, "unsupported Version"),
        ("unknown top-level", r#"{"Version":"2012-10-17","Statements":[]}"#.into(), None, "unknown top-level element `Statements`"),
        ("Id not a string", r#"{"Version":"2012-10-17","Id":1,"Statement":[]}"#.into(), None, "Id must be a string"),
        ("missing Statement", r#"{"Version":"2012-10-17"}"#.into(), None, "missing Statement"),
        ("empty Statement", doc("[]"), None, "Statement must not be empty"),
        ("Statement string", doc(r#""x""#), None, "Statement must be an object"),
        ("duplicate key", doc(r#"{"Effect":"Deny","Effect":"Allow"}"#), None, "duplicate key `Effect`"),
        ("duplicate condition key", cond_text(r#"{"StringEquals":{"jwt:a":"x","jwt:a":"y"}}"#), None, "duplicate key `jwt:a`"),
        // Statement shape.
        ("statement not an object", doc(r#"[{"Effect":"Allow","Action":"s3:*","Resource":"*"}, 5]"#), Some("#1"), "must be a JSON object"),
        ("unknown element", stmt(json!({"Actions": "s3:*"})), Some("S"), "unknown element `Actions`"),
        ("lowercase element", stmt(json!({"effect": "Allow"})), Some("S"), "unknown element `effect`"),
        ("Principal", stmt(json!({"Principal": "*"})), Some("S"), "Principal is not allowed"),
        ("NotPrincipal", stmt(json!({"NotPrincipal": {"AWS": "x"}})), Some("S"), "NotPrincipal is not allowed"),
        ("Sid with #", stmt(json!({"Sid": "#1"})), Some("#0"), "invalid Sid"),
        ("Sid with slash", stmt(json!({"Sid": "a/b"})), Some("#0"), "invalid Sid"),
        ("Sid not a string", stmt(json!({"Sid": 5})), Some("#0"), "invalid Sid"),
        ("empty Sid", stmt(json!({"Sid": ""})), Some("#0"), "invalid Sid"),
        ("duplicate Sid", doc(r#"[{"Sid":"Dup","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"Dup","Effect":"Deny","Action":"s3:*","Resource":"*"}]"#), Some("Dup"), "duplicate Sid"),
        ("missing Effect", stmt(json!({"Effect": null})), Some("S"), "missing Effect"),
        ("lowercase Effect", stmt(json!({"Effect": "allow"})), Some("S"), "invalid Effect"),
        ("missing Action", stmt(json!({"Action": null})), Some("S"), "missing Action"),
        ("Action and NotAction", stmt(json!({"NotAction": "s3:PutObject"})), Some("S"), "cannot both be present"),
        ("empty Action", stmt(json!({"Action": []})), Some("S"), "Action must not be an empty list"),
        ("empty NotAction", stmt(json!({"Action": null, "NotAction": []})), Some("S"), "NotAction must not be an empty list"),
        ("Action number", stmt(json!({"Action": 5})), Some("S"), "must be a string or an array"),
        ("Action list with number", stmt(json!({"Action": ["s3:GetObject", 5]})), Some("S"), "entries must be strings"),
        ("missing Resource", stmt(json!({"Resource": null})), Some("S"), "missing Resource"),
        ("Resource and NotResource", stmt(json!({"NotResource": "*"})), Some("S"), "cannot both be present"),
        ("empty Resource", stmt(json!({"Resource": []})), Some("S"), "Resource must not be an empty list"),
        ("Condition not an object", stmt(json!({"Condition": ["x"]})), Some("S"), "Condition must be a JSON object"),
        // Actions.
        ("other service", stmt(json!({"Action": "iam:PassRole"})), Some("S"), "unknown service `iam`"),
        ("service wildcard", stmt(json!({"Action": "*:GetObject"})), Some("S"), "unknown service `*`"),
        ("no service", stmt(json!({"Action": "GetObject"})), Some("S"), "must be \"*\" or look like"),
        ("odd action characters", stmt(json!({"Action": "s3:Get-Object"})), Some("S"), "only letters, digits"),
        ("variable in action", stmt(json!({"Action": "s3:${jwt:a}"})), Some("S"), "only letters, digits"),
        ("empty action name", stmt(json!({"Action": "s3:"})), Some("S"), "only letters, digits"),
        ("unknown action", stmt(json!({"Action": "s3:ListBucket"})), Some("S"), "matches no action presignd knows"),
        ("typo action", stmt(json!({"Action": "s3:GetObjcet"})), Some("S"), "matches no action"),
        ("wildcard matching nothing", stmt(json!({"Action": "s3:Delete*"})), Some("S"), "matches no action"),
        ("bad NotAction", stmt(json!({"Action": null, "NotAction": "ec2:*"})), Some("S"), "unknown service `ec2`"),
        // Resources.
        ("IAM ARN", stmt(json!({"Resource": "arn:aws:iam::123456789012:role/x"})), Some("S"), "must be \"*\" or an S3 object ARN"),
        ("bare bucket/key", stmt(json!({"Resource": "bucket/key"})), Some("S"), "must be \"*\" or an S3 object ARN"),
        ("other partition", stmt(json!({"Resource": "arn:aws-cn:s3:::b/*"})), Some("S"), "S3 object ARN"),
        ("wildcard partition", stmt(json!({"Resource": "arn:*:s3:::b/*"})), Some("S"), "S3 object ARN"),
        ("bucket ARN", stmt(json!({"Resource": "arn:aws:s3:::photos"})), Some("S"), "names a bucket"),
        ("bucket ARN via escape", stmt(json!({"Resource": "arn:aws:s3:::b${*}"})), Some("S"), "names a bucket"),
        ("bad NotResource", stmt(json!({"Resource": null, "NotResource": ["arn:aws:s3:::b/*", "b/*"]})), Some("S"), "S3 object ARN"),
        ("unknown variable", stmt(json!({"Resource": "arn:aws:s3:::b/${aws:username}/*"})), Some("S"), "unknown policy variable `${aws:username}`"),
        ("unknown namespace", stmt(json!({"Resource": "arn:aws:s3:::b/${s3:prefix}/*"})), Some("S"), "unknown policy variable"),
        ("unterminated variable", stmt(json!({"Resource": "arn:aws:s3:::b/${jwt:sub/*"})), Some("S"), "unterminated"),
        ("variable default", stmt(json!({"Resource": "arn:aws:s3:::b/${jwt:sub, 'x'}/*"})), Some("S"), "default values"),
        // Conditions: operators.
        ("unknown operator", cond(json!({"StringEqualz": {"jwt:a": "x"}})), Some("S"), "unknown condition operator `StringEqualz`"),
        ("lowercase operator", cond(json!({"stringequals": {"jwt:a": "x"}})), Some("S"), "unknown condition operator"),
        ("unsupported IAM operator", cond(json!({"ArnLike": {"jwt:a": "x"}})), Some("S"), "unknown condition operator `ArnLike`"),
        ("unknown qualifier", cond(json!({"ForSomeValues:StringEquals": {"jwt:a": "x"}})), Some("S"), "unknown condition qualifier `ForSomeValues:`"),
        ("NullIfExists", cond(json!({"NullIfExists": {"jwt:a": "true"}})), Some("S"), "Null takes neither"),
        ("qualified Null", cond(json!({"ForAllValues:Null": {"jwt:a": "true"}})), Some("S"), "Null takes neither"),
        ("operator block not an object", cond(json!({"StringEquals": "x"})), Some("S"), "must map to an object"),
        ("empty operator block", cond(json!({"StringEquals": {}})), Some("S"), "has no keys"),
        // Conditions: keys.
        ("s3 key", cond(json!({"StringLike": {"s3:prefix": "home/*"}})), Some("S"), "unknown condition key `s3:prefix`"),
        ("aws:username", cond(json!({"StringEquals": {"aws:username": "x"}})), Some("S"), "unknown condition key `aws:username`"),
        ("unknown presign key", cond(json!({"StringEquals": {"presign:Bucket": "x"}})), Some("S"), "unknown condition key"),
        ("key without prefix", cond(json!({"StringEquals": {"sub": "x"}})), Some("S"), "unknown condition key `sub`"),
        ("empty claim name", cond(json!({"StringEquals": {"jwt:": "x"}})), Some("S"), "unknown condition key"),
        // Conditions: operator vs key type.
        ("numeric on string key", cond(json!({"NumericLessThan": {"presign:ContentType": 5}})), Some("S"), "presign:ContentType holds a string"),
        ("string on numeric key", cond(json!({"StringEquals": {"presign:ContentLength": "5"}})), Some("S"), "holds a number"),
        ("date on numeric key", cond(json!({"DateLessThan": {"presign:ExpiresIn": "2020-01-01T00:00:00Z"}})), Some("S"), "holds a number"),
        ("ip on string key", cond(json!({"IpAddress": {"presign:Method": "10.0.0.0/8"}})), Some("S"), "holds a string"),
        ("bool on string key", cond(json!({"Bool": {"presign:Method": "true"}})), Some("S"), "holds a string"),
        ("string on ip key", cond(json!({"StringLike": {"aws:SourceIp": "10.*"}})), Some("S"), "holds an IP address"),
        ("numeric on date key", cond(json!({"NumericLessThan": {"aws:CurrentTime": 5}})), Some("S"), "holds a date"),
        // Conditions: values.
        ("ten", cond(json!({"NumericLessThanEquals": {"presign:ContentLength": "ten"}})), Some("S"), "value \"ten\" is not a number"),
        ("bool as number", cond(json!({"NumericEquals": {"presign:ContentLength": true}})), Some("S"), "is not a number"),
        ("NaN as number", cond(json!({"NumericEquals": {"presign:ContentLength": "NaN"}})), Some("S"), "is not a number"),
        ("bad date", cond(json!({"DateLessThan": {"aws:CurrentTime": "yesterday"}})), Some("S"), "is not a date"),
        ("date without time", cond(json!({"DateLessThan": {"aws:CurrentTime": "2020-01-01"}})), Some("S"), "is not a date"),
        ("fractional epoch", cond(json!({"DateLessThan": {"aws:CurrentTime": 1.5}})), Some("S"), "is not a date"),
        ("bad CIDR", cond(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}})), Some("S"), "is not an IP address or CIDR"),
        ("number as IP", cond(json!({"IpAddress": {"aws:SourceIp": 10}})), Some("S"), "is not an IP address"),
        ("hostname as IP", cond(json!({"NotIpAddress": {"aws:SourceIp": "example.com"}})), Some("S"), "is not an IP address"),
        ("bad Bool", cond(json!({"Bool": {"jwt:v": "yes"}})), Some("S"), "is not true or false"),
        ("bad Null", cond(json!({"Null": {"jwt:v": "maybe"}})), Some("S"), "is not true or false"),
        ("number for string operator", cond(json!({"StringEquals": {"jwt:level": 5}})), Some("S"), "is not a string"),
        ("bool for string operator", cond(json!({"StringLike": {"jwt:level": true}})), Some("S"), "is not a string"),
        ("empty value list", cond(json!({"StringEquals": {"jwt:a": []}})), Some("S"), "empty list of values"),
        ("null value", cond(json!({"StringEquals": {"jwt:a": null}})), Some("S"), "is not a string"),
        ("object value", cond(json!({"NumericEquals": {"jwt:a": {}}})), Some("S"), "is not a number"),
        ("nested list value", cond(json!({"StringEquals": {"jwt:a": [["x"]]}})), Some("S"), "is not a string"),
        ("unknown variable in value", cond(json!({"StringEquals": {"jwt:a": "${aws:username}"}})), Some("S"), "unknown policy variable"),
        ("unterminated variable in value", cond(json!({"StringLike": {"jwt:a": "${jwt:b"}})), Some("S"), "unterminated"),
    ];
    let mut failures = Vec::new();
    for (what, text, statement, reason) in rows {
        match Policy::from_json(&text) {
            Ok(_) => failures.push(format!("{what}: loaded\n  {text}")),
            Err(e) => {
                let display = e.to_string();
                let named = match statement {
                    Some(s) => display.starts_with(&format!("statement {s}: ")),
                    None => !display.starts_with("statement "),
                };
                if e.statement.as_deref() != statement || !named || !e.reason.contains(reason) {
                    failures.push(format!(
                        "{what}: want {statement:?} / {reason:?}, got: {display}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A statement `S` with a raw Condition text (for JSON `json!` cannot express).
fn cond_text(block: &str) -> String {
    doc(&format!(
        r#"{{"Sid":"S","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{block}}}"#
    ))
}

#[test]
fn load_errors_name_operator_and_key() {
    let e = Policy::from_json(&cond(
        json!({"NumericLessThan": {"presign:ContentType": 5}}),
    ))
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("statement S: condition `NumericLessThan` on `presign:ContentType`: "),
        "{e}"
    );
    let e = Policy::from_json(&cond(
        json!({"NumericLessThanEquals": {"presign:ContentLength": "ten"}}),
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "statement S: condition `NumericLessThanEquals` on `presign:ContentLength`: value \"ten\" is not a number"
    );
    let e = Policy::from_json(r#"{"Statement":[]}"#).unwrap_err();
    assert_eq!(e.statement, None);
    assert_eq!(e.to_string(), e.reason);
}

#[test]
fn documented_policies_that_must_not_load() {
    // AWS's home-folder policy as published: ListBucket and s3:prefix are not presignd's.
    let original = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"ListYourObjects","Effect":"Allow","Action":"s3:ListBucket","Resource":["arn:aws:s3:::bucket-name"],
         "Condition":{"StringLike":{"s3:prefix":["${aws:username}/*"]}}}]}"#;
    let e = Policy::from_json(original).unwrap_err();
    assert_eq!(e.statement.as_deref(), Some("ListYourObjects"));
    // The 2008 version treats ${...} as text; refuse rather than guess.
    let old = HOME_FOLDER.replace("2012-10-17", "2008-10-17");
    assert!(
        Policy::from_json(&old)
            .unwrap_err()
            .reason
            .contains("2012-10-17")
    );
}

/// Every permutation of a mixed policy gives the same outcome for every request: the
/// decision never depends on statement order (only the name, when several decide).
#[test]
fn outcome_is_independent_of_statement_order() {
    let statements = [
        json!({"Sid":"Own","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${jwt:sub}/*"}),
        json!({"Sid":"ReadAll","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}),
        json!({"Sid":"NoSecrets","Effect":"Deny","Action":"*","Resource":"arn:aws:s3:::*/secrets/*"}),
        json!({"Sid":"OnlyImages","Effect":"Deny","Action":"s3:PutObject","Resource":"*",
               "Condition":{"StringNotLikeIfExists":{"presign:ContentType":"image/*"}}}),
        json!({"Sid":"Ops","Effect":"Allow","NotAction":"s3:*","Resource":"*",
               "Condition":{"ForAnyValue:StringEquals":{"jwt:groups":"ops"}}}),
    ];
    let requests = [
        put("b/alice/x.png").sub("alice").content_type("image/png"),
        put("b/alice/x.html").sub("alice").content_type("text/html"),
        put("b/alice/x").sub("alice"),
        put("b/bob/x.png").sub("alice").content_type("image/png"),
        get("b/bob/x").sub("alice"),
        get("b/alice/secrets/x").sub("alice"),
        put("b/alice/secrets/x.png")
            .sub("alice")
            .content_type("image/png"),
        audit().claim("groups", json!(["ops"])),
        audit().claim("groups", json!([])),
        audit(),
    ];
    let mut permutations = vec![vec![]];
    for _ in 0..statements.len() {
        permutations = permutations
            .into_iter()
            .flat_map(|p: Vec<usize>| {
                (0..statements.len())
                    .filter(|i| !p.contains(i))
                    .map(|i| [p.as_slice(), &[i]].concat())
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    assert_eq!(permutations.len(), 120);
    let outcome = |d: &Decision| match d {
        Decision::Allow { .. } => "allow",
        Decision::Deny(Denial::Explicit { .. }) => "explicit",
        Decision::Deny(Denial::NoStatementAllows) => "implicit",
    };
    let reference: Vec<&str> = {
        let policy = load(&json!({"Version":"2012-10-17","Statement":statements}).to_string());
        requests
            .iter()
            .map(|r| outcome(&r.decide(&policy)))
            .collect()
    };
    assert_eq!(
        reference,
        [
            // A PUT without a content type: StringNotLikeIfExists holds on a missing key,
            // so the OnlyImages Deny applies.
            "allow", "explicit", "explicit", "implicit", "allow", "explicit", "explicit", "allow",
            "implicit", "implicit"
        ]
    );
    for order in permutations {
        let shuffled: Vec<&Value> = order.iter().map(|&i| &statements[i]).collect();
        let policy = load(&json!({"Version":"2012-10-17","Statement":shuffled}).to_string());
        for (request, want) in requests.iter().zip(&reference) {
            assert_eq!(
                outcome(&request.decide(&policy)),
                *want,
                "{order:?} {request:?}"
            );
        }
    }
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn not_action_and_not_resource_in_denies() {
    // Deny everything but reads, and everything outside one bucket.
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"ReadOnly","Effect":"Deny","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::archive/*"},
            {"Sid":"Fence","Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::archive/*","arn:aws:s3:::scratch/*"]},
            {"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        vec![
            ("read archive", get("archive/a"), AllowBy("All")),
            ("write archive", put("archive/a"), DenyBy("ReadOnly")),
            ("write scratch", put("scratch/a"), AllowBy("All")),
            ("read elsewhere", get("other/a"), DenyBy("Fence")),
            // presign:QueryAudit is not s3:*, and its resource * is not an archive object.
            ("audit", audit(), AllowBy("All")),
            // NotAction s3:GetObject covers presign:QueryAudit, but the resource is `*`.
            ("action case", req("S3:PUTOBJECT", "arn:aws:s3:::archive/a"), DenyBy("ReadOnly")),
        ],
    );
    // NotResource covers `*`, the audit resource: "everything but objects in b".
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"NotB","Effect":"Allow","Action":"*","NotResource":"arn:aws:s3:::b/*"}]}"#,
        vec![
            ("audit", audit(), AllowBy("NotB")),
            ("in b", get("b/k"), Implicit),
            ("elsewhere", get("c/k"), AllowBy("NotB")),
        ],
    );
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn missing_claims_positive_negated_qualified_and_if_exists() {
    let r = || get("b/k");
    check_conditions(vec![
        // A missing claim: positive fails, negated holds (IAM), in every operator family.
        ("StringLike missing claim", json!({"StringLike": {"jwt:team": "a*"}}), r(), F),
        ("StringNotLike missing claim", json!({"StringNotLike": {"jwt:team": "a*"}}), r(), T),
        ("StringNotEqualsIgnoreCase missing claim", json!({"StringNotEqualsIgnoreCase": {"jwt:team": "a"}}), r(), T),
        ("NumericEquals missing claim", json!({"NumericEquals": {"jwt:level": 1}}), r(), F),
        ("DateGreaterThan missing claim", json!({"DateGreaterThan": {"jwt:t": 0}}), r(), F),
        ("NotIpAddress missing claim", json!({"NotIpAddress": {"jwt:ip": "10.0.0.0/8"}}), r(), T),
        // Qualified forms on a missing key: ForAnyValue false, ForAllValues true, negated or not.
        ("ForAnyValue negated, missing", json!({"ForAnyValue:StringNotEquals": {"jwt:groups": "x"}}), r(), F),
        ("ForAllValues negated, missing", json!({"ForAllValues:StringNotEquals": {"jwt:groups": "x"}}), r(), T),
        ("ForAllValues numeric, empty", json!({"ForAllValues:NumericLessThan": {"jwt:levels": 3}}), r().claim("levels", json!([])), T),
        ("ForAllValues null claim", json!({"ForAllValues:StringEquals": {"jwt:groups": "x"}}), r().claim("groups", json!(null)), T),
        // IfExists: holds when missing, whatever the operator; decides normally when present.
        ("StringNotEqualsIfExists, missing", json!({"StringNotEqualsIfExists": {"presign:ContentType": "a/b"}}), r(), T),
        ("StringNotEqualsIfExists, same", json!({"StringNotEqualsIfExists": {"presign:ContentType": "a/b"}}), r().content_type("a/b"), F),
        ("ForAllValues IfExists, empty array", json!({"ForAllValues:StringEqualsIfExists": {"jwt:groups": "x"}}), r().claim("groups", json!([])), T),
        ("ForAllValues IfExists, one outside", json!({"ForAllValues:StringEqualsIfExists": {"jwt:groups": "x"}}), r().claim("groups", json!(["x", "y"])), F),
        ("IfExists, wrong type is unknown", json!({"NumericLessThanIfExists": {"jwt:level": 3}}), r().claim("level", json!("high")), U),
        // Multi-valued claims.
        ("duplicates in an array", json!({"ForAllValues:StringEquals": {"jwt:groups": "a"}}), r().claim("groups", json!(["a", "a"])), T),
        ("array of numbers, ForAll", json!({"ForAllValues:NumericLessThanEquals": {"jwt:levels": 3}}), r().claim("levels", json!([1, 2, 3])), T),
        ("array of numbers, one over", json!({"ForAllValues:NumericLessThanEquals": {"jwt:levels": 3}}), r().claim("levels", json!([1, 4])), F),
        ("array with null element, unqualified positive", json!({"StringEquals": {"jwt:groups": "a"}}), r().claim("groups", json!([null, "a"])), T),
        ("nested array element is unknown", json!({"ForAnyValue:StringEquals": {"jwt:groups": "a"}}), r().claim("groups", json!([["a"]])), U),
        ("array claim never substitutes", json!({"StringEquals": {"jwt:team": "${jwt:groups}"}}), r().claim("team", json!("a")).claim("groups", json!(["a"])), F),
        ("Null false on a one-element array", json!({"Null": {"jwt:groups": false}}), r().claim("groups", json!(["a"])), T),
    ]);
}

/// The IAM trap in a whole policy: an Allow guarded only by ForAllValues lets in a token
/// without the claim; the `Null` guard closes it.
#[test]
#[rustfmt::skip] // one row per line reads as a table
fn for_all_values_trap_and_its_guard() {
    let trap = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Trap","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*",
         "Condition":{"ForAllValues:StringEquals":{"jwt:groups":["finance","audit"]}}}]}"#;
    let guarded = trap.replace(r#""jwt:groups":["finance","audit"]}"#, r#""jwt:groups":["finance","audit"]},"Null":{"jwt:groups":"false"}"#);
    let rows = |want_missing: Want| vec![
        ("finance", get("reports/q").claim("groups", json!(["finance"])), AllowBy("Trap")),
        ("finance and dev", get("reports/q").claim("groups", json!(["finance", "dev"])), Implicit),
        ("no groups claim", get("reports/q"), want_missing),
        ("empty groups", get("reports/q").claim("groups", json!([])), want_missing),
    ];
    check(trap, rows(AllowBy("Trap")));
    check(&guarded, rows(Implicit));
    // The negated-operator trap: a Deny on "not our network" also denies requests whose
    // address is unknown, and an Allow on "not the guest group" lets in a token with no
    // groups at all unless guarded.
    let allow_non_guests = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"NotGuest","Effect":"Allow","Action":"s3:GetObject","Resource":"*",
         "Condition":{"StringNotEquals":{"jwt:role":"guest"}}}]}"#;
    let guarded = allow_non_guests.replace(r#"{"jwt:role":"guest"}}"#, r#"{"jwt:role":"guest"},"Null":{"jwt:role":"false"}}"#);
    check(allow_non_guests, vec![
        ("staff", get("b/k").claim("role", json!("staff")), AllowBy("NotGuest")),
        ("guest", get("b/k").claim("role", json!("guest")), Implicit),
        ("no role claim: allowed (trap)", get("b/k"), AllowBy("NotGuest")),
    ]);
    check(&guarded, vec![
        ("staff", get("b/k").claim("role", json!("staff")), AllowBy("NotGuest")),
        ("no role claim: guarded", get("b/k"), Implicit),
    ]);
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn substituted_claims_with_wildcards_slashes_and_dot_segments() {
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Team","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::teams/${jwt:team}/${jwt:sub}/*"},
        {"Sid":"Tagged","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*",
         "Condition":{"StringLike":{"presign:ContentType":"${jwt:allowed_type}"}}}]}"#;
    let team = |key: &str, team: &str, sub: &str| put(&format!("teams/{key}")).claim("team", json!(team)).sub(sub);
    let typed = |ct: &str, allowed: &str| get("pub/x").content_type(ct).claim("allowed_type", json!(allowed));
    check(policy, vec![
        ("plain", team("red/alice/x", "red", "alice"), AllowBy("Team")),
        ("star team is literal", team("blue/alice/x", "*", "alice"), Implicit),
        ("star team matches a literal star", team("*/alice/x", "*", "alice"), AllowBy("Team")),
        ("question team", team("r/alice/x", "?", "alice"), Implicit),
        ("team holding a slash", team("red/x/alice/x", "red/x", "alice"), Implicit),
        ("team holding dot-dot", team("../alice/x", "..", "alice"), Implicit),
        ("team holding a dot", team("./alice/x", ".", "alice"), Implicit),
        ("sub climbing out", team("red/../blue/x", "red", "../blue"), Implicit),
        ("dots inside names are names", team("r.e.d/a..b/x", "r.e.d", "a..b"), AllowBy("Team")),
        ("percent-encoded dots are literal", team("%2e%2e/alice/x", "%2e%2e", "alice"), AllowBy("Team")),
        ("one claim missing", put("teams/red/alice/x").sub("alice"), Implicit),
        // In a condition value a claim is literal text too, slashes included.
        ("literal claim in StringLike", typed("image/png", "image/png"), AllowBy("Tagged")),
        ("star claim does not widen StringLike", typed("image/png", "image/*"), Implicit),
        ("star claim matches itself", typed("image/*", "image/*"), AllowBy("Tagged")),
        ("dot-dot claim in a condition is just text", typed("../x", "../x"), AllowBy("Tagged")),
    ]);
}

/// `explain` reads the same verdicts as `evaluate`: rebuilding the decision from the
/// traces gives the same answer, and the words name the failing part.
#[test]
fn explain_agrees_with_evaluate() {
    let policy = load(DESIGN_EXAMPLE);
    let requests = [
        put("uploads/users/alice/a.png")
            .sub("alice")
            .content_type("image/png")
            .length(5)
            .expires(60),
        put("uploads/users/alice/a.html")
            .sub("alice")
            .content_type("text/html")
            .length(5)
            .expires(60),
        put("uploads/users/alice/a.png")
            .sub("alice")
            .content_type("image/png")
            .length(5)
            .expires(901),
        put("uploads/users/bob/a.png")
            .sub("alice")
            .content_type("image/png")
            .length(5)
            .expires(60),
        get("uploads/users/alice/secrets/a").sub("alice"),
        audit().claim("groups", json!(["ops"])),
        audit().claim("groups", json!("dev")),
        audit(),
    ];
    for r in &requests {
        let (traces, decision) =
            r.with(|request| (policy.explain(request), policy.evaluate(request)));
        assert_eq!(traces.len(), policy.statement_count());
        let first = |deny: bool| {
            traces
                .iter()
                .find(|t| t.deny == deny && t.applies)
                .map(|t| t.statement.clone())
        };
        let rebuilt = match (first(true), first(false)) {
            (Some(statement), _) => Decision::Deny(Denial::Explicit { statement }),
            (None, Some(statement)) => Decision::Allow { statement },
            (None, None) => Decision::Deny(Denial::NoStatementAllows),
        };
        assert_eq!(rebuilt, decision, "{r:?}");
    }
    let words = |r: &Req, sid: &str| {
        r.with(|request| policy.explain(request))
            .into_iter()
            .find(|t| t.statement == sid)
            .unwrap()
    };
    let html = words(&requests[1], "OwnFolder");
    assert_eq!(
        html.detail,
        "condition `StringLike` on `presign:ContentType` is false"
    );
    assert!(html.action_matches && !html.applies && !html.deny);
    assert_eq!(
        words(&requests[2], "OwnFolder").detail,
        "condition `NumericLessThanEquals` on `presign:ExpiresIn` is false"
    );
    assert_eq!(
        words(&requests[3], "OwnFolder").detail,
        "the resource does not match"
    );
    assert_eq!(words(&requests[4], "NoSecrets").detail, "matches");
    let audit_trace = words(&requests[5], "OwnFolder");
    assert!(!audit_trace.action_matches);
    assert_eq!(audit_trace.detail, "the action does not match");
    // An undecided Deny applies, and says so.
    let undecided = load(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"D","Effect":"Deny","Action":"*","Resource":"*","Condition":{"NumericGreaterThan":{"jwt:level":5}}}]}"#,
    );
    let traces = get("b/k")
        .claim("level", json!("high"))
        .with(|request| undecided.explain(request));
    let trace = &traces[0];
    assert!(trace.applies);
    assert!(trace.detail.starts_with("applies: an undecided Deny applies; condition `NumericGreaterThan` on `jwt:level` cannot be decided"), "{}", trace.detail);
}

#[test]
#[rustfmt::skip] // one row per line reads as a table
fn link_keys_bound_share_links() {
    // A link creator may share for a week at most, and only one-time or few-use links.
    check(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Links","Effect":"Allow","Action":"presign:CreateLink","Resource":"arn:aws:s3:::b/*",
             "Condition":{"NumericLessThanEquals":{"presign:LinkExpiresIn":604800,"presign:MaxUses":10}}}]}"#,
        vec![
            ("short, few uses", req("presign:CreateLink", "arn:aws:s3:::b/k").link(Some(3), 3600), AllowBy("Links")),
            ("at both limits", req("presign:CreateLink", "arn:aws:s3:::b/k").link(Some(10), 604800), AllowBy("Links")),
            ("too long", req("presign:CreateLink", "arn:aws:s3:::b/k").link(Some(3), 604801), Implicit),
            ("too many uses", req("presign:CreateLink", "arn:aws:s3:::b/k").link(Some(11), 60), Implicit),
            // Unlimited: presign:MaxUses is absent, which a positive operator refuses.
            ("unlimited", req("presign:CreateLink", "arn:aws:s3:::b/k").link(None, 60), Implicit),
            ("not a link", req("presign:CreateLink", "arn:aws:s3:::b/k"), Implicit),
        ],
    );
}
