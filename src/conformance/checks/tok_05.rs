//! SP-TOK-05: only an access token is an access token. A fresh user signs
//! in (`requests.login`); the other tokens its answer carries, a refresh
//! token (`requests.login.refresh_token`) and an ID token
//! (`requests.login.id_token`), are each used as a bearer token to fetch a
//! notification of that user, and must be refused with 401 without content;
//! then the user's device reads it (the positive control).

use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::refusal::{self, Refusal};
use super::super::setup;
use crate::client::Credential;
use crate::profile::{read_pointer, Capability};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-TOK-05",
    title: "Only access tokens are accepted as access tokens",
    level: Level::Must,
    severity: Severity::Medium,
    method: "A fresh user's device gets a notification; the user signs in again \
             (requests.login) and the refresh token (requests.login.refresh_token) and ID token \
             (requests.login.id_token) of that answer are each sent as the bearer token of a \
             fetch of it: 401 without content (403 is WARN), and neither may equal the access \
             token; the device's own session then reads it (positive control)",
    sources: &[
        "OWASP ASVS 5.0 9.2.2",
        "OWASP ASVS 5.0 9.2.3",
        "RFC 6749 section 1.5",
    ],
    needs: &[Capability::OtherTokenTypes],
    sample: Sample {
        min: 1,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let Some(platform) = setup::proven_platform(suite, &mut f) else {
        return f;
    };
    let Some((user, device)) = setup::user_with_device(suite, "tok05", platform, &mut f).await
    else {
        return f;
    };
    let mut rng = suite.rng(INFO.id);
    let secret = suite.secret(&mut rng);
    let Some(delivered) = setup::deliver(suite, &device, &secret, &mut f).await else {
        return f;
    };
    let login = suite
        .profile()
        .requests
        .login
        .as_ref()
        .expect("the capability needs requests.login");
    let values = suite.api.account(&user.name, &user.password, None);
    let (access, answer) = match suite.api.login_exchange(login, &values, "login").await {
        Ok(pair) => pair,
        Err(e) => {
            f.backend_failed(&e);
            return f;
        }
    };
    let kinds = [
        (
            "refresh token",
            "refresh_token",
            &login.answer.refresh_token,
        ),
        ("ID token", "id_token", &login.answer.id_token),
    ];
    let mut refused = Vec::new();
    for (kind, key, pointer) in kinds {
        let Some(pointer) = pointer else { continue };
        let token = answer
            .json()
            .and_then(|json| read_pointer(&json, pointer))
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            f.backend_failure(evidence::about(
                &device,
                format!("the login answer has no {kind} at {pointer:?} (requests.login.{key})"),
                Some(&answer),
            ));
            continue;
        };
        if Credential::Token(token.clone()) == access {
            f.violation(evidence::about(
                &device,
                format!("the login answer's {kind} is its access token"),
                Some(&answer),
            ));
            continue;
        }
        let exchange = suite
            .fetch(Some(&Credential::Token(token)), &user.name, &delivered.id)
            .await;
        let judged = Refusal::of(&exchange, &secret);
        let ok = refusal::expect_unauthorized(&mut f, &judged, false, |tail| {
            let mut e = evidence::about(
                &device,
                format!(
                    "{}'s {kind} from a login, sent as its access token, fetched a notification: {tail}",
                    user.name
                ),
                Some(&exchange),
            );
            e.detail = json!({ "id": delivered.id, "token_type": key, "login": evidence::exchange(&answer) });
            e
        });
        if ok || judged == Refusal::Forbidden {
            refused.push(kind);
        }
    }
    if setup::read_back(
        suite,
        &device,
        &delivered.id,
        &secret,
        "positive control failed",
        &mut f,
    )
    .await
    {
        f.gathered(refused.len());
    }
    if f.violations.is_empty() && f.deviations.is_empty() {
        f.summary(format!(
            "the login's {} {} refused as an access token; the device's own session still read",
            refused.join(" and "),
            if refused.len() == 1 { "was" } else { "were" }
        ));
    }
    f
}
