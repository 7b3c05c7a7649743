//! Host impersonation: the real services' host names, and which gateway
//! serves each. With it on ([`crate::GatewayConfig::impersonation`]), the
//! TLS certificate also names these hosts and one more listener serves
//! them all, routing each connection by its TLS server name (SNI) and each
//! request by its `:authority` or `Host`, so that a backend whose SDK
//! pins the real host (firebase-admin's `fcm.googleapis.com`, APNs
//! libraries' `api.push.apple.com`) reaches the mocks through a hosts
//! entry and the CA alone.
//!
//! The mock Notification Hub's namespace (`*.servicebus.windows.net`) is
//! one more [`Route`] and one more row of [`ROUTES`]: the certificate,
//! the listener and the hosts lines follow.

use crate::config::ApnsEnvironment;
use crate::platform::Platform;

/// What serves a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Mock APNs, answering as the host's environment.
    Apns(ApnsEnvironment),
    /// Mock FCM, which also serves Google's token endpoint (`/token`).
    Fcm,
    /// Mock WNS, which also serves Live's and Azure AD's token endpoints.
    Wns,
    /// The mock Notification Hub (its namespace host).
    Hub,
}

impl Route {
    /// The gateway that serves it; `None` for the hub.
    pub(crate) fn platform(self) -> Option<Platform> {
        match self {
            Route::Apns(_) => Some(Platform::Apns),
            Route::Fcm => Some(Platform::Fcm),
            Route::Wns => Some(Platform::Wns),
            Route::Hub => None,
        }
    }
}

/// A host name, or every name under a domain (`*.notify.windows.com`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    Exact(&'static str),
    /// Any name ending in `.{domain}`, one label or more deep.
    Under(&'static str),
}

impl Host {
    fn matches(self, name: &str) -> bool {
        match self {
            Host::Exact(host) => name.eq_ignore_ascii_case(host),
            Host::Under(domain) => {
                name.len() > domain.len() + 1
                    && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
                    && name[name.len() - domain.len()..].eq_ignore_ascii_case(domain)
            }
        }
    }

    /// The certificate's name for it (a wildcard for a domain).
    pub(crate) fn certificate_name(self) -> String {
        match self {
            Host::Exact(host) => host.to_owned(),
            Host::Under(domain) => format!("*.{domain}"),
        }
    }
}

/// The host a WNS channel URI names in impersonation mode: a name under
/// `notify.windows.com`, as real channels are (`*.notify.windows.com`),
/// so that a backend that checks a channel's host accepts it.
pub(crate) const WNS_CHANNEL_HOST: &str = "pushproof.notify.windows.com";

/// The mock hub's namespace host in impersonation mode, as a real
/// connection string names a namespace (`{namespace}.servicebus.windows.net`).
pub(crate) const HUB_HOST: &str = "pushproof.servicebus.windows.net";

/// Every impersonated host and what serves it.
pub(crate) const ROUTES: &[(Host, Route)] = &[
    (
        Host::Exact("api.push.apple.com"),
        Route::Apns(ApnsEnvironment::Production),
    ),
    (
        Host::Exact("api.sandbox.push.apple.com"),
        Route::Apns(ApnsEnvironment::Development),
    ),
    (
        Host::Exact("api.development.push.apple.com"),
        Route::Apns(ApnsEnvironment::Development),
    ),
    (Host::Exact("fcm.googleapis.com"), Route::Fcm),
    (Host::Exact("oauth2.googleapis.com"), Route::Fcm),
    (Host::Exact("login.live.com"), Route::Wns),
    (Host::Exact("login.microsoftonline.com"), Route::Wns),
    (Host::Under("notify.windows.com"), Route::Wns),
    (Host::Under("servicebus.windows.net"), Route::Hub),
];

/// What serves `name` (a TLS server name, or a request's host without its
/// port), if it is one of the services' hosts.
pub(crate) fn route(name: &str) -> Option<Route> {
    let name = name.strip_suffix('.').unwrap_or(name);
    ROUTES
        .iter()
        .find(|(host, _)| host.matches(name))
        .map(|(_, route)| *route)
}

/// The host of an `authority` (`host[:port]`, `[v6]:port`), without the
/// port.
pub(crate) fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// The names a hosts file needs, one per line group: every exact host, and
/// for a domain the name the mocks issue under it.
pub(crate) fn hosts_file_names() -> Vec<&'static str> {
    ROUTES
        .iter()
        .map(|(host, route)| match (host, route) {
            (Host::Exact(name), _) => name,
            (Host::Under(_), Route::Hub) => &HUB_HOST,
            (Host::Under(_), _) => &WNS_CHANNEL_HOST,
        })
        .copied()
        .collect()
}

/// Hosts-file lines that send the services' names to `address`.
pub(crate) fn hosts_file(address: &str) -> String {
    let mut text =
        String::from("# pushproof mocks: the push services' hosts, served by the mock gateways\n");
    for name in hosts_file_names() {
        text.push_str(address);
        text.push(' ');
        text.push_str(name);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_route_to_their_gateway_case_insensitively() {
        assert_eq!(route("fcm.googleapis.com"), Some(Route::Fcm));
        assert_eq!(route("OAuth2.GoogleAPIs.com."), Some(Route::Fcm));
        assert_eq!(
            route("api.sandbox.push.apple.com"),
            Some(Route::Apns(ApnsEnvironment::Development))
        );
        assert_eq!(route("db5p.notify.windows.com"), Some(Route::Wns));
        assert_eq!(route("wns2-by3p.notify.windows.com"), Some(Route::Wns));
        assert_eq!(route("notify.windows.com"), None);
        assert_eq!(route("evilnotify.windows.com"), None);
        assert_eq!(route("googleapis.com"), None);
        assert_eq!(route("contoso.servicebus.windows.net"), Some(Route::Hub));
        assert_eq!(route("servicebus.windows.net"), None);
        assert_eq!(route("localhost"), None);
    }

    #[test]
    fn authorities_lose_their_port() {
        assert_eq!(host_of("fcm.googleapis.com:443"), "fcm.googleapis.com");
        assert_eq!(host_of("fcm.googleapis.com"), "fcm.googleapis.com");
        assert_eq!(host_of("[::1]:8443"), "::1");
    }

    #[test]
    fn the_hosts_file_names_every_exact_host_and_the_channel_host() {
        let text = hosts_file("10.0.0.1");
        assert!(text.contains("10.0.0.1 api.push.apple.com\n"), "{text}");
        assert!(
            text.contains("10.0.0.1 pushproof.notify.windows.com\n"),
            "{text}"
        );
        assert!(
            text.contains("10.0.0.1 pushproof.servicebus.windows.net\n"),
            "{text}"
        );
        assert!(!text.contains('*'), "{text}");
        for name in hosts_file_names() {
            assert!(route(name).is_some(), "{name}");
        }
    }
}
