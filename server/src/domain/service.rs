//! Services: what the config declares, and the rows the store keeps for
//! them. Services are keyed by slug; one that leaves the config is archived,
//! never deleted, so its history stays.

/// A service as the config declares it, to be synchronised into the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDef {
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    /// `http`, `tcp`, `tls`, `dns` or `push`.
    pub check_kind: String,
}

/// A stored service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    /// Order on the page: the config's order.
    pub position: i64,
    pub check_kind: String,
    /// No longer in the config; hidden, history kept.
    pub archived: bool,
}
