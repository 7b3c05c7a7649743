//! The platform blocks of a message that the mock checks: `android`
//! (`ttl`, `priority`, `data`) and `webpush.fcm_options.link`. Other keys
//! in these blocks are left alone.
//!
//! [`validate`] holds the rules and error texts, on the parsed message.
//! [`Android`] and [`Webpush`] are probes the fast path ([`super::fast`])
//! parses these blocks with, borrowing and allocating nothing (`android` is
//! in most real sends, so falling back to the full validation for it would
//! cost every push). Like the fast path they only say "valid": on anything
//! off or unusual they fail, and the full validation decides and builds the
//! error.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{check_data, is_reserved_data_key, DataField, GoogleError};

/// Longest TTL FCM accepts: 4 weeks.
const MAX_TTL_SECS: u64 = 2_419_200;
/// Largest magnitude of a google.protobuf.Duration (10,000 years).
const MAX_DURATION_SECS: u64 = 315_576_000_000;

const ANDROID_DATA: DataField = DataField {
    path: "message.android.data",
    entry_type: "google.firebase.fcm.v1.AndroidConfig.DataEntry",
};

/// Checks `message.android` and `message.webpush`, when present.
pub(super) fn validate(message: &Map<String, Value>) -> Result<(), GoogleError> {
    let android = "google.firebase.fcm.v1.AndroidConfig";
    if let Some(android) = optional_object(message, "android", "message.android", android)? {
        check_android(android)?;
    }
    let webpush = "google.firebase.fcm.v1.WebpushConfig";
    if let Some(webpush) = optional_object(message, "webpush", "message.webpush", webpush)? {
        check_webpush(webpush)?;
    }
    Ok(())
}

/// The object at `map[key]`; `None` when absent or null; Google's answer
/// for `path` (of type `type_url`) when it is not an object.
fn optional_object<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &'static str,
    type_url: &str,
) -> Result<Option<&'a Map<String, Value>>, GoogleError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => Err(invalid_value(path, type_url, other)),
    }
}

fn check_android(android: &Map<String, Value>) -> Result<(), GoogleError> {
    match android.get("ttl") {
        None | Some(Value::Null) => {}
        Some(value) => {
            let ttl = value.as_str().and_then(parse_duration).ok_or_else(|| {
                invalid_value("message.android.ttl", "google.protobuf.Duration", value)
            })?;
            if !ttl.within_four_weeks() {
                return Err(GoogleError::invalid_argument(
                    "Request contains an invalid argument.",
                    "message.android.ttl",
                    "TTL must be between 0 and 4 weeks (2419200s).",
                ));
            }
        }
    }
    match android.get("priority") {
        None | Some(Value::Null) => {}
        Some(value) if value.as_str().is_some_and(is_priority) || is_priority_number(value) => {}
        Some(value) => {
            return Err(invalid_value(
                "message.android.priority",
                "google.firebase.fcm.v1.AndroidMessagePriority",
                value,
            ))
        }
    }
    // `android.data` replaces `data` on Android devices; its size is not
    // added to the message's.
    check_data(&ANDROID_DATA, android.get("data"))?;
    Ok(())
}

fn check_webpush(webpush: &Map<String, Value>) -> Result<(), GoogleError> {
    const PATH: &str = "message.webpush.fcm_options";
    const LINK: &str = "message.webpush.fcm_options.link";
    // Google's JSON parser takes both spellings of a field.
    for key in ["fcm_options", "fcmOptions"] {
        let options_type = "google.firebase.fcm.v1.WebpushFcmOptions";
        let Some(options) = optional_object(webpush, key, PATH, options_type)? else {
            continue;
        };
        match options.get("link") {
            None | Some(Value::Null) => {}
            Some(Value::String(link)) if is_https_link(link) => {}
            Some(Value::String(_)) => {
                return Err(GoogleError::invalid_argument(
                    "Request contains an invalid argument.",
                    LINK,
                    "Link must be an HTTPS URL.",
                ))
            }
            Some(other) => {
                return Err(GoogleError::invalid_json(
                    LINK,
                    format!("Invalid value at '{LINK}' (TYPE_STRING), {other}"),
                ))
            }
        }
    }
    Ok(())
}

/// Google's answer to a value of the wrong type at `path`, whose type is
/// `type_url` (after `type.googleapis.com/`).
fn invalid_value(path: &'static str, type_url: &str, value: &Value) -> GoogleError {
    GoogleError::invalid_json(
        path,
        format!("Invalid value at '{path}' (type.googleapis.com/{type_url}), {value}"),
    )
}

/// An `AndroidMessagePriority` by name, in any case. Google's JSON parser
/// takes enum names case-insensitively, and every Admin SDK sends this one
/// in lowercase (firebase-admin for Node.js types it `'high' | 'normal'`
/// and sends it unchanged; the Python, Java and Go SDKs document "high"
/// and "normal"); Google accepts them.
fn is_priority(value: &str) -> bool {
    value.eq_ignore_ascii_case("NORMAL") || value.eq_ignore_ascii_case("HIGH")
}

/// An `AndroidMessagePriority` by number (NORMAL = 0, HIGH = 1): the
/// proto3 JSON mapping has parsers "accept both enum names and integer
/// values".
fn is_priority_number(value: &Value) -> bool {
    value.as_u64().is_some_and(|n| n <= 1)
}

/// An empty link is proto3's unset string, so it passes.
fn is_https_link(link: &str) -> bool {
    if link.is_empty() {
        return true;
    }
    link.len() > 8
        && link
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// A parsed google.protobuf.Duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProtoDuration {
    negative: bool,
    secs: u64,
    nanos: u32,
}

impl ProtoDuration {
    fn within_four_weeks(self) -> bool {
        let zero = self.secs == 0 && self.nanos == 0;
        if self.negative {
            zero
        } else {
            self.secs < MAX_TTL_SECS || (self.secs == MAX_TTL_SECS && self.nanos == 0)
        }
    }
}

/// A Duration in protobuf's JSON form: decimal seconds, optionally negative,
/// with up to 9 fractional digits, then `s` (`"3.5s"`, `"0s"`,
/// `"-1.000000001s"`); `None` when malformed or beyond a Duration's range.
fn parse_duration(text: &str) -> Option<ProtoDuration> {
    let number = text.strip_suffix('s')?;
    let (negative, number) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) {
        return None;
    }
    // At most 12 digits fit the range; longer cannot parse into it anyway.
    let secs: u64 = whole.parse().ok()?;
    let nanos = match fraction {
        None => 0,
        Some(fraction) if all_digits(fraction) && fraction.len() <= 9 => {
            let digits: u32 = fraction.parse().ok()?;
            // 9 - len ≤ 8, so the power fits and the product stays < 10⁹.
            digits * 10u32.pow(9 - u32::try_from(fraction.len()).ok()?)
        }
        Some(_) => return None,
    };
    if secs > MAX_DURATION_SECS || (secs == MAX_DURATION_SECS && nanos > 0) {
        return None;
    }
    Some(ProtoDuration {
        negative,
        secs,
        nanos,
    })
}

/// A visitor of JSON objects only (a derived struct would take arrays
/// too), with unescaped keys (others cannot be borrowed: they fail). The
/// body reads the value of `$key` and says whether it passes.
macro_rules! object_probe {
    ($name:ident, $expecting:literal, |$map:ident, $key:ident| $body:expr) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<$name, A::Error> {
                        while let Some($key) = $map.next_key::<&'de str>()? {
                            if !$body {
                                return Err(de::Error::custom($expecting));
                            }
                        }
                        Ok($name)
                    }
                }
                deserializer.deserialize_map(V)
            }
        }
    };
}

/// `message.android`: `ttl`, `priority` and `data` checked, other keys
/// skipped.
pub(super) struct Android;

object_probe!(
    Android,
    "a valid AndroidConfig object",
    |map, key| match key {
        "ttl" => map
            .next_value::<Option<&str>>()?
            .is_none_or(|ttl| parse_duration(ttl).is_some_and(ProtoDuration::within_four_weeks)),
        "priority" => map.next_value::<Option<&str>>()?.is_none_or(is_priority),
        "data" => map.next_value::<Option<Data>>().map(|_| true)?,
        _ => map.next_value::<IgnoredAny>().map(|_| true)?,
    }
);

/// `android.data`: unescaped string values under unreserved keys.
struct Data;

object_probe!(Data, "an object of unescaped strings", |map, key| {
    map.next_value::<&str>()?;
    !is_reserved_data_key(key)
});

/// `message.webpush`: `fcm_options.link` (either spelling) checked.
pub(super) struct Webpush;

object_probe!(Webpush, "a WebpushConfig object", |map, key| match key {
    "fcm_options" | "fcmOptions" => map.next_value::<Option<FcmOptions>>().map(|_| true)?,
    _ => map.next_value::<IgnoredAny>().map(|_| true)?,
});

struct FcmOptions;

object_probe!(
    FcmOptions,
    "a valid WebpushFcmOptions object",
    |map, key| match key {
        "link" => map.next_value::<Option<&str>>()?.is_none_or(is_https_link),
        _ => map.next_value::<IgnoredAny>().map(|_| true)?,
    }
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn duration(negative: bool, secs: u64, nanos: u32) -> Option<ProtoDuration> {
        Some(ProtoDuration {
            negative,
            secs,
            nanos,
        })
    }

    #[test]
    fn durations_parse_as_protobuf_json() {
        assert_eq!(parse_duration("3.5s"), duration(false, 3, 500_000_000));
        assert_eq!(parse_duration("0s"), duration(false, 0, 0));
        assert_eq!(parse_duration("2419200s"), duration(false, 2_419_200, 0));
        assert_eq!(parse_duration("-1.000000001s"), duration(true, 1, 1));
        assert_eq!(
            parse_duration("0.123456789s"),
            duration(false, 0, 123_456_789)
        );
        for bad in [
            "",
            "s",
            "3",
            "3.s",
            ".5s",
            "3.5",
            "3.0000000001s",
            "+3s",
            "3 s",
            " 3s",
            "3S",
            "1e3s",
            "-s",
            "--1s",
            "3.5.1s",
            "315576000001s",
            "99999999999999999999999s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ttl_range_is_zero_to_four_weeks() {
        let within = |s| parse_duration(s).unwrap().within_four_weeks();
        assert!(within("0s"));
        assert!(within("-0s"));
        assert!(within("2419200s"));
        assert!(within("2419199.999999999s"));
        assert!(!within("2419200.000000001s"));
        assert!(!within("-0.5s"));
        assert!(!within("315576000000s"));
    }

    #[test]
    fn links_must_be_https() {
        assert!(is_https_link("https://example.com/open"));
        assert!(is_https_link("HTTPS://example.com"));
        assert!(is_https_link(""));
        assert!(!is_https_link("http://example.com"));
        assert!(!is_https_link("https://"));
        assert!(!is_https_link("/relative"));
        assert!(!is_https_link("é"));
    }

    /// The fast path's verdict, for a message with a token target.
    fn fast_ok(raw: &str) -> bool {
        super::super::fast::validate(raw).is_some()
    }

    fn full_ok(raw: &str) -> bool {
        let message: Map<String, Value> = serde_json::from_str(raw).unwrap();
        validate(&message).is_ok()
    }

    /// The fast check never accepts what the full validation refuses, and
    /// decides the common blocks itself.
    #[test]
    fn fast_check_agrees_with_full_validation() {
        let decided_fast = [
            r#"{"token":"t","data":{"k":"v"}}"#,
            r#"{"token":"t","android":{"priority":"HIGH"}}"#,
            r#"{"token":"t","android":{"ttl":"3.5s","priority":"NORMAL","collapse_key":"c"}}"#,
            r#"{"token":"t","android":{"data":{"k":"v"},"notification":{"title":"x"}}}"#,
            r#"{"token":"t","android":null,"webpush":null}"#,
            r#"{"token":"t","webpush":{"fcm_options":{"link":"https://example.com"}}}"#,
            r#"{"token":"t","webpush":{"fcmOptions":{"link":"https://example.com"},"headers":{}}}"#,
            r#"{"token":"t","data":{"os":"android"}}"#,
            r#"{"token":"t","android":{"priority":"high"}}"#,
            r#"{"token":"t","android":{"priority":"Normal"}}"#,
        ];
        for raw in decided_fast {
            assert!(fast_ok(raw), "{raw}");
            assert!(full_ok(raw), "{raw}");
        }
        let refused = [
            r#"{"token":"t","android":"HIGH"}"#,
            r#"{"token":"t","android":[]}"#,
            r#"{"token":"t","android":{"ttl":"3600"}}"#,
            r#"{"token":"t","android":{"ttl":3600}}"#,
            r#"{"token":"t","android":{"ttl":"2419201s"}}"#,
            r#"{"token":"t","android":{"ttl":"-1s"}}"#,
            r#"{"token":"t","android":{"priority":"urgent"}}"#,
            r#"{"token":"t","android":{"priority":2}}"#,
            r#"{"token":"t","android":{"priority":"1"}}"#,
            r#"{"token":"t","android":{"data":{"k":1}}}"#,
            r#"{"token":"t","android":{"data":{"from":"x"}}}"#,
            r#"{"token":"t","android":{"data":[]}}"#,
            r#"{"token":"t","android":{"priority":"HIGH"},"android":{"priority":"LOW"}}"#,
            r#"{"token":"t","\u0061ndroid":{"priority":"LOW"}}"#,
            r#"{"token":"t","android":{"pr\u0069ority":"LOW"}}"#,
            r#"{"token":"t","webpush":1}"#,
            r#"{"token":"t","webpush":{"fcm_options":{"link":"http://example.com"}}}"#,
            r#"{"token":"t","webpush":{"fcmOptions":{"link":"http://example.com"}}}"#,
            r#"{"token":"t","webpush":{"fcm_options":{"link":1}}}"#,
            r#"{"token":"t","webpush":{"fcm_options":"x"}}"#,
        ];
        for raw in refused {
            assert!(!fast_ok(raw), "{raw}");
            assert!(!full_ok(raw), "{raw}");
        }
        // A repeated key falls back in either order; the full validation
        // then goes by the last one.
        let last_valid =
            r#"{"token":"t","android":{"priority":"LOW"},"android":{"priority":"HIGH"}}"#;
        assert!(!fast_ok(last_valid));
        assert!(full_ok(last_valid));
    }

    #[test]
    fn android_priority_takes_any_case_and_the_enum_number() {
        for raw in [
            r#"{"token":"t","android":{"priority":"high"}}"#,
            r#"{"token":"t","android":{"priority":"normal"}}"#,
            r#"{"token":"t","android":{"priority":"HIGH"}}"#,
            r#"{"token":"t","android":{"priority":1}}"#,
            r#"{"token":"t","android":{"priority":0}}"#,
        ] {
            assert!(full_ok(raw), "{raw}");
        }
        assert!(fast_ok(r#"{"token":"t","android":{"priority":"high"}}"#));
        assert!(!full_ok(
            r#"{"token":"t","android":{"priority":"PRIORITY_HIGH"}}"#
        ));
    }
}
