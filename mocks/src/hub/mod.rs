//! A mock Azure Notification Hub in front of the mock gateways, accepted
//! by the official SDKs when a connection string points at it. It speaks
//! the hub's REST API (api-version 2020-06, as `@azure/notification-hubs`
//! 2.x calls it) over HTTP/1.1 and HTTP/2, TLS with the run's CA or
//! plaintext like the gateways: SAS authentication (`sas`) against the
//! namespace's rules (`namespace`), installations (`installation`),
//! Atom-XML registrations (`registration`), a bounded device store with
//! tag and handle indexes (`registry`), tag expressions (`tags`), sends
//! with templates and `$batch` (`send`, `template`, `multipart`), and the
//! fan-out to the gateways (`fanout`), errors in the service's XML
//! (`error`). Every request to the hub is captured with
//! [`crate::CaptureKind::Hub`], so the leak scanner sees what a backend
//! handed the hub as well as what the hub handed the gateways.

mod channel;
mod error;
mod fanout;
mod installation;
mod multipart;
mod namespace;
mod registration;
mod registry;
mod routes;
mod sas;
mod send;
mod tags;
mod template;
mod time;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::capture::{CaptureKind, DeviceRef, Stored};
pub use crate::config::HubConfig;
use crate::platform::Platform;
use crate::reply::{header_value, Response};
use crate::server::{self, ConnInfo, Protocol, Security};
use crate::state::Shared;
use crate::{control, hosts, MockError};

use fanout::Forwarder;
use namespace::{Namespace, FULL_RULE, LISTEN_RULE};
use registry::Registry;
use sas::SasVerifier;
use send::Notifications;

/// The hub's state, shared by its connections.
pub(crate) struct HubState {
    shared: Arc<Shared>,
    namespace: Namespace,
    sas: SasVerifier,
    registry: Registry,
    forwarder: Arc<Forwarder>,
    notifications: Notifications,
    /// `127.0.0.1:PORT`, for requests that name no host.
    host: String,
}

/// The running mock hub: its address, names and connection strings.
pub struct Hub {
    state: Arc<HubState>,
    addr: SocketAddr,
    scheme: &'static str,
    /// Host impersonation: the connection string names the namespace
    /// host, which the impersonation listener serves.
    impersonated: bool,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("addr", &self.addr)
            .field("name", &self.state.namespace.hub_name)
            .finish()
    }
}

impl Hub {
    /// Starts serving the hub on `listener`, beside the gateways whose
    /// state it fans out through.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spawn(
        listener: TcpListener,
        shared: Arc<Shared>,
        tls: Option<Arc<rustls::ServerConfig>>,
        advertised: IpAddr,
        impersonated: bool,
        tasks: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<Hub, MockError> {
        let bound = listener.local_addr().map_err(|source| MockError::Bind {
            platform: Platform::Apns,
            source,
        })?;
        let addr = SocketAddr::new(advertised, bound.port());
        let config = shared.config.hub.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(HubState {
            forwarder: Arc::new(Forwarder::new(shared.clone())),
            shared,
            namespace: Namespace::generate(&config.name),
            sas: SasVerifier::default(),
            registry: Registry::new(config.device_capacity),
            notifications: Notifications::new(config.notification_capacity),
            host: addr.to_string(),
        });
        let serving = state.clone();
        let make_service = move |_info: ConnInfo| {
            let state = serving.clone();
            service_fn(move |request| serve(state.clone(), request))
        };
        let security = match tls {
            Some(config) => Security::Tls(Protocol::Auto, config),
            None => Security::Plain(Protocol::Auto),
        };
        tasks.spawn(server::run(listener, security, make_service, shutdown));
        Ok(Hub {
            state,
            addr,
            scheme,
            impersonated,
        })
    }

    /// The state the impersonation listener hands the namespace host's
    /// requests to.
    pub(crate) fn state(&self) -> Arc<HubState> {
        self.state.clone()
    }

    /// The socket address the hub listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Origin of the hub (`https://127.0.0.1:PORT`, `http://` in
    /// plaintext mode; `https://pushproof.servicebus.windows.net` in
    /// impersonation mode): what the SDKs make of the endpoint.
    pub fn url(&self) -> String {
        if self.impersonated {
            return format!("https://{}", hosts::HUB_HOST);
        }
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The namespace endpoint as a connection string names it,
    /// `sb://127.0.0.1:PORT/` (`sb://pushproof.servicebus.windows.net/`
    /// in impersonation mode, reached through a hosts entry).
    pub fn endpoint(&self) -> String {
        if self.impersonated {
            return format!("sb://{}/", hosts::HUB_HOST);
        }
        format!("sb://{}/", self.addr)
    }

    /// The hub's name.
    pub fn name(&self) -> &str {
        &self.state.namespace.hub_name
    }

    /// The namespace's host name as a real connection string names one,
    /// `pushproof.servicebus.windows.net`: the name host impersonation
    /// serves (any name under `servicebus.windows.net` reaches the hub).
    pub fn namespace_host(&self) -> &'static str {
        hosts::HUB_HOST
    }

    /// The connection string of `DefaultFullSharedAccessSignature`
    /// (Listen, Manage, Send): what a backend sends with. In plaintext
    /// mode it ends with `;UseDevelopmentEmulator=true`, the convention of
    /// Azure's local emulators for an endpoint without TLS, so a client
    /// knows to call `http://` where the SDKs would call `https://`.
    pub fn connection_string(&self) -> String {
        self.connection_string_of(FULL_RULE)
    }

    /// The connection string of `DefaultListenSharedAccessSignature`
    /// (Listen only): what an app registers with.
    pub fn listen_connection_string(&self) -> String {
        self.connection_string_of(LISTEN_RULE)
    }

    fn connection_string_of(&self, rule: &str) -> String {
        let text = self
            .state
            .namespace
            .connection_string(&self.endpoint(), rule);
        if self.scheme == "http" && !self.impersonated {
            format!("{text};UseDevelopmentEmulator=true")
        } else {
            text
        }
    }

    /// Installations and registrations the hub holds.
    pub fn device_counts(&self) -> (usize, usize) {
        self.state.registry.len()
    }

    /// An installation as `GET /{hub}/installations/{id}` answers it.
    pub fn installation(&self, id: &str) -> Option<serde_json::Value> {
        self.state.registry.installation(id).map(|i| i.to_json())
    }

    /// `PUSHPROOF_NH_CONNECTION_STRING` and `PUSHPROOF_NH_HUB`.
    pub(crate) fn env_vars(&self) -> [(String, String); 2] {
        [
            (
                "PUSHPROOF_NH_CONNECTION_STRING".to_owned(),
                self.connection_string(),
            ),
            ("PUSHPROOF_NH_HUB".to_owned(), self.name().to_owned()),
        ]
    }
}

/// Answers one request to the hub and captures it.
pub(crate) async fn serve(
    state: Arc<HubState>,
    request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let (parts, body) = request.into_parts();
    let body = server::read_body(body, server::BODY_LIMIT).await;
    if control::is_control_path(parts.uri.path()) {
        // The control API is the mock's own: not a hub request.
        return Ok(Box::pin(control::handle(&state.shared, &parts, &body)).await);
    }
    let tracking_id = uuid::Uuid::new_v4().to_string();
    let answered = routes::handle(&state, &parts, &body, &tracking_id).await;
    let (mut response, reason) = match answered.response {
        Ok(response) => (response, None),
        Err(e) => {
            let reason = e.detail.to_string();
            (e.into_response(&tracking_id), Some(reason))
        }
    };
    let headers = response.headers_mut();
    if !headers.contains_key(&error::TRACKING_ID) {
        headers.insert(error::TRACKING_ID.clone(), header_value(&tracking_id));
    }
    let status = response.status().as_u16();
    debug!(
        method = %parts.method,
        path = parts.uri.path(),
        status,
        reason = reason.as_deref(),
        "hub request answered"
    );
    state.shared.captures.record(Stored::new(
        // A request that concerns no one platform is filed under the
        // first (see `CaptureKind::Hub`).
        answered.platform.unwrap_or(Platform::Apns),
        CaptureKind::Hub,
        parts,
        body.bytes().clone(),
        status,
        reason,
        answered.device.map(DeviceRef::Handle),
    ));
    Ok(response)
}
