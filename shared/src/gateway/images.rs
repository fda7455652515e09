//! Fetching http(s) image URLs of a request so they can be inlined for upstreams that cannot
//! fetch them (see `adapters::images`). The gateway fetches on a client's behalf, so it is
//! careful where it connects: public addresses only (after resolution, by the host) unless
//! `preferences.image_fetch_allow` says otherwise, at most `MAX_IMAGE_URLS` images and
//! `MAX_IMAGE_BYTES` in all, within the request's time left (at most `IMAGE_TIMEOUT`). Every
//! failure is one generic 400, found before any upstream call: a client cannot tell a closed port
//! from a refused address or a 404 (the detail goes to the debug log).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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
use crate::log_text::LogText;
use crate::platform::SendOptions;

const IMAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// All of one request's images together.
const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;
const MAX_IMAGE_URLS: usize = 16;

impl Inner {
    /// `body` with the given remote image URLs fetched and inlined as data URLs, within `wait`.
    pub(super) async fn inline_images(
        &self,
        body: &RawObject,
        urls: &[String],
        wait: Duration,
    ) -> Result<RawObject, GatewayError> {
        if urls.len() > MAX_IMAGE_URLS {
            return Err(GatewayError::BadRequest(format!(
                "this request has {} image URLs to fetch; at most {MAX_IMAGE_URLS} are fetched per request (send more as data URLs)",
                urls.len()
            )));
        }
        // Which URL is being fetched, to name it if time runs out.
        let next = AtomicUsize::new(0);
        let work = async {
            let mut data_urls = HashMap::new();
            let mut left = MAX_IMAGE_BYTES;
            for url in urls {
                let (data, size) = self.fetch_image(url, left).await.map_err(|detail| (url, detail))?;
                left -= size;
                data_urls.insert(url.clone(), data);
                next.fetch_add(1, Ordering::Relaxed);
            }
            Ok(data_urls)
        };
        let budget = wait.min(IMAGE_TIMEOUT);
        let outcome = match select(Box::pin(work), self.platform.runtime.sleep(budget)).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(_) => Err((
                &urls[next.load(Ordering::Relaxed).min(urls.len() - 1)],
                format!("not fetched within {} s", budget.as_secs_f64()),
            )),
        };
        let data_urls = outcome.map_err(|(url, detail)| {
            tracing::debug!(url = %LogText(shown(url)), detail = %LogText(&detail), "image URL not fetched");
            GatewayError::BadRequest(format!(
                "the image at {} could not be fetched: an image URL must be a public http(s) address answering in time with a JPEG, PNG, WebP or GIF image (at most {} MB for all of a request's images)",
                shown(url),
                MAX_IMAGE_BYTES / (1024 * 1024)
            ))
        })?;
        with_inlined_images(body, &data_urls).map_err(GatewayError::Internal)
    }

    /// One image as a data URL and its size, at most `limit` bytes.
    async fn fetch_image(&self, url: &str, limit: usize) -> Result<(String, usize), String> {
        let request = http::Request::get(url).body(Bytes::new()).map_err(|_| "not a valid URL".to_owned())?;
        let destinations = &self.config.global.image_destinations;
        let host = request.uri().host().unwrap_or_default();
        if !destinations.allows_url_host(host) {
            return Err(format!("{host} is not a public address"));
        }
        let options =
            SendOptions { proxy: self.config.global.proxy.clone(), destinations: Some(Arc::clone(destinations)) };
        let response = self.platform.http.send(request, options).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let media_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        if !matches!(media_type.as_str(), "image/jpeg" | "image/png" | "image/webp" | "image/gif") {
            return Err(format!("not a JPEG, PNG, WebP or GIF image ({media_type})"));
        }
        let body = collect(response.into_body(), limit).await?;
        Ok((format!("data:{media_type};base64,{}", STANDARD.encode(&body)), body.len()))
    }
}

/// The URL without its query (which may carry a signature or token).
fn shown(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
