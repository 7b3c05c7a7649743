//! SP-HTTP-03: the backend checks its gateways' certificates. In TLS mode
//! the harness serves WNS twice more, on ports of their own: once with a
//! certificate from a CA the backend was never told to trust, once with
//! one from the trusted CA but for another host name. A fresh user
//! registers a device at the real gateway and one behind each impostor (a
//! WNS channel URI comes from the device, so a device decides where the
//! backend connects). One notification to the user must reach the real
//! device (the positive control) and nothing may reach an impostor.

use std::sync::Arc;
use std::time::Duration;

use pushproof_mocks::{
    BadCertificate, BadCertificateListener, CaptureKind, DeviceHandle, Platform,
};
use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use super::super::setup;
use crate::device::device::register;
use crate::device::{Device, EnrollError};

/// How long after the real device got its push an impostor is still
/// watched, for a backend that pushes to a user's devices one by one.
const GRACE: Duration = Duration::from_secs(1);

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-HTTP-03",
    title: "The backend validates gateway certificates",
    level: Level::Must,
    severity: Severity::High,
    method: "TLS mode only (--tls), pushing straight to the gateways (not through a hub): WNS is also served on two ports of its own, one presenting \
             a certificate from another CA, one a certificate of the trusted CA for another \
             host name. A fresh user registers a WNS device at the real gateway and one whose \
             channel URI points at each impostor; one notification to the user must reach the \
             real device (positive control), and neither impostor may receive anything (no \
             delivery, no capture) within 1 s after",
    sources: &["OWASP ASVS 5.0 12.3.1", "OWASP ASVS 5.0 12.3.2"],
    needs: &[],
    sample: Sample {
        min: 2,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    if !suite.options.tls {
        f.not_applicable(
            "the gateways speak plain HTTP in this run: there is no certificate to check",
            Some("--tls"),
        );
        return f;
    }
    if suite.profile().platform(Platform::Wns).is_none() {
        f.not_applicable(
            "the profile has no WNS platform: a WNS channel URI, which comes from the device, \
             is how the harness leads a backend to another gateway",
            Some("platforms.wns"),
        );
        return f;
    }
    if !suite.options.platforms.contains(&Platform::Wns) {
        f.not_applicable(
            "WNS is not among this run's platforms: a WNS channel URI is how the harness leads \
             a backend to another gateway",
            Some("--platforms with wns"),
        );
        return f;
    }
    match suite.captures().await {
        Ok(captures) if captures.iter().any(|c| c.kind == CaptureKind::Hub) => {
            f.not_applicable(
                "the backend sends through the Notification Hub, which reaches the gateways \
                 itself: their certificates are the hub's to check, not the backend's",
                Some("direct delivery (no --hub)"),
            );
            return f;
        }
        Ok(_) => {}
        Err(e) => {
            f.harness_error(e.to_string());
            return f;
        }
    }
    if !probe::proven_platforms(suite).contains(&Platform::Wns) {
        f.shortfall("WNS's baseline round trip did not verify");
        return f;
    }
    let mut listeners = Vec::new();
    for which in BadCertificate::ALL {
        match suite
            .plane
            .serve_with_bad_certificate(Platform::Wns, which)
            .await
        {
            Ok(Some(listener)) => listeners.push(listener),
            Ok(None) => {
                f.not_applicable(
                    "the mock gateways are remote (--mocks-url): only in-process gateways can \
                     serve a bad certificate",
                    Some("in-process gateways (no --mocks-url) with --tls"),
                );
                return f;
            }
            Err(e) => {
                f.harness_error(e.to_string());
                return f;
            }
        }
    }
    let Some((_, good)) = setup::user_with_device(suite, "http03", Platform::Wns, &mut f).await
    else {
        return f;
    };
    let mut impostors: Vec<(Arc<Device>, &BadCertificateListener)> = Vec::new();
    for listener in &listeners {
        match behind(suite, &good, listener).await {
            Ok(device) => impostors.push((device, listener)),
            Err(e) => {
                setup::enrol_failed(e, &mut f);
                return f;
            }
        }
    }
    let mut rng = suite.rng(INFO.id);
    let secret = suite.secret(&mut rng);
    let Some(delivered) = setup::deliver(suite, &good, &secret, &mut f).await else {
        return f;
    };
    tokio::time::sleep(GRACE).await;
    let captures = match suite.captures().await {
        Ok(captures) => captures,
        Err(e) => {
            f.harness_error(e.to_string());
            return f;
        }
    };
    for (device, listener) in &impostors {
        let which = listener.certificate().describe();
        let pushed = device.inbox.try_recv();
        let channel = channel_part(&device.handle.handle);
        let reached = captures.iter().find(|c| c.path.contains(channel));
        if pushed.is_none() && reached.is_none() {
            f.gathered(1);
            continue;
        }
        let mut e = evidence::about(
            device,
            format!(
                "the backend pushed to {} through a gateway presenting {which} ({})",
                device.name,
                listener.url()
            ),
            Some(&delivered.send),
        );
        e.capture = reached.map(evidence::capture);
        e.detail = json!({
            "push": pushed.as_ref().map(evidence::delivery),
            "certificate": which,
            "gateway": listener.url(),
        });
        f.violation(e);
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "the push reached the real gateway and neither impostor ({}, {})",
            BadCertificate::OtherCa.describe(),
            BadCertificate::OtherHost.describe()
        ));
    }
    f
}

/// A device of `good`'s user whose channel URI points at `listener`
/// instead of the real gateway, registered on a session of its own.
async fn behind(
    suite: &Suite,
    good: &Device,
    listener: &BadCertificateListener,
) -> Result<Arc<Device>, EnrollError> {
    let credential = suite.api.credential(&good.user, &good.password).await?;
    let real = suite.plane.register_device(Platform::Wns).await?;
    let inbox = Arc::new(suite.plane.inbox(&real)?);
    let handle = DeviceHandle {
        handle: format!("{}{}", listener.url(), channel_part(&real.handle)),
        ..real
    };
    let registration = register(&suite.api, &credential, &good.user, &handle, &[]).await?;
    let index = suite.fresh_index();
    Ok(Arc::new(Device {
        index,
        name: format!("device-{index}"),
        user: good.user.clone(),
        password: good.password.clone(),
        platform: Platform::Wns,
        handle,
        inbox,
        credential,
        registration,
    }))
}

/// A channel URI without its origin (`/?token=…`).
fn channel_part(handle: &str) -> &str {
    let rest = handle.split_once("://").map_or(handle, |(_, rest)| rest);
    rest.find('/').map_or("", |at| &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_keeps_its_path_and_query_without_its_origin() {
        assert_eq!(
            channel_part("https://127.0.0.1:4431/?token=AwYA"),
            "/?token=AwYA"
        );
        assert_eq!(channel_part("https://h"), "");
    }
}
