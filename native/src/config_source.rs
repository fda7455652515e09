//! Where the config text comes from: `--config PATH`; else `./api.yaml` when that file exists (as
//! the original does: a mounted file wins over `CONFIG_URL`, so its restart script can set
//! both); else `CONFIG_URL` (an http(s) URL is downloaded, anything else is a path); else
//! `./api.yaml`, whose absence is then the error.

use std::time::Duration;

/// Where the config was found, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(String),
    Url(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{path}"),
            // The URL may embed a token; show only its origin.
            Self::Url(url) => write!(f, "{}", redact_url(url)),
        }
    }
}

/// Validates config text read from `source` (named in the error and in each warning, which are
/// logged): the one place the native host, its reloads and the Vercel function turn text into a
/// `Config`.
pub fn parse(
    text: &str,
    source: &dyn std::fmt::Display,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<uni_api_core::Config, String> {
    let config = uni_api_core::Config::from_yaml_str(text, env).map_err(|e| format!("invalid config {source}: {e}"))?;
    for warning in config.warnings.iter().chain(config.implicit_admin_notice().as_ref()) {
        tracing::warn!("{source}: {warning}");
    }
    Ok(config)
}

/// Logging as every native entry point does it: `RUST_LOG` (default `info`), colours only on a
/// terminal.
pub fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

/// The file read when neither `--config` nor `CONFIG_URL` says otherwise.
pub const DEFAULT_FILE: &str = "api.yaml";

/// Decides the source from the CLI flag, `CONFIG_URL` and whether `./api.yaml` exists.
pub fn choose(config_flag: Option<&str>, config_url: Option<&str>, default_file_exists: bool) -> Source {
    if let Some(path) = config_flag.filter(|p| !p.is_empty()) {
        return Source::File(path.to_owned());
    }
    if default_file_exists {
        return Source::File(DEFAULT_FILE.to_owned());
    }
    match config_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Source::Url(url.to_owned()),
        Some(path) => Source::File(path.strip_prefix("file://").unwrap_or(path).to_owned()),
        None => Source::File(DEFAULT_FILE.to_owned()),
    }
}

/// `choose` for this process: `./api.yaml` is looked for in the working directory.
pub fn choose_here(config_flag: Option<&str>, config_url: Option<&str>) -> Source {
    choose(config_flag, config_url, std::path::Path::new(DEFAULT_FILE).is_file())
}

/// Reads the config text.
pub async fn read(source: &Source) -> Result<String, String> {
    match fetch(source, None).await? {
        Fetched::Text(text, _) => Ok(text),
        Fetched::Unchanged => Err(format!("{source} answered 304 to an unconditional request")),
    }
}

/// What a URL said about its version (`ETag`, `Last-Modified`), for a conditional GET.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

/// The result of a read that may be conditional.
#[derive(Debug)]
pub enum Fetched {
    Text(String, Validators),
    /// The URL answered 304 Not Modified.
    Unchanged,
}

/// Largest config accepted from a URL.
const MAX_CONFIG_BYTES: usize = 16 * 1024 * 1024;

/// Reads the config; with `conditional`, a URL is asked with `If-None-Match` /
/// `If-Modified-Since` and may answer that nothing changed.
pub async fn fetch(source: &Source, conditional: Option<&Validators>) -> Result<Fetched, String> {
    match source {
        Source::File(path) => tokio::fs::read_to_string(path)
            .await
            .map(|text| Fetched::Text(text, Validators::default()))
            .map_err(|e| format!("cannot read {path}: {e}")),
        Source::Url(url) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let client =
                reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
            let shown = redact_url(url);
            let mut request = client.get(url);
            if let Some(v) = conditional {
                if let Some(etag) = &v.etag {
                    request = request.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                if let Some(date) = &v.last_modified {
                    request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
                }
            }
            let response = request.send().await.map_err(|e| format!("cannot download {shown}: {}", e.without_url()))?;
            if response.status() == reqwest::StatusCode::NOT_MODIFIED && conditional.is_some() {
                return Ok(Fetched::Unchanged);
            }
            if !response.status().is_success() {
                return Err(format!("cannot download {shown}: HTTP {}", response.status().as_u16()));
            }
            let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let validators = Validators {
                etag: header(reqwest::header::ETAG),
                last_modified: header(reqwest::header::LAST_MODIFIED),
            };
            if response.content_length().is_some_and(|n| n > MAX_CONFIG_BYTES as u64) {
                return Err(format!("cannot download {shown}: larger than {MAX_CONFIG_BYTES} bytes"));
            }
            let bytes = response.bytes().await.map_err(|e| format!("cannot download {shown}: {}", e.without_url()))?;
            if bytes.len() > MAX_CONFIG_BYTES {
                return Err(format!("cannot download {shown}: larger than {MAX_CONFIG_BYTES} bytes"));
            }
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| format!("{shown} is not UTF-8 text"))?;
            Ok(Fetched::Text(text, validators))
        }
    }
}

fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}/…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_an_existing_api_yaml_then_config_url() {
        assert_eq!(choose(Some("a.yaml"), Some("https://x/y"), true), Source::File("a.yaml".into()));
        assert_eq!(choose(None, Some("https://x/y"), true), Source::File("api.yaml".into()));
        assert_eq!(choose(None, Some("https://x/y"), false), Source::Url("https://x/y".into()));
        assert_eq!(choose(None, Some("/etc/api.yaml"), false), Source::File("/etc/api.yaml".into()));
        assert_eq!(choose(None, Some("file:///etc/api.yaml"), false), Source::File("/etc/api.yaml".into()));
        assert_eq!(choose(None, None, false), Source::File("api.yaml".into()));
    }

    #[test]
    fn urls_are_shown_without_path_or_credentials() {
        assert_eq!(Source::Url("https://u:p@host.io/secret/api.yaml?token=1".into()).to_string(), "https://host.io/…");
    }
}
