//! The OAuth token endpoints: Google's service-account flow for FCM (an
//! RS256 JWT assertion exchanged for an access token) and the WNS
//! client-credentials flow, both Live's (`/accesstoken.srf`) and Azure AD's
//! (`/{tenant}/oauth2/v2.0/token`, what the Windows App SDK uses); and the
//! store of the access tokens they issued.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::request::Parts;
use http::{Method, StatusCode};
use jsonwebtoken::Algorithm;

use crate::capture::CaptureKind;
use crate::reply::{numeric_date, response, unix_now, Outcome};
use crate::server::RequestBody;
use crate::state::Shared;

/// Lifetime of an FCM access token (Google answers 3599 s).
pub(crate) const FCM_TOKEN_TTL: Duration = Duration::from_secs(3599);
/// Lifetime of a WNS access token (24 h).
pub(crate) const WNS_TOKEN_TTL: Duration = Duration::from_secs(86_400);
/// Lifetime of an Azure AD access token: AAD answers `expires_in` 3599 for
/// client-credentials tokens, so a backend that caches by it refreshes
/// hourly, as it would against the real endpoint.
pub(crate) const AAD_TOKEN_TTL: Duration = Duration::from_secs(3599);

const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const FCM_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
];
const WNS_SCOPES: [&str; 2] = ["notify.windows.com", "s.notify.live.net"];
/// The only scope the AAD endpoint grants WNS access for.
const AAD_WNS_SCOPE: &str = "https://wns.windows.com/.default";
/// Longest assertion lifetime Google accepts (`exp - iat`).
const MAX_ASSERTION_LIFETIME: i64 = 3600;
/// Clock skew tolerated on `iat`.
const CLOCK_SKEW: i64 = 300;

/// A token endpoint's answer: a JSON body, a status and, on failure, the
/// OAuth error code recorded as the capture's reason.
fn token_outcome(status: StatusCode, body: serde_json::Value, reason: Option<String>) -> Outcome {
    let headers = [
        (
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        ),
        (
            CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
        ),
    ];
    Outcome {
        kind: CaptureKind::Token,
        response: response(status, headers, body.to_string()),
        reason,
        device: None,
    }
}

fn oauth_error(error: &'static str, description: Cow<'static, str>) -> Outcome {
    token_outcome(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "error": error, "error_description": description }),
        Some(error.to_owned()),
    )
}

/// The form fields of a token request, or the answer when there are none.
fn form(parts: &Parts, body: &RequestBody) -> Result<HashMap<String, String>, Box<Outcome>> {
    if parts.method != Method::POST {
        return Err(Box::new(token_outcome(
            StatusCode::METHOD_NOT_ALLOWED,
            serde_json::json!({ "error": "invalid_request", "error_description": "Only POST is supported." }),
            Some("invalid_request".to_owned()),
        )));
    }
    let RequestBody::Complete(bytes) = body else {
        return Err(Box::new(oauth_error(
            "invalid_request",
            "Request body could not be read.".into(),
        )));
    };
    Ok(form_fields(bytes))
}

fn form_fields(bytes: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Claims of a Google service-account assertion, as the JSON object the
/// token carries: read field by field, so that a claim of the wrong type
/// gets the answer Google gives for that claim, not "Invalid JWT
/// Signature".
type AssertionClaims = serde_json::Map<String, serde_json::Value>;

/// `POST {fcm_token_url}`: exchanges a signed service-account assertion for
/// an access token.
pub(crate) fn fcm_token(shared: &Shared, parts: &Parts, body: &RequestBody) -> Outcome {
    let fields = match form(parts, body) {
        Ok(fields) => fields,
        Err(outcome) => return *outcome,
    };
    match fields.get("grant_type").map(String::as_str) {
        Some(JWT_BEARER_GRANT) => {}
        Some(grant) => {
            return oauth_error(
                "unsupported_grant_type",
                format!("Invalid grant_type: {grant}").into(),
            )
        }
        None => {
            return oauth_error(
                "invalid_request",
                "Missing required parameter: grant_type".into(),
            )
        }
    }
    let Some(assertion) = fields.get("assertion") else {
        return oauth_error(
            "invalid_request",
            "Missing required parameter: assertion".into(),
        );
    };
    if let Err((error, description)) = verify_assertion(shared, assertion) {
        return oauth_error(error, description);
    }
    let token = shared.fcm_tokens.issue("ya29.c.", FCM_TOKEN_TTL);
    token_outcome(
        StatusCode::OK,
        serde_json::json!({
            "access_token": token,
            "expires_in": FCM_TOKEN_TTL.as_secs(),
            "token_type": "Bearer",
        }),
        None,
    )
}

/// Audiences Google's OAuth endpoint accepts besides the configured token URI.
const GOOGLE_TOKEN_AUDIENCES: [&str; 3] = [
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
    "https://accounts.google.com/o/oauth2/token",
];

fn verify_assertion(
    shared: &Shared,
    assertion: &str,
) -> Result<(), (&'static str, Cow<'static, str>)> {
    const BAD_SIGNATURE: &str = "Invalid JWT Signature.";
    let account = &shared.credentials.fcm;
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| ("invalid_grant", Cow::Borrowed(BAD_SIGNATURE)))?;
    if header.alg != Algorithm::RS256 {
        return Err(("invalid_grant", BAD_SIGNATURE.into()));
    }
    if header
        .kid
        .as_deref()
        .is_some_and(|kid| kid != account.private_key_id)
    {
        return Err(("invalid_grant", BAD_SIGNATURE.into()));
    }
    let claims = jsonwebtoken::decode::<AssertionClaims>(
        assertion,
        &account.verifying,
        &shared.fcm_validation,
    )
    .map_err(|_| ("invalid_grant", Cow::Borrowed(BAD_SIGNATURE)))?
    .claims;
    let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
    if text("iss") != Some(account.client_email.as_str()) {
        return Err(("invalid_grant", "Invalid grant: account not found".into()));
    }
    // Google accepts its token endpoint's canonical URLs as the audience,
    // and some clients (google-auth-library for Node, which firebase-admin
    // uses) sign for `https://oauth2.googleapis.com/token` whatever the
    // key file's `token_uri` says; a client rerouted to the mock at the
    // socket level still signs for Google's URL.
    let expected =
        |aud: &str| aud == shared.urls.fcm_token || GOOGLE_TOKEN_AUDIENCES.contains(&aud);
    let audience_ok = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => expected(aud),
        Some(serde_json::Value::Array(auds)) => {
            auds.iter().filter_map(|a| a.as_str()).any(expected)
        }
        _ => false,
    };
    if !audience_ok {
        return Err((
            "invalid_grant",
            format!(
                "Invalid JWT: Failed audience check. The expected value was {}.",
                shared.urls.fcm_token
            )
            .into(),
        ));
    }
    let now = unix_now();
    // NumericDate (RFC 7519 §2): any JSON number, fractions included
    // (Python clients sign `time.time()`); Google serves those.
    let date = |name: &str| claims.get(name).and_then(numeric_date);
    let timeframe_ok = match (date("iat"), date("exp")) {
        (Some(iat), Some(exp)) => {
            exp > now && iat <= now + CLOCK_SKEW && exp > iat && exp - iat <= MAX_ASSERTION_LIFETIME
        }
        _ => false,
    };
    if !timeframe_ok {
        return Err((
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. \
             Check your iat and exp values in the JWT claim."
                .into(),
        ));
    }
    let scope_ok = text("scope")
        .is_some_and(|scope| scope.split_whitespace().any(|s| FCM_SCOPES.contains(&s)));
    if !scope_ok {
        return Err((
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.".into(),
        ));
    }
    Ok(())
}

/// `POST /accesstoken.srf`: the WNS client-credentials flow.
pub(crate) fn wns_token(shared: &Shared, parts: &Parts, body: &RequestBody) -> Outcome {
    let fields = match form(parts, body) {
        Ok(fields) => fields,
        Err(outcome) => return *outcome,
    };
    let field = |name: &str| fields.get(name).map(String::as_str);
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                "unsupported_grant_type",
                "The provided value for the input parameter 'grant_type' is not valid.".into(),
            )
        }
        None => {
            return oauth_error(
                "invalid_request",
                "The request is missing the 'grant_type' parameter.".into(),
            )
        }
    }
    if field("client_id") != Some(shared.config.wns_client_id.as_str())
        || field("client_secret") != Some(shared.credentials.wns_client_secret.as_str())
    {
        return oauth_error(
            "invalid_client",
            "Invalid client id or client secret.".into(),
        );
    }
    if !field("scope").is_some_and(|scope| WNS_SCOPES.contains(&scope)) {
        return oauth_error(
            "invalid_scope",
            "The provided value for the input parameter 'scope' is not valid.".into(),
        );
    }
    let token = shared.wns_tokens.issue("EgA", WNS_TOKEN_TTL);
    token_outcome(
        StatusCode::OK,
        serde_json::json!({
            "token_type": "bearer",
            "access_token": token,
            "expires_in": WNS_TOKEN_TTL.as_secs(),
        }),
        None,
    )
}

/// An Azure AD error: `{"error", "error_description", "error_codes",
/// "timestamp", "trace_id", "correlation_id", "error_uri"}`, the
/// description prefixed with its `AADSTS` code and followed by the trace
/// lines AAD appends (clients log it whole, so it should read like AAD's).
fn aad_error(error: &'static str, code: u32, description: &str) -> Outcome {
    // AAD answers 401 for a client it cannot authenticate, 400 otherwise.
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let trace_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let correlation_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let timestamp = aad_timestamp(time::OffsetDateTime::now_utc());
    token_outcome(
        status,
        serde_json::json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: \
                 {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
        Some(error.to_owned()),
    )
}

/// The client id and secret of an `Authorization: Basic` header, each
/// form-decoded as RFC 6749 §2.3.1 has clients encode them.
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// AAD's timestamp shape, `2024-05-01 12:34:56Z`. Built by hand: the
/// `time` crate's formatting feature is not enabled for this crate.
fn aad_timestamp(now: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// `POST /{tenant}/oauth2/v2.0/token` on the WNS gateway: Azure AD's
/// client-credentials flow, as the Windows App SDK's push API needs. It
/// takes the same client id and secret as `/accesstoken.srf` and issues
/// tokens into the same store, so the push endpoint treats both alike.
pub(crate) fn wns_aad_token(
    shared: &Shared,
    parts: &Parts,
    body: &RequestBody,
    tenant: &str,
) -> Outcome {
    if parts.method != Method::POST {
        return aad_error(
            "invalid_request",
            900_561,
            &format!(
                "The endpoint only accepts POST, OPTIONS requests. Received a {} request.",
                parts.method
            ),
        );
    }
    // An unreadable body is, to AAD, one without parameters.
    let fields = match body {
        RequestBody::Complete(bytes) => form_fields(bytes),
        _ => HashMap::new(),
    };
    // client_secret_basic (RFC 6749 §2.3.1): AAD takes the client id and
    // secret in `Authorization: Basic` as well as in the body ("The Basic
    // auth pattern of instead providing credentials in the Authorization
    // header, per RFC 6749 is also supported", Microsoft identity platform,
    // client credentials flow). The body's values, when sent, come first.
    let basic = basic_credentials(parts);
    let field = |name: &str| {
        fields.get(name).map(String::as_str).or_else(|| {
            basic.as_ref().and_then(|(id, secret)| match name {
                "client_id" => Some(id.as_str()),
                "client_secret" => Some(secret.as_str()),
                _ => None,
            })
        })
    };
    let missing = |name: &str| {
        aad_error(
            "invalid_request",
            900_144,
            &format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(grant) => {
            return aad_error(
                "unsupported_grant_type",
                70_003,
                &format!("The app requested an unsupported grant type '{grant}'."),
            )
        }
        None => return missing("grant_type"),
    }
    let Some(client_id) = field("client_id") else {
        return missing("client_id");
    };
    let Some(scope) = field("scope") else {
        return missing("scope");
    };
    if client_id != shared.config.wns_client_id {
        // Not invalid_client: AAD cannot tell the app exists at all.
        return aad_error(
            "unauthorized_client",
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{tenant}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You may \
                 have sent your authentication request to the wrong tenant."
            ),
        );
    }
    match field("client_secret") {
        Some(secret) if secret == shared.credentials.wns_client_secret => {}
        Some(_) => {
            return aad_error(
                "invalid_client",
                7_000_215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request \
                     is the client secret value, not the client secret ID, for a secret added to \
                     app '{client_id}'."
                ),
            )
        }
        None => {
            return aad_error(
                "invalid_client",
                7_000_218,
                "The request body must contain the following parameter: 'client_assertion' or \
                 'client_secret'.",
            )
        }
    }
    if scope != AAD_WNS_SCOPE {
        // A Live-style scope (`notify.windows.com`) is the usual mistake
        // when moving to AAD; AAD names the missing `/.default` for it.
        return if scope.ends_with("/.default") {
            aad_error(
                "invalid_scope",
                70_011,
                &format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope \
                     {scope} is not valid."
                ),
            )
        } else {
            aad_error(
                "invalid_scope",
                1_002_012,
                &format!(
                    "The provided value for scope {scope} is not valid. Client credential flows \
                     must have a scope value with /.default suffixed to the resource identifier \
                     (application ID URI)."
                ),
            )
        };
    }
    let token = shared
        .wns_tokens
        .issue("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.", AAD_TOKEN_TTL);
    token_outcome(
        StatusCode::OK,
        serde_json::json!({
            "token_type": "Bearer",
            "expires_in": AAD_TOKEN_TTL.as_secs(),
            "ext_expires_in": AAD_TOKEN_TTL.as_secs(),
            "access_token": token,
        }),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_timestamp_has_aads_shape() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_714_566_896)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(aad_timestamp(at), "2024-05-01 12:34:56Z");
    }
}
