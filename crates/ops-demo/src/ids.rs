//! Every id and every random stream of a world is derived from its seed, so that a world can be
//! generated twice, or one day of it regenerated, with the same bytes.

use ops_events::Event;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

/// Parent of every world's namespace; a fixed value so that ids survive across releases.
const ROOT: Uuid = Uuid::from_u128(0x5c1e_0105_0d3e_4a6b_9f1c_2b7d_8e4a_6105);

/// Owner index of the platform's own events (infra samples), next to the tenants' indices.
pub(crate) const PLATFORM_OWNER: u16 = u16::MAX;

/// What an id names; ids of different kinds never collide even with equal counters.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Event = 1,
    Session = 2,
    Incident = 3,
    EndUser = 4,
    Staff = 5,
}

/// Independent random streams: a change in how one part is generated leaves the others as they were.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    Roster = 1,
    World = 2,
    Profile = 3,
    TenantDay = 4,
    Infra = 5,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Ids {
    ns: Uuid,
}

impl Ids {
    pub(crate) fn new(seed: u64) -> Self {
        Ids {
            ns: Uuid::new_v5(&ROOT, &seed.to_be_bytes()),
        }
    }

    pub(crate) fn tenant(&self, name: &str) -> Uuid {
        Uuid::new_v5(&self.ns, format!("tenant/{name}").as_bytes())
    }

    /// The `n`-th id of `kind` that `owner` makes on `day`.
    pub(crate) fn derive(&self, kind: Kind, owner: u16, day: u16, n: u32) -> Uuid {
        let mut name = [0u8; 9];
        name[0] = kind as u8;
        name[1..3].copy_from_slice(&owner.to_be_bytes());
        name[3..5].copy_from_slice(&day.to_be_bytes());
        name[5..9].copy_from_slice(&n.to_be_bytes());
        Uuid::new_v5(&self.ns, &name)
    }
}

/// The random stream `stream` of (`a`, `b`) in the world of `seed`.
pub(crate) fn rng(seed: u64, stream: Stream, a: u64, b: u64) -> ChaCha8Rng {
    let mixed = splitmix(splitmix(splitmix(seed ^ splitmix(stream as u64)) ^ a) ^ b);
    ChaCha8Rng::seed_from_u64(mixed)
}

/// SplitMix64's finaliser: neighbouring inputs give unrelated seeds.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Index drawn with probability proportional to `weights` (all ≥ 0, not all 0).
pub fn pick_weighted<R: rand::Rng>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len().saturating_sub(1)
}

/// Numbers the ids that one tenant makes on one day.
pub(crate) struct Out<'a> {
    ids: Ids,
    owner: u16,
    day: u16,
    events: u32,
    sessions: u32,
    incidents: u32,
    pub buf: &'a mut Vec<Event>,
}

impl<'a> Out<'a> {
    pub(crate) fn new(ids: Ids, owner: u16, day: u32, buf: &'a mut Vec<Event>) -> Self {
        Out {
            ids,
            owner,
            day: day as u16,
            events: 0,
            sessions: 0,
            incidents: 0,
            buf,
        }
    }

    pub(crate) fn push(&mut self, event: Event) {
        let id = self
            .ids
            .derive(Kind::Event, self.owner, self.day, self.events);
        self.events += 1;
        self.buf.push(event.id(id));
    }

    pub(crate) fn session(&mut self) -> Uuid {
        self.sessions += 1;
        self.ids
            .derive(Kind::Session, self.owner, self.day, self.sessions)
    }

    pub(crate) fn incident(&mut self) -> Uuid {
        self.incidents += 1;
        self.ids
            .derive(Kind::Incident, self.owner, self.day, self.incidents)
    }

    /// Stable across days: the same people use the product all month.
    pub(crate) fn person(&self, kind: Kind, n: u32) -> Uuid {
        self.ids.derive(kind, self.owner, 0, n)
    }
}
