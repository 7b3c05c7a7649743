//! The body of `messages:send` read as Google's JSON parser reads it: an
//! object whose repeated keys take the last value, unknown names refused
//! in Google's words, `validate_only` in either spelling, and errors that
//! say what Google says (a `[]` body is "Root element must be a message",
//! not serde's "expected struct SendRequest"). One borrowing pass: the
//! message stays a slice of the body.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::GoogleError;

/// The request of `messages:send`.
pub(super) struct SendRequest<'a> {
    pub(super) message: Option<&'a RawValue>,
    pub(super) validate_only: Option<bool>,
}

/// Reads a request body, or Google's answer to it.
pub(super) fn parse(bytes: &[u8]) -> Result<SendRequest<'_>, GoogleError> {
    // An empty body is an empty request message to Google's frontend.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(SendRequest {
            message: None,
            validate_only: None,
        });
    }
    let parsed: Parsed<'_> = serde_json::from_slice(bytes).map_err(|e| {
        let text = match e.classify() {
            // The body is JSON, but not an object.
            serde_json::error::Category::Data => {
                "Unknown name \"\": Root element must be a message."
            }
            serde_json::error::Category::Eof => "Unexpected end of string.",
            _ => "Unexpected token.",
        };
        GoogleError::invalid_json("", format!("Invalid JSON payload received. {text}"))
    })?;
    match parsed.problem {
        None => Ok(parsed.request),
        Some(Problem::UnknownName(name)) => Err(GoogleError::invalid_json(
            "",
            format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."),
        )),
        Some(Problem::NotBool(value)) => Err(GoogleError::invalid_json(
            "validate_only",
            format!("Invalid value at 'validate_only' (TYPE_BOOL), {value}"),
        )),
    }
}

/// What is wrong with a request that is a JSON object.
enum Problem {
    UnknownName(String),
    NotBool(String),
}

struct Parsed<'a> {
    request: SendRequest<'a>,
    /// The first problem met; the rest of the object is still read, so
    /// that a syntax error later on wins, as it does at Google.
    problem: Option<Problem>,
}

/// An object key, borrowed unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Parsed<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Parsed<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SendMessageRequest object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed<'de>, A::Error> {
                let mut parsed = Parsed {
                    request: SendRequest {
                        message: None,
                        validate_only: None,
                    },
                    problem: None,
                };
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    let text = value.get();
                    match key.as_ref() {
                        // A repeated key takes the last value.
                        "message" => parsed.request.message = (text != "null").then_some(value),
                        "validate_only" | "validateOnly" => match text {
                            "true" => parsed.request.validate_only = Some(true),
                            "false" => parsed.request.validate_only = Some(false),
                            "null" => parsed.request.validate_only = None,
                            other => {
                                parsed
                                    .problem
                                    .get_or_insert(Problem::NotBool(other.to_owned()));
                            }
                        },
                        other => {
                            parsed
                                .problem
                                .get_or_insert(Problem::UnknownName(other.to_owned()));
                        }
                    }
                }
                Ok(parsed)
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(body: &str) -> String {
        match parse(body.as_bytes()) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.message.into_owned(),
        }
    }

    #[test]
    fn a_repeated_key_takes_the_last_value() {
        let body = br#"{"message":{"token":"a"},"validate_only":true,"message":{"token":"b"},"validateOnly":false}"#;
        let request = parse(body).ok().expect("parses");
        assert_eq!(request.message.map(RawValue::get), Some(r#"{"token":"b"}"#));
        assert_eq!(request.validate_only, Some(false));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_not_a_message() {
        for body in ["[]", "\"x\"", "1", "null"] {
            assert_eq!(
                error_of(body),
                "Invalid JSON payload received. Unknown name \"\": Root element must be a message.",
                "{body}"
            );
        }
        assert_eq!(
            error_of("{\"message\":"),
            "Invalid JSON payload received. Unexpected end of string."
        );
        assert_eq!(
            error_of("{x}"),
            "Invalid JSON payload received. Unexpected token."
        );
    }

    #[test]
    fn unknown_names_and_wrong_types_are_named() {
        assert_eq!(
            error_of(r#"{"mesage":{}}"#),
            "Invalid JSON payload received. Unknown name \"mesage\": Cannot find field."
        );
        assert_eq!(
            error_of(r#"{"validate_only":"yes"}"#),
            "Invalid value at 'validate_only' (TYPE_BOOL), \"yes\""
        );
        assert_eq!(error_of("  "), "ok", "an empty body is an empty request");
    }
}
