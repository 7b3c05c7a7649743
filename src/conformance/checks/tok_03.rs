//! SP-TOK-03: a disabled account's tokens stop working. A fresh user signs
//! in on two devices; the second reads a notification (its token is live),
//! gets another, and the first disables the account
//! (`requests.disable_account`). Both tokens must then be refused with 401
//! without content, neither may register a device, and the password must
//! no longer sign in.

use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::refusal::{self, Refusal};
use super::super::setup;
use crate::profile::{Capability, Values};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-TOK-03",
    title: "A disabled account's tokens are refused",
    level: Level::Must,
    severity: Severity::High,
    method: "A fresh user signs in on two devices; the second reads a notification (its token \
             is live) and gets another; the first disables the account \
             (requests.disable_account). Both tokens must then be refused the second \
             notification with 401 and no content (403 is WARN), neither may register a device, \
             and the user's password must no longer sign in",
    sources: &["OWASP ASVS 5.0 7.4.2", "OWASP ASVS 4.0.3 3.5.1"],
    needs: &[Capability::DisableAccount],
    sample: Sample {
        min: 2,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let Some(platform) = setup::proven_platform(suite, &mut f) else {
        return f;
    };
    let Some(user) = setup::user(suite, "tok03", &mut f).await else {
        return f;
    };
    let Some(devices) = setup::devices(suite, &user, &[platform, platform], &mut f).await else {
        return f;
    };
    let (disabler, reader) = (&devices[0], &devices[1]);
    let mut rng = suite.rng(INFO.id);
    let (before, after) = (suite.secret(&mut rng), suite.secret(&mut rng));
    let Some(first) = setup::deliver(suite, reader, &before, &mut f).await else {
        return f;
    };
    if !setup::read_back(
        suite,
        reader,
        &first.id,
        &before,
        "before the disable",
        &mut f,
    )
    .await
    {
        return f;
    }
    let Some(second) = setup::deliver(suite, reader, &after, &mut f).await else {
        return f;
    };
    let disable = suite
        .profile()
        .requests
        .disable_account
        .as_ref()
        .expect("the check needs requests.disable_account");
    if !setup::step_as(suite, "disable account", disable, disabler, &mut f).await {
        return f;
    }

    let mut refused = 0;
    for (device, whose) in [
        (reader, "the other session's"),
        (disabler, "the disabling session's"),
    ] {
        let exchange = suite
            .fetch(Some(&device.credential), &device.user, &second.id)
            .await;
        let answer = Refusal::of(&exchange, &after);
        let ok = refusal::expect_unauthorized(&mut f, &answer, false, |tail| {
            let mut e = evidence::about(
                device,
                format!(
                    "{}'s account was disabled; {whose} token ({}) then fetched a notification: {tail}",
                    user.name, device.name
                ),
                Some(&exchange),
            );
            e.detail = json!({ "id": second.id });
            e
        });
        refused += usize::from(ok);
        if ok || answer == Refusal::Forbidden {
            f.gathered(1);
        }
        // Another endpoint than the fetch: the token must be dead there too.
        let values = Values {
            token: Some(device.credential.secret().to_owned()),
            ..device.values(&suite.api)
        };
        let register = suite
            .api
            .call(
                &suite.profile().requests.register,
                &values,
                Some(&device.credential),
            )
            .await;
        if register
            .status()
            .is_some_and(|s| suite.profile().requests.register.template.succeeded(s))
        {
            f.violation(evidence::about(
                device,
                format!(
                    "{}'s account was disabled; {whose} token ({}) still registered a device ({})",
                    user.name,
                    device.name,
                    register.describe()
                ),
                Some(&register),
            ));
        }
    }
    if let Some(login) = &suite.profile().requests.login {
        let values = suite.api.account(&user.name, &user.password, None);
        if let Ok((_, exchange)) = suite.api.login_exchange(login, &values, "login").await {
            f.violation(evidence::about(
                disabler,
                format!(
                    "{}'s account was disabled, and its password still signs in",
                    user.name
                ),
                Some(&exchange),
            ));
        }
    }
    if f.violations.is_empty() && f.deviations.is_empty() {
        f.summary(format!(
            "after the account was disabled, {refused} of its 2 tokens were refused with 401, \
             neither registered a device, and its password no longer signed in"
        ));
    }
    f
}
