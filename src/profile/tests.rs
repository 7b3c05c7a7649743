//! Profile parsing: every scenario loads, the reference and tutorial shapes
//! render as their backends expect, and every mistake names its field.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn invalid_field(text: &str) -> String {
    match Profile::parse("p", text) {
        Err(ProfileError::Invalid { field, .. }) => field,
        Err(other) => other.to_string(),
        Ok(_) => panic!("accepted"),
    }
}

/// [`invalid_field`], naming the expected field when the text is accepted.
fn invalid_field_or(text: &str, expected: &str) -> String {
    match Profile::parse("p", text) {
        Ok(_) => panic!("accepted, expected an error in {expected}"),
        Err(_) => invalid_field(text),
    }
}

#[test]
fn every_scenario_profile_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let profile = Profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                profile.path.as_deref(),
                Some(path.display().to_string().as_str())
            );
            loaded += 1;
        }
    }
    assert!(loaded >= 2, "expected the reference and tutorial profiles");
}

#[test]
fn reference_profile_renders_the_reference_api() {
    let profile = Profile::reference();
    assert!(matches!(profile.auth.scheme, Scheme::Bearer { .. }));
    assert!(profile.has(Capability::Logout));
    assert!(profile.has(Capability::ShortLivedToken));
    assert!(profile.has(Capability::Delete));
    assert!(!profile.has(Capability::NotifyId));
    for capability in [
        Capability::DisableAccount,
        Capability::Tenants,
        Capability::OtherTokenTypes,
        Capability::FetchFields,
        Capability::PayloadTtl,
        Capability::ShortPayloadTtl,
        Capability::FetchThrottle,
        Capability::PushShape,
    ] {
        assert!(profile.has(capability), "{}", capability.key());
    }
    assert_eq!(profile.tenants, ["acme", "globex"]);
    let login = profile.requests.login.as_ref().unwrap();
    assert_eq!(
        login.answer.refresh_token.as_deref(),
        Some("/refresh_token")
    );
    let signup = profile
        .requests
        .signup
        .as_ref()
        .unwrap()
        .template
        .render(&Values {
            user: Some("u".into()),
            password: Some("p".into()),
            tenant: Some("globex".into()),
            ..Values::default()
        });
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&signup.unwrap().body).unwrap(),
        json!({ "username": "u", "password": "p", "tenant": "globex" })
    );
    let apns = profile.platform(Platform::Apns).unwrap();
    assert_eq!(
        apns.constants.as_deref(),
        Some(&[("/aps/content-available".to_owned(), serde_json::json!(1))][..])
    );
    assert!(apns.alerts.is_empty());
    assert_eq!(profile.policy.replay, Replay::UntilAck);
    assert_eq!(
        profile.policy.fetch_throttle,
        Some(FetchThrottle {
            failures: 100,
            window: Duration::from_secs(2),
            scope: ThrottleScope::User,
        })
    );
    let short = profile
        .requests
        .short_notify
        .as_ref()
        .unwrap()
        .template
        .render(&Values {
            platform: Some("fcm".into()),
            recipient: Some("bob".into()),
            message: Some("m".into()),
            lifetime_s: Some(2),
            ..Values::default()
        })
        .unwrap();
    assert_eq!(short.target, "/api/notifications?pns=fcm&to_tag=bob&ttl=2");
    assert_eq!(profile.platforms(), Platform::ALL.to_vec());
    let fetch = profile
        .requests
        .fetch
        .template
        .render(&Values {
            id: Some("a/b".into()),
            ..Values::default()
        })
        .unwrap();
    assert_eq!(fetch.target, "/api/notifications/a%2Fb");
    let notify = profile
        .requests
        .notify
        .template
        .render(&Values {
            platform: Some("wns".into()),
            recipient: Some("bob".into()),
            message: Some("hi \"x\"".into()),
            ..Values::default()
        })
        .unwrap();
    assert_eq!(notify.target, "/api/notifications?pns=wns&to_tag=bob");
    assert_eq!(notify.body, br#""hi \"x\"""#);
    let update = profile
        .requests
        .update_registration
        .as_ref()
        .unwrap()
        .template
        .render(&Values {
            registration: Some("r1".into()),
            platform: Some("apns".into()),
            handle: Some("00ff".into()),
            tags: Some(vec![]),
            ..Values::default()
        })
        .unwrap();
    assert_eq!(update.target, "/api/register/r1");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&update.body).unwrap(),
        json!({ "Platform": "apns", "Handle": "00ff", "Tags": [] })
    );
    assert_eq!(
        profile.requests.register.answer.registration.as_deref(),
        Some("")
    );
}

#[test]
fn tutorial_profile_uses_basic_auth_with_the_tutorials_password_rule() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tutorial.toml"),
    )
    .unwrap();
    let profile = Profile::parse("tutorial", &text).unwrap();
    assert!(matches!(profile.auth.scheme, Scheme::Basic { .. }));
    assert_eq!(profile.auth.password, PasswordRule::SameAsUser);
    assert!(!profile.has(Capability::Logout));
    assert!(!profile.has(Capability::Signup));
    assert!(!profile.has(Capability::FetchThrottle));
    assert!(!profile.has(Capability::PayloadTtl));
}

#[test]
fn unknown_scheme_is_named_in_the_error() {
    let text = REFERENCE.replace("scheme = \"bearer\"", "scheme = \"digest\"");
    let err = Profile::parse("p", &text).expect_err("digest is not supported");
    assert!(err.to_string().contains("auth.scheme"), "{err}");
    assert!(err.to_string().contains("digest"), "{err}");
}

#[test]
fn unknown_field_is_rejected_by_name() {
    let err = Profile::parse("p", &format!("{REFERENCE}\nsurprise = 1\n")).unwrap_err();
    assert!(err.to_string().contains("surprise"), "{err}");
    let text = REFERENCE.replace("payload = \"/Payload\"", "paylod = \"/Payload\"");
    let err = Profile::parse("p", &text).unwrap_err();
    assert!(err.to_string().contains("paylod"), "{err}");
}

#[test]
fn each_mistake_names_its_field() {
    let cases = [
        (
            REFERENCE.replace("/api/notifications/{id}", "/api/notifications/{idd}"),
            "requests.fetch.path",
        ),
        (
            REFERENCE.replace(
                "path = \"/api/notifications/{id}\"",
                "path = \"/api/x/{handle}\"",
            ),
            "requests.fetch",
        ),
        (
            REFERENCE.replace("payload = \"/Payload\"", ""),
            "requests.fetch.payload",
        ),
        (
            REFERENCE.replace("payload = \"/Payload\"", "payload = \"Payload\""),
            "requests.fetch.payload",
        ),
        (
            REFERENCE.replace(
                "token = \"/token\"\nexpires_in = \"/expires_in\"\nrefresh_token",
                "refresh_token",
            ),
            "requests.login.token",
        ),
        (
            REFERENCE.replace("names = [\"acme\", \"globex\"]", "names = [\"acme\"]"),
            "tenants.names",
        ),
        (
            REFERENCE.replace(
                "names = [\"acme\", \"globex\"]",
                "names = [\"acme\", \"acme\"]",
            ),
            "tenants.names",
        ),
        (
            REFERENCE.replace("[tenants]\nnames = [\"acme\", \"globex\"]", ""),
            "tenants.names",
        ),
        (
            REFERENCE.replace(", tenant = \"{tenant}\"", ""),
            "tenants.names",
        ),
        (
            REFERENCE.replace(
                "fields = [\"/Id\", \"/Payload\", \"/Read\"]",
                "fields = [\"/Id\", \"/Read\"]",
            ),
            "requests.fetch.fields",
        ),
        (
            REFERENCE.replace(
                "fields = [\"/Id\", \"/Payload\", \"/Read\"]",
                "fields = [\"Id\"]",
            ),
            "requests.fetch.fields",
        ),
        (
            REFERENCE.replace(
                "registration = \"\"            #",
                "registration = \"\"\nfields = [\"/x\"] #",
            ),
            "requests.register.fields",
        ),
        (
            REFERENCE.replace(
                "registration = \"\"            #",
                "registration = \"\"\nrefresh_token = \"/r\" #",
            ),
            "requests.register.refresh_token",
        ),
        (
            REFERENCE.replace(
                "path = \"/api/logout\"",
                "path = \"/api/logout\"\nbody = { t = \"{tenant}\" }",
            ),
            "requests.logout",
        ),
        (
            REFERENCE.replace("id = \"raw\"", "id = \"body\""),
            "platforms.wns.id",
        ),
        (
            REFERENCE.replace("replay = \"until-ack\"", "replay = \"twice\""),
            "policy.replay",
        ),
        (
            REFERENCE.replace("\"/aps/content-available\" = 1", "aps = 1"),
            "platforms.apns.constants",
        ),
        (
            REFERENCE.replace("constants = {}", "constants = {}\nalerts = [\"\"]"),
            "platforms.wns.alerts",
        ),
        (
            REFERENCE.replace("send = \"any-user\"", "send = \"anyone\""),
            "policy.send",
        ),
        (
            REFERENCE.replace("method = \"GET\"", "method = \"G ET\""),
            "requests.fetch.method",
        ),
        (
            REFERENCE.replace("registration = \"\"", ""),
            "requests.register.registration",
        ),
        (
            REFERENCE.replace("short_token_lifetime_s = 2\n", ""),
            "policy.short_token_lifetime_s",
        ),
        (
            REFERENCE.replace("token_lifetime_s = 3600", "token_lifetime_s = -1"),
            "policy.token_lifetime_s",
        ),
        (
            REFERENCE.replace("short_payload_ttl_s = 2\n", ""),
            "policy.short_payload_ttl_s",
        ),
        (
            REFERENCE.replace("short_payload_ttl_s = 2", "short_payload_ttl_s = 90000"),
            "policy.short_payload_ttl_s",
        ),
        (
            REFERENCE.replace("failures = 100", "failures = 0"),
            "policy.fetch_throttle.failures",
        ),
        (
            REFERENCE.replace("window_s = 2,", "window_s = 0,"),
            "policy.fetch_throttle.window_s",
        ),
        (
            REFERENCE.replace("scope = \"user\"", "scope = \"ip\""),
            "policy.fetch_throttle.scope",
        ),
        (
            REFERENCE.replace(
                "ttl = \"{lifetime_s}\" }",
                "ttl = \"{lifetime_s}\", h = \"{handle}\" }",
            ),
            "requests.short_notify",
        ),
        (
            REFERENCE.replace(
                "read = \"/Read\"",
                "read = \"/Read\"\nregistration = \"/r\"",
            ),
            "requests.fetch.registration",
        ),
    ];
    for (text, field) in cases {
        assert_eq!(invalid_field_or(&text, field), field);
    }
}

#[test]
fn a_platform_may_be_left_out_and_ids_may_sit_in_a_header_or_match_a_regex() {
    let text = REFERENCE
        .replace(
            "[platforms.fcm]\nid = \"/data/secureId\"\n\
             # A data-only message (the token addresses it) with high priority.\n\
             constants = { \"/android/priority\" = \"HIGH\" }\n",
            "",
        )
        .replace("id = \"raw\"", "id = { regex = 'id=([0-9a-f]+)' }")
        .replace(
            "id = \"/secureId\"",
            "id = { header = \"apns-collapse-id\" }",
        );
    let profile = Profile::parse("p", &text).unwrap();
    assert_eq!(profile.platforms(), vec![Platform::Apns, Platform::Wns]);
    let wns = profile.platform(Platform::Wns).unwrap();
    assert_eq!(wns.id.extract(&[], b"x id=00ab y").as_deref(), Some("00ab"));
    assert!(matches!(
        profile.platform(Platform::Apns).unwrap().id,
        IdLocation::Header(_)
    ));
}
