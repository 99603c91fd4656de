//! What a tenant's users do through the API: calls, the LLM calls behind them, failures,
//! policy evaluations, and the incidents and blocks that some calls end in.

use crate::catalog::{Model, ENDPOINTS, MODELS};
use crate::day::{Force, TenantDay};
use crate::ids::{pick_weighted, Kind};
use crate::incidents::{self, Circumstances, CONTENT_ACCURACY, POLICIES, REGRESSED_VERSION};
use crate::profile::expected_calls;
use crate::Archetype;
use chrono::{DateTime, Duration, Timelike, Utc};
use ops_events::Event;
use rand::Rng;
use rust_decimal::Decimal;
use uuid::Uuid;

/// Everything a call causes happens within this long after it, so that a call placed this
/// far before the end of its hour, its day or the tenant's life has all its events inside.
const FOLLOW_ON_MS: i64 = 10_000;
/// How many of a tenant's latest incidents its people pick from when they open the console.
const REMEMBERED_INCIDENTS: usize = 60;
/// How long after the rollout every regressed tenant meets the new version three times an hour.
const ROLLOUT_BURST_HOURS: i64 = 2;

impl TenantDay<'_> {
    pub(crate) fn traffic(&mut self) {
        let first_slot = i64::from(self.day) * 24;
        for h in 0..24 {
            let slot = self.start + Duration::hours(h);
            let a = slot.max(self.p.signup_at);
            let b = (slot + Duration::hours(1))
                .min(self.p.active_until)
                .min(self.end)
                - Duration::milliseconds(FOLLOW_ON_MS);
            if a >= b {
                continue;
            }
            let lambda = expected_calls(self.p, slot, a, b) * self.rng.random_range(0.75..1.25);
            let mut n = lambda.floor() as u32 + u32::from(self.rng.random_bool(lambda.fract()));
            // A heartbeat: every live tenant calls at least once a day, so "active" is certain.
            if slot.hour() == 15 {
                n = n.max(1);
            }
            // After the rollout each tenant meets the regressed policy every third hour, and
            // three times an hour at first, so that the regression is provable within the hour.
            let first_hours = slot < self.tl.rollout_at + Duration::hours(ROLLOUT_BURST_HOURS);
            let after = slot + Duration::hours(1) > self.tl.rollout_at;
            let forced = if self.p.regression && after {
                if first_hours {
                    3
                } else {
                    u32::from((first_slot + h) % 3 == i64::from(self.p.index % 3))
                }
            } else {
                0
            };
            n = n.max(forced);
            let span = (b - a).num_milliseconds();
            let mut offsets: Vec<i64> = (0..n).map(|_| self.rng.random_range(0..span)).collect();
            offsets.sort_unstable();
            let mut session = None;
            for (i, ms) in offsets.into_iter().enumerate() {
                let s = match session {
                    Some(s) if self.rng.random_bool(0.6) => s,
                    _ => self.out.session(),
                };
                session = Some(s);
                let f = if (i as u32) < forced {
                    Force::ContentAccuracy
                } else {
                    Force::No
                };
                self.call(a + Duration::milliseconds(ms), s, f);
            }
        }
    }

    /// One API call at `t` and what it causes; the incident it ended in, if any.
    pub(crate) fn call(&mut self, t: DateTime<Utc>, session: Uuid, force: Force) -> Option<Uuid> {
        let tid = self.tenant.tenant_id;
        let user = self
            .out
            .person(Kind::EndUser, self.rng.random_range(0..self.p.end_users));
        let mut latency = self.rng.random_range(15..150);
        if self.p.archetype == Archetype::Abuser && force == Force::No && self.rng.random_bool(0.3)
        {
            // Rate-limited before reaching any model.
            let api = Event::api_call_received(tid, "/v1/chat/completions", "POST", 429);
            self.out
                .push(api.at(t).session(session).user(user).latency_ms(latency));
            self.evaluate(t + ms(latency), session, None);
            return None;
        }
        let endpoint = if force == Force::No {
            ENDPOINTS[pick_weighted(&mut self.rng, &ENDPOINTS.map(|e| e.3))]
        } else {
            ENDPOINTS[0]
        };
        let mut status = 200;
        let mut incident = None;
        if endpoint.2 {
            let model = &MODELS[pick_weighted(&mut self.rng, &self.p.model_weights)];
            let bad = self.tl.in_bad_hour(t);
            let mut trouble = false;
            let mut made = true;
            if force == Force::No && self.rng.random_bool(if bad { 0.15 } else { 0.02 }) {
                let weights = if bad {
                    [0.25, 0.7, 0.05]
                } else {
                    [0.45, 0.35, 0.2]
                };
                let (error_type, wait, code) = match pick_weighted(&mut self.rng, &weights) {
                    0 => ("timeout", self.rng.random_range(2_000..2_500), 504),
                    1 => ("5xx", self.rng.random_range(100..900), 502),
                    _ => ("rate_limit", self.rng.random_range(20..200), 429),
                };
                latency += wait;
                let failed = Event::llm_call_failed(
                    tid,
                    model.name,
                    error_type,
                    self.rng.random_range(0..=3),
                );
                self.out
                    .push(failed.at(t + ms(latency)).session(session).user(user));
                made = self.rng.random_bool(0.75);
                trouble = made;
                if !made {
                    status = code;
                }
            }
            if made {
                let llm_ms = self.llm_call(t + ms(latency), session, user, model);
                latency += llm_ms;
                let budget_cut = self.p.heavy && self.rng.random_bool(0.25);
                let rate =
                    self.p.incident_rate * model.incident_factor * if trouble { 4.0 } else { 1.0 };
                if force != Force::No || self.rng.random_bool(rate.min(1.0)) {
                    let c = Circumstances {
                        infra_trouble: trouble,
                        budget_cut,
                        auto_renew: false,
                    };
                    incident = Some(self.incident(
                        t + ms(latency + 5),
                        session,
                        user,
                        model.name,
                        force,
                        c,
                    ));
                }
            }
        } else {
            latency += self.rng.random_range(10..120);
            status = [200, 400, 401, 404][pick_weighted(&mut self.rng, &[0.96, 0.02, 0.01, 0.01])];
        }
        let api = Event::api_call_received(tid, endpoint.0, endpoint.1, status);
        self.out
            .push(api.at(t).session(session).user(user).latency_ms(latency));
        self.evaluate(t + ms(latency + 2), session, incident.map(|i| i.1));
        incident.map(|i| i.0)
    }

    /// The upstream call; its latency.
    fn llm_call(&mut self, t: DateTime<Utc>, session: Uuid, user: Uuid, model: &Model) -> i32 {
        let (tokens_in, tokens_out) = if self.p.heavy {
            (
                self.rng.random_range(8_000..24_000),
                self.rng.random_range(800..2_000),
            )
        } else {
            // Mostly short prompts, a long tail of pasted documents.
            let u: f64 = self.rng.random();
            (
                150 + (2_350.0 * u * u) as u32,
                self.rng.random_range(40..700),
            )
        };
        let micro = i64::from(tokens_in) * model.price_in + i64::from(tokens_out) * model.price_out;
        let cost = Decimal::new(micro, 8).round_dp(6).max(Decimal::new(1, 6));
        let cap = if self.p.heavy { 6_000 } else { 5_000 };
        let first = self
            .rng
            .random_range(model.first_token_ms.0..model.first_token_ms.1);
        let llm_ms = (first + (f64::from(tokens_out) * model.ms_per_token) as i32).min(cap);
        let event = Event::llm_call_made(
            self.tenant.tenant_id,
            model.name,
            tokens_in,
            tokens_out,
            cost,
            llm_ms,
        );
        self.out.push(event.at(t).session(session).user(user));
        llm_ms
    }

    fn incident(
        &mut self,
        at: DateTime<Utc>,
        session: Uuid,
        user: Uuid,
        model: &str,
        force: Force,
        c: Circumstances,
    ) -> (Uuid, usize) {
        let policy = match force {
            Force::ContentAccuracy => CONTENT_ACCURACY,
            _ => pick_weighted(&mut self.rng, &self.p.policy_weights),
        };
        let regressed = self.p.regression && policy == CONTENT_ACCURACY && at >= self.tl.rollout_at;
        let (version, severity) = if regressed {
            let s = incidents::v12_severity(self.state.v12_dealt + usize::from(self.p.index));
            self.state.v12_dealt += 1;
            (REGRESSED_VERSION, s)
        } else {
            (
                POLICIES[policy].version,
                incidents::draw_severity(&mut self.rng, policy),
            )
        };
        let c = Circumstances {
            auto_renew: regressed,
            ..c
        };
        let details = incidents::details(&mut self.rng, policy, version, severity, model, c);
        let id = self.out.incident();
        let tid = self.tenant.tenant_id;
        self.out.push(
            Event::incident_created(tid, id, details)
                .at(at)
                .session(session)
                .user(user),
        );
        self.state.recent.push_back((id, at));
        if self.state.recent.len() > REMEMBERED_INCIDENTS {
            self.state.recent.pop_front();
        }
        if severity >= 4 && self.rng.random_bool(0.6) {
            if let Some(reason) = incidents::block_reason(&mut self.rng, policy) {
                let blocked = Event::policy_blocked(tid, POLICIES[policy].id, reason);
                self.out
                    .push(blocked.at(at + ms(1)).session(session).user(user));
            }
        }
        (id, policy)
    }

    /// A policy evaluation for about one call in three (all of them would double the stream).
    fn evaluate(&mut self, at: DateTime<Utc>, session: Uuid, failed_policy: Option<usize>) {
        if !self.rng.random_bool(1.0 / 3.0) {
            return;
        }
        let (policy, result) = match failed_policy {
            Some(p) => (p, "fail"),
            None => (self.rng.random_range(0..POLICIES.len()), "pass"),
        };
        let latency = self.rng.random_range(2..40);
        let event =
            Event::policy_evaluated(self.tenant.tenant_id, POLICIES[policy].id, result, latency);
        self.out.push(event.at(at).session(session));
    }
}

pub(crate) fn ms(n: i32) -> Duration {
    Duration::milliseconds(i64::from(n))
}
