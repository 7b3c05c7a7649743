//! SP-OBS-02: no payload in errors. Error answers are where debug output
//! leaks: a request echoed back, a stack trace with the arguments, a
//! `Location` that repeats the query. The check provokes errors with
//! requests that carry a secret (its canaries in the id, the query, the
//! platform, a malformed or oversized body, a bogus token) and scans every
//! answer that is not a success, body and headers, with the leak scanner,
//! for that secret and for the caller's own token.

use http::Method;

use super::super::canary::{Part, Secret};
use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::leak::{Message, Scanner};
use super::super::{evidence, probe};
use crate::client::{Credential, Exchange};
use crate::profile::{Rendered, Values, Var};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-OBS-02",
    title: "No payload in errors",
    level: Level::Must,
    severity: Severity::High,
    method: "With a fresh user's session (its device on a proven platform), requests that must fail are sent, each carrying a \
             fresh secret's canaries: a fetch of an id that is a canary; a fetch with a canary \
             in the query; that fetch with a wrong method; a fetch with a bogus bearer token (an \
             opaque secret); a send naming a canary as the platform; a send whose body is \
             malformed JSON holding the secret; a send of a 100 KB message made of it. Every \
             answer that is not 2xx (status, headers such as Location and debug headers, \
             body) is searched by the leak scanner for the secret, the bogus token and the \
             session's own token, through every transform. Needs four error answers (the \
             fetches fail on any backend; the sends only where it validates them)",
    sources: &[
        "OWASP ASVS 5.0 16.5.1 (no sensitive data in error messages)",
        "OWASP ASVS 5.0 16.2.5",
        "OWASP API Security Top 10 2023 API8 (error details)",
    ],
    needs: &[],
    sample: Sample {
        min: 4,
        unit: "error answers",
    },
};

/// The oversized message: well past the bodies backends accept (64 KB is
/// common, the reference's limit).
const HUGE: usize = 100 * 1024;

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let Some(platform) = probe::proven_platforms(suite).into_iter().next() else {
        f.shortfall("no platform's baseline round trip verified");
        return f;
    };
    // A device of its own: a send the backend accepts after all pushes to
    // it, and no other check may take that push for its own.
    let Some(user) = probe::fresh_user(suite, "obs02", &mut f).await else {
        return f;
    };
    let Some(device) = probe::fresh_devices(suite, &user, &[platform], &mut f)
        .await
        .and_then(|d| d.into_iter().next())
    else {
        return f;
    };
    let mut rng = suite.rng(INFO.id);
    let secret = suite.secret(&mut rng);
    let bogus = Secret::opaque(
        "a bogus token",
        secret
            .canary(Part::Tail)
            .unwrap_or_default()
            .replace('-', "_"),
    )
    .ok();
    let mut secrets = vec![secret.clone()];
    secrets.extend(bogus.clone());
    secrets.extend(
        Secret::opaque(
            format!("{}'s token", device.name),
            device.credential.secret(),
        )
        .ok(),
    );
    let scanner = Scanner::new(&secrets);
    let credential = &device.credential;
    let exchanges = provoke(suite, &device, credential, &secret, bogus.as_ref()).await;
    let mut errors = 0;
    for (what, exchange) in &exchanges {
        let Some(reply) = exchange.reply() else {
            f.note(evidence::about(
                &device,
                format!("{what}: no answer ({})", exchange.describe()),
                Some(exchange),
            ));
            continue;
        };
        if reply.status.is_success() {
            f.note(evidence::about(
                &device,
                format!("{what}: answered {}, not an error", reply.status),
                Some(exchange),
            ));
            continue;
        }
        errors += 1;
        let hits = scanner.scan_message(&Message::response(&reply.headers, &reply.body));
        let Some(first) = hits.first() else {
            continue;
        };
        let mut e = evidence::about(
            &device,
            format!(
                "{what}: the {} answer carries {}",
                reply.status.as_u16(),
                super::super::pushes::describe(first)
            ),
            Some(exchange),
        );
        e.hits = hits.iter().map(Into::into).collect();
        f.violation(e);
    }
    f.gathered(errors);
    if f.violations.is_empty() {
        f.summary(format!(
            "{errors} error answers carry neither the secret the request held nor a token"
        ));
    }
    f
}

/// The requests that must fail, each with what it is. Each goes on a
/// connection of its own: a backend may answer them before reading their
/// bodies and drop the connection, which no other check's request may
/// then take.
async fn provoke(
    suite: &Suite,
    device: &crate::device::Device,
    credential: &Credential,
    secret: &Secret,
    bogus: Option<&Secret>,
) -> Vec<(String, Exchange)> {
    let api = &suite.api;
    let requests = &api.profile.requests;
    let canary = |part| secret.canary(part).unwrap_or_default().to_owned();
    let base = device.values(api);
    let mut out = Vec::new();

    // A fetch of an id that is a canary: unknown.
    let unknown = Values {
        id: Some(canary(Part::Head)),
        ..base.clone()
    };
    if let Ok(fetch) = requests.fetch.template.render(&unknown) {
        out.push((
            "a fetch of an unknown id".to_owned(),
            send(suite, &fetch, Some(credential)).await,
        ));
        // The same with a canary in the query, and with a wrong method.
        let query = with_query(&fetch, &canary(Part::Middle));
        out.push((
            "a fetch of an unknown id with a query".to_owned(),
            send(suite, &query, Some(credential)).await,
        ));
        let wrong = Rendered {
            method: Method::PATCH,
            body: secret.text().as_bytes().to_vec(),
            content_type: Some("text/plain; charset=utf-8"),
            ..query.clone()
        };
        out.push((
            "a fetch with a wrong method".to_owned(),
            send(suite, &wrong, Some(credential)).await,
        ));
        if let Some(bogus) = bogus {
            out.push((
                "a fetch with a bogus token".to_owned(),
                send(
                    suite,
                    &fetch,
                    Some(&Credential::Token(bogus.text().to_owned())),
                )
                .await,
            ));
        }
    }
    let (sender, sender_credential) = match suite.sender_for(device) {
        Ok((s, c)) => (s.to_owned(), c.clone()),
        Err(_) => (device.user.clone(), credential.clone()),
    };
    let to_device = Values {
        user: Some(sender),
        recipient: Some(device.user.clone()),
        message: Some(secret.text().to_owned()),
        token: Some(sender_credential.secret().to_owned()),
        ..base.clone()
    };
    let notify = &requests.notify.template;
    if notify.vars().contains(&Var::Platform) {
        let bad_platform = Values {
            platform: Some(canary(Part::Tail)),
            ..to_device.clone()
        };
        if let Ok(rendered) = notify.render(&bad_platform) {
            out.push((
                "a send to an unknown platform".to_owned(),
                send(suite, &rendered, Some(&sender_credential)).await,
            ));
        }
    }
    if let Ok(rendered) = notify.render(&to_device) {
        let malformed = Rendered {
            body: format!("{{\"message\": \"{}", secret.text()).into_bytes(),
            content_type: Some("application/json"),
            ..rendered.clone()
        };
        out.push((
            "a send with a malformed body".to_owned(),
            send(suite, &malformed, Some(&sender_credential)).await,
        ));
    }
    let huge = Values {
        message: Some(secret.text().repeat(HUGE / secret.text().len() + 1)),
        ..to_device
    };
    if let Ok(rendered) = notify.render(&huge) {
        out.push((
            "a send of a 100 KB message".to_owned(),
            send(suite, &rendered, Some(&sender_credential)).await,
        ));
    }
    out
}

/// `request` with `value` added to its query.
fn with_query(request: &Rendered, value: &str) -> Rendered {
    let sep = if request.target.contains('?') {
        '&'
    } else {
        '?'
    };
    Rendered {
        target: format!("{}{sep}debug={value}", request.target),
        ..request.clone()
    }
}

async fn send(suite: &Suite, request: &Rendered, credential: Option<&Credential>) -> Exchange {
    suite
        .api
        .client
        .send_alone(request, &suite.api.profile.auth, credential)
        .await
}
