//! Property tests: clean pushes never match, over many seeds (random ids,
//! device tokens, JWTs, realistic headers); a secret sent through any chain
//! of one or two transforms is found with that chain; escapes round-trip.

use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use proptest::prelude::*;
use pushproof_mocks::Capture;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::decode;
use super::tests::{capture, compress, json_escape_all, percent_all, secrets};
use super::*;
use crate::conformance::canary::{Part, Secret};

/// 500 secrets, and both scanners over them, built once.
fn shared() -> &'static (Vec<Secret>, Scanner, PartialScanner) {
    static SHARED: OnceLock<(Vec<Secret>, Scanner, PartialScanner)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let secrets = secrets(500, 99);
        let scanner = Scanner::new(&secrets);
        let partial = PartialScanner::new(&secrets);
        (secrets, scanner, partial)
    })
}

fn random_bytes(rng: &mut impl RngCore, n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rng.fill_bytes(&mut bytes);
    bytes
}

fn alnum(rng: &mut impl Rng, n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}

/// An ES256 provider token: random key id, team, issue time and signature.
fn jwt(rng: &mut impl Rng) -> String {
    let header = format!(r#"{{"alg":"ES256","kid":"{}"}}"#, alnum(rng, 10));
    let claims = format!(
        r#"{{"iss":"{}","iat":{}}}"#,
        alnum(rng, 10),
        rng.gen_range(1_700_000_000u64..1_900_000_000)
    );
    let signature = random_bytes(rng, 64);
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn uuid(rng: &mut impl RngCore) -> String {
    uuid::Builder::from_random_bytes(random_bytes(rng, 16).try_into().unwrap_or([0; 16]))
        .into_uuid()
        .to_string()
}

/// A push as a sound backend sends it: nothing but ids, tokens and fixed
/// text, all random.
fn clean_push(seed: u64) -> Capture {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let id = hex::encode(random_bytes(&mut rng, 16));
    match rng.gen_range(0..3) {
        0 => {
            let body = format!(r#"{{"aps":{{"content-available":1}},"secureId":"{id}"}}"#);
            let path = format!("/3/device/{}", hex::encode(random_bytes(&mut rng, 32)));
            let (auth, apns_id) = (format!("bearer {}", jwt(&mut rng)), uuid(&mut rng));
            let expiration = rng.gen_range(1_700_000_000u64..1_900_000_000).to_string();
            let len = body.len().to_string();
            capture(
                &path,
                &[
                    ("authorization", &auth),
                    ("apns-topic", "com.example.pushproof"),
                    ("apns-push-type", "background"),
                    ("apns-priority", "5"),
                    ("apns-id", &apns_id),
                    ("apns-expiration", &expiration),
                    ("content-type", "application/json"),
                    ("content-length", &len),
                ],
                body,
            )
        }
        1 => {
            let token = format!(
                "{}:APA91b{}",
                URL_SAFE_NO_PAD.encode(random_bytes(&mut rng, 16)),
                URL_SAFE_NO_PAD.encode(random_bytes(&mut rng, 100))
            );
            let body = format!(
                r#"{{"message":{{"token":"{token}","data":{{"secureId":"{id}"}},"android":{{"priority":"HIGH"}}}}}}"#
            );
            let auth = format!(
                "Bearer ya29.{}",
                URL_SAFE_NO_PAD.encode(random_bytes(&mut rng, 60))
            );
            capture(
                "/v1/projects/pushproof-test/messages:send",
                &[
                    ("host", "127.0.0.1:40123"),
                    ("authorization", &auth),
                    ("content-type", "application/json; charset=utf-8"),
                ],
                body,
            )
        }
        _ => {
            let channel = STANDARD
                .encode(random_bytes(&mut rng, 48))
                .replace('+', "%2b")
                .replace('/', "%2f");
            let auth = format!("Bearer {}", STANDARD.encode(random_bytes(&mut rng, 40)));
            capture(
                &format!("/?token={channel}"),
                &[
                    ("authorization", &auth),
                    ("x-wns-type", "wns/raw"),
                    ("x-wns-requestforstatus", "true"),
                    ("content-type", "application/octet-stream"),
                ],
                id,
            )
        }
    }
}

/// Chains in order of application, the last one outermost.
const CHAINS: &[&[Transform]] = &[
    &[Transform::Hex],
    &[Transform::Base64],
    &[Transform::Base64Url],
    &[Transform::Base32],
    &[Transform::Percent],
    &[Transform::JsonEscape],
    &[Transform::XmlEntity],
    &[Transform::Gzip],
    &[Transform::Zlib],
    &[Transform::Deflate],
    &[Transform::Gzip, Transform::Base64],
    &[Transform::Gzip, Transform::Base64Url],
    &[Transform::Zlib, Transform::Base64],
    &[Transform::Deflate, Transform::Base64Url],
    &[Transform::Gzip, Transform::Hex],
    &[Transform::Gzip, Transform::Percent],
    &[Transform::Base64, Transform::Percent],
    &[Transform::Base64, Transform::JsonEscape],
    &[Transform::Base64, Transform::Gzip],
    &[Transform::Hex, Transform::Base64],
    &[Transform::Hex, Transform::XmlEntity],
    &[Transform::Base32, Transform::Zlib],
];

fn apply(transform: Transform, data: Vec<u8>, upper: bool) -> Vec<u8> {
    let text = |data: &[u8]| String::from_utf8_lossy(data).into_owned();
    match transform {
        Transform::Hex if upper => hex::encode_upper(data).into_bytes(),
        Transform::Hex => hex::encode(data).into_bytes(),
        Transform::Base64 => STANDARD.encode(data).into_bytes(),
        Transform::Base64Url => URL_SAFE_NO_PAD.encode(data).into_bytes(),
        Transform::Base32 if upper => data_encoding::BASE32.encode(&data).into_bytes(),
        Transform::Base32 => data_encoding::BASE32_NOPAD
            .encode(&data)
            .to_lowercase()
            .into_bytes(),
        Transform::Percent => percent_all(&data).into_bytes(),
        Transform::JsonEscape => json_escape_all(&text(&data)).into_bytes(),
        Transform::XmlEntity => text(&data)
            .chars()
            .map(|c| format!("&#x{:x};", c as u32))
            .collect::<String>()
            .into_bytes(),
        other => compress(other, &data),
    }
}

/// Base64 and base64url are told apart by the characters they differ in;
/// a run without them is either.
fn normalized(chain: &[Transform]) -> Vec<Transform> {
    chain
        .iter()
        .map(|&t| {
            if t == Transform::Base64Url {
                Transform::Base64
            } else {
                t
            }
        })
        .collect()
}

/// Starts of bodies that send the scanner down each of its paths: JSON,
/// XML, gzip, zlib, raw deflate (stored and fixed blocks), escapes.
const PREFIXES: &[&[u8]] = &[
    b"",
    b"{\"a\":\"",
    b"[1,{\"k",
    b"<toast a='",
    b"<a><b>",
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
    b"\x78\x9c",
    b"\x01\x10\x00\xef\xff",
    b"\x03",
    b"%",
    b"&#",
    b"\\u",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn clean_pushes_never_match(seed in any::<u64>()) {
        let (_, scanner, partial) = shared();
        let push = clean_push(seed);
        let hits = scanner.scan(&push);
        prop_assert!(hits.is_empty(), "{:?} in {:?}", hits, push);
        let partials = partial.scan(&push, &Control::empty());
        prop_assert!(partials.is_empty(), "{:?} in {:?}", partials, push);
    }

    #[test]
    fn secrets_sent_through_a_chain_are_found_with_it(
        index in 0..500usize,
        chain in prop::sample::select(CHAINS),
        before in "[a-z ]{0,12}",
        after in "[a-z ]{0,12}",
        upper in any::<bool>(),
        in_header in any::<bool>(),
    ) {
        let (secrets, scanner, _) = shared();
        let secret = &secrets[index];
        let mut data = format!("{before}{}{after}", secret.text()).into_bytes();
        for &t in chain {
            data = apply(t, data, upper);
        }
        let text = String::from_utf8(data.clone()).ok().filter(|_| in_header);
        let push = match &text {
            Some(value) => capture("/", &[("x-data", value)], "{}"),
            None => capture("/", &[], data),
        };
        let hits = scanner.scan(&push);
        for part in Part::CANARIES {
            let seen = hits.iter().any(|h| {
                h.secret == index && h.part == part && normalized(&h.transforms) == normalized(chain)
            });
            prop_assert!(seen, "{part} through {:?}: {:?}", chain, hits);
        }
        prop_assert!(hits.iter().all(|h| h.secret == index), "{:?}", hits);
    }

    #[test]
    fn fresh_secrets_never_match_clean_pushes(seed in any::<u64>()) {
        let secrets = secrets(20, seed);
        let scanner = Scanner::new(&secrets);
        for n in 0..4 {
            let push = clean_push(seed.wrapping_add(n));
            prop_assert!(scanner.scan(&push).is_empty(), "{:?}", push);
        }
    }

    #[test]
    fn anything_a_peer_sends_is_scanned_without_panicking(
        prefix in prop::sample::select(PREFIXES),
        body in prop::collection::vec(any::<u8>(), 0..600),
        path in "\\PC{0,80}",
        value in "\\PC{0,80}",
    ) {
        let (secrets, scanner, partial) = shared();
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&body);
        let push = capture(&path, &[("x-any", &value)], bytes.clone());
        let _ = scanner.scan(&push);
        let _ = partial.scan(&push, &Control::empty());
        let _ = scanner.scan_bytes("raw", &bytes);
        let hits = scanner.scan_bytes("raw", &[&bytes[..], secrets[0].text().as_bytes()].concat());
        prop_assert!(hits.iter().any(|h| h.secret == 0), "a secret after garbage is still found");
    }

    #[test]
    fn escapes_round_trip(text in "\\PC{0,40}") {
        let bytes = text.as_bytes();
        let checked = |u: decode::Unescaped, escaped: &str| {
            assert_eq!(u.bytes, bytes, "{escaped}");
            assert_eq!(u.table.len(), u.bytes.len() + 1);
            assert!(u.table.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(*u.table.last().unwrap_or(&0) as usize, escaped.len());
        };
        if !text.is_empty() {
            let escaped = percent_all(bytes);
            checked(decode::percent(escaped.as_bytes(), None).expect("escapes"), &escaped);
            let escaped: String = text.chars().map(|c| format!("&#{};", c as u32)).collect();
            checked(decode::xml_unescape(escaped.as_bytes()).expect("entities"), &escaped);
        }
        // JSON: every character as \u, astral ones as surrogate pairs.
        let escaped: String = text
            .encode_utf16()
            .map(|unit| format!("\\u{unit:04x}"))
            .collect();
        if let Some(u) = decode::json_unescape(escaped.as_bytes()) {
            checked(u, &escaped);
        } else {
            prop_assert!(text.is_empty());
        }
    }
}
