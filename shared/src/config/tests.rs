//! Config parsing: YAML in, validated meaning (or a path-precise error) out.

use std::time::Duration;

use super::*;
use crate::adapters::Dialect;
use crate::scheduler::rate_window::RateRule;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(yaml: &str) -> Result<Config, ConfigError> {
    Config::from_yaml_str(yaml, &no_env)
}

fn err(yaml: &str) -> String {
    parse(yaml).unwrap_err().to_string()
}

const MINIMAL: &str = "
providers:
  - provider: openai
    base_url: https://api.openai.com/v1/chat/completions
    api: sk-up
api_keys:
  - api: sk-client
";

#[test]
fn the_minimal_readme_config_means_discover_and_allow_all() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.providers.len(), 1);
    let p = &c.providers[0];
    assert_eq!(&*p.name, "openai");
    assert_eq!(p.dialect, Dialect::OpenAi);
    assert_eq!(p.models, ModelSource::Discover);
    assert_eq!(p.keys.len(), 1);
    assert!(p.tools);
    assert_eq!(p.key_schedule, KeySchedule::RoundRobin);
    let k = &c.clients[0];
    assert_eq!(k.rules, vec![ModelRule { target: RuleTarget::All, weight: None }]);
    assert_eq!(k.scheduling, Scheduling::FixedPriority);
    assert_eq!(k.auto_retry, AutoRetry::Enabled);
    assert!(k.is_admin, "the first key is admin when no role says so");
    assert_eq!(c.global.cooldown_period, Duration::from_secs(300));
    assert_eq!(c.global.fallback_timeout, Duration::from_secs(100));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn the_advanced_readme_config_parses_with_its_meaning() {
    let c = parse(
        r#"
providers:
  - provider: provider_name
    base_url: https://api.your.com/v1/chat/completions
    api: sk-YgS6GTi0b4bEabc4C
    model:
      - gpt-4o
      - claude-3-5-sonnet-20240620: claude-3-5-sonnet
      - dall-e-3
  - provider: gemini
    base_url: https://generativelanguage.googleapis.com/v1beta
    api: [AIzaSyAN2k6IRdgw123, AIzaSyAN2k6IRdgw456]
    model: [gemini-1.5-pro]
    tools: true
    preferences:
      api_key_rate_limit:
        gemini-1.5-flash: 15/min,1500/day
        default: 4/min
      api_key_cooldown_period: 60
      api_key_schedule_algorithm: fixed_priority
      model_timeout: { gemini-1.5-pro: 10, default: 20 }
      proxy: socks5://user:pass@127.0.0.1:1080
      headers: { Custom-Header-1: Value-1 }
  - provider: cloudflare
    api: f42b3xxxxxxxxxxq4aoGAh
    cf_account_id: 8ec0xxxxxxxxxxxxe721
    model:
      - '@cf/meta/llama-3.1-8b-instruct': llama-3.1-8b
api_keys:
  - api: sk-admin-key
    model: [gpt-4o, claude-3-5-sonnet, gemini/*]
    role: admin
  - api: sk-second
    model:
      - provider_name/claude-3-5-sonnet
      - <anthropic/claude-3-5-sonnet>
      - sk-admin-key/*
    preferences:
      SCHEDULING_ALGORITHM: round_robin
      AUTO_RETRY: 2
      rate_limit: 15/min
      ENABLE_MODERATION: true
  - api: sk-weighted
    model:
      - gemini/*: 5
      - provider_name/*: 3
    preferences:
      SCHEDULING_ALGORITHM: weighted_round_robin
      AUTO_RETRY: false
preferences:
  model_timeout: { gpt-4o: 10, default: 30 }
  cooldown_period: 0
  error_triggers: [The bot's usage is covered by the developer]
  proxy: http://127.0.0.1:3128
"#,
    )
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let p0 = &c.providers[0];
    assert_eq!(
        p0.models,
        ModelSource::Listed(vec![
            ModelMapping { upstream: "gpt-4o".into(), alias: "gpt-4o".into() },
            ModelMapping { upstream: "claude-3-5-sonnet-20240620".into(), alias: "claude-3-5-sonnet".into() },
            ModelMapping { upstream: "dall-e-3".into(), alias: "dall-e-3".into() },
        ])
    );
    let gem = &c.providers[1];
    assert_eq!(gem.dialect, Dialect::Gemini);
    assert_eq!(gem.keys.len(), 2);
    assert_eq!(gem.key_cooldown, Duration::from_secs(60));
    assert_eq!(gem.key_schedule, KeySchedule::FixedPriority);
    let limits = gem.key_rate_limit.as_ref().unwrap();
    assert_eq!(limits.lookup("gemini-1.5-flash-002").unwrap().len(), 2);
    assert_eq!(limits.lookup("gemini-1.5-pro"), Some(&vec![RateRule { limit: 4, window_ms: 60_000 }]));
    assert_eq!(gem.proxy.as_deref(), Some("socks5://user:pass@127.0.0.1:1080"));
    assert_eq!(gem.headers.len(), 1);
    assert_eq!(c.providers[2].dialect, Dialect::Cloudflare);

    let admin = &c.clients[0];
    assert!(admin.is_admin);
    assert_eq!(admin.rules[2].target, RuleTarget::ProviderAll("gemini".into()));
    let second = &c.clients[1];
    assert!(!second.is_admin);
    assert_eq!(&*second.role, "key2");
    assert_eq!(
        second.rules.iter().map(|r| r.target.clone()).collect::<Vec<_>>(),
        vec![
            RuleTarget::ProviderModel("provider_name".into(), "claude-3-5-sonnet".into()),
            RuleTarget::Literal("anthropic/claude-3-5-sonnet".into()),
            RuleTarget::ClientAll(0),
        ]
    );
    assert_eq!(second.scheduling, Scheduling::RoundRobin);
    assert_eq!(second.auto_retry, AutoRetry::Limit(2));
    assert_eq!(second.auto_retry.max_attempts(), 3);
    assert!(second.moderation);
    assert!(second.rate_limit.is_some());
    let weighted = &c.clients[2];
    assert_eq!(weighted.rules[0].weight, Some(5));
    assert_eq!(weighted.auto_retry, AutoRetry::Disabled);
    assert_eq!(c.global.cooldown_period, Duration::ZERO);
    assert_eq!(c.global.error_triggers.len(), 1);
}

#[test]
fn timeouts_follow_the_documented_precedence() {
    let c = parse(
        "
providers:
  - provider: a
    base_url: http://127.0.0.1:1/v1
    model: [gpt-4o, o1-mini]
    preferences: { model_timeout: { gpt-4o: 5, default: 7 } }
  - provider: b
    base_url: http://127.0.0.1:1/v1
    model: [gpt-4o, o1-mini]
api_keys: [{ api: k }]
preferences:
  model_timeout: { o1-mini: 30, gpt-4o: 11, default: 13 }
",
    )
    .unwrap();
    let (a, b) = (&c.providers[0], &c.providers[1]);
    let secs = |d: Duration| d.as_secs();
    assert_eq!(secs(c.timeout(a, "gpt-4o-2024-08-06", "gpt-4o-2024-08-06")), 5, "channel model (prefix)");
    assert_eq!(secs(c.timeout(a, "o1-mini", "o1-mini")), 7, "channel default beats global model");
    assert_eq!(secs(c.timeout(b, "o1-mini-2024", "o1-mini-2024")), 30, "global model");
    assert_eq!(secs(c.timeout(b, "llama", "llama")), 13, "global default");
    let env = |k: &str| (k == "TIMEOUT").then(|| "42".to_owned());
    let c = Config::from_yaml_str("providers: []\napi_keys: [{api: k}]", &env).unwrap();
    assert_eq!(c.global.fallback_timeout, Duration::from_secs(42));
    assert_eq!(c.global.request_timeout, Duration::from_secs(126), "three times the longest timeout");
}

#[test]
fn the_request_deadline_defaults_to_three_of_the_longest_timeouts_or_is_set() {
    let yaml = |prefs: &str| {
        format!("providers:\n  - provider: p\n    base_url: http://127.0.0.1:9\n    model: [m]\n    preferences:\n      model_timeout: {{slow: 400}}\napi_keys: [{{api: k}}]\n{prefs}")
    };
    let c = Config::from_yaml_str(&yaml(""), &|_| None).unwrap();
    assert_eq!(c.global.request_timeout, Duration::from_secs(1200));
    let c = Config::from_yaml_str(&yaml("preferences: {request_timeout: 90}"), &|_| None).unwrap();
    assert_eq!(c.global.request_timeout, Duration::from_secs(90));
    let error = Config::from_yaml_str(&yaml("preferences: {request_timeout: 0}"), &|_| None).unwrap_err();
    assert!(error.to_string().contains("preferences.request_timeout"), "{error}");
}

#[test]
fn env_vars_expand_with_defaults_and_warn_when_unset() {
    let env = |k: &str| (k == "UPSTREAM_KEY").then(|| "sk-from-env".to_owned());
    let c = Config::from_yaml_str(
        "
providers:
  - provider: p
    base_url: ${BASE:-http://127.0.0.1:9/v1}
    api: ${UPSTREAM_KEY}
    model: [m]
api_keys: [{ api: '${CLIENT_KEY}x' }]
",
        &env,
    )
    .unwrap();
    assert_eq!(c.providers[0].base_url, "http://127.0.0.1:9/v1");
    assert_eq!(c.providers[0].keys[0].expose(), "sk-from-env");
    assert_eq!(c.clients[0].key.expose(), "x");
    assert_eq!(c.warnings, vec!["environment variable CLIENT_KEY is not set; used an empty string".to_owned()]);
}

#[test]
fn unknown_keys_are_warnings_with_their_path() {
    let c = parse(
        "
providers:
  - provider: p
    base_url: http://127.0.0.1:9/v1
    model: [m]
    preferences: { enable_unicorns: { x: 1 } }
api_keys: [{ api: k, colour: blue }]
video_providers: []
",
    )
    .unwrap();
    assert_eq!(
        c.warnings,
        vec![
            "providers[0].preferences.enable_unicorns: unknown key, ignored",
            "api_keys[0].colour: unknown key, ignored",
            "video_providers: unknown key, ignored",
        ]
    );
}

#[test]
fn errors_name_the_key_path_and_the_reason() {
    let base = "providers:\n  - provider: p\n    base_url: http://127.0.0.1:9/v1\n    model: [m]\n";
    let cases = [
        ("providers: []\napi_keys: []\n", "api_keys: at least one client key is required"),
        ("", "(file): the configuration is empty"),
        ("providers: [1, 2\n", "invalid YAML"),
        (
            "providers:\n  - base_url: http://x/v1\napi_keys: [{api: k}]",
            "providers[0].provider: a provider name is required",
        ),
        ("providers:\n  - provider: p\napi_keys: [{api: k}]", "providers[0].base_url: an upstream URL is required"),
        (
            "providers:\n  - provider: p\n    base_url: ftp://x\napi_keys: [{api: k}]",
            "providers[0].base_url: `ftp://x` must be an http:// or https:// URL",
        ),
        (
            "providers:\n  - provider: p\n    base_url: http://x\n    engine: bard\napi_keys: [{api: k}]",
            "providers[0].engine: unknown engine `bard`",
        ),
        (
            "providers:\n  - provider: p\n    base_url: http://x\n    tools: maybe\napi_keys: [{api: k}]",
            "providers[0].tools",
        ),
        (
            "providers: []\napi_keys: [{api: k}]\npreferences:\n  cors_origins: [https://ok.example, https://chat.example.com/app]",
            "preferences.cors_origins[1]: `https://chat.example.com/app` is not an origin",
        ),
        ("providers: []\napi_keys: [{api: k}]\npreferences:\n  cors_origins: {a: b}", "preferences.cors_origins: expected"),
    ];
    for (yaml, want) in cases {
        let got = err(yaml);
        assert!(got.contains(want), "for {yaml:?}\n got: {got}\nwant: {want}");
    }
    let with_prefs = |prefs: &str| format!("{base}    preferences: {prefs}\napi_keys: [{{api: k}}]");
    assert!(err(&with_prefs("{ model_timeout: { m: ten } }"))
        .starts_with("providers[0].preferences.model_timeout.m: `ten` is not a number"));
    assert!(err(&with_prefs("{ api_key_rate_limit: 15/fortnight }"))
        .starts_with("providers[0].preferences.api_key_rate_limit: unknown unit"));
    assert!(err(&with_prefs("{ proxy: ftp://p }")).starts_with("providers[0].preferences.proxy"));
    assert!(err(&with_prefs("{ api_key_schedule_algorithm: sometimes }")).contains("unknown algorithm `sometimes`"));
    let key = |k: &str| format!("{base}api_keys:\n  - api: k\n{k}");
    assert!(err(&key("    preferences: { SCHEDULING_ALGORITHM: best }"))
        .starts_with("api_keys[0].preferences.SCHEDULING_ALGORITHM"));
    assert!(err(&key("    preferences: { AUTO_RETRY: often }")).starts_with("api_keys[0].preferences.AUTO_RETRY"));
    assert!(err(&key("    model: [{ p/*: 0 }]")).starts_with("api_keys[0].model[0]: a weight must be a positive"));
    assert!(err(&format!("{base}api_keys: [{{api: k}}, {{api: k}}]"))
        .starts_with("api_keys[1].api: this key is listed twice"));
}

#[test]
fn errors_never_contain_secrets() {
    let got = err("providers:\n  - provider: p\n    base_url: http://x\n    api: sk-secret-upstream\n    engine: bard\napi_keys: [{api: sk-secret-client}]");
    assert!(!got.contains("sk-secret"), "{got}");
    let c = parse("providers: []\napi_keys:\n  - api: sk-secret-client\n    model: [sk-secret-typo/*]").unwrap();
    assert!(c.warnings.iter().all(|w| !w.contains("sk-secret")), "{:?}", c.warnings);
    assert!(!format!("{:?}", c.clients[0]).contains("sk-secret-client"));
}

#[test]
fn yaml_scalars_of_any_type_are_accepted_where_text_is_meant() {
    let c = parse("providers:\n  - provider: 123\n    base_url: http://x/v1\n    api: 456\n    model: [7, '@cf/x': y]\napi_keys: [{api: 789}]").unwrap();
    assert_eq!(&*c.providers[0].name, "123");
    assert_eq!(c.providers[0].keys[0].expose(), "456");
    assert_eq!(c.clients[0].key.expose(), "789");
}

#[test]
fn empty_sections_mean_unset() {
    let c = parse("providers:\n  - provider: p\n    base_url: http://x/v1\n    model: [m]\n    preferences:\napi_keys:\n  - api: k\n    preferences:\npreferences:\n").unwrap();
    assert_eq!(c.global.cooldown_period, Duration::from_secs(300));
    assert!(c.warnings.is_empty());
}

#[test]
fn yaml_1_2_booleans_keep_model_names_like_n_and_on_as_text() {
    let c = parse("providers:\n  - provider: p\n    base_url: http://x/v1\n    model: [n, on, yes, off]\n    tools: false\napi_keys: [{api: k}]").unwrap();
    let ModelSource::Listed(models) = &c.providers[0].models else { panic!() };
    let names: Vec<&str> = models.iter().map(|m| m.alias.as_str()).collect();
    assert_eq!(names, vec!["n", "on", "yes", "off"]);
    assert!(!c.providers[0].tools);
    assert!(c.providers[0].image, "image defaults to true");
    let c = parse("providers:\n  - provider: p\n    base_url: http://x/v1\n    model: [m]\n    image: false\napi_keys: [{api: k}]").unwrap();
    assert!(!c.providers[0].image);
}

#[test]
fn vertex_accounts_are_validated_and_defaulted() {
    let key = "-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\\n";
    let c = parse(&format!(
        "providers:\n  - provider: v\n    project_id: p1\n    client_email: a@b.c\n    private_key: \"{key}\"\n    model: [gemini-2.5-pro]\napi_keys: [{{api: k}}]"
    ))
    .unwrap();
    let v = c.providers[0].vertex.as_ref().unwrap();
    assert_eq!(c.providers[0].dialect, Dialect::Vertex);
    assert_eq!(v.regions, vec!["global"]);
    assert_eq!(v.token_uri, GOOGLE_TOKEN_URI);
    assert!(v.private_key.expose().contains("KEY-----\nMIIB\n"), "escaped newlines become real ones");
    let c = parse(&format!(
        "providers:\n  - provider: v\n    project_id: p1\n    client_email: a@b.c\n    private_key: \"{key}\"\n    region: [us-east5, europe-west1]\n    token_uri: http://127.0.0.1:9/token\napi_keys: [{{api: k}}]"
    ))
    .unwrap();
    assert_eq!(c.providers[0].vertex.as_ref().unwrap().regions, vec!["us-east5", "europe-west1"]);
    assert!(err("providers:\n  - provider: v\n    project_id: p1\napi_keys: [{api: k}]")
        .starts_with("providers[0].client_email: required for Vertex AI"));
    assert!(err("providers:\n  - provider: v\n    project_id: p1\n    client_email: e\n    private_key: nope\napi_keys: [{api: k}]").contains("PEM private key"));
}

#[test]
fn admin_is_the_role_admin_exactly_and_an_implicit_admin_is_warned_about() {
    let keys = |roles: &str| {
        Config::from_yaml_str(
            &format!("providers:\n  - provider: p\n    base_url: http://p.test/v1\n    model: [m]\napi_keys:\n{roles}"),
            &|_| None,
        )
        .unwrap()
    };
    let config = keys("  - api: a\n    role: sysadmin-bot\n  - api: b\n    role: Admin\n");
    assert_eq!(config.clients.iter().map(|c| c.is_admin).collect::<Vec<_>>(), [false, true]);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let config = keys("  - api: a\n    role: ops-admin\n  - api: b\n");
    assert!(config.clients[0].is_admin && !config.clients[1].is_admin);
    assert!(config
        .implicit_admin_notice()
        .is_some_and(|n| n.contains("the first key (role `ops-admin`) is the admin")));
    assert_eq!(keys("  - api: a\n    role: admin\n").implicit_admin_notice(), None);
}

#[test]
fn tpr_is_a_budget_of_a_providers_key_pool_and_ignored_elsewhere() {
    let c = parse(
        "
providers:
  - provider: p
    base_url: http://127.0.0.1:9/v1
    model: [m, big]
    preferences:
      api_key_rate_limit: { big: '10/min, 32000/tpr', default: 8000/tpr }
api_keys:
  - api: k
    preferences: { rate_limit: '5/min, 100/tpr' }
",
    )
    .unwrap();
    let p = &c.providers[0];
    let budgets = p.tokens_per_request.as_ref().unwrap();
    assert_eq!((budgets.lookup("big"), budgets.lookup("m")), (Some(&32000), Some(&8000)));
    let windows = p.key_rate_limit.as_ref().unwrap();
    assert_eq!(windows.lookup("big").unwrap().len(), 1);
    assert!(windows.lookup("m").unwrap().is_empty(), "a tpr-only default limits no rate");
    assert_eq!(c.clients[0].rate_limit.as_ref().unwrap().lookup("m").unwrap().len(), 1);
    assert_eq!(
        c.warnings,
        vec!["api_keys[0].preferences.rate_limit: `tpr` (tokens per request) applies to a provider's api_key_rate_limit only; ignored here"]
    );
}
