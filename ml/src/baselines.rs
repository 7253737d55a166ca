//! The naive forecasts every model is compared against.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::features::mean_std;

/// A naive forecast every model is compared against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// The next return is 0 (a random walk); its direction call is "not up".
    ZeroReturn,
    /// The next return equals the last one.
    LastReturn,
    /// The next return is the training rows' mean return.
    MeanReturn,
}

impl Baseline {
    /// Every baseline.
    pub const ALL: [Self; 3] = [Self::ZeroReturn, Self::LastReturn, Self::MeanReturn];

    /// The baseline's name in the JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ZeroReturn => "zero_return",
            Self::LastReturn => "last_return",
            Self::MeanReturn => "mean_return",
        }
    }

    /// Forecasts for `x` (column 0 is `ret_1`) given the training targets.
    #[must_use]
    pub fn predict(self, x: ArrayView2<'_, f64>, train_y: &[f64]) -> Vec<f64> {
        match self {
            Self::ZeroReturn => vec![0.0; x.nrows()],
            Self::LastReturn => x.column(0).to_vec(),
            Self::MeanReturn => vec![mean_std(train_y).0; x.nrows()],
        }
    }
}
