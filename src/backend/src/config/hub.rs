//! The Notification Hub settings: `PUSHPROOF_NH_CONNECTION_STRING` (as the
//! Azure portal shows it, `Endpoint=sb://<namespace host>/;
//! SharedAccessKeyName=<rule>;SharedAccessKey=<key>`) and
//! `PUSHPROOF_NH_HUB`, parsed once into the origin the REST calls go to,
//! the hub's name and the rule's key.
//!
//! The SDKs turn the `sb://` endpoint into `https://`; so does this
//! backend. `UseDevelopmentEmulator=true`, the convention of Azure's local
//! emulators (Service Bus, Event Hubs), says the endpoint speaks plain
//! HTTP: the mock hub adds it to its connection string when it runs
//! without TLS.

use std::fmt;

/// Where and as whom the backend calls the hub.
#[derive(Clone)]
pub struct HubConfig {
    /// `https://<namespace host>` (`http://` for a development emulator),
    /// without a trailing `/`.
    pub origin: String,
    /// The hub's name, `PUSHPROOF_NH_HUB`: the first path segment of
    /// every call.
    pub hub: String,
    /// `SharedAccessKeyName`: the authorization rule the tokens name.
    pub key_name: String,
    /// `SharedAccessKey`: its text keys the HMAC of each token (the
    /// UTF-8 bytes as written, not base64-decoded).
    pub key: String,
}

impl fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubConfig")
            .field("origin", &self.origin)
            .field("hub", &self.hub)
            .field("key_name", &self.key_name)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl HubConfig {
    /// Parses a connection string and a hub name; the error names the
    /// variable and says which part is wrong (never the key).
    pub fn parse(connection_string: &str, hub: &str) -> Result<HubConfig, (&'static str, String)> {
        let hub = hub.trim();
        if !valid_hub_name(hub) {
            return Err((
                HUB_VARIABLE,
                format!(
                    "the hub name {:?} is not 1-260 of A-Z a-z 0-9 . _ -",
                    printable(hub)
                ),
            ));
        }
        let mut config =
            parse_connection_string(connection_string).map_err(|e| (CONNECTION_VARIABLE, e))?;
        config.hub = hub.to_owned();
        Ok(config)
    }
}

/// The variables, for errors.
const CONNECTION_VARIABLE: &str = "PUSHPROOF_NH_CONNECTION_STRING";
const HUB_VARIABLE: &str = "PUSHPROOF_NH_HUB";

/// The endpoint and the rule of a connection string (the hub is set by
/// the caller).
fn parse_connection_string(connection_string: &str) -> Result<HubConfig, String> {
    let (mut endpoint, mut key_name, mut key, mut emulator) = (None, None, None, false);
    for part in connection_string.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        // The key is base64 and may end in `=`: split at the first.
        let (name, value) = part
            .split_once('=')
            .ok_or("a part of it is not Name=Value")?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "endpoint" => endpoint = Some(value),
            "sharedaccesskeyname" => key_name = Some(value),
            "sharedaccesskey" => key = Some(value),
            "usedevelopmentemulator" => emulator = value.eq_ignore_ascii_case("true"),
            // EntityPath and the like name nothing this backend uses.
            _ => {}
        }
    }
    let endpoint = endpoint
        .filter(|v| !v.is_empty())
        .ok_or("it has no Endpoint")?;
    let key_name = key_name
        .filter(|v| !v.is_empty())
        .ok_or("it has no SharedAccessKeyName")?;
    let key = key
        .filter(|v| !v.is_empty())
        .ok_or("it has no SharedAccessKey")?;
    Ok(HubConfig {
        origin: origin(endpoint, emulator)?,
        hub: String::new(),
        key_name: key_name.to_owned(),
        key: key.to_owned(),
    })
}

/// `sb://host[:port]/` → `https://host[:port]` (`http://` for an
/// emulator); an `https://` or `http://` endpoint is taken as written.
fn origin(endpoint: &str, emulator: bool) -> Result<String, String> {
    let lower = endpoint.to_ascii_lowercase();
    let (scheme, rest) = if let Some(rest) = lower.strip_prefix("sb://") {
        (if emulator { "http" } else { "https" }, rest)
    } else if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err(format!(
            "the Endpoint {:?} is not an sb:// URL",
            printable(endpoint)
        ));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let uri = format!("{scheme}://{authority}");
    match uri.parse::<http::Uri>() {
        Ok(parsed) if parsed.host().is_some_and(|h| !h.is_empty()) => Ok(uri),
        _ => Err(format!(
            "the Endpoint {:?} names no host",
            printable(endpoint)
        )),
    }
}

/// The service's rule for hub names (letters, digits, `.`, `_`, `-`, at
/// most 260); it also keeps the name safe as a path segment.
fn valid_hub_name(name: &str) -> bool {
    (1..=260).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A short, printable prefix of text from the environment.
fn printable(text: &str) -> String {
    text.chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2VjcmV0LWtleS10ZXh0LW9mLXRoZS1ydWxlLTEyMzQ1Ng==";

    fn cs(endpoint: &str) -> String {
        format!(
            "Endpoint={endpoint};SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey={KEY}"
        )
    }

    #[test]
    fn a_portal_connection_string_becomes_an_https_origin() {
        let config =
            HubConfig::parse(&cs("sb://contoso.servicebus.windows.net/"), "orders").expect("valid");
        assert_eq!(config.origin, "https://contoso.servicebus.windows.net");
        assert_eq!(config.hub, "orders");
        assert_eq!(config.key_name, "DefaultFullSharedAccessSignature");
        assert_eq!(config.key, KEY, "the trailing = belongs to the key");
        assert!(!format!("{config:?}").contains(KEY));
    }

    #[test]
    fn an_emulator_speaks_plain_http_and_names_may_come_in_any_case() {
        let text = format!(
            "endpoint=sb://127.0.0.1:4443/;sharedaccesskeyname=R;sharedaccesskey={KEY};UseDevelopmentEmulator=true;"
        );
        let config = HubConfig::parse(&text, "pushproof-hub").expect("valid");
        assert_eq!(config.origin, "http://127.0.0.1:4443");
        let config = HubConfig::parse(&cs("https://127.0.0.1:1/"), "h").expect("valid");
        assert_eq!(config.origin, "https://127.0.0.1:1");
    }

    #[test]
    fn each_missing_or_bad_part_is_named_and_the_key_is_never_shown() {
        let cases = [
            (
                format!("SharedAccessKeyName=R;SharedAccessKey={KEY}"),
                "hub",
                "no Endpoint",
            ),
            (
                format!("Endpoint=sb://h/;SharedAccessKey={KEY}"),
                "hub",
                "no SharedAccessKeyName",
            ),
            (
                "Endpoint=sb://h/;SharedAccessKeyName=R".to_owned(),
                "hub",
                "no SharedAccessKey",
            ),
            (cs("ftp://h/"), "hub", "not an sb:// URL"),
            (cs("sb:///"), "hub", "names no host"),
            (cs("sb://h/"), "a/b", "hub name"),
            (cs("sb://h/"), "", "hub name"),
            (format!("{};garbage", cs("sb://h/")), "hub", "Name=Value"),
        ];
        for (text, hub, words) in cases {
            let (variable, error) = HubConfig::parse(&text, hub).expect_err(&text);
            let expected = if words == "hub name" {
                HUB_VARIABLE
            } else {
                CONNECTION_VARIABLE
            };
            assert_eq!(variable, expected, "{text}");
            assert!(error.contains(words), "{text}: {error}");
            assert!(!error.contains(KEY), "{error}");
        }
    }
}
