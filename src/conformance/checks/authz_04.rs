//! SP-AUTHZ-04: object-level authorization holds for every spelling of an
//! id. User B asks for user A's fresh notification with B's valid session,
//! but never with the plain request SP-AUTHZ-03 sends: the id in another
//! letter case, with leading zeros, percent-encoded (once and twice),
//! behind `../` or `./`, with a path parameter, with B's own id in the path
//! and A's in the query (or both in the query, or in an array), behind a
//! method override, with a trailing `/`, or under another API version.
//! None may carry A's content; then A fetches it (the positive control).

use std::collections::BTreeSet;

use http::Method;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe::{self, Probed};
use super::super::refusal;
use crate::device::Device;

/// Owners whose notifications are probed.
const OWNERS: usize = 2;
/// Stands for the id in a rendered fetch, so the harness can spell the id
/// itself; letters and digits only, so rendering leaves it as it is.
const MARKER: &str = "PPidMARKER7q";

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-AUTHZ-04",
    title: "Object-level authorization holds for every spelling of an id",
    level: Level::Must,
    severity: Severity::High,
    method: "A fresh notification of each of two proven owners (A) is asked for, before A \
             reads it, by another user's device (B) with its valid session, never in the plain \
             form SP-AUTHZ-03 uses: the id in upper or mixed case, with leading zeros, \
             percent-encoded once or twice, behind ../ or ./, with a ;parameter, B's own id in \
             the path and A's in the query (id=, Id=, id[]=, id twice), both as a list, a POST \
             with X-HTTP-Method-Override (and its kin) or _method=GET, a trailing /, and under \
             other API versions. No answer may carry A's content; A then fetches it (positive \
             control)",
    sources: &[
        "OWASP API Security Top 10 2023 API1",
        "OWASP WSTG API testing: BOLA",
        "OWASP ASVS 5.0 8.2.2",
    ],
    needs: &[],
    sample: Sample {
        min: 40,
        unit: "probes",
    },
};

/// One spelling of a request for the victim's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub what: String,
    pub method: Method,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let verified = suite.verified();
    // B: a verified device of another user, whose own verified id it uses.
    let caller_for = |owner: &Device| {
        let mut others: Vec<_> = verified
            .iter()
            .filter(|v| v.device.user != owner.user)
            .collect();
        others.sort_by_key(|v| (v.device.platform == owner.platform, v.device.index));
        others.first().map(|v| (v.device.clone(), v.id.to_owned()))
    };
    let owners: Vec<_> = probe::proven_devices(suite, OWNERS)
        .into_iter()
        .filter(|d| caller_for(d).is_some())
        .collect();
    if owners.is_empty() {
        f.shortfall("no proven device has another user's proven device to probe it with (the baseline needs at least two users with verified notifications)");
    }
    let probed = probe::deliver_fresh(suite, &owners, INFO.id, &mut f).await;
    let work = probed.iter().filter_map(|p| {
        let (caller, own) = caller_for(&p.owner)?;
        Some(probe_one(suite, p, caller, own))
    });
    let results = futures::future::join_all(work).await;
    let (mut probes, mut owner_users) = (0, BTreeSet::new());
    for (sub, sent, owner) in results {
        probes += sent;
        if sub.gathered > 0 {
            owner_users.insert(owner);
        }
        f.absorb(sub);
    }
    f.require(
        owner_users.len() >= 2,
        format!(
            "probed notifications of {} user(s); needs 2",
            owner_users.len()
        ),
    );
    f.summary(format!(
        "{} of {probes} spellings of another user's notification id carried its content; \
         the owners then fetched them",
        f.violations.len()
    ));
    f
}

/// Every variant by `caller` against one notification, then its control:
/// the findings, the probes sent and the owner's user.
async fn probe_one(
    suite: &Suite,
    p: &Probed,
    caller: std::sync::Arc<Device>,
    own_id: String,
) -> (Findings, usize, String) {
    let mut f = Findings::new();
    let Some(rendered) = refusal::fetch_request(suite, &caller.user, MARKER, Some("")) else {
        f.harness_error("the fetch request does not render");
        return (f, 0, p.owner.user.clone());
    };
    let Some(authorization) = refusal::header_value(suite, &caller.credential) else {
        f.harness_error("the caller's credential makes no header");
        return (f, 0, p.owner.user.clone());
    };
    let variants = variants(&rendered.method, &rendered.target, &p.delivered.id, &own_id);
    let mut counted = 0;
    for variant in &variants {
        let mut headers = variant.headers.clone();
        headers.push((suite.profile().auth.header.clone(), authorization.clone()));
        if let Some(content_type) = rendered.content_type {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
        }
        let exchange = suite
            .raw(
                variant.method.clone(),
                &variant.target,
                headers,
                bytes::Bytes::from(rendered.body.clone()),
            )
            .await;
        let mut e = evidence::about(&caller, String::new(), Some(&exchange));
        e.detail = json!({
            "owner": evidence::subject(&p.owner),
            "id": p.delivered.id,
            "variant": variant.what,
        });
        if probe::leaks(&exchange, &p.secret) {
            e.what = format!(
                "{} ({}) read {}'s notification ({}) with {}",
                caller.name, caller.user, p.owner.name, p.owner.user, variant.what
            );
            f.violation(e);
            continue;
        }
        counted += 1;
        if exchange.status().is_none_or(|s| s >= 500) {
            e.what = format!(
                "{} with {}: {} (no content, but no clean refusal either)",
                caller.name,
                variant.what,
                exchange.describe()
            );
            f.note(e);
        }
    }
    if probe::control(suite, p, &mut f).await {
        f.gathered(counted);
    }
    (f, variants.len(), p.owner.user.clone())
}

/// The spellings of a fetch of `id` by a caller whose own notification is
/// `own`: `target` is the fetch rendered with [`MARKER`] for the id.
pub fn variants(method: &Method, target: &str, id: &str, own: &str) -> Vec<Variant> {
    let Some((before, after)) = target.split_once(MARKER) else {
        return Vec::new();
    };
    let in_path = !before.contains('?');
    let spelled = |text: &str| format!("{before}{text}{after}");
    let join = |base: &str, query: &str| {
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}{query}")
    };
    let get = |what: &str, target: String| Variant {
        what: what.to_owned(),
        method: method.clone(),
        target,
        headers: Vec::new(),
    };
    let mut out = Vec::new();
    let plain = spelled(id);
    // Never the plain request (SP-AUTHZ-03's), never one twice.
    let mut add = |v: Variant| {
        let is_plain = v.target == plain && v.headers.is_empty() && v.method == method;
        let seen = out.iter().any(|o: &Variant| {
            o.target == v.target && o.method == v.method && o.headers == v.headers
        });
        if !is_plain && !seen {
            out.push(v);
        }
    };

    // The id itself, spelled otherwise.
    add(get("the id in upper case", spelled(&id.to_uppercase())));
    add(get("the id in lower case", spelled(&id.to_lowercase())));
    if let Some(i) = id.find(|c: char| c.is_ascii_alphabetic()) {
        let mut mixed = id.to_owned();
        let c = &id[i..=i];
        let swapped = if c == c.to_lowercase() {
            c.to_uppercase()
        } else {
            c.to_lowercase()
        };
        mixed.replace_range(i..=i, &swapped);
        add(get(
            "the id with one letter in the other case",
            spelled(&mixed),
        ));
    }
    add(get(
        "the id with a leading zero",
        spelled(&format!("0{id}")),
    ));
    add(get(
        "the id with two leading zeros",
        spelled(&format!("00{id}")),
    ));
    let every: String = id.bytes().map(|b| format!("%{b:02X}")).collect();
    add(get("the id percent-encoded", spelled(&every)));
    let mut chars = id.chars();
    if let Some(first) = chars.next() {
        let rest = chars.as_str();
        let mut bytes = [0u8; 4];
        let encoded: String = first
            .encode_utf8(&mut bytes)
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect();
        add(get(
            "the id with its first character percent-encoded",
            spelled(&format!("{encoded}{rest}")),
        ));
        add(get(
            "the id with its first character percent-encoded twice",
            spelled(&format!("{}{rest}", encoded.replace('%', "%25"))),
        ));
    }
    add(get(
        "the id with a trailing space, encoded",
        spelled(&format!("{id}%20")),
    ));
    add(get(
        "the id as a JSON array",
        spelled(&utf8_percent_encode(&format!("[\"{id}\"]"), NON_ALPHANUMERIC).to_string()),
    ));
    add(get(
        "the caller's own id and the id as a list",
        spelled(&format!("{own},{id}")),
    ));

    // The caller's own id where the check looks, the victim's where the
    // data may be read from.
    let own_target = spelled(own);
    for (what, query) in [
        (
            "the caller's own id, and the id as ?id=",
            format!("id={id}"),
        ),
        (
            "the caller's own id, and the id as ?Id=",
            format!("Id={id}"),
        ),
        (
            "the caller's own id, and the id as ?id[]=",
            format!("id%5B%5D={id}"),
        ),
        (
            "the caller's own id, and both as ?id= twice",
            format!("id={own}&id={id}"),
        ),
        (
            "the caller's own id, and the id as ?notificationId=",
            format!("notificationId={id}"),
        ),
    ] {
        add(get(what, join(&own_target, &query)));
    }
    let victim = spelled(id);
    add(get(
        "the id, and the caller's own as ?id=",
        join(&victim, &format!("id={own}")),
    ));

    if in_path {
        add(get("the id behind ../", spelled(&format!("{own}/../{id}"))));
        add(get(
            "the id behind encoded ../",
            spelled(&format!("{own}/%2e%2e/{id}")),
        ));
        add(get(
            "the id behind ..%2F",
            spelled(&format!("{own}%2F..%2F{id}")),
        ));
        add(get("the id behind ./", spelled(&format!("./{id}"))));
        add(get("the id with a trailing /", spelled(&format!("{id}/"))));
        add(get(
            "the id with a ;parameter",
            spelled(&format!("{id};x=1")),
        ));
        let (path, query) = victim
            .split_once('?')
            .map_or((victim.as_str(), None), |(p, q)| (p, Some(q)));
        for versioned in other_versions(path) {
            let target = match query {
                Some(q) => format!("{versioned}?{q}"),
                None => versioned.clone(),
            };
            add(get(&format!("another API version ({versioned})"), target));
        }
    }

    // Another method that a gateway or framework turns into this one.
    if method == Method::GET {
        for header in [
            "X-HTTP-Method-Override",
            "X-HTTP-Method",
            "X-Method-Override",
        ] {
            add(Variant {
                what: format!("POST with {header}: GET"),
                method: Method::POST,
                target: victim.clone(),
                headers: vec![(header.to_owned(), "GET".to_owned())],
            });
        }
        add(Variant {
            what: "POST with _method=GET".to_owned(),
            method: Method::POST,
            target: join(&victim, "_method=GET"),
            headers: Vec::new(),
        });
    }
    out
}

/// The path under other API versions: a `vN` segment replaced, or `v1`
/// and `v2` put after the first segment and `v1` before it.
fn other_versions(path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let is_version = |s: &str| {
        s.len() > 1 && s.starts_with(['v', 'V']) && s[1..].bytes().all(|b| b.is_ascii_digit())
    };
    if let Some(at) = segments.iter().position(|s| is_version(s)) {
        let current: u32 = segments[at][1..].parse().unwrap_or(1);
        return [current.saturating_sub(1), current + 1]
            .into_iter()
            .filter(|n| *n != current)
            .map(|n| {
                let mut s: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
                s[at] = format!("v{n}");
                s.join("/")
            })
            .collect();
    }
    if segments.len() < 3 {
        return Vec::new();
    }
    let inserted = |at: usize, version: &str| {
        let mut s: Vec<&str> = segments.clone();
        s.insert(at, version);
        s.join("/")
    };
    vec![inserted(2, "v1"), inserted(2, "v2"), inserted(1, "v1")]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";
    const OWN: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn path_ids_get_every_spelling_and_never_the_plain_request() {
        let target = format!("/api/notifications/{MARKER}");
        let all = variants(&Method::GET, &target, ID, OWN);
        let plain = format!("/api/notifications/{ID}");
        assert!(all.len() >= 25, "{}", all.len());
        for v in &all {
            assert!(
                !(v.target == plain && v.method == Method::GET && v.headers.is_empty()),
                "{}",
                v.what
            );
            assert!(
                v.target.parse::<http::Uri>().is_ok(),
                "{}: {}",
                v.what,
                v.target
            );
        }
        let by = |what: &str| {
            all.iter()
                .find(|v| v.what.contains(what))
                .unwrap_or_else(|| panic!("no {what}"))
        };
        assert_eq!(
            by("upper case").target,
            format!("/api/notifications/{}", ID.to_uppercase())
        );
        assert_eq!(
            by("two leading").target,
            format!("/api/notifications/00{ID}")
        );
        assert!(by("percent-encoded")
            .target
            .starts_with("/api/notifications/%30%31"));
        assert_eq!(
            by("behind ../").target,
            format!("/api/notifications/{OWN}/../{ID}")
        );
        assert_eq!(
            by("as ?id=").target,
            format!("/api/notifications/{OWN}?id={ID}")
        );
        assert_eq!(by("trailing /").target, format!("/api/notifications/{ID}/"));
        assert_eq!(
            by("another API version (/api/v1/").target,
            format!("/api/v1/notifications/{ID}")
        );
        assert_eq!(by("X-HTTP-Method-Override").method, Method::POST);
        // An all-digit id has no letter to change: no case variant repeats
        // the plain request.
        let digits = variants(&Method::GET, &target, "1234", OWN);
        assert!(!digits.iter().any(|v| v.what.contains("other case")));
        // Whatever a push carried, no spelling panics.
        let odd = variants(&Method::GET, &target, "é€x", OWN);
        assert!(odd.iter().any(|v| v.target.contains("%C3%A9%E2%82%AC")));
    }

    #[test]
    fn query_ids_skip_the_path_tricks_and_versions_are_replaced() {
        let target = format!("/api/notifications?id={MARKER}");
        let all = variants(&Method::GET, &target, ID, OWN);
        assert!(!all.iter().any(|v| v.what.contains("../")));
        let pair = all.iter().find(|v| v.what.contains("as ?id=")).unwrap();
        assert_eq!(pair.target, format!("/api/notifications?id={OWN}&id={ID}"));
        assert_eq!(
            other_versions("/api/v2/notifications/x"),
            ["/api/v1/notifications/x", "/api/v3/notifications/x"]
        );
        assert!(other_versions("/x").is_empty());
    }
}
