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
    assert!(!profile.has(Capability::Delete));
    assert!(!profile.has(Capability::NotifyId));
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
                "token = \"/token\"\nexpires_in = \"/expires_in\"\n\n# A",
                "# A",
            ),
            "requests.login.token",
        ),
        (
            REFERENCE.replace("id = \"raw\"", "id = \"body\""),
            "platforms.wns.id",
        ),
        (
            REFERENCE.replace("replay = \"unlimited\"", "replay = \"twice\""),
            "policy.replay",
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
            REFERENCE.replace(
                "read = \"/Read\"",
                "read = \"/Read\"\nregistration = \"/r\"",
            ),
            "requests.fetch.registration",
        ),
    ];
    for (text, field) in cases {
        assert_eq!(invalid_field(&text), field);
    }
}

#[test]
fn a_platform_may_be_left_out_and_ids_may_sit_in_a_header_or_match_a_regex() {
    let text = REFERENCE
        .replace("[platforms.fcm]\nid = \"/data/secureId\"\n", "")
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
