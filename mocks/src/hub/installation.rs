//! Installations: the JSON the service takes at `PUT
//! /{hub}/installations/{id}` (`installationId`, `platform`,
//! `pushChannel`, `tags`, `templates{name: {body, headers, tags}}`,
//! `userId`), validated as the service does (tags, platform), the JSON it
//! answers a GET with (adding the read-only `expirationTime`,
//! `lastActiveOn`, `lastUpdate`, `pushChannelExpired`), and the JSON
//! Patch (`add`, `remove`, `replace`) that `PATCH` applies to tags,
//! templates, `pushChannel` and `userId` (REST reference, "Create or
//! overwrite an installation" and "Patch an installation").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::channel::Channel;
use super::error::HubError;
use super::tags;

/// Most templates per installation: a bound of the mock, so one PUT
/// cannot hold unbounded memory (the 64 KB body limit binds first).
const MAX_TEMPLATES: usize = 60;
/// Longest installation id the mock keeps.
const MAX_ID_LEN: usize = 256;

/// A template of an installation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Template {
    pub(crate) body: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tags: Vec<String>,
}

/// A validated installation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Installation {
    pub(crate) id: String,
    pub(crate) channel: Channel,
    pub(crate) push_channel: String,
    /// Sorted, without repeats.
    pub(crate) tags: Vec<String>,
    pub(crate) templates: BTreeMap<String, Template>,
    pub(crate) user_id: Option<String>,
    pub(crate) last_update: String,
    /// A gateway said the channel is gone: no longer targeted.
    pub(crate) expired: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    installation_id: Option<String>,
    platform: Option<String>,
    push_channel: Option<Value>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    templates: Option<BTreeMap<String, Template>>,
    user_id: Option<String>,
}

fn invalid(why: impl std::fmt::Display) -> HubError {
    HubError::bad_request(format!("Installation validation failed: {why}"))
}

impl Installation {
    /// Parses and validates the body of a PUT to `/installations/{id}`.
    pub(crate) fn from_json(path_id: &str, body: &[u8]) -> Result<Installation, HubError> {
        let body: Body = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the body is not an installation: {e}")))?;
        if let Some(id) = &body.installation_id {
            if id != path_id {
                return Err(invalid(format!(
                    "installationId {id:?} differs from the id {path_id:?} in the URL."
                )));
            }
        }
        let platform = body
            .platform
            .ok_or_else(|| invalid("platform is required."))?;
        let channel = Channel::from_installation(&platform)?;
        let push_channel = push_channel(body.push_channel)?;
        let mut installation = Installation {
            id: path_id.to_owned(),
            channel,
            push_channel,
            tags: body.tags.unwrap_or_default(),
            templates: body.templates.unwrap_or_default(),
            user_id: body.user_id,
            last_update: super::time::now_rfc3339(),
            expired: false,
        };
        installation.normalize()?;
        Ok(installation)
    }

    /// Checks ids and tags, sorts tags.
    fn normalize(&mut self) -> Result<(), HubError> {
        if self.id.is_empty() || self.id.len() > MAX_ID_LEN {
            return Err(invalid(format!(
                "the installation id must be 1 to {MAX_ID_LEN} characters."
            )));
        }
        if self.push_channel.trim().is_empty() {
            return Err(invalid("pushChannel is required."));
        }
        self.tags.sort();
        self.tags.dedup();
        tags::validate(&self.tags, "Installation")?;
        if self.templates.len() > MAX_TEMPLATES {
            return Err(invalid(format!(
                "at most {MAX_TEMPLATES} templates are allowed."
            )));
        }
        for template in self.templates.values_mut() {
            template.tags.sort();
            template.tags.dedup();
            tags::validate(&template.tags, "Installation")?;
        }
        if let Some(user) = &self.user_id {
            if user.len() > MAX_ID_LEN {
                return Err(invalid("userId is too long."));
            }
        }
        Ok(())
    }

    /// The JSON a GET answers.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = json!({
            "installationId": self.id,
            "platform": self.channel.installation_name(),
            "pushChannel": self.push_channel,
            "pushChannelExpired": self.expired,
            "expirationTime": super::time::NEVER,
            "lastActiveOn": self.last_update,
            "lastUpdate": self.last_update,
            "tags": self.tags,
        });
        if let Some(user) = &self.user_id {
            out["userId"] = json!(user);
        }
        if !self.templates.is_empty() {
            out["templates"] = json!(self.templates);
        }
        out
    }

    /// Every tag the installation answers to: its own, its built-ins, and
    /// (for template sends) those of its templates.
    pub(crate) fn index_tags(&self) -> Vec<String> {
        let mut all = self.tags.clone();
        all.push(tags::builtin(tags::INSTALLATION_ID, &self.id));
        if let Some(user) = &self.user_id {
            all.push(tags::builtin(tags::USER_ID, user));
        }
        for template in self.templates.values() {
            all.extend(template.tags.iter().cloned());
        }
        all.sort();
        all.dedup();
        all
    }

    /// Whether the installation itself (not a template) carries `tag`.
    pub(crate) fn has_tag(&self, tag: &str) -> bool {
        if let Some(id) = tag.strip_prefix(tags::INSTALLATION_ID) {
            return id.strip_prefix('{').and_then(|i| i.strip_suffix('}')) == Some(&self.id);
        }
        if let Some(user) = tag.strip_prefix(tags::USER_ID) {
            return self.user_id.as_deref()
                == user.strip_prefix('{').and_then(|u| u.strip_suffix('}'));
        }
        self.tags.binary_search_by(|t| t.as_str().cmp(tag)).is_ok()
    }

    /// Applies a JSON Patch body.
    pub(crate) fn patch(&mut self, body: &[u8]) -> Result<(), HubError> {
        let ops: Vec<PatchOp> = serde_json::from_slice(body)
            .map_err(|e| HubError::bad_request(format!("The JSON Patch body is not valid: {e}")))?;
        for op in ops {
            self.apply(op)?;
        }
        self.normalize()?;
        self.last_update = super::time::now_rfc3339();
        Ok(())
    }

    fn apply(&mut self, op: PatchOp) -> Result<(), HubError> {
        let segments: Vec<String> = op
            .path
            .strip_prefix('/')
            .ok_or_else(|| unsupported(&op))?
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (op.op, segments.as_slice()) {
            (PatchKind::Add, ["tags"]) => match op.value {
                Some(Value::String(tag)) => self.tags.push(tag),
                Some(Value::Array(values)) => {
                    self.tags.extend(strings(values, &op.path)?);
                }
                _ => return Err(needs(&op.path, "a tag or an array of tags")),
            },
            (PatchKind::Add, ["tags", tag]) => self.tags.push((*tag).to_owned()),
            (PatchKind::Replace, ["tags"]) => match op.value {
                Some(Value::Array(values)) => self.tags = strings(values, &op.path)?,
                _ => return Err(needs(&op.path, "an array of tags")),
            },
            (PatchKind::Remove, ["tags"]) => self.tags.clear(),
            (PatchKind::Remove, ["tags", tag]) => self.tags.retain(|t| t != tag),
            (PatchKind::Add | PatchKind::Replace, ["pushChannel"]) => {
                self.push_channel = push_channel(op.value)?;
                self.expired = false;
            }
            (PatchKind::Add | PatchKind::Replace, ["userId"]) => match op.value {
                Some(Value::String(user)) => self.user_id = Some(user),
                _ => return Err(needs(&op.path, "a string")),
            },
            (PatchKind::Remove, ["userId"]) => self.user_id = None,
            (PatchKind::Add | PatchKind::Replace, ["templates", name]) => {
                let template: Template = value(op.value, &op.path)?;
                self.templates.insert((*name).to_owned(), template);
            }
            (PatchKind::Remove, ["templates", name]) => {
                self.templates.remove(*name);
            }
            (kind, ["templates", name, field]) => {
                let template = self.templates.get_mut(*name).ok_or_else(|| {
                    HubError::bad_request(format!(
                        "The JSON Patch path {:?} names no template of the installation.",
                        op.path
                    ))
                })?;
                match (kind, *field) {
                    (PatchKind::Add | PatchKind::Replace, "body") => {
                        template.body = value(op.value, &op.path)?;
                    }
                    (PatchKind::Add | PatchKind::Replace, "tags") => {
                        template.tags = value(op.value, &op.path)?;
                    }
                    (PatchKind::Remove, "tags") => template.tags.clear(),
                    (PatchKind::Add | PatchKind::Replace, "headers") => {
                        template.headers = value(op.value, &op.path)?;
                    }
                    (PatchKind::Remove, "headers") => template.headers.clear(),
                    _ => return Err(unsupported_path(&op.path)),
                }
            }
            _ => return Err(unsupported_path(&op.path)),
        }
        Ok(())
    }
}

/// One JSON Patch operation (RFC 6902), of the three the service takes.
#[derive(Deserialize)]
struct PatchOp {
    op: PatchKind,
    path: String,
    value: Option<Value>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum PatchKind {
    Add,
    Remove,
    Replace,
}

fn unsupported(op: &PatchOp) -> HubError {
    unsupported_path(&op.path)
}

fn unsupported_path(path: &str) -> HubError {
    HubError::bad_request(format!(
        "The JSON Patch path {path:?} is not supported: the service patches /tags, \
         /pushChannel, /userId and /templates."
    ))
}

fn needs(path: &str, what: &str) -> HubError {
    HubError::bad_request(format!("The JSON Patch value at {path:?} must be {what}."))
}

fn strings(values: Vec<Value>, path: &str) -> Result<Vec<String>, HubError> {
    values
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(needs(path, "an array of strings")),
        })
        .collect()
}

fn value<T: serde::de::DeserializeOwned>(value: Option<Value>, path: &str) -> Result<T, HubError> {
    let value = value.ok_or_else(|| needs(path, "present"))?;
    serde_json::from_value(value).map_err(|e| {
        HubError::bad_request(format!(
            "The JSON Patch value at {path:?} is not valid: {e}"
        ))
    })
}

/// A `pushChannel`: a string for every platform the mock serves.
fn push_channel(value: Option<Value>) -> Result<String, HubError> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::String(_)) | None => Err(invalid("pushChannel is required.")),
        Some(_) => Err(invalid("pushChannel must be a string for this platform.")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Installation {
        Installation::from_json(
            "i1",
            br#"{"installationId":"i1","platform":"fcmv1","pushChannel":"tok","tags":["b","a","a"],
                "templates":{"t":{"body":"{\"x\":\"$(p)\"}","tags":["tt"]}},"userId":"u"}"#,
        )
        .unwrap()
    }

    #[test]
    fn put_body_is_validated_and_read_back() {
        let i = sample();
        assert_eq!(i.channel, Channel::FcmV1);
        assert_eq!(i.tags, vec!["a", "b"]);
        let json = i.to_json();
        assert_eq!(json["platform"], "fcmv1");
        assert_eq!(json["templates"]["t"]["tags"][0], "tt");
        assert_eq!(json["pushChannelExpired"], false);
        assert!(i.has_tag("$InstallationId:{i1}") && i.has_tag("$UserId:{u}") && i.has_tag("a"));
        assert!(i.index_tags().contains(&"tt".to_owned()));
    }

    #[test]
    fn invalid_installations_are_400s() {
        for body in [
            &br#"{"platform":"apns"}"#[..],
            br#"{"platform":"nope","pushChannel":"x"}"#,
            br#"{"platform":"apns","pushChannel":"x","tags":["bad tag"]}"#,
            br#"{"installationId":"other","platform":"apns","pushChannel":"x"}"#,
            br#"not json"#,
        ] {
            let e = Installation::from_json("i1", body).unwrap_err();
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn json_patch_on_tags_channel_and_templates() {
        let mut i = sample();
        i.patch(br#"[{"op":"add","path":"/tags","value":"c"},{"op":"remove","path":"/tags/a"},
                    {"op":"replace","path":"/pushChannel","value":"tok2"},
                    {"op":"add","path":"/templates/w","value":{"body":"<x/>","headers":{"X-WNS-Type":"wns/toast"}}},
                    {"op":"remove","path":"/templates/t"}]"#)
            .unwrap();
        assert_eq!(i.tags, vec!["b", "c"]);
        assert_eq!(i.push_channel, "tok2");
        assert!(i.templates.contains_key("w") && !i.templates.contains_key("t"));
        i.patch(br#"[{"op":"replace","path":"/tags","value":["z"]}]"#)
            .unwrap();
        assert_eq!(i.tags, vec!["z"]);
        for bad in [
            &br#"[{"op":"add","path":"/platform","value":"apns"}]"#[..],
            br#"[{"op":"move","path":"/tags"}]"#,
            br#"[{"op":"add","path":"/tags","value":"bad tag"}]"#,
            br#"{"op":"add"}"#,
        ] {
            assert!(i.clone().patch(bad).is_err());
        }
    }

    #[test]
    fn a_deeply_nested_patch_is_a_400_not_a_crash() {
        let mut i = sample();
        let deep = format!(
            r#"[{{"op":"add","path":"/templates/x","value":{}1{}}}]"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(i.patch(deep.as_bytes()).is_err());
    }
}
