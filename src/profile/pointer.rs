//! Reads the scalar a JSON pointer (RFC 6901) names straight out of a
//! document's bytes, skipping everything off the pointer's path.
//!
//! The load driver reads a push's id and a fetch answer's content this way
//! for every notification: building the whole document as a
//! `serde_json::Value` first, every key and string of it allocated, cost
//! more than the rest of the read. The answers are the same as
//! `Value::pointer`'s: the whole document must be valid JSON, a key that
//! appears twice counts by its last value, and a number reads as
//! `serde_json` prints it.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What a pointer found, when it is a scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    String(String),
    /// As `serde_json::Number` prints it.
    Number(String),
    Bool(bool),
}

/// The scalar at `pointer` in the JSON document `body`; `None` if the
/// document is not JSON, the pointer is malformed or names nothing, or what
/// it names is null, an array or an object.
pub fn scalar_at(body: &[u8], pointer: &str) -> Option<Scalar> {
    let tokens: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer
            .strip_prefix('/')?
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let found = Seek { tokens: &tokens }
        .deserialize(&mut deserializer)
        .ok()?;
    deserializer.end().ok()?;
    found
}

/// Follows the remaining `tokens` through one value.
struct Seek<'t> {
    tokens: &'t [String],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = Option<Scalar>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = Option<Scalar>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.tokens.is_empty().then_some(Scalar::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self
            .tokens
            .is_empty()
            .then(|| Scalar::Number(serde_json::Number::from(v).to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self
            .tokens
            .is_empty()
            .then(|| Scalar::Number(serde_json::Number::from(v).to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self
            .tokens
            .is_empty()
            .then(|| serde_json::Number::from_f64(v))
            .flatten()
            .map(|n| Scalar::Number(n.to_string())))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.tokens.is_empty().then(|| Scalar::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(self.tokens.is_empty().then_some(Scalar::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some((token, rest)) = self.tokens.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == token.as_str() {
                // A repeated key: the last one counts, as in a `Value`.
                found = map.next_value_seed(Seek { tokens: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // RFC 6901: an index is digits without a leading zero.
        let index = self.tokens.first().and_then(|t| {
            (!t.is_empty()
                && t.bytes().all(|b| b.is_ascii_digit())
                && (t == "0" || !t.starts_with('0')))
            .then(|| t.parse::<usize>().ok())
            .flatten()
        });
        let mut found = None;
        let mut at = 0usize;
        loop {
            if Some(at) == index {
                match seq.next_element_seed(Seek {
                    tokens: &self.tokens[1..],
                })? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            at += 1;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// What `Value::pointer` answers, as a [`Scalar`].
    fn by_value(body: &str, pointer: &str) -> Option<Scalar> {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        match value.pointer(pointer)? {
            serde_json::Value::String(s) => Some(Scalar::String(s.clone())),
            serde_json::Value::Number(n) => Some(Scalar::Number(n.to_string())),
            serde_json::Value::Bool(b) => Some(Scalar::Bool(*b)),
            _ => None,
        }
    }

    #[test]
    fn answers_as_a_value_would() {
        let documents = [
            r#"{"id":"abc","n":1}"#,
            r#"{"data":{"id":"x\u00e9\"y","other":[1,2,{"id":"no"}]},"id":7}"#,
            r#"{"a":[{"b":"first"},{"b":"second"}],"c":null,"d":true}"#,
            r#"{"id":"first","id":"last"}"#,
            r#"{"a/b":{"m~n":"escaped"},"f":-1.5e3,"u":18446744073709551615,"i":-42}"#,
            r#"{"id":"x"} trailing"#,
            r#"{"id":"x","broken":}"#,
            r#""just a string""#,
            r#"[10,20,30]"#,
            "not json",
            "",
        ];
        let pointers = [
            "",
            "/id",
            "/n",
            "/data/id",
            "/data/other/2/id",
            "/data/other/1",
            "/a/1/b",
            "/a/01/b",
            "/a/2/b",
            "/a/-",
            "/c",
            "/d",
            "/a~1b/m~0n",
            "/f",
            "/u",
            "/i",
            "/1",
            "/01",
            "id",
            "/missing",
            "/data",
        ];
        for body in documents {
            for pointer in pointers {
                assert_eq!(
                    scalar_at(body.as_bytes(), pointer),
                    by_value(body, pointer),
                    "{body} at {pointer:?}"
                );
            }
        }
    }
}
