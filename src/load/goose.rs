//! goose, embedded, as a second, closed-model mode beside the open model:
//! each goose user logs in, registers a device, then loops send → fetch
//! (waiting for its push, reading the id as the app does, fetching and
//! comparing the content) against the backend's HTTP/1.1 API, every
//! request rendered from the profile. goose is configured in code
//! ([`GooseConfiguration`] and [`GooseAttack::initialize_with_config`]),
//! never from pushproof's command line; it writes its own report and
//! judges its own thresholds.
//!
//! It runs on a runtime of its own whose threads are named `pp-goose-*`,
//! so its CPU time per request is measured apart from the open-model
//! driver's, in the same run and against the same target.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::goose::{
    GooseMethod, GooseRequest, GooseUser, Transaction, TransactionError, TransactionFunction,
    TransactionName,
};
use goose::prelude::{GooseAttack, GooseError, Scenario};
use pushproof_mocks::Platform;

use super::cpu::{self, Component};
use crate::client::Credential;
use crate::plane::{DeviceInbox, MockPlane};
use crate::profile::{read_pointer_in, PasswordRule, Profile, Rendered, Scheme, Template, Values};
use crate::report::load::{GooseSummary, GooseTransaction};

/// A goose run's parameters.
#[derive(Debug, Clone)]
pub struct Journeys {
    pub origin: String,
    pub users: usize,
    pub duration: Duration,
    /// goose's threshold rules (`p95<500ms`, `error-rate<1%`, …).
    pub thresholds: Vec<String>,
    /// goose's own HTML report, written here.
    pub report_file: Option<std::path::PathBuf>,
    pub platforms: Vec<Platform>,
    pub timeout: Duration,
    pub run_tag: String,
}

/// What every user shares.
struct Context {
    profile: Arc<Profile>,
    plane: MockPlane,
    platforms: Vec<Platform>,
    timeout: Duration,
    run_tag: String,
    next_user: AtomicU64,
}

/// One goose user's state.
#[derive(Clone)]
struct Session {
    user: String,
    credential: Credential,
    platform: Platform,
    inbox: Arc<DeviceInbox>,
    /// The last message sent, which the next fetch must read back.
    sent: Option<String>,
    sent_count: u64,
}

fn custom(message: impl Into<String>) -> Box<TransactionError> {
    Box::new(TransactionError::Custom(message.into()))
}

/// Sends `rendered` (with `credential`) through goose, named `name` in its
/// metrics; the status and body.
async fn send(
    user: &mut GooseUser,
    ctx: &Context,
    name: &str,
    rendered: Rendered,
    credential: Option<&Credential>,
) -> Result<(u16, Vec<u8>), Box<TransactionError>> {
    let method = match rendered.method.as_str() {
        "GET" => GooseMethod::Get,
        "POST" => GooseMethod::Post,
        "PUT" => GooseMethod::Put,
        "DELETE" => GooseMethod::Delete,
        "PATCH" => GooseMethod::Patch,
        other => return Err(custom(format!("goose cannot send {other}"))),
    };
    let mut builder = user.get_request_builder(&method, &rendered.target)?;
    if let Some(credential) = credential {
        let (header, value) = credential
            .header(&ctx.profile.auth)
            .map_err(|e| custom(e.to_string()))?;
        builder = builder.header(header, value);
    }
    if let Some(content_type) = rendered.content_type {
        builder = builder.header(http::header::CONTENT_TYPE, content_type);
    }
    builder = builder.body(rendered.body);
    let request = GooseRequest::builder()
        .name(name)
        .set_request_builder(builder)
        .build();
    let response = user.request(request).await?;
    let reply = response
        .response
        .map_err(|e| custom(format!("{name}: {e}")))?;
    let status = reply.status().as_u16();
    let body = reply
        .bytes()
        .await
        .map_err(|e| custom(format!("{name}: {e}")))?;
    Ok((status, body.to_vec()))
}

fn render(template: &Template, values: &Values) -> Result<Rendered, Box<TransactionError>> {
    template.render(values).map_err(|e| custom(e.to_string()))
}

/// Log in: create the user, sign in, register a fresh device.
async fn log_in(user: &mut GooseUser, ctx: &Context) -> Result<(), Box<TransactionError>> {
    let n = ctx.next_user.fetch_add(1, Ordering::Relaxed);
    let name = format!("pp-{}-g{n}", ctx.run_tag);
    let password = match ctx.profile.auth.password {
        PasswordRule::SameAsUser => name.clone(),
        PasswordRule::Generated => {
            use sha2::Digest;
            hex::encode(&sha2::Sha256::digest(format!("{}/{name}", ctx.run_tag).as_bytes())[..16])
        }
    };
    let values = Values {
        user: Some(name.clone()),
        password: Some(password.clone()),
        // Accounts go into the first declared tenant, as the harness's own.
        tenant: ctx.profile.tenants.first().cloned(),
        ..Values::default()
    };
    let requests = &ctx.profile.requests;
    if let Some(signup) = &requests.signup {
        send(
            user,
            ctx,
            "signup",
            render(&signup.template, &values)?,
            None,
        )
        .await?;
    }
    let credential = match &ctx.profile.auth.scheme {
        Scheme::Basic { .. } => Credential::Basic {
            user: name.clone(),
            password,
        },
        Scheme::Static { users, .. } => {
            let u = &users[(n as usize) % users.len().max(1)];
            Credential::Token(u.token.clone())
        }
        Scheme::Bearer { .. } => {
            let login = requests
                .login
                .as_ref()
                .ok_or_else(|| custom("the profile has no login"))?;
            let (status, body) =
                send(user, ctx, "login", render(&login.template, &values)?, None).await?;
            let pointer = login.answer.token.as_deref().unwrap_or("/token");
            let token = read_pointer_in(&body, pointer)
                .ok_or_else(|| custom(format!("login answered {status} without a token")))?;
            Credential::Token(token)
        }
    };
    let platform = ctx.platforms[(n as usize) % ctx.platforms.len()];
    let device = ctx
        .plane
        .register_device(platform)
        .await
        .map_err(|e| custom(e.to_string()))?;
    let inbox = Arc::new(
        ctx.plane
            .inbox(&device)
            .map_err(|e| custom(e.to_string()))?,
    );
    let mut values = Values {
        user: Some(name.clone()),
        handle: Some(device.handle.clone()),
        platform: ctx.profile.platform(platform).map(|p| p.name.clone()),
        tags: Some(Vec::new()),
        token: Some(credential.secret().to_owned()),
        ..Values::default()
    };
    let (_, body) = send(
        user,
        ctx,
        "register",
        render(&requests.register.template, &values)?,
        Some(&credential),
    )
    .await?;
    if let Some(update) = &requests.update_registration {
        values.registration = requests
            .register
            .answer
            .registration
            .as_deref()
            .and_then(|p| read_pointer_in(&body, p));
        send(
            user,
            ctx,
            "update registration",
            render(&update.template, &values)?,
            Some(&credential),
        )
        .await?;
    }
    user.set_session_data(Session {
        user: name,
        credential,
        platform,
        inbox,
        sent: None,
        sent_count: 0,
    });
    Ok(())
}

/// How long a user whose log-in failed waits before its next failure.
const NOT_LOGGED_IN_PAUSE: Duration = Duration::from_millis(200);

/// The user's session. Without one (its log-in failed) the error comes
/// after a pause: a transaction that fails without awaiting anything
/// never yields, and on goose's one-thread runtime its timer would never
/// end the run.
async fn session_of(user: &GooseUser) -> Result<Session, Box<TransactionError>> {
    match user.get_session_data::<Session>() {
        Some(session) => Ok(session.clone()),
        None => {
            tokio::time::sleep(NOT_LOGGED_IN_PAUSE).await;
            Err(custom("not logged in"))
        }
    }
}

/// Send: notify this user's own device of a fresh message.
async fn send_one(user: &mut GooseUser, ctx: &Context) -> Result<(), Box<TransactionError>> {
    let mut session = session_of(user).await?;
    session.sent_count += 1;
    let message = format!(
        "pushproof goose {} {} #{}",
        ctx.run_tag, session.user, session.sent_count
    );
    let values = Values {
        user: Some(session.user.clone()),
        recipient: Some(session.user.clone()),
        message: Some(message.clone()),
        platform: ctx
            .profile
            .platform(session.platform)
            .map(|p| p.name.clone()),
        token: Some(session.credential.secret().to_owned()),
        ..Values::default()
    };
    let rendered = render(&ctx.profile.requests.notify.template, &values)?;
    let credential = session.credential.clone();
    send(user, ctx, "send", rendered, Some(&credential)).await?;
    session.sent = Some(message);
    user.set_session_data(session);
    Ok(())
}

/// Fetch: wait for the push, read its id, fetch and compare the content.
async fn fetch_one(user: &mut GooseUser, ctx: &Context) -> Result<(), Box<TransactionError>> {
    let session = session_of(user).await?;
    let Some(expected) = session.sent.clone() else {
        return Ok(());
    };
    let delivery = session
        .inbox
        .recv_within(ctx.timeout)
        .await
        .ok_or_else(|| custom("no push within the timeout"))?;
    let id = ctx
        .profile
        .platform(delivery.platform)
        .and_then(|p| p.id.extract(&delivery.headers, &delivery.body))
        .ok_or_else(|| custom("a push without a readable id"))?;
    let values = Values {
        user: Some(session.user.clone()),
        id: Some(id),
        token: Some(session.credential.secret().to_owned()),
        ..Values::default()
    };
    let rendered = render(&ctx.profile.requests.fetch.template, &values)?;
    let (_, body) = send(user, ctx, "fetch", rendered, Some(&session.credential)).await?;
    let content = ctx
        .profile
        .requests
        .fetch
        .answer
        .payload
        .as_deref()
        .and_then(|p| read_pointer_in(&body, p));
    if content.as_deref() != Some(expected.as_str()) {
        return Err(custom("the fetched content is not what was sent"));
    }
    Ok(())
}

/// One step of a journey.
type Step = for<'a> fn(
    &'a mut GooseUser,
    &'a Context,
) -> super::api::BoxFuture<'a, Result<(), Box<TransactionError>>>;

fn transaction(ctx: &Arc<Context>, name: &str, step: Step) -> Transaction {
    let ctx = ctx.clone();
    let function: TransactionFunction = Arc::new(move |user| {
        let ctx = ctx.clone();
        Box::pin(async move { step(user, &ctx).await })
    });
    Transaction::new(function).set_name(name)
}

/// Runs the journeys to the end; goose's figures and its own CPU time.
/// Blocks a thread of its own for the duration (call from a blocking
/// task or a thread).
pub fn run(
    journeys: &Journeys,
    profile: Arc<Profile>,
    plane: MockPlane,
) -> Result<GooseSummary, String> {
    let ctx = Arc::new(Context {
        profile,
        plane,
        platforms: journeys.platforms.clone(),
        timeout: journeys.timeout,
        run_tag: journeys.run_tag.clone(),
        next_user: AtomicU64::new(0),
    });
    let scenario = Scenario::new("secure push")
        .register_transaction(
            transaction(&ctx, "log in", |u, c| Box::pin(log_in(u, c))).set_on_start(),
        )
        .register_transaction(
            transaction(&ctx, "send", |u, c| Box::pin(send_one(u, c))).set_sequence(1),
        )
        .register_transaction(
            transaction(&ctx, "fetch", |u, c| Box::pin(fetch_one(u, c))).set_sequence(2),
        );
    let mut config = GooseConfiguration::default();
    config.host = Some(journeys.origin.clone());
    config.users = Some(journeys.users.max(1));
    config.increase_rate = Some(format!("{}", journeys.users.max(1)));
    config.run_time = Some(format!("{}", journeys.duration.as_secs().max(1)));
    config.quiet = 1;
    config.no_print_metrics = true;
    config.no_telnet = true;
    // Log in and register count too, not only the loop after them.
    config.no_reset_metrics = true;
    config.no_error_summary = true;
    config.timeout = Some(format!("{}", journeys.timeout.as_secs().max(1)));
    config.threshold = journeys.thresholds.clone();
    config.no_threshold_abort = true;
    config.report_file = journeys
        .report_file
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(format!("{}-worker", cpu::GOOSE_PREFIX))
        .enable_all()
        .build()
        .map_err(|e| format!("goose's runtime: {e}"))?;
    let before = cpu::ThreadSample::now();
    // The attack's own future (its controller loop) runs on the thread
    // that blocks on it: that thread is goose's too, so it is named so.
    let attack = async move {
        GooseAttack::initialize_with_config(config)?
            .register_scenario(scenario)
            .execute()
            .await
    };
    let result = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(format!("{}-main", cpu::GOOSE_PREFIX))
            .spawn_scoped(scope, || runtime.block_on(attack))
            .map_err(|e| format!("goose's thread: {e}"))?
            .join()
            .map_err(|_| "goose panicked".to_owned())
    })?;
    // Read while its threads live: an ended thread's time is gone.
    let after = cpu::ThreadSample::now();
    runtime.shutdown_background();
    let goose_us = after.since(&before).get(&Component::Goose).copied();
    let (metrics, held) = match result {
        Ok(metrics) => (metrics, Some(true)),
        Err(GooseError::ThresholdsFailed { metrics, .. }) => (*metrics.0, Some(false)),
        Err(e) => return Err(format!("goose: {e}")),
    };
    let mut summary = GooseSummary {
        users: journeys.users as u64,
        duration_s: metrics.duration as f64,
        thresholds: journeys.thresholds.clone(),
        thresholds_held: if journeys.thresholds.is_empty() {
            None
        } else {
            held
        },
        report_files: journeys
            .report_file
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect(),
        ..GooseSummary::default()
    };
    for aggregate in metrics.requests.values() {
        summary.requests += (aggregate.success_count + aggregate.fail_count) as u64;
        summary.failures += aggregate.fail_count as u64;
    }
    for transaction in metrics.transactions.iter().flatten() {
        let times = &transaction.run_times;
        summary.transactions.push(GooseTransaction {
            name: match &transaction.transaction_name {
                TransactionName::InheritNameByRequests(n) | TransactionName::TransactionOnly(n) => {
                    n.to_string()
                }
            },
            requests: (transaction.success_count + transaction.fail_count) as u64,
            failures: transaction.fail_count as u64,
            p50_ms: times.percentile_us(0.5) as f64 / 1000.0,
            p99_ms: times.percentile_us(0.99) as f64 / 1000.0,
        });
    }
    summary.requests_per_sec = summary.requests as f64 / summary.duration_s.max(1.0);
    summary.cpu_us_per_request = goose_us
        .filter(|_| summary.requests > 0)
        .map(|us| us as f64 / summary.requests as f64);
    Ok(summary)
}
