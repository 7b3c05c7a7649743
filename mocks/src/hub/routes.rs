//! One hub request's path: find the operation from method and path
//! (`/{hub}/registrationIDs`, `/registrations[/{id}]`,
//! `/tags/{tag}/registrations`, `/installations/{id}`,
//! `/messages/[$batch|{id}]`), authorize it with the right it needs
//! (Listen for a device's own registration or installation, Send for
//! sends, Manage for listings and notification details), check the hub
//! exists, and carry it out.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, ETAG, HOST, LOCATION};
use http::request::Parts;
use http::{HeaderName, Method, StatusCode};
use percent_encoding::percent_decode_str;

use crate::platform::Platform;
use crate::reply::{header_value, response, unix_now, Response};
use crate::server::RequestBody;

use super::channel::Channel;
use super::error::{HubError, XML_CONTENT_TYPE};
use super::installation::Installation;
use super::namespace::Rights;
use super::registration::{feed, Description};
use super::registry::{IfMatch, Listing};
use super::sas::Target;
use super::send::send;
use super::HubState;

const ENTRY_TYPE: &str = "application/atom+xml;type=entry;charset=utf-8";
const FEED_TYPE: &str = "application/atom+xml;type=feed;charset=utf-8";
static CONTINUATION: HeaderName = HeaderName::from_static("x-ms-continuationtoken");
/// Most registrations per listing page, the service's `$top` maximum.
const MAX_TOP: usize = 100;

/// What the hub answered, and what its capture names.
pub(crate) struct Answered {
    pub(crate) response: Result<Response, HubError>,
    pub(crate) platform: Option<Platform>,
    pub(crate) device: Option<String>,
}

impl Answered {
    fn of(response: Result<Response, HubError>) -> Answered {
        Answered {
            response,
            platform: None,
            device: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    CreateRegistrationId,
    CreateRegistration,
    ListRegistrations,
    GetRegistration,
    UpsertRegistration,
    DeleteRegistration,
    ListByTag,
    PutInstallation,
    PatchInstallation,
    GetInstallation,
    DeleteInstallation,
    Send,
    Batch,
    Details,
}

impl Op {
    fn needs(self) -> Rights {
        match self {
            Op::Send | Op::Batch => Rights::SEND,
            Op::ListRegistrations | Op::ListByTag | Op::Details => Rights::MANAGE,
            _ => Rights::LISTEN,
        }
    }
}

/// The operation of a method and the path segments after the hub name;
/// `Err` is 404 (no such resource) or 405 (no such method on it).
fn route(method: &Method, rest: &[&str]) -> Result<Op, StatusCode> {
    let op = match rest {
        ["registrationIDs"] | ["registrationIDs", ""] => {
            [(Method::POST, Op::CreateRegistrationId)].to_vec()
        }
        ["registrations"] | ["registrations", ""] => {
            vec![
                (Method::POST, Op::CreateRegistration),
                (Method::GET, Op::ListRegistrations),
            ]
        }
        ["registrations", id] if !id.is_empty() => vec![
            (Method::GET, Op::GetRegistration),
            (Method::PUT, Op::UpsertRegistration),
            (Method::DELETE, Op::DeleteRegistration),
        ],
        ["tags", tag, "registrations"] | ["tags", tag, "registrations", ""] if !tag.is_empty() => {
            vec![(Method::GET, Op::ListByTag)]
        }
        ["installations", id] if !id.is_empty() => vec![
            (Method::PUT, Op::PutInstallation),
            (Method::PATCH, Op::PatchInstallation),
            (Method::GET, Op::GetInstallation),
            (Method::DELETE, Op::DeleteInstallation),
        ],
        ["messages"] | ["messages", ""] => vec![(Method::POST, Op::Send)],
        ["messages", "$batch"] => vec![(Method::POST, Op::Batch)],
        ["messages", id] if !id.is_empty() => vec![(Method::GET, Op::Details)],
        _ => return Err(StatusCode::NOT_FOUND),
    };
    op.into_iter()
        .find(|(m, _)| m == method)
        .map(|(_, op)| op)
        .ok_or(StatusCode::METHOD_NOT_ALLOWED)
}

/// The host the request was sent to: HTTP/2's `:authority`, else `Host`.
fn request_host<'a>(parts: &'a Parts, fallback: &'a str) -> &'a str {
    parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| parts.headers.get(HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or(fallback)
}

fn decode(segment: &str) -> Cow<'_, str> {
    percent_decode_str(segment).decode_utf8_lossy()
}

/// The whole body, or the service's answer to one that is not.
fn complete(body: &RequestBody) -> Result<&Bytes, HubError> {
    match body {
        RequestBody::Complete(bytes) => Ok(bytes),
        RequestBody::TooLarge(_) => Err(HubError::too_large("The request body exceeds 64 KB.")),
        RequestBody::TimedOut(_) | RequestBody::Broken(_) => {
            Err(HubError::bad_request("The request body could not be read."))
        }
    }
}

/// Answers one hub request.
pub(crate) async fn handle(
    state: &Arc<HubState>,
    parts: &Parts,
    body: &RequestBody,
    tracking_id: &str,
) -> Answered {
    let host = request_host(parts, &state.host);
    let path = parts.uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (hub, rest) = segments
        .split_first()
        .map_or(("", &[][..]), |(h, r)| (*h, r));
    let op = route(&parts.method, rest);
    // Authorization comes first, as on the service: without a valid token
    // nothing about the namespace is revealed.
    let needed = op.map_or(Rights::LISTEN, Op::needs);
    let target = Target {
        host,
        path,
        needed,
        now: unix_now(),
    };
    if let Err(e) = state
        .sas
        .authorize(&state.namespace, &parts.headers, target)
    {
        return Answered::of(Err(e.into_hub_error(&format!("sb://{host}{path}"))));
    }
    if hub != state.namespace.hub_name {
        return Answered::of(Err(HubError::not_found(format!(
            "The messaging entity 'sb://{host}/{hub}' could not be found."
        ))));
    }
    let op = match op {
        Ok(op) => op,
        Err(status) => {
            return Answered::of(Err(HubError::new(
                status,
                format!("No operation {} {path} exists.", parts.method),
            )))
        }
    };
    let base = format!("https://{host}/{hub}");
    let id = rest.get(1).map(|s| decode(s)).unwrap_or_default();
    match op {
        Op::Send | Op::Batch => {
            match send(state, parts, body, op == Op::Batch, &base, tracking_id).await {
                Ok(sent) => Answered {
                    response: Ok(sent.response),
                    platform: sent.format.and_then(|f| f.platform()),
                    device: sent.device,
                },
                Err((e, format)) => Answered {
                    response: Err(e),
                    platform: format.and_then(|f| f.platform()),
                    device: None,
                },
            }
        }
        Op::CreateRegistrationId => {
            let id = new_registration_id();
            let location = format!("{base}/registrations/{id}?api-version=2020-06");
            Answered::of(Ok(response(
                StatusCode::CREATED,
                [(LOCATION, header_value(&location))],
                Bytes::new(),
            )))
        }
        Op::CreateRegistration | Op::UpsertRegistration => {
            let result = complete(body).and_then(|b| Description::from_atom(b));
            let description = match result {
                Ok(d) => d,
                Err(e) => return Answered::of(Err(e)),
            };
            let channel = description.channel;
            let device = description.handle.clone();
            let result = if op == Op::CreateRegistration {
                state
                    .registry
                    .create_registration(&new_registration_id(), description)
            } else {
                if_match(parts)
                    .and_then(|m| state.registry.upsert_registration(&id, description, m))
            };
            Answered {
                response: result.map(|r| entry_response(&r.to_entry(&base, true), r.etag)),
                platform: Some(channel.gateway()),
                device: Some(device),
            }
        }
        Op::GetRegistration => Answered::of(
            state
                .registry
                .registration(&id)
                .map(|r| entry_response(&r.to_entry(&base, true), r.etag))
                .ok_or_else(|| {
                    HubError::not_found(format!("The registration {id:?} does not exist."))
                }),
        ),
        Op::DeleteRegistration => {
            let condition = if_match(parts).map(|m| m.unwrap_or(IfMatch::Any));
            Answered::of(
                condition
                    .and_then(|m| state.registry.delete_registration(&id, &m))
                    .map(|()| response(StatusCode::OK, [], Bytes::new())),
            )
        }
        Op::ListRegistrations => Answered::of(
            list_query(parts)
                .map(|(listing, after, top)| list(state, &base, &listing, after.as_deref(), top)),
        ),
        Op::ListByTag => {
            let tag = decode(rest.get(1).copied().unwrap_or_default()).into_owned();
            Answered::of(list_query(parts).map(|(_, after, top)| {
                list(state, &base, &Listing::Tag(tag), after.as_deref(), top)
            }))
        }
        Op::PutInstallation => {
            let result = complete(body).and_then(|b| Installation::from_json(&id, b));
            let installation = match result {
                Ok(i) => i,
                Err(e) => return Answered::of(Err(e)),
            };
            let (platform, device) = (
                installation.channel.gateway(),
                installation.push_channel.clone(),
            );
            Answered {
                response: state
                    .registry
                    .put_installation(installation)
                    .map(|()| response(StatusCode::OK, [], Bytes::new())),
                platform: Some(platform),
                device: Some(device),
            }
        }
        Op::PatchInstallation => Answered::of(
            complete(body)
                .and_then(|b| state.registry.patch_installation(&id, b))
                .map(|()| response(StatusCode::OK, [], Bytes::new())),
        ),
        Op::GetInstallation => match state.registry.installation(&id) {
            Some(installation) => Answered {
                response: Ok(response(
                    StatusCode::OK,
                    [(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/json; charset=utf-8"),
                    )],
                    installation.to_json().to_string(),
                )),
                platform: Some(installation.channel.gateway()),
                device: None,
            },
            None => Answered::of(Err(HubError::not_found(format!(
                "The installation {id:?} does not exist."
            )))),
        },
        Op::DeleteInstallation => {
            // 204 whether or not it existed: deletes are idempotent on the
            // service, and the SDK requires exactly 204.
            state.registry.delete_installation(&id);
            Answered::of(Ok(response(StatusCode::NO_CONTENT, [], Bytes::new())))
        }
        Op::Details => Answered::of(
            state
                .notifications
                .details(&id, &base)
                .map(|xml| {
                    response(
                        StatusCode::OK,
                        [(CONTENT_TYPE, HeaderValue::from_static(XML_CONTENT_TYPE))],
                        xml,
                    )
                })
                .ok_or_else(|| {
                    HubError::not_found(format!("The notification {id:?} does not exist."))
                }),
        ),
    }
}

fn entry_response(entry: &str, etag: u64) -> Response {
    response(
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static(ENTRY_TYPE)),
            (ETAG, header_value(&format!("\"{etag}\""))),
        ],
        entry.to_owned(),
    )
}

fn if_match(parts: &Parts) -> Result<Option<IfMatch>, HubError> {
    parts
        .headers
        .get(http::header::IF_MATCH)
        .map(|v| IfMatch::parse(v.to_str().unwrap_or_default()))
        .transpose()
}

/// A registration id, shaped like the service's
/// (`<19 digits>-<19 digits>-<digit>`).
fn new_registration_id() -> String {
    let a = rand::random::<u64>() % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000;
    let b = rand::random::<u64>() % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000;
    format!("{a}-{b}-{}", rand::random::<u8>() % 10)
}

/// `$filter`, `continuationtoken` and `$top` of a listing.
fn list_query(parts: &Parts) -> Result<(Listing, Option<String>, usize), HubError> {
    let mut listing = Listing::All;
    let mut after = None;
    let mut top = MAX_TOP;
    for (name, value) in form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "$filter" => listing = filter(&value)?,
            "continuationtoken" | "ContinuationToken" => after = Some(value.into_owned()),
            "$top" => {
                top = value
                    .parse::<usize>()
                    .ok()
                    .filter(|t| (1..=MAX_TOP).contains(t))
                    .ok_or_else(|| {
                        HubError::bad_request(format!("$top must be 1 to {MAX_TOP}."))
                    })?;
            }
            _ => {}
        }
    }
    Ok((listing, after, top))
}

/// A by-channel `$filter`: `<HandleElement> eq '<handle>'`, the
/// `ChannelUri` percent-encoded as the SDKs write it.
fn filter(text: &str) -> Result<Listing, HubError> {
    let bad = || HubError::bad_request(format!("The $filter {text:?} is not supported."));
    let (field, value) = text.split_once(" eq ").ok_or_else(bad)?;
    let value = value
        .trim()
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(bad)?;
    let channel = Channel::ALL
        .into_iter()
        .find(|c| c.handle_element().eq_ignore_ascii_case(field.trim()))
        .ok_or_else(bad)?;
    let handle = match channel {
        Channel::Wns => decode(value).into_owned(),
        _ => value.to_owned(),
    };
    Ok(Listing::Handle(channel, handle))
}

fn list(
    state: &HubState,
    base: &str,
    listing: &Listing,
    after: Option<&str>,
    top: usize,
) -> Response {
    let (page, next) = state.registry.list(listing, after, top);
    let mut headers = vec![(CONTENT_TYPE, HeaderValue::from_static(FEED_TYPE))];
    if let Some(next) = next {
        headers.push((CONTINUATION.clone(), header_value(&next)));
    }
    response(StatusCode::OK, headers, feed(base, page.iter()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn routes_and_rights() {
        assert_eq!(route(&Method::POST, &["messages", ""]), Ok(Op::Send));
        assert_eq!(route(&Method::POST, &["messages", "$batch"]), Ok(Op::Batch));
        assert_eq!(
            route(&Method::GET, &["messages", "$batch"]),
            Err(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            route(&Method::PATCH, &["installations", "i"]),
            Ok(Op::PatchInstallation)
        );
        assert_eq!(
            route(&Method::GET, &["tags", "t", "registrations"]),
            Ok(Op::ListByTag)
        );
        assert_eq!(
            route(&Method::GET, &["nothing"]),
            Err(StatusCode::NOT_FOUND)
        );
        assert_eq!(Op::ListByTag.needs(), Rights::MANAGE);
        assert_eq!(Op::PutInstallation.needs(), Rights::LISTEN);
    }

    #[test]
    fn the_sdk_channel_filter_decodes() {
        // `listRegistrationsByChannel` for a Windows channel, after the
        // query string's own decoding.
        let listing = filter("ChannelUri eq 'https%3A%2F%2Fwns%2F%3Ftoken%3Da%252Bb'").unwrap();
        assert_eq!(
            listing,
            Listing::Handle(Channel::Wns, "https://wns/?token=a%2Bb".into())
        );
        assert_eq!(
            filter("DeviceToken eq 'ABCD'").unwrap(),
            Listing::Handle(Channel::Apns, "ABCD".into())
        );
        assert!(filter("Tags eq 'x'").is_err());
    }
}
