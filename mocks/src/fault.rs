//! Faults as data: rules that make a gateway misbehave on purpose, per
//! device or per gateway — answer an error status in the platform's own
//! shape, add latency, throttle above a rate, drop the connection, or let a
//! device handle expire at a moment. The same serde types come from code,
//! from a TOML file ([`FaultPlan::load`]) and from JSON over the control
//! API; [`table`] applies them in the request path.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::devices::{device_key, DeviceHandle};
use crate::platform::Platform;

pub(crate) mod table;

/// Most rules that can be set at once, so that a peer of the control API
/// cannot grow the table (and the per-request scan) without bound.
pub const MAX_RULES: usize = 1024;
/// Longest latency a rule may add: a mock must never hold a request forever.
pub const MAX_DELAY_MS: u64 = 60_000;
/// Longest reason text (it travels in a WNS header).
const MAX_REASON_LEN: usize = 256;
/// Largest token rate: beyond it a bucket never empties anyway.
const MAX_RATE: f64 = 1e9;
/// Longest `Retry-After` a rule may announce (a day).
pub(crate) const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// What a rule does to the requests it matches.
///
/// In TOML and JSON the variant is the `kind` field, e.g.
/// `{ kind = "status", status = 503 }` or
/// `{ kind = "latency", distribution = "uniform", min_ms = 5, max_ms = 50 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer `status` with the platform's own error shape: APNs
    /// `{"reason"}`, FCM google.rpc.Status with an FcmError detail, WNS the
    /// status with `X-WNS-Error-Description`.
    Status {
        /// An HTTP status from 400 to 599.
        status: u16,
        /// The APNs reason, FCM `errorCode` or WNS error description; by
        /// default the platform's usual one for the status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Sent as `Retry-After`, 1..=86400 (FCM's UNAVAILABLE answers
        /// carry one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// Wait before answering; the answer itself is unchanged.
    Latency(Delay),
    /// A token bucket: `rate_per_sec` sustained, `burst` at once. A request
    /// finding it empty gets APNs 429 `TooManyRequests`, FCM 429
    /// `QUOTA_EXCEEDED` with `Retry-After`, or WNS 406 with
    /// `X-WNS-CONTINUE-AFTER`.
    Throttle {
        /// Tokens added per second.
        rate_per_sec: f64,
        /// Bucket size (default: the rate rounded up, at least 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        burst: Option<u32>,
        /// One bucket per device instead of one for the whole gateway, as
        /// the services limit each device token (APNs `TooManyRequests` is
        /// "too many requests to the same device token"). Pushes that name
        /// no device share one bucket.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        per_device: bool,
    },
    /// Close the connection without answering (HTTP/2: reset the stream).
    Drop,
    /// The device handle is dead from a moment on: APNs 410 `Unregistered`
    /// with its timestamp, FCM 404 `UNREGISTERED`, WNS 410.
    Expire {
        /// The moment, relative to when the rule is set (0: now). One of
        /// `after_ms` and `at_unix_ms` is required.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_ms: Option<u64>,
        /// The moment as milliseconds since the Unix epoch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_unix_ms: Option<u64>,
    },
}

/// How long a latency fault waits: fixed, uniform, or drawn from a
/// distribution with the rule's seeded generator. Draws are clamped to
/// `0..=MAX_DELAY_MS`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)]
pub enum Delay {
    /// Always `ms`.
    Fixed {
        /// Milliseconds.
        ms: u64,
    },
    /// Uniform in `min_ms..=max_ms`.
    Uniform {
        /// Smallest delay, milliseconds.
        min_ms: u64,
        /// Largest delay, milliseconds.
        max_ms: u64,
    },
    /// Normal with the given mean and standard deviation (negative draws
    /// become 0).
    Normal {
        /// Mean, milliseconds.
        mean_ms: f64,
        /// Standard deviation, milliseconds.
        std_dev_ms: f64,
    },
    /// Log-normal: `median_ms · e^(sigma·Z)`; the long tail of real networks.
    #[serde(rename = "lognormal", alias = "log_normal")]
    LogNormal {
        /// Median, milliseconds (> 0).
        median_ms: f64,
        /// Shape: the standard deviation of the underlying normal.
        sigma: f64,
    },
}

/// One rule: which requests it matches, what it does, and how often.
///
/// It matches pushes to `platform`'s gateway (token requests and the
/// control API are never faulted), only those addressed to `device` when
/// that is set. Device rules are consulted before gateway rules, each group
/// in the order set; latencies add up, and the first rule that answers
/// (status, throttle, drop, expire) decides the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The gateway whose pushes the rule matches.
    pub platform: Platform,
    /// Only pushes to this handle (an APNs token, an FCM registration
    /// token, a WNS channel URI); every push to the gateway when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// What happens.
    pub fault: Fault,
    /// The fraction of matching requests affected, drawn with `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Affect at most this many requests (the first ones), then stay inert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Seed of the rule's generator (probability, random latency). Without
    /// it the rule's id is used, so a run that sets the same rules in the
    /// same order draws the same values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl FaultRule {
    /// A rule for every push to `platform`'s gateway.
    pub fn gateway(platform: Platform, fault: Fault) -> FaultRule {
        FaultRule {
            platform,
            device: None,
            fault,
            probability: None,
            count: None,
            seed: None,
        }
    }

    /// A rule for the pushes addressed to one device.
    pub fn device(device: &DeviceHandle, fault: Fault) -> FaultRule {
        FaultRule {
            device: Some(device.handle.clone()),
            ..FaultRule::gateway(device.platform, fault)
        }
    }

    /// Affects only this fraction of the matching requests.
    pub fn with_probability(mut self, probability: f64) -> FaultRule {
        self.probability = Some(probability);
        self
    }

    /// Affects only the first `count` matching requests.
    pub fn with_count(mut self, count: u64) -> FaultRule {
        self.count = Some(count);
        self
    }

    /// Seeds the rule's generator.
    pub fn with_seed(mut self, seed: u64) -> FaultRule {
        self.seed = Some(seed);
        self
    }

    /// Checks the rule's values; returns the device registry key it
    /// targets, if any.
    pub(crate) fn validate(&self) -> Result<Option<String>, FaultError> {
        let invalid = |message: String| Err(FaultError::Invalid(message));
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return invalid(format!("probability {p} is not within 0..=1"));
            }
        }
        match &self.fault {
            Fault::Status {
                status,
                reason,
                retry_after_secs,
            } => {
                if !(400..=599).contains(status) {
                    return invalid(format!("status {status} is not an error (400..=599)"));
                }
                if retry_after_secs.is_some_and(|s| !(1..=MAX_RETRY_AFTER_SECS).contains(&s)) {
                    return invalid(format!(
                        "retry_after_secs must be 1..={MAX_RETRY_AFTER_SECS}"
                    ));
                }
                if let Some(reason) = reason {
                    let printable = reason.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
                    if reason.is_empty() || reason.len() > MAX_REASON_LEN || !printable {
                        return invalid(format!(
                            "reason must be 1..={MAX_REASON_LEN} printable ASCII characters"
                        ));
                    }
                }
            }
            Fault::Latency(delay) => delay.validate()?,
            Fault::Throttle {
                rate_per_sec,
                burst,
                ..
            } => {
                if !(rate_per_sec.is_finite() && *rate_per_sec > 0.0 && *rate_per_sec <= MAX_RATE) {
                    return invalid(format!(
                        "rate_per_sec {rate_per_sec} is not within (0, 1e9]"
                    ));
                }
                if *burst == Some(0) {
                    return invalid("burst must be at least 1".to_owned());
                }
            }
            Fault::Drop => {}
            Fault::Expire {
                after_ms,
                at_unix_ms,
            } => {
                match (after_ms, at_unix_ms) {
                    (Some(_), Some(_)) => {
                        return invalid("expire takes after_ms or at_unix_ms, not both".to_owned())
                    }
                    (None, None) => {
                        // Without a moment the rule would have to guess one.
                        return invalid(
                            "expire needs after_ms (0 for now) or at_unix_ms".to_owned(),
                        );
                    }
                    _ => {}
                }
            }
        }
        match &self.device {
            None => Ok(None),
            Some(handle) => device_key(self.platform, handle).map(Some).ok_or_else(|| {
                FaultError::Invalid(format!(
                    "{handle:?} is not a {} device handle",
                    self.platform
                ))
            }),
        }
    }
}

impl Delay {
    fn validate(&self) -> Result<(), FaultError> {
        let ok = match *self {
            Delay::Fixed { ms } => ms <= MAX_DELAY_MS,
            Delay::Uniform { min_ms, max_ms } => min_ms <= max_ms && max_ms <= MAX_DELAY_MS,
            Delay::Normal {
                mean_ms,
                std_dev_ms,
            } => mean_ms.is_finite() && std_dev_ms.is_finite() && std_dev_ms >= 0.0,
            Delay::LogNormal { median_ms, sigma } => {
                median_ms.is_finite() && median_ms > 0.0 && sigma.is_finite() && sigma >= 0.0
            }
        };
        if ok {
            Ok(())
        } else {
            Err(FaultError::Invalid(format!(
                "latency {self:?} is not a valid delay (at most {MAX_DELAY_MS} ms, min <= max, \
                 finite non-negative spreads, positive median)"
            )))
        }
    }
}

/// A set of rules, as a scenario file holds them:
///
/// ```toml
/// [[rule]]
/// platform = "fcm"
/// fault = { kind = "throttle", rate_per_sec = 50.0, burst = 10 }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// The rules, in the order they are set.
    #[serde(default, rename = "rule")]
    pub rules: Vec<FaultRule>,
}

impl FaultPlan {
    /// Reads and validates a TOML fault plan.
    pub fn load(path: &Path) -> Result<FaultPlan, FaultError> {
        let text = std::fs::read_to_string(path).map_err(|source| FaultError::Read {
            path: path.to_owned(),
            source,
        })?;
        let plan: FaultPlan = toml::from_str(&text).map_err(|source| FaultError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        plan.validate()?;
        Ok(plan)
    }

    /// Checks every rule and the rule count.
    pub fn validate(&self) -> Result<(), FaultError> {
        if self.rules.len() > MAX_RULES {
            return Err(FaultError::TooManyRules { limit: MAX_RULES });
        }
        for (index, rule) in self.rules.iter().enumerate() {
            rule.validate().map_err(|e| match e {
                FaultError::Invalid(message) => {
                    FaultError::Invalid(format!("rule {}: {message}", index + 1))
                }
                other => other,
            })?;
        }
        Ok(())
    }
}

/// A rule as set on running gateways, with what it has done so far.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActiveFault {
    /// The id [`crate::Gateways::set_fault`] returned.
    pub id: u64,
    /// Requests the rule has affected.
    pub applied: u64,
    /// Requests it may still affect, when it has a `count`.
    pub remaining: Option<u64>,
    /// The rule as set.
    #[serde(flatten)]
    pub rule: FaultRule,
}

/// Why a fault rule or plan was refused.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The plan file could not be read.
    #[error("reading fault plan {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The plan file is not valid TOML for a [`FaultPlan`].
    #[error("parsing fault plan {}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said (boxed: it is large).
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A rule's values are out of range.
    #[error("invalid fault rule: {0}")]
    Invalid(String),
    /// Setting the rules would exceed [`MAX_RULES`].
    #[error("too many fault rules (at most {limit})")]
    TooManyRules {
        /// The limit.
        limit: usize,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_kind_round_trips_through_json_and_toml() {
        let faults = [
            Fault::Status {
                status: 503,
                reason: None,
                retry_after_secs: Some(3),
            },
            Fault::Latency(Delay::Fixed { ms: 5 }),
            Fault::Latency(Delay::LogNormal {
                median_ms: 10.0,
                sigma: 0.5,
            }),
            Fault::Throttle {
                rate_per_sec: 2.5,
                burst: Some(3),
                per_device: false,
            },
            Fault::Throttle {
                rate_per_sec: 1.0,
                burst: None,
                per_device: true,
            },
            Fault::Drop,
            Fault::Expire {
                after_ms: Some(10),
                at_unix_ms: None,
            },
        ];
        for fault in faults {
            let rule = FaultRule::gateway(Platform::Fcm, fault)
                .with_count(2)
                .with_probability(0.5);
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(serde_json::from_str::<FaultRule>(&json).unwrap(), rule);
            let plan = FaultPlan {
                rules: vec![rule.clone()],
            };
            let text = toml::to_string(&plan).unwrap();
            assert_eq!(toml::from_str::<FaultPlan>(&text).unwrap(), plan, "{text}");
        }
    }

    #[test]
    fn latency_fields_sit_beside_the_kind() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"platform":"apns","fault":{"kind":"latency","distribution":"uniform","min_ms":1,"max_ms":2}}"#,
        )
        .unwrap();
        assert_eq!(
            rule.fault,
            Fault::Latency(Delay::Uniform {
                min_ms: 1,
                max_ms: 2
            })
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        for json in [
            r#"{"platform":"apns","fault":{"kind":"drop"},"typo":1}"#,
            r#"{"platform":"apns","fault":{"kind":"status","status":500,"reasn":"x"}}"#,
            r#"{"platform":"apns","fault":{"kind":"explode"}}"#,
            r#"{"platform":"apns","fault":{"kind":"latency","distribution":"fixed","ms":1,"x":2}}"#,
        ] {
            assert!(serde_json::from_str::<FaultRule>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn out_of_range_values_are_invalid() {
        let bad = [
            FaultRule::gateway(Platform::Apns, Fault::Drop).with_probability(1.5),
            FaultRule::gateway(
                Platform::Apns,
                Fault::Status {
                    status: 200,
                    reason: None,
                    retry_after_secs: None,
                },
            ),
            FaultRule::gateway(
                Platform::Wns,
                Fault::Status {
                    status: 500,
                    reason: Some("line\nbreak".into()),
                    retry_after_secs: None,
                },
            ),
            FaultRule::gateway(Platform::Apns, Fault::Latency(Delay::Fixed { ms: 60_001 })),
            FaultRule::gateway(
                Platform::Fcm,
                Fault::Status {
                    status: 503,
                    reason: None,
                    retry_after_secs: Some(0),
                },
            ),
            FaultRule::gateway(
                Platform::Apns,
                Fault::Latency(Delay::Uniform {
                    min_ms: 5,
                    max_ms: 1,
                }),
            ),
            FaultRule::gateway(
                Platform::Apns,
                Fault::Throttle {
                    rate_per_sec: f64::NAN,
                    burst: None,
                    per_device: false,
                },
            ),
            FaultRule::gateway(
                Platform::Apns,
                Fault::Expire {
                    after_ms: Some(1),
                    at_unix_ms: Some(1),
                },
            ),
            FaultRule::gateway(
                Platform::Apns,
                Fault::Expire {
                    after_ms: None,
                    at_unix_ms: None,
                },
            ),
            FaultRule {
                device: Some("http://x/?nothing=1".into()),
                ..FaultRule::gateway(Platform::Wns, Fault::Drop)
            },
        ];
        for rule in bad {
            assert!(
                matches!(rule.validate(), Err(FaultError::Invalid(_))),
                "{rule:?}"
            );
        }
    }

    #[test]
    fn plan_errors_name_the_rule() {
        let plan: FaultPlan = toml::from_str(
            "[[rule]]\nplatform = \"fcm\"\nfault = { kind = \"drop\" }\n\
             [[rule]]\nplatform = \"fcm\"\nprobability = 2.0\nfault = { kind = \"drop\" }\n",
        )
        .unwrap();
        let error = plan.validate().unwrap_err().to_string();
        assert!(error.contains("rule 2"), "{error}");
    }
}
