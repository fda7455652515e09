//! The shipped `api.yaml.example` must parse, without warnings, into what its comments say.

use uni_api_core::config::{AutoRetry, ModelSource, RuleTarget, Scheduling};
use uni_api_core::Config;

#[test]
fn the_example_config_is_valid_and_means_what_it_says() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../api.yaml.example")).unwrap();
    let config = Config::from_yaml_str(&text, &|_| None).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_eq!(config.providers.len(), 10);
    let agents = &config.providers[9];
    assert_eq!(&*agents.name, "agents-on-deepseek");
    let ModelSource::Listed(names) = &agents.models else { panic!("listed models") };
    let aliases: Vec<&str> = names.iter().map(|m| m.alias.as_str()).collect();
    assert_eq!(aliases, ["gpt-5-codex", "gemini-2.5-flash", "claude-sonnet-4-5"]);
    assert_eq!(config.providers[8].vertex.as_ref().unwrap().regions, vec!["us-east5", "europe-west1"]);
    assert_eq!(config.providers[7].account_id.as_deref(), Some("0123456789abcdef"));
    assert_eq!(config.providers[4].dialect, uni_api_core::adapters::Dialect::Gemini);
    assert_eq!(config.providers[3].dialect, uni_api_core::adapters::Dialect::Anthropic);
    assert_eq!(config.providers[1].models, ModelSource::Discover);
    assert_eq!(config.providers[1].keys.len(), 2);
    assert!(config.clients[0].is_admin);
    let alice = &config.clients[1];
    assert_eq!(&*alice.role, "alice");
    assert_eq!(alice.rules[4].target, RuleTarget::ClientAll(0));
    assert_eq!(alice.auto_retry, AutoRetry::Enabled);
    assert_eq!(config.clients[2].scheduling, Scheduling::WeightedRoundRobin);
}
