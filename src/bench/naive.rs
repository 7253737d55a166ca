//! The naive baseline every figure is compared with, on the same data in the
//! same run: one thread, and on each tick every portfolio holding the
//! instrument is re-summed from all its positions (what a straightforward
//! implementation does; kupala moves totals by deltas instead).
//!
//! It uses the same i128 fixed-point arithmetic (average cost, no FX, since
//! the workload is single-currency), so the ratio measures the design, not
//! a cheaper number type.

use kupala_engine::Event;

#[derive(Clone, Copy, Default)]
struct Pos {
    account: u32,
    instrument: u32,
    qty: i64,
    cost: i128,
}

/// The naive engine.
#[derive(Default)]
pub struct Naive {
    marks: Vec<i64>,
    positions: Vec<Pos>,
    by_account: Vec<Vec<u32>>,
    by_instrument: Vec<Vec<u32>>,
    /// (market value, unrealized) per account, re-summed on every change.
    totals: Vec<(i128, i128)>,
    realized: Vec<i128>,
}

/// Index of a workload name such as `I00042` or `A0007`.
fn index(name: &str) -> usize {
    name.get(1..).and_then(|n| n.parse().ok()).unwrap_or(0)
}

impl Naive {
    /// Applies one event.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Tick(t) => {
                let i = index(&t.instrument);
                self.grow(0, i);
                self.marks[i] = t.price.raw();
                let holders = std::mem::take(&mut self.by_instrument[i]);
                for &p in &holders {
                    self.resum(self.positions[p as usize].account as usize);
                }
                self.by_instrument[i] = holders;
            }
            Event::Trade(tr) => {
                let (a, i) = (index(&tr.account), index(&tr.instrument));
                self.grow(a, i);
                if self.marks[i] == 0 {
                    self.marks[i] = tr.price.raw();
                }
                let qty = tr.qty.raw() * tr.side.sign();
                let p = self.position(a, i);
                let pos = &mut self.positions[p];
                let old = pos.qty;
                if old != 0 && (old > 0) != (qty > 0) {
                    let closed = qty.abs().min(old.abs());
                    let removed = pos.cost * i128::from(closed) / i128::from(old.abs());
                    self.realized[a] +=
                        i128::from(old.signum() * closed) * i128::from(tr.price.raw()) - removed;
                    pos.cost -= removed;
                    pos.qty -= old.signum() * closed;
                    let rest = qty + old.signum() * closed;
                    pos.qty += rest;
                    pos.cost += i128::from(rest) * i128::from(tr.price.raw());
                } else {
                    pos.qty += qty;
                    pos.cost += i128::from(qty) * i128::from(tr.price.raw());
                }
                self.resum(a);
            }
            _ => {}
        }
    }

    fn grow(&mut self, a: usize, i: usize) {
        if self.marks.len() <= i {
            self.marks.resize(i + 1, 0);
            self.by_instrument.resize(i + 1, Vec::new());
        }
        if self.totals.len() <= a {
            self.totals.resize(a + 1, (0, 0));
            self.realized.resize(a + 1, 0);
            self.by_account.resize(a + 1, Vec::new());
        }
    }

    fn position(&mut self, a: usize, i: usize) -> usize {
        if let Some(&p) = self.by_account[a]
            .iter()
            .find(|&&p| self.positions[p as usize].instrument as usize == i)
        {
            return p as usize;
        }
        let p = self.positions.len();
        self.positions.push(Pos {
            account: u32::try_from(a).unwrap_or(0),
            instrument: u32::try_from(i).unwrap_or(0),
            qty: 0,
            cost: 0,
        });
        let id = u32::try_from(p).unwrap_or(0);
        self.by_account[a].push(id);
        self.by_instrument[i].push(id);
        p
    }

    /// Re-sums one account's totals from all its positions.
    fn resum(&mut self, a: usize) {
        let (mut mv, mut unreal) = (0i128, 0i128);
        for &p in &self.by_account[a] {
            let pos = &self.positions[p as usize];
            let value = i128::from(self.marks[pos.instrument as usize]) * i128::from(pos.qty);
            mv += value;
            unreal += value - pos.cost;
        }
        self.totals[a] = (mv, unreal);
    }

    /// Sum of every account's market value (to keep the work observable).
    #[must_use]
    pub fn checksum(&self) -> i128 {
        self.totals.iter().map(|t| t.0 + t.1).sum::<i128>() + self.realized.iter().sum::<i128>()
    }
}
