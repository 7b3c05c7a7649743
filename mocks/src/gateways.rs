//! [`Gateways`]: the three mock gateways running together on loopback, and
//! the API the harness drives them with (URLs, credentials, devices,
//! inboxes, captures).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use hyper::service::service_fn;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::capture::{Capture, CaptureStats, Counters};
use crate::config::GatewayConfig;
use crate::credentials::{BackendEnv, Credentials, Endpoints};
use crate::devices::{DeviceHandle, Inbox};
use crate::error::MockError;
use crate::exchange::{self, ConnectionState};
use crate::fault::{ActiveFault, FaultError, FaultRule};
use crate::hosts::{self, Route};
use crate::hub::Hub;
use crate::platform::Platform;
use crate::server::{self, ConnInfo, Protocol, Security};
use crate::state::{BackendUrls, Shared, Urls};
use crate::tls::{BadCertificate, ServerNames, Tls, TlsSettings};
use crate::{apns, fcm, wns};

/// A request's answer on the impersonation listener, from a gateway or
/// the hub.
type RoutedFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<crate::reply::Response, exchange::Dropped>> + Send>,
>;

/// Mock APNs, FCM and WNS, each on its own port (of `127.0.0.1` unless
/// [`GatewayConfig::host`] says otherwise), and in impersonation mode one
/// more listener for the services' real host names. They stop when
/// [`Gateways::shutdown`] is awaited or when the value is dropped.
pub struct Gateways {
    shared: Arc<Shared>,
    addrs: [SocketAddr; 3],
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// The TLS material, in TLS mode: the CA clients must trust, and the
    /// certificates of [`Gateways::serve_with_bad_certificate`].
    tls: Option<Tls>,
    /// The mock Notification Hub, on a port of its own.
    hub: Hub,
}

impl std::fmt::Debug for Gateways {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateways")
            .field("apns", &self.addrs[0])
            .field("fcm", &self.addrs[1])
            .field("wns", &self.addrs[2])
            .finish()
    }
}

impl Gateways {
    /// Generates fresh credentials, binds the three gateways on
    /// `127.0.0.1:0` and starts serving.
    pub async fn start(config: GatewayConfig) -> Result<Gateways, MockError> {
        let mut listeners = Vec::with_capacity(3);
        let mut addrs = Vec::with_capacity(3);
        for platform in Platform::ALL {
            let bind = |source| MockError::Bind { platform, source };
            let port = config.ports[platform.index()];
            let listener = TcpListener::bind((config.host, port)).await.map_err(bind)?;
            addrs.push(listener.local_addr().map_err(bind)?);
            listeners.push(listener);
        }
        let addrs: [SocketAddr; 3] = [addrs[0], addrs[1], addrs[2]];
        let router = match config.impersonation {
            None => None,
            Some(impersonation) => {
                let addr = SocketAddr::new(config.host, impersonation.port);
                let bind = |source| MockError::BindImpersonation { addr, source };
                let listener = TcpListener::bind(addr).await.map_err(bind)?;
                let local = listener.local_addr().map_err(bind)?;
                Some((listener, local))
            }
        };
        // The address clients are told: the bound one, or loopback for
        // "every interface".
        let advertised = advertised(config.host);
        // Impersonation needs TLS (clients call the real hosts by https).
        let tls_settings = config
            .tls
            .clone()
            .or_else(|| config.impersonation.map(|_| TlsSettings::default()));
        let hub_listener = TcpListener::bind((config.host, 0))
            .await
            .map_err(|source| MockError::Bind {
                platform: Platform::Apns,
                source,
            })?;
        // A P-256 CA and certificate take well under a millisecond (plus
        // two small files with a CA folder): fine on this thread.
        let tls = match &tls_settings {
            Some(settings) => {
                let names = ServerNames {
                    dns: if config.impersonation.is_some() {
                        hosts::ROUTES
                            .iter()
                            .map(|(host, _)| host.certificate_name())
                            .collect()
                    } else {
                        config.advertise.iter().cloned().collect()
                    },
                    ips: vec![advertised],
                };
                Some(
                    Tls::new(settings, &names).map_err(|e| MockError::KeyGeneration {
                        what: "TLS CA and server certificate",
                        message: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let origin = |addr: SocketAddr| match &config.advertise {
            Some(name) => format!("{scheme}://{name}:{}", addr.port()),
            None => format!("{scheme}://{}", SocketAddr::new(advertised, addr.port())),
        };
        let wns: Arc<str> = origin(addrs[2]).into();
        let urls = Urls {
            apns: origin(addrs[0]),
            fcm: origin(addrs[1]),
            fcm_token: format!("{}{}", origin(addrs[1]), fcm::TOKEN_PATH),
            wns_token: format!("{wns}{}", wns::TOKEN_PATH),
            wns_channels: if router.is_some() {
                format!("https://{}", hosts::WNS_CHANNEL_HOST).into()
            } else {
                wns.clone()
            },
            backend: if router.is_some() {
                BackendUrls::impersonated(config.apns_environment)
            } else {
                BackendUrls {
                    apns: origin(addrs[0]),
                    fcm: origin(addrs[1]),
                    fcm_token: format!("{}{}", origin(addrs[1]), fcm::TOKEN_PATH),
                    wns_token: format!("{wns}{}", wns::TOKEN_PATH),
                }
            },
            wns,
            impersonation: router.as_ref().map(|(_, addr)| *addr),
        };
        // RSA key generation takes a moment: keep it off the async workers.
        let credentials = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || Credentials::generate(&config))
                .await
                .map_err(|e| MockError::KeyGeneration {
                    what: "gateway credentials",
                    message: e.to_string(),
                })??
        };
        let shared = Arc::new(Shared::new(config, credentials, urls)?);
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        for (platform, listener) in Platform::ALL.into_iter().zip(listeners) {
            let protocol = protocol_of(platform);
            let security = match &tls {
                Some(tls) => Security::Tls(protocol, tls.server_config(protocol)),
                None => Security::Plain(protocol),
            };
            spawn_gateway(
                &tasks,
                platform,
                listener,
                security,
                shared.clone(),
                shutdown.clone(),
            );
        }
        let hub = Hub::spawn(
            hub_listener,
            shared.clone(),
            tls.as_ref().map(|tls| tls.server_config(Protocol::Auto)),
            advertised,
            router.is_some(),
            &tasks,
            shutdown.clone(),
        )?;
        if let (Some((listener, _)), Some(tls)) = (router, &tls) {
            let shared = shared.clone();
            let hub_state = hub.state();
            // Requests are routed by host, the connection's server name
            // deciding when a request names none (and, for an APNs host,
            // the environment answered as).
            let make_service = move |info: ConnInfo| {
                let route = info.server_name.as_deref().and_then(hosts::route);
                let environment = match route {
                    Some(Route::Apns(environment)) => Some(environment),
                    _ => None,
                };
                let conn = Arc::new(ConnectionState {
                    apns: apns::Connection::new(info.stream_limit, environment),
                });
                let shared = shared.clone();
                let hub = hub_state.clone();
                service_fn(move |request| {
                    let answer: RoutedFuture =
                        if exchange::request_route(route, &request) == Some(Route::Hub) {
                            let hub = hub.clone();
                            Box::pin(async move {
                                match crate::hub::serve(hub, request).await {
                                    Ok(response) => Ok(response),
                                    Err(never) => match never {},
                                }
                            })
                        } else {
                            Box::pin(exchange::serve_routed(
                                route,
                                shared.clone(),
                                conn.clone(),
                                request,
                            ))
                        };
                    answer
                })
            };
            tasks.spawn(server::run(
                listener,
                router_security(tls),
                make_service,
                shutdown.clone(),
            ));
        }
        tasks.close();
        info!(
            hub = %hub.url(),
            apns = %shared.urls.apns,
            fcm = %shared.urls.fcm,
            wns = %shared.urls.wns,
            impersonation = ?shared.urls.impersonation,
            "mock gateways listening"
        );
        Ok(Gateways {
            shared,
            addrs,
            shutdown,
            tasks,
            tls,
            hub,
        })
    }

    /// The address of the listener that answers for the services' real
    /// hosts, in impersonation mode ([`GatewayConfig::impersonation`]).
    pub fn impersonation_addr(&self) -> Option<SocketAddr> {
        self.shared.urls.impersonation
    }

    /// Hosts-file lines (`/etc/hosts`, `docker run --add-host`) that send
    /// the services' host names to the impersonation listener's address, in
    /// impersonation mode. Clients reach it on port 443.
    pub fn hosts_file(&self) -> Option<String> {
        let addr = self.shared.urls.impersonation?;
        Some(hosts::hosts_file(&advertised(addr.ip()).to_string()))
    }

    /// The host names the impersonation listener answers for, as a hosts
    /// file needs them (every exact host, and the WNS channel host).
    pub fn impersonated_hosts(&self) -> Vec<&'static str> {
        hosts::hosts_file_names()
    }

    /// The PEM of the CA that signed the gateways' certificate, in TLS mode
    /// (also written as `ca.pem` by [`Gateways::write_credentials`]).
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(Tls::ca_pem)
    }

    /// Serves `platform`'s gateway on a fresh port of its own, presenting
    /// a certificate no careful client accepts (in TLS mode only:
    /// [`MockError::TlsOff`] otherwise), until the returned listener is
    /// dropped. What reaches it is served, delivered and captured like any
    /// request to the gateway, so a client that accepts the certificate is
    /// seen doing so. A WNS device handle moved to its origin
    /// ([`BadCertificateListener::url`]) is how a backend is led there.
    pub async fn serve_with_bad_certificate(
        &self,
        platform: Platform,
        which: BadCertificate,
    ) -> Result<BadCertificateListener, MockError> {
        let tls = self.tls.as_ref().ok_or(MockError::TlsOff)?;
        let bind = |source| MockError::Bind { platform, source };
        let listener = TcpListener::bind((self.shared.config.host, 0))
            .await
            .map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let protocol = protocol_of(platform);
        let stop = self.shutdown.child_token();
        spawn_gateway(
            &self.tasks,
            platform,
            listener,
            Security::Tls(protocol, tls.bad_server_config(which, protocol)),
            self.shared.clone(),
            stop.clone(),
        );
        let url = format!(
            "https://{}",
            SocketAddr::new(advertised(self.shared.config.host), addr.port())
        );
        info!(%platform, ?which, %url, "serving a gateway with a bad certificate");
        Ok(BadCertificateListener {
            url,
            which,
            _stop: stop.drop_guard(),
        })
    }

    /// Origin of mock APNs (`http://127.0.0.1:PORT`, `https://` in TLS
    /// mode).
    pub fn apns_url(&self) -> String {
        self.shared.urls.apns.clone()
    }

    /// Origin of mock FCM; sends go to
    /// `{fcm_url}/v1/projects/{project}/messages:send`.
    pub fn fcm_url(&self) -> String {
        self.shared.urls.fcm.clone()
    }

    /// The service account's `token_uri`.
    pub fn fcm_token_url(&self) -> String {
        self.shared.urls.fcm_token.clone()
    }

    /// Origin of mock WNS; channel URIs are `{wns_url}/?token=<opaque>`.
    pub fn wns_url(&self) -> String {
        self.shared.urls.wns.to_string()
    }

    /// The WNS OAuth endpoint, `{wns_url}/accesstoken.srf`.
    pub fn wns_token_url(&self) -> String {
        self.shared.urls.wns_token.clone()
    }

    /// The Azure AD token endpoint for WNS (Windows App SDK style),
    /// `{wns_url}/{tenant}/oauth2/v2.0/token`. Any non-empty `tenant`
    /// without `/` is served; client id and secret are the same as for
    /// [`Gateways::wns_token_url`].
    pub fn wns_aad_token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}{}", self.shared.urls.wns, wns::AAD_TOKEN_SUFFIX)
    }

    /// The socket address of a gateway.
    pub fn addr(&self, platform: Platform) -> SocketAddr {
        self.addrs[platform.index()]
    }

    /// The configuration the gateways run with.
    pub fn config(&self) -> &GatewayConfig {
        &self.shared.config
    }

    /// The WNS client secret (also in [`Gateways::write_credentials`]).
    pub fn wns_client_secret(&self) -> &str {
        &self.shared.credentials.wns_client_secret
    }

    /// Writes the APNs key (`AuthKey_<kid>.p8`), the FCM service-account
    /// JSON (both readable by their owner only) and, in TLS mode, the CA
    /// (`ca.pem`) into `dir` and returns the backend-contract variables
    /// (every `PUSHPROOF_*` except `PUSHPROOF_LISTEN`; `PUSHPROOF_CA_FILE`
    /// in TLS mode only), and `PUSHPROOF_CONTROL_URL`, the control API's
    /// HTTP/1.1 origin. In impersonation mode the URLs are the services'
    /// own (`https://fcm.googleapis.com`, …), which the hosts entries send
    /// to the mocks. And the hub's `PUSHPROOF_NH_CONNECTION_STRING` and
    /// `PUSHPROOF_NH_HUB`.
    pub fn write_credentials(&self, dir: &Path) -> Result<BackendEnv, MockError> {
        let urls = &self.shared.urls;
        let endpoints = Endpoints {
            apns_url: &urls.backend.apns,
            fcm_url: &urls.backend.fcm,
            fcm_token_url: &urls.backend.fcm_token,
            wns_token_url: &urls.backend.wns_token,
            control_url: &urls.fcm,
            ca_pem: self.ca_pem(),
        };
        let mut env = self
            .shared
            .credentials
            .write(&self.shared.config, &endpoints, dir)?;
        env.vars.extend(self.hub.env_vars());
        Ok(env)
    }

    /// The mock Notification Hub that fans out to these gateways.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Issues a fresh device handle on `platform`, with an empty inbox.
    pub fn register_device(&self, platform: Platform) -> DeviceHandle {
        self.shared.register_device(platform)
    }

    /// Issues a fresh device handle on `platform` whose accepted pushes go
    /// to `feed` tagged with `tag`, rather than to an inbox of its own (see
    /// [`Feed`](crate::Feed)): for load runs with many devices.
    pub fn register_feed_device(
        &self,
        platform: Platform,
        feed: &crate::devices::feed::Feed,
        tag: u64,
    ) -> DeviceHandle {
        self.shared.register_feed_device(platform, feed, tag)
    }

    /// Forgets a device: later pushes to it are rejected as unknown.
    pub fn unregister_device(&self, device: &DeviceHandle) -> bool {
        self.shared.unregister_device(device)
    }

    /// The inbox of a device this gateway issued.
    pub fn inbox(&self, device: &DeviceHandle) -> Option<Inbox> {
        self.shared.inbox(device)
    }

    /// A snapshot of the captures kept, oldest first.
    pub fn captures(&self) -> Vec<Capture> {
        self.shared.captures.snapshot()
    }

    /// The captures kept whose `seq` is at least `seq`, oldest first: for
    /// scanning incrementally during a long run.
    pub fn captures_since(&self, seq: u64) -> Vec<Capture> {
        self.shared.captures.since(seq)
    }

    /// Counters of the capture store.
    pub fn capture_stats(&self) -> CaptureStats {
        self.shared.captures.stats()
    }

    /// Drops the captures kept (counters are kept).
    pub fn clear_captures(&self) {
        self.shared.captures.clear();
    }

    /// Verdict counters per gateway, and the capture store's.
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// Waits until every capture so far is written to
    /// [`GatewayConfig::capture_file`] (returns at once without one).
    pub async fn flush_capture_file(&self) {
        self.shared.captures.flush_file().await;
    }

    /// Adds a fault rule (see [`FaultRule`] for how rules combine); returns
    /// its id.
    pub fn set_fault(&self, rule: FaultRule) -> Result<u64, FaultError> {
        let ids = self.shared.faults.add([rule])?;
        Ok(ids[0])
    }

    /// Adds several rules, all or none (e.g. a [`crate::FaultPlan`]'s).
    pub fn set_faults(
        &self,
        rules: impl IntoIterator<Item = FaultRule>,
    ) -> Result<Vec<u64>, FaultError> {
        self.shared.faults.add(rules)
    }

    /// Removes one rule; whether it was set.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.shared.faults.remove(id)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// The rules set, in the order set, with what each has done.
    pub fn faults(&self) -> Vec<ActiveFault> {
        self.shared.faults.list()
    }

    /// Clears captures (zeroing the counters; `seq` goes on), every inbox
    /// and every fault rule. Devices and access tokens stay valid.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Makes every access token issued so far by a token endpoint expired
    /// (FCM or WNS; APNs provider tokens are minted by the client), to test
    /// that a backend refreshes its token.
    pub fn expire_access_tokens(&self, platform: Platform) {
        match platform {
            Platform::Fcm => self.shared.fcm_tokens.expire_all(),
            Platform::Wns => self.shared.wns_tokens.expire_all(),
            Platform::Apns => {}
        }
    }

    /// Stops accepting, lets open connections drain briefly, and waits for
    /// the servers to stop.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
        self.shared.captures.flush_file().await;
    }
}

/// A gateway on a port of its own with a bad certificate
/// ([`Gateways::serve_with_bad_certificate`]); it stops when dropped.
#[derive(Debug)]
pub struct BadCertificateListener {
    url: String,
    which: BadCertificate,
    _stop: tokio_util::sync::DropGuard,
}

impl BadCertificateListener {
    /// Its origin, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The certificate it presents.
    pub fn certificate(&self) -> BadCertificate {
        self.which
    }
}

/// The HTTP versions a platform's gateway speaks.
fn protocol_of(platform: Platform) -> Protocol {
    match platform {
        Platform::Apns => Protocol::Http2,
        Platform::Fcm | Platform::Wns => Protocol::Auto,
    }
}

/// Serves `platform`'s gateway on `listener` until `shutdown`.
fn spawn_gateway(
    tasks: &TaskTracker,
    platform: Platform,
    listener: TcpListener,
    security: Security,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let make_service = move |info: ConnInfo| {
        let shared = shared.clone();
        let conn = Arc::new(ConnectionState {
            apns: apns::Connection::new(info.stream_limit, None),
        });
        service_fn(move |request| exchange::serve(platform, shared.clone(), conn.clone(), request))
    };
    tasks.spawn(server::run(listener, security, make_service, shutdown));
}

/// The address clients are told to use for one the gateways bind: itself,
/// or loopback for an unspecified one (every interface).
fn advertised(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

/// The impersonation listener's TLS: APNs hosts get APNs's HTTP/2-only
/// connections (with its stream limits), every other name (or none) a
/// connection that speaks HTTP/1.1 and HTTP/2 and routes by host.
fn router_security(tls: &Tls) -> Security {
    let http2 = tls.server_config(Protocol::Http2);
    let auto = tls.server_config(Protocol::Auto);
    Security::ByServerName(Arc::new(move |name: Option<&str>| {
        match name.and_then(hosts::route) {
            Some(Route::Apns(_)) => (Protocol::Http2, http2.clone()),
            _ => (Protocol::Auto, auto.clone()),
        }
    }))
}

impl Drop for Gateways {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
