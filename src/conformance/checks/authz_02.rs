//! SP-AUTHZ-02: bad tokens are rejected. A fresh notification per owner is
//! fetched, before its owner reads it, with credentials that are almost
//! the owner's: garbage of the same shape, the real token with one
//! character changed (first, middle, last), truncated, extended or in
//! another letter case, under another scheme, an empty one, and for a
//! token shaped like a JWT one with a broken signature, `alg: none`, or
//! another issuer or audience. Each must get 401 without content; then the
//! owner's real token fetches it (the positive control).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe::{self, Probed};
use super::super::refusal::{self, Refusal};
use crate::client::Credential;

/// Owners whose notifications are probed.
const OWNERS: usize = 2;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-AUTHZ-02",
    title: "Bad tokens rejected",
    level: Level::Must,
    severity: Severity::Critical,
    method: "A fresh notification on each of two proven devices is fetched, before its owner \
             reads it, with bad credentials derived from the owner's: a random token of the same \
             shape, the real one with its first, middle or last character changed, truncated, \
             extended or in another letter case, under another scheme or none, an empty one \
             (Basic: the password so changed); for a JWT also a broken signature, alg none and \
             another issuer or audience. Each must be 401 without content (400 for a malformed \
             header; 403 is WARN); the owner's real token then fetches it (positive control)",
    sources: &[
        "OWASP ASVS 5.0 9.1.1, 9.1.2, 9.2.3",
        "OWASP API Security Top 10 2023 API2",
        "RFC 6750 section 3.1",
    ],
    needs: &[],
    sample: Sample {
        min: 20,
        unit: "probes",
    },
};

/// A credential that must be refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCredential {
    /// What it is, for evidence ("the token with its last character changed").
    pub what: String,
    /// The whole header value sent.
    pub header: String,
    /// A malformed header (no token, another scheme), which RFC 6750 lets a
    /// backend answer with 400.
    pub malformed: bool,
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let owners = probe::proven_devices(suite, OWNERS);
    let probed = probe::deliver_fresh(suite, &owners, INFO.id, &mut f).await;
    let results = futures::future::join_all(probed.iter().map(|p| probe_one(suite, p))).await;
    let (mut refused, mut total) = (0, 0);
    for (sub, counts) in results {
        refused += counts.0;
        total += counts.1;
        f.absorb(sub);
    }
    f.summary(format!(
        "{refused} of {total} fetches with bad credentials were refused; the owners' own \
         credentials then fetched"
    ));
    f
}

/// Every bad credential against one notification, then its control:
/// the findings and (refused, sent).
async fn probe_one(suite: &Suite, p: &Probed) -> (Findings, (usize, usize)) {
    let mut f = Findings::new();
    let mut rng = suite.rng(&format!("{}/{}", INFO.id, p.owner.index));
    let prefix = refusal::scheme_prefix(suite).to_owned();
    let Some(real) = refusal::token_text(suite, &p.owner.credential) else {
        f.harness_error("the owner's credential makes no header");
        return (f, (0, 0));
    };
    let bad = bad_credentials(&prefix, &p.owner.credential, &real, &mut rng);
    let (mut refused, mut counted) = (0, 0);
    for credential in &bad {
        let exchange = refusal::fetch_with(
            suite,
            &p.owner.user,
            &p.delivered.id,
            Some(credential.header.clone()),
            None,
        )
        .await;
        let answer = Refusal::of(&exchange, &p.secret);
        let was_refused =
            refusal::expect_unauthorized(&mut f, &answer, credential.malformed, |tail| {
                let mut e = evidence::about(
                    &p.owner,
                    format!(
                        "a fetch of {}'s notification with {}: {tail}",
                        p.owner.name, credential.what
                    ),
                    Some(&exchange),
                );
                e.detail = json!({ "credential": credential.what, "id": p.delivered.id });
                e
            });
        refused += usize::from(was_refused);
        counted += usize::from(was_refused || answer == Refusal::Forbidden);
    }
    if probe::control(suite, p, &mut f).await {
        f.gathered(counted);
    }
    (f, (refused, bad.len()))
}

/// The bad credentials derived from a real one: `prefix` is the scheme's
/// (`Bearer `), `real` the token as it travels after it.
pub fn bad_credentials(
    prefix: &str,
    credential: &Credential,
    real: &str,
    rng: &mut ChaCha20Rng,
) -> Vec<BadCredential> {
    let scheme = prefix.trim();
    let mut out = Vec::new();
    let mut push = |what: String, header: String, malformed: bool| {
        out.push(BadCredential {
            what,
            header,
            malformed,
        });
    };
    match credential {
        Credential::Basic { user, password } => {
            let pair = |user: &str, password: &str| STANDARD.encode(format!("{user}:{password}"));
            for (what, changed) in changes(password) {
                push(
                    format!("the password {what}"),
                    format!("{prefix}{}", pair(user, &changed)),
                    false,
                );
            }
            push(
                "an empty password".to_owned(),
                format!("{prefix}{}", pair(user, "")),
                false,
            );
            push(
                "the user name alone (no password)".to_owned(),
                format!("{prefix}{}", STANDARD.encode(user)),
                true,
            );
            let mut noise = [0u8; 24];
            rng.fill(&mut noise);
            push(
                "random base64".to_owned(),
                format!("{prefix}{}", STANDARD.encode(noise)),
                false,
            );
            push(
                "text that is not base64".to_owned(),
                format!("{prefix}not base64!"),
                true,
            );
        }
        Credential::Token(_) => {
            for (what, changed) in changes(real) {
                push(
                    format!("the token {what}"),
                    format!("{prefix}{changed}"),
                    false,
                );
            }
            push(
                "a random token of the same shape".to_owned(),
                format!("{prefix}{}", random_like(real, rng)),
                false,
            );
            push("garbage".to_owned(), format!("{prefix}not-a-token"), false);
            for (what, token) in jwt_variants(real) {
                push(what, format!("{prefix}{token}"), false);
            }
        }
    }
    for other in ["Basic", "Bearer", "Token"] {
        if !other.eq_ignore_ascii_case(scheme) {
            push(
                format!("the real credential under the {other} scheme"),
                format!("{other} {real}"),
                true,
            );
        }
    }
    if !scheme.is_empty() {
        push(
            "the real credential without a scheme".to_owned(),
            real.to_owned(),
            true,
        );
        push(
            format!("an empty {scheme} credential"),
            scheme.to_owned(),
            true,
        );
        push(
            format!("an empty {scheme} credential with its space"),
            format!("{scheme} "),
            true,
        );
    }
    out
}

/// The secret with one thing changed: each change and what it was.
fn changes(secret: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = secret.chars().collect();
    let mut out = Vec::new();
    if chars.is_empty() {
        return out;
    }
    let at = |i: usize| {
        let mut changed = chars.clone();
        changed[i] = other_char(changed[i]);
        changed.into_iter().collect::<String>()
    };
    out.push(("with its first character changed".to_owned(), at(0)));
    if chars.len() > 2 {
        out.push((
            "with a character in the middle changed".to_owned(),
            at(chars.len() / 2),
        ));
    }
    if chars.len() > 1 {
        out.push((
            "with its last character changed".to_owned(),
            at(chars.len() - 1),
        ));
        out.push((
            "without its last character".to_owned(),
            chars[..chars.len() - 1].iter().collect(),
        ));
    }
    if chars.len() > 3 {
        out.push((
            "cut to its first half".to_owned(),
            chars[..chars.len() / 2].iter().collect(),
        ));
    }
    let last = chars[chars.len() - 1];
    out.push((
        "with one more character".to_owned(),
        format!("{secret}{}", other_char(last)),
    ));
    let swapped: String = chars.iter().map(|c| swap_case(*c)).collect();
    if swapped != secret {
        out.push(("in swapped letter case".to_owned(), swapped));
        if let Some(i) = chars.iter().position(char::is_ascii_alphabetic) {
            let mut one = chars.clone();
            one[i] = swap_case(one[i]);
            out.push((
                "with one letter in the other case".to_owned(),
                one.into_iter().collect(),
            ));
        }
    }
    out
}

/// Another character of the same kind (a letter for a letter, in its
/// case; a digit for a digit; `-` for `_`), so shape checks still pass.
fn other_char(c: char) -> char {
    match c {
        'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
        'z' => 'y',
        'Z' => 'Y',
        '9' => '8',
        '-' => '_',
        '_' => '-',
        '+' => '/',
        '/' => '+',
        'A'.. => 'A',
        _ => 'a',
    }
}

fn swap_case(c: char) -> char {
    if c.is_ascii_lowercase() {
        c.to_ascii_uppercase()
    } else {
        c.to_ascii_lowercase()
    }
}

/// A random string of the same length, each character of the same kind as
/// the real one's.
fn random_like(real: &str, rng: &mut ChaCha20Rng) -> String {
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"0123456789";
    let pick = |set: &[u8], rng: &mut ChaCha20Rng| char::from(set[rng.gen_range(0..set.len())]);
    real.chars()
        .map(|c| match c {
            'a'..='z' => pick(LOWER, rng),
            'A'..='Z' => pick(UPPER, rng),
            '0'..='9' => pick(DIGIT, rng),
            other => other,
        })
        .collect()
}

/// For a token shaped like a JWT (three base64url parts, the first a JSON
/// header with `alg`): the same token with a broken signature, with `alg`
/// none (and its case variants), and with another issuer or audience
/// (signature kept, so it no longer matches).
pub fn jwt_variants(token: &str) -> Vec<(String, String)> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Vec::new();
    };
    let decode = |part: &str| -> Option<Value> {
        let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
    };
    let (Some(head), Some(claims)) = (decode(header), decode(payload)) else {
        return Vec::new();
    };
    if head.get("alg").is_none() {
        return Vec::new();
    }
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let mut out = Vec::new();
    if !signature.is_empty() {
        let mut changed: Vec<char> = signature.chars().collect();
        let middle = changed.len() / 2;
        changed[middle] = other_char(changed[middle]);
        out.push((
            "the JWT with a broken signature".to_owned(),
            format!(
                "{header}.{payload}.{}",
                changed.into_iter().collect::<String>()
            ),
        ));
    }
    for alg in ["none", "None", "NONE"] {
        let mut none = head.clone();
        none["alg"] = json!(alg);
        out.push((
            format!("the JWT re-headed with alg {alg:?} and no signature"),
            format!("{}.{payload}.", encode(&none)),
        ));
    }
    for (claim, value, what) in [
        ("iss", "https://issuer.pushproof.invalid/", "another issuer"),
        ("aud", "pushproof-other-service", "another audience"),
    ] {
        let mut other = claims.clone();
        other[claim] = json!(value);
        out.push((
            format!("the JWT claiming {what} ({claim})"),
            format!("{header}.{}.{signature}", encode(&other)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(7)
    }

    #[test]
    fn every_bad_bearer_token_differs_from_the_real_one_and_keeps_its_shape() {
        let real = "Ab3_-xYz0123456789abcdefghijklmnopqrstuvwxY";
        let credential = Credential::Token(real.to_owned());
        let bad = bad_credentials("Bearer ", &credential, real, &mut rng());
        let good = format!("Bearer {real}");
        assert!(bad.len() >= 14, "{bad:#?}");
        for b in &bad {
            assert_ne!(b.header, good, "{}", b.what);
            assert!(
                !b.header.eq_ignore_ascii_case(&good) || b.what.contains("case"),
                "{}",
                b.what
            );
            assert!(http::HeaderValue::from_str(&b.header).is_ok(), "{}", b.what);
        }
        let by = |what: &str| {
            bad.iter()
                .find(|b| b.what.contains(what))
                .unwrap_or_else(|| panic!("no {what}"))
        };
        let last = by("last character changed")
            .header
            .trim_start_matches("Bearer ")
            .to_owned();
        assert_eq!(last.len(), real.len());
        assert_eq!(&last[..42], &real[..42]);
        assert_ne!(last, real);
        assert_eq!(
            by("without its last").header,
            format!("Bearer {}", &real[..42])
        );
        assert_eq!(by("one more").header.len(), good.len() + 1);
        assert_eq!(by("same shape").header.len(), good.len());
        assert!(by("under the Basic").malformed);
        assert!(!bad.iter().any(|b| b.what.contains("under the Bearer")));
        assert_eq!(by("empty Bearer credential with").header, "Bearer ");
        // Opaque tokens get no JWT variants.
        assert!(!bad.iter().any(|b| b.what.contains("JWT")));
    }

    #[test]
    fn basic_credentials_change_the_password_and_keep_the_user() {
        let credential = Credential::Basic {
            user: "alice".into(),
            password: "alice".into(),
        };
        let real = STANDARD.encode("alice:alice");
        let bad = bad_credentials("Basic ", &credential, &real, &mut rng());
        for b in bad.iter().filter(|b| b.what.starts_with("the password")) {
            let encoded = b.header.trim_start_matches("Basic ");
            let pair = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
            let (user, password) = pair.split_once(':').unwrap();
            assert_eq!(user, "alice");
            assert_ne!(password, "alice", "{}", b.what);
        }
        assert!(bad.iter().any(|b| b.header == format!("Bearer {real}")));
        assert!(!bad.iter().any(|b| b.header == format!("Basic {real}")));
    }

    #[test]
    fn a_jwt_gets_a_broken_signature_alg_none_and_other_issuers() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"alice","iss":"https://idp","aud":"api"}"#);
        let token = format!("{header}.{payload}.c2lnbmF0dXJl");
        let variants = jwt_variants(&token);
        assert_eq!(variants.len(), 6, "{variants:#?}");
        let segments = |t: &str| t.split('.').map(str::to_owned).collect::<Vec<_>>();
        let broken = segments(&variants[0].1);
        assert_eq!(broken[..2], [header.clone(), payload.clone()]);
        assert_ne!(broken[2], "c2lnbmF0dXJl");
        let none = segments(&variants[1].1);
        let head: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&none[0]).unwrap()).unwrap();
        assert_eq!(head["alg"], "none");
        assert_eq!(none[2], "");
        let issuer = segments(&variants[4].1);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&issuer[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "https://issuer.pushproof.invalid/");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(issuer[2], "c2lnbmF0dXJl");
        assert!(jwt_variants("a.b.c").is_empty());
        assert!(jwt_variants("opaque").is_empty());
    }
}
