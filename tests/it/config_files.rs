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
