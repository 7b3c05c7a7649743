//! A backend's API as its profile describes it: every request rendered from
//! the profile's templates, sent with the caller's credential, and its
//! answer read where the profile says. Each step that must succeed returns
//! a [`StepError`] that keeps the exchange, so a backend's refusal becomes
//! evidence in the report, never a harness error.

use std::sync::Arc;

use crate::client::{BackendClient, Credential, Exchange};
use crate::profile::{read_pointer, PasswordRule, Profile, Request, Scheme, Values};

/// A step of a journey that did not succeed: what it was, what was wrong,
/// and the exchange that shows it (none when the harness could not even
/// build the request).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{step}: {problem}")]
pub struct StepError {
    pub step: &'static str,
    pub problem: String,
    pub exchange: Option<Box<Exchange>>,
}

impl StepError {
    fn new(
        step: &'static str,
        problem: impl Into<String>,
        exchange: Option<Exchange>,
    ) -> StepError {
        StepError {
            step,
            problem: problem.into(),
            exchange: exchange.map(Box::new),
        }
    }
}

/// The profile and the client, together.
#[derive(Clone)]
pub struct Api {
    pub client: BackendClient,
    pub profile: Arc<Profile>,
}

impl Api {
    pub fn new(client: BackendClient, profile: Arc<Profile>) -> Api {
        Api { client, profile }
    }

    /// Sends `request` rendered with `values`; the exchange whatever came
    /// back. A value missing for a placeholder is an exchange that failed
    /// before sending.
    pub async fn call(
        &self,
        request: &Request,
        values: &Values,
        credential: Option<&Credential>,
    ) -> Exchange {
        match request.template.render(values) {
            Ok(rendered) => {
                self.client
                    .send(&rendered, &self.profile.auth, credential)
                    .await
            }
            Err(e) => Exchange {
                method: request.template.method.clone(),
                url: self.client.origin().to_owned(),
                request_headers: Vec::new(),
                request_body: bytes::Bytes::new(),
                outcome: Err(crate::client::ClientError::Request(e.to_string())),
                elapsed: std::time::Duration::ZERO,
            },
        }
    }

    /// Like [`Api::call`] for a step that must succeed (2xx or the
    /// request's `ok` statuses).
    pub async fn step(
        &self,
        step: &'static str,
        request: &Request,
        values: &Values,
        credential: Option<&Credential>,
    ) -> Result<Exchange, StepError> {
        let exchange = self.call(request, values, credential).await;
        match &exchange.outcome {
            Ok(reply) if request.template.succeeded(reply.status.as_u16()) => Ok(exchange),
            Ok(reply) => {
                let problem = format!("the backend answered {}", reply.status);
                Err(StepError::new(step, problem, Some(exchange)))
            }
            Err(e) => {
                let problem = e.to_string();
                Err(StepError::new(step, problem, Some(exchange)))
            }
        }
    }

    /// The password a simulated user gets under the profile's rule.
    pub fn password_for(&self, user: &str, seed: &str) -> String {
        match self.profile.auth.password {
            PasswordRule::SameAsUser => user.to_owned(),
            PasswordRule::Generated => {
                use sha2::Digest;
                hex::encode(&sha2::Sha256::digest(format!("{seed}/{user}").as_bytes())[..16])
            }
        }
    }

    /// Creates the user when the profile has a signup request (a no-op
    /// otherwise), in the first declared tenant.
    pub async fn create_user(&self, user: &str, password: &str) -> Result<(), StepError> {
        self.create_user_in(user, password, None).await
    }

    /// Creates the user in `tenant` (`None`: the first declared tenant).
    pub async fn create_user_in(
        &self,
        user: &str,
        password: &str,
        tenant: Option<&str>,
    ) -> Result<(), StepError> {
        if let Some(signup) = &self.profile.requests.signup {
            let values = self.account(user, password, tenant);
            self.step("signup", signup, &values, None).await?;
        }
        Ok(())
    }

    /// The values naming an account: user, password and tenant (`None`:
    /// the first declared tenant, if any).
    pub fn account(&self, user: &str, password: &str, tenant: Option<&str>) -> Values {
        Values {
            user: Some(user.to_owned()),
            password: Some(password.to_owned()),
            tenant: tenant
                .map(str::to_owned)
                .or_else(|| self.profile.tenants.first().cloned()),
            ..Values::default()
        }
    }

    /// A fresh credential for an existing user: a login token (bearer),
    /// the Basic pair, or a static user's token.
    pub async fn credential(&self, user: &str, password: &str) -> Result<Credential, StepError> {
        self.credential_in(user, password, None).await
    }

    /// [`Api::credential`] for an account of `tenant` (`None`: the first
    /// declared tenant).
    pub async fn credential_in(
        &self,
        user: &str,
        password: &str,
        tenant: Option<&str>,
    ) -> Result<Credential, StepError> {
        match &self.profile.auth.scheme {
            Scheme::Basic { .. } => Ok(Credential::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            }),
            Scheme::Static { users, .. } => users
                .iter()
                .find(|u| u.user == user)
                .map(|u| Credential::Token(u.token.clone()))
                .ok_or_else(|| {
                    StepError::new(
                        "sign in",
                        format!("no static user {user:?} in auth.users"),
                        None,
                    )
                }),
            Scheme::Bearer { .. } => {
                let login = self.profile.requests.login.as_ref().ok_or_else(|| {
                    StepError::new("login", "the profile has no login request", None)
                })?;
                let values = self.account(user, password, tenant);
                self.login(login, &values, "login").await
            }
        }
    }

    /// [`Api::create_user`], then [`Api::credential`].
    pub async fn sign_in(&self, user: &str, password: &str) -> Result<Credential, StepError> {
        self.create_user(user, password).await?;
        self.credential(user, password).await
    }

    /// Logs in with `request` (login or short_login) and reads the token.
    pub async fn login(
        &self,
        request: &Request,
        values: &Values,
        step: &'static str,
    ) -> Result<Credential, StepError> {
        self.login_exchange(request, values, step)
            .await
            .map(|(credential, _)| credential)
    }

    /// [`Api::login`], keeping the answer (for its other tokens, its
    /// `expires_in`).
    pub async fn login_exchange(
        &self,
        request: &Request,
        values: &Values,
        step: &'static str,
    ) -> Result<(Credential, Exchange), StepError> {
        let exchange = self.step(step, request, values, None).await?;
        let pointer = request.answer.token.as_deref().unwrap_or("/token");
        match exchange
            .json()
            .and_then(|answer| read_pointer(&answer, pointer))
        {
            Some(token) if !token.is_empty() => Ok((Credential::Token(token), exchange)),
            _ => Err(StepError::new(
                step,
                format!("the answer has no token at {pointer:?}"),
                Some(exchange),
            )),
        }
    }

    /// The user names a static scheme fixes, if it does.
    pub fn static_users(&self) -> Option<Vec<String>> {
        match &self.profile.auth.scheme {
            Scheme::Static { users, .. } => Some(users.iter().map(|u| u.user.clone()).collect()),
            _ => None,
        }
    }

    /// Reads `pointer` of a successful exchange's JSON answer.
    pub fn answer(exchange: &Exchange, pointer: &str) -> Option<String> {
        exchange
            .json()
            .and_then(|answer| read_pointer(&answer, pointer))
    }

    /// The content of a fetch answer, where the profile says it is.
    pub fn payload(&self, exchange: &Exchange) -> Option<String> {
        let pointer = self.profile.requests.fetch.answer.payload.as_deref()?;
        Api::answer(exchange, pointer)
    }
}
