//! Sends: `POST /{hub}/messages/` with `ServiceBusNotification-Format`
//! and `ServiceBusNotification-Tags` (a tag or an expression; none is a
//! broadcast), `?direct` with `ServiceBusNotification-DeviceHandle`, and
//! `/messages/$batch?direct` with a multipart body of handles; `apns-*`
//! and `X-WNS-*` headers pass through; `&test=true` answers with the
//! outcome (the service's debug send, to at most 10 devices). Success is
//! 201 with `Location: https://{host}/{hub}/messages/{id}?api-version=…`
//! and `TrackingId` (REST reference, "Send an APNS native notification"
//! and siblings; `@azure/notification-hubs` requires exactly 201 and
//! reads the id from the Location's path).
//!
//! The mock fans out before it answers, so a 201 means every push has
//! reached its gateway (the service answers first and fans out after);
//! the notification's outcome is kept, bounded, for `GET
//! /{hub}/messages/{id}`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use http::request::Parts;
use http::StatusCode;

use crate::reply::{header_value, response, Response};
use crate::server::RequestBody;

use super::channel::{Channel, Format};
use super::error::{escape_into, HubError, CORRELATION_ID, TRACKING_ID, XML_CONTENT_TYPE};
use super::fanout::{Delivery, Message};
use super::multipart;
use super::registry::Target;
use super::tags::Expression;
use super::template::Properties;
use super::HubState;

/// Most devices a test send goes to (Azure docs, "Test send").
const TEST_SEND_LIMIT: usize = 10;
/// Largest APNs payload the hub forwards, even for VoIP (Azure docs,
/// "VoIP notifications with APNs").
const APNS_PAYLOAD_LIMIT: usize = 4096;

static FORMAT: HeaderName = HeaderName::from_static("servicebusnotification-format");
static TAGS: HeaderName = HeaderName::from_static("servicebusnotification-tags");
static DEVICE_HANDLE: HeaderName = HeaderName::from_static("servicebusnotification-devicehandle");

/// What a send addresses.
enum Audience {
    Tags(Option<Expression>),
    Direct(Vec<String>),
}

/// A parsed send.
struct Send {
    message: Message,
    audience: Audience,
    test: bool,
}

fn header_text<'a>(parts: &'a Parts, name: &HeaderName) -> Result<Option<&'a str>, HubError> {
    parts
        .headers
        .get(name)
        .map(|v| {
            std::str::from_utf8(v.as_bytes())
                .map_err(|_| HubError::bad_request(format!("The {name} header is not valid text.")))
        })
        .transpose()
}

/// Whether a query flag (`direct`, `test`) is on: present without a
/// value or with anything but `false`.
fn flag(parts: &Parts, name: &str) -> bool {
    parts.uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == name && !v.eq_ignore_ascii_case("false"))
    })
}

fn parse(parts: &Parts, body: &RequestBody, batch: bool) -> Result<Send, HubError> {
    let bytes = match body {
        RequestBody::Complete(b) => b.clone(),
        RequestBody::TooLarge(_) => {
            return Err(HubError::too_large(
                "The notification exceeds the maximum size of 64 KB.",
            ))
        }
        RequestBody::TimedOut(_) | RequestBody::Broken(_) => {
            return Err(HubError::bad_request("The request body could not be read."))
        }
    };
    let format = header_text(parts, &FORMAT)?.ok_or_else(|| {
        HubError::bad_request("The ServiceBusNotification-Format header is required.")
    })?;
    let format = Format::parse(format)?;
    let direct = flag(parts, "direct");
    let test = flag(parts, "test");
    let request_type = header_text(parts, &CONTENT_TYPE)?.map(str::to_owned);
    // The payload's own content type is not forwarded: the hub sets the
    // one each gateway requires (WNS wants text/xml where the SDK sends
    // application/xml).
    let (payload, audience) = if batch {
        if !direct {
            return Err(HubError::bad_request(
                "A $batch send must be a direct send (?direct).",
            ));
        }
        let batch = multipart::parse(request_type.as_deref().unwrap_or_default(), &bytes)?;
        (batch.notification, Audience::Direct(batch.devices))
    } else if direct {
        let handle = header_text(parts, &DEVICE_HANDLE)?
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                HubError::bad_request(
                    "A direct send needs the ServiceBusNotification-DeviceHandle header.",
                )
            })?;
        (bytes, Audience::Direct(vec![handle.to_owned()]))
    } else {
        let expression = header_text(parts, &TAGS)?
            .map(Expression::parse)
            .transpose()?;
        (bytes, Audience::Tags(expression))
    };
    let properties = validate_payload(format, &payload, parts)?;
    if properties.is_some() && matches!(audience, Audience::Direct(_)) {
        return Err(HubError::bad_request(
            "A template notification cannot be sent directly.",
        ));
    }
    let headers = parts
        .headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("apns-") || n.as_str().starts_with("x-wns-"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    Ok(Send {
        message: Message {
            format,
            payload,
            headers,
            properties,
        },
        audience,
        test,
    })
}

/// The service's checks of a native payload at the edge; the template
/// properties of a template send.
fn validate_payload(
    format: Format,
    payload: &Bytes,
    parts: &Parts,
) -> Result<Option<Properties>, HubError> {
    let json_object = |what: &str| -> Result<serde_json::Map<String, serde_json::Value>, HubError> {
        match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(HubError::bad_request(format!(
                "The {what} notification payload is not a JSON object."
            ))),
        }
    };
    match format {
        Format::Template => Properties::from_json(payload).map(Some),
        Format::Native(Channel::Apns) => {
            if payload.len() > APNS_PAYLOAD_LIMIT {
                return Err(HubError::too_large(format!(
                    "The apple notification payload exceeds the {APNS_PAYLOAD_LIMIT}-byte APNs limit."
                )));
            }
            json_object("apple").map(|_| None)
        }
        Format::Native(Channel::FcmV1) => {
            let map = json_object("fcmv1")?;
            if !map.get("message").is_some_and(serde_json::Value::is_object) {
                return Err(HubError::bad_request(
                    "The fcmv1 notification payload must be wrapped as {\"message\":{…}}.",
                ));
            }
            Ok(None)
        }
        Format::Native(Channel::Gcm) => json_object("gcm").map(|_| None),
        Format::Native(Channel::Wns) => {
            let kind = parts.headers.get("x-wns-type").map(HeaderValue::as_bytes);
            let valid = ["wns/toast", "wns/tile", "wns/badge", "wns/raw"];
            match kind {
                Some(k) if valid.iter().any(|v| k.eq_ignore_ascii_case(v.as_bytes())) => Ok(None),
                Some(_) => Err(HubError::bad_request(
                    "The X-WNS-Type header value is not valid.",
                )),
                None => Err(HubError::bad_request(
                    "A windows notification needs the X-WNS-Type header.",
                )),
            }
        }
    }
}

/// The outcome of a send, kept for `GET /{hub}/messages/{id}`.
#[derive(Clone, Debug)]
struct Record {
    id: String,
    enqueued: String,
    /// Success and failure counts per channel, in [`Channel::ALL`] order.
    counts: [(u64, u64); 4],
}

/// The bounded store of notification outcomes.
pub(crate) struct Notifications {
    capacity: usize,
    next: AtomicU64,
    ring: Mutex<VecDeque<Record>>,
}

impl Notifications {
    pub(crate) fn new(capacity: usize) -> Notifications {
        Notifications {
            capacity: capacity.max(1),
            next: AtomicU64::new(1),
            ring: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Record>> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, results: &[(Target, Delivery)]) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{n}{:08x}", rand::random::<u32>());
        let mut counts = [(0, 0); 4];
        for (target, delivery) in results {
            let slot = Channel::ALL
                .iter()
                .position(|c| *c == target.channel)
                .unwrap_or(0);
            if delivery.ok() {
                counts[slot].0 += 1;
            } else {
                counts[slot].1 += 1;
            }
        }
        let mut ring = self.lock();
        if ring.len() >= self.capacity {
            ring.pop_front();
        }
        ring.push_back(Record {
            id: id.clone(),
            enqueued: super::time::now_rfc3339(),
            counts,
        });
        id
    }

    /// The `NotificationDetails` XML of a kept notification.
    pub(crate) fn details(&self, id: &str, base: &str) -> Option<String> {
        let record = self.lock().iter().find(|r| r.id == id).cloned()?;
        let mut x = String::from(
            r#"<NotificationDetails xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><NotificationId>"#,
        );
        escape_into(&mut x, &record.id);
        x.push_str("</NotificationId><Location>");
        escape_into(
            &mut x,
            &format!("{base}/messages/{}?api-version=2020-06", record.id),
        );
        x.push_str("</Location><State>Completed</State><EnqueueTime>");
        x.push_str(&record.enqueued);
        x.push_str("</EnqueueTime><StartTime>");
        x.push_str(&record.enqueued);
        x.push_str("</StartTime><EndTime>");
        x.push_str(&record.enqueued);
        x.push_str("</EndTime>");
        for (channel, (ok, failed)) in Channel::ALL.iter().zip(record.counts) {
            if ok + failed == 0 {
                continue;
            }
            let element = match channel {
                Channel::Apns => "ApnsOutcomeCounts",
                Channel::FcmV1 => "FcmV1OutcomeCounts",
                Channel::Gcm => "GcmOutcomeCounts",
                Channel::Wns => "WnsOutcomeCounts",
            };
            x.push_str(&format!(
                "<{element}><Outcome><Name>Success</Name><Count>{ok}</Count></Outcome><Outcome><Name>Failure</Name><Count>{failed}</Count></Outcome></{element}>"
            ));
        }
        x.push_str("</NotificationDetails>");
        Some(x)
    }
}

/// What a send came to, for the capture.
pub(crate) struct Sent {
    pub(crate) response: Response,
    pub(crate) format: Option<Format>,
    pub(crate) device: Option<String>,
}

/// Serves a send; `base` is `https://{host}/{hub}`.
pub(crate) async fn send(
    state: &Arc<HubState>,
    parts: &Parts,
    body: &RequestBody,
    batch: bool,
    base: &str,
    tracking_id: &str,
) -> Result<Sent, (HubError, Option<Format>)> {
    let send = parse(parts, body, batch).map_err(|e| {
        let format = header_text(parts, &FORMAT)
            .ok()
            .flatten()
            .and_then(|f| Format::parse(f).ok());
        (e, format)
    })?;
    let format = send.message.format;
    let (targets, device) = match &send.audience {
        Audience::Direct(handles) => {
            let Format::Native(channel) = format else {
                return Err((
                    HubError::bad_request("A template notification cannot be sent directly."),
                    Some(format),
                ));
            };
            let targets = handles
                .iter()
                .map(|handle| Target {
                    channel,
                    handle: handle.clone(),
                    id: String::new(),
                    template: None,
                })
                .collect();
            (targets, (handles.len() == 1).then(|| handles[0].clone()))
        }
        Audience::Tags(expression) => {
            let limit = if send.test {
                TEST_SEND_LIMIT
            } else {
                usize::MAX
            };
            (
                state.registry.resolve(format, expression.as_ref(), limit),
                None,
            )
        }
    };
    let direct = matches!(send.audience, Audience::Direct(_));
    let results = state
        .forwarder
        .fan_out(&state.registry, targets, Arc::new(send.message))
        .await;
    let id = state.notifications.record(&results);
    let location = format!("{base}/messages/{id}?api-version=2020-06");
    let mut headers = vec![
        (LOCATION, header_value(&location)),
        (TRACKING_ID.clone(), header_value(tracking_id)),
        (CORRELATION_ID.clone(), header_value(tracking_id)),
    ];
    let body = if send.test && !direct {
        headers.push((CONTENT_TYPE, HeaderValue::from_static(XML_CONTENT_TYPE)));
        outcome_xml(&results)
    } else {
        String::new()
    };
    Ok(Sent {
        response: response(StatusCode::CREATED, headers, body),
        format: Some(format),
        device,
    })
}

/// A test send's `NotificationOutcome`, as `parseNotificationOutcome` in
/// `@azure/notification-hubs` reads it.
fn outcome_xml(results: &[(Target, Delivery)]) -> String {
    let ok = results.iter().filter(|(_, d)| d.ok()).count();
    let mut x = format!(
        r#"<NotificationOutcome xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><Success>{ok}</Success><Failure>{}</Failure><Results>"#,
        results.len() - ok
    );
    for (target, delivery) in results {
        x.push_str("<RegistrationResult><ApplicationPlatform>");
        x.push_str(target.channel.format());
        x.push_str("</ApplicationPlatform><PnsHandle>");
        escape_into(&mut x, &target.handle);
        x.push_str("</PnsHandle><RegistrationId>");
        escape_into(&mut x, &target.id);
        x.push_str("</RegistrationId><Outcome>");
        let outcome = match delivery {
            d if d.ok() => {
                "The Notification was successfully sent to the Push Notification System".to_owned()
            }
            Delivery::Answered(status) => format!(
                "The Push Notification System rejected the notification with status {status}"
            ),
            Delivery::Undeliverable(why) => format!("The notification could not be sent: {why}"),
        };
        escape_into(&mut x, &outcome);
        x.push_str("</Outcome></RegistrationResult>");
    }
    x.push_str("</Results></NotificationOutcome>");
    x
}
