//! SP-AUTHZ-07: a fetch returns only the recipient's notification. Every
//! verified baseline fetch answer (the recipient reading its own
//! notification) may carry only the fields the profile declares
//! (`requests.fetch.fields`), and nothing anywhere in it may be another
//! notification's content or any credential the harness holds: another
//! user's token, the sender's, a password.

use serde_json::Value;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::refusal;
use super::super::setup;
use crate::profile::{within, Capability, PasswordRule};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-AUTHZ-07",
    title: "A fetch returns only the recipient's notification",
    level: Level::Must,
    severity: Severity::Medium,
    method: "Every verified baseline fetch answer (the recipient reading its own notification) \
             is walked leaf by leaf: each must lie within a field the profile declares \
             (requests.fetch.fields), and no string in it may hold another baseline \
             notification's canary or any credential the harness holds (every session's token, \
             the sender's, generated passwords)",
    sources: &[
        "OWASP ASVS 5.0 8.2.3",
        "OWASP ASVS 5.0 14.2.6",
        "OWASP API Security Top 10 2023 API3",
    ],
    needs: &[Capability::FetchFields],
    sample: Sample {
        min: 3,
        unit: "answers",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let fields = suite
        .profile()
        .requests
        .fetch
        .answer
        .fields
        .clone()
        .expect("the check needs requests.fetch.fields");
    let baseline = &suite.baseline;
    // Secrets no answer may hold: (what, text), each tagged with the device
    // it belongs to (an answer may hold its own canary).
    let mut forbidden: Vec<(Option<usize>, String, String)> = Vec::new();
    for (i, secret) in baseline.secrets.iter().enumerate() {
        for canary in secret.canaries() {
            forbidden.push((
                Some(i),
                format!("the content of device-{i}'s notification"),
                canary.text.clone(),
            ));
        }
    }
    let generated = suite.profile().auth.password == PasswordRule::Generated;
    for device in &baseline.devices {
        if let Some(token) = refusal::token_text(suite, &device.credential) {
            forbidden.push((None, format!("{}'s credential", device.name), token));
        }
        if generated {
            forbidden.push((
                None,
                format!("{}'s password", device.user),
                device.password.clone(),
            ));
        }
    }
    if let Some((sender, credential)) = &baseline.sender {
        if let Some(token) = refusal::token_text(suite, credential) {
            forbidden.push((None, format!("the sender {sender}'s credential"), token));
        }
    }
    let mut judged = 0;
    for (device, exchange) in setup::verified_fetches(suite) {
        let Some(answer) = exchange.json() else {
            continue;
        };
        judged += 1;
        let mut leaves = Vec::new();
        walk(&answer, String::new(), &mut leaves);
        let mut undeclared: Vec<String> = Vec::new();
        for (pointer, value) in &leaves {
            if !fields.iter().any(|field| within(pointer, field)) {
                let top = top_member(pointer);
                if !undeclared.contains(&top) {
                    undeclared.push(top);
                }
            }
            let Value::String(text) = value else { continue };
            for (owner, what, needle) in &forbidden {
                if *owner == Some(device.index) || needle.len() < 8 {
                    continue;
                }
                if text.contains(needle.as_str()) {
                    f.violation(evidence::about(
                        device,
                        format!("{}'s fetch answer holds {what} at {pointer}", device.name),
                        Some(exchange),
                    ));
                }
            }
        }
        if !undeclared.is_empty() {
            f.violation(evidence::about(
                device,
                format!(
                    "{}'s fetch answer carries {} beyond the declared fields ({})",
                    device.name,
                    undeclared.join(", "),
                    fields.join(", ")
                ),
                Some(exchange),
            ));
        }
    }
    f.gathered(judged);
    if f.violations.is_empty() {
        f.summary(format!(
            "{judged} fetch answers carried only the declared fields ({}) and nothing of other \
             notifications or any credential",
            fields.join(", ")
        ));
    }
    f
}

/// Every leaf of a JSON value (an empty object or array is one) with its
/// JSON pointer.
fn walk<'a>(value: &'a Value, pointer: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, member) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                walk(member, format!("{pointer}/{escaped}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{pointer}/{i}"), out);
            }
        }
        leaf => out.push((pointer, leaf)),
    }
}

/// The top-level member a pointer is in (`/Sender/Username` → `/Sender`).
fn top_member(pointer: &str) -> String {
    match pointer[1.min(pointer.len())..].split_once('/') {
        Some((first, _)) => format!("/{first}"),
        None => pointer.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_carry_their_pointers() {
        let answer = json!({ "Id": "x", "Sender": { "Username": "a", "a/b": [1, {}] }, "E": [] });
        let mut leaves = Vec::new();
        walk(&answer, String::new(), &mut leaves);
        let pointers: Vec<&str> = leaves.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/E",
                "/Id",
                "/Sender/Username",
                "/Sender/a~1b/0",
                "/Sender/a~1b/1"
            ]
        );
        assert_eq!(top_member("/Sender/Username"), "/Sender");
        assert_eq!(top_member("/Id"), "/Id");
        assert!(within("/Sender/Username", "/Sender"));
        assert!(!within("/Senders", "/Sender"));
    }
}
