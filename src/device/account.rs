//! User accounts on the backend under test, as the profile describes them:
//! sign up and log in for bearer-token backends, or Basic credentials.

use http::{Method, StatusCode};
use serde_json::json;

use super::client::{BackendClient, ClientError, Credential};
use crate::profile::{Auth, BasicPassword, Profile};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{step}: {source}")]
    Client {
        step: &'static str,
        source: ClientError,
    },
    #[error("{step}: backend answered {status}")]
    Status {
        step: &'static str,
        status: StatusCode,
    },
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
                let reply = client
                    .call(Method::POST, signup, None, Some(&body))
                    .await
                    .map_err(|source| AccountError::Client {
                        step: "signup",
                        source,
                    })?;
                // 409: the user exists from an earlier run against a
                // persistent backend; login below decides if that is fine.
                if !reply.status.is_success() && reply.status != StatusCode::CONFLICT {
                    return Err(AccountError::Status {
                        step: "signup",
                        status: reply.status,
                    });
                }
            }
            let reply = client
                .call(Method::POST, login, None, Some(&body))
                .await
                .map_err(|source| AccountError::Client {
                    step: "login",
                    source,
                })?;
            if !reply.status.is_success() {
                return Err(AccountError::Status {
                    step: "login",
                    status: reply.status,
                });
            }
            reply
                .json()
                .and_then(|v| v.get(token_field)?.as_str().map(str::to_owned))
                .map(Credential::Bearer)
                .ok_or_else(|| AccountError::NoToken(token_field.clone()))
        }
    }
}
