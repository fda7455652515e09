//! Fetching http(s) image URLs of a request so they can be inlined for upstreams that cannot
//! fetch them (see `adapters::images`). Only images are accepted, at most 20 MB each, within
//! 30 s; a URL that cannot be fetched is the request's fault (400), found before any upstream call.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use futures_util::future::{select, Either};

use super::discovery::collect;
use super::Inner;
use crate::adapters::images::with_inlined_images;
use crate::adapters::raw::RawObject;
use crate::error::GatewayError;
use crate::platform::SendOptions;

const IMAGE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;

impl Inner {
    /// `body` with the given remote image URLs fetched and inlined as data URLs.
    pub(super) async fn inline_images(&self, body: &RawObject, urls: &[String]) -> Result<RawObject, GatewayError> {
        let mut data_urls = HashMap::new();
        for url in urls {
            let data = self.fetch_image(url).await.map_err(|reason| {
                GatewayError::BadRequest(format!("the image at {} could not be used: {reason}", shown(url)))
            })?;
            data_urls.insert(url.clone(), data);
        }
        with_inlined_images(body, &data_urls).map_err(GatewayError::Internal)
    }

    async fn fetch_image(&self, url: &str) -> Result<String, String> {
        let request = http::Request::get(url).body(Bytes::new()).map_err(|_| "not a valid URL".to_owned())?;
        let options = SendOptions { proxy: self.config.global.proxy.clone() };
        let work = async {
            let response = self.platform.http.send(request, options).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let media_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
                .unwrap_or_default();
            let body = collect(response.into_body(), MAX_IMAGE_BYTES).await?;
            if !status.is_success() {
                return Err(format!("HTTP {}", status.as_u16()));
            }
            if !matches!(media_type.as_str(), "image/jpeg" | "image/png" | "image/webp" | "image/gif") {
                return Err(format!("it is not a JPEG, PNG, WebP or GIF image ({media_type})"));
            }
            Ok(format!("data:{media_type};base64,{}", STANDARD.encode(&body)))
        };
        match select(Box::pin(work), self.platform.runtime.sleep(IMAGE_TIMEOUT)).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(format!("no answer within {} s", IMAGE_TIMEOUT.as_secs())),
        }
    }
}

/// The URL without its query (which may carry a signature or token).
fn shown(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
