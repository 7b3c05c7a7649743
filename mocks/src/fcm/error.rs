//! google.rpc.Status error bodies as FCM returns them (with FcmError,
//! BadRequest and QuotaFailure details), and fault answers in that shape.

use std::borrow::Cow;
use std::num::NonZeroU32;

use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::StatusCode;
use serde_json::Value;

use crate::capture::{CaptureKind, DeviceRef};
use crate::fault::table::Answer;
use crate::reply::{response, Outcome};
use crate::state::Shared;

const FCM_ERROR: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";
const BAD_REQUEST: &str = "type.googleapis.com/google.rpc.BadRequest";
const QUOTA_FAILURE: &str = "type.googleapis.com/google.rpc.QuotaFailure";

/// A google.rpc.Status error as FCM returns it.
pub(super) struct GoogleError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: Cow<'static, str>,
    pub(super) fcm_error: Option<Cow<'static, str>>,
    pub(super) violations: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// Whether a google.rpc.QuotaFailure detail is added.
    pub(super) quota_failure: bool,
    /// Sent as `Retry-After`. Small fields keep the error (returned by
    /// value in `Result`s) compact.
    pub(super) retry_after_secs: Option<NonZeroU32>,
}

impl GoogleError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> GoogleError {
        GoogleError {
            status,
            code,
            message: message.into(),
            fcm_error: None,
            violations: Vec::new(),
            quota_failure: false,
            retry_after_secs: None,
        }
    }

    /// 400 INVALID_ARGUMENT with the FcmError detail and one field violation.
    pub(super) fn invalid_argument(
        message: impl Into<Cow<'static, str>>,
        field: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> GoogleError {
        let mut error = GoogleError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message);
        error.fcm_error = Some(Cow::Borrowed("INVALID_ARGUMENT"));
        error.violations.push((field.into(), description.into()));
        error
    }

    /// 400 for JSON that does not fit the API's schema: a BadRequest detail
    /// without FcmError, as Google's JSON transcoding answers.
    pub(super) fn invalid_json(field: &'static str, description: String) -> GoogleError {
        let mut error = GoogleError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            description.clone(),
        );
        error.violations.push((field.into(), description.into()));
        error
    }

    pub(super) fn unauthenticated(missing: bool) -> GoogleError {
        let message = if missing {
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie \
             or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project."
        } else {
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other \
             valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
        };
        GoogleError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    /// What the capture records: the FCM error code, else the status.
    fn reason(&self) -> String {
        self.fcm_error.as_deref().unwrap_or(self.code).to_owned()
    }

    pub(super) fn into_outcome(self, device: Option<DeviceRef>) -> Outcome {
        let mut details = Vec::new();
        if let Some(code) = &self.fcm_error {
            details.push(serde_json::json!({ "@type": FCM_ERROR, "errorCode": code }));
        }
        if self.quota_failure {
            details.push(serde_json::json!({
                "@type": QUOTA_FAILURE,
                "violations": [{ "subject": "messages", "description": "Message rate exceeded." }],
            }));
        }
        if !self.violations.is_empty() {
            let violations: Vec<Value> = self
                .violations
                .iter()
                .map(|(field, description)| serde_json::json!({ "field": field, "description": description }))
                .collect();
            details
                .push(serde_json::json!({ "@type": BAD_REQUEST, "fieldViolations": violations }));
        }
        let mut error = serde_json::json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "status": self.code,
        });
        if !details.is_empty() {
            error["details"] = Value::Array(details);
        }
        let body = serde_json::json!({ "error": error }).to_string();
        let mut headers = vec![(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        )];
        if self.status == StatusCode::UNAUTHORIZED {
            headers.push((
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
            ));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.push((RETRY_AFTER, HeaderValue::from(secs.get())));
        }
        let reason = self.reason();
        Outcome {
            kind: CaptureKind::Push,
            response: response(self.status, headers, body),
            reason: Some(reason),
            device,
        }
    }
}

/// A fault's answer in FCM's shape: google.rpc.Status with an FcmError
/// detail; a throttle adds a QuotaFailure detail and `Retry-After`.
pub(crate) fn fault_outcome(
    shared: &Shared,
    answer: &Answer,
    device: Option<DeviceRef>,
) -> Outcome {
    let error = match answer {
        Answer::Status {
            status,
            reason,
            retry_after_secs,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (code, fcm_error, message) = status_shape(status);
            let mut error = GoogleError::new(status, code, message);
            error.fcm_error = Some(
                reason
                    .as_deref()
                    .map_or(Cow::Borrowed(fcm_error), |r| Cow::Owned(r.to_owned())),
            );
            error.quota_failure = status == StatusCode::TOO_MANY_REQUESTS;
            error.retry_after_secs = retry_after_secs.and_then(retry_after);
            error
        }
        Answer::Throttled { retry_after_secs } => {
            let mut error = GoogleError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                format!(
                    "Quota exceeded for quota metric 'Send requests' of service \
                     'fcm.googleapis.com' for project '{}'.",
                    shared.config.fcm_project_id
                ),
            );
            error.fcm_error = Some(Cow::Borrowed("QUOTA_EXCEEDED"));
            error.quota_failure = true;
            error.retry_after_secs = retry_after(*retry_after_secs);
            error
        }
        Answer::Expired { .. } => {
            let mut error = GoogleError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Requested entity was not found.",
            );
            error.fcm_error = Some(Cow::Borrowed("UNREGISTERED"));
            error
        }
    };
    error.into_outcome(device)
}

/// A `Retry-After` value; 0 (retry at once) sends no header.
fn retry_after(secs: u64) -> Option<NonZeroU32> {
    NonZeroU32::new(u32::try_from(secs).unwrap_or(u32::MAX))
}

/// The canonical google.rpc code, the FcmError code and the message FCM
/// answers with a status.
fn status_shape(status: StatusCode) -> (&'static str, &'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
        ),
        401 => (
            "UNAUTHENTICATED",
            "THIRD_PARTY_AUTH_ERROR",
            "Auth error from APNS or Web Push Service",
        ),
        403 => (
            "PERMISSION_DENIED",
            "SENDER_ID_MISMATCH",
            "SenderId mismatch",
        ),
        404 => (
            "NOT_FOUND",
            "UNREGISTERED",
            "Requested entity was not found.",
        ),
        429 => ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded."),
        500 => ("INTERNAL", "INTERNAL", "Internal error encountered."),
        503 => (
            "UNAVAILABLE",
            "UNAVAILABLE",
            "The service is currently unavailable.",
        ),
        504 => ("DEADLINE_EXCEEDED", "UNAVAILABLE", "The request timed out."),
        _ if status.is_client_error() => (
            "FAILED_PRECONDITION",
            "UNSPECIFIED_ERROR",
            "Request failed.",
        ),
        _ => ("UNKNOWN", "UNSPECIFIED_ERROR", "Unknown error."),
    }
}
