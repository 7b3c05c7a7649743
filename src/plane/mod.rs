//! The mock plane: the gateways as the harness reaches them, either
//! in-process ([`Gateways`]) or over the control API of a `pushproof mocks`
//! running elsewhere (`--mocks-url`, [`remote`]). Devices, checks and the
//! load driver use [`MockPlane`] and [`DeviceInbox`] and never care which.

pub mod remote;

use std::sync::Arc;
use std::time::Duration;

use pushproof_mocks::{
    BadCertificate, BadCertificateListener, Capture, CaptureStats, Delivery, DeviceHandle,
    FaultRule, Gateways, Inbox, MockError, Platform,
};

pub use remote::Remote;

/// Why the mock plane could not do something: only ever a harness-side
/// problem (the control API unreachable or answering nonsense).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlaneError {
    #[error("mock control API {url}: {problem}")]
    Control { url: String, problem: String },
    #[error("the gateway has no inbox for {0}")]
    NoInbox(String),
    #[error("fault rule refused: {0}")]
    Fault(String),
}

/// The gateways, local or remote. Cheap to clone.
#[derive(Clone)]
pub enum MockPlane {
    Local(Arc<Gateways>),
    Remote(Arc<Remote>),
}

impl std::fmt::Debug for MockPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl MockPlane {
    /// Gateways running in this process.
    pub fn local(gateways: Arc<Gateways>) -> MockPlane {
        MockPlane::Local(gateways)
    }

    /// A `pushproof mocks` elsewhere, by the origin of its control API
    /// (`PUSHPROOF_CONTROL_URL`). Checks that it answers.
    pub async fn remote(url: &str, timeout: Duration) -> Result<MockPlane, PlaneError> {
        Ok(MockPlane::Remote(Arc::new(
            Remote::connect(url, timeout).await?,
        )))
    }

    pub fn describe(&self) -> String {
        match self {
            MockPlane::Local(_) => "in-process mock gateways".to_owned(),
            MockPlane::Remote(remote) => format!("mock gateways at {}", remote.url()),
        }
    }

    /// The in-process gateways, when local.
    pub fn gateways(&self) -> Option<&Arc<Gateways>> {
        match self {
            MockPlane::Local(g) => Some(g),
            MockPlane::Remote(_) => None,
        }
    }

    /// A fresh device handle on `platform`, with an empty inbox.
    pub async fn register_device(&self, platform: Platform) -> Result<DeviceHandle, PlaneError> {
        match self {
            MockPlane::Local(g) => Ok(g.register_device(platform)),
            MockPlane::Remote(r) => r.register_device(platform).await,
        }
    }

    /// Forgets a device; whether it existed.
    pub async fn unregister_device(&self, device: &DeviceHandle) -> Result<bool, PlaneError> {
        match self {
            MockPlane::Local(g) => Ok(g.unregister_device(device)),
            MockPlane::Remote(r) => r.unregister_device(device).await,
        }
    }

    /// The inbox of a device this plane issued.
    pub fn inbox(&self, device: &DeviceHandle) -> Result<DeviceInbox, PlaneError> {
        match self {
            MockPlane::Local(g) => g
                .inbox(device)
                .map(DeviceInbox::Local)
                .ok_or_else(|| PlaneError::NoInbox(device.handle.clone())),
            MockPlane::Remote(r) => Ok(DeviceInbox::Remote(remote::RemoteInbox::spawn(
                r.clone(),
                device.clone(),
            ))),
        }
    }

    /// The captures kept whose `seq` is above `after` (all with `None`),
    /// oldest first; read page by page from a remote plane.
    pub async fn captures_after(&self, after: Option<u64>) -> Result<Vec<Capture>, PlaneError> {
        match self {
            MockPlane::Local(g) => Ok(match after {
                None => g.captures(),
                Some(seq) => g.captures_since(seq.saturating_add(1)),
            }),
            MockPlane::Remote(r) => r.captures_after(after).await,
        }
    }

    /// The capture store's counters (total, kept, evicted).
    pub async fn capture_stats(&self) -> Result<CaptureStats, PlaneError> {
        match self {
            MockPlane::Local(g) => Ok(g.capture_stats()),
            MockPlane::Remote(r) => r.capture_stats().await,
        }
    }

    /// The gateways' counters as JSON (the control API's `/counters`).
    pub async fn counters(&self) -> Result<serde_json::Value, PlaneError> {
        match self {
            MockPlane::Local(g) => Ok(serde_json::to_value(g.counters()).unwrap_or_default()),
            MockPlane::Remote(r) => r.counters().await,
        }
    }

    /// Sets a fault rule; returns its id.
    pub async fn set_fault(&self, rule: FaultRule) -> Result<u64, PlaneError> {
        match self {
            MockPlane::Local(g) => g
                .set_fault(rule)
                .map_err(|e| PlaneError::Fault(e.to_string())),
            MockPlane::Remote(r) => r.set_fault(&rule).await,
        }
    }

    /// Serves `platform`'s gateway on a port of its own with a bad
    /// certificate until the listener is dropped: in-process gateways in
    /// TLS mode only (`None` otherwise; the control API has no such thing).
    pub async fn serve_with_bad_certificate(
        &self,
        platform: Platform,
        which: BadCertificate,
    ) -> Result<Option<BadCertificateListener>, PlaneError> {
        match self {
            MockPlane::Local(g) => match g.serve_with_bad_certificate(platform, which).await {
                Ok(listener) => Ok(Some(listener)),
                Err(MockError::TlsOff) => Ok(None),
                Err(e) => Err(PlaneError::Control {
                    url: "in-process gateways".to_owned(),
                    problem: e.to_string(),
                }),
            },
            MockPlane::Remote(_) => Ok(None),
        }
    }

    /// Removes a fault rule.
    pub async fn remove_fault(&self, id: u64) -> Result<(), PlaneError> {
        match self {
            MockPlane::Local(g) => {
                g.remove_fault(id);
                Ok(())
            }
            MockPlane::Remote(r) => r.remove_fault(id).await,
        }
    }
}

/// A device's inbox on either kind of plane. `recv` is cancel-safe: a
/// delivery is never lost because a caller stopped waiting.
pub enum DeviceInbox {
    Local(Inbox),
    Remote(remote::RemoteInbox),
}

impl std::fmt::Debug for DeviceInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceInbox::Local(inbox) => inbox.fmt(f),
            DeviceInbox::Remote(_) => f.write_str("RemoteInbox"),
        }
    }
}

impl DeviceInbox {
    /// Waits for the next delivery; `None` only if a remote plane stopped
    /// answering for good.
    pub async fn recv(&self) -> Option<Delivery> {
        match self {
            DeviceInbox::Local(inbox) => Some(inbox.recv().await),
            DeviceInbox::Remote(remote) => remote.recv().await,
        }
    }

    /// Waits at most `wait` for the next delivery.
    pub async fn recv_within(&self, wait: Duration) -> Option<Delivery> {
        tokio::time::timeout(wait, self.recv()).await.ok().flatten()
    }

    /// The next delivery, if one has arrived.
    pub fn try_recv(&self) -> Option<Delivery> {
        match self {
            DeviceInbox::Local(inbox) => inbox.try_recv(),
            DeviceInbox::Remote(remote) => remote.try_recv(),
        }
    }
}
