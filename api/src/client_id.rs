//! A connection's id: a leaf type, shared by the hub, its fan-out lists,
//! the ML sidecar and the session, so none depends on the hub for it.

/// A connection's id in the hub (one per WebSocket connection, never
/// reused while the server runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);
