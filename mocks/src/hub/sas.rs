//! Shared access signature authentication, as Service Bus and Notification
//! Hubs check it. The header is
//! `SharedAccessSignature sr=<url-encoded lowercase resource>&sig=<url-encoded
//! base64 HMAC-SHA256>&se=<expiry, Unix seconds>&skn=<rule name>`; the HMAC
//! is keyed by the UTF-8 bytes of the key *text* (not base64-decoded) and
//! computed over `sr + "\n" + se`, `sr` as it appears in the token (Azure
//! docs, "Service Bus access control with Shared Access Signatures";
//! `@azure/notification-hubs` `auth/sasTokenCredential.ts`). The resource
//! is a prefix of the request URL: the JS SDK signs the namespace URL with
//! its trailing slash, others sign the hub's or the operation's URL.
//!
//! A verified token is cached by its text, so a backend that reuses one
//! token (every SDK does, for up to an hour) costs one HMAC, then a map
//! lookup, an expiry check and a prefix comparison per request.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use http::header::AUTHORIZATION;
use http::HeaderMap;
use percent_encoding::percent_decode_str;
use sha2::Sha256;

use super::error::HubError;
use super::namespace::{Namespace, Rights};

/// Tokens kept verified; the cache is emptied when it fills, which only a
/// client minting a token per request would cause.
const CACHE_LIMIT: usize = 4096;

/// Why a request was not authorized. Each maps to the service's own
/// status and detail (see [`SasError::into_hub_error`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SasError {
    /// No `Authorization` header.
    Missing,
    /// Not a `SharedAccessSignature` token with `sr`, `sig`, `se`, `skn`.
    Malformed,
    /// `skn` names no rule of the namespace.
    UnknownKeyName,
    /// The signature does not match the rule's key.
    Signature,
    /// `se` is in the past.
    Expired { expiry: i64 },
    /// `sr` is not a prefix of the request URL.
    Audience,
    /// The rule lacks a right the operation needs.
    Rights { needed: Rights },
}

impl SasError {
    /// The service's answer: 401 for every case, the Service Bus sub-code
    /// in the detail (40103 invalid signature, 40104 invalid audience,
    /// 40100 claims missing; `ExpiredToken` and `MissingToken` as the
    /// service words them).
    pub(crate) fn into_hub_error(self, resource: &str) -> HubError {
        let detail = match self {
            SasError::Missing => "MissingToken: The authorization header was not found.".to_owned(),
            SasError::Malformed => "MalformedToken: The credentials contained in the \
                 authorization header are not in the SharedAccessSignature format."
                .to_owned(),
            SasError::UnknownKeyName => format!(
                "40103: Invalid authorization token signature: the key name is not an \
                 authorization rule of this namespace. Resource:{resource}."
            ),
            SasError::Signature => {
                format!("40103: Invalid authorization token signature. Resource:{resource}.")
            }
            SasError::Expired { expiry } => format!(
                "ExpiredToken: The token is expired. Expiration time: '{}'.",
                expiry_text(expiry)
            ),
            SasError::Audience => {
                format!("40104: Invalid authorization token audience. Resource:{resource}.")
            }
            SasError::Rights { needed } => format!(
                "40100: Unauthorized : Unauthorized access. '{}' claim(s) are required to \
                 perform this operation. Resource: '{resource}'.",
                needed.claim()
            ),
        };
        HubError::unauthorized(detail)
    }
}

fn expiry_text(expiry: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(expiry)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| expiry.to_string())
}

/// What a verified token grants.
#[derive(Clone, Debug)]
struct Verified {
    rights: Rights,
    expiry: i64,
    /// The decoded, lowercased resource without its scheme.
    resource: Box<str>,
}

/// The request a token must cover.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    /// The host the request was sent to (`Host` or `:authority`).
    pub(crate) host: &'a str,
    /// The request path.
    pub(crate) path: &'a str,
    /// The right the operation needs.
    pub(crate) needed: Rights,
    /// Unix seconds.
    pub(crate) now: i64,
}

/// Verifies tokens against a namespace's rules, caching verified ones.
#[derive(Debug, Default)]
pub(crate) struct SasVerifier {
    cache: Mutex<HashMap<Box<str>, Verified>>,
}

impl SasVerifier {
    /// Authorizes a request by its headers.
    pub(crate) fn authorize(
        &self,
        namespace: &Namespace,
        headers: &HeaderMap,
        target: Target<'_>,
    ) -> Result<(), SasError> {
        let value = headers.get(AUTHORIZATION).ok_or(SasError::Missing)?;
        let text = std::str::from_utf8(value.as_bytes()).map_err(|_| SasError::Malformed)?;
        let token = sas_token(text).ok_or(SasError::Malformed)?;
        let cached = self.lock().get(token).cloned();
        let verified = match cached {
            Some(verified) => verified,
            None => {
                let verified = verify(namespace, token)?;
                let mut cache = self.lock();
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(token.into(), verified.clone());
                verified
            }
        };
        if verified.expiry <= target.now {
            return Err(SasError::Expired {
                expiry: verified.expiry,
            });
        }
        if !covers(&verified.resource, target.host, target.path) {
            return Err(SasError::Audience);
        }
        if !verified.rights.grants(target.needed) {
            return Err(SasError::Rights {
                needed: target.needed,
            });
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Verified>> {
        // Inserts and clears only: a poisoned map is still consistent.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The token after the `SharedAccessSignature` scheme (compared
/// case-insensitively, as HTTP auth schemes are).
fn sas_token(header: &str) -> Option<&str> {
    let header = header.trim();
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("SharedAccessSignature")
        .then(|| token.trim())
}

/// The fields of a token, as sent (still URL-encoded).
struct Fields<'a> {
    sr: &'a str,
    sig: &'a str,
    se: &'a str,
    skn: &'a str,
}

fn fields(token: &str) -> Option<Fields<'_>> {
    let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
    for pair in token.split('&') {
        let (name, value) = pair.split_once('=')?;
        let slot = match name {
            "sr" => &mut sr,
            "sig" => &mut sig,
            "se" => &mut se,
            "skn" => &mut skn,
            // Unknown fields are ignored, as the service does.
            _ => continue,
        };
        *slot = Some(value);
    }
    Some(Fields {
        sr: sr?,
        sig: sig?,
        se: se?,
        skn: skn?,
    })
}

/// Checks a token's signature with its rule's key; expiry, audience and
/// rights are checked per request.
fn verify(namespace: &Namespace, token: &str) -> Result<Verified, SasError> {
    let fields = fields(token).ok_or(SasError::Malformed)?;
    let expiry: i64 = fields.se.trim().parse().map_err(|_| SasError::Malformed)?;
    let key_name = percent_decode_str(fields.skn).decode_utf8_lossy();
    let rule = namespace.rule(&key_name).ok_or(SasError::UnknownKeyName)?;
    let sig = percent_decode_str(fields.sig).decode_utf8_lossy();
    let sig = STANDARD
        .decode(sig.trim())
        .map_err(|_| SasError::Signature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(rule.key.as_bytes()).map_err(|_| SasError::Signature)?;
    mac.update(fields.sr.as_bytes());
    mac.update(b"\n");
    mac.update(fields.se.as_bytes());
    // Constant time, as a real verifier must be.
    mac.verify_slice(&sig).map_err(|_| SasError::Signature)?;
    let resource = percent_decode_str(fields.sr)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    Ok(Verified {
        rights: rule.rights,
        expiry,
        resource: strip_scheme(&resource).into(),
    })
}

/// The resource without `https://`, `http://` or `sb://`: the SDKs sign
/// the https URL, older samples the `sb://` endpoint, and a plaintext
/// mock is reached over http.
fn strip_scheme(resource: &str) -> &str {
    ["https://", "http://", "sb://"]
        .iter()
        .find_map(|scheme| resource.strip_prefix(scheme))
        .unwrap_or(resource)
}

/// Whether `resource` (lowercase, without scheme) is a prefix of
/// `host` + `path`, compared case-insensitively; a resource naming the
/// host without the default port covers a host sent with `:443`.
fn covers(resource: &str, host: &str, path: &str) -> bool {
    let host = host.strip_suffix(":443").unwrap_or(host);
    let url = host.bytes().chain(path.bytes());
    let mut n = 0;
    for (r, u) in resource.bytes().zip(url) {
        if r != u.to_ascii_lowercase() {
            return false;
        }
        n += 1;
    }
    n == resource.len()
}

/// A token as the SDKs make one, for tests and the hub's own examples:
/// `sr` is the lowercased, URL-encoded `resource`.
#[cfg(test)]
pub(crate) fn sign(resource: &str, key_name: &str, key: &str, expiry: i64) -> String {
    let enc = |s: &str| -> String {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let sr = enc(&resource.to_ascii_lowercase());
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{sr}\n{expiry}").as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    format!(
        "SharedAccessSignature sr={sr}&sig={}&se={expiry}&skn={key_name}",
        enc(&sig)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::hub::namespace::{FULL_RULE, LISTEN_RULE};
    use http::HeaderValue;

    const NOW: i64 = 1_700_000_000;

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(token).unwrap());
        h
    }

    fn target(needed: Rights) -> Target<'static> {
        Target {
            host: "127.0.0.1:9443",
            path: "/hub/messages/",
            needed,
            now: NOW,
        }
    }

    fn check(ns: &Namespace, token: &str, needed: Rights) -> Result<(), SasError> {
        SasVerifier::default().authorize(ns, &headers(token), target(needed))
    }

    fn full_key(ns: &Namespace) -> String {
        ns.rule(FULL_RULE).unwrap().key.clone()
    }

    #[test]
    fn a_token_for_the_namespace_url_authorizes_and_is_cached() {
        let ns = Namespace::generate("hub");
        let token = sign(
            "https://127.0.0.1:9443/",
            FULL_RULE,
            &full_key(&ns),
            NOW + 60,
        );
        let verifier = SasVerifier::default();
        for _ in 0..2 {
            verifier
                .authorize(&ns, &headers(&token), target(Rights::SEND))
                .unwrap();
        }
        assert_eq!(verifier.lock().len(), 1);
        // The hub's and the operation's own URL are prefixes too, and the
        // scheme may be sb:// or upper case.
        for resource in [
            "https://127.0.0.1:9443/hub",
            "HTTPS://127.0.0.1:9443/HUB/messages/",
            "sb://127.0.0.1:9443/",
        ] {
            let token = sign(resource, FULL_RULE, &full_key(&ns), NOW + 60);
            assert_eq!(check(&ns, &token, Rights::SEND), Ok(()), "{resource}");
        }
    }

    #[test]
    fn the_key_text_not_its_decoded_bytes_keys_the_hmac() {
        let ns = Namespace::generate("hub");
        let key = full_key(&ns);
        let decoded = STANDARD.decode(&key).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&decoded).unwrap();
        let sr = "https%3A%2F%2F127.0.0.1%3A9443%2F";
        mac.update(format!("{sr}\n{}", NOW + 60).as_bytes());
        let sig = STANDARD.encode(mac.finalize().into_bytes());
        let token = format!(
            "SharedAccessSignature sr={sr}&sig={}&se={}&skn={FULL_RULE}",
            sig.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D"),
            NOW + 60
        );
        assert_eq!(check(&ns, &token, Rights::SEND), Err(SasError::Signature));
    }

    #[test]
    fn a_missing_header_is_rejected() {
        let ns = Namespace::generate("hub");
        let result = SasVerifier::default().authorize(&ns, &HeaderMap::new(), target(Rights::SEND));
        assert_eq!(result, Err(SasError::Missing));
    }

    #[test]
    fn a_malformed_token_is_rejected() {
        let ns = Namespace::generate("hub");
        for token in [
            "Bearer abc",
            "SharedAccessSignature sr=x&sig=y&se=1",
            "SharedAccessSignature sr=x&sig=y&se=soon&skn=DefaultFullSharedAccessSignature",
            "SharedAccessSignature garbage",
        ] {
            assert_eq!(
                check(&ns, token, Rights::SEND),
                Err(SasError::Malformed),
                "{token}"
            );
        }
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let ns = Namespace::generate("hub");
        let token = sign("https://127.0.0.1:9443/", FULL_RULE, &full_key(&ns), NOW);
        assert_eq!(
            check(&ns, &token, Rights::SEND),
            Err(SasError::Expired { expiry: NOW })
        );
    }

    #[test]
    fn a_wrong_signature_is_rejected() {
        let ns = Namespace::generate("hub");
        let token = sign(
            "https://127.0.0.1:9443/",
            FULL_RULE,
            "not-the-key",
            NOW + 60,
        );
        assert_eq!(check(&ns, &token, Rights::SEND), Err(SasError::Signature));
    }

    #[test]
    fn an_unknown_key_name_is_rejected() {
        let ns = Namespace::generate("hub");
        let token = sign(
            "https://127.0.0.1:9443/",
            "RootManageSharedAccessKey",
            &full_key(&ns),
            NOW + 60,
        );
        assert_eq!(
            check(&ns, &token, Rights::SEND),
            Err(SasError::UnknownKeyName)
        );
    }

    #[test]
    fn a_token_for_another_resource_is_rejected() {
        let ns = Namespace::generate("hub");
        for resource in [
            "https://127.0.0.1:9444/",
            "https://127.0.0.1:9443/otherhub",
            "https://127.0.0.1:9443/hub/messages/extra",
        ] {
            let token = sign(resource, FULL_RULE, &full_key(&ns), NOW + 60);
            assert_eq!(
                check(&ns, &token, Rights::SEND),
                Err(SasError::Audience),
                "{resource}"
            );
        }
    }

    #[test]
    fn a_listen_key_cannot_send_or_manage() {
        let ns = Namespace::generate("hub");
        let key = ns.rule(LISTEN_RULE).unwrap().key.clone();
        let token = sign("https://127.0.0.1:9443/", LISTEN_RULE, &key, NOW + 60);
        assert_eq!(check(&ns, &token, Rights::LISTEN), Ok(()));
        for needed in [Rights::SEND, Rights::MANAGE] {
            assert_eq!(check(&ns, &token, needed), Err(SasError::Rights { needed }));
        }
    }

    #[test]
    fn every_rejection_is_a_401_with_the_service_wording() {
        let cases = [
            (SasError::Missing, "MissingToken"),
            (SasError::Malformed, "MalformedToken"),
            (SasError::UnknownKeyName, "40103"),
            (SasError::Signature, "40103"),
            (SasError::Expired { expiry: NOW }, "ExpiredToken"),
            (SasError::Audience, "40104"),
            (
                SasError::Rights {
                    needed: Rights::SEND,
                },
                "'Send' claim(s) are required",
            ),
        ];
        for (error, words) in cases {
            let e = error.into_hub_error("sb://x/hub");
            assert_eq!(e.status, http::StatusCode::UNAUTHORIZED);
            assert!(e.detail.contains(words), "{}", e.detail);
        }
    }
}
