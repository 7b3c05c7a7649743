//! The hub's device store: installations and registrations, bounded in
//! count (a full hub refuses new devices with 403, as the service does
//! past its tier's device quota), indexed by tag and by handle so that a
//! send resolves its targets from the postings of the expression's tags
//! rather than by scanning, and a by-channel listing or an `Unregistered`
//! answer finds its devices at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use http::StatusCode;

use super::channel::{Channel, Format};
use super::error::HubError;
use super::installation::Installation;
use super::registration::{Description, Registration};
use super::tags::Expression;

/// A device in the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Installation(Arc<str>),
    Registration(Arc<str>),
}

/// One native push a send resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) channel: Channel,
    pub(crate) handle: String,
    /// The installation or registration id, as a test send reports it.
    pub(crate) id: String,
    /// For a template send: the template body and its headers.
    pub(crate) template: Option<(String, Vec<(String, String)>)>,
}

/// An `If-Match` precondition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IfMatch {
    Any,
    Etag(u64),
}

impl IfMatch {
    /// `*` or `"<etag>"` (quotes optional).
    pub(crate) fn parse(value: &str) -> Result<IfMatch, HubError> {
        let value = value.trim();
        if value == "*" {
            return Ok(IfMatch::Any);
        }
        value
            .trim_matches('"')
            .parse()
            .map(IfMatch::Etag)
            .map_err(|_| {
                HubError::bad_request(format!("The If-Match value {value:?} is not valid."))
            })
    }

    fn check(&self, etag: u64) -> Result<(), HubError> {
        match self {
            IfMatch::Etag(wanted) if *wanted != etag => Err(HubError::new(
                StatusCode::PRECONDITION_FAILED,
                "The registration's ETag does not match the If-Match header.",
            )),
            _ => Ok(()),
        }
    }
}

/// Which registrations a listing holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Listing {
    All,
    Tag(String),
    Handle(Channel, String),
}

#[derive(Default)]
struct Inner {
    installations: HashMap<Arc<str>, Installation>,
    registrations: BTreeMap<Arc<str>, Registration>,
    by_tag: HashMap<String, HashSet<Key>>,
    by_handle: HashMap<(Channel, String), HashSet<Key>>,
}

/// The store.
pub(crate) struct Registry {
    capacity: usize,
    inner: RwLock<Inner>,
}

fn not_found(what: &str, id: &str) -> HubError {
    HubError::not_found(format!("The {what} {id:?} does not exist."))
}

impl Registry {
    pub(crate) fn new(capacity: usize) -> Registry {
        Registry {
            capacity,
            inner: RwLock::default(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // Every mutation keeps the maps and indexes consistent before it
        // can panic (none does), so a poisoned lock is still usable.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Installations and registrations held.
    pub(crate) fn len(&self) -> (usize, usize) {
        let inner = self.read();
        (inner.installations.len(), inner.registrations.len())
    }

    fn quota(&self, inner: &Inner) -> Result<(), HubError> {
        if inner.installations.len() + inner.registrations.len() >= self.capacity {
            return Err(HubError::forbidden(format!(
                "QuotaExceeded: the hub holds its maximum of {} devices.",
                self.capacity
            )));
        }
        Ok(())
    }

    /// Creates or overwrites an installation.
    pub(crate) fn put_installation(&self, installation: Installation) -> Result<(), HubError> {
        let mut inner = self.write();
        let id: Arc<str> = installation.id.as_str().into();
        match inner.installations.remove(&id) {
            Some(old) => unindex_installation(&mut inner, &id, &old),
            None => self.quota(&inner)?,
        }
        index_installation(&mut inner, &id, &installation);
        inner.installations.insert(id, installation);
        Ok(())
    }

    /// Applies a JSON Patch to an installation.
    pub(crate) fn patch_installation(&self, id: &str, body: &[u8]) -> Result<(), HubError> {
        let mut inner = self.write();
        let key: Arc<str> = id.into();
        let mut patched = inner
            .installations
            .get(&key)
            .cloned()
            .ok_or_else(|| not_found("installation", id))?;
        patched.patch(body)?;
        if let Some(old) = inner.installations.remove(&key) {
            unindex_installation(&mut inner, &key, &old);
        }
        index_installation(&mut inner, &key, &patched);
        inner.installations.insert(key, patched);
        Ok(())
    }

    pub(crate) fn installation(&self, id: &str) -> Option<Installation> {
        self.read().installations.get(id).cloned()
    }

    /// Deletes an installation; whether it existed.
    pub(crate) fn delete_installation(&self, id: &str) -> bool {
        let mut inner = self.write();
        let key: Arc<str> = id.into();
        match inner.installations.remove(&key) {
            Some(old) => {
                unindex_installation(&mut inner, &key, &old);
                true
            }
            None => false,
        }
    }

    /// Creates a registration under a new id.
    pub(crate) fn create_registration(
        &self,
        id: &str,
        description: Description,
    ) -> Result<Registration, HubError> {
        self.upsert_registration(id, description, None)
    }

    /// Creates or updates a registration; with `If-Match` it must exist
    /// (and match).
    pub(crate) fn upsert_registration(
        &self,
        id: &str,
        description: Description,
        if_match: Option<IfMatch>,
    ) -> Result<Registration, HubError> {
        let mut inner = self.write();
        let key: Arc<str> = id.into();
        let etag = match (inner.registrations.get(&key), &if_match) {
            (Some(old), Some(condition)) => {
                condition.check(old.etag)?;
                old.etag + 1
            }
            (Some(old), None) => old.etag + 1,
            (None, Some(_)) => return Err(not_found("registration", id)),
            (None, None) => {
                self.quota(&inner)?;
                1
            }
        };
        if let Some(old) = inner.registrations.remove(&key) {
            unindex_registration(&mut inner, &key, &old);
        }
        let registration = Registration::new(id, description, etag);
        index_registration(&mut inner, &key, &registration);
        inner.registrations.insert(key, registration.clone());
        Ok(registration)
    }

    pub(crate) fn registration(&self, id: &str) -> Option<Registration> {
        self.read().registrations.get(id).cloned()
    }

    pub(crate) fn delete_registration(&self, id: &str, if_match: &IfMatch) -> Result<(), HubError> {
        let mut inner = self.write();
        let key: Arc<str> = id.into();
        let etag = inner
            .registrations
            .get(&key)
            .map(|r| r.etag)
            .ok_or_else(|| not_found("registration", id))?;
        if_match.check(etag)?;
        if let Some(old) = inner.registrations.remove(&key) {
            unindex_registration(&mut inner, &key, &old);
        }
        Ok(())
    }

    /// Up to `top` registrations of a listing with ids after `after`, in
    /// id order, and the continuation token if more follow.
    pub(crate) fn list(
        &self,
        listing: &Listing,
        after: Option<&str>,
        top: usize,
    ) -> (Vec<Registration>, Option<String>) {
        let inner = self.read();
        let past = |id: &str| after.is_none_or(|a| id > a);
        let mut ids: Vec<&Arc<str>> = match listing {
            Listing::All => inner
                .registrations
                .keys()
                .filter(|id| past(id))
                .take(top + 1)
                .collect(),
            Listing::Tag(tag) => registration_ids(inner.by_tag.get(tag), &past),
            Listing::Handle(channel, handle) => registration_ids(
                inner.by_handle.get(&(*channel, channel.handle_key(handle))),
                &past,
            ),
        };
        ids.sort();
        let more = ids.len() > top;
        ids.truncate(top);
        let page: Vec<Registration> = ids
            .iter()
            .filter_map(|id| inner.registrations.get(*id).cloned())
            .collect();
        let next = more.then(|| page.last().map(|r| r.id.clone())).flatten();
        (page, next)
    }

    /// The native pushes a send to `expression` (`None`: broadcast) in
    /// `format` resolves to, at most `limit`.
    pub(crate) fn resolve(
        &self,
        format: Format,
        expression: Option<&Expression>,
        limit: usize,
    ) -> Vec<Target> {
        let inner = self.read();
        let mut out = Vec::new();
        let scan_all = expression.is_none_or(Expression::matches_untagged);
        if scan_all {
            for (id, installation) in &inner.installations {
                if out.len() >= limit {
                    break;
                }
                installation_targets(id, installation, format, expression, limit, &mut out);
            }
            for registration in inner.registrations.values() {
                if out.len() >= limit {
                    break;
                }
                registration_target(registration, format, expression, &mut out);
            }
            return out;
        }
        let mut seen: HashSet<&Key> = HashSet::new();
        let postings = expression
            .map(|e| e.tags.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| inner.by_tag.get(t));
        for key in postings.flatten() {
            if out.len() >= limit {
                break;
            }
            if !seen.insert(key) {
                continue;
            }
            match key {
                Key::Installation(id) => {
                    if let Some(installation) = inner.installations.get(id) {
                        installation_targets(id, installation, format, expression, limit, &mut out);
                    }
                }
                Key::Registration(id) => {
                    if let Some(registration) = inner.registrations.get(id) {
                        registration_target(registration, format, expression, &mut out);
                    }
                }
            }
        }
        out
    }

    /// A gateway said `handle` is gone: its registrations are deleted and
    /// its installations marked `pushChannelExpired` (and no longer
    /// targeted), as the service does with PNS feedback.
    pub(crate) fn expire_handle(&self, channel: Channel, handle: &str) -> usize {
        let mut inner = self.write();
        let Some(keys) = inner
            .by_handle
            .get(&(channel, channel.handle_key(handle)))
            .cloned()
        else {
            return 0;
        };
        for key in &keys {
            match key {
                Key::Installation(id) => {
                    if let Some(installation) = inner.installations.get_mut(id) {
                        installation.expired = true;
                    }
                }
                Key::Registration(id) => {
                    if let Some(old) = inner.registrations.remove(id) {
                        unindex_registration(&mut inner, id, &old);
                    }
                }
            }
        }
        keys.len()
    }
}

fn registration_ids<'a>(
    keys: Option<&'a HashSet<Key>>,
    past: &dyn Fn(&str) -> bool,
) -> Vec<&'a Arc<str>> {
    keys.into_iter()
        .flatten()
        .filter_map(|k| match k {
            Key::Registration(id) if past(id) => Some(id),
            _ => None,
        })
        .collect()
}

fn installation_targets(
    id: &Arc<str>,
    installation: &Installation,
    format: Format,
    expression: Option<&Expression>,
    limit: usize,
    out: &mut Vec<Target>,
) {
    if installation.expired {
        return;
    }
    match format {
        Format::Native(channel) => {
            if installation.channel == channel
                && expression.is_none_or(|e| e.matches(&|t| installation.has_tag(t)))
            {
                out.push(Target {
                    channel,
                    handle: installation.push_channel.clone(),
                    id: id.to_string(),
                    template: None,
                });
            }
        }
        Format::Template => {
            for template in installation.templates.values() {
                if out.len() >= limit {
                    return;
                }
                let has =
                    |t: &str| installation.has_tag(t) || template.tags.iter().any(|own| own == t);
                if expression.is_none_or(|e| e.matches(&has)) {
                    out.push(Target {
                        channel: installation.channel,
                        handle: installation.push_channel.clone(),
                        id: id.to_string(),
                        template: Some((
                            template.body.clone(),
                            template
                                .headers
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        )),
                    });
                }
            }
        }
    }
}

fn registration_target(
    registration: &Registration,
    format: Format,
    expression: Option<&Expression>,
    out: &mut Vec<Target>,
) {
    let wanted = match format {
        Format::Native(channel) => {
            registration.template.is_none() && registration.channel == channel
        }
        Format::Template => registration.template.is_some(),
    };
    if wanted && expression.is_none_or(|e| e.matches(&|t| registration.has_tag(t))) {
        out.push(Target {
            channel: registration.channel,
            handle: registration.handle.clone(),
            id: registration.id.clone(),
            template: registration
                .template
                .as_ref()
                .map(|t| (t.body.clone(), t.headers.clone())),
        });
    }
}

fn index(inner: &mut Inner, key: &Key, tags: &[String], channel: Channel, handle: &str) {
    for tag in tags {
        inner
            .by_tag
            .entry(tag.clone())
            .or_default()
            .insert(key.clone());
    }
    inner
        .by_handle
        .entry((channel, channel.handle_key(handle)))
        .or_default()
        .insert(key.clone());
}

fn unindex(inner: &mut Inner, key: &Key, tags: &[String], channel: Channel, handle: &str) {
    for tag in tags {
        if let Some(set) = inner.by_tag.get_mut(tag) {
            set.remove(key);
            if set.is_empty() {
                inner.by_tag.remove(tag);
            }
        }
    }
    let handle_key = (channel, channel.handle_key(handle));
    if let Some(set) = inner.by_handle.get_mut(&handle_key) {
        set.remove(key);
        if set.is_empty() {
            inner.by_handle.remove(&handle_key);
        }
    }
}

fn index_installation(inner: &mut Inner, id: &Arc<str>, i: &Installation) {
    let key = Key::Installation(id.clone());
    index(inner, &key, &i.index_tags(), i.channel, &i.push_channel);
}

fn unindex_installation(inner: &mut Inner, id: &Arc<str>, i: &Installation) {
    let key = Key::Installation(id.clone());
    unindex(inner, &key, &i.index_tags(), i.channel, &i.push_channel);
}

fn index_registration(inner: &mut Inner, id: &Arc<str>, r: &Registration) {
    let key = Key::Registration(id.clone());
    index(inner, &key, &r.tags, r.channel, &r.handle);
}

fn unindex_registration(inner: &mut Inner, id: &Arc<str>, r: &Registration) {
    let key = Key::Registration(id.clone());
    unindex(inner, &key, &r.tags, r.channel, &r.handle);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn installation(id: &str, platform: &str, channel: &str, tags: &[&str]) -> Installation {
        let body = serde_json::json!({
            "installationId": id, "platform": platform, "pushChannel": channel, "tags": tags,
            "templates": {"t": {"body": "{\"aps\":{\"alert\":\"$(m)\"}}", "tags": ["tpl"]}},
        });
        Installation::from_json(id, body.to_string().as_bytes()).unwrap()
    }

    fn description(channel: Channel, handle: &str, tags: &[&str]) -> Description {
        Description {
            channel,
            handle: handle.to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            template: None,
            push_variables: None,
        }
    }

    #[test]
    fn sends_resolve_by_tag_platform_and_builtin() {
        let r = Registry::new(10);
        r.put_installation(installation("i1", "apns", "AA", &["user:a"]))
            .unwrap();
        r.put_installation(installation("i2", "fcmv1", "f2", &["user:a", "x"]))
            .unwrap();
        r.create_registration(
            "r1",
            description(Channel::Wns, "https://w/?token=1", &["user:a"]),
        )
        .unwrap();
        let e = Expression::parse("user:a").unwrap();
        let apple = r.resolve(Format::Native(Channel::Apns), Some(&e), 100);
        assert_eq!(apple.len(), 1);
        assert_eq!(apple[0].handle, "AA");
        assert_eq!(
            r.resolve(Format::Native(Channel::Wns), Some(&e), 100).len(),
            1
        );
        let not_x = Expression::parse("user:a && !x").unwrap();
        assert!(r
            .resolve(Format::Native(Channel::FcmV1), Some(&not_x), 100)
            .is_empty());
        let by_id = Expression::parse("$InstallationId:{i2}").unwrap();
        assert_eq!(
            r.resolve(Format::Native(Channel::FcmV1), Some(&by_id), 100)
                .len(),
            1
        );
        // Template sends reach installation templates, by their own tags too.
        let tpl = Expression::parse("tpl").unwrap();
        assert_eq!(r.resolve(Format::Template, Some(&tpl), 100).len(), 2);
        // A broadcast and a negation scan everything.
        assert_eq!(r.resolve(Format::Native(Channel::Apns), None, 100).len(), 1);
        let neg = Expression::parse("!x").unwrap();
        assert_eq!(
            r.resolve(Format::Native(Channel::Apns), Some(&neg), 100)
                .len(),
            1
        );
    }

    #[test]
    fn the_store_is_bounded() {
        let r = Registry::new(2);
        r.put_installation(installation("i1", "apns", "AA", &[]))
            .unwrap();
        r.create_registration("r1", description(Channel::Gcm, "g", &[]))
            .unwrap();
        let e = r
            .put_installation(installation("i2", "apns", "BB", &[]))
            .unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        // Overwriting an existing one is no new device.
        r.put_installation(installation("i1", "apns", "CC", &[]))
            .unwrap();
    }

    #[test]
    fn etags_and_if_match() {
        let r = Registry::new(10);
        let d = description(Channel::FcmV1, "f", &["a"]);
        assert_eq!(r.create_registration("r1", d.clone()).unwrap().etag, 1);
        assert_eq!(
            r.upsert_registration("r1", d.clone(), Some(IfMatch::Etag(1)))
                .unwrap()
                .etag,
            2
        );
        let stale = r
            .upsert_registration("r1", d.clone(), Some(IfMatch::Etag(1)))
            .unwrap_err();
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        let missing = r
            .upsert_registration("r9", d, Some(IfMatch::Any))
            .unwrap_err();
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(r.delete_registration("r1", &IfMatch::Etag(1)).is_err());
        r.delete_registration("r1", &IfMatch::Any).unwrap();
        assert!(r.registration("r1").is_none());
    }

    #[test]
    fn listings_page_and_find_by_channel_case_insensitively_for_apple() {
        let r = Registry::new(100);
        for n in 0..5 {
            r.create_registration(&format!("r{n}"), description(Channel::Apns, "abcd", &["t"]))
                .unwrap();
        }
        let (page, next) = r.list(&Listing::Tag("t".into()), None, 2);
        assert_eq!(page.len(), 2);
        let (rest, end) = r.list(&Listing::Tag("t".into()), next.as_deref(), 10);
        assert_eq!(rest.len(), 3);
        assert!(end.is_none());
        let (same, _) = r.list(&Listing::Handle(Channel::Apns, "ABCD".into()), None, 10);
        assert_eq!(same.len(), 5);
        assert_eq!(r.list(&Listing::All, None, 100).0.len(), 5);
    }

    #[test]
    fn an_expired_handle_drops_registrations_and_expires_installations() {
        let r = Registry::new(10);
        r.put_installation(installation("i1", "apns", "AA", &["t"]))
            .unwrap();
        r.create_registration("r1", description(Channel::Apns, "aa", &["t"]))
            .unwrap();
        assert_eq!(r.expire_handle(Channel::Apns, "aa"), 2);
        assert!(r.registration("r1").is_none());
        assert!(r.installation("i1").unwrap().expired);
        let e = Expression::parse("t").unwrap();
        assert!(r
            .resolve(Format::Native(Channel::Apns), Some(&e), 10)
            .is_empty());
    }
}
