//! Policy evaluation cost: DESIGN §4's example, and a realistic 100-statement policy
//! (per-team folders with content and size limits, group grants, guardrail Denies on
//! secrets, networks and time windows) for its best, typical and worst requests. The
//! worst is an implicit deny: every statement is looked at in the Deny pass and again in
//! the Allow pass. Also the load (parse + validate + compile) of that policy, which a
//! reload pays once.
//!
//! Run: `cargo bench --bench policy`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use presignd::policy::{Action, Context, Decision, Denial, Policy, Request};
use serde_json::{Map, Value, json};
use time::macros::datetime;

/// DESIGN.md §4's example, the fixture the unit tests use too.
const DESIGN_EXAMPLE: &str = include_str!("../src/policy/design_example.json");

/// 100 statements: 40 team folders, 30 group grants, 20 Denies, 10 misc.
fn hundred_statements() -> String {
    let mut statements = Vec::new();
    for team in 0..40 {
        statements.push(json!({
            "Sid": format!("Team{team}Folder"),
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [
                format!("arn:aws:s3:::team-{team}/users/${{jwt:sub}}/*"),
                format!("arn:aws:s3:::team-{team}/shared/*"),
            ],
            "Condition": {
                "ForAnyValue:StringEquals": { "jwt:groups": format!("team-{team}") },
                "StringLikeIfExists": { "presign:ContentType": ["image/*", "application/pdf", "text/*"] },
                "NumericLessThanEqualsIfExists": { "presign:ContentLength": 104857600 },
                "NumericLessThanEquals": { "presign:ExpiresIn": 3600 }
            }
        }));
    }
    for group in 0..30 {
        statements.push(json!({
            "Sid": format!("Group{group}Read"),
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::datasets/{group}/*"),
            "Condition": {
                "ForAnyValue:StringLike": { "jwt:groups": [format!("data-{group}"), "data-admins"] },
                "Bool": { "jwt:email_verified": "true" }
            }
        }));
    }
    for deny in 0..20 {
        let statement = match deny % 4 {
            0 => json!({
                "Sid": format!("NoSecrets{deny}"), "Effect": "Deny", "Action": "s3:*",
                "Resource": format!("arn:aws:s3:::*/secrets-{deny}/*")
            }),
            1 => json!({
                "Sid": format!("Network{deny}"), "Effect": "Deny", "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::team-{deny}/*"),
                "Condition": { "NotIpAddress": { "aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"] } }
            }),
            2 => json!({
                "Sid": format!("Window{deny}"), "Effect": "Deny", "Action": "*",
                "Resource": format!("arn:aws:s3:::datasets/{deny}/*"),
                "Condition": { "DateGreaterThan": { "aws:CurrentTime": "2030-01-01T00:00:00Z" } }
            }),
            _ => json!({
                "Sid": format!("NoHtml{deny}"), "Effect": "Deny", "Action": "s3:PutObject",
                "Resource": "*",
                "Condition": { "StringLike": { "presign:ContentType": [format!("text/html{deny}"), "*javascript*"] } }
            }),
        };
        statements.push(statement);
    }
    for misc in 0..10 {
        statements.push(json!({
            "Sid": format!("Misc{misc}"),
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "NotResource": [format!("arn:aws:s3:::private-{misc}/*"), "arn:aws:s3:::*/secrets*"],
            "Condition": {
                "StringEquals": { "presign:Issuer": format!("https://partner-{misc}.example.com/") },
                "ForAllValues:StringEquals": { "jwt:scopes": ["read", "list"] },
                "Null": { "jwt:scopes": "false" }
            }
        }));
    }
    assert_eq!(statements.len(), 100);
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// One request's inputs, owned.
#[derive(Clone)]
struct Case {
    action: Action,
    resource: String,
    claims: Map<String, Value>,
    issuer: &'static str,
    content_type: Option<&'static str>,
    content_length: Option<u64>,
}

impl Case {
    fn decide(&self, policy: &Policy) -> Decision {
        let context = Context {
            claims: &self.claims,
            issuer: self.issuer,
            source_ip: Some("10.1.2.3".parse().unwrap()),
            current_time: datetime!(2026-11-22 13:00 UTC),
            method: Some(if self.action == Action::PutObject {
                "PUT"
            } else {
                "GET"
            }),
            content_type: self.content_type,
            content_length: self.content_length,
            expires_in: Some(900),
            max_uses: None,
            link_expires_in: None,
        };
        policy.evaluate(&Request {
            action: self.action,
            resource: &self.resource,
            context: &context,
        })
    }
}

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn bench(c: &mut Criterion) {
    let design = Policy::from_json(DESIGN_EXAMPLE).unwrap();
    let upload = Case {
        action: Action::PutObject,
        resource: "arn:aws:s3:::uploads/users/alice/2026/11/cat.png".into(),
        claims: claims(json!({"sub": "alice", "groups": ["dev"]})),
        issuer: "https://idp.example.com/",
        content_type: Some("image/png"),
        content_length: Some(52_000),
    };
    assert_eq!(
        upload.decide(&design),
        Decision::Allow {
            statement: "OwnFolder".into()
        }
    );
    c.bench_function("design example: allow upload", |b| {
        b.iter(|| black_box(&upload).decide(black_box(&design)))
    });

    let text = hundred_statements();
    let big = Policy::from_json(&text).unwrap();
    assert_eq!(big.statement_count(), 100);
    let member = |team: u32| {
        claims(
            json!({"sub": "alice", "groups": ["staff", format!("team-{team}")], "email_verified": true}),
        )
    };
    // The last team folder: the Allow pass runs through 40 statements' conditions.
    let typical = Case {
        action: Action::PutObject,
        resource: "arn:aws:s3:::team-39/users/alice/report.pdf".into(),
        claims: member(39),
        issuer: "https://idp.example.com/",
        content_type: Some("application/pdf"),
        content_length: Some(2_000_000),
    };
    assert_eq!(
        typical.decide(&big),
        Decision::Allow {
            statement: "Team39Folder".into()
        }
    );
    // A dataset read granted by the last group statement.
    let dataset = Case {
        action: Action::GetObject,
        resource: "arn:aws:s3:::datasets/29/part-0001.parquet".into(),
        claims: claims(json!({"sub": "bob", "groups": ["data-29"], "email_verified": true})),
        issuer: "https://idp.example.com/",
        content_type: None,
        content_length: None,
    };
    assert_eq!(
        dataset.decide(&big),
        Decision::Allow {
            statement: "Group29Read".into()
        }
    );
    let secret = Case {
        resource: "arn:aws:s3:::team-3/shared/secrets-16/key.pem".into(),
        ..typical.clone()
    };
    assert_eq!(
        secret.decide(&big),
        Decision::Deny(Denial::Explicit {
            statement: "NoSecrets16".into()
        })
    );
    // Nothing allows it: the worst case, both passes over all 100 statements.
    let nothing = Case {
        resource: "arn:aws:s3:::elsewhere/users/alice/x.png".into(),
        content_type: Some("image/png"),
        ..typical.clone()
    };
    assert_eq!(
        nothing.decide(&big),
        Decision::Deny(Denial::NoStatementAllows)
    );

    c.bench_function("100 statements: allow (last team folder)", |b| {
        b.iter(|| black_box(&typical).decide(black_box(&big)))
    });
    c.bench_function("100 statements: allow (last group grant)", |b| {
        b.iter(|| black_box(&dataset).decide(black_box(&big)))
    });
    c.bench_function("100 statements: explicit deny", |b| {
        b.iter(|| black_box(&secret).decide(black_box(&big)))
    });
    c.bench_function("100 statements: implicit deny (worst case)", |b| {
        b.iter(|| black_box(&nothing).decide(black_box(&big)))
    });
    c.bench_function("100 statements: load (parse + validate + compile)", |b| {
        b.iter(|| Policy::from_json(black_box(&text)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
