//! How notification ids are made: 128 random bits from the operating
//! system's CSPRNG, as 32 lowercase hex digits, unless an id flaw is on.
//!
//! Each flaw is a mistake real backends make: a counter (guessable), a
//! hash of the content (the same message always gets a related id, and the
//! id reveals what was sent), or a slot table that hands a deleted id out
//! again. Every flawed id still has the shape [`auth::is_id`] accepts, so
//! the rest of the API treats it as any other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sha2::Digest as _;

use super::auth::random_id;
use super::flaw::Flaw;

/// The id scheme, chosen once at startup.
#[derive(Debug)]
pub(crate) enum Ids {
    /// 128 random bits (the sound scheme).
    Random,
    /// `sequential-ids`: a counter started from the time in microseconds
    /// (so a restarted backend does not reissue old ids), zero-padded.
    Sequential(AtomicU64),
    /// `content-ids`: the first 64 bits of the message's SHA-256, then 64
    /// random bits so that the same message sent twice is still stored.
    Content,
    /// `reused-ids`: random, but an id freed by a delete is handed out
    /// again first, as a table of slots would.
    Recycled(Mutex<Vec<String>>),
}

impl Ids {
    pub(crate) fn from_flaws(flaws: &[Flaw]) -> Ids {
        if flaws.contains(&Flaw::SequentialIds) {
            let start = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0);
            Ids::Sequential(AtomicU64::new(start))
        } else if flaws.contains(&Flaw::ContentIds) {
            Ids::Content
        } else if flaws.contains(&Flaw::ReusedIds) {
            Ids::Recycled(Mutex::new(Vec::new()))
        } else {
            Ids::Random
        }
    }

    /// The id of a new notification carrying `message`.
    pub(crate) fn next(&self, message: &str) -> String {
        match self {
            Ids::Random => random_id(),
            Ids::Sequential(counter) => {
                format!("{:032x}", counter.fetch_add(1, Ordering::Relaxed) + 1)
            }
            Ids::Content => {
                let digest = sha2::Sha256::digest(message.as_bytes());
                let mut id = hex::encode(&digest[..8]);
                id.push_str(&random_id()[..16]);
                id
            }
            Ids::Recycled(free) => free
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop()
                .unwrap_or_else(random_id),
        }
    }

    /// A notification was deleted: under `reused-ids` its id is free again.
    pub(crate) fn released(&self, id: &str) {
        if let Ids::Recycled(free) = self {
            free.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::auth::is_id;

    #[test]
    fn random_ids_are_distinct_and_well_shaped() {
        let ids = Ids::from_flaws(&[]);
        let (a, b) = (ids.next("m"), ids.next("m"));
        assert!(is_id(&a) && is_id(&b));
        assert_ne!(a, b);
        ids.released(&a);
        assert_ne!(ids.next("m"), a, "the sound scheme never reissues");
    }

    #[test]
    fn flawed_ids_keep_the_shape_and_show_their_flaw() {
        let seq = Ids::from_flaws(&[Flaw::SequentialIds]);
        let (a, b) = (seq.next("m"), seq.next("m"));
        assert!(is_id(&a) && is_id(&b));
        assert!(b > a);
        assert_eq!(
            u128::from_str_radix(&b, 16).unwrap() - u128::from_str_radix(&a, 16).unwrap(),
            1
        );

        let content = Ids::from_flaws(&[Flaw::ContentIds]);
        let (a, b) = (content.next("same"), content.next("same"));
        assert!(is_id(&a) && is_id(&b));
        assert_eq!(a[..16], b[..16]);
        assert_ne!(a, b);
        assert_ne!(a[..16], content.next("other")[..16]);

        let recycled = Ids::from_flaws(&[Flaw::ReusedIds]);
        let a = recycled.next("m");
        recycled.released(&a);
        assert_eq!(recycled.next("m"), a);
        assert_ne!(recycled.next("m"), a);
    }
}
