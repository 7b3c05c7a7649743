//! How a backend the harness starts reaches the devices: straight to the
//! mock APNs, FCM and WNS gateways, or through the mock Notification Hub
//! (hub mode, `--hub`), as backends that follow the Notification Hubs
//! tutorials do. The mode decides which half of the backend contract the
//! backend is given: the gateways' variables, or the hub's
//! (`PUSHPROOF_NH_CONNECTION_STRING`, `PUSHPROOF_NH_HUB`). Never both, so
//! a backend in hub mode cannot reach a device except through the hub,
//! and the reference backend (which prefers a hub when it has one) stays
//! direct unless asked.

use serde::{Deserialize, Serialize};

/// The hub's variables.
const HUB_PREFIX: &str = "PUSHPROOF_NH_";
/// The gateways' variables.
const GATEWAY_PREFIXES: [&str; 3] = ["PUSHPROOF_APNS_", "PUSHPROOF_FCM_", "PUSHPROOF_WNS_"];
/// What hub mode cannot do without.
const HUB_REQUIRED: [&str; 2] = ["PUSHPROOF_NH_CONNECTION_STRING", "PUSHPROOF_NH_HUB"];

/// The way pushes go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// To the gateways, with the platforms' credentials.
    #[default]
    Direct,
    /// To the Notification Hub, which fans out to the gateways.
    Hub,
}

impl Delivery {
    /// `direct` or `hub`, as reports say it.
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Direct => "direct",
            Delivery::Hub => "hub",
        }
    }

    /// The backend contract for this mode, from every variable the mocks
    /// wrote: the gateways' or the hub's, and what both share
    /// (`PUSHPROOF_CA_FILE`, `PUSHPROOF_CONTROL_URL`). Hub mode without
    /// the hub's variables is an error naming the one missing.
    pub fn contract(self, env: &[(String, String)]) -> Result<Vec<(String, String)>, String> {
        let hub = |name: &str| name.starts_with(HUB_PREFIX);
        let gateway = |name: &str| GATEWAY_PREFIXES.iter().any(|p| name.starts_with(p));
        let kept: Vec<(String, String)> = env
            .iter()
            .filter(|(name, _)| match self {
                Delivery::Direct => !hub(name),
                Delivery::Hub => !gateway(name),
            })
            .cloned()
            .collect();
        if self == Delivery::Hub {
            for required in HUB_REQUIRED {
                if !kept
                    .iter()
                    .any(|(name, value)| name == required && !value.trim().is_empty())
                {
                    return Err(format!(
                        "hub mode needs {required}, which the mocks write (in-process, or in the \
                         env file of `pushproof mocks`); it is not set"
                    ));
                }
            }
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env() -> Vec<(String, String)> {
        [
            ("PUSHPROOF_APNS_URL", "http://a"),
            ("PUSHPROOF_FCM_URL", "http://f"),
            ("PUSHPROOF_WNS_CLIENT_ID", "w"),
            ("PUSHPROOF_CA_FILE", "/ca.pem"),
            ("PUSHPROOF_CONTROL_URL", "http://c"),
            ("PUSHPROOF_NH_CONNECTION_STRING", "Endpoint=sb://h/;…"),
            ("PUSHPROOF_NH_HUB", "pushproof-hub"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn names(env: &[(String, String)]) -> Vec<&str> {
        env.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn each_mode_gets_its_half_of_the_contract_and_what_both_share() {
        let direct = Delivery::Direct.contract(&env()).unwrap();
        assert_eq!(
            names(&direct),
            [
                "PUSHPROOF_APNS_URL",
                "PUSHPROOF_FCM_URL",
                "PUSHPROOF_WNS_CLIENT_ID",
                "PUSHPROOF_CA_FILE",
                "PUSHPROOF_CONTROL_URL"
            ]
        );
        let hub = Delivery::Hub.contract(&env()).unwrap();
        assert_eq!(
            names(&hub),
            [
                "PUSHPROOF_CA_FILE",
                "PUSHPROOF_CONTROL_URL",
                "PUSHPROOF_NH_CONNECTION_STRING",
                "PUSHPROOF_NH_HUB"
            ]
        );
    }

    #[test]
    fn hub_mode_without_the_hub_says_what_is_missing() {
        let without: Vec<_> = env()
            .into_iter()
            .filter(|(k, _)| k != "PUSHPROOF_NH_HUB")
            .collect();
        let error = Delivery::Hub.contract(&without).unwrap_err();
        assert!(error.contains("PUSHPROOF_NH_HUB"), "{error}");
        assert!(Delivery::Direct.contract(&without).is_ok());
        assert_eq!(serde_json::to_value(Delivery::Hub).unwrap(), "hub");
    }
}
