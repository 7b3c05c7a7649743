//! Timestamps in the forms the hub's bodies carry: RFC 3339 UTC, as the
//! service writes `lastUpdate`, Atom `<updated>` and error `TimeStamp`s.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The never-expiring `expirationTime` the service reports by default.
pub(crate) const NEVER: &str = "9999-12-31T23:59:59.9999999Z";

/// Now, in RFC 3339 UTC.
pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}
