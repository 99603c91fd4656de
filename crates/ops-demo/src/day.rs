//! The stream, one day at a time: each day is generated when the loader asks for it, and only
//! what a tenant remembers of earlier days (its recent incidents) is carried over.

use crate::ids::{rng, Ids, Out, Stream};
use crate::profile::{profiles, Profile};
use crate::timeline::Timeline;
use crate::{DemoTenant, DemoWorld};
use chrono::{DateTime, Utc};
use ops_events::Event;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use uuid::Uuid;

pub(crate) struct Days<'a> {
    world: &'a DemoWorld,
    ids: Ids,
    tl: Timeline,
    profiles: Vec<Profile>,
    states: Vec<TenantState>,
    day: u32,
}

impl<'a> Days<'a> {
    pub(crate) fn new(world: &'a DemoWorld) -> Self {
        let tl = Timeline::new(world.ends_at);
        let profiles = profiles(world, &tl);
        let states = profiles.iter().map(|_| TenantState::default()).collect();
        Days {
            world,
            ids: Ids::new(world.seed),
            tl,
            profiles,
            states,
            day: 0,
        }
    }
}

impl Iterator for Days<'_> {
    type Item = Vec<Event>;

    fn next(&mut self) -> Option<Vec<Event>> {
        if self.day >= self.tl.days() {
            return None;
        }
        let day = self.day;
        self.day += 1;
        let mut buf = Vec::with_capacity(16_384);
        crate::infra::day(self.world.seed, self.ids, &self.tl, day, &mut buf);
        let (start, end) = (self.tl.day_start(day), self.tl.day_end(day));
        for ((tenant, p), state) in self
            .world
            .tenants
            .iter()
            .zip(&self.profiles)
            .zip(&mut self.states)
        {
            if p.signup_at >= end || p.active_until <= start {
                continue;
            }
            let mut td = TenantDay {
                tenant,
                p,
                tl: &self.tl,
                seed: self.world.seed,
                day,
                start,
                end,
                rng: rng(
                    self.world.seed,
                    Stream::TenantDay,
                    u64::from(p.index),
                    u64::from(day),
                ),
                state,
                out: Out::new(self.ids, p.index, day, &mut buf),
            };
            td.subscription();
            td.traffic();
            td.console();
        }
        buf.sort_by(|a, b| {
            a.timestamp
                .cmp(&b.timestamp)
                .then(a.event_id.cmp(&b.event_id))
        });
        Some(buf)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.tl.days().saturating_sub(self.day) as usize;
        (left, Some(left))
    }
}

/// What a tenant carries from one day to the next.
#[derive(Default)]
pub(crate) struct TenantState {
    /// Recent incidents with their creation time, oldest first, for views to refer to.
    pub recent: VecDeque<(Uuid, DateTime<Utc>)>,
    pub v12_dealt: usize,
    pub exports: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Force {
    No,
    /// The call reaches a model and ends in an incident (a first day's onboarding).
    Incident,
    /// As `Incident`, on CONTENT_ACCURACY (the regression's volume).
    ContentAccuracy,
}

/// One tenant's one day.
pub(crate) struct TenantDay<'a> {
    pub tenant: &'a DemoTenant,
    pub p: &'a Profile,
    pub tl: &'a Timeline,
    pub seed: u64,
    pub day: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub rng: ChaCha8Rng,
    pub state: &'a mut TenantState,
    pub out: Out<'a>,
}
