//! The compared models (linfa); the baselines are in `baselines`.
//!
//! Every model sees features standardised with the training rows' mean and
//! standard deviation (never the test rows'), and predicts the next-period
//! return; its direction call is `prediction > 0`.
//!
//! | model | linfa | how it predicts a return |
//! | --- | --- | --- |
//! | `linear` | `linfa-linear` OLS | directly |
//! | `ridge` | `linfa-elasticnet`, l1 ratio 0, penalty 1.0 on the standardised target, 100 coordinate-descent sweeps | directly |
//! | `elastic_net` | `linfa-elasticnet`, l1 ratio 0.5, penalty 0.05 on the standardised target | directly |
//! | `decision_tree` | `linfa-trees` CART (Gini, depth 4, leaves ≥ 2 % of rows) grown on the direction | the mean training return of the row's leaf |
//! | `knn` | `linfa-nn` kd-tree, k nearest training rows | their mean return |
//! | `logistic` | `linfa-logistic` (L2 1.0) on up/down | `P(up) × mean up return + (1 - P(up)) × mean down return` (training means) |
//!
//! linfa-trees 0.8 has no regression tree and linfa has no k-NN regressor,
//! hence the leaf means over a direction tree and the neighbour average.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use linfa::prelude::*;
use linfa_elasticnet::ElasticNet;
use linfa_linear::{FittedLinearRegression, LinearRegression};
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use linfa_nn::distance::L2Dist;
use linfa_nn::{CommonNearestNeighbour, NearestNeighbour};
use linfa_trees::{DecisionTree, SplitQuality};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

pub use crate::baselines::Baseline;
use crate::features::mean_std;

/// A model of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Ordinary least squares.
    Linear,
    /// Ridge (elastic net with l1 ratio 0).
    Ridge,
    /// Elastic net (l1 ratio 0.5).
    ElasticNet,
    /// CART tree grown on the direction, predicting its leaves' mean return.
    DecisionTree,
    /// k-nearest-neighbour regression.
    Knn,
    /// Logistic regression on the direction.
    Logistic,
}

impl ModelKind {
    /// Every model, in leaderboard tie-break order (simplest first).
    pub const ALL: [Self; 6] = [
        Self::Linear,
        Self::Ridge,
        Self::ElasticNet,
        Self::DecisionTree,
        Self::Knn,
        Self::Logistic,
    ];

    /// The model's name in the JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Ridge => "ridge",
            Self::ElasticNet => "elastic_net",
            Self::DecisionTree => "decision_tree",
            Self::Knn => "knn",
            Self::Logistic => "logistic",
        }
    }
}

/// Hyper-parameters (fixed: no tuning inside the walk-forward folds).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelParams {
    /// Neighbours for `knn`.
    pub knn_k: usize,
    /// Maximum depth of `decision_tree`.
    pub tree_depth: usize,
}

impl Default for ModelParams {
    fn default() -> Self {
        Self {
            knn_k: 25,
            tree_depth: 4,
        }
    }
}

/// Per-column standardisation fitted on training rows.
#[derive(Clone, Debug)]
struct Scaler {
    mean: Array1<f64>,
    std: Array1<f64>,
}

impl Scaler {
    fn fit(x: ArrayView2<'_, f64>) -> Self {
        let cols = x.axis_iter(Axis(1)).map(|c| mean_std(&c.to_vec()));
        let (mean, std): (Vec<f64>, Vec<f64>) = cols.map(|(m, s)| (m, if s > 0.0 { s } else { 1.0 })).unzip();
        Self {
            mean: Array1::from(mean),
            std: Array1::from(std),
        }
    }

    fn apply(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        (&x - &self.mean) / &self.std
    }
}

enum Inner {
    Linear(FittedLinearRegression<f64>),
    Enet {
        model: linfa_elasticnet::ElasticNet<f64>,
        y_mean: f64,
        y_std: f64,
    },
    Tree {
        tree: DecisionTree<f64, bool>,
        leaf_means: HashMap<u64, f64>,
        fallback: f64,
    },
    Knn {
        points: Array2<f64>,
        y: Vec<f64>,
        k: usize,
    },
    Logistic {
        model: FittedLogisticRegression<f64, bool>,
        up: f64,
        down: f64,
    },
}

/// A model fitted on training rows.
pub struct Fitted {
    scaler: Scaler,
    inner: Inner,
}

/// A model's forecasts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Forecasts {
    /// Next-period returns.
    pub ret: Vec<f64>,
    /// Probability of an up move, for classifiers that give one.
    pub prob_up: Option<Vec<f64>>,
}

/// Runs a linfa call, turning an error or a panic inside linfa into `Err`.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(format!("{what}: the solver panicked")))
}

/// The leaf a row falls in, as its path from the root (1, then a bit per
/// level: 0 left, 1 right), following linfa's rule (`x < split` goes left).
fn leaf_of(tree: &DecisionTree<f64, bool>, row: ArrayView1<'_, f64>) -> u64 {
    let mut path = 1u64;
    let mut node = tree.iter_nodes().next();
    while let Some(n) = node {
        if n.is_leaf() || path >= 1 << 62 {
            break;
        }
        let (feature, split, _) = n.split();
        let right = row.get(feature).is_some_and(|v| *v >= split);
        path = path << 1 | u64::from(right);
        node = n.children()[usize::from(right)].as_deref();
    }
    path
}

/// Fits `kind` on `x` (rows) and `y` (next returns). Errors are the
/// solver's (a singular system, one class only...), never a panic.
pub fn fit(
    kind: ModelKind,
    x: ArrayView2<'_, f64>,
    y: &[f64],
    params: &ModelParams,
) -> Result<Fitted, String> {
    if x.nrows() != y.len() || x.nrows() < 2 || x.ncols() == 0 {
        return Err(format!("{}: needs at least 2 rows", kind.name()));
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(format!("{}: non-finite input", kind.name()));
    }
    let scaler = Scaler::fit(x);
    let xs = scaler.apply(x);
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", kind.name());
    let inner = guarded(kind.name(), || match kind {
        ModelKind::Linear => {
            let data = Dataset::new(xs.clone(), Array1::from(y.to_vec()));
            LinearRegression::new()
                .fit(&data)
                .map(Inner::Linear)
                .map_err(|e| err(&e))
        }
        ModelKind::Ridge | ModelKind::ElasticNet => {
            let (y_mean, y_std) = mean_std(y);
            let y_std = if y_std > 0.0 { y_std } else { 1.0 };
            let ys: Array1<f64> = y.iter().map(|v| (v - y_mean) / y_std).collect();
            // At l1 ratio 0 linfa's duality-gap stop never fires, so ridge
            // runs a fixed number of coordinate-descent sweeps.
            let (penalty, l1, sweeps) = if kind == ModelKind::Ridge {
                (1.0, 0.0, 100)
            } else {
                (0.05, 0.5, 1000)
            };
            let data = Dataset::new(xs.clone(), ys);
            ElasticNet::params()
                .penalty(penalty)
                .l1_ratio(l1)
                .max_iterations(sweeps)
                .fit(&data)
                .map(|model| Inner::Enet { model, y_mean, y_std })
                .map_err(|e| err(&e))
        }
        ModelKind::DecisionTree => {
            let labels: Array1<bool> = y.iter().map(|v| *v > 0.0).collect();
            // linfa-trees sums class weights in HashMap order and breaks
            // ties between classes by that order: with two classes and
            // weights that can never tie, the tree is deterministic.
            #[allow(clippy::cast_possible_truncation, reason = "a tiny jitter")]
            let weights: Array1<f32> = (0..y.len())
                .map(|i| 1.0 + 1e-4 * ((i as f64 * 0.618_033_988_75).fract() as f32))
                .collect();
            let data = Dataset::new(xs.clone(), labels).with_weights(weights);
            #[allow(clippy::cast_precision_loss, reason = "a leaf weight")]
            let min_leaf = (y.len() / 50).max(5) as f32;
            let tree = DecisionTree::params()
                .split_quality(SplitQuality::Gini)
                .max_depth(Some(params.tree_depth.max(1)))
                .min_weight_leaf(min_leaf)
                .fit(&data)
                .map_err(|e| err(&e))?;
            let mut leaves: HashMap<u64, (f64, f64)> = HashMap::new();
            for (row, target) in xs.rows().into_iter().zip(y) {
                let leaf = leaves.entry(leaf_of(&tree, row)).or_default();
                leaf.0 += target;
                leaf.1 += 1.0;
            }
            let leaf_means = leaves.into_iter().map(|(k, (sum, n))| (k, sum / n)).collect();
            Ok(Inner::Tree {
                tree,
                leaf_means,
                fallback: mean_std(y).0,
            })
        }
        ModelKind::Knn => Ok(Inner::Knn {
            points: xs.clone(),
            y: y.to_vec(),
            k: params.knn_k.clamp(1, y.len()),
        }),
        ModelKind::Logistic => {
            let up: Vec<f64> = y.iter().copied().filter(|v| *v > 0.0).collect();
            let down: Vec<f64> = y.iter().copied().filter(|v| *v <= 0.0).collect();
            if up.is_empty() || down.is_empty() {
                return Err(err(&"the training rows hold one direction only"));
            }
            let labels: Array1<bool> = y.iter().map(|v| *v > 0.0).collect();
            let data = Dataset::new(xs.clone(), labels);
            LogisticRegression::default()
                .alpha(1.0)
                .max_iterations(100)
                .fit(&data)
                .map(|model| Inner::Logistic {
                    model,
                    up: mean_std(&up).0,
                    down: mean_std(&down).0,
                })
                .map_err(|e| err(&e))
        }
    })?;
    Ok(Fitted { scaler, inner })
}

impl Fitted {
    /// Forecasts for the rows of `x` (same columns as the training rows).
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Forecasts, String> {
        if x.ncols() != self.scaler.mean.len() {
            return Err("feature columns differ from the training rows".to_owned());
        }
        let xs = self.scaler.apply(x);
        let out = guarded("predict", || match &self.inner {
            Inner::Linear(m) => Ok(Forecasts {
                ret: m.predict(&xs).to_vec(),
                prob_up: None,
            }),
            Inner::Enet { model, y_mean, y_std } => Ok(Forecasts {
                ret: model.predict(&xs).iter().map(|v| v * y_std + y_mean).collect(),
                prob_up: None,
            }),
            Inner::Tree {
                tree,
                leaf_means,
                fallback,
            } => Ok(Forecasts {
                ret: xs
                    .rows()
                    .into_iter()
                    .map(|row| leaf_means.get(&leaf_of(tree, row)).copied().unwrap_or(*fallback))
                    .collect(),
                prob_up: None,
            }),
            Inner::Knn { points, y, k } => knn(points, y, *k, &xs),
            Inner::Logistic { model, up, down } => {
                // linfa's "positive" class is the more frequent one in training.
                let pos_is_up = model.labels().pos.class;
                let p: Vec<f64> = model
                    .predict_probabilities(&xs)
                    .iter()
                    .map(|p| if pos_is_up { *p } else { 1.0 - p })
                    .collect();
                Ok(Forecasts {
                    ret: p.iter().map(|p| p * up + (1.0 - p) * down).collect(),
                    prob_up: Some(p),
                })
            }
        })?;
        if out.ret.iter().any(|v| !v.is_finite()) {
            return Err("the model predicted a non-finite value".to_owned());
        }
        Ok(out)
    }
}

/// Mean target of the `k` nearest training rows (kd-tree, Euclidean).
fn knn(points: &Array2<f64>, y: &[f64], k: usize, xs: &Array2<f64>) -> Result<Forecasts, String> {
    let index = CommonNearestNeighbour::KdTree
        .from_batch(points, L2Dist)
        .map_err(|e| format!("knn: {e}"))?;
    let mut ret = Vec::with_capacity(xs.nrows());
    for row in xs.rows() {
        let near = index.k_nearest(row, k).map_err(|e| format!("knn: {e}"))?;
        let sum: f64 = near.iter().map(|(_, i)| y.get(*i).copied().unwrap_or(0.0)).sum();
        #[allow(clippy::cast_precision_loss, reason = "a count")]
        ret.push(if near.is_empty() {
            0.0
        } else {
            sum / near.len() as f64
        });
    }
    Ok(Forecasts { ret, prob_up: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_fits_and_predicts_a_learnable_signal() {
        // y = 0.01 * x0 - 0.005 * x1 with a little deterministic noise.
        let n = 200;
        let x = Array2::from_shape_fn((n, 3), |(i, j)| ((i * (j + 3) * 7919) % 101) as f64 / 50.0 - 1.0);
        let y: Vec<f64> = (0..n)
            .map(|i| 0.01 * x[[i, 0]] - 0.005 * x[[i, 1]] + 0.0005 * (((i * 31) % 7) as f64 - 3.0))
            .collect();
        for kind in ModelKind::ALL {
            let fitted = fit(kind, x.view(), &y, &ModelParams::default());
            assert!(fitted.is_ok(), "{kind:?}: {:?}", fitted.err());
            let Ok(fitted) = fitted else { continue };
            let Ok(p) = fitted.predict(x.view()) else {
                panic!("{kind:?} predict")
            };
            assert_eq!(p.ret.len(), n);
            let hits = p
                .ret
                .iter()
                .zip(&y)
                .filter(|(a, b)| (**a > 0.0) == (**b > 0.0))
                .count();
            assert!(hits * 10 > n * 7, "{kind:?}: {hits}/{n} directions right");
        }
    }

    #[test]
    fn degenerate_inputs_are_errors_not_panics() {
        let x = Array2::zeros((30, 2));
        let y = vec![0.0; 30];
        for kind in ModelKind::ALL {
            if let Ok(f) = fit(kind, x.view(), &y, &ModelParams::default()) {
                let p = f.predict(x.view());
                assert!(p.is_ok() || p.is_err(), "{kind:?}");
                assert!(f.predict(Array2::zeros((2, 3)).view()).is_err());
            }
        }
        assert!(fit(ModelKind::Logistic, x.view(), &y, &ModelParams::default()).is_err());
        let nan = Array2::from_elem((5, 2), f64::NAN);
        assert!(fit(ModelKind::Linear, nan.view(), &[0.0; 5], &ModelParams::default()).is_err());
        assert!(fit(ModelKind::Knn, x.view(), &[0.0; 3], &ModelParams::default()).is_err());
    }
}
