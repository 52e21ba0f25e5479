//! The configuration and policy files shipped in the repository load as they are.

use figment::Figment;
use figment::providers::{Format, Toml};
use presignd::config::{Config, DEFAULT_TOML};
use presignd::policy::Policy;

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn deploy_config_and_policies_are_valid() {
    let config = Config::from_figment(
        Figment::from(Toml::string(DEFAULT_TOML))
            .merge(Toml::string(&repo_file("deploy/presignd.toml"))),
    )
    .unwrap();
    config.validate_for_serving().unwrap();
    for policy in ["deploy/policy.json", "config/dev-policy.json"] {
        Policy::from_json(&repo_file(policy)).unwrap_or_else(|e| panic!("{policy}: {e}"));
    }
}

#[test]
fn the_shipped_placeholder_secret_is_refused() {
    let example = format!("{}/deploy/jwt-secret.example", env!("CARGO_MANIFEST_DIR"));
    let config = Config::from_figment(
        Figment::from(Toml::string(DEFAULT_TOML))
            .merge(Toml::string(&repo_file("deploy/presignd.toml")))
            .merge(Toml::string(&format!(
                "[[auth.issuers]]\nissuer = \"https://idp.example.com/\"\naudiences = [\"presignd\"]\nsecret_file = \"{example}\"\n"
            ))),
    )
    .unwrap();
    let error = presignd::auth::Verifier::new(&config.auth.issuers)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("auth.issuers[0].secret_file") && error.contains("placeholder"),
        "{error}"
    );
}

#[test]
fn the_deploy_policy_caps_every_upload() {
    use presignd::policy::{Action, Context, Request};
    let policy = Policy::from_json(&repo_file("deploy/policy.json")).unwrap();
    let claims = serde_json::json!({"sub": "alice"});
    let decide = |action: Action, content_length: Option<u64>| {
        let context = Context {
            claims: claims.as_object().unwrap(),
            issuer: "https://idp.example.com/",
            source_ip: None,
            current_time: time::OffsetDateTime::now_utc(),
            method: None,
            content_type: None,
            content_length,
            expires_in: Some(900),
            max_uses: None,
            link_expires_in: None,
        };
        policy
            .evaluate(&Request {
                action,
                resource: "arn:aws:s3:::uploads/users/alice/a.png",
                context: &context,
            })
            .is_allowed()
    };
    assert!(!decide(Action::PutObject, None), "an upload of any size");
    assert!(decide(Action::PutObject, Some(1234)));
    assert!(!decide(Action::PutObject, Some(10 * 1024 * 1024 + 1)));
    assert!(decide(Action::GetObject, None), "downloads have no size");
}
