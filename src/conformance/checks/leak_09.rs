//! SP-LEAK-09: no credentials in pushes. Every user credential the harness
//! holds (each baseline device's session token, the sender's) is a secret
//! of its own, searched whole by the leak scanner (it carries no canary:
//! it is the backend's, not the harness's) in every baseline push and hub
//! request, on every surface and through every transform. A token in a
//! push is a token in the platform's logs and on the lock screen's side of
//! the device.

use super::super::canary::Secret;
use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::pushes;
use crate::client::Credential;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LEAK-09",
    title: "No credentials in pushes",
    level: Level::Must,
    severity: Severity::Critical,
    method: "Every credential of the baseline (each device's access token, the sender's; for \
             Basic auth the user:password pair and a generated password) is searched whole, as \
             an opaque secret, in every push and hub request of the baseline: path, headers, \
             body, JSON and XML strings, through the scanner's encodings, compression and \
             hashes. Any sighting is a violation. Needs an accepted push on every platform of \
             the run and at least one credential",
    sources: &[
        "OWASP ASVS 5.0 14.2.1 (no sensitive data, tokens included, where it is logged)",
        "OWASP API Security Top 10 2023 API2",
    ],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "pushes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let mut secrets = Vec::new();
    let owners = suite
        .baseline
        .devices
        .iter()
        .map(|d| (format!("{}'s", d.name), &d.credential))
        .chain(
            suite
                .baseline
                .sender
                .iter()
                .map(|(user, c)| (format!("sender {user}'s"), c)),
        );
    for (owner, credential) in owners {
        secrets.extend(credential_secrets(&owner, credential));
    }
    f.require(
        !secrets.is_empty(),
        "no credential long enough to search for (16 bytes) was issued in the baseline",
    );
    let coverage = pushes::scan_baseline(suite, &secrets, |_| true, "a credential", &mut f).await;
    f.summary(
        coverage.summary(secrets.len(), "credentials", "in pushes", |searched| {
            format!(
                "none of {} credentials appears in {searched}, in any encoding",
                secrets.len()
            )
        }),
    );
    f
}

/// What of a credential is searched: a token whole; for Basic auth the
/// `user:password` pair (so its base64 in a header is found) and a password
/// that is not the user name.
fn credential_secrets(owner: &str, credential: &Credential) -> Vec<Secret> {
    let candidates = match credential {
        Credential::Token(token) => vec![(format!("{owner} token"), token.clone())],
        Credential::Basic { user, password } => {
            let mut out = vec![(
                format!("{owner} user:password"),
                format!("{user}:{password}"),
            )];
            if password != user {
                out.push((format!("{owner} password"), password.clone()));
            }
            out
        }
    };
    candidates
        .into_iter()
        .filter_map(|(label, text)| Secret::opaque(label, text).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_whole_and_basic_pairs() {
        let token = credential_secrets("device-1's", &Credential::Token("t".repeat(43)));
        assert_eq!(token.len(), 1);
        assert_eq!(token[0].label(), "device-1's token");
        let same = credential_secrets(
            "device-2's",
            &Credential::Basic {
                user: "pp-1234abcd-u2".into(),
                password: "pp-1234abcd-u2".into(),
            },
        );
        assert_eq!(
            same.len(),
            1,
            "a password equal to the user name is not apart"
        );
        assert_eq!(same[0].text(), "pp-1234abcd-u2:pp-1234abcd-u2");
        assert!(credential_secrets("x", &Credential::Token("short".into())).is_empty());
    }
}
