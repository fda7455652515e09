//! Which wire format an upstream speaks: from `engine:`, else from its credentials and URL.

/// The wire format of an upstream, from `engine:` or detected from `base_url`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI chat completions and every compatible API (DeepSeek, Groq, xAI, vLLM, …).
    OpenAi,
    /// OpenAI format as OpenRouter serves it.
    OpenRouter,
    Anthropic,
    Gemini,
    Vertex,
    Azure,
    Cohere,
    Cloudflare,
}

impl Dialect {
    /// `engine` wins; otherwise the credentials and the URL decide, as the original uni-api does.
    pub fn detect(
        base_url: &str,
        engine: Option<&str>,
        has_vertex_credentials: bool,
        has_cloudflare_account: bool,
    ) -> Result<Self, String> {
        if let Some(engine) = engine.map(str::trim).filter(|e| !e.is_empty()) {
            return Self::from_engine(engine);
        }
        if has_vertex_credentials {
            return Ok(Self::Vertex);
        }
        if has_cloudflare_account {
            return Ok(Self::Cloudflare);
        }
        let uri: http::Uri = match base_url.parse() {
            Ok(uri) => uri,
            Err(_) => return Ok(Self::OpenAi),
        };
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let path = uri.path().trim_end_matches('/');
        Ok(
            if (path.ends_with("/v1beta") || host == "generativelanguage.googleapis.com")
                && !path.contains("/v1beta/openai")
            {
                Self::Gemini
            } else if host.ends_with("aiplatform.googleapis.com") || path.contains("google-vertex-ai") {
                Self::Vertex
            } else if host.ends_with("azure.com") && host != "models.inference.ai.azure.com" {
                // GitHub Models lives on an Azure host but speaks plain OpenAI with a Bearer token.
                Self::Azure
            } else if host == "api.cloudflare.com" {
                Self::Cloudflare
            } else if host == "api.anthropic.com" || path.ends_with("v1/messages") {
                Self::Anthropic
            } else if host == "api.cohere.com" || host == "api.cohere.ai" {
                Self::Cohere
            } else if host == "openrouter.ai" {
                Self::OpenRouter
            } else {
                Self::OpenAi
            },
        )
    }

    fn from_engine(engine: &str) -> Result<Self, String> {
        Ok(match engine.to_ascii_lowercase().as_str() {
            "gpt" | "openai" => Self::OpenAi,
            "openrouter" => Self::OpenRouter,
            "claude" | "anthropic" => Self::Anthropic,
            "gemini" => Self::Gemini,
            "vertex" | "vertex-gemini" | "vertex-claude" => Self::Vertex,
            "azure" => Self::Azure,
            "cohere" => Self::Cohere,
            "cloudflare" => Self::Cloudflare,
            other => {
                return Err(format!(
                "unknown engine `{other}` (use gpt, openrouter, claude, gemini, vertex, azure, cohere or cloudflare)"
            ))
            }
        })
    }

    /// Vertex and Cloudflare build their URLs from account fields; the rest need `base_url`.
    pub fn needs_base_url(self) -> bool {
        !matches!(self, Self::Vertex | Self::Cloudflare)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::OpenRouter => "openrouter",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Vertex => "vertex",
            Self::Azure => "azure",
            Self::Cohere => "cohere",
            Self::Cloudflare => "cloudflare",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect::{self, *};

    #[test]
    fn dialects_follow_the_url_unless_an_engine_is_given() {
        let cases = [
            ("https://api.openai.com/v1/chat/completions", OpenAi),
            ("https://api.deepseek.com/v1", OpenAi),
            ("https://api.anthropic.com/v1/messages", Anthropic),
            ("https://proxy.example/v1/messages", Anthropic),
            ("https://generativelanguage.googleapis.com/v1beta", Gemini),
            ("https://generativelanguage.googleapis.com/v1beta/openai/chat/completions", OpenAi),
            ("https://my.gw/v1beta", Gemini),
            ("https://us-central1-aiplatform.googleapis.com", Vertex),
            ("https://res.openai.azure.com", Azure),
            ("https://models.inference.ai.azure.com/chat/completions", OpenAi),
            ("https://api.cloudflare.com", Cloudflare),
            ("https://api.cohere.com/v2/chat", Cohere),
            ("https://api.cohere.ai/v1/chat", Cohere),
            ("https://openrouter.ai/api/v1/chat/completions", OpenRouter),
        ];
        for (url, want) in cases {
            assert_eq!(Dialect::detect(url, None, false, false), Ok(want), "{url}");
        }
        assert_eq!(Dialect::detect("https://api.anthropic.com/v1/messages", Some("gpt"), false, false), Ok(OpenAi));
        assert_eq!(Dialect::detect("", None, true, false), Ok(Vertex));
        assert_eq!(Dialect::detect("", None, false, true), Ok(Cloudflare));
        assert!(Dialect::detect("", Some("bard"), false, false).unwrap_err().contains("unknown engine"));
    }
}
