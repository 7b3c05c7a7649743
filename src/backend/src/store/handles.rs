//! Lookups of the device handles behind registrations, for hub mode: the
//! hub keeps one installation per handle, so the backend must know which
//! handle a registration held before it changes or deletes it, and which
//! handles a session registered before that session ends.

use rusqlite::OptionalExtension;

use super::{Store, StoreError};

impl Store {
    /// The handle of `owner`'s registration `id`; `Ok(None)` when there is
    /// no such registration of theirs, `Ok(Some(None))` when it has no
    /// handle yet.
    pub(crate) async fn registration_handle(
        &self,
        id: String,
        owner: String,
    ) -> Result<Option<Option<String>>, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT handle FROM registrations WHERE id = ?1 AND owner = ?2")?
                .query_row([id, owner], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// The handles of the registrations made with a session.
    pub(crate) async fn session_handles(
        &self,
        token_hash: String,
    ) -> Result<Vec<String>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT handle FROM registrations
                 WHERE session_hash = ?1 AND handle IS NOT NULL",
            )?;
            let rows = stmt.query_map([token_hash], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::push::Platform;
    use crate::store::RegistrationUpdate;

    #[tokio::test]
    async fn a_registrations_handle_and_a_sessions_handles() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db")).unwrap();
        let id = store
            .create_registration("r1".into(), "alice".into(), None, "s1".into(), 0)
            .await
            .unwrap();
        assert_eq!(
            store
                .registration_handle(id.clone(), "alice".into())
                .await
                .unwrap(),
            Some(None)
        );
        let update = store
            .update_registration(
                id.clone(),
                "alice".into(),
                Platform::Fcm,
                "tok-1".into(),
                "[]".into(),
                "s1".into(),
            )
            .await
            .unwrap();
        assert_eq!(update, RegistrationUpdate::Updated);
        assert_eq!(
            store
                .registration_handle(id.clone(), "alice".into())
                .await
                .unwrap(),
            Some(Some("tok-1".into()))
        );
        assert_eq!(
            store.registration_handle(id, "bob".into()).await.unwrap(),
            None,
            "not bob's"
        );
        assert_eq!(
            store.session_handles("s1".into()).await.unwrap(),
            vec!["tok-1".to_owned()]
        );
        assert!(store.session_handles("s2".into()).await.unwrap().is_empty());
    }
}
