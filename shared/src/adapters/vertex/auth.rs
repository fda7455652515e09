//! Service-account auth, as pure functions: the signed JWT assertion, the token request, and
//! reading the token response. The gateway sends the request and caches the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use crate::config::VertexAccount;

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Lifetime asked for each assertion (Google's maximum).
const ASSERTION_SECS: u64 = 3600;

/// The RS256-signed JWT that proves the service account, valid from `now_secs`.
pub fn assertion(account: &VertexAccount, now_secs: u64) -> Result<String, String> {
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "typ": "JWT" }).to_string());
    let claims = URL_SAFE_NO_PAD.encode(
        json!({
            "iss": account.client_email,
            "scope": SCOPE,
            "aud": account.token_uri,
            "iat": now_secs,
            "exp": now_secs + ASSERTION_SECS,
        })
        .to_string(),
    );
    let signing_input = format!("{header}.{claims}");
    let key = RsaPrivateKey::from_pkcs8_pem(account.private_key.expose())
        .map_err(|_| "the service account's private_key is not a valid PKCS#8 RSA key".to_owned())?;
    let signature = SigningKey::<Sha256>::new(key).sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
}

/// The token exchange: `POST token_uri` with the assertion as a form.
pub fn token_request(account: &VertexAccount, assertion: &str) -> Result<http::Request<Bytes>, String> {
    let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
    http::Request::post(account.token_uri.as_str())
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Bytes::from(form))
        .map_err(|e| e.to_string())
}

/// `(access_token, expires_in seconds)` from the token endpoint's answer.
pub fn parse_token(body: &[u8]) -> Result<(String, u64), String> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "the token endpoint did not answer JSON".to_owned())?;
    if let Some(error) = value.get("error") {
        let detail = value.get("error_description").and_then(Value::as_str).unwrap_or("");
        return Err(format!(
            "the token endpoint refused the service account: {} {detail}",
            error.as_str().unwrap_or("error")
        ));
    }
    let token = value.get("access_token").and_then(Value::as_str).ok_or("no access_token in the token answer")?;
    let expires = value.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
    Ok((token.to_owned(), expires))
}
