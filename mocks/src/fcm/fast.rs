//! The common case of FCM message validation in one borrowing parse: no
//! `Map<String, Value>` of the message is built (its allocations were most
//! of FCM's per-push cost).
//!
//! It answers only "valid, with this target": whenever anything is off, or
//! merely unusual (escaped strings, duplicate keys, a message that is not
//! an object), it returns `None` and the caller runs the full validation,
//! which finds the same verdict and builds the error answer. So every rule
//! and every error text stays in one place, [`super::validate_message`].
//! What this accepts, that accepts too: it checks the same rules, and where
//! keys repeat its sizes are sums over every entry, never less than the
//! full validation's last-one-wins sizes. The `android` and `webpush`
//! blocks are checked in the same parse by [`super::blocks`]' probes.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::blocks::{Android, Webpush};
use super::{is_reserved_data_key, is_valid_condition, is_valid_topic, DeviceKey, Target};

/// A `Message` with the fields the validation reads; `Option<&str>` takes
/// `null` as absent, as the full validation does, and fails (falls back)
/// on escaped strings, which cannot be borrowed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message<'a> {
    #[serde(borrow)]
    token: Option<&'a str>,
    #[serde(borrow)]
    topic: Option<&'a str>,
    #[serde(borrow)]
    condition: Option<&'a str>,
    #[serde(borrow)]
    fid: Option<&'a str>,
    data: Option<DataSize>,
    notification: Option<NotificationSize>,
    #[allow(dead_code)]
    name: Option<IgnoredAny>,
    #[allow(dead_code)]
    android: Option<Android>,
    #[allow(dead_code)]
    webpush: Option<Webpush>,
    #[allow(dead_code)]
    apns: Option<IgnoredAny>,
    #[allow(dead_code)]
    fcm_options: Option<IgnoredAny>,
    #[allow(dead_code)]
    #[serde(rename = "fcmOptions")]
    fcm_options_camel: Option<IgnoredAny>,
}

/// The target of a message that passes every rule, or `None` to say the
/// full validation must decide.
pub(super) fn validate(raw: &str) -> Option<Target<'_>> {
    // A derived struct also accepts a JSON array; FCM's message must be an
    // object.
    if !raw.trim_start().starts_with('{') {
        return None;
    }
    let message: Message<'_> = serde_json::from_str(raw).ok()?;
    let target = match (message.token, message.topic, message.condition, message.fid) {
        (Some(token), None, None, None) => Target::Device(token, DeviceKey::Token),
        (None, None, None, Some(fid)) => Target::Device(fid, DeviceKey::Fid),
        (None, Some(topic), None, None) if is_valid_topic(topic) => Target::Topic,
        (None, None, Some(condition), None) if is_valid_condition(condition) => Target::Condition,
        _ => return None,
    };
    let size = message.data.map_or(0, |d| d.0) + message.notification.map_or(0, |n| n.0);
    (size <= target.size_limit()).then_some(target)
}

/// `message.data`: an object of strings without reserved keys; the sum of
/// key and value lengths.
struct DataSize(usize);

impl<'de> Deserialize<'de> for DataSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DataSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of unescaped strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DataSize, A::Error> {
                let mut size = 0;
                while let Some(key) = map.next_key::<&'de str>()? {
                    let value: &'de str = map.next_value()?;
                    if is_reserved_data_key(key) {
                        return Err(de::Error::custom("reserved data key"));
                    }
                    size += key.len() + value.len();
                }
                Ok(DataSize(size))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// `message.notification`: an object; the sum of key lengths and string
/// value lengths (other values count 0).
struct NotificationSize(usize);

impl<'de> Deserialize<'de> for NotificationSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NotificationSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with unescaped keys and strings")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<NotificationSize, A::Error> {
                let mut size = 0;
                while let Some(key) = map.next_key::<&'de str>()? {
                    let value: &'de RawValue = map.next_value()?;
                    let text = value.get();
                    let value_len = if text.starts_with('"') {
                        serde_json::from_str::<&str>(text)
                            .map_err(de::Error::custom)?
                            .len()
                    } else {
                        0
                    };
                    size += key.len() + value_len;
                }
                Ok(NotificationSize(size))
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(json: &str) -> Option<&'static str> {
        validate(Box::leak(json.to_owned().into_boxed_str())).map(|t| match t {
            Target::Device(_, DeviceKey::Token) => "token",
            Target::Device(_, DeviceKey::Fid) => "fid",
            Target::Topic => "topic",
            Target::Condition => "condition",
        })
    }

    #[test]
    fn common_messages_are_decided_here() {
        assert_eq!(
            target(r#"{"token":"t","data":{"k":"v"},"notification":{"title":"x","n":1}}"#),
            Some("token")
        );
        assert_eq!(target(r#"{"topic":"news","token":null}"#), Some("topic"));
        assert_eq!(
            target(r#"{"condition":"'a' in topics"}"#),
            Some("condition")
        );
        assert_eq!(target(r#"{"fid":"f","data":{"k":"v"}}"#), Some("fid"));
    }

    #[test]
    fn anything_unusual_goes_to_the_full_validation() {
        for json in [
            r#"[]"#,
            r#"{"token":"t","topic":"x"}"#,
            r#"{"token":"t","fid":"f"}"#,
            r#"{"token":"t\u0041"}"#,
            r#"{"token":"t","token":"u"}"#,
            r#"{"token":"t","extra":1}"#,
            r#"{"token":1}"#,
            r#"{"token":"t","data":{"from":"x"}}"#,
            r#"{"token":"t","data":{"k":1}}"#,
            r#"{"topic":"bad topic"}"#,
            r#"{"condition":"  "}"#,
            r#"{}"#,
        ] {
            assert_eq!(target(json), None, "{json}");
        }
        let big = format!(r#"{{"topic":"t","data":{{"k":"{}"}}}}"#, "x".repeat(2100));
        assert_eq!(target(&big), None);
    }
}
