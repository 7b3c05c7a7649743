//! The fault rules set on running gateways, and the decision they make for
//! one request: how long to wait and whether to answer in the gateway's
//! place. Checking a gateway with no rule is one atomic load, because the
//! mocks are benchmarked and faults are the exception.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, LogNormal, Normal};
use tokio::time::Instant;

use super::{
    ActiveFault, Delay, Fault, FaultError, FaultRule, MAX_DELAY_MS, MAX_RETRY_AFTER_SECS, MAX_RULES,
};
use crate::platform::Platform;

/// An answer a fault gives in the gateway's place, in the platform's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// This status, with this reason (or the platform's usual one).
    Status {
        status: u16,
        reason: Option<Arc<str>>,
        retry_after_secs: Option<u64>,
    },
    /// The throttle's bucket is empty; retry after this many seconds.
    Throttled { retry_after_secs: u64 },
    /// The device handle died at this moment.
    Expired { at_unix_ms: u64 },
}

/// What the gateway does instead of its own answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Answer in the platform's shape.
    Answer(Answer),
    /// Close without answering.
    Drop,
}

/// The faults' verdict on one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Wait this long before answering.
    pub(crate) delay: Duration,
    /// Answer this way instead of the gateway's own answer.
    pub(crate) action: Option<Action>,
}

/// A rule compiled for the request path.
enum Effect {
    Answer(Action),
    Latency(Sampler),
    Throttle {
        rate: f64,
        capacity: f64,
        per_device: bool,
    },
    Expire {
        at: SystemTime,
        at_unix_ms: u64,
    },
}

/// A latency distribution, built once.
enum Sampler {
    Fixed(u64),
    Uniform(u64, u64),
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
}

impl Sampler {
    fn new(delay: &Delay) -> Result<Sampler, FaultError> {
        let invalid = |e: rand_distr::NormalError| FaultError::Invalid(e.to_string());
        Ok(match *delay {
            Delay::Fixed { ms } => Sampler::Fixed(ms),
            Delay::Uniform { min_ms, max_ms } => Sampler::Uniform(min_ms, max_ms),
            Delay::Normal {
                mean_ms,
                std_dev_ms,
            } => Sampler::Normal(Normal::new(mean_ms, std_dev_ms).map_err(invalid)?),
            Delay::LogNormal { median_ms, sigma } => {
                Sampler::LogNormal(LogNormal::new(median_ms.ln(), sigma).map_err(invalid)?)
            }
        })
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        let ms = match self {
            Sampler::Fixed(ms) => *ms as f64,
            Sampler::Uniform(min, max) => rng.gen_range(*min..=*max) as f64,
            Sampler::Normal(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
        };
        // Clamp: a normal draw can be negative, a log-normal one huge.
        let ms = if ms.is_finite() { ms } else { 0.0 };
        Duration::from_secs_f64(ms.clamp(0.0, MAX_DELAY_MS as f64) / 1000.0)
    }
}

/// Device buckets a per-device throttle keeps at most. Beyond it, buckets
/// that have refilled (the same as a fresh one) are forgotten, and if that
/// is not enough, all of them: memory stays bounded whatever the handles.
const MAX_DEVICE_BUCKETS: usize = 100_000;

/// `key`'s bucket in `buckets`, a full one for a device not seen yet (after
/// making room, see [`MAX_DEVICE_BUCKETS`]).
fn device_bucket<'a>(
    buckets: &'a mut HashMap<String, Bucket>,
    key: &str,
    clock: Instant,
    rate: f64,
    capacity: f64,
) -> Option<&'a mut Bucket> {
    // Looked up before inserting: the key is copied only for a new device.
    if !buckets.contains_key(key) {
        if buckets.len() >= MAX_DEVICE_BUCKETS {
            buckets.retain(|_, bucket| !bucket.refilled_by(clock, rate, capacity));
            if buckets.len() >= MAX_DEVICE_BUCKETS {
                buckets.clear();
            }
        }
        buckets.insert(key.to_owned(), Bucket::full(capacity, clock));
    }
    buckets.get_mut(key)
}

/// What changes as a rule is applied.
struct State {
    rng: ChaCha8Rng,
    remaining: Option<u64>,
    /// The throttle's bucket (shared by pushes naming no device when the
    /// throttle is per device).
    bucket: Bucket,
    /// A per-device throttle's buckets, by device key.
    devices: HashMap<String, Bucket>,
}

/// A token bucket: tokens, and when they were last topped up.
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn full(capacity: f64, clock: Instant) -> Bucket {
        Bucket {
            tokens: capacity,
            refilled: clock,
        }
    }

    /// Tops the bucket up to `clock` and takes a token: `None` when there
    /// was one, else the seconds until there will be.
    fn take(&mut self, clock: Instant, rate: f64, capacity: f64) -> Option<u64> {
        let elapsed = clock.saturating_duration_since(self.refilled);
        self.refilled = clock;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * rate).min(capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return None;
        }
        let wait = ((1.0 - self.tokens) / rate).ceil();
        Some((wait as u64).clamp(1, MAX_RETRY_AFTER_SECS))
    }

    /// Whether the bucket would be full at `clock`.
    fn refilled_by(&self, clock: Instant, rate: f64, capacity: f64) -> bool {
        let elapsed = clock.saturating_duration_since(self.refilled);
        self.tokens + elapsed.as_secs_f64() * rate >= capacity
    }
}

struct Rule {
    id: u64,
    rule: FaultRule,
    effect: Effect,
    state: Mutex<State>,
    applied: AtomicU64,
}

impl Rule {
    fn compile(id: u64, rule: FaultRule, now: SystemTime) -> Result<Rule, FaultError> {
        let effect = match &rule.fault {
            Fault::Status {
                status,
                reason,
                retry_after_secs,
            } => Effect::Answer(Action::Answer(Answer::Status {
                status: *status,
                reason: reason.as_deref().map(Arc::from),
                retry_after_secs: *retry_after_secs,
            })),
            Fault::Drop => Effect::Answer(Action::Drop),
            Fault::Latency(delay) => Effect::Latency(Sampler::new(delay)?),
            Fault::Throttle {
                rate_per_sec,
                burst,
                per_device,
            } => Effect::Throttle {
                rate: *rate_per_sec,
                capacity: burst.map_or(rate_per_sec.ceil().max(1.0), f64::from),
                per_device: *per_device,
            },
            Fault::Expire {
                after_ms,
                at_unix_ms,
            } => {
                let at = match at_unix_ms {
                    Some(ms) => UNIX_EPOCH + Duration::from_millis(*ms),
                    None => now + Duration::from_millis(after_ms.unwrap_or(0)),
                };
                let at_unix_ms = at
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                Effect::Expire { at, at_unix_ms }
            }
        };
        let capacity = match effect {
            Effect::Throttle { capacity, .. } => capacity,
            _ => 0.0,
        };
        let state = State {
            rng: ChaCha8Rng::seed_from_u64(rule.seed.unwrap_or(id)),
            remaining: rule.count,
            bucket: Bucket::full(capacity, Instant::now()),
            devices: HashMap::new(),
        };
        Ok(Rule {
            id,
            rule,
            effect,
            state: Mutex::new(state),
            applied: AtomicU64::new(0),
        })
    }

    /// What the rule does to one matching request, if anything: first
    /// whether it would take effect (an expiry's moment has come, a
    /// throttle's bucket is empty), then its count, then its probability.
    fn apply(&self, now: SystemTime, clock: Instant, device: Option<&str>) -> Option<Applied> {
        if let Effect::Expire { at, .. } = self.effect {
            if now < at {
                return None;
            }
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let throttled = match self.effect {
            Effect::Throttle {
                rate,
                capacity,
                per_device,
            } => {
                let state = &mut *state;
                let bucket = device
                    .filter(|_| per_device)
                    .and_then(|key| device_bucket(&mut state.devices, key, clock, rate, capacity))
                    .unwrap_or(&mut state.bucket);
                Some(bucket.take(clock, rate, capacity)?)
            }
            _ => None,
        };
        if state.remaining == Some(0) {
            return None;
        }
        if let Some(p) = self.rule.probability {
            if !state.rng.gen_bool(p) {
                return None;
            }
        }
        if let Some(n) = state.remaining.as_mut() {
            *n -= 1;
        }
        self.applied.fetch_add(1, Ordering::Relaxed);
        Some(match &self.effect {
            Effect::Answer(action) => Applied::Act(action.clone()),
            Effect::Latency(sampler) => Applied::Wait(sampler.sample(&mut state.rng)),
            Effect::Throttle { .. } => Applied::Act(Action::Answer(Answer::Throttled {
                retry_after_secs: throttled.unwrap_or(1),
            })),
            Effect::Expire { at_unix_ms, .. } => Applied::Act(Action::Answer(Answer::Expired {
                at_unix_ms: *at_unix_ms,
            })),
        })
    }

    fn view(&self) -> ActiveFault {
        let remaining = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remaining;
        ActiveFault {
            id: self.id,
            applied: self.applied.load(Ordering::Relaxed),
            remaining,
            rule: self.rule.clone(),
        }
    }
}

enum Applied {
    Wait(Duration),
    Act(Action),
}

/// One gateway's rules.
#[derive(Default)]
struct GatewayRules {
    gateway: Vec<Arc<Rule>>,
    devices: HashMap<String, Vec<Arc<Rule>>>,
}

#[derive(Default)]
struct Rules {
    /// Every rule in the order set, for listing.
    all: Vec<Arc<Rule>>,
    by_platform: [GatewayRules; 3],
}

/// The fault rules of running gateways.
#[derive(Default)]
pub(crate) struct FaultTable {
    /// Rules per gateway: zero means the request path skips the table.
    active: [AtomicUsize; 3],
    rules: RwLock<Rules>,
    next_id: AtomicU64,
}

impl FaultTable {
    /// Whether any rule is set for `platform`: the request path's fast path.
    #[inline]
    pub(crate) fn any(&self, platform: Platform) -> bool {
        self.active[platform.index()].load(Ordering::Relaxed) != 0
    }

    /// Validates and adds rules, all or none; returns their ids.
    pub(crate) fn add(
        &self,
        rules: impl IntoIterator<Item = FaultRule>,
    ) -> Result<Vec<u64>, FaultError> {
        let now = SystemTime::now();
        let mut compiled = Vec::new();
        for rule in rules {
            if compiled.len() >= MAX_RULES {
                return Err(FaultError::TooManyRules { limit: MAX_RULES });
            }
            let key = rule.validate()?;
            let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
            compiled.push((key, Arc::new(Rule::compile(id, rule, now)?)));
        }
        let mut table = self.write();
        if table.all.len() + compiled.len() > MAX_RULES {
            return Err(FaultError::TooManyRules { limit: MAX_RULES });
        }
        let mut ids = Vec::with_capacity(compiled.len());
        for (key, rule) in compiled {
            let platform = rule.rule.platform;
            let gateway = &mut table.by_platform[platform.index()];
            match key {
                Some(key) => gateway.devices.entry(key).or_default().push(rule.clone()),
                None => gateway.gateway.push(rule.clone()),
            }
            ids.push(rule.id);
            table.all.push(rule);
            self.active[platform.index()].fetch_add(1, Ordering::Relaxed);
        }
        Ok(ids)
    }

    /// Removes one rule; whether it was set.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut table = self.write();
        let Some(index) = table.all.iter().position(|r| r.id == id) else {
            return false;
        };
        let rule = table.all.remove(index);
        let platform = rule.rule.platform;
        let gateway = &mut table.by_platform[platform.index()];
        gateway.gateway.retain(|r| r.id != id);
        gateway.devices.retain(|_, rules| {
            rules.retain(|r| r.id != id);
            !rules.is_empty()
        });
        self.active[platform.index()].fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Removes every rule.
    pub(crate) fn clear(&self) {
        let mut table = self.write();
        *table = Rules::default();
        for active in &self.active {
            active.store(0, Ordering::Relaxed);
        }
    }

    /// The rules set, in the order set.
    pub(crate) fn list(&self) -> Vec<ActiveFault> {
        let table = self.rules.read().unwrap_or_else(|e| e.into_inner());
        table.all.iter().map(|r| r.view()).collect()
    }

    /// The decision for one push to `platform` addressed to the device with
    /// registry key `device` (if the request names one).
    pub(crate) fn decide(&self, platform: Platform, device: Option<&str>) -> Decision {
        let table = self.rules.read().unwrap_or_else(|e| e.into_inner());
        let gateway = &table.by_platform[platform.index()];
        let device_rules = device.and_then(|key| gateway.devices.get(key));
        let (now, clock) = (SystemTime::now(), Instant::now());
        let mut decision = Decision::default();
        for rule in device_rules.into_iter().flatten().chain(&gateway.gateway) {
            match rule.apply(now, clock, device) {
                None => {}
                Some(Applied::Wait(delay)) => decision.delay += delay,
                Some(Applied::Act(action)) => {
                    decision.action = Some(action);
                    break;
                }
            }
        }
        decision.delay = decision.delay.min(Duration::from_millis(MAX_DELAY_MS));
        decision
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rules> {
        // Mutations keep the table consistent at every step: a poisoned
        // lock still guards a usable table.
        self.rules.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn status(code: u16) -> Fault {
        Fault::Status {
            status: code,
            reason: None,
            retry_after_secs: None,
        }
    }

    const APNS_TOKEN: &str = "00aa";

    #[test]
    fn no_rule_means_no_decision_and_a_closed_fast_path() {
        let table = FaultTable::default();
        assert!(!table.any(Platform::Apns));
        assert_eq!(table.decide(Platform::Apns, None), Decision::default());
        let id = table
            .add([FaultRule::gateway(Platform::Fcm, Fault::Drop)])
            .unwrap()[0];
        assert!(table.any(Platform::Fcm) && !table.any(Platform::Apns));
        assert!(table.remove(id));
        assert!(!table.any(Platform::Fcm));
        assert!(!table.remove(id));
    }

    #[test]
    fn device_rules_come_before_gateway_rules_and_latencies_add_up() {
        let table = FaultTable::default();
        let device = FaultRule {
            device: Some(APNS_TOKEN.to_uppercase()),
            ..FaultRule::gateway(Platform::Apns, status(410))
        };
        table
            .add([
                FaultRule::gateway(Platform::Apns, Fault::Latency(Delay::Fixed { ms: 3 })),
                FaultRule::gateway(Platform::Apns, status(503)),
                device,
                FaultRule {
                    device: Some(APNS_TOKEN.into()),
                    ..FaultRule::gateway(Platform::Apns, Fault::Latency(Delay::Fixed { ms: 2 }))
                },
            ])
            .unwrap();
        let d = table.decide(Platform::Apns, Some(APNS_TOKEN));
        assert_eq!(d.delay, Duration::ZERO, "the device's 410 answers first");
        assert!(matches!(
            d.action,
            Some(Action::Answer(Answer::Status { status: 410, .. }))
        ));
        let other = table.decide(Platform::Apns, Some("bb"));
        assert_eq!(other.delay, Duration::from_millis(3));
        assert!(matches!(
            other.action,
            Some(Action::Answer(Answer::Status { status: 503, .. }))
        ));
    }

    #[test]
    fn count_limits_the_requests_affected() {
        let table = FaultTable::default();
        table
            .add([FaultRule::gateway(Platform::Wns, Fault::Drop).with_count(2)])
            .unwrap();
        let hits = (0..5)
            .filter(|_| table.decide(Platform::Wns, None).action.is_some())
            .count();
        assert_eq!(hits, 2);
        let listed = table.list();
        assert_eq!((listed[0].applied, listed[0].remaining), (2, Some(0)));
    }

    #[test]
    fn probability_is_seeded_and_roughly_right() {
        let run = || {
            let table = FaultTable::default();
            table
                .add([FaultRule::gateway(Platform::Fcm, Fault::Drop)
                    .with_probability(0.25)
                    .with_seed(7)])
                .unwrap();
            (0..4000)
                .map(|_| table.decide(Platform::Fcm, None).action.is_some())
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run(), "the same seed draws the same requests");
        let hits = first.iter().filter(|h| **h).count();
        assert!((800..1200).contains(&hits), "{hits} of 4000");
    }

    #[test]
    fn expiry_waits_for_its_moment() {
        let table = FaultTable::default();
        table
            .add([FaultRule::gateway(
                Platform::Apns,
                Fault::Expire {
                    after_ms: Some(3_600_000),
                    at_unix_ms: None,
                },
            )])
            .unwrap();
        assert_eq!(table.decide(Platform::Apns, None).action, None);
        table.clear();
        table
            .add([FaultRule::gateway(
                Platform::Apns,
                Fault::Expire {
                    after_ms: None,
                    at_unix_ms: Some(1_000),
                },
            )])
            .unwrap();
        assert_eq!(
            table.decide(Platform::Apns, None).action,
            Some(Action::Answer(Answer::Expired { at_unix_ms: 1_000 }))
        );
    }

    #[test]
    fn throttle_lets_a_burst_through_then_answers_with_a_wait() {
        let table = FaultTable::default();
        table
            .add([FaultRule::gateway(
                Platform::Fcm,
                Fault::Throttle {
                    rate_per_sec: 0.5,
                    burst: Some(2),
                    per_device: false,
                },
            )])
            .unwrap();
        let actions: Vec<_> = (0..3)
            .map(|_| table.decide(Platform::Fcm, None).action)
            .collect();
        assert_eq!(actions[..2], [None, None]);
        // Refilling one token at 0.5/s takes (nearly) 2 s.
        assert_eq!(
            actions[2],
            Some(Action::Answer(Answer::Throttled {
                retry_after_secs: 2
            }))
        );
    }

    #[test]
    fn a_per_device_throttle_keeps_a_bucket_for_each_device() {
        let table = FaultTable::default();
        table
            .add([FaultRule::gateway(
                Platform::Apns,
                Fault::Throttle {
                    rate_per_sec: 0.5,
                    burst: Some(1),
                    per_device: true,
                },
            )])
            .unwrap();
        let throttled =
            |device: Option<&str>| table.decide(Platform::Apns, device).action.is_some();
        assert!(!throttled(Some("aa")));
        assert!(throttled(Some("aa")), "aa's one token is spent");
        assert!(!throttled(Some("bb")), "bb has a bucket of its own");
        assert!(!throttled(None), "no device: the shared bucket");
        assert!(throttled(None));
    }

    #[test]
    fn device_buckets_stay_bounded() {
        let clock = Instant::now();
        let spent = |buckets: &mut HashMap<String, Bucket>, at: Instant| {
            for n in 0..MAX_DEVICE_BUCKETS {
                let bucket = device_bucket(buckets, &n.to_string(), at, 1.0, 1.0).unwrap();
                assert_eq!(bucket.take(at, 1.0, 1.0), None);
            }
            assert_eq!(buckets.len(), MAX_DEVICE_BUCKETS);
        };
        let mut buckets = HashMap::new();
        spent(&mut buckets, clock);
        // Two seconds on, every bucket has refilled: all are forgotten.
        device_bucket(
            &mut buckets,
            "new",
            clock + Duration::from_secs(2),
            1.0,
            1.0,
        )
        .unwrap();
        assert_eq!(buckets.len(), 1);
        // None refilled yet: all are forgotten anyway, to stay bounded.
        let mut buckets = HashMap::new();
        spent(&mut buckets, clock);
        device_bucket(&mut buckets, "new", clock, 1.0, 1.0).unwrap();
        assert_eq!(buckets.len(), 1);
    }

    #[test]
    fn random_latencies_stay_within_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let normal = Sampler::new(&Delay::Normal {
            mean_ms: 0.0,
            std_dev_ms: 1e9,
        })
        .unwrap();
        let uniform = Sampler::new(&Delay::Uniform {
            min_ms: 4,
            max_ms: 6,
        })
        .unwrap();
        for _ in 0..1000 {
            assert!(normal.sample(&mut rng) <= Duration::from_millis(MAX_DELAY_MS));
            let d = uniform.sample(&mut rng);
            assert!((Duration::from_millis(4)..=Duration::from_millis(6)).contains(&d));
        }
    }

    #[test]
    fn rule_count_is_capped() {
        let table = FaultTable::default();
        let rules = (0..=MAX_RULES).map(|_| FaultRule::gateway(Platform::Fcm, Fault::Drop));
        assert!(matches!(
            table.add(rules),
            Err(FaultError::TooManyRules { .. })
        ));
        assert!(table.list().is_empty(), "all or none");
    }
}
