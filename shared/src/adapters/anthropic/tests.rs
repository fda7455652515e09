//! URL shapes of the Anthropic dialect.

use super::*;

#[test]
fn urls_accept_a_full_endpoint_a_version_base_or_an_origin() {
    assert_eq!(messages_url("https://api.anthropic.com/v1/messages"), "https://api.anthropic.com/v1/messages");
    assert_eq!(messages_url("https://api.anthropic.com/v1"), "https://api.anthropic.com/v1/messages");
    assert_eq!(messages_url("https://proxy.example/anthropic"), "https://proxy.example/anthropic/v1/messages");
    // `engine: claude` on a URL written for another dialect: used as written.
    assert_eq!(messages_url("https://x.io/v1/chat/completions"), "https://x.io/v1/chat/completions");
    assert_eq!(models_url("https://x.io/v1/chat/completions"), "https://x.io/v1/models");
    assert_eq!(
        count_tokens_url("https://api.anthropic.com/v1/messages"),
        "https://api.anthropic.com/v1/messages/count_tokens"
    );
    assert_eq!(count_tokens_url("https://api.anthropic.com"), "https://api.anthropic.com/v1/messages/count_tokens");
}
