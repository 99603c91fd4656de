//! Hourly samples of the platform's resources: Redis filling up steadily (the thing that breaks
//! first), the rest comfortable with a daily rhythm and one past peak each.

use crate::ids::{rng, Ids, Out, Stream, PLATFORM_OWNER};
use crate::timeline::Timeline;
use crate::WINDOW_DAYS;
use chrono::{Duration, Timelike};
use ops_events::Event;
use rand::Rng;
use std::f64::consts::PI;

/// Redis utilisation at the start and the end of the window: about 80 % at the end, short of
/// the console's 80 % alarm, so that the page shows a projection rather than a failure.
const REDIS_FROM: f64 = 0.50;
const REDIS_TO: f64 = 0.77;
/// Hours back from the end of the window of the one-off peaks shown as "Peak" on the infra page.
const LLM_PEAK_HOURS_BACK: i64 = 57;
const SSE_PEAK_HOURS_BACK: i64 = 36;

pub(crate) fn day(seed: u64, ids: Ids, tl: &Timeline, day: u32, buf: &mut Vec<Event>) {
    let mut r = rng(seed, Stream::Infra, u64::from(day), 0);
    let mut out = Out::new(ids, PLATFORM_OWNER, day, buf);
    let total_hours = (WINDOW_DAYS * 24) as f64;
    for h in 0..24 {
        let hour = i64::from(day) * 24 + h;
        // Mid-hour, so that no sample sits on a day's boundary.
        let t = tl.start + Duration::hours(hour) + Duration::minutes(30);
        if t >= tl.end {
            break;
        }
        let busy = 0.5 - 0.5 * (2.0 * PI * (f64::from(t.hour()) - 3.0) / 24.0).cos();
        let back = WINDOW_DAYS * 24 - hour;

        let redis = REDIS_FROM
            + (REDIS_TO - REDIS_FROM) * hour as f64 / total_hours
            + 0.005 * busy
            + r.random_range(-0.008..0.008);
        let db = 0.58 + 0.04 * busy + r.random_range(-0.02..0.02);
        let mut llm = 0.45 + 0.08 * busy + r.random_range(-0.03..0.03);
        let mut sse = 0.28 + 0.05 * busy + r.random_range(-0.02..0.02);
        if back == LLM_PEAK_HOURS_BACK {
            llm = 0.78;
        }
        if back == SSE_PEAK_HOURS_BACK {
            sse = 0.45;
        }
        let samples = [
            ("redis", redis * 1024.0, 1024.0, "MB", 10.0),
            ("db_connections", db * 200.0, 200.0, "connections", 1.0),
            ("llm_rate_limit", llm * 10_000.0, 10_000.0, "req/min", 1.0),
            (
                "sse_connections",
                sse * 5_000.0,
                5_000.0,
                "connections",
                1.0,
            ),
        ];
        for (i, (resource, current, limit, unit, precision)) in samples.into_iter().enumerate() {
            let current = (current * precision).round() / precision;
            let e = Event::infra_limit_hit(resource, current, limit, Some(unit));
            // Spread over a few seconds, as four collectors would report.
            out.push(e.at(t + Duration::seconds(i as i64 * 3)));
        }
    }
}
