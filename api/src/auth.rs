//! Tokens, roles and account grants (`[[auth.tokens]]`).
//!
//! A token grants a role (`read` < `trade` < `admin`, plus `feed` for
//! market-data publishers) over a list of accounts or `"*"`. Tokens are compared in constant time (for a given
//! configured token length) and never logged or echoed. With no tokens
//! configured, a loopback listener grants everyone `admin` over every
//! account; a non-loopback listener without tokens refuses to start.

use std::net::SocketAddr;
use std::sync::Arc;

use rustc_hash::FxHashSet;
use serde::Deserialize;

use kupala_engine::Event;

use crate::error::ApiError;

/// The shortest token accepted in the configuration.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Subscribe and query.
    Read,
    /// Also publish live market data (instrument, tick, fx) and trades of
    /// its accounts through the conflating feed queue: answered `queued`,
    /// not acknowledged as durable.
    Feed,
    /// Also submit trades for its accounts.
    Trade,
    /// Also submit market data (instrument, tick, fx, split) and EOD events.
    Admin,
}

impl Role {
    /// The role's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Feed => "feed",
            Self::Trade => "trade",
            Self::Admin => "admin",
        }
    }
}

/// One `[[auth.tokens]]` entry.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The secret.
    pub token: String,
    /// Its role.
    pub role: Role,
    /// Accounts it may see (and trade); `["*"]` for all.
    pub accounts: Vec<String>,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("token", &"<redacted>")
            .field("role", &self.role)
            .field("accounts", &self.accounts)
            .finish()
    }
}

/// The accounts a grant covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accounts {
    /// Every account.
    All,
    /// These accounts only.
    Only(FxHashSet<String>),
}

/// What an authenticated client may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// The accounts.
    pub accounts: Accounts,
}

impl Grant {
    /// Everything: the grant of an open loopback server.
    #[must_use]
    pub const fn full() -> Self {
        Self {
            role: Role::Admin,
            accounts: Accounts::All,
        }
    }

    /// True when the grant covers every account (`"*"`): what the firm's
    /// totals need.
    #[must_use]
    pub const fn sees_all(&self) -> bool {
        matches!(self.accounts, Accounts::All)
    }

    /// True when the grant covers `account`.
    #[must_use]
    pub fn allows(&self, account: &str) -> bool {
        match &self.accounts {
            Accounts::All => true,
            Accounts::Only(set) => set.contains(account),
        }
    }

    /// Checks that the grant may submit `event`; the reason when not.
    pub fn may_submit(&self, event: &Event) -> Result<(), String> {
        match (self.role, event) {
            (Role::Read, _) => Err("role read may not submit".into()),
            (Role::Feed, Event::Trade(t)) if !self.allows(&t.account) => {
                Err(format!("account {:?} is not allowed", t.account))
            }
            (Role::Feed, Event::Trade(_) | Event::Tick(_) | Event::Fx(_) | Event::Instrument(_)) => Ok(()),
            (Role::Feed, other) => Err(format!("{} events need role admin", other.kind())),
            (Role::Trade, Event::Trade(t)) if self.allows(&t.account) => Ok(()),
            (Role::Trade, Event::Trade(t)) => Err(format!("account {:?} is not allowed", t.account)),
            (Role::Trade, other) => Err(format!("{} events need role admin", other.kind())),
            (Role::Admin, Event::Trade(t)) if !self.allows(&t.account) => {
                Err(format!("account {:?} is not allowed", t.account))
            }
            (Role::Admin, _) => Ok(()),
        }
    }

    /// The grant as JSON (the `auth` result).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let accounts: Vec<String> = match &self.accounts {
            Accounts::All => vec!["*".into()],
            Accounts::Only(set) => {
                let mut v: Vec<String> = set.iter().cloned().collect();
                v.sort();
                v
            }
        };
        serde_json::json!({ "role": self.role.as_str(), "accounts": accounts })
    }
}

/// The server's authentication: the configured tokens, or open access.
#[derive(Debug)]
pub struct Auth {
    tokens: Vec<(Vec<u8>, Arc<Grant>)>,
    open: Option<Arc<Grant>>,
}

impl Auth {
    /// Builds the token table for a listener on `listen`. Refuses a
    /// non-loopback address without tokens, and bad token entries.
    pub fn new(tokens: &[TokenConfig], listen: &SocketAddr) -> Result<Self, ApiError> {
        let mut problems = Vec::new();
        let mut table = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            if t.token.len() < MIN_TOKEN_LEN {
                problems.push(format!(
                    "auth.tokens[{i}]: token shorter than {MIN_TOKEN_LEN} characters"
                ));
            }
            if t.accounts.is_empty() {
                problems.push(format!(
                    "auth.tokens[{i}]: accounts is empty (list accounts or \"*\")"
                ));
            }
            if tokens[..i].iter().any(|o| o.token == t.token) {
                problems.push(format!("auth.tokens[{i}]: the same token is listed twice"));
            }
            let accounts = if t.accounts.iter().any(|a| a == "*") {
                Accounts::All
            } else {
                Accounts::Only(t.accounts.iter().cloned().collect())
            };
            let grant = Grant {
                role: t.role,
                accounts,
            };
            table.push((t.token.as_bytes().to_vec(), Arc::new(grant)));
        }
        if !problems.is_empty() {
            return Err(ApiError::Config(problems.join("; ")));
        }
        if table.is_empty() && !listen.ip().is_loopback() {
            return Err(ApiError::InsecureListen { addr: *listen });
        }
        let open = table.is_empty().then(|| Arc::new(Grant::full()));
        Ok(Self { tokens: table, open })
    }

    /// The grant every client gets without `auth` (no tokens configured).
    #[must_use]
    pub fn open_grant(&self) -> Option<Arc<Grant>> {
        self.open.clone()
    }

    /// The grant of `token`, if it is a configured one. Every configured
    /// token is compared, each in time that depends only on its own length.
    #[must_use]
    pub fn check(&self, token: &str) -> Option<Arc<Grant>> {
        if let Some(open) = &self.open {
            return Some(Arc::clone(open));
        }
        let given = token.as_bytes();
        let mut found = None;
        for (secret, grant) in &self.tokens {
            if constant_time_eq(secret, given) {
                found = Some(Arc::clone(grant));
            }
        }
        found
    }
}

/// Compares `secret` with `given` in time that does not depend on where
/// they differ (`subtle`'s constant-time equality; unequal lengths answer
/// at once, which tells only that the lengths differ).
#[must_use]
pub fn constant_time_eq(secret: &[u8], given: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    secret.ct_eq(given).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(token: &str, role: Role, accounts: &[&str]) -> TokenConfig {
        TokenConfig {
            token: token.into(),
            role,
            accounts: accounts.iter().map(|&a| a.to_owned()).collect(),
        }
    }

    #[test]
    fn tokens_grants_and_listen_rules() {
        let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
        let any: SocketAddr = ([0, 0, 0, 0], 0).into();
        assert!(matches!(
            Auth::new(&[], &any),
            Err(ApiError::InsecureListen { .. })
        ));
        assert!(Auth::new(&[], &lo).is_ok_and(|a| a.check("whatever").is_some()));
        assert!(Auth::new(&[tok("short", Role::Read, &["A"])], &lo).is_err());
        let auth = Auth::new(&[tok("reader-0123456789", Role::Read, &["A1"])], &any);
        assert!(auth.is_ok());
        let Ok(auth) = auth else { return };
        assert!(auth.open_grant().is_none());
        assert!(auth.check("reader-012345678").is_none());
        assert!(auth.check("reader-0123456789x").is_none());
        let g = auth.check("reader-0123456789");
        assert!(g.as_ref().is_some_and(|g| g.allows("A1") && !g.allows("A2")));
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab") && !constant_time_eq(b"", b"a"));
    }
}
