//! Template notifications: the body of a `template` send is a JSON object
//! of properties, and each template registration's body is expanded with
//! them. The expression language (Azure docs, "Templates"): `$(prop)` is
//! the property's value (empty when absent), `#(prop)` the same meant for
//! a number outside quotes, `%(prop)` the value URL-encoded; property
//! names are case-insensitive. Values are escaped for the template's
//! format (JSON string escapes in a JSON template, XML escapes in an XML
//! one), so a property cannot break the native payload's syntax.

use std::collections::HashMap;

use serde_json::Value;

use super::error::{escape_into, HubError};

/// A template send's properties, by lowercase name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Properties(HashMap<String, String>);

impl Properties {
    /// Parses the body of a template send: a JSON object whose values are
    /// strings (numbers and booleans are taken as their text).
    pub(crate) fn from_json(body: &[u8]) -> Result<Properties, HubError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            HubError::bad_request(format!(
                "The template notification body must be a JSON object of properties: {e}"
            ))
        })?;
        let Value::Object(map) = value else {
            return Err(HubError::bad_request(
                "The template notification body must be a JSON object of properties.",
            ));
        };
        let props = map
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k.to_lowercase(), text)
            })
            .collect();
        Ok(Properties(props))
    }

    fn get(&self, name: &str) -> &str {
        self.0
            .get(&name.trim().to_lowercase())
            .map_or("", String::as_str)
    }
}

/// Expands `template` with `props`.
pub(crate) fn expand(template: &str, props: &Properties) -> String {
    let xml = template.trim_start().starts_with('<');
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(at) = rest.find(['$', '#', '%']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let sigil = from.as_bytes()[0];
        let close = from
            .strip_prefix(char::from(sigil))
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.find(')').map(|end| (&r[..end], &r[end + 1..])));
        match close {
            Some((name, after)) if !name.contains('(') => {
                let value = props.get(name);
                match (sigil, xml) {
                    (b'%', _) => out.extend(form_urlencoded::byte_serialize(value.as_bytes())),
                    (_, true) => escape_into(&mut out, value),
                    (_, false) => json_escape_into(&mut out, value),
                }
                rest = after;
            }
            _ => {
                out.push(char::from(sigil));
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Appends `text` as the inside of a JSON string.
fn json_escape_into(out: &mut String, text: &str) {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    out.push_str(
        quoted
            .get(1..quoted.len().saturating_sub(1))
            .unwrap_or_default(),
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn properties_are_substituted_case_insensitively_and_escaped() {
        let props = Properties::from_json(br#"{"Message":"hi \"you\"","n":3}"#).unwrap();
        assert_eq!(
            expand(
                r#"{"aps":{"alert":"$(message)","badge":#(N)},"x":"$(missing)"}"#,
                &props
            ),
            r#"{"aps":{"alert":"hi \"you\"","badge":3},"x":""}"#
        );
        assert_eq!(
            expand("<toast><text>$(message)</text></toast>", &props),
            "<toast><text>hi &quot;you&quot;</text></toast>"
        );
        assert_eq!(expand("a=%(message)", &props), "a=hi+%22you%22");
        assert_eq!(expand("$ 5 #x %(", &props), "$ 5 #x %(");
        assert!(Properties::from_json(b"[1]").is_err());
    }
}
