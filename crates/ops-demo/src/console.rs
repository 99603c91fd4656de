//! What a tenant's people do in their own console (the guard console, not this one): log in,
//! open incidents, replay them, export them; what third parties do with the exports; and the
//! subscription's start and end.

use crate::day::{Force, TenantDay};
use crate::ids::Kind;
use crate::roster::source_for;
use crate::Archetype;
use chrono::{DateTime, Duration, Utc};
use ops_events::Event;
use rand::Rng;
use uuid::Uuid;

/// When, in minutes after signup, a first day's export or replay comes. Signups fall in the
/// first twelve hours of their day, so the onboarding stays within the signup's day, and an
/// export within the 24 hours that mark a legal buyer.
const ONBOARDING_ACTION_MINUTES: (i64, i64) = (120, 540);

/// The story of the last 24 hours: customers stop replaying (the chance that a session replays
/// is multiplied by this; only a new signup's first replay remains), so the pulse shows SILENT
/// DEGRADATION with "Replays down …" while traffic looks normal. Any chance above nothing left
/// the story to luck: with a tenth of the usual chance, some ends of the window still saw as
/// many replays as the day before.
const LAST_DAY_REPLAY_FACTOR: f64 = 0.0;

/// What a session may contain: views, then replays, then exports.
struct Mix {
    views: (u32, u32),
    replay_p: f64,
    replays: (u32, u32),
    export_p: f64,
    exports: (u32, u32),
}

impl TenantDay<'_> {
    pub(crate) fn subscription(&mut self) {
        let t = self.tenant;
        let tid = t.tenant_id;
        if self.contains(t.signup_at) {
            let source = source_for(self.seed, usize::from(self.p.index));
            let owner = self.out.person(Kind::Staff, 0);
            let e = Event::subscription_started(tid, &t.name, &t.plan, source, t.price_usd_month);
            self.out.push(e.at(t.signup_at).user(owner));
        }
        for i in 0..self.p.freezes.len() {
            let (at, scope) = self.p.freezes[i];
            if self.contains(at) {
                self.out.push(Event::freeze_activated(tid, scope).at(at));
            }
        }
        if let Some(at) = t.cancelled_at.filter(|at| self.contains(*at)) {
            let reasons = [
                "Too expensive for what we use",
                "Moved to an in-house guardrail",
                "Not getting enough out of the console",
            ];
            let reason = reasons[self.rng.random_range(0..reasons.len())];
            let tenure = (at - t.signup_at).num_days().max(0) as u32;
            self.out
                .push(Event::subscription_cancelled(tid, reason, tenure).at(at));
        }
    }

    pub(crate) fn console(&mut self) {
        if self.contains(self.p.signup_at) {
            self.onboarding();
        } else if self.p.session_days[self.day as usize] {
            self.session();
        }
        self.certificates();
        // Proxy users look at their usage page now and then, nothing more.
        if self.p.archetype == Archetype::ProxyOnly && self.rng.random_bool(0.12) {
            let t = self.start + Duration::minutes(self.rng.random_range(8 * 60..22 * 60));
            if t > self.p.signup_at && t < self.p.active_until {
                let (staff, session) = (self.staff(), self.out.session());
                self.out.push(
                    Event::login(self.tenant.tenant_id, "guard")
                        .at(t)
                        .user(staff)
                        .session(session),
                );
            }
        }
    }

    /// The first day: the first incident, a look at it, and the action the buyer came for.
    fn onboarding(&mut self) {
        let arch = self.p.archetype;
        if matches!(arch, Archetype::ProxyOnly | Archetype::Abuser) {
            return;
        }
        let signup = self.p.signup_at;
        let t = signup + Duration::minutes(self.rng.random_range(20..90));
        let api_session = self.out.session();
        let Some(incident) = self.call(t, api_session, Force::Incident) else {
            return;
        };
        let (staff, session) = (self.staff(), self.out.session());
        let t = t + Duration::minutes(self.rng.random_range(3..30));
        self.out.push(
            Event::login(self.tenant.tenant_id, "guard")
                .at(t)
                .user(staff)
                .session(session),
        );
        self.view(t + Duration::minutes(1), incident, staff, session);
        let (lo, hi) = ONBOARDING_ACTION_MINUTES;
        let act = signup + Duration::minutes(self.rng.random_range(lo..hi));
        match arch {
            Archetype::LegalCompliance | Archetype::ExportsWithoutReplays => {
                self.export(act, incident, staff, session)
            }
            Archetype::Debugger | Archetype::SilentChurner => {
                self.replay(act, incident, staff, session)
            }
            _ => {}
        }
    }

    fn session(&mut self) {
        let t0 = self.start + Duration::minutes(self.rng.random_range(6 * 60..22 * 60));
        // A session lasts under ninety minutes; none is cut by a cancellation.
        if t0 + Duration::hours(2) > self.p.active_until {
            return;
        }
        let first_week = t0 - self.p.signup_at < Duration::days(7);
        let mix = self.mix(first_week);
        let (staff, session) = (self.staff(), self.out.session());
        if self.rng.random_bool(0.8) {
            self.out.push(
                Event::login(self.tenant.tenant_id, "guard")
                    .at(t0)
                    .user(staff)
                    .session(session),
            );
        }
        let candidates: Vec<Uuid> = self
            .state
            .recent
            .iter()
            .filter(|(_, at)| *at < t0)
            .map(|(id, _)| *id)
            .collect();
        let latest = &candidates[candidates.len().saturating_sub(8)..];
        if latest.is_empty() {
            return;
        }
        let mut t = t0;
        let mut viewed = Vec::new();
        for _ in 0..self.rng.random_range(mix.views.0..=mix.views.1) {
            t += Duration::minutes(self.rng.random_range(1..6));
            let incident = latest[self.rng.random_range(0..latest.len())];
            self.view(t, incident, staff, session);
            viewed.push(incident);
        }
        if self.rng.random_bool(mix.replay_p) {
            for _ in 0..self.rng.random_range(mix.replays.0..=mix.replays.1) {
                t += Duration::minutes(self.rng.random_range(1..4));
                let incident = viewed[self.rng.random_range(0..viewed.len())];
                self.replay(t, incident, staff, session);
            }
        }
        // A legal buyer's second export comes with its next visit: they came for exports.
        let owes_export = self.p.archetype == Archetype::LegalCompliance && self.state.exports < 2;
        if owes_export || self.rng.random_bool(mix.export_p) {
            for _ in 0..self.rng.random_range(mix.exports.0..=mix.exports.1) {
                t += Duration::minutes(self.rng.random_range(2..8));
                let incident = viewed[self.rng.random_range(0..viewed.len())];
                self.export(t, incident, staff, session);
            }
        }
    }

    fn mix(&self, first_week: bool) -> Mix {
        let mix = self.usual_mix(first_week);
        if self.day + 1 == self.tl.days() {
            Mix {
                replay_p: mix.replay_p * LAST_DAY_REPLAY_FACTOR,
                ..mix
            }
        } else {
            mix
        }
    }

    fn usual_mix(&self, first_week: bool) -> Mix {
        let none = Mix {
            views: (1, 2),
            replay_p: 0.0,
            replays: (1, 1),
            export_p: 0.0,
            exports: (1, 1),
        };
        match self.p.archetype {
            Archetype::LegalCompliance => Mix {
                views: (1, 3),
                replay_p: 0.3,
                export_p: 0.5,
                exports: (1, 2),
                ..none
            },
            Archetype::Debugger => Mix {
                views: (1, 3),
                replay_p: 0.8,
                replays: (1, 3),
                export_p: if first_week { 0.0 } else { 0.1 },
                ..none
            },
            Archetype::ReliabilityMonitor => Mix {
                views: (1, 4),
                replay_p: if !first_week && self.p.late_replays {
                    0.15
                } else {
                    0.0
                },
                ..none
            },
            Archetype::SilentChurner => Mix {
                views: (2, 4),
                replay_p: 0.6,
                replays: (1, 2),
                export_p: if first_week { 0.0 } else { 0.2 },
                ..none
            },
            Archetype::ExportsWithoutReplays => Mix {
                views: (1, 3),
                export_p: 1.0,
                exports: (2, 5),
                ..none
            },
            _ => none,
        }
    }

    /// Third parties checking the certificates of exported reports.
    fn certificates(&mut self) {
        let p = match self.p.archetype {
            Archetype::LegalCompliance => 0.45,
            Archetype::ExportsWithoutReplays => 0.3,
            _ => return,
        };
        let signup_day = self.tl.day_of(self.p.signup_at);
        // The day after the first export always brings a check: the counterparty got the report.
        if self.state.exports == 0
            || self.day <= signup_day
            || !(self.day == signup_day + 1 || self.rng.random_bool(p))
        {
            return;
        }
        const REFERRERS: [&str; 4] = [
            "https://mail.google.com/",
            "https://outlook.office.com/",
            "https://app.docusign.com/",
            "https://www.linkedin.com/",
        ];
        for _ in 0..self.rng.random_range(1..=3) {
            let t = self.start + Duration::minutes(self.rng.random_range(0..24 * 60 - 1));
            if t >= self.p.active_until || t >= self.end {
                continue;
            }
            let net = ["203.0.113", "198.51.100", "192.0.2"][self.rng.random_range(0..3)];
            let ip = format!("{net}.{}", self.rng.random_range(1..255));
            let referrer = REFERRERS[self.rng.random_range(0..REFERRERS.len())];
            self.out
                .push(Event::cert_verified(self.tenant.tenant_id, &ip, referrer).at(t));
        }
    }

    fn view(&mut self, t: DateTime<Utc>, incident: Uuid, staff: Uuid, session: Uuid) {
        let seconds = self.rng.random_range(15..420);
        let e = Event::incident_viewed(self.tenant.tenant_id, incident, seconds)
            .meta("source", "customer");
        self.out.push(e.at(t).user(staff).session(session));
    }

    fn replay(&mut self, t: DateTime<Utc>, incident: Uuid, staff: Uuid, session: Uuid) {
        let level = ["EXACT", "SEMANTIC", "DIFFERENT"]
            [crate::ids::pick_weighted(&mut self.rng, &[0.45, 0.4, 0.15])];
        let delta = (self.rng.random_range(-0.002..0.001_f64) * 1e6).round() / 1e6;
        let e = Event::replay_executed(self.tenant.tenant_id, incident, level, delta, "customer");
        self.out.push(e.at(t).user(staff).session(session));
    }

    fn export(&mut self, t: DateTime<Utc>, incident: Uuid, staff: Uuid, session: Uuid) {
        let format = if self.rng.random_bool(0.7) {
            "pdf"
        } else {
            "json"
        };
        let flags: &[&str] = match self.rng.random_range(0..3) {
            0 => &["input", "output", "policy_trace"],
            1 => &["input", "output", "policy_trace", "certificate"],
            _ => &[
                "input",
                "output",
                "policy_trace",
                "replay_diff",
                "certificate",
            ],
        };
        let e = Event::export_generated(self.tenant.tenant_id, incident, format, flags, "customer");
        self.out.push(e.at(t).user(staff).session(session));
        self.state.exports += 1;
    }

    fn staff(&mut self) -> Uuid {
        let n = self.rng.random_range(0..self.p.staff);
        self.out.person(Kind::Staff, n)
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.start && t < self.end
    }
}
