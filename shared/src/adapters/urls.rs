//! Where a `base_url` stops being a base: the endpoint paths a config may already name.
//!
//! Configs written for the original often give a full endpoint (`…/v1/chat/completions`,
//! `…/v1/messages`, Cohere's `…/v2/chat`), sometimes one of another dialect than the provider's
//! `engine:` forces (the seed's `engine: openrouter` on a `…/v1/messages` URL). Such a URL is the
//! chat endpoint as written, whatever the dialect; sibling endpoints sit beside its root.

/// The endpoint paths recognised at the end of a `base_url`, longest first.
const NAMED_ENDPOINTS: [&str; 4] = ["/chat/completions", "/messages", "/v1/chat", "/v2/chat"];

/// Splits `base_url` (trailing slashes ignored) into its API root and the chat endpoint path it
/// names, if it names one: `https://a.io/v1/messages` → (`https://a.io/v1`, `Some("/messages")`).
pub fn split_endpoint(base_url: &str) -> (&str, Option<&str>) {
    let base = base_url.trim_end_matches('/');
    for named in NAMED_ENDPOINTS {
        if base.ends_with(named) && path_of(base).len() >= named.len() {
            // `/v1/chat` keeps its version in the root: the endpoint itself is `/chat`.
            let endpoint = named.strip_prefix("/v1").or_else(|| named.strip_prefix("/v2")).unwrap_or(named);
            let root = &base[..base.len() - endpoint.len()];
            return (root, Some(&base[root.len()..]));
        }
    }
    (base, None)
}

/// The chat endpoint a `base_url` names as written, if it names one.
pub fn named_endpoint(base_url: &str) -> Option<&str> {
    split_endpoint(base_url).1.map(|_| base_url.trim_end_matches('/'))
}

fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme.find('/').map_or("", |i| &after_scheme[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_endpoints_are_recognised_and_bases_are_not() {
        let cases = [
            ("https://a.io/v1/chat/completions", "https://a.io/v1", Some("/chat/completions")),
            ("https://a.io/v1/messages/", "https://a.io/v1", Some("/messages")),
            ("https://api.cohere.com/v2/chat", "https://api.cohere.com/v2", Some("/chat")),
            ("https://api.cohere.com/v1/chat", "https://api.cohere.com/v1", Some("/chat")),
            ("https://a.io/v1", "https://a.io/v1", None),
            ("https://a.io", "https://a.io", None),
            ("https://a.io/api/chat", "https://a.io/api/chat", None),
            ("https://messages", "https://messages", None),
        ];
        for (url, root, endpoint) in cases {
            assert_eq!(split_endpoint(url), (root, endpoint), "{url}");
        }
        assert_eq!(named_endpoint("https://x.io/v1/messages/"), Some("https://x.io/v1/messages"));
        assert_eq!(named_endpoint("https://x.io/v1"), None);
    }
}
