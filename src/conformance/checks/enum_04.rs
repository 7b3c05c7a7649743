//! SP-ENUM-04: ids are parsed robustly. Whatever a client puts where the
//! id goes — nothing, kilobytes, Unicode, quotes and brackets, a NUL, a
//! path that climbs out, escapes that decode to nothing valid — the
//! backend answers with a client error (or sends the client elsewhere),
//! never a 5xx, a dropped connection or a stack trace, and never serves
//! something for it.

use std::sync::OnceLock;

use regex::RegexSet;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use crate::client::{ClientError, Exchange};
use crate::profile::{Rendered, Values};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-ENUM-04",
    title: "Ids are parsed robustly",
    level: Level::Must,
    severity: Severity::Medium,
    method: "A fresh user with a valid session fetches about thirty malformed ids through the \
             profile's fetch request: empty, 8 KiB long, Unicode (with a right-to-left \
             override), SQL, NoSQL, template and script metacharacters, a NUL, path traversal \
             encoded and not, malformed and overlong percent-escapes, numbers that overflow, a \
             CRLF header injection. Each answer must be a 4xx (or a redirect; a collection \
             route may answer 2xx for the empty id), never a 5xx, no answer, a stack trace or \
             SQL error in the body, or an injected header",
    sources: &[
        "OWASP ASVS 5.0 16.5.1 (no stack traces or internals in errors)",
        "OWASP API Security Top 10 2023 API8 (security misconfiguration)",
        "Schemathesis not_a_server_error",
    ],
    needs: &[],
    sample: Sample {
        min: 25,
        unit: "ids",
    },
};

/// How a malformed id goes into the request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Put {
    /// As a value of the fetch template (percent-encoded where it goes).
    Value,
    /// As is, in place of the id in the rendered target.
    Raw,
}

/// Malformed ids: a name, the text, and how it is put.
fn shapes() -> Vec<(&'static str, String, Put)> {
    use Put::{Raw, Value};
    let mut shapes = vec![
        ("empty", String::new(), Value),
        ("8 KiB", "9".repeat(8192), Value),
        ("Unicode", "ünïcødé-\u{1F600}-\u{202E}dI".to_owned(), Value),
        ("NUL", "\0".to_owned(), Value),
        ("NUL inside", "abc%00def".to_owned(), Raw),
        ("SQL quote", "1' OR '1'='1".to_owned(), Value),
        (
            "SQL statement",
            "1;DROP TABLE notifications--".to_owned(),
            Value,
        ),
        ("NoSQL operator", "{\"$ne\":null}".to_owned(), Value),
        ("template", "{{7*7}}${7*7}<%= 7*7 %>".to_owned(), Value),
        ("script", "<script>alert(1)</script>".to_owned(), Value),
        ("format string", "%s%s%s%n%x".to_owned(), Value),
        (
            "encoded traversal",
            "../../../../etc/passwd".to_owned(),
            Value,
        ),
        ("traversal", "../../../../etc/passwd".to_owned(), Raw),
        ("dot", ".".to_owned(), Raw),
        ("dot dot", "..".to_owned(), Raw),
        ("double slash", "/x".to_owned(), Raw),
        ("bad escape", "%zz".to_owned(), Raw),
        ("lone percent", "%".to_owned(), Raw),
        ("overlong UTF-8", "%C0%AE%C0%AE".to_owned(), Raw),
        ("invalid UTF-8", "%FF%FE%FD".to_owned(), Raw),
        ("encoded slash", "a%2Fb".to_owned(), Raw),
        ("CRLF injection", "x%0D%0AX-Injected:%20yes".to_owned(), Raw),
        ("negative", "-1".to_owned(), Value),
        ("zero", "0".to_owned(), Value),
        (
            "overflow",
            "99999999999999999999999999999999999999".to_owned(),
            Value,
        ),
        ("float", "1e400".to_owned(), Value),
        ("NaN", "NaN".to_owned(), Value),
        ("null", "null".to_owned(), Value),
        ("array", "[1,2]".to_owned(), Value),
        ("space", " ".to_owned(), Value),
        ("tab and newline", "\t\n".to_owned(), Value),
    ];
    shapes.shrink_to_fit();
    shapes
}

/// Texts that only an error dump, a stack trace or a database error puts
/// in an answer.
fn dump_patterns() -> &'static RegexSet {
    static SET: OnceLock<RegexSet> = OnceLock::new();
    SET.get_or_init(|| {
        RegexSet::new([
            r"(?m)^\s*at \S.*[:(]\d+", // JS, Java, C#, Rust frames
            r"Traceback \(most recent call last\)",
            r"panicked at",
            r"(?i)stack ?backtrace",
            r"\b\w+(Exception|Error)(: | \{|\()", // a typed error printed
            r"SQLITE_[A-Z]+|SQLSTATE|ORA-\d{5}",
            r#"near "[^"]*": syntax error|syntax error at or near|error in your SQL syntax"#,
            r"goroutine \d+ \[",
        ])
        .expect("the patterns are valid")
    })
}

/// What is wrong with an answer to a malformed id, if anything.
fn judge(exchange: &Exchange, collection: bool) -> Option<String> {
    let reply = match &exchange.outcome {
        Ok(reply) => reply,
        Err(ClientError::Timeout(t)) => return Some(format!("no answer within {t:?}")),
        Err(e) => return Some(format!("no answer: {e}")),
    };
    let status = reply.status.as_u16();
    if reply.headers.contains_key("x-injected") {
        return Some("the id's CRLF became a header of the answer".to_owned());
    }
    let text = String::from_utf8_lossy(&reply.body);
    let dumps = dump_patterns().matches(&text);
    if dumps.matched_any() {
        return Some(format!(
            "the answer ({status}) carries what looks like a stack trace or internal error"
        ));
    }
    match status {
        500..=599 => Some(format!("answered {status}")),
        200..=299 if !collection => Some(format!("answered {status}: something was served")),
        _ => None,
    }
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let (user, caller) = match suite.fresh_caller("enum04").await {
        Ok(caller) => caller,
        Err(e) => {
            f.backend_failed(&e);
            return f;
        }
    };
    let subject = probe::proven_devices(suite, 1).into_iter().next();
    let fetch = &suite.profile().requests.fetch;
    // Where a raw id goes: the rendered target of a marker id.
    const MARKER: &str = "pp0id0marker";
    let values = |id: &str| Values {
        user: Some(user.name.clone()),
        id: Some(id.to_owned()),
        token: Some(caller.secret().to_owned()),
        ..Values::default()
    };
    let marked = match fetch.template.render(&values(MARKER)) {
        Ok(rendered) => rendered,
        Err(e) => {
            f.harness_error(format!("the fetch request cannot be rendered: {e}"));
            return f;
        }
    };
    let mut robust = 0;
    for (name, id, put) in shapes() {
        let exchange = match put {
            Put::Value => suite.fetch(Some(&caller), &user.name, &id).await,
            Put::Raw => {
                let request = Rendered {
                    target: marked.target.replacen(MARKER, &id, 1),
                    ..marked.clone()
                };
                suite
                    .api
                    .client
                    .send(&request, &suite.profile().auth, Some(&caller))
                    .await
            }
        };
        if let Err(ClientError::Request(why)) = &exchange.outcome {
            f.note(evidence::what(format!(
                "the {name} id could not be sent by this client ({why}); not judged"
            )));
            continue;
        }
        f.gathered(1);
        // `GET /api/notifications/` may be a list of one's own.
        let collection = name == "empty";
        match judge(&exchange, collection) {
            None => robust += 1,
            Some(problem) => {
                let what = format!("the {name} id: {problem}");
                let mut e = match &subject {
                    Some(device) => evidence::about(device, what, Some(&exchange)),
                    None => {
                        let mut e = evidence::what(what);
                        e.exchange = Some(evidence::exchange(&exchange));
                        e
                    }
                };
                e.detail = serde_json::json!({ "shape": name, "caller": user.name });
                f.violation(e);
            }
        }
    }
    match f.violations.first() {
        None => f.summary(format!(
            "{robust} malformed ids answered with a client error, no stack trace"
        )),
        Some(first) => {
            let first = first.what.clone();
            f.summary(format!(
                "{} of {} malformed ids were answered badly: {first}",
                f.violations.len(),
                f.gathered
            ));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Reply;
    use bytes::Bytes;
    use http::{HeaderMap, Method, StatusCode};
    use std::time::Duration;

    fn answer(status: u16, body: &str) -> Exchange {
        Exchange {
            method: Method::GET,
            url: "http://b/api/notifications/x".into(),
            request_headers: Vec::new(),
            request_body: Bytes::new(),
            outcome: Ok(Reply {
                status: StatusCode::from_u16(status).expect("a status"),
                headers: HeaderMap::new(),
                body: Bytes::copy_from_slice(body.as_bytes()),
            }),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn client_errors_pass_and_dumps_fail() {
        assert_eq!(judge(&answer(404, r#"{"error":"not found"}"#), false), None);
        assert_eq!(judge(&answer(400, "bad id"), false), None);
        assert_eq!(judge(&answer(301, ""), false), None);
        assert_eq!(judge(&answer(200, "[]"), true), None);
        assert!(judge(&answer(200, "[]"), false).is_some());
        assert!(judge(&answer(500, "internal error"), false).is_some());
        for dump in [
            "TypeError: Cannot read properties of undefined\n    at fetch (/app/server.js:10:5)",
            "Traceback (most recent call last):\n  File \"app.py\"",
            "thread 'main' panicked at src/api.rs:3:1",
            "java.lang.NullPointerException: x",
            "Utf8Error { valid_up_to: 0 }",
            "SQLITE_ERROR: near \"'\": syntax error",
        ] {
            assert!(judge(&answer(404, dump), false).is_some(), "{dump}");
        }
    }
}
