//! Where a platform's push carries the notification id, and how the app
//! reads it out: a JSON pointer into the payload, the whole raw body, a
//! regular expression over the body, or a header.

use regex::Regex;

/// Where the id sits in a push as the device receives it (APNs: the JSON
/// payload; FCM: the JSON `message` object; WNS: the request body).
#[derive(Debug, Clone)]
pub enum IdLocation {
    /// A JSON pointer (RFC 6901); the value is a string or a number.
    JsonPointer(String),
    /// The whole body, trimmed, is the id (WNS raw, as in the tutorial).
    RawBody,
    /// The first capture group (or the whole match) of a regex over the
    /// body as UTF-8.
    Regex(Regex),
    /// A header's value, by lowercase name.
    Header(String),
}

impl PartialEq for IdLocation {
    fn eq(&self, other: &IdLocation) -> bool {
        match (self, other) {
            (IdLocation::JsonPointer(a), IdLocation::JsonPointer(b)) => a == b,
            (IdLocation::RawBody, IdLocation::RawBody) => true,
            (IdLocation::Regex(a), IdLocation::Regex(b)) => a.as_str() == b.as_str(),
            (IdLocation::Header(a), IdLocation::Header(b)) => a == b,
            _ => false,
        }
    }
}

impl IdLocation {
    /// `"raw"`, or a JSON pointer starting with `/`.
    pub fn from_short(text: &str) -> Result<IdLocation, String> {
        match text {
            "raw" => Ok(IdLocation::RawBody),
            p if p.starts_with('/') => Ok(IdLocation::JsonPointer(p.to_owned())),
            _ => Err(format!(
                "{text:?} is neither \"raw\" nor a JSON pointer starting with '/' (or a table with pointer, regex or header)"
            )),
        }
    }

    pub fn regex(pattern: &str) -> Result<IdLocation, String> {
        let regex = Regex::new(pattern).map_err(|e| format!("bad regex: {e}"))?;
        if regex.captures_len() > 2 {
            return Err("the regex may have at most one capture group (the id)".to_owned());
        }
        Ok(IdLocation::Regex(regex))
    }

    /// Reads the notification id out of a push as the app would.
    pub fn extract(&self, headers: &[(String, String)], body: &[u8]) -> Option<String> {
        let nonempty = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        };
        match self {
            IdLocation::RawBody => nonempty(std::str::from_utf8(body).ok()?),
            IdLocation::JsonPointer(pointer) => match super::scalar_at(body, pointer)? {
                super::Scalar::String(s) => nonempty(&s),
                super::Scalar::Number(n) => Some(n),
                super::Scalar::Bool(_) => None,
            },
            IdLocation::Regex(regex) => {
                let text = std::str::from_utf8(body).ok()?;
                let found = regex.captures(text)?;
                nonempty(found.get(1).or_else(|| found.get(0))?.as_str())
            }
            IdLocation::Header(name) => headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| nonempty(v)),
        }
    }

    /// How the profile spells it, for reports.
    pub fn describe(&self) -> String {
        match self {
            IdLocation::JsonPointer(p) => format!("JSON pointer {p}"),
            IdLocation::RawBody => "the raw body".to_owned(),
            IdLocation::Regex(r) => format!("regex {}", r.as_str()),
            IdLocation::Header(h) => format!("header {h}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_extracted_from_each_push_shape() {
        let apns = IdLocation::JsonPointer("/secureId".into());
        let body = br#"{"aps":{"content-available":1},"secureId":"abc"}"#;
        assert_eq!(apns.extract(&[], body).as_deref(), Some("abc"));
        let fcm = IdLocation::JsonPointer("/data/secureId".into());
        assert_eq!(
            fcm.extract(&[], br#"{"token":"t","data":{"secureId":"7"}}"#)
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            IdLocation::RawBody.extract(&[], b" id-1 \n").as_deref(),
            Some("id-1")
        );
        assert_eq!(apns.extract(&[], b"not json"), None);
        assert_eq!(IdLocation::RawBody.extract(&[], b""), None);
        let re = IdLocation::regex(r#"<text id="n">([0-9a-f]+)</text>"#).unwrap();
        assert_eq!(
            re.extract(&[], br#"<toast><text id="n">00ff</text></toast>"#)
                .as_deref(),
            Some("00ff")
        );
        let header = IdLocation::Header("apns-collapse-id".into());
        let headers = vec![("apns-collapse-id".to_owned(), "x1".to_owned())];
        assert_eq!(header.extract(&headers, b"{}").as_deref(), Some("x1"));
        assert!(IdLocation::regex("(a)(b)").is_err());
        assert!(IdLocation::from_short("secureId").is_err());
    }
}
