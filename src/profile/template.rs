//! Request templates: one request of a backend's API as data (method, path,
//! query, body) with placeholders such as `{user}` or `{handle}`.
//!
//! A value is never pasted into the text of a request: in a path it is
//! percent-encoded as one segment, in a query or form it is form-encoded,
//! and in a JSON body it becomes a JSON value (a string, the `{tags}` array
//! or the `{lifetime_s}` number). So no user name, handle or message can
//! break out of its place, and the same template serves every value.

use std::fmt;
use std::str::FromStr;

use http::Method;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A placeholder a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    /// The simulated user's name.
    User,
    /// That user's password.
    Password,
    /// The device's push handle from its gateway.
    Handle,
    /// The backend's name for the device's platform (`[platforms.*].name`).
    Platform,
    /// The registration's tags (a JSON array in a JSON body).
    Tags,
    /// The secret message.
    Message,
    /// A notification id.
    Id,
    /// The backend's registration id.
    Registration,
    /// The user a notification is for.
    Recipient,
    /// The caller's bearer token.
    Token,
    /// A token lifetime in seconds (a JSON number in a JSON body).
    LifetimeS,
    /// The tenant (organisation) an account belongs to (`tenants.names`).
    Tenant,
}

impl Var {
    pub const ALL: [Var; 12] = [
        Var::User,
        Var::Password,
        Var::Handle,
        Var::Platform,
        Var::Tags,
        Var::Message,
        Var::Id,
        Var::Registration,
        Var::Recipient,
        Var::Token,
        Var::LifetimeS,
        Var::Tenant,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Var::User => "user",
            Var::Password => "password",
            Var::Handle => "handle",
            Var::Platform => "platform",
            Var::Tags => "tags",
            Var::Message => "message",
            Var::Id => "id",
            Var::Registration => "registration",
            Var::Recipient => "recipient",
            Var::Token => "token",
            Var::LifetimeS => "lifetime_s",
            Var::Tenant => "tenant",
        }
    }
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

impl FromStr for Var {
    type Err = ();
    fn from_str(s: &str) -> Result<Var, ()> {
        Var::ALL.into_iter().find(|v| v.name() == s).ok_or(())
    }
}

/// The values a request is rendered with; a template only reads those
/// its placeholders name.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub user: Option<String>,
    pub password: Option<String>,
    pub handle: Option<String>,
    pub platform: Option<String>,
    pub tags: Option<Vec<String>>,
    pub message: Option<String>,
    pub id: Option<String>,
    pub registration: Option<String>,
    pub recipient: Option<String>,
    pub token: Option<String>,
    pub lifetime_s: Option<u64>,
    pub tenant: Option<String>,
}

impl Values {
    /// The value as JSON, or `None` when the caller did not set it.
    fn json(&self, var: Var) -> Option<Value> {
        let text = |v: &Option<String>| v.clone().map(Value::String);
        match var {
            Var::User => text(&self.user),
            Var::Password => text(&self.password),
            Var::Handle => text(&self.handle),
            Var::Platform => text(&self.platform),
            Var::Message => text(&self.message),
            Var::Id => text(&self.id),
            Var::Registration => text(&self.registration),
            Var::Recipient => text(&self.recipient),
            Var::Token => text(&self.token),
            Var::Tenant => text(&self.tenant),
            Var::Tags => self
                .tags
                .clone()
                .map(|t| Value::Array(t.into_iter().map(Value::String).collect())),
            Var::LifetimeS => self.lifetime_s.map(Value::from),
        }
    }

    /// The value as text, as it goes into a path, a query or a string.
    fn text(&self, var: Var) -> Result<String, RenderError> {
        match self.json(var).ok_or(RenderError(var))? {
            Value::String(s) => Ok(s),
            Value::Array(items) => Ok(items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")),
            other => Ok(other.to_string()),
        }
    }
}

/// A template needed a value the caller did not give: a harness bug, or a
/// placeholder in a request where it means nothing (which profile
/// validation refuses first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no value for {0}")]
pub struct RenderError(pub Var);

/// Text with placeholders, split once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(Var),
}

impl Text {
    /// Splits `text` at its `{name}` placeholders; `{{` and `}}` are
    /// literal braces. The error says what is wrong.
    pub fn parse(text: &str) -> Result<Text, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed {{ in {text:?}")),
                        }
                    }
                    let var = name.parse::<Var>().map_err(|()| {
                        let known: Vec<String> = Var::ALL.iter().map(Var::to_string).collect();
                        format!(
                            "unknown placeholder {{{name}}} (known: {})",
                            known.join(", ")
                        )
                    })?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(var));
                }
                '}' => return Err(format!("unmatched }} in {text:?} (write }}}} for a brace)")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Text(parts))
    }

    /// The placeholders used.
    pub fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        self.0.iter().filter_map(|p| match p {
            Part::Var(v) => Some(*v),
            Part::Literal(_) => None,
        })
    }

    /// The only placeholder, when the text is exactly one.
    fn sole_var(&self) -> Option<Var> {
        match self.0.as_slice() {
            [Part::Var(v)] => Some(*v),
            _ => None,
        }
    }

    fn render(
        &self,
        values: &Values,
        encode: impl Fn(&str) -> String,
    ) -> Result<String, RenderError> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(var) => out.push_str(&encode(&values.text(*var)?)),
            }
        }
        Ok(out)
    }
}

/// A JSON body with placeholders: a string that is exactly one placeholder
/// becomes that value as JSON; a string with placeholders inside text gets
/// their text.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Literal(Value),
    Text(Text),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn parse(value: &Value) -> Result<Json, String> {
        Ok(match value {
            Value::String(s) => {
                let text = Text::parse(s)?;
                if text.vars().next().is_some() {
                    Json::Text(text)
                } else {
                    Json::Literal(Value::String(
                        text.render(&Values::default(), str::to_owned)
                            .unwrap_or_default(),
                    ))
                }
            }
            Value::Array(items) => {
                Json::Array(items.iter().map(Json::parse).collect::<Result<_, _>>()?)
            }
            Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), Json::parse(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => Json::Literal(other.clone()),
        })
    }

    fn vars(&self, out: &mut Vec<Var>) {
        match self {
            Json::Literal(_) => {}
            Json::Text(text) => out.extend(text.vars()),
            Json::Array(items) => items.iter().for_each(|i| i.vars(out)),
            Json::Object(fields) => fields.iter().for_each(|(_, v)| v.vars(out)),
        }
    }

    fn render(&self, values: &Values) -> Result<Value, RenderError> {
        Ok(match self {
            Json::Literal(v) => v.clone(),
            Json::Text(text) => match text.sole_var() {
                Some(var) => values.json(var).ok_or(RenderError(var))?,
                None => Value::String(text.render(values, str::to_owned)?),
            },
            Json::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.render(values))
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(values)?)))
                    .collect::<Result<_, RenderError>>()?,
            ),
        })
    }
}

/// How a body is sent.
#[derive(Debug, Clone, PartialEq)]
enum Body {
    Json(Json),
    /// `application/x-www-form-urlencoded` pairs.
    Form(Vec<(String, Text)>),
    /// Text as is (`text/plain; charset=utf-8`).
    Text(Text),
}

/// One request of a backend's API, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub method: Method,
    path: Text,
    query: Vec<(String, Text)>,
    body: Option<Body>,
    /// Statuses that count as success besides 2xx (`ok` in the profile).
    pub ok: Vec<u16>,
}

/// A request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub method: Method,
    /// Path and query.
    pub target: String,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

/// The body kinds a profile can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Form,
    Text,
}

impl Template {
    /// Builds a template from its parts; each error names what is wrong
    /// (the caller prefixes the field).
    pub fn new(
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        format: BodyFormat,
        ok: Vec<u16>,
    ) -> Result<Template, (&'static str, String)> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| ("method", format!("{method:?} is not an HTTP method")))?;
        if !path.starts_with('/') {
            return Err(("path", format!("{path:?} must start with '/'")));
        }
        if path.contains('?') {
            return Err((
                "path",
                "put the query in `query`, not in the path".to_owned(),
            ));
        }
        let path = Text::parse(path).map_err(|e| ("path", e))?;
        let query = query
            .iter()
            .map(|(k, v)| Ok((k.clone(), Text::parse(v)?)))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| ("query", e))?;
        let body = match body {
            None => None,
            Some(value) => Some(match format {
                BodyFormat::Json => Body::Json(Json::parse(value).map_err(|e| ("body", e))?),
                BodyFormat::Text => match value {
                    Value::String(s) => Body::Text(Text::parse(s).map_err(|e| ("body", e))?),
                    _ => return Err(("body", "a text body is a string".to_owned())),
                },
                BodyFormat::Form => match value {
                    Value::Object(map) => Body::Form(
                        map.iter()
                            .map(|(k, v)| match v {
                                Value::String(s) => Ok((k.clone(), Text::parse(s)?)),
                                _ => Err(format!("form field {k:?} must be a string")),
                            })
                            .collect::<Result<_, _>>()
                            .map_err(|e| ("body", e))?,
                    ),
                    _ => return Err(("body", "a form body is a table of strings".to_owned())),
                },
            }),
        };
        if let Some(status) = ok.iter().find(|s| !(100..=599).contains(*s)) {
            return Err(("ok", format!("{status} is not an HTTP status")));
        }
        Ok(Template {
            method,
            path,
            query,
            body,
            ok,
        })
    }

    /// Every placeholder the template uses.
    pub fn vars(&self) -> Vec<Var> {
        let mut out: Vec<Var> = self.path.vars().collect();
        for (_, v) in &self.query {
            out.extend(v.vars());
        }
        match &self.body {
            Some(Body::Json(json)) => json.vars(&mut out),
            Some(Body::Text(text)) => out.extend(text.vars()),
            Some(Body::Form(pairs)) => pairs.iter().for_each(|(_, v)| out.extend(v.vars())),
            None => {}
        }
        out.dedup();
        out
    }

    /// The placeholders used in the URL (path and query), where a value
    /// ends up in logs, histories and `Referer` headers.
    pub fn url_vars(&self) -> Vec<Var> {
        let mut out: Vec<Var> = self.path.vars().collect();
        for (_, v) in &self.query {
            out.extend(v.vars());
        }
        out.dedup();
        out
    }

    /// The request for these values.
    pub fn render(&self, values: &Values) -> Result<Rendered, RenderError> {
        let mut target = self
            .path
            .render(values, |v| utf8_percent_encode(v, SEGMENT).to_string())?;
        if !self.query.is_empty() {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (name, value) in &self.query {
                query.append_pair(name, &value.render(values, str::to_owned)?);
            }
            target.push('?');
            target.push_str(&query.finish());
        }
        let (content_type, body) = match &self.body {
            None => (None, Vec::new()),
            Some(Body::Json(json)) => (
                Some("application/json"),
                serde_json::to_vec(&json.render(values)?).unwrap_or_default(),
            ),
            Some(Body::Text(text)) => (
                Some("text/plain; charset=utf-8"),
                text.render(values, str::to_owned)?.into_bytes(),
            ),
            Some(Body::Form(pairs)) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (name, value) in pairs {
                    form.append_pair(name, &value.render(values, str::to_owned)?);
                }
                (
                    Some("application/x-www-form-urlencoded"),
                    form.finish().into_bytes(),
                )
            }
        };
        Ok(Rendered {
            method: self.method.clone(),
            target,
            content_type,
            body,
        })
    }

    /// Whether `status` is a success for this request.
    pub fn succeeded(&self, status: u16) -> bool {
        (200..300).contains(&status) || self.ok.contains(&status)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn values() -> Values {
        Values {
            user: Some("a\"b/c d".into()),
            handle: Some("http://h/?token=x&y".into()),
            message: Some("he said \"hi\"\n</toast>".into()),
            tags: Some(vec!["t1".into(), "t2".into()]),
            lifetime_s: Some(2),
            id: Some("../x?y".into()),
            ..Values::default()
        }
    }

    #[test]
    fn values_cannot_break_a_path_a_query_or_a_json_body() {
        let t = Template::new(
            "post",
            "/api/{id}/x",
            &[("handle".into(), "{handle}".into())],
            Some(&json!({ "u": "{user}", "m": "{message}", "tags": "{tags}", "ttl": "{lifetime_s}", "greeting": "hi {user}!" })),
            BodyFormat::Json,
            vec![],
        )
        .unwrap();
        let r = t.render(&values()).unwrap();
        assert_eq!(r.method, Method::POST);
        assert_eq!(
            r.target,
            "/api/..%2Fx%3Fy/x?handle=http%3A%2F%2Fh%2F%3Ftoken%3Dx%26y"
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["u"], "a\"b/c d");
        assert_eq!(body["m"], "he said \"hi\"\n</toast>");
        assert_eq!(body["tags"], json!(["t1", "t2"]));
        assert_eq!(body["ttl"], 2);
        assert_eq!(body["greeting"], "hi a\"b/c d!");
    }

    #[test]
    fn a_body_that_is_one_placeholder_is_that_json_value() {
        let t = Template::new(
            "POST",
            "/n",
            &[],
            Some(&json!("{message}")),
            BodyFormat::Json,
            vec![],
        )
        .unwrap();
        let r = t.render(&values()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&r.body).unwrap(),
            json!("he said \"hi\"\n</toast>")
        );
    }

    #[test]
    fn form_and_text_bodies() {
        let form = Template::new(
            "POST",
            "/f",
            &[],
            Some(&json!({ "u": "{user}" })),
            BodyFormat::Form,
            vec![],
        )
        .unwrap();
        let r = form.render(&values()).unwrap();
        assert_eq!(String::from_utf8(r.body).unwrap(), "u=a%22b%2Fc+d");
        let text = Template::new(
            "POST",
            "/t",
            &[],
            Some(&json!("{message}")),
            BodyFormat::Text,
            vec![],
        )
        .unwrap();
        assert_eq!(
            text.render(&values()).unwrap().body,
            b"he said \"hi\"\n</toast>"
        );
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        let e = Template::new("POST", "/a/{usr}", &[], None, BodyFormat::Json, vec![]).unwrap_err();
        assert_eq!(e.0, "path");
        assert!(e.1.contains("{usr}"), "{}", e.1);
        assert_eq!(
            Template::new("POST", "a", &[], None, BodyFormat::Json, vec![])
                .unwrap_err()
                .0,
            "path"
        );
        assert_eq!(
            Template::new("PO ST", "/a", &[], None, BodyFormat::Json, vec![])
                .unwrap_err()
                .0,
            "method"
        );
        assert!(Text::parse("{user").is_err());
        assert!(Text::parse("a}b").is_err());
        assert_eq!(
            Template::new("GET", "/{{x}}", &[], None, BodyFormat::Json, vec![])
                .unwrap()
                .render(&Values::default())
                .unwrap()
                .target,
            "/{x}"
        );
    }

    #[test]
    fn a_missing_value_is_an_error_not_an_empty_string() {
        let t = Template::new("GET", "/n/{id}", &[], None, BodyFormat::Json, vec![]).unwrap();
        assert_eq!(t.render(&Values::default()), Err(RenderError(Var::Id)));
    }
}
