//! The differential test: two runs that differ only in their secrets, push
//! by push. Anything in a push other than the notification id that changes
//! with the secret is derived from it, whatever the encoding, encryption
//! or hash (Agrigento's insight), so it is reported field by field; a
//! change of size alone is reported apart (a length that depends on the
//! content leaks the content's length).
//!
//! The caller pairs the pushes (same device, same notification slot) and
//! names the ids each side's device read; those are masked as `{id}`
//! before comparing. Fields a backend legitimately varies per push (a
//! random `apns-id`, a provider token renewed between the runs) are
//! declared with [`Differ::ignore`].

use std::collections::BTreeMap;

use pushproof_mocks::Capture;
use serde::Serialize;

use super::xml;

/// The placeholder ids are masked with.
pub const ID_MASK: &str = "{id}";

/// A field whose value differs between the two pushes of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    /// `method`, `path`, `header:<name>` (`#2` for a repeated header),
    /// `json:<pointer>`, `xml:<path>`, or `body` for a body that is
    /// neither JSON nor XML.
    pub field: String,
    /// The value in the first push (ids masked), `None` when absent.
    pub a: Option<String>,
    pub b: Option<String>,
}

/// Body sizes of a pair whose sizes differ once ids are masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeDiff {
    pub a: usize,
    pub b: usize,
    /// The sizes with each id replaced by the same placeholder.
    pub a_masked: usize,
    pub b_masked: usize,
}

/// What differs between the two pushes of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Sequence numbers of the two captures.
    pub a: u64,
    pub b: u64,
    pub fields: Vec<FieldDiff>,
    pub size: Option<SizeDiff>,
}

impl Comparison {
    /// Nothing but the ids differs.
    pub fn is_identical(&self) -> bool {
        self.fields.is_empty() && self.size.is_none()
    }
}

/// Compares pushes of two runs.
///
/// ```
/// use pushproof::conformance::leak::Differ;
/// use pushproof_mocks::{Capture, CaptureKind, Platform};
///
/// let push = |seq: u64, body: &str| Capture {
///     seq,
///     platform: Platform::Fcm,
///     kind: CaptureKind::Push,
///     at: std::time::SystemTime::now(),
///     method: "POST".into(),
///     path: "/v1/projects/p/messages:send".into(),
///     headers: vec![("authorization".into(), format!("Bearer token-{seq}"))],
///     body: body.to_owned().into(),
///     status: 200,
///     reason: None,
///     device: Some("fid-1".into()),
/// };
/// // The same device, notified once in each run; the backend derives the
/// // collapse key from the message.
/// let a = push(1, r#"{"message":{"data":{"secureId":"7f3a"},"android":{"collapse_key":"c9"}}}"#);
/// let b = push(2, r#"{"message":{"data":{"secureId":"e01b"},"android":{"collapse_key":"4d"}}}"#);
/// // Access tokens may be renewed between the runs.
/// let differ = Differ::new().ignore("header:authorization");
/// let comparison = differ.compare(&a, &["7f3a"], &b, &["e01b"]);
/// let fields: Vec<&str> = comparison.fields.iter().map(|f| f.field.as_str()).collect();
/// assert_eq!(fields, ["json:/message/android/collapse_key"]);
/// assert!(comparison.size.is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Differ {
    ignored: Vec<String>,
}

impl Differ {
    /// A differ that ignores nothing but the ids.
    pub fn new() -> Differ {
        Differ::default()
    }

    /// Ignores a field (`header:apns-id`), or every field with a prefix
    /// (`header:authorization*`, `json:/message/token*`).
    pub fn ignore(mut self, field: impl Into<String>) -> Differ {
        self.ignored.push(field.into());
        self
    }

    fn is_ignored(&self, field: &str) -> bool {
        self.ignored
            .iter()
            .any(|rule| match rule.strip_suffix('*') {
                Some(prefix) => field.starts_with(prefix),
                None => field == rule,
            })
    }

    /// What differs between push `a` (whose device read `a_ids`) and push
    /// `b` (whose device read `b_ids`).
    pub fn compare(&self, a: &Capture, a_ids: &[&str], b: &Capture, b_ids: &[&str]) -> Comparison {
        let fa = fields(a, a_ids);
        let fb = fields(b, b_ids);
        let names: std::collections::BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
        let fields = names
            .into_iter()
            .filter(|name| !self.is_ignored(name))
            .filter(|name| fa.get(*name) != fb.get(*name))
            .map(|name| FieldDiff {
                field: name.clone(),
                a: fa.get(name).cloned(),
                b: fb.get(name).cloned(),
            })
            .collect();
        let (a_masked, b_masked) = (mask(&a.body, a_ids).len(), mask(&b.body, b_ids).len());
        let size = (a_masked != b_masked).then(|| SizeDiff {
            a: a.body.len(),
            b: b.body.len(),
            a_masked,
            b_masked,
        });
        Comparison {
            a: a.seq,
            b: b.seq,
            fields,
            size,
        }
    }
}

/// `bytes` with every id replaced by [`ID_MASK`], longest ids first.
fn mask(bytes: &[u8], ids: &[&str]) -> Vec<u8> {
    let mut ids: Vec<&str> = ids.iter().copied().filter(|id| !id.is_empty()).collect();
    ids.sort_by_key(|id| std::cmp::Reverse(id.len()));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    'outer: while i < bytes.len() {
        for id in &ids {
            if bytes[i..].starts_with(id.as_bytes()) {
                out.extend_from_slice(ID_MASK.as_bytes());
                i += id.len();
                continue 'outer;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn mask_text(text: &str, ids: &[&str]) -> String {
    String::from_utf8_lossy(&mask(text.as_bytes(), ids)).into_owned()
}

/// Every field of a push as the differential names it (`method`, `path`,
/// `header:<name>`, `json:<pointer>` for each leaf, `xml:<path>`, or
/// `body`), with `ids` masked as [`ID_MASK`]; numbers and literals as JSON
/// writes them. The body's size is compared apart, and so `content-length`
/// is left out.
pub fn fields(capture: &Capture, ids: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("method".to_owned(), capture.method.clone());
    out.insert("path".to_owned(), mask_text(&capture.path, ids));
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, value) in &capture.headers {
        if name == "content-length" {
            continue;
        }
        let n = seen.entry(name.as_str()).or_default();
        *n += 1;
        let key = if *n == 1 {
            format!("header:{name}")
        } else {
            format!("header:{name}#{n}")
        };
        out.insert(key, mask_text(value, ids));
    }
    let body = &capture.body;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{' | b'[')) {
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
            json_leaves(&json, &mut String::new(), &mut |pointer, value| {
                out.insert(format!("json:{pointer}"), mask_text(&value, ids));
            });
            return out;
        }
    }
    if first == Some(&b'<') {
        let mut elements: BTreeMap<String, String> = BTreeMap::new();
        let complete = xml::walk(body, &mut |span, steps, attr| {
            let text = String::from_utf8_lossy(&body[span]);
            elements
                .entry(format!("xml:{}", xml::path(steps, attr)))
                .or_default()
                .push_str(&mask_text(&text, ids));
        });
        if complete {
            out.extend(elements);
            return out;
        }
    }
    out.insert(
        "body".to_owned(),
        String::from_utf8_lossy(&mask(body, ids)).into_owned(),
    );
    out
}

/// Calls `visit(pointer, text)` for every leaf (an empty object or array
/// is a leaf too, so a change of shape shows).
fn json_leaves(
    value: &serde_json::Value,
    pointer: &mut String,
    visit: &mut impl FnMut(&str, String),
) {
    let len = pointer.len();
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                json_leaves(v, pointer, visit);
                pointer.truncate(len);
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                pointer.push('/');
                pointer.push_str(&i.to_string());
                json_leaves(v, pointer, visit);
                pointer.truncate(len);
            }
        }
        serde_json::Value::String(s) => visit(pointer, s.clone()),
        other => visit(pointer, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushproof_mocks::{CaptureKind, Platform};

    fn capture(seq: u64, headers: &[(&str, &str)], body: &str) -> Capture {
        Capture {
            seq,
            platform: Platform::Apns,
            kind: CaptureKind::Push,
            at: std::time::SystemTime::now(),
            method: "POST".into(),
            path: "/3/device/aa11".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            status: 200,
            reason: None,
            device: None,
        }
    }

    fn apns(seq: u64, id: &str, extra: &str) -> Capture {
        let body = format!(r#"{{"aps":{{"content-available":1{extra}}},"secureId":"{id}"}}"#);
        let len = body.len().to_string();
        capture(
            seq,
            &[
                ("apns-topic", "t"),
                ("content-length", &len),
                ("apns-id", &format!("u-{seq}")),
            ],
            &body,
        )
    }

    #[test]
    fn only_the_id_differs_in_a_sound_pair() {
        let a = apns(1, "0f3c9a7be2d14c58", "");
        let b = apns(2, "77aa03e19bc04f21", "");
        let differ = Differ::new().ignore("header:apns-id");
        let c = differ.compare(&a, &["0f3c9a7be2d14c58"], &b, &["77aa03e19bc04f21"]);
        assert!(c.is_identical(), "{c:?}");
        // Without the declaration the random apns-id is a difference.
        let c = Differ::new().compare(&a, &["0f3c9a7be2d14c58"], &b, &["77aa03e19bc04f21"]);
        assert_eq!(c.fields.len(), 1);
        assert_eq!(c.fields[0].field, "header:apns-id");
    }

    #[test]
    fn a_field_derived_from_the_secret_is_found_and_its_size() {
        let a = apns(1, "id-a", r#","thread-id":"3f1e""#);
        let b = apns(2, "id-b", r#","thread-id":"9c0b77""#);
        let c = Differ::new()
            .ignore("header:apns-*")
            .compare(&a, &["id-a"], &b, &["id-b"]);
        assert_eq!(
            c.fields,
            [FieldDiff {
                field: "json:/aps/thread-id".into(),
                a: Some("3f1e".into()),
                b: Some("9c0b77".into()),
            }]
        );
        let size = c.size.expect("sizes differ");
        assert_eq!(size.b_masked - size.a_masked, 2);
    }

    #[test]
    fn ids_of_different_lengths_do_not_change_the_masked_size() {
        let a = capture(1, &[], "7");
        let b = capture(2, &[], "12345");
        let c = Differ::new().compare(&a, &["7"], &b, &["12345"]);
        assert!(c.is_identical(), "{c:?}");
        let c = Differ::new().compare(&a, &["7"], &b, &["1234"]);
        assert_eq!(c.fields[0].field, "body");
        assert!(c.size.is_some());
    }

    #[test]
    fn xml_elements_and_attributes_are_fields() {
        let toast = |text: &str, id: &str| {
            format!(
                r#"<toast launch="{id}"><visual><binding template="ToastGeneric"><text>{text}</text></binding></visual></toast>"#
            )
        };
        let a = capture(1, &[], &toast("You have a new message", "n1"));
        let b = capture(2, &[], &toast("Meeting moved to 3pm", "n2"));
        let c = Differ::new().compare(&a, &["n1"], &b, &["n2"]);
        let fields: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["xml:/toast/visual/binding/text"]);
    }
}
