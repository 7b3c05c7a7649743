//! SP-ENUM-01: "not yours" is answered exactly as "does not exist". A
//! fresh user fetches another user's real id and two unknown ids of the
//! same shape; the answers must not differ in status, headers, body or
//! length, or the backend tells a scanner which ids exist (Rocket.Chat
//! #42033 answered 403 for someone else's message and an empty 200 for no
//! message). What differs between the two unknown answers (a `Date`, a
//! request id) is volatile and left out of the comparison.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::lookalike::lookalike;
use super::super::probe;
use crate::client::{Exchange, Reply};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-ENUM-01",
    title: "\"Not yours\" is answered as \"does not exist\"",
    level: Level::Must,
    severity: Severity::High,
    method: "A fresh notification per proven device is fetched, before its owner reads it, by a \
             fresh user with a valid session, and so are two unknown ids of the same shape. The \
             answer to the other user's id must equal the unknown ids' in status, headers (less \
             those that differ between the two unknown answers, such as Date or a request id), \
             body (the asked id masked; JSON members that differ between the unknown answers \
             left out), so in length too (the ids are as long); the owner then fetches it \
             (positive control). Needs a probe on every platform whose baseline round trip \
             verified",
    sources: &[
        "OWASP ASVS 5.0 6.3.8 (no enumeration by status, message or timing; applied to objects)",
        "CWE-204 Observable Response Discrepancy",
        "RocketChat/Rocket.Chat#42033 (403 for another user's message, 200 for a missing one)",
    ],
    needs: &[],
    sample: Sample {
        min: 3,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let (_, caller) = match suite.fresh_caller("enum01").await {
        Ok(caller) => caller,
        Err(e) => {
            f.backend_failed(&e);
            return f;
        }
    };
    let owners = probe::proven_devices(suite, INFO.sample.min);
    let probed = probe::deliver_fresh(suite, &owners, INFO.id, &mut f).await;
    let mut rng = suite.rng(INFO.id);
    let mut platforms = BTreeSet::new();
    let mut alike = 0;
    for p in &probed {
        let id = &p.delivered.id;
        let unknown = [lookalike(id, &mut rng), lookalike(id, &mut rng)];
        let user = &p.owner.user;
        let theirs = suite.fetch(Some(&caller), user, id).await;
        let first = suite.fetch(Some(&caller), user, &unknown[0]).await;
        let second = suite.fetch(Some(&caller), user, &unknown[1]).await;
        let mut e = evidence::about(&p.owner, String::new(), Some(&theirs));
        e.detail = serde_json::json!({
            "id": id,
            "unknown": unknown,
            "unknown_answer": evidence::exchange(&first),
        });
        let (Some(a), Some(b), Some(c)) = (theirs.reply(), first.reply(), second.reply()) else {
            let failed = [&theirs, &first, &second]
                .into_iter()
                .find(|x| x.reply().is_none())
                .map_or_else(String::new, Exchange::describe);
            e.what = format!("a fetch got no answer: {failed}");
            f.backend_failure(e);
            continue;
        };
        if probe::leaks(&theirs, &p.secret) {
            e.what = format!(
                "a fresh user fetched {}'s notification and got its content",
                p.owner.name
            );
            f.violation(e);
            continue;
        }
        let differences = compare(
            Answer::new(a, id),
            [Answer::new(b, &unknown[0]), Answer::new(c, &unknown[1])],
        );
        if differences.is_empty() {
            alike += 1;
        } else {
            e.what = format!(
                "another user's id ({}'s) is answered unlike an unknown id: {}",
                p.owner.name,
                differences.join("; ")
            );
            f.violation(e);
        }
        if probe::control(suite, p, &mut f).await {
            f.gathered(1);
            platforms.insert(p.owner.platform);
        }
    }
    for platform in probe::proven_platforms(suite) {
        f.require(
            platforms.contains(&platform),
            format!("no probe on {platform}"),
        );
    }
    match f.violations.first() {
        None => f.summary(format!(
            "{alike} of {} fetches of another user's id were answered exactly as an unknown id; \
             the owners then fetched them",
            probed.len()
        )),
        Some(first) => {
            let first = first.what.clone();
            f.summary(format!(
                "{} of {} fetches of another user's id were told apart from an unknown id: {first}",
                f.violations.len(),
                probed.len()
            ));
        }
    }
    f
}

/// An answer as compared: the asked id masked out of the body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body: Vec<u8>,
    /// The body's length as it came.
    raw_len: usize,
}

/// What stands in for the asked id in a body.
const ID_MASK: &[u8] = b"{id}";

impl Answer {
    fn new(reply: &Reply, id: &str) -> Answer {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in &reply.headers {
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(String::from_utf8_lossy(value.as_bytes()).replace(id, "{id}"));
        }
        Answer {
            status: reply.status.as_u16(),
            headers,
            body: mask(&reply.body, id.as_bytes()),
            raw_len: reply.body.len(),
        }
    }
}

fn mask(body: &[u8], id: &[u8]) -> Vec<u8> {
    if id.is_empty() {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(id) {
            out.extend_from_slice(ID_MASK);
            i += id.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

/// How `theirs` differs from the two unknown answers, leaving out what
/// differs between those two (it varies on its own).
fn compare(theirs: Answer, unknown: [Answer; 2]) -> Vec<String> {
    let [one, two] = unknown;
    let mut differences = Vec::new();
    if theirs.status != one.status && theirs.status != two.status {
        differences.push(format!(
            "status {} for another user's id, {} for an unknown one",
            theirs.status, one.status
        ));
    }
    let names: BTreeSet<&String> = theirs
        .headers
        .keys()
        .chain(one.headers.keys())
        .chain(two.headers.keys())
        .collect();
    let mut headers = Vec::new();
    for name in names {
        // Date, and whatever else differs between two unknown answers.
        let volatile = name == "date" || one.headers.get(name) != two.headers.get(name);
        if !volatile && theirs.headers.get(name) != one.headers.get(name) {
            headers.push(name.as_str());
        }
    }
    if !headers.is_empty() {
        differences.push(format!("header {} differs", headers.join(", ")));
    }
    let bodies = match (
        serde_json::from_slice::<Value>(&theirs.body),
        serde_json::from_slice::<Value>(&one.body),
        serde_json::from_slice::<Value>(&two.body),
    ) {
        (Ok(mut a), Ok(mut b), Ok(c)) => {
            drop_volatile(&mut a, &mut b, &c);
            a != b
        }
        _ => theirs.body != one.body && one.body == two.body,
    };
    if bodies {
        differences.push(format!(
            "the body differs ({} bytes for another user's id, {} for an unknown one)",
            theirs.raw_len, one.raw_len
        ));
    }
    differences
}

/// Removes from `a` and `b` the object members whose values differ
/// between `b` and `c` (two unknown answers), recursively.
fn drop_volatile(a: &mut Value, b: &mut Value, c: &Value) {
    match (a, b, c) {
        (Value::Object(a), Value::Object(b), Value::Object(c)) => {
            let keys: Vec<String> = b.keys().cloned().collect();
            for key in keys {
                match (a.get_mut(&key), b.get_mut(&key), c.get(&key)) {
                    (Some(x), Some(y), Some(z)) => {
                        if y != z && !(y.is_object() && z.is_object()) {
                            a.remove(&key);
                            b.remove(&key);
                        } else {
                            drop_volatile(x, y, z);
                        }
                    }
                    (_, _, None) => {
                        a.remove(&key);
                        b.remove(&key);
                    }
                    _ => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b), Value::Array(c)) if b.len() == c.len() => {
            for ((x, y), z) in a.iter_mut().zip(b.iter_mut()).zip(c) {
                drop_volatile(x, y, z);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, StatusCode};

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str, id: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        let reply = Reply {
            status: StatusCode::from_u16(status).expect("a status"),
            headers: map,
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
        };
        Answer::new(&reply, id)
    }

    #[test]
    fn identical_answers_with_volatile_parts_are_alike() {
        let mine = |id: &str, rid: &str, date: &str| {
            answer(
                404,
                &[
                    ("date", date),
                    ("x-request-id", rid),
                    ("content-type", "application/json"),
                ],
                &format!(r#"{{"error":"not found","id":"{id}","request":"{rid}"}}"#),
                id,
            )
        };
        let differences = compare(
            mine("aa11", "r1", "d1"),
            [mine("bb22", "r2", "d2"), mine("cc33", "r3", "d3")],
        );
        assert!(differences.is_empty(), "{differences:?}");
    }

    #[test]
    fn status_header_body_and_length_differences_are_named() {
        let unknown = |id: &str| answer(404, &[("x-kind", "none")], r#"{"error":"not found"}"#, id);
        let forbidden = answer(
            403,
            &[("x-kind", "none")],
            r#"{"error":"forbidden"}"#,
            "aa11",
        );
        let d = compare(forbidden, [unknown("bb22"), unknown("cc33")]);
        assert!(d[0].contains("status 403"), "{d:?}");
        assert!(d.iter().any(|x| x.contains("body")), "{d:?}");

        let header = answer(
            404,
            &[("x-kind", "owned")],
            r#"{"error":"not found"}"#,
            "aa11",
        );
        let d = compare(header, [unknown("bb22"), unknown("cc33")]);
        assert_eq!(d, ["header x-kind differs"]);

        let text = |body: &str| answer(404, &[], body, "aa11");
        let d = compare(text("no  such"), [text("no such"), text("no such")]);
        assert!(d.iter().any(|x| x.contains("body")), "{d:?}");
    }
}
