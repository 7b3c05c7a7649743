//! SP-REG-03: who may send, to whom, and what a message can do to a push.
//! - A send needs a signed-in sender, and goes only where the declared
//!   policy (`policy.send`) lets it: under `self`, to oneself.
//! - `to_tag` names one user. The Notify Users tutorial pastes it into a
//!   Notification Hubs tag expression (`"username:" + to_tag`), so
//!   `bob || username:carol` reaches carol too.
//! - A message's quotes, brackets and markup never change the push: the
//!   tutorial builds its JSON and XML payloads by concatenation, so a
//!   message that closes a string can add keys. Each crafted message's
//!   push must have the structure of a plain message's (what differs
//!   between two plain pushes, such as the id, left out).

use std::collections::{BTreeMap, BTreeSet};

use pushproof_mocks::{Delivery, Platform};
use regex::Regex;
use serde_json::Value;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::{Suite, User};
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use super::reg_01::STRAY_WINDOW;
use crate::client::Credential;
use crate::device::{Device, EnrollError};
use crate::profile::{SendPolicy, Values};

/// Messages crafted to break out of a JSON string or an XML text node.
const CRAFTED: &[&str] = &[
    r#""}},"aps":{"alert":"injected","sound":"default"},"x":{"y":""#,
    r#"","content-available":0,"secureId":"00000000000000000000000000000000"#,
    r#"</text></binding></visual><actions><action content="injected" arguments="x"/></actions><visual><binding template="ToastGeneric"><text>"#,
    "]]><injected/><![CDATA[",
    "\\\"\u{0}\u{2028}\r\nX-Injected: yes\r\n\r\n",
    "{{secureId}}${id}%s%n",
];

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-REG-03",
    title: "Sends are authorized and messages cannot shape the push",
    level: Level::Must,
    severity: Severity::High,
    method: "Per proven platform, with a victim V and a bystander Y (fresh users and devices): a \
             send to V without credentials must be refused (401 or 403) and reach nothing; \
             under policy.send = self another user's send to Y must be refused; sends to \
             to_tag values that are not one user name (\"V || username:Y\", \"V||Y\", \
             \"username:Y\", \"V,Y\") must reach none of Y's devices, which a proper send then \
             reaches (positive control). V is sent two plain messages and six crafted ones \
             (closing JSON strings and objects, duplicate keys, closing XML elements, CDATA, \
             NUL, U+2028 and CRLF, template syntax): every crafted push must have the plain \
             pushes' header names, JSON keys and values, or XML elements and attributes (what \
             differs between the two plain pushes left out)",
    sources: &[
        "OWASP API Security Top 10 2023 API5 (broken function-level authorization)",
        "Azure Notification Hubs Notify Users tutorial (to_tag in a tag expression; payloads \
         built by concatenation)",
        "CWE-74 Injection",
    ],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let platforms: Vec<Platform> = probe::proven_platforms(suite).into_iter().collect();
    f.require(
        !platforms.is_empty(),
        "no platform's baseline round trip verified",
    );
    let results = futures::future::join_all(platforms.iter().map(|p| probe_one(suite, *p))).await;
    let mut probed = BTreeSet::new();
    for (platform, sub) in platforms.iter().zip(results) {
        if sub.gathered > 0 {
            probed.insert(*platform);
        }
        f.absorb(sub);
    }
    for platform in &platforms {
        f.require(probed.contains(platform), format!("no probe on {platform}"));
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "on {} platform(s): anonymous sends refused, to_tag expressions reached no one else, \
             {} crafted messages left the push's structure as it was",
            probed.len(),
            CRAFTED.len()
        ));
    }
    f
}

/// A fresh user with one fresh device.
async fn person(
    suite: &Suite,
    platform: Platform,
    purpose: &str,
) -> Result<(User, std::sync::Arc<Device>), EnrollError> {
    let user = suite.fresh_user(purpose).await?;
    let device = suite.fresh_device(&user, platform).await?;
    Ok((user, device))
}

/// Sends `message` to `recipient` as `sender` (none: anonymously).
async fn send_as(
    suite: &Suite,
    sender: Option<(&str, &Credential)>,
    recipient: &str,
    platform: Platform,
    message: &str,
) -> crate::client::Exchange {
    let values = Values {
        user: sender.map(|(user, _)| user.to_owned()),
        recipient: Some(recipient.to_owned()),
        message: Some(message.to_owned()),
        platform: suite.profile().platform(platform).map(|p| p.name.clone()),
        token: sender.map(|(_, c)| c.secret().to_owned()),
        ..Values::default()
    };
    let request = &suite.profile().requests.notify;
    suite
        .api
        .call(request, &values, sender.map(|(_, c)| c))
        .await
}

async fn probe_one(suite: &Suite, platform: Platform) -> Findings {
    let mut f = Findings::new();
    let people = futures::future::join3(
        person(suite, platform, "reg03-victim"),
        person(suite, platform, "reg03-bystander"),
        suite.fresh_caller("reg03-sender"),
    )
    .await;
    let ((victim, v), (bystander, y), (sender_user, sender_credential)) = match people {
        (Ok(v), Ok(y), Ok(s)) => (v, y, s),
        (Err(EnrollError::Plane(e)), _, _) | (_, Err(EnrollError::Plane(e)), _) => {
            f.harness_error(e.to_string());
            return f;
        }
        (Err(EnrollError::Backend(e)), _, _)
        | (_, Err(EnrollError::Backend(e)), _)
        | (_, _, Err(e)) => {
            f.backend_failed(&e);
            return f;
        }
    };
    let self_only = suite.profile().policy.send == SendPolicy::SelfOnly;
    // Who sends the probes: anyone may, or only V to itself.
    let sender: (&str, &Credential) = if self_only {
        (&victim.name, &v.credential)
    } else {
        (&sender_user.name, &sender_credential)
    };
    let mut rng = suite.rng(&format!("{}/{platform}", INFO.id));

    // No credentials: refused, and nothing pushed.
    let anonymous = send_as(
        suite,
        None,
        &victim.name,
        platform,
        suite.secret(&mut rng).text(),
    )
    .await;
    if !matches!(anonymous.status(), Some(401 | 403)) {
        f.violation(evidence::about(
            &v,
            format!(
                "a send without credentials was answered {}, not 401 or 403",
                anonymous
                    .status()
                    .map_or_else(|| anonymous.describe(), |s| s.to_string())
            ),
            Some(&anonymous),
        ));
    }
    // Under `self`, another user may not send to Y.
    if self_only {
        let theirs = send_as(
            suite,
            Some((&sender_user.name, &sender_credential)),
            &bystander.name,
            platform,
            suite.secret(&mut rng).text(),
        )
        .await;
        if !theirs.status().is_some_and(|s| (400..500).contains(&s)) {
            f.violation(evidence::about(
                &y,
                format!(
                    "under policy.send = self, {} sent to {} and was answered {}",
                    sender_user.name,
                    bystander.name,
                    theirs
                        .status()
                        .map_or_else(|| theirs.describe(), |s| s.to_string())
                ),
                Some(&theirs),
            ));
        }
    }
    // to_tag values that are not one user name.
    let expressions = [
        format!("{} || username:{}", victim.name, bystander.name),
        format!("{}||{}", victim.name, bystander.name),
        format!("username:{}", bystander.name),
        format!("{},{}", victim.name, bystander.name),
    ];
    let mut sends = Vec::new();
    for to_tag in &expressions {
        sends.push(
            send_as(
                suite,
                Some(sender),
                to_tag,
                platform,
                suite.secret(&mut rng).text(),
            )
            .await,
        );
    }
    if let Some(stray) = suite.expect_no_push(&y, STRAY_WINDOW).await {
        let mut e = evidence::about(
            &y,
            format!(
                "a send to a to_tag that is not one user name reached a bystander ({}, {})",
                y.name, bystander.name
            ),
            sends.first(),
        );
        e.detail = serde_json::json!({
            "to_tag": expressions,
            "push": evidence::delivery(&stray),
        });
        f.violation(e);
    }
    // The positive control: a proper send reaches Y.
    if let Err(e) = suite.deliver(&y, suite.secret(&mut rng).text()).await {
        f.backend_failed(&e);
        return f;
    }
    // Crafted messages leave the push as a plain one is.
    let mut plain = Vec::new();
    for _ in 0..2 {
        match suite.deliver(&v, suite.secret(&mut rng).text()).await {
            Ok(d) => plain.push(d),
            Err(e) => {
                f.backend_failed(&e);
                return f;
            }
        }
    }
    let shape = Shape::learn(
        &plain[0].delivery,
        &plain[1].delivery,
        [&plain[0].id, &plain[1].id],
    );
    for crafted in CRAFTED {
        let delivered = match suite.deliver(&v, crafted).await {
            Ok(d) => d,
            Err(e) => {
                // A message the backend cannot send is refused, not injected.
                let refused = e
                    .exchange
                    .as_deref()
                    .and_then(|x| x.status())
                    .is_some_and(|s| (400..500).contains(&s));
                if !refused {
                    // Accepted and never pushed: the message broke the push
                    // (a header it was pasted into, say).
                    let mut evidence = evidence::step(&e);
                    evidence.what = format!("a crafted message broke the push on {platform}: {e}");
                    evidence.subject = Some(evidence::subject(&v));
                    evidence.detail = serde_json::json!({ "message": crafted });
                    f.violation(evidence);
                }
                continue;
            }
        };
        let changes = shape.changes(&delivered.delivery, &delivered.id);
        if !changes.is_empty() {
            let mut e = evidence::about(
                &v,
                format!(
                    "a crafted message changed the push on {platform}: {}",
                    changes.join("; ")
                ),
                Some(&delivered.send),
            );
            e.detail = serde_json::json!({
                "message": crafted,
                "push": evidence::delivery(&delivered.delivery),
                "plain": evidence::delivery(&plain[0].delivery),
            });
            f.violation(e);
        }
    }
    f.gathered(1);
    f
}

/// A plain push, and what of a push may vary on its own: headers and
/// JSON leaves whose values differ between two plain pushes, and the id
/// wherever it is.
struct Shape {
    base: Parts,
    volatile_headers: BTreeSet<String>,
    volatile_leaves: BTreeSet<String>,
    /// A body neither JSON nor markup that differs between the plain
    /// pushes (it carries the message itself: a leak, not an injection).
    volatile_text: bool,
}

/// A push's parts, as compared.
struct Parts {
    headers: BTreeMap<String, String>,
    /// JSON leaves by pointer (the id masked), or `None` for a body that is
    /// not JSON.
    leaves: Option<BTreeMap<String, String>>,
    /// XML elements and attributes, in order, for a body that looks like
    /// markup; else the body with the id masked.
    markup: Vec<String>,
}

const ID_MASK: &str = "{id}";

fn parts(delivery: &Delivery, id: &str) -> Parts {
    let headers = delivery
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.replace(id, ID_MASK)))
        .collect();
    let leaves = serde_json::from_slice::<Value>(&delivery.body)
        .ok()
        .map(|v| {
            let mut out = BTreeMap::new();
            flatten(&v, String::new(), id, &mut out);
            out
        });
    let text = String::from_utf8_lossy(&delivery.body).replace(id, ID_MASK);
    let markup = if text.trim_start().starts_with('<') {
        markup_structure(&text)
    } else {
        vec![text]
    };
    Parts {
        headers,
        leaves,
        markup,
    }
}

fn flatten(value: &Value, path: String, id: &str, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            if map.is_empty() {
                out.insert(path.clone(), "{}".to_owned());
            }
            for (k, v) in map {
                flatten(
                    v,
                    format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")),
                    id,
                    out,
                );
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.insert(path.clone(), "[]".to_owned());
            }
            for (i, v) in items.iter().enumerate() {
                flatten(v, format!("{path}/{i}"), id, out);
            }
        }
        Value::String(s) => {
            out.insert(path, format!("\"{}\"", s.replace(id, ID_MASK)));
        }
        other => {
            out.insert(path, other.to_string());
        }
    }
}

/// The element and attribute names of markup, in document order.
fn markup_structure(text: &str) -> Vec<String> {
    let tag =
        Regex::new(r"<\s*(/?)\s*([A-Za-z_!?\[][\w:.\-\[]*)([^>]*)>").expect("a valid pattern");
    let attribute = Regex::new(r"([A-Za-z_][\w:.\-]*)\s*=").expect("a valid pattern");
    let mut out = Vec::new();
    for m in tag.captures_iter(text) {
        let mut item = format!("<{}{}", &m[1], &m[2]);
        for a in attribute.captures_iter(&m[3]) {
            item.push(' ');
            item.push_str(&a[1]);
        }
        out.push(item);
    }
    out
}

impl Shape {
    fn learn(a: &Delivery, b: &Delivery, ids: [&str; 2]) -> Shape {
        let (a, b) = (parts(a, ids[0]), parts(b, ids[1]));
        let differ = |x: &BTreeMap<String, String>, y: &BTreeMap<String, String>| {
            x.keys()
                .chain(y.keys())
                .filter(|k| x.get(*k) != y.get(*k))
                .cloned()
                .collect::<BTreeSet<String>>()
        };
        Shape {
            volatile_headers: differ(&a.headers, &b.headers),
            volatile_leaves: match (&a.leaves, &b.leaves) {
                (Some(x), Some(y)) => differ(x, y),
                _ => BTreeSet::new(),
            },
            volatile_text: a.markup != b.markup,
            base: a,
        }
    }

    /// How `crafted` differs from the plain push beyond what varies on its
    /// own.
    fn changes(&self, crafted: &Delivery, crafted_id: &str) -> Vec<String> {
        let (p, c) = (&self.base, parts(crafted, crafted_id));
        let mut out = Vec::new();
        let names = |h: &BTreeMap<String, String>| h.keys().cloned().collect::<BTreeSet<_>>();
        let (pn, cn) = (names(&p.headers), names(&c.headers));
        let added: Vec<&String> = cn.difference(&pn).collect();
        let removed: Vec<&String> = pn.difference(&cn).collect();
        if !added.is_empty() || !removed.is_empty() {
            out.push(format!("headers added {added:?}, removed {removed:?}"));
        }
        let changed: Vec<&String> = pn
            .intersection(&cn)
            .filter(|n| {
                !self.volatile_headers.contains(*n) && p.headers.get(*n) != c.headers.get(*n)
            })
            .collect();
        if !changed.is_empty() {
            out.push(format!("header values changed: {changed:?}"));
        }
        match (&p.leaves, &c.leaves) {
            (Some(x), Some(y)) => {
                let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                let moved: Vec<&String> = keys
                    .into_iter()
                    .filter(|k| match (x.get(*k), y.get(*k)) {
                        (Some(a), Some(b)) => a != b && !self.volatile_leaves.contains(*k),
                        _ => true,
                    })
                    .collect();
                if !moved.is_empty() {
                    out.push(format!("JSON members added, removed or changed: {moved:?}"));
                }
            }
            (Some(_), None) => out.push("the JSON body no longer parses".to_owned()),
            (None, Some(_)) => out.push("the body became JSON".to_owned()),
            (None, None) => {
                if !self.volatile_text && p.markup != c.markup {
                    out.push("the body's markup or text changed".to_owned());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn push(headers: &[(&str, &str)], body: &str) -> Delivery {
        Delivery {
            platform: Platform::Apns,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            received_at: Instant::now(),
        }
    }

    #[test]
    fn a_push_that_only_carries_the_id_has_no_changes() {
        let a = push(
            &[("apns-expiration", "100")],
            r#"{"aps":{"content-available":1},"secureId":"aaa1"}"#,
        );
        let b = push(
            &[("apns-expiration", "160")],
            r#"{"aps":{"content-available":1},"secureId":"bbb2"}"#,
        );
        let shape = Shape::learn(&a, &b, ["aaa1", "bbb2"]);
        let c = push(
            &[("apns-expiration", "220")],
            r#"{"aps":{"content-available":1},"secureId":"ccc3"}"#,
        );
        assert!(shape.changes(&c, "ccc3").is_empty());
    }

    #[test]
    fn injected_keys_values_headers_and_elements_are_changes() {
        let a = push(&[], r#"{"aps":{"content-available":1},"secureId":"aaa1"}"#);
        let b = push(&[], r#"{"aps":{"content-available":1},"secureId":"bbb2"}"#);
        let shape = Shape::learn(&a, &b, ["aaa1", "bbb2"]);
        let added = push(
            &[],
            r#"{"aps":{"content-available":1,"alert":"x"},"secureId":"c"}"#,
        );
        assert!(!shape.changes(&added, "c").is_empty());
        let flipped = push(&[], r#"{"aps":{"content-available":0},"secureId":"c"}"#);
        assert!(!shape.changes(&flipped, "c").is_empty());
        let header = push(
            &[("x-injected", "yes")],
            r#"{"aps":{"content-available":1},"secureId":"c"}"#,
        );
        assert!(!shape.changes(&header, "c").is_empty());

        let toast = |text: &str| {
            push(
                &[],
                &format!(
                    r#"<toast><visual><binding template="T"><text>{text}</text></binding></visual></toast>"#
                ),
            )
        };
        let (x, y) = (toast("hello"), toast("world"));
        let shape = Shape::learn(&x, &y, ["id1", "id2"]);
        assert!(shape
            .changes(&toast("quotes \" and &lt;"), "id3")
            .is_empty());
        assert!(!shape
            .changes(&toast(r#"</text><action content="x"/><text>"#), "id3")
            .is_empty());
    }

    #[test]
    fn raw_bodies_are_compared_with_the_id_masked() {
        let a = push(&[], "aaa1");
        let b = push(&[], "bbb2");
        let shape = Shape::learn(&a, &b, ["aaa1", "bbb2"]);
        assert!(shape.changes(&push(&[], "ccc3"), "ccc3").is_empty());
        assert!(!shape
            .changes(&push(&[], "ccc3\ninjected"), "ccc3")
            .is_empty());
    }
}
