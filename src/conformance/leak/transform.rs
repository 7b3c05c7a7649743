//! The transforms a secret may go through on its way into a push, named as
//! evidence names them.
//!
//! A hit's chain lists them in the order they were applied to the secret:
//! `[Gzip, Base64Url]` means the push carried `base64url(gzip(secret))`.

use serde::{Serialize, Serializer};

/// One step from the secret to what was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transform {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Hex,
    /// Standard base64 (`+/`), padded or not.
    Base64,
    /// URL-safe base64 (`-_`), padded or not.
    Base64Url,
    /// RFC 4648 base32, padded or not, either case.
    Base32,
    /// `%XX` escapes (and `+` for a space in a query).
    Percent,
    /// JSON string escapes (`\u0053`, `\n`, …).
    JsonEscape,
    /// XML character and entity references (`&#83;`, `&amp;`, HTML's
    /// common named entities).
    XmlEntity,
    Gzip,
    Zlib,
    /// Raw deflate, without a zlib or gzip wrapper.
    Deflate,
}

impl Transform {
    /// The name used in evidence.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Md5 => "md5",
            Transform::Sha1 => "sha1",
            Transform::Sha256 => "sha256",
            Transform::Sha512 => "sha512",
            Transform::Hex => "hex",
            Transform::Base64 => "base64",
            Transform::Base64Url => "base64url",
            Transform::Base32 => "base32",
            Transform::Percent => "percent",
            Transform::JsonEscape => "json-escape",
            Transform::XmlEntity => "xml-entity",
            Transform::Gzip => "gzip",
            Transform::Zlib => "zlib",
            Transform::Deflate => "deflate",
        }
    }
}

impl std::fmt::Display for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Transform {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// A chain for people: `gzip → base64url`, or `plain` when empty.
pub fn chain_text(chain: &[Transform]) -> String {
    if chain.is_empty() {
        return "plain".to_owned();
    }
    chain
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_read_in_application_order() {
        assert_eq!(chain_text(&[]), "plain");
        assert_eq!(
            chain_text(&[Transform::Gzip, Transform::Base64Url]),
            "gzip → base64url"
        );
        assert_eq!(
            serde_json::to_value([Transform::Sha256, Transform::Hex]).expect("json"),
            serde_json::json!(["sha256", "hex"])
        );
    }
}
