//! One test per P&L rule of docs/pnl.md, driven through `kupala::calc::run`;
//! every expected figure is worked out by hand in the comments.

use kupala_engine::Method;

mod books;
mod currency;
mod fx_attribution;
mod income;
mod lifecycle;
mod trades;

/// Every cost method.
const METHODS: [Method; 4] = Method::ALL;
