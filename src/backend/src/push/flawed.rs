//! What a deliberately flawed backend adds to its pushes, computed once
//! per notification and only when a push flaw is on: the sound path never
//! builds one, and the body builders take it as an `Option`.
//!
//! Each field names the flaw that sets it; [`Flawed::new`] is the whole
//! mapping from flaws to push content, so a test can read it in one place.

use std::io::Write as _;

use base64::Engine as _;
use sha2::Digest as _;

use crate::flaw::Flaw;

/// The push flaws, read once at startup.
#[derive(Debug, Clone, Default)]
pub(crate) struct PushFlaws {
    leak_payload: bool,
    leak_collapse_id: bool,
    leak_encoded: bool,
    leak_preview: bool,
    /// The `size-tracks-payload` flaw's key.
    seal_key: Option<[u8; 32]>,
    visible_alert: bool,
    extra_push_keys: bool,
    thread_by_sender: bool,
    leak_token: bool,
}

impl PushFlaws {
    /// The push flaws among `flaws`; `None` when there is none, so the
    /// sound path carries no per-notification work.
    pub(crate) fn from_flaws(flaws: &[Flaw]) -> Option<PushFlaws> {
        let on = |flaw| flaws.contains(&flaw);
        let set = PushFlaws {
            leak_payload: on(Flaw::LeakPayload),
            leak_collapse_id: on(Flaw::LeakCollapseId),
            leak_encoded: on(Flaw::LeakEncoded),
            leak_preview: on(Flaw::LeakPreview),
            seal_key: on(Flaw::SizeTracksPayload).then(|| {
                let mut key = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
                key
            }),
            visible_alert: on(Flaw::VisibleAlert),
            extra_push_keys: on(Flaw::ExtraPushKeys),
            thread_by_sender: on(Flaw::ThreadBySender),
            leak_token: on(Flaw::LeakToken),
        };
        let any = set.leak_payload
            || set.leak_collapse_id
            || set.leak_encoded
            || set.leak_preview
            || set.seal_key.is_some()
            || set.visible_alert
            || set.extra_push_keys
            || set.thread_by_sender
            || set.leak_token;
        any.then_some(set)
    }

    /// `leak-payload` alone: what a backend that falls back to a richer
    /// push puts in it (the `richer-fallback` flaw).
    pub(crate) fn payload_only() -> PushFlaws {
        PushFlaws {
            leak_payload: true,
            ..PushFlaws::default()
        }
    }

    /// Whether the sender's token is needed (the `leak-token` flaw).
    pub(crate) fn wants_token(&self) -> bool {
        self.leak_token
    }
}

/// What one notification's pushes carry beyond the id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Flawed {
    /// APNs `aps.alert` (`leak-payload`: the message as its body).
    pub apns_alert: Option<serde_json::Value>,
    /// APNs `aps.thread-id` (`thread-by-sender`: the sender's name).
    pub apns_thread_id: Option<String>,
    /// APNs `apns-collapse-id` header (`leak-collapse-id`: the message's
    /// first 64 bytes, the header's limit).
    pub apns_collapse_id: Option<String>,
    /// Custom keys at the root of the APNs payload.
    pub apns_data: Vec<(&'static str, String)>,
    /// FCM `message.notification` (`visible-alert`).
    pub fcm_notification: Option<serde_json::Value>,
    /// FCM `message.android.collapse_key` (`thread-by-sender`).
    pub fcm_collapse_key: Option<String>,
    /// Keys of FCM `message.data` beside the id.
    pub fcm_data: Vec<(&'static str, String)>,
    /// Text after the id and a newline in a WNS raw body (`leak-payload`).
    pub wns_tail: Option<String>,
}

/// Longest `apns-collapse-id` APNs accepts, in bytes.
const COLLAPSE_ID_MAX: usize = 64;

/// Most bytes of the message the `size-tracks-payload` flaw seals, so the
/// push (base64 adds a third) stays under the gateways' 4 KB.
const SEALED_MAX: usize = 2048;

/// Characters of the `leak-preview` flaw's preview.
const PREVIEW_CHARS: usize = 40;

impl Flawed {
    /// What `flaws` add to the pushes of `message` from `sender` (whose
    /// bearer token, when the request had one, is `token`).
    pub(crate) fn new(
        flaws: &PushFlaws,
        sender: &str,
        message: &str,
        token: Option<&str>,
    ) -> Flawed {
        let mut out = Flawed::default();
        let mut data = |key: &'static str, value: String| {
            out.apns_data.push((key, value.clone()));
            out.fcm_data.push((key, value));
        };
        if flaws.leak_encoded {
            data("blob", gzip_base64url(message));
        }
        if flaws.leak_preview {
            data("preview", redacted_preview(message));
        }
        if let Some(key) = &flaws.seal_key {
            data("sealed", seal(key, truncated(message, SEALED_MAX)));
        }
        if flaws.extra_push_keys {
            data("sender", sender.to_owned());
        }
        if flaws.leak_token {
            if let Some(token) = token {
                data("auth", token.to_owned());
            }
        }
        if flaws.leak_payload {
            out.apns_alert = Some(serde_json::json!({ "body": message }));
            out.fcm_data.push(("message", message.to_owned()));
            out.wns_tail = Some(message.to_owned());
        }
        if flaws.leak_collapse_id {
            out.apns_collapse_id = Some(truncated(message, COLLAPSE_ID_MAX).to_owned());
        }
        if flaws.visible_alert {
            out.fcm_notification = Some(serde_json::json!({
                "title": "New message",
                "body": format!("{sender} sent you a message"),
            }));
        }
        if flaws.thread_by_sender {
            out.apns_thread_id = Some(sender.to_owned());
            out.fcm_collapse_key = Some(sender.to_owned());
        }
        out
    }
}

/// The longest prefix of `text` of at most `max` bytes, on a character
/// boundary.
fn truncated(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `leak-encoded`: the message gzipped, then base64url, as a backend that
/// thinks compression hides it would send it.
fn gzip_base64url(message: &str) -> String {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(message.as_bytes());
    let compressed = encoder.finish().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(compressed)
}

/// `leak-preview`: a "redacted" lock-screen preview, as a backend that
/// believes it strips the sensitive parts would make it: every word with a
/// digit in it, or longer than 12 characters (codes, references, IBAN
/// groups), becomes `•••`, and the result is cut to 40 characters. Names,
/// places and the words around them survive.
fn redacted_preview(message: &str) -> String {
    let words: Vec<&str> = message
        .split_whitespace()
        .map(|word| {
            if word.chars().any(|c| c.is_ascii_digit()) || word.chars().count() > 12 {
                "•••"
            } else {
                word
            }
        })
        .collect();
    words.join(" ").chars().take(PREVIEW_CHARS).collect()
}

/// `size-tracks-payload`: the message (its first 2 KB) "encrypted" with a
/// fixed keystream (SHA-256 of the key and a block counter, no nonce),
/// base64: the same message always seals the same way and the ciphertext
/// is exactly as long as what was sealed.
fn seal(key: &[u8; 32], message: &str) -> String {
    let sealed: Vec<u8> = message
        .as_bytes()
        .chunks(32)
        .enumerate()
        .flat_map(|(block, chunk)| {
            let mut hasher = sha2::Sha256::new();
            hasher.update(key);
            hasher.update((block as u64).to_be_bytes());
            let pad = hasher.finalize();
            chunk
                .iter()
                .zip(pad)
                .map(|(b, k)| b ^ k)
                .collect::<Vec<u8>>()
        })
        .collect();
    base64::engine::general_purpose::STANDARD.encode(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flaws(list: &[Flaw]) -> PushFlaws {
        PushFlaws::from_flaws(list).expect("a push flaw")
    }

    #[test]
    fn no_push_flaw_means_no_per_notification_work() {
        assert!(PushFlaws::from_flaws(&[]).is_none());
        assert!(PushFlaws::from_flaws(&[Flaw::NoAuthz, Flaw::SequentialIds]).is_none());
    }

    #[test]
    fn leak_payload_keeps_its_shape() {
        let f = Flawed::new(&flaws(&[Flaw::LeakPayload]), "alice", "hi", None);
        assert_eq!(f.apns_alert, Some(serde_json::json!({ "body": "hi" })));
        assert_eq!(f.fcm_data, [("message", "hi".to_owned())]);
        assert!(f.apns_data.is_empty());
        assert_eq!(f.wns_tail.as_deref(), Some("hi"));
    }

    #[test]
    fn the_collapse_id_is_the_message_cut_to_the_header_limit() {
        let message = "é".repeat(40);
        let f = Flawed::new(&flaws(&[Flaw::LeakCollapseId]), "a", &message, None);
        let id = f.apns_collapse_id.expect("a collapse id");
        assert_eq!(id.len(), 64);
        assert!(message.starts_with(&id));
    }

    #[test]
    fn the_encoded_blob_is_base64url_of_gzip() {
        let f = Flawed::new(&flaws(&[Flaw::LeakEncoded]), "a", "secret text", None);
        let (key, blob) = &f.apns_data[0];
        assert_eq!(*key, "blob");
        let gz = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(blob)
            .expect("base64url");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .expect("gzip");
        assert_eq!(text, "secret text");
        assert_eq!(f.fcm_data, f.apns_data);
    }

    #[test]
    fn the_preview_drops_codes_but_keeps_names() {
        let preview = redacted_preview(
            "SPC1-ABCDEFGHIJKLMNOPQRSTUVWXYZ Reminder for Anna Keller: your appointment on 12/03/2026",
        );
        assert_eq!(preview, "••• Reminder for Anna Keller: your appoi");
        assert_eq!(preview.chars().count(), PREVIEW_CHARS);
    }

    #[test]
    fn sealing_is_deterministic_and_as_long_as_the_message() {
        let key = [7u8; 32];
        let a = seal(&key, "a message of some length");
        assert_eq!(a, seal(&key, "a message of some length"));
        assert_ne!(a, seal(&key, "another message, longer"));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&a)
            .expect("base64");
        assert_eq!(raw.len(), "a message of some length".len());
        assert!(!a.contains("message"));
    }

    #[test]
    fn sender_flaws() {
        let f = Flawed::new(
            &flaws(&[
                Flaw::ExtraPushKeys,
                Flaw::ThreadBySender,
                Flaw::VisibleAlert,
            ]),
            "alice",
            "m",
            None,
        );
        assert_eq!(f.apns_data, [("sender", "alice".to_owned())]);
        assert_eq!(f.apns_thread_id.as_deref(), Some("alice"));
        assert_eq!(f.fcm_collapse_key.as_deref(), Some("alice"));
        assert_eq!(
            f.fcm_notification,
            Some(serde_json::json!({"title": "New message", "body": "alice sent you a message"}))
        );
        let f = Flawed::new(&flaws(&[Flaw::LeakToken]), "alice", "m", Some("tok-1"));
        assert_eq!(f.fcm_data, [("auth", "tok-1".to_owned())]);
    }
}
