//! Scanner tests: every surface, each transform alone at every alignment,
//! two-layer chains, evidence ranges, partial leaks with and without a
//! control run, and the SP-LEAK-01 check.

use std::io::Write as _;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use pushproof_mocks::{Capture, CaptureKind, Platform};
use rand::SeedableRng as _;

use super::needle::Hash;
use super::*;
use crate::conformance::canary::{self, Part, Secret};

pub(super) fn secrets(n: usize, seed: u64) -> Vec<Secret> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    (0..n).map(|i| canary::secret(&mut rng, i)).collect()
}

pub(super) fn capture(path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Capture {
    Capture {
        seq: 7,
        platform: Platform::Apns,
        kind: CaptureKind::Push,
        at: std::time::SystemTime::now(),
        method: "POST".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.into(),
        status: 200,
        reason: None,
        device: None,
    }
}

pub(super) fn compress(kind: Transform, data: &[u8]) -> Vec<u8> {
    let level = flate2::Compression::default();
    let out = match kind {
        Transform::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(data).and_then(|()| e.finish())
        }
        Transform::Zlib => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(data).and_then(|()| e.finish())
        }
        _ => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
            e.write_all(data).and_then(|()| e.finish())
        }
    };
    out.expect("in-memory compression")
}

/// `%XX` for every byte.
pub(super) fn percent_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// `\u00XX` for every ASCII character (and UTF-8 kept for the rest).
pub(super) fn json_escape_all(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn apns_body(alert: &str) -> String {
    format!(
        r#"{{"aps":{{"alert":{{"body":{}}}}},"secureId":"8d0c6b2e5e3c4b7a"}}"#,
        serde_json::Value::from(alert)
    )
}

/// Whether `hits` hold `part` of secret `secret` found through `chain`.
fn found(hits: &[Hit], secret: usize, part: Part, chain: &[Transform]) -> bool {
    hits.iter()
        .any(|h| h.secret == secret && h.part == part && h.transforms == chain)
}

fn describe(hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| {
            format!(
                "{} {}:{} {} [{}]",
                h.surface,
                h.label,
                h.part,
                h.chain(),
                h.seen
            )
        })
        .collect()
}

#[test]
fn clean_reference_pushes_have_no_hits() {
    let secrets = secrets(200, 1);
    let scanner = Scanner::new(&secrets);
    let jwt = "bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IlBQS0VZMTIzNDUifQ.eyJpc3MiOiJQUFRFQU0xMjM0IiwiaWF0IjoxNzY0MDY4MDAwfQ.MEUCIQDx3V9f0mJ2cK1yQe6bX8rHn4sLwTzP5aGd7uV0iE2oYwIgKp3Nf8sVb1mXq9Lr4tZc6yW0hJd2eA5uG7iO1kR3sTc";
    let pushes = [
        capture(
            "/3/device/5f2b7c0e9a41d3b68e0c47f19a2d5b3e8c61f04a97d2e5b80c3a6f1d49e7b2c5",
            &[
                ("authorization", jwt),
                ("apns-push-type", "background"),
                ("apns-id", "6f0c1d5e-8b7a-4c3d-9e2f-1a0b9c8d7e6f"),
            ],
            r#"{"aps":{"content-available":1},"secureId":"0f3c9a7be2d14c5877aa03e19bc04f21"}"#,
        ),
        capture(
            "/v1/projects/p/messages:send",
            &[(
                "authorization",
                "Bearer ya29.c.c0ASRK0GbXw3Yt8pLq2Zr5Nv1Mk7Hj4Fd9Sa6Gc0Bx3Ve8Tu",
            )],
            r#"{"message":{"token":"dQw4w9WgXcQ:APA91bH7x2Kq0vY3mZ8sLr5TnB1cWp6eJu9oGf4aXi2DkE7hMl3NbVz0Qy","data":{"secureId":"0f3c9a7be2d14c5877aa03e19bc04f21"},"android":{"priority":"HIGH"}}}"#,
        ),
        capture(
            "/?token=AwYAAAD8kz1nQ%2bG5Lr7Tx2Vb0Yc9Pe4Ws6Hj3Km8Nf1Qa5Zd7Ug2Xi0Bo",
            &[
                ("x-wns-type", "wns/raw"),
                ("content-type", "application/octet-stream"),
            ],
            "0f3c9a7be2d14c5877aa03e19bc04f21",
        ),
    ];
    for push in &pushes {
        assert_eq!(
            describe(&scanner.scan(push)),
            Vec::<String>::new(),
            "{}",
            push.path
        );
    }
}

#[test]
fn plain_canaries_in_every_surface() {
    let secrets = secrets(50, 2);
    let scanner = Scanner::new(&secrets);
    let s = &secrets[17];
    let head = s.canary(Part::Head).expect("head");
    let tail = s.canary(Part::Tail).expect("tail");

    let hits = scanner.scan(&capture("/", &[], apns_body(s.text())));
    assert_eq!(describe(&hits).len(), 3, "{:?}", describe(&hits));
    for part in Part::CANARIES {
        assert!(found(&hits, 17, part, &[]));
    }
    assert!(hits
        .iter()
        .all(|h| h.surface == "json:/aps/alert/body" && h.capture == Some(7)));

    let hits = scanner.scan(&capture("/", &[("apns-collapse-id", head)], "{}"));
    assert_eq!(hits[0].surface, "header:apns-collapse-id");
    let name = format!("x-{}", tail.to_lowercase());
    let hits = scanner.scan(&capture("/", &[(&name, "1")], "{}"));
    assert_eq!(
        (hits[0].surface.as_str(), hits[0].part),
        (&*format!("header-name:{name}"), Part::Tail)
    );
    let hits = scanner.scan(&capture(&format!("/x?m={}", tail.to_lowercase()), &[], ""));
    assert!(found(&hits, 17, Part::Tail, &[]) && hits[0].surface == "path");
    let raw = format!("{}\n{}", "0f3c9a7be2d14c58", head.to_uppercase());
    assert!(found(
        &scanner.scan(&capture("/", &[], raw)),
        17,
        Part::Head,
        &[]
    ));
}

#[test]
fn a_truncated_preview_still_names_its_part() {
    let secrets = secrets(20, 3);
    let scanner = Scanner::new(&secrets);
    let text = secrets[4].text();
    let preview: String = text.chars().take(canary::PREFIX.len() + 14).collect();
    let hits = scanner.scan(&capture("/", &[], apns_body(&format!("{preview}…"))));
    assert_eq!(describe(&hits).len(), 1);
    assert!(found(&hits, 4, Part::Head, &[]));
    let tail: String = text
        .chars()
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let hits = scanner.scan(&capture("/", &[], apns_body(&format!("…{tail}"))));
    assert!(found(&hits, 4, Part::Tail, &[]), "{:?}", describe(&hits));
    // Fewer than 13 random characters is no exact sighting (the partial
    // scanner's business).
    let short: String = text.chars().take(canary::PREFIX.len() + 12).collect();
    assert!(scanner
        .scan(&capture("/", &[], apns_body(&short)))
        .is_empty());
}

#[test]
fn hex_in_both_cases() {
    let secrets = secrets(30, 4);
    let scanner = Scanner::new(&secrets);
    let encoded = hex::encode(secrets[9].text());
    for value in [
        encoded.clone(),
        encoded.to_uppercase(),
        format!("v{encoded}"),
    ] {
        let hits = scanner.scan(&capture("/", &[("x-ref", &value)], "{}"));
        for part in Part::CANARIES {
            assert!(
                found(&hits, 9, part, &[Transform::Hex]),
                "{:?}",
                describe(&hits)
            );
        }
    }
}

#[test]
fn base64_at_every_alignment_in_both_alphabets_padded_or_not() {
    let secrets = secrets(30, 5);
    let scanner = Scanner::new(&secrets);
    let canary = secrets[11].canary(Part::Middle).expect("middle").as_bytes();
    let engines = [
        (&STANDARD, Transform::Base64),
        (&STANDARD_NO_PAD, Transform::Base64),
        (&URL_SAFE, Transform::Base64Url),
        (&URL_SAFE_NO_PAD, Transform::Base64Url),
    ];
    for offset in 0..6 {
        // The leading bytes encode to `+/+/` or `-_-_`, so the alphabet shows.
        let mut plain = vec![0xfb, 0xff, 0xbf];
        plain.extend(std::iter::repeat_n(b'.', offset));
        plain.extend_from_slice(canary);
        plain.extend_from_slice(b" is the middle canary");
        for (engine, transform) in &engines {
            // A run that does not start where the encoding does defeats
            // decoding: only the alignment's needle can find it.
            let value = format!("zq{}", engine.encode(&plain));
            let hits = scanner.scan(&capture("/", &[("x-blob", &value)], "{}"));
            assert!(
                found(&hits, 11, Part::Middle, &[*transform]),
                "offset {offset} {transform}: {:?}",
                describe(&hits)
            );
        }
    }
}

#[test]
fn base32_at_every_alignment_in_both_cases() {
    let secrets = secrets(30, 6);
    let scanner = Scanner::new(&secrets);
    let canary = secrets[3].canary(Part::Tail).expect("tail").as_bytes();
    for offset in 0..5 {
        let mut plain = vec![b'#'; offset];
        plain.extend_from_slice(canary);
        let encoded = data_encoding::BASE32.encode(&plain);
        for value in [format!("99{encoded}"), encoded.to_lowercase()] {
            let hits = scanner.scan(&capture("/", &[("x-b32", &value)], "{}"));
            assert!(
                found(&hits, 3, Part::Tail, &[Transform::Base32]),
                "{offset}: {:?}",
                describe(&hits)
            );
        }
    }
}

#[test]
fn escapes_percent_json_and_xml() {
    let secrets = secrets(30, 7);
    let scanner = Scanner::new(&secrets);
    let s = &secrets[21];
    let head = s.canary(Part::Head).expect("head");

    let path = format!("/send?m={}", percent_all(s.text().as_bytes()));
    let hits = scanner.scan(&capture(&path, &[], ""));
    for part in Part::CANARIES {
        assert!(
            found(&hits, 21, part, &[Transform::Percent]),
            "{:?}",
            describe(&hits)
        );
    }
    let body = format!(r#"{{"data":{{"m":"{}"}}}}"#, json_escape_all(head));
    let hits = scanner.scan(&capture("/", &[], body.clone()));
    assert_eq!(describe(&hits).len(), 1);
    assert!(found(&hits, 21, Part::Head, &[Transform::JsonEscape]));
    let hit = &hits[0];
    assert_eq!(hit.surface, "json:/data/m");
    assert_eq!(hit.seen, head);
    let marked = &body[hit.start.unwrap_or(0)..hit.end.unwrap_or(0)];
    assert_eq!(
        marked,
        json_escape_all(head),
        "the range marks the escaped text"
    );

    let entities: String = head.chars().map(|c| format!("&#{};", c as u32)).collect();
    let toast = format!(
        "<toast><visual><binding template=\"ToastGeneric\"><text>{entities}</text></binding></visual></toast>"
    );
    let hits = scanner.scan(&capture("/", &[], toast));
    assert!(found(&hits, 21, Part::Head, &[Transform::XmlEntity]));
    assert_eq!(hits[0].surface, "xml:/toast/visual/binding/text");
    let hex_entities: String = head
        .chars()
        .map(|c| format!("&#x{:X};", c as u32))
        .collect();
    let hits = scanner.scan(&capture("/", &[("x-wns-tag", &hex_entities)], ""));
    assert!(found(&hits, 21, Part::Head, &[Transform::XmlEntity]));
}

#[test]
fn compressed_bodies_are_inflated() {
    let secrets = secrets(30, 8);
    let scanner = Scanner::new(&secrets);
    let text = secrets[2].text().as_bytes();
    for kind in [Transform::Gzip, Transform::Zlib, Transform::Deflate] {
        let hits = scanner.scan(&capture("/", &[], compress(kind, text)));
        for part in Part::CANARIES {
            assert!(
                found(&hits, 2, part, &[kind]),
                "{kind}: {:?}",
                describe(&hits)
            );
        }
        assert!(hits.iter().all(|h| h.surface == "body"));
    }
}

#[test]
fn hashes_of_each_canary_and_of_the_text() {
    let secrets = secrets(40, 9);
    let scanner = Scanner::new(&secrets);
    let s = &secrets[33];
    let sources: Vec<(&str, Part)> = s
        .canaries()
        .iter()
        .map(|c| (c.text.as_str(), c.part))
        .chain([(s.text(), Part::Whole)])
        .collect();
    for hash in Hash::ALL {
        for &(source, part) in &sources {
            let digest = hash.digest(source.as_bytes());
            let h = hash.transform();
            let forms = [
                (hex::encode(&digest), [h, Transform::Hex]),
                (hex::encode_upper(&digest), [h, Transform::Hex]),
                (STANDARD.encode(&digest), [h, Transform::Base64]),
            ];
            for (value, chain) in &forms {
                let hits = scanner.scan(&capture("/", &[("apns-collapse-id", value)], "{}"));
                assert!(
                    found(&hits, 33, part, chain),
                    "{hash:?} {part} {value}: {:?}",
                    describe(&hits)
                );
            }
            // Base64url: the alphabet is told by the run it sits in.
            let url = URL_SAFE_NO_PAD.encode(&digest);
            let url_chain = if url.contains(['-', '_']) {
                Transform::Base64Url
            } else {
                Transform::Base64
            };
            let hits = scanner.scan(&capture("/", &[("x-id", &url)], "{}"));
            assert!(
                found(&hits, 33, part, &[h, url_chain]),
                "{:?}",
                describe(&hits)
            );
            // Raw digest bytes in a binary body.
            let mut raw = b"\x00\x01id".to_vec();
            raw.extend_from_slice(&digest);
            let hits = scanner.scan(&capture("/", &[], raw));
            assert!(
                found(&hits, 33, part, &[h]),
                "{hash:?} raw: {:?}",
                describe(&hits)
            );
        }
    }
}

#[test]
fn a_truncated_content_hash_used_as_an_id_is_found() {
    let secrets = secrets(20, 10);
    let scanner = Scanner::new(&secrets);
    let digest = hex::encode(Hash::Sha256.digest(secrets[5].text().as_bytes()));
    let body = format!(
        r#"{{"aps":{{"content-available":1}},"secureId":"{}"}}"#,
        &digest[..16]
    );
    let hits = scanner.scan(&capture("/", &[], body));
    assert!(found(
        &hits,
        5,
        Part::Whole,
        &[Transform::Sha256, Transform::Hex]
    ));
    let body = format!(r#"{{"secureId":"{}"}}"#, &digest[..12]);
    assert!(
        scanner.scan(&capture("/", &[], body)).is_empty(),
        "48 bits is not enough"
    );
}

#[test]
fn two_layer_chains() {
    let secrets = secrets(60, 11);
    let scanner = Scanner::new(&secrets);
    let s = &secrets[40];
    let text = s.text().as_bytes();
    let head = s.canary(Part::Head).expect("head");

    // base64url ∘ gzip, in FCM data.
    let packed = URL_SAFE_NO_PAD.encode(compress(Transform::Gzip, text));
    let packed = if packed.contains(['-', '_']) {
        packed
    } else {
        format!("{packed}_")
    };
    let body = format!(r#"{{"message":{{"data":{{"secureId":"1","blob":"{packed}"}}}}}}"#);
    let hits = scanner.scan(&capture("/", &[], body));
    assert!(
        found(
            &hits,
            40,
            Part::Middle,
            &[Transform::Gzip, Transform::Base64Url]
        ),
        "{:?}",
        describe(&hits)
    );
    assert_eq!(hits[0].surface, "json:/message/data/blob");

    // hex ∘ sha256, as a collapse id.
    let id = hex::encode(Hash::Sha256.digest(text));
    let hits = scanner.scan(&capture("/", &[("apns-collapse-id", &id)], "{}"));
    assert!(found(
        &hits,
        40,
        Part::Whole,
        &[Transform::Sha256, Transform::Hex]
    ));

    // percent ∘ base64, in a query. (Percent-encoding only `+/=` would
    // leave each canary's base64 intact: that is a plain base64 sighting.)
    let query = percent_all(STANDARD.encode(text).as_bytes());
    let hits = scanner.scan(&capture(&format!("/n?c={query}"), &[], ""));
    for part in Part::CANARIES {
        assert!(
            found(&hits, 40, part, &[Transform::Base64, Transform::Percent]),
            "{:?}",
            describe(&hits)
        );
    }

    // base64 ∘ zlib, as a JSON value.
    let body = format!(
        r#"{{"z":"{}"}}"#,
        STANDARD.encode(compress(Transform::Zlib, text))
    );
    let hits = scanner.scan(&capture("/", &[], body));
    assert!(
        found(&hits, 40, Part::Tail, &[Transform::Zlib, Transform::Base64]),
        "{:?}",
        describe(&hits)
    );

    // json-escape ∘ base64: the base64 text itself \u-escaped.
    let mut plain = b"+/\xff".to_vec();
    plain.extend_from_slice(head.as_bytes());
    let body = format!(r#"{{"m":"{}"}}"#, json_escape_all(&STANDARD.encode(&plain)));
    let hits = scanner.scan(&capture("/", &[], body));
    assert!(
        found(
            &hits,
            40,
            Part::Head,
            &[Transform::Base64, Transform::JsonEscape]
        ),
        "{:?}",
        describe(&hits)
    );

    // xml-entity ∘ hex, in a toast attribute.
    let entities: String = hex::encode(head)
        .chars()
        .map(|c| format!("&#{};", c as u32))
        .collect();
    let toast = format!(r#"<toast launch="{entities}"><visual/></toast>"#);
    let hits = scanner.scan(&capture("/", &[], toast));
    assert!(found(
        &hits,
        40,
        Part::Head,
        &[Transform::Hex, Transform::XmlEntity]
    ));
    assert_eq!(hits[0].surface, "xml:/toast/@launch");

    // base64 ∘ hex, and three layers: percent ∘ base64 ∘ sha256.
    let hits = scanner.scan(&capture(
        "/",
        &[("x", &STANDARD.encode(hex::encode(text)))],
        "",
    ));
    assert!(
        found(
            &hits,
            40,
            Part::Middle,
            &[Transform::Hex, Transform::Base64]
        ),
        "{:?}",
        describe(&hits)
    );
    let digest = STANDARD.encode(Hash::Sha256.digest(head.as_bytes()));
    let hits = scanner.scan(&capture(
        &format!("/t?h={}", percent_all(digest.as_bytes())),
        &[],
        "",
    ));
    assert!(found(
        &hits,
        40,
        Part::Head,
        &[Transform::Sha256, Transform::Base64, Transform::Percent]
    ));
}

#[test]
fn ranges_mark_the_hit_in_the_capture() {
    let secrets = secrets(20, 12);
    let scanner = Scanner::new(&secrets);
    let s = &secrets[6];
    let body = apns_body(s.text());
    let push = capture("/", &[], body.clone());
    for hit in scanner.scan(&push) {
        let marked = &body[hit.start.unwrap_or(0)..hit.end.unwrap_or(0)];
        assert_eq!(Some(marked), s.canary(hit.part), "{hit:?}");
    }
    let value = format!("ref:{}", hex::encode(s.canary(Part::Tail).expect("tail")));
    let hits = scanner.scan(&capture("/", &[("x-ref", &value)], ""));
    let (start, end) = (hits[0].start.unwrap_or(0), hits[0].end.unwrap_or(0));
    assert_eq!(&value[start..end], &value[4..], "the whole hex form");
    // A match inside a decoded run marks the encoded characters.
    let encoded = format!("k={}", STANDARD.encode(s.text()));
    let hits = scanner.scan(&capture("/", &[("x-k", &encoded)], ""));
    assert!(hits
        .iter()
        .all(|h| h.start >= Some(2) && h.end <= Some(encoded.len())));
}

#[test]
fn responses_and_plain_bytes() {
    let secrets = secrets(20, 13);
    let scanner = Scanner::new(&secrets);
    let tail = secrets[8].canary(Part::Tail).expect("tail");
    let mut headers = http::HeaderMap::new();
    let location = format!("/error?detail={tail}");
    headers.insert(
        http::header::LOCATION,
        location.parse().expect("header value"),
    );
    let body = format!(
        r#"{{"error":"not found","detail":"{}"}}"#,
        tail.to_lowercase()
    );
    let hits = scanner.scan_message(&Message::response(&headers, body.as_bytes()));
    let surfaces: Vec<&str> = hits.iter().map(|h| h.surface.as_str()).collect();
    assert_eq!(surfaces, ["json:/detail", "header:location"]);
    assert!(hits.iter().all(|h| h.capture.is_none() && h.secret == 8));
    let hits = scanner.scan_bytes("log", format!("GET {tail} 404").as_bytes());
    assert_eq!(
        (hits[0].surface.as_str(), hits[0].part),
        ("log", Part::Tail)
    );
}

#[test]
fn opaque_tokens_must_match_whole() {
    let token = "tok_live_9fG2kQ7xLmP3vR8sT1wY4zA6bC0dE5hJ";
    let jwt =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTcifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";
    let secrets = vec![
        Secret::opaque("access-token", token).expect("opaque"),
        Secret::opaque("refresh-token", jwt).expect("opaque"),
    ];
    let scanner = Scanner::new(&secrets);
    let hits = scanner.scan(&capture("/", &[("x-debug", token)], ""));
    assert!(found(&hits, 0, Part::Whole, &[]));
    let hits = scanner.scan(&capture(
        "/",
        &[("x", &STANDARD.encode(format!("t={token};")))],
        "",
    ));
    assert!(
        found(&hits, 0, Part::Whole, &[Transform::Base64]),
        "{:?}",
        describe(&hits)
    );
    // Another JWT with the same header is not this one; a truncated token
    // is not a sighting.
    let other =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTgifQ.b3RoZXItc2lnbmF0dXJlLWhlcmU";
    assert!(scanner
        .scan(&capture("/", &[("authorization", other)], ""))
        .is_empty());
    assert!(scanner
        .scan(&capture("/", &[("x", &token[..30])], ""))
        .is_empty());
}

#[test]
fn thousands_of_secrets_attribute_each_hit() {
    let secrets = secrets(1500, 14);
    let scanner = Scanner::new(&secrets);
    let body = format!(
        r#"{{"a":"{}","b":"{}"}}"#,
        secrets[321].text(),
        hex::encode(secrets[1200].text())
    );
    let hits = scanner.scan(&capture("/", &[], body));
    let owners: std::collections::BTreeSet<usize> = hits.iter().map(|h| h.secret).collect();
    assert_eq!(owners.into_iter().collect::<Vec<_>>(), [321, 1200]);
    assert_eq!(hits.len(), 6);
}

fn preview(s: &Secret, chars: usize) -> String {
    s.text()[canary::CANARY_LEN + 1..]
        .chars()
        .take(chars)
        .collect()
}

#[test]
fn partial_leaks_are_found_outside_the_control_run() {
    let secrets = secrets(100, 15);
    let partial = PartialScanner::new(&secrets);
    let others = self::secrets(100, 16);
    let control_run: Vec<Capture> = others
        .iter()
        .map(|s| capture("/", &[], apns_body(&preview(s, 50))))
        .collect();
    let control = partial.control(&control_run);
    assert_eq!(control.pushes(), 100);
    assert!(control.excluded_grams() > 0, "the templates are shared");

    let victim = 37;
    let push = capture("/", &[], apns_body(&preview(&secrets[victim], 50)));
    let hits = partial.scan(&push, &control);
    let hit = hits
        .iter()
        .find(|h| h.secret == victim)
        .expect("victim's preview found");
    assert_eq!(hit.part, Part::Partial);
    assert_eq!(hit.surface, "json:/aps/alert/body");
    assert!(hit.seen.chars().count() >= K);
    assert!(preview(&secrets[victim], 50)
        .to_lowercase()
        .contains(&hit.seen.to_lowercase()));
    // Without the control run the shared template matches other secrets too.
    let unfiltered = partial.scan(&push, &Control::empty());
    assert!(unfiltered.len() >= hits.len());
    let longest = unfiltered
        .iter()
        .find(|h| h.secret == victim)
        .expect("victim");
    assert!(longest.seen.len() >= hit.seen.len());
}

#[test]
fn generic_text_shared_with_the_control_run_is_no_leak() {
    let secrets = secrets(100, 17);
    let partial = PartialScanner::new(&secrets);
    let generic = "Never share it with anyone.";
    let holders = secrets
        .iter()
        .filter(|s| s.text().contains(generic))
        .count();
    assert!(holders > 0, "the one-time code template says it");
    let push = capture("/", &[], apns_body(&format!("Security notice: {generic}")));
    assert!(partial.scan(&push, &Control::empty()).len() >= holders);
    let control = partial.control([&push]);
    assert!(partial.scan(&push, &control).is_empty());
    // A clean push shares nothing with any secret.
    let clean = capture(
        "/3/device/ab12",
        &[("apns-push-type", "background")],
        r#"{"aps":{"content-available":1},"secureId":"0f3c9a7be2d14c58"}"#,
    );
    assert!(partial.scan(&clean, &Control::empty()).is_empty());
}

#[test]
fn partial_runs_are_found_through_decoding_and_longest_wins() {
    let secrets = secrets(30, 18);
    let partial = PartialScanner::new(&secrets);
    let s = &secrets[12];
    let part_one = preview(s, 12);
    let part_two = preview(s, 30);
    let body = format!(
        r#"{{"a":"{part_one}","b":"{}"}}"#,
        STANDARD.encode(&part_two)
    );
    let hits: Vec<Hit> = partial
        .scan(&capture("/", &[], body), &Control::empty())
        .into_iter()
        .filter(|h| h.secret == 12)
        .collect();
    assert_eq!(hits.len(), 1, "one hit per secret");
    assert_eq!(hits[0].seen, part_two);
    assert_eq!(hits[0].transforms, [Transform::Base64]);
}
