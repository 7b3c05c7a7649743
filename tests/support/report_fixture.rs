//! A realistic conformance run for the report tests: one check per
//! verdict (and an expected failure), evidence with captured pushes, HTTP
//! exchanges and hits, a stale expectation, and text a hostile backend
//! would send (script tags, attribute breakers, control characters).

#![allow(dead_code)]

use std::io::Write as _;

use base64::Engine as _;
use pushproof::conformance::{Level, Severity, Verdict};
use pushproof::report::suite::{
    CapturedPush, CheckRecord, Evidence, Exchange, Hit, HttpMessage, ProfileRef, SampleSize,
    SkipReason, StaleExpectation, Subject, SuiteReport, SuiteRun, TargetInfo, Totals,
    SUITE_FORMAT_VERSION,
};

/// A script that records that it ran; the HTML test asserts it never does.
pub const HOSTILE_SCRIPT: &str = "<script>window.__pwned = 'script';</script>";
/// Markup that would run script through an attribute.
pub const HOSTILE_IMG: &str = "<img src=x onerror=\"window.__pwned='img'\">";
/// The canary of the fixture's leaked secret.
pub const CANARY: &str = "SPC1-7QK2XN4M5W3R8T6Y";
/// ANSI colour codes and a NUL, as a backend's log or error might hold.
pub const CONTROL: &str = "\u{1b}[31mred\u{1b}[0m\u{0}";

pub fn check(
    id: &str,
    title: &str,
    level: Level,
    severity: Severity,
    verdict: Verdict,
) -> CheckRecord {
    CheckRecord {
        id: id.to_owned(),
        title: title.to_owned(),
        level,
        severity,
        method: format!("The harness probes {id} as the catalogue describes"),
        sources: vec![
            "OWASP ASVS 5.0 8.2.2".to_owned(),
            "OWASP API Security Top 10 2023 API1".to_owned(),
        ],
        verdict,
        summary: format!("{id} summary"),
        duration_ms: 12.5,
        sample: None,
        skip: None,
        expected_failure: None,
        evidence: Vec::new(),
        evidence_total: 0,
        evidence_file: None,
    }
}

fn hit(surface: &str, text: &str, needle: &str, transforms: &[&str], part: &str) -> Hit {
    let start = text.find(needle).expect("the needle is in the text");
    Hit {
        surface: surface.to_owned(),
        start: Some(start),
        end: Some(start + needle.len()),
        transforms: transforms.iter().map(|t| (*t).to_owned()).collect(),
        secret: "secret of user-3".to_owned(),
        part: part.to_owned(),
    }
}

fn subject(platform: &str) -> Subject {
    Subject {
        device: "device-3".to_owned(),
        user: "user-3".to_owned(),
        platform: platform.to_owned(),
        handle: format!("{platform}-token-3-abcdef"),
    }
}

fn sample(required: usize, gathered: usize, unit: &str) -> Option<SampleSize> {
    Some(SampleSize {
        required,
        gathered,
        unit: unit.to_owned(),
    })
}

/// The FCM body the flawed backend sent: the canary in clear in a data
/// field, next to hostile markup.
pub fn leaked_body() -> String {
    format!(
        r#"{{"message":{{"token":"fcm-token-3-abcdef","data":{{"secureId":"n-42","preview":"Your code {CANARY} {}"}}}}}}"#,
        HOSTILE_SCRIPT.replace('"', "\\\"")
    )
}

fn leak_01() -> CheckRecord {
    let mut c = check(
        "SP-LEAK-01",
        "No payload in push bodies",
        Level::Must,
        Severity::Critical,
        Verdict::Fail,
    );
    let body = leaked_body();
    c.summary = "1 of 30 captured pushes carries a canary".to_owned();
    c.sample = sample(30, 30, "pushes");
    c.evidence = vec![Evidence {
        what: "The tail canary of user-3's secret in the FCM message body".to_owned(),
        subject: Some(subject("fcm")),
        capture: Some(CapturedPush {
            seq: 17,
            platform: "fcm".to_owned(),
            method: "POST".to_owned(),
            path: "/v1/projects/pushproof-test/messages:send".to_owned(),
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                (
                    "x-trace".to_owned(),
                    format!("\"><svg onload=alert(1)> {HOSTILE_IMG}"),
                ),
            ],
            body: body.clone(),
            body_encoding: "utf-8".to_owned(),
            status: 200,
        }),
        hits: vec![hit(
            "json:/message/data/preview",
            &body,
            CANARY,
            &[],
            "tail",
        )],
        ..Evidence::default()
    }];
    c.evidence_total = 1;
    c.evidence_file = Some("evidence/SP-LEAK-01.json".to_owned());
    c
}

/// A gzip body whose bytes are not UTF-8, holding the canary compressed;
/// the hit marks the whole gzip stream.
fn leak_03() -> CheckRecord {
    let mut c = check(
        "SP-LEAK-03",
        "No encoded, compressed or hashed payload",
        Level::Must,
        Severity::Critical,
        Verdict::Fail,
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(CANARY.as_bytes()).expect("gzip in memory");
    let gzipped = gz.finish().expect("gzip in memory");
    let apns_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&gzipped);
    c.summary = "The head canary travels base64url-encoded gzip in apns-collapse-id".to_owned();
    c.evidence = vec![
        Evidence {
            what: "base64url(gzip(canary)) in the apns-collapse-id header".to_owned(),
            subject: Some(subject("apns")),
            capture: Some(CapturedPush {
                seq: 4,
                platform: "apns".to_owned(),
                method: "POST".to_owned(),
                path: "/3/device/apns-token-3-abcdef".to_owned(),
                headers: vec![
                    ("apns-push-type".to_owned(), "background".to_owned()),
                    ("apns-collapse-id".to_owned(), apns_header.clone()),
                ],
                body: r#"{"aps":{"content-available":1},"secureId":"n-7"}"#.to_owned(),
                body_encoding: "utf-8".to_owned(),
                status: 200,
            }),
            hits: vec![hit(
                "header:apns-collapse-id",
                &apns_header,
                &apns_header,
                &["base64url", "gzip"],
                "head",
            )],
            ..Evidence::default()
        },
        Evidence {
            what: "gzip(canary) as a raw WNS body".to_owned(),
            subject: Some(subject("wns")),
            capture: Some(CapturedPush {
                seq: 9,
                platform: "wns".to_owned(),
                method: "POST".to_owned(),
                path: "/w/?token=wns-channel-3".to_owned(),
                headers: vec![("x-wns-type".to_owned(), "wns/raw".to_owned())],
                body: base64::engine::general_purpose::STANDARD.encode(&gzipped),
                body_encoding: "base64".to_owned(),
                status: 200,
            }),
            hits: vec![Hit {
                surface: "body".to_owned(),
                start: Some(0),
                end: Some(gzipped.len()),
                transforms: vec!["gzip".to_owned()],
                secret: "secret of user-3".to_owned(),
                part: "head".to_owned(),
            }],
            ..Evidence::default()
        },
    ];
    c.evidence_total = 2;
    c
}

/// User B read user A's notification: the answer carries A's content and
/// hostile markup in a header and the body.
pub fn stolen_body() -> String {
    format!(
        r#"{{"Id":"n-42","Payload":"{CANARY} {}","Read":false}}"#,
        HOSTILE_IMG.replace('"', "\\\"")
    )
}

fn authz_03() -> CheckRecord {
    let mut c = check(
        "SP-AUTHZ-03",
        "Object-level authorization",
        Level::Must,
        Severity::Critical,
        Verdict::Fail,
    );
    let body = stolen_body();
    c.summary = "3 of 32 fetches of another user's notification returned its content".to_owned();
    c.sample = sample(32, 32, "probes");
    c.evidence = vec![Evidence {
        what: "user-5 fetched user-3's notification n-42 and got 200 with its content".to_owned(),
        subject: Some(subject("fcm")),
        exchange: Some(Exchange {
            request: HttpMessage {
                method: Some("GET".to_owned()),
                url: Some("http://127.0.0.1:41234/api/notifications/n-42".to_owned()),
                headers: vec![("authorization".to_owned(), "Bearer eyJ…user-5".to_owned())],
                ..HttpMessage::default()
            },
            response: Some(HttpMessage {
                status: Some(200),
                headers: vec![
                    ("content-type".to_owned(), "application/json".to_owned()),
                    ("x-debug".to_owned(), HOSTILE_SCRIPT.to_owned()),
                ],
                body: body.clone(),
                body_encoding: "utf-8".to_owned(),
                ..HttpMessage::default()
            }),
        }),
        hits: vec![hit("body", &body, CANARY, &[], "whole")],
        detail: serde_json::json!({"owner": "user-3", "caller": "user-5"}),
        ..Evidence::default()
    }];
    c.evidence_total = 3;
    c.evidence_file = Some("evidence/SP-AUTHZ-03.json".to_owned());
    c
}

fn http_01() -> CheckRecord {
    let mut c = check(
        "SP-HTTP-01",
        "Fetch not cached",
        Level::Should,
        Severity::Medium,
        Verdict::Warn,
    );
    c.summary = "Fetch answers carry `Cache-Control: max-age=60` | not no-store".to_owned();
    c.evidence = vec![Evidence {
        what: "Cache-Control: max-age=60 on a content fetch".to_owned(),
        exchange: Some(Exchange {
            request: HttpMessage {
                method: Some("GET".to_owned()),
                url: Some("http://127.0.0.1:41234/api/notifications/n-43".to_owned()),
                ..HttpMessage::default()
            },
            response: Some(HttpMessage {
                status: Some(200),
                headers: vec![("cache-control".to_owned(), "max-age=60".to_owned())],
                body: "{}".to_owned(),
                body_encoding: "utf-8".to_owned(),
                ..HttpMessage::default()
            }),
        }),
        ..Evidence::default()
    }];
    c.evidence_total = 1;
    c
}

/// Builds the fixture run: FAIL, FAIL (expected), WARN, SKIP, ERROR, PASS
/// and INFO checks, in catalogue order.
pub fn report() -> SuiteReport {
    let mut leak_02 = check(
        "SP-LEAK-02",
        "No payload in push metadata",
        Level::Must,
        Severity::Critical,
        Verdict::Fail,
    );
    leak_02.summary = "thread-id carries the sender's name".to_owned();
    leak_02.expected_failure = Some("vendor ticket PUSH-123: fixed in 2.4".to_owned());

    let mut id_01 = check(
        "SP-ID-01",
        "Unguessable ids",
        Level::Must,
        Severity::High,
        Verdict::Pass,
    );
    id_01.summary = "1000 ids: no structure, ≥ 128 bits estimated".to_owned();
    id_01.sample = sample(1000, 1000, "ids");

    let mut authz_01 = check(
        "SP-AUTHZ-01",
        "Fetch needs credentials",
        Level::Must,
        Severity::Critical,
        Verdict::Error,
    );
    authz_01.summary = format!("only 3 of 32 probes could be made: backend timed out {CONTROL}");
    authz_01.sample = sample(32, 3, "probes");

    let mut tok_02 = check(
        "SP-TOK-02",
        "Logout and revocation honoured",
        Level::Must,
        Severity::High,
        Verdict::Skip,
    );
    tok_02.summary = "the profile declares no logout".to_owned();
    tok_02.skip = Some(SkipReason {
        reason: "The profile declares no logout request.".to_owned(),
        enable: Some("capabilities.logout".to_owned()),
    });

    let mut life_04 = check(
        "SP-LIFE-04",
        "Push TTL ≤ payload TTL",
        Level::Info,
        Severity::Low,
        Verdict::Info,
    );
    life_04.summary = "apns-expiration 3600 s, payload TTL 86400 s".to_owned();

    let mut flow_01 = check(
        "SP-FLOW-01",
        "Every device gets its push and fetches exactly its own content",
        Level::Must,
        Severity::High,
        Verdict::Pass,
    );
    flow_01.summary = "30/30 devices verified their content".to_owned();
    flow_01.sample = sample(30, 30, "devices");

    let checks = vec![
        leak_01(),
        leak_02,
        leak_03(),
        id_01,
        authz_01,
        authz_03(),
        tok_02,
        http_01(),
        life_04,
        flow_01,
    ];
    let mut totals = Totals::default();
    for c in &checks {
        match c.verdict {
            Verdict::Pass => totals.pass += 1,
            Verdict::Fail => totals.fail += 1,
            Verdict::Warn => totals.warn += 1,
            Verdict::Skip => totals.skip += 1,
            Verdict::Error => totals.error += 1,
            Verdict::Info => totals.info += 1,
        }
    }
    SuiteReport {
        format_version: SUITE_FORMAT_VERSION,
        pushproof_version: "0.1.0".to_owned(),
        catalogue_version: "2026.12".to_owned(),
        run: SuiteRun {
            id: "20261201T093000Z-12345678901234567890-ab12".to_owned(),
            started_at: "2026-12-01T09:30:00Z".to_owned(),
            duration_s: 4.25,
            seed: 12_345_678_901_234_567_890,
            seed_text: "12345678901234567890".to_owned(),
            profile: ProfileRef {
                name: "acme".to_owned(),
                path: Some("./scenarios/acme backend.toml".to_owned()),
            },
            tls: true,
            concurrency: 64,
            timeout_s: 10.0,
            devices: 30,
            platforms: vec!["apns".to_owned(), "fcm".to_owned(), "wns".to_owned()],
            flaws: Vec::new(),
            delivery: Some("direct".to_owned()),
            strict: false,
            only: Vec::new(),
            skip: Vec::new(),
            command: vec![
                "pushproof".to_owned(),
                "check".to_owned(),
                "--profile".to_owned(),
                "./scenarios/acme backend.toml".to_owned(),
                "--backend-cmd".to_owned(),
                "java -jar acme.jar".to_owned(),
            ],
        },
        target: TargetInfo {
            kind: "command".to_owned(),
            description: "java -jar acme.jar".to_owned(),
            origin: "http://127.0.0.1:41234".to_owned(),
            log_files: vec![
                "backend.stdout.log".to_owned(),
                "backend.stderr.log".to_owned(),
            ],
            failure: None,
        },
        checks,
        totals,
        stale_expected_failures: vec![StaleExpectation {
            id: "SP-ID-01".to_owned(),
            reason: "ids were sequential before 2.3".to_owned(),
            verdict: Verdict::Pass,
        }],
        verdict: Verdict::Fail,
        exit_code: 1,
    }
}
