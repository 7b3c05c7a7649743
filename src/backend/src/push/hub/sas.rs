//! Shared access signatures for the Notification Hub's REST API, made as
//! the Azure SDKs make them: `SharedAccessSignature sr=<url-encoded,
//! lowercase resource>&sig=<url-encoded base64 HMAC-SHA256>&se=<expiry,
//! Unix seconds>&skn=<rule name>`, the HMAC keyed by the UTF-8 bytes of
//! the rule's key text (not its base64-decoded bytes) over the encoded
//! resource, a newline and the expiry. The resource is the namespace URL
//! with its trailing slash, which covers every hub and operation in it.
//!
//! A token lives an hour and is reused by every request until five
//! minutes before it expires: one HMAC an hour, not one per push.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// How long a token is valid.
pub(crate) const LIFETIME_S: u64 = 3600;
/// A token is replaced this long before it expires, so one never reaches
/// the hub expired (a request can take a while, and clocks drift).
pub(crate) const RENEW_BEFORE_S: u64 = 300;

/// Signs a token for `resource` valid until `expiry` (Unix seconds).
pub(crate) fn sign(resource: &str, key_name: &str, key: &str, expiry: u64) -> String {
    let sr = encode(&resource.to_ascii_lowercase());
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(sr.as_bytes());
    mac.update(b"\n");
    mac.update(expiry.to_string().as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    format!(
        "SharedAccessSignature sr={sr}&sig={}&se={expiry}&skn={}",
        encode(&sig),
        encode(key_name)
    )
}

/// URL-encoding as `encodeURIComponent` does it for these inputs (URLs,
/// base64 and rule names): `:`, `/`, `+`, `=` and the like become `%XX`.
fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The rule a backend signs with, and the token in use.
pub(crate) struct Signer {
    resource: String,
    key_name: String,
    key: String,
    current: RwLock<Option<(Arc<str>, u64)>>,
}

impl Signer {
    /// Signs for `resource` (the namespace URL, `https://host/`).
    pub(crate) fn new(resource: String, key_name: String, key: String) -> Signer {
        Signer {
            resource,
            key_name,
            key,
            current: RwLock::new(None),
        }
    }

    /// The token to send at `now` (Unix seconds): the cached one while it
    /// has more than [`RENEW_BEFORE_S`] to live, else a new one.
    pub(crate) fn token(&self, now: u64) -> Arc<str> {
        let fresh = |current: &Option<(Arc<str>, u64)>| {
            current
                .as_ref()
                .filter(|(_, expiry)| now + RENEW_BEFORE_S < *expiry && *expiry <= now + LIFETIME_S)
                .map(|(token, _)| Arc::clone(token))
        };
        if let Some(token) = fresh(&self.read()) {
            return token;
        }
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another request may have renewed it meanwhile.
        if let Some(token) = fresh(&current) {
            return token;
        }
        let expiry = now + LIFETIME_S;
        let token: Arc<str> = sign(&self.resource, &self.key_name, &self.key, expiry).into();
        *current = Some((Arc::clone(&token), expiry));
        token
    }

    /// The hub refused `stale` (401): sign anew next time, unless another
    /// request has already replaced it.
    pub(crate) fn refused(&self, stale: &str) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_some_and(|(t, _)| &**t == stale) {
            *current = None;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<(Arc<str>, u64)>> {
        // Only whole values are stored: a poisoned lock still holds one.
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &str = "Zm9vYmFyLWtleS10ZXh0LWZvci10aGUtcnVsZS0xMjM0NTY3OA==";

    /// The fields of a token, still encoded.
    fn fields(token: &str) -> std::collections::HashMap<String, String> {
        token
            .strip_prefix("SharedAccessSignature ")
            .unwrap()
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn a_token_has_the_sdks_shape_and_the_key_text_keys_the_hmac() {
        let token = sign("HTTPS://NS.example/", "DefaultFull", KEY, 1_700_003_600);
        let f = fields(&token);
        assert_eq!(f["sr"], "https%3A%2F%2Fns.example%2F");
        assert_eq!(f["se"], "1700003600");
        assert_eq!(f["skn"], "DefaultFull");
        // Recompute the HMAC independently: key = the key's text.
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(b"https%3A%2F%2Fns.example%2F\n1700003600");
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        let sig: String = form_urlencoded::parse(format!("s={}", f["sig"]).as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        assert_eq!(sig, expected);
        assert!(!f["sig"].contains('+') && !f["sig"].contains('/'));
    }

    #[test]
    fn the_token_is_reused_then_renewed_before_it_expires() {
        let signer = Signer::new("https://ns/".into(), "R".into(), KEY.into());
        let t0 = 1_700_000_000;
        let first = signer.token(t0);
        assert_eq!(fields(&first)["se"], (t0 + LIFETIME_S).to_string());
        let last_reuse = t0 + LIFETIME_S - RENEW_BEFORE_S - 1;
        assert_eq!(signer.token(last_reuse), first);
        let second = signer.token(last_reuse + 1);
        assert_ne!(second, first);
        assert_eq!(
            fields(&second)["se"],
            (last_reuse + 1 + LIFETIME_S).to_string()
        );
        // A clock that went back by more than a lifetime gets a new one.
        assert_ne!(signer.token(t0 - LIFETIME_S), second);
    }

    #[test]
    fn a_refused_token_is_replaced_once() {
        let signer = Signer::new("https://ns/".into(), "R".into(), KEY.into());
        let first = signer.token(1_000);
        signer.refused("another token");
        assert_eq!(signer.token(1_000), first);
        signer.refused(&first);
        let second = signer.token(1_001);
        assert_ne!(second, first);
    }
}
