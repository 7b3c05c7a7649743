//! Registrations and their Atom XML. A body is an Atom `<entry>` whose
//! `<content type="application/xml">` holds one `*RegistrationDescription`
//! in the `http://schemas.microsoft.com/netservices/2010/10/servicebus/connect`
//! namespace: `Apple` (`DeviceToken`), `FcmV1` (`FcmV1RegistrationId`),
//! `Gcm` (`GcmRegistrationId`), `Windows` (`ChannelUri`), and their
//! `*Template*` forms with `BodyTemplate`, `TemplateName` and the
//! platform's headers (`ApnsHeaders`, `WnsHeaders`); `Tags` is one
//! comma-separated element (REST reference, "Create registration";
//! `@azure/notification-hubs` `serializers/registrationSerializer.ts`).
//! The hub answers with the same entry plus `RegistrationId`, `ETag` and
//! `ExpirationTime`, and lists registrations as an Atom `<feed>`.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::channel::Channel;
use super::error::{escape, escape_into, HubError};
use super::tags;

const SB_NS: &str = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The deepest element nesting a description has (entry, content,
/// description, headers, header, field); deeper is refused, not followed.
const MAX_DEPTH: usize = 8;
/// Most template headers kept.
const MAX_HEADERS: usize = 32;

/// A template registration's parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegTemplate {
    pub(crate) body: String,
    pub(crate) name: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    /// Apple templates' `Expiry` expression.
    pub(crate) expiry: Option<String>,
}

/// A validated registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Registration {
    pub(crate) id: String,
    pub(crate) channel: Channel,
    pub(crate) handle: String,
    /// Sorted, without repeats.
    pub(crate) tags: Vec<String>,
    pub(crate) template: Option<RegTemplate>,
    /// `PushVariables` as sent (a JSON object).
    pub(crate) push_variables: Option<String>,
    pub(crate) etag: u64,
    pub(crate) updated: String,
}

/// What a body describes, before the hub gives it an id and an ETag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Description {
    pub(crate) channel: Channel,
    pub(crate) handle: String,
    pub(crate) tags: Vec<String>,
    pub(crate) template: Option<RegTemplate>,
    pub(crate) push_variables: Option<String>,
}

fn malformed(why: impl std::fmt::Display) -> HubError {
    HubError::bad_request(format!(
        "The request body is not a valid registration entry: {why}."
    ))
}

/// The parts of a description element as read.
#[derive(Default)]
struct Read {
    root: Option<String>,
    fields: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Read {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the entry's description element with a streaming parser: no
/// recursion, nesting bounded, so hostile XML ends in a 400.
fn read(body: &[u8]) -> Result<Read, HubError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("it is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut out = Read::default();
    let mut header: (Option<String>, Option<String>) = (None, None);
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::Start(e) | Event::Empty(e) if path.len() >= MAX_DEPTH => {
                let _ = e;
                return Err(malformed("it is nested too deeply"));
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                start(&mut path, &mut out, name)?;
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                start(&mut path, &mut out, name)?;
                end(&mut path, &mut out, &mut header);
            }
            Event::End(_) => end(&mut path, &mut out, &mut header),
            Event::Text(t) => {
                let text = t.unescape().map_err(malformed)?;
                text_at(&path, &mut out, &mut header, &text);
            }
            Event::CData(c) => {
                let bytes = c.into_inner();
                let text =
                    std::str::from_utf8(&bytes).map_err(|_| malformed("CDATA is not UTF-8"))?;
                text_at(&path, &mut out, &mut header, text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(malformed("an element is not closed"));
    }
    Ok(out)
}

fn start(path: &mut Vec<String>, out: &mut Read, name: String) -> Result<(), HubError> {
    match path.len() {
        0 if name != "entry" => return Err(malformed("the root element is not an Atom entry")),
        2 if path[1] == "content" => {
            if out.root.is_some() {
                return Err(malformed("the content holds more than one description"));
            }
            out.root = Some(name.clone());
        }
        3 if path[1] == "content" => out.fields.push((name.clone(), String::new())),
        _ => {}
    }
    path.push(name);
    Ok(())
}

fn end(path: &mut Vec<String>, out: &mut Read, header: &mut (Option<String>, Option<String>)) {
    // `…Headers/…Header` closes: keep the pair.
    if path.len() == 5 && path[1] == "content" {
        if let (Some(name), value) = std::mem::take(header) {
            if out.headers.len() < MAX_HEADERS {
                out.headers.push((name, value.unwrap_or_default()));
            }
        }
    }
    path.pop();
}

fn text_at(
    path: &[String],
    out: &mut Read,
    header: &mut (Option<String>, Option<String>),
    text: &str,
) {
    if path.get(1).map(String::as_str) != Some("content") {
        return;
    }
    match path.len() {
        4 => {
            if let Some((_, value)) = out.fields.last_mut() {
                value.push_str(text);
            }
        }
        6 => match path[5].as_str() {
            "Header" => header.0.get_or_insert_with(String::new).push_str(text),
            "Value" => header.1.get_or_insert_with(String::new).push_str(text),
            _ => {}
        },
        _ => {}
    }
}

impl Description {
    /// Parses an Atom entry body.
    pub(crate) fn from_atom(body: &[u8]) -> Result<Description, HubError> {
        let read = read(body)?;
        let root = read
            .root
            .clone()
            .ok_or_else(|| malformed("the entry has no registration description"))?;
        let kind = root
            .strip_suffix("RegistrationDescription")
            .ok_or_else(|| malformed(format!("{root} is not a registration description")))?;
        let (kind, template) = match kind.strip_suffix("Template") {
            Some(kind) => (kind, true),
            None => (kind, false),
        };
        let channel = Channel::ALL
            .into_iter()
            .find(|c| c.registration_kind() == kind)
            .ok_or_else(|| {
                HubError::bad_request(format!(
                    "{root} is not served by this mock hub (Apple, FcmV1, Gcm and Windows \
                     registrations and their templates are)."
                ))
            })?;
        let handle = read
            .field(channel.handle_element())
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| malformed(format!("{} is required", channel.handle_element())))?
            .to_owned();
        let mut tags: Vec<String> = read
            .field("Tags")
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags.dedup();
        tags::validate(&tags, "Registration")?;
        let template = if template {
            let body = read
                .field("BodyTemplate")
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| malformed("BodyTemplate is required in a template registration"))?;
            Some(RegTemplate {
                body: body.to_owned(),
                name: read.field("TemplateName").map(|n| n.trim().to_owned()),
                headers: read.headers.clone(),
                expiry: read.field("Expiry").map(|e| e.trim().to_owned()),
            })
        } else {
            None
        };
        let push_variables = read
            .field("PushVariables")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        if let Some(vars) = &push_variables {
            if !serde_json::from_str::<serde_json::Value>(vars).is_ok_and(|v| v.is_object()) {
                return Err(malformed("PushVariables is not a JSON object"));
            }
        }
        Ok(Description {
            channel,
            handle,
            tags,
            template,
            push_variables,
        })
    }
}

impl Registration {
    pub(crate) fn new(id: &str, description: Description, etag: u64) -> Registration {
        Registration {
            id: id.to_owned(),
            channel: description.channel,
            handle: description.handle,
            tags: description.tags,
            template: description.template,
            push_variables: description.push_variables,
            etag,
            updated: super::time::now_rfc3339(),
        }
    }

    pub(crate) fn has_tag(&self, tag: &str) -> bool {
        self.tags.binary_search_by(|t| t.as_str().cmp(tag)).is_ok()
    }

    /// The `*RegistrationDescription` element name.
    fn root(&self) -> String {
        let template = if self.template.is_some() {
            "Template"
        } else {
            ""
        };
        format!(
            "{}{template}RegistrationDescription",
            self.channel.registration_kind()
        )
    }

    /// The Atom entry the service answers with; `base` is
    /// `https://{host}/{hub}`.
    pub(crate) fn to_entry(&self, base: &str, declaration: bool) -> String {
        let mut x = String::with_capacity(1024);
        if declaration {
            x.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
        }
        let url = format!("{base}/registrations/{}?api-version=2020-06", self.id);
        let url = escape(&url);
        x.push_str(r#"<entry xmlns="http://www.w3.org/2005/Atom"><id>"#);
        x.push_str(&url);
        x.push_str(r#"</id><title type="text">"#);
        escape_into(&mut x, &self.id);
        x.push_str("</title><published>");
        x.push_str(&self.updated);
        x.push_str("</published><updated>");
        x.push_str(&self.updated);
        x.push_str(r#"</updated><link rel="self" href=""#);
        x.push_str(&url);
        x.push_str(r#""/><content type="application/xml"><"#);
        let root = self.root();
        x.push_str(&root);
        x.push_str(&format!(r#" xmlns:i="{XSI_NS}" xmlns="{SB_NS}">"#));
        let mut field = |name: &str, value: &str| {
            x.push('<');
            x.push_str(name);
            x.push('>');
            escape_into(&mut x, value);
            x.push_str("</");
            x.push_str(name);
            x.push('>');
        };
        field("ExpirationTime", super::time::NEVER);
        field("RegistrationId", &self.id);
        field("ETag", &self.etag.to_string());
        if !self.tags.is_empty() {
            field("Tags", &self.tags.join(","));
        }
        if let Some(vars) = &self.push_variables {
            field("PushVariables", vars);
        }
        field(self.channel.handle_element(), &self.handle);
        if let Some(t) = &self.template {
            field("BodyTemplate", &t.body);
            if let Some(name) = &t.name {
                field("TemplateName", name);
            }
            if let Some(expiry) = &t.expiry {
                field("Expiry", expiry);
            }
            let (outer, inner) = match self.channel {
                Channel::Apns => ("ApnsHeaders", "ApnsHeader"),
                Channel::Wns => ("WnsHeaders", "WnsHeader"),
                Channel::FcmV1 | Channel::Gcm => ("", ""),
            };
            if !outer.is_empty() && !t.headers.is_empty() {
                x.push_str(&format!("<{outer}>"));
                for (name, value) in &t.headers {
                    x.push_str(&format!("<{inner}><Header>"));
                    escape_into(&mut x, name);
                    x.push_str("</Header><Value>");
                    escape_into(&mut x, value);
                    x.push_str(&format!("</Value></{inner}>"));
                }
                x.push_str(&format!("</{outer}>"));
            }
        }
        x.push_str("</");
        x.push_str(&root);
        x.push_str("></content></entry>");
        x
    }
}

/// An Atom feed of registrations.
pub(crate) fn feed<'a>(base: &str, entries: impl Iterator<Item = &'a Registration>) -> String {
    let mut x = String::with_capacity(1024);
    x.push_str(r#"<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Registrations</title><id>"#);
    let url = escape(&format!("{base}/registrations/?api-version=2020-06"));
    x.push_str(&url);
    x.push_str("</id><updated>");
    x.push_str(&super::time::now_rfc3339());
    x.push_str(r#"</updated><link rel="self" href=""#);
    x.push_str(&url);
    x.push_str(r#""/>"#);
    for entry in entries {
        x.push_str(&entry.to_entry(base, false));
    }
    x.push_str("</feed>");
    x
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// As `@azure/notification-hubs` 2.1.0 serializes an Apple template.
    const APPLE_TEMPLATE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><entry xmlns="http://www.w3.org/2005/Atom"><updated>2026-12-01T10:01:19.622Z</updated><content type="application/xml"><AppleTemplateRegistrationDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><Tags>u1,u2</Tags><PushVariables>{&quot;a&quot;:&quot;b&quot;}</PushVariables><DeviceToken>ABCD</DeviceToken><BodyTemplate><![CDATA[{"aps":{"alert":"$(m)"}}]]></BodyTemplate><TemplateName>tn</TemplateName><ApnsHeaders><ApnsHeader><Header>apns-priority</Header><Value>5</Value></ApnsHeader></ApnsHeaders></AppleTemplateRegistrationDescription></content></entry>"#;

    #[test]
    fn the_sdk_apple_template_parses() {
        let d = Description::from_atom(APPLE_TEMPLATE.as_bytes()).unwrap();
        assert_eq!(d.channel, Channel::Apns);
        assert_eq!(d.handle, "ABCD");
        assert_eq!(d.tags, vec!["u1", "u2"]);
        let t = d.template.clone().unwrap();
        assert_eq!(t.body, r#"{"aps":{"alert":"$(m)"}}"#);
        assert_eq!(t.name.as_deref(), Some("tn"));
        assert_eq!(
            t.headers,
            vec![("apns-priority".to_owned(), "5".to_owned())]
        );
        assert_eq!(d.push_variables.as_deref(), Some(r#"{"a":"b"}"#));
        // The answer parses back to the same description.
        let r = Registration::new("r-1", d.clone(), 1);
        let again = Description::from_atom(r.to_entry("https://h/hub", true).as_bytes()).unwrap();
        assert_eq!(again, d);
    }

    #[test]
    fn every_native_kind_parses_with_spaced_tags() {
        for c in Channel::ALL {
            let body = format!(
                r#"<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><{k}RegistrationDescription xmlns="{SB_NS}"><Tags>a, b</Tags><{h}>https://x/?token=a%2Bb&amp;c</{h}></{k}RegistrationDescription></content></entry>"#,
                k = c.registration_kind(),
                h = c.handle_element()
            );
            let d = Description::from_atom(body.as_bytes()).unwrap();
            assert_eq!(d.channel, c);
            assert_eq!(d.tags, vec!["a", "b"]);
            assert_eq!(d.handle, "https://x/?token=a%2Bb&c");
        }
    }

    #[test]
    fn malformed_atom_is_a_400() {
        let deep = format!("<entry>{}", "<a>".repeat(10_000));
        for body in [
            "",
            "<entry>",
            "not xml",
            "<feed/>",
            "<entry><content><AppleRegistrationDescription></AppleRegistrationDescription></content></entry>",
            "<entry><content><MpnsRegistrationDescription><ChannelUri>x</ChannelUri></MpnsRegistrationDescription></content></entry>",
            "<entry><content><AppleRegistrationDescription><DeviceToken>x</DeviceToken><Tags>bad tag</Tags></AppleRegistrationDescription></content></entry>",
            "<entry><content><AppleRegistrationDescription><DeviceToken>x</Wrong></AppleRegistrationDescription></content></entry>",
            "<entry><content><AppleTemplateRegistrationDescription><DeviceToken>x</DeviceToken></AppleTemplateRegistrationDescription></content></entry>",
            &deep,
        ] {
            let e = Description::from_atom(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST, "{body}");
        }
    }
}
