//! User accounts on the backend under test, as the profile describes them:
//! sign up and log in for bearer-token backends, or Basic credentials.

use http::{Method, StatusCode};
use serde_json::json;

use super::client::{BackendClient, Credential, StepError};
use crate::profile::{Auth, BasicPassword, Profile};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Step(#[from] StepError),
    #[error("login: the answer has no string field {0:?}")]
    NoToken(String),
}

/// Creates the user if the profile has a signup endpoint, then logs in.
pub async fn sign_in(
    client: &BackendClient,
    profile: &Profile,
    user: &str,
    password: &str,
) -> Result<Credential, AccountError> {
    match &profile.auth {
        Auth::Basic {
            password: BasicPassword::SameAsUser,
        } => Ok(Credential::Basic {
            user: user.to_owned(),
            password: user.to_owned(),
        }),
        Auth::Bearer {
            signup,
            login,
            token_field,
            ..
        } => {
            let body = json!({ "username": user, "password": password });
            if let Some(signup) = signup {
                // 409: the user exists from an earlier run against a
                // persistent backend; login below decides if that is fine.
                let conflict = [StatusCode::CONFLICT];
                client
                    .step("signup", Method::POST, signup, None, Some(&body), &conflict)
                    .await?;
            }
            let reply = client
                .step("login", Method::POST, login, None, Some(&body), &[])
                .await?;
            reply
                .json()
                .and_then(|v| v.get(token_field)?.as_str().map(str::to_owned))
                .map(Credential::Bearer)
                .ok_or_else(|| AccountError::NoToken(token_field.clone()))
        }
    }
}
