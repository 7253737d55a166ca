//! The cost methods, and which one each account uses.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// How closing trades pick the cost they realize against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Weighted average cost: one pooled lot.
    #[default]
    Avg,
    /// First in, first out.
    Fifo,
    /// Last in, first out.
    Lifo,
    /// Highest cost per unit first (the oldest among equal ones), long and
    /// short alike.
    Hifo,
}

impl Method {
    /// Every method, in the order of their codes.
    pub const ALL: [Self; 4] = [Self::Avg, Self::Fifo, Self::Lifo, Self::Hifo];

    /// Whether the method keeps every open lot (all but `avg`).
    #[must_use]
    pub const fn keeps_lots(self) -> bool {
        !matches!(self, Self::Avg)
    }

    /// The method's one-byte code in snapshots (0 avg, 1 fifo, 2 lifo, 3 hifo).
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Avg => 0,
            Self::Fifo => 1,
            Self::Lifo => 2,
            Self::Hifo => 3,
        }
    }

    /// The method of a snapshot code, if it is one.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }
}

/// The cost method of every account: a default (`[engine] method`) and
/// per-account choices (`[accounts.NAME] method`), resolved by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CostMethods {
    /// The method of an account not listed.
    pub default: Method,
    /// Per-account methods.
    pub accounts: FxHashMap<String, Method>,
}

impl From<Method> for CostMethods {
    fn from(method: Method) -> Self {
        Self::all(method)
    }
}

impl CostMethods {
    /// Every account on `method` (the `--method` what-if).
    #[must_use]
    pub fn all(method: Method) -> Self {
        Self {
            default: method,
            accounts: FxHashMap::default(),
        }
    }

    /// The method of the account named `name`.
    #[must_use]
    pub fn of(&self, name: &str) -> Method {
        if self.accounts.is_empty() {
            return self.default;
        }
        self.accounts.get(name).copied().unwrap_or(self.default)
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "avg" => Ok(Self::Avg),
            "fifo" => Ok(Self::Fifo),
            "lifo" => Ok(Self::Lifo),
            "hifo" => Ok(Self::Hifo),
            other => Err(format!("unknown cost method {other:?} (avg, fifo, lifo or hifo)")),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Avg => "avg",
            Self::Fifo => "fifo",
            Self::Lifo => "lifo",
            Self::Hifo => "hifo",
        })
    }
}
