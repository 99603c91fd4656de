//! The fixed moments of a world, all as offsets back from its end.

use crate::WINDOW_DAYS;
use chrono::{DateTime, Duration, DurationRound, Utc};

/// How long before the end the `v12` CONTENT_ACCURACY policy reaches its four tenants.
const ROLLOUT_BEFORE_END_HOURS: i64 = 30;
/// The hour of the LLM provider outage: a few days back, so it is history, not the present.
const BAD_HOUR_BEFORE_END_HOURS: i64 = 82;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeline {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub rollout_at: DateTime<Utc>,
    pub bad_hour: DateTime<Utc>,
}

impl Timeline {
    pub(crate) fn new(end: DateTime<Utc>) -> Self {
        let start = end - Duration::days(WINDOW_DAYS);
        Timeline {
            start,
            end,
            rollout_at: end - Duration::hours(ROLLOUT_BEFORE_END_HOURS),
            // A clock hour, as a console buckets time, so that the outage shows as one bad hour.
            bad_hour: {
                let t = end - Duration::hours(BAD_HOUR_BEFORE_END_HOURS);
                t.duration_trunc(Duration::hours(1)).unwrap_or(t)
            },
        }
    }

    pub(crate) fn days(&self) -> u32 {
        WINDOW_DAYS as u32
    }

    pub(crate) fn day_start(&self, day: u32) -> DateTime<Utc> {
        self.start + Duration::days(i64::from(day))
    }

    /// End of `day`, exclusive; the last day ends exactly at the end of the window.
    pub(crate) fn day_end(&self, day: u32) -> DateTime<Utc> {
        self.day_start(day + 1).min(self.end)
    }

    /// Index of the day that holds `t` (clamped to the window).
    pub(crate) fn day_of(&self, t: DateTime<Utc>) -> u32 {
        let days = (t - self.start).num_milliseconds().div_euclid(86_400_000);
        days.clamp(0, WINDOW_DAYS - 1) as u32
    }

    /// Whether `t` falls in the hour of the LLM provider outage.
    pub(crate) fn in_bad_hour(&self, t: DateTime<Utc>) -> bool {
        t >= self.bad_hour && t < self.bad_hour + Duration::hours(1)
    }
}
