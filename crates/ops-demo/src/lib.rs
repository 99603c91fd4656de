//! The demo world of Ops Console: about sixty named tenants and thirty days of their events,
//! as a pure function of a seed and an end time.
//!
//! The world is built so that every page of the console has something true to say: buyers of
//! each intent, silent churners, a policy regression, a tenant that loses money, an abuser, a
//! Redis instance heading for its limit, and a last day in which customers replay far less
//! than the day before, so the System Pulse opens on a silent degradation with its reason. Each
//! of those is placed by construction rather than left to chance, so a demo never comes up
//! empty.
//!
//! Nothing here does I/O: the server's CLI feeds [`DemoWorld::events_by_day`] through its own
//! ingestion path, one day at a time.

mod catalog;
mod console;
mod day;
mod ids;
mod incidents;
mod infra;
mod profile;
mod roster;
mod timeline;
mod traffic;

pub use ids::pick_weighted;

use chrono::{DateTime, Utc};
use ops_events::{Event, PLATFORM_TENANT};
use rust_decimal::Decimal;
use uuid::Uuid;

/// The seed of the world the console ships with.
pub const DEFAULT_SEED: u64 = 105;

/// Length of the generated window, ending at [`DemoWorld::ends_at`].
pub const WINDOW_DAYS: i64 = 30;

/// One customer of the demo world.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoTenant {
    pub tenant_id: Uuid,
    pub name: String,
    pub archetype: Archetype,
    pub plan: String,
    pub price_usd_month: Decimal,
    pub signup_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// The behaviour a tenant was generated with: the answer the console's inference should find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Archetype {
    /// Exports within a day of signup, keeps exporting; third parties verify the certificates.
    LegalCompliance,
    /// Replays within the first week, no export in the first week.
    Debugger,
    /// Looks at incidents, neither replays nor exports in the first week.
    ReliabilityMonitor,
    /// Uses the proxy only: traffic, no incidents in the first week, no replays or exports.
    ProxyOnly,
    /// Investigated early on, then stopped while the API traffic went on; some cancel late.
    SilentChurner,
    /// Costs more in LLM calls than its plan brings in.
    NegativeMargin,
    /// Sends about fifteen times the average tenant's API calls.
    Abuser,
    /// Exports a lot and never replays: legal exposure.
    ExportsWithoutReplays,
}

/// A generated world: the tenants now, their events on demand.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoWorld {
    pub seed: u64,
    pub ends_at: DateTime<Utc>,
    pub tenants: Vec<DemoTenant>,
}

/// The tenants of the world of `seed` whose window ends at `ends_at`. Cheap: no event is made.
/// Tenant ids depend on the seed alone, so reloading a world later replaces the same tenants.
pub fn tenants(seed: u64, ends_at: DateTime<Utc>) -> DemoWorld {
    roster::build(seed, ends_at)
}

impl DemoWorld {
    /// Start of the window: every event lies in `[starts_at, ends_at]`.
    pub fn starts_at(&self) -> DateTime<Utc> {
        timeline::Timeline::new(self.ends_at).start
    }

    /// Every tenant id the world writes events for, so that a world can be deleted. It includes
    /// [`PLATFORM_TENANT`], which holds the infra samples; deleting by it also removes any other
    /// platform events (operator logins), so a caller may prefer to delete those by type.
    pub fn tenant_ids(&self) -> Vec<Uuid> {
        self.tenants
            .iter()
            .map(|t| t.tenant_id)
            .chain(std::iter::once(PLATFORM_TENANT))
            .collect()
    }

    /// The whole stream, one chunk per day of the window, oldest day first. A chunk holds the
    /// events of its day only, sorted by time; only one chunk is alive at a time.
    pub fn events_by_day(&self) -> impl Iterator<Item = Vec<Event>> + '_ {
        day::Days::new(self)
    }

    /// About how many events [`DemoWorld::events_by_day`] yields in all, for a progress bar.
    pub fn estimated_events(&self) -> u64 {
        profile::estimate(self)
    }
}
