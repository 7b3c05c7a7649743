//! The hub's namespace as the service sets one up: the namespace and hub
//! names, and the two shared access authorization rules every new hub
//! has, `DefaultListenSharedAccessSignature` (Listen) and
//! `DefaultFullSharedAccessSignature` (Listen, Manage, Send), each with
//! its own key; connection strings are made from them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore as _;

/// The rule with the Listen right only: what apps register with.
pub(crate) const LISTEN_RULE: &str = "DefaultListenSharedAccessSignature";
/// The rule with every right: what backends send with.
pub(crate) const FULL_RULE: &str = "DefaultFullSharedAccessSignature";

/// The rights a rule grants (Azure docs, "Notification Hubs security":
/// Listen creates, updates, reads and deletes single registrations and
/// installations; Send sends; Manage also lists registrations and
/// manages the hub).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rights(u8);

impl Rights {
    pub(crate) const LISTEN: Rights = Rights(1);
    pub(crate) const SEND: Rights = Rights(2);
    pub(crate) const MANAGE: Rights = Rights(4);
    const ALL: Rights = Rights(7);

    /// Whether every right in `needed` is granted.
    pub(crate) fn grants(self, needed: Rights) -> bool {
        self.0 & needed.0 == needed.0
    }

    /// The claim name the service's "claim(s) are required" error names.
    pub(crate) fn claim(self) -> &'static str {
        match self.0 {
            1 => "Listen",
            2 => "Send",
            _ => "Manage",
        }
    }
}

/// One shared access authorization rule.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub(crate) name: &'static str,
    /// The key as the portal shows it: base64 of 32 random bytes. Its text
    /// (not the decoded bytes) keys the HMAC.
    pub(crate) key: String,
    pub(crate) rights: Rights,
}

/// The namespace: its rules and the hub it holds.
#[derive(Debug)]
pub(crate) struct Namespace {
    pub(crate) hub_name: String,
    pub(crate) rules: [Rule; 2],
}

impl Namespace {
    /// A namespace with fresh random keys.
    pub(crate) fn generate(hub_name: &str) -> Namespace {
        Namespace {
            hub_name: hub_name.to_owned(),
            rules: [
                Rule {
                    name: LISTEN_RULE,
                    key: new_key(),
                    rights: Rights::LISTEN,
                },
                Rule {
                    name: FULL_RULE,
                    key: new_key(),
                    rights: Rights::ALL,
                },
            ],
        }
    }

    /// The rule named `name`.
    pub(crate) fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The connection string of rule `name`, for the namespace endpoint
    /// `sb://host[:port]/`, as the portal shows it.
    pub(crate) fn connection_string(&self, endpoint: &str, name: &str) -> String {
        let key = self.rule(name).map_or("", |r| r.key.as_str());
        format!("Endpoint={endpoint};SharedAccessKeyName={name};SharedAccessKey={key}")
    }
}

fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_rule_grants_everything_and_listen_only_listen() {
        let ns = Namespace::generate("hub");
        let full = ns.rule(FULL_RULE).map(|r| r.rights);
        assert!(full.is_some_and(|r| r.grants(Rights::SEND) && r.grants(Rights::MANAGE)));
        let listen = ns.rule(LISTEN_RULE).map(|r| r.rights);
        assert!(listen.is_some_and(|r| r.grants(Rights::LISTEN) && !r.grants(Rights::SEND)));
        let cs = ns.connection_string("sb://127.0.0.1:1/", FULL_RULE);
        assert!(cs.starts_with("Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey="));
        assert_eq!(ns.rules[0].key.len(), 44);
    }
}
