//! Every chart's ECharts option, built here with charming from the same data the page shows.
//! The browser receives each as a [`Drawing`] and only hands it to ECharts
//! (`components::chart::draw`), so no chart-building code ships in the WASM. Empty data has no
//! chart: the page says so in words.

use charming::component::{Axis, Grid, Legend};
use charming::element::{AxisType, Color, LineStyle, LineStyleType, Tooltip, Trigger};
use charming::series::{Bar, Line};
use charming::Chart;

use crate::model::chart::Drawing;
use crate::model::customers::{ActivityDay, ACTIVITY_SERIES};
use crate::model::events::EventHistogram;
use crate::model::incidents::Matrix;
use crate::model::infra::{HourPoint, ResourceStatus};
use crate::model::revenue::Revenue;
use crate::model::stickiness::Funnel as FunnelData;

/// Fifteen colours that stay apart, one per event type (ECharts' default repeats after nine).
const PALETTE: [&str; 15] = [
    "#4e79a7", "#e15759", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f3a5f", "#8cd17d", "#d37295", "#499894", "#86bcb6",
];

fn drawing(chart: Chart, min_width: u32, height: u32) -> Option<Drawing> {
    Some(Drawing {
        option: serde_json::to_string(&chart).ok()?,
        min_width,
        height,
    })
}

/// Events per bucket, a stacked bar per event type.
pub fn histogram(data: &EventHistogram) -> Option<Drawing> {
    if data.total() == 0 {
        return None;
    }
    let format = if data.bucket == "hour" {
        "%d %H:00"
    } else {
        "%b %d"
    };
    let labels: Vec<String> = data
        .buckets
        .iter()
        .map(|b| b.format(format).to_string())
        .collect();
    let mut chart = Chart::new()
        .color(PALETTE.iter().map(|c| Color::from(*c)).collect())
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().top(0))
        .grid(Grid::new().left(48).right(16).top(64).bottom(28))
        .x_axis(Axis::new().type_(AxisType::Category).data(labels))
        .y_axis(Axis::new().type_(AxisType::Value));
    for series in &data.series {
        chart = chart.series(
            Bar::new()
                .name(series.event_type.as_str())
                .stack("events")
                .data(series.counts.clone()),
        );
    }
    drawing(chart, 320, 320)
}

/// A small line of the last seven days, without axes: the shape is the message.
pub fn sparkline(values: &[f64]) -> Option<Drawing> {
    if values.is_empty() {
        return None;
    }
    let chart = Chart::new()
        .color(vec![Color::from(PALETTE[0])])
        .grid(Grid::new().left(2).right(2).top(4).bottom(4))
        .x_axis(
            Axis::new()
                .type_(AxisType::Category)
                .show(false)
                .data((0..values.len()).map(|i| i.to_string()).collect()),
        )
        .y_axis(Axis::new().type_(AxisType::Value).show(false))
        .series(Line::new().data(values.to_vec()).show_symbol(false));
    drawing(chart, 120, 44)
}

fn points(series: &[HourPoint], value: fn(&HourPoint) -> f64) -> Vec<Vec<f64>> {
    series
        .iter()
        .map(|p| vec![p.at.timestamp_millis() as f64, value(p)])
        .collect()
}

/// Seven days of hourly use, the limit, and the projected path for the next seven.
pub fn resource_trend(r: &ResourceStatus) -> Option<Drawing> {
    let all: Vec<HourPoint> = r.hourly.iter().chain(&r.projection).copied().collect();
    let chart = Chart::new()
        .color(vec![
            Color::from(PALETTE[0]),
            Color::from(PALETTE[2]),
            Color::from(PALETTE[1]),
        ])
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().top(0))
        .grid(Grid::new().left(56).right(16).top(32).bottom(28))
        .x_axis(Axis::new().type_(AxisType::Time))
        .y_axis(Axis::new().type_(AxisType::Value))
        .series(
            Line::new()
                .name("used (hourly mean)")
                .show_symbol(false)
                .data(points(&r.hourly, |p| p.value)),
        )
        .series(
            Line::new()
                .name("projected")
                .show_symbol(false)
                .line_style(LineStyle::new().type_(LineStyleType::Dashed))
                .data(points(&r.projection, |p| p.value)),
        )
        .series(
            Line::new()
                .name("limit")
                .show_symbol(false)
                .line_style(LineStyle::new().type_(LineStyleType::Dotted))
                .data(points(&all, |p| p.limit)),
        );
    drawing(chart, 320, 220)
}

/// Thirty days of one tenant's activity, a line per series.
pub fn activity_timeline(days: &[ActivityDay]) -> Option<Drawing> {
    let labels: Vec<String> = days
        .iter()
        .map(|d| d.until.format("%b %d").to_string())
        .collect();
    let mut chart = Chart::new()
        .color(PALETTE.iter().map(|c| Color::from(*c)).collect())
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().top(0))
        .grid(Grid::new().left(48).right(16).top(40).bottom(28))
        .x_axis(Axis::new().type_(AxisType::Category).data(labels))
        .y_axis(Axis::new().type_(AxisType::Log).min(1));
    for (name, pick) in ACTIVITY_SERIES {
        // A log scale shows API calls and rare exports on one chart; zero days sit on the axis.
        let values: Vec<f64> = days.iter().map(|d| (pick(d) as f64).max(1.0)).collect();
        chart = chart.series(Line::new().name(name).show_symbol(false).data(values));
    }
    drawing(chart, 320, 320)
}

/// The funnel: one band per step, as wide as the tenants that reached it.
pub fn funnel(data: &FunnelData) -> Option<Drawing> {
    use charming::element::{Label, Sort};
    use charming::series::Funnel;
    if data.steps.first().is_none_or(|s| s.tenants == 0) {
        return None;
    }
    let max = data.steps[0].tenants as f64;
    let points: Vec<(i64, String)> = data
        .steps
        .iter()
        .map(|s| (s.tenants, s.step.clone()))
        .collect();
    let chart = Chart::new()
        .color(PALETTE.iter().map(|c| Color::from(*c)).collect())
        .tooltip(Tooltip::new().trigger(Trigger::Item))
        .series(
            Funnel::new()
                .name("Tenants")
                .sort(Sort::None)
                .min(0.0)
                .max(max)
                .gap(2.0)
                .left("8%")
                .width("62%")
                .label(Label::new().show(true).formatter("{b}: {c}"))
                .data(points),
        );
    drawing(chart, 320, 320)
}

/// One bar per tenant, lowest margin first; losses in red.
pub fn margins(data: &Revenue) -> Option<Drawing> {
    use charming::datatype::DataPointItem;
    use charming::element::ItemStyle;
    use rust_decimal::prelude::ToPrimitive;
    if data.tenants.is_empty() {
        return None;
    }
    let names: Vec<String> = data.tenants.iter().map(|t| t.tenant_name.clone()).collect();
    let bars: Vec<DataPointItem> = data
        .tenants
        .iter()
        .map(|t| {
            let margin = t.margin_usd.to_f64().unwrap_or_default();
            let colour = if margin < 0.0 { PALETTE[1] } else { PALETTE[3] };
            DataPointItem::new(margin).item_style(ItemStyle::new().color(colour))
        })
        .collect();
    let chart = Chart::new()
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .grid(Grid::new().left(64).right(16).top(16).bottom(90))
        .x_axis(
            Axis::new()
                .type_(AxisType::Category)
                .data(names)
                .axis_label(charming::element::AxisLabel::new().rotate(60)),
        )
        .y_axis(Axis::new().type_(AxisType::Value).name("USD"))
        .series(Bar::new().name("margin").data(bars));
    drawing(chart, 320, 360)
}

/// The model × policy matrix as a heatmap: one cell per pair, its count written in it and its
/// colour from the count.
pub fn incident_matrix(m: &Matrix) -> Option<Drawing> {
    use charming::component::{VisualMap, VisualMapChannel};
    use charming::datatype::DataPoint;
    use charming::element::{Label, Orient};
    use charming::series::Heatmap;
    if m.cells.is_empty() {
        return None;
    }
    let index = |list: &[String], name: &str| {
        list.iter().position(|x| x == name).unwrap_or_default() as i64
    };
    let max = m.cells.iter().map(|c| c.incident_count).max().unwrap_or(1);
    let data: Vec<Vec<DataPoint>> = m
        .cells
        .iter()
        .map(|c| {
            vec![
                DataPoint::from(index(&m.policies, &c.policy_id)),
                DataPoint::from(index(&m.models, &c.model)),
                DataPoint::from(c.incident_count),
            ]
        })
        .collect();
    let chart = Chart::new()
        .tooltip(Tooltip::new())
        .grid(Grid::new().left(120).right(16).top(16).bottom(80))
        .x_axis(
            Axis::new()
                .type_(AxisType::Category)
                .data(m.policies.clone()),
        )
        .y_axis(Axis::new().type_(AxisType::Category).data(m.models.clone()))
        .visual_map(
            VisualMap::new()
                .min(0)
                .max(max as f64)
                .calculable(true)
                .orient(Orient::Horizontal)
                .left("center")
                .bottom(0)
                .in_range(VisualMapChannel::new().color(vec!["#eef3f8", PALETTE[0], PALETTE[1]])),
        )
        .series(
            Heatmap::new()
                .name("incidents")
                .label(Label::new().show(true))
                .data(data),
        );
    let height = (80 + 48 * m.models.len()).max(220) as u32;
    drawing(chart, 320, height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::events::HistogramSeries;
    use crate::model::incidents::MatrixCell;
    use crate::model::EventType;
    use chrono::{TimeZone, Utc};
    use serde_json::{json, Value};

    fn option(d: &Drawing) -> Value {
        serde_json::from_str(&d.option).expect("the option is JSON")
    }

    fn cell(model: &str, policy_id: &str, incident_count: i64) -> MatrixCell {
        MatrixCell {
            model: model.into(),
            policy_id: policy_id.into(),
            incident_count,
            avg_severity: None,
        }
    }

    #[test]
    fn the_matrix_places_each_pair_at_its_policy_and_model() {
        let m = Matrix {
            models: vec!["gpt-4o".into(), "claude".into()],
            policies: vec!["pii".into(), "jailbreak".into()],
            cells: vec![
                cell("gpt-4o", "jailbreak", 7),
                cell("claude", "pii", 3),
                cell("gpt-4o", "pii", 1),
            ],
        };
        let d = incident_matrix(&m).expect("a chart");
        let o = option(&d);
        // x is the policy's position, y the model's, then the count.
        assert_eq!(
            o["series"][0]["data"],
            json!([[1, 0, 7], [0, 1, 3], [0, 0, 1]])
        );
        assert_eq!(o["series"][0]["type"], "heatmap");
        assert_eq!(o["xAxis"]["data"], json!(["pii", "jailbreak"]));
        assert_eq!(o["yAxis"]["data"], json!(["gpt-4o", "claude"]));
        assert_eq!(o["visualMap"][0]["max"], json!(7.0));
        // Two models fit the smallest height; each further one adds a row of 48 px.
        assert_eq!(d.height, 220);
        let mut tall = m.clone();
        tall.models.extend(["a".into(), "b".into()]);
        assert_eq!(incident_matrix(&tall).unwrap().height, 80 + 48 * 4);
        assert_eq!(incident_matrix(&Matrix::default()), None);
    }

    #[test]
    fn the_histogram_stacks_one_series_per_event_type() {
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 3, h, 0, 0).unwrap();
        let h = EventHistogram {
            from: at(0),
            to: at(2),
            bucket: "hour".into(),
            buckets: vec![at(0), at(1)],
            series: vec![
                HistogramSeries {
                    event_type: EventType::ApiCallReceived,
                    counts: vec![5, 0],
                },
                HistogramSeries {
                    event_type: EventType::IncidentCreated,
                    counts: vec![1, 2],
                },
            ],
        };
        let o = option(&histogram(&h).expect("a chart"));
        assert_eq!(o["xAxis"]["data"], json!(["03 00:00", "03 01:00"]));
        assert_eq!(o["series"][0]["name"], "API_CALL_RECEIVED");
        assert_eq!(o["series"][0]["data"], json!([5, 0]));
        assert_eq!(o["series"][1]["name"], "INCIDENT_CREATED");
        assert_eq!(o["series"][1]["data"], json!([1, 2]));
        assert!(o["series"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["stack"] == "events"));
        let empty = EventHistogram {
            series: vec![],
            ..h
        };
        assert_eq!(histogram(&empty), None);
    }

    #[test]
    fn a_sparkline_draws_its_values_and_nothing_without_them() {
        let d = sparkline(&[1.0, 2.5, 0.0]).expect("a chart");
        assert_eq!(option(&d)["series"][0]["data"], json!([1.0, 2.5, 0.0]));
        assert_eq!((d.min_width, d.height), (120, 44));
        assert_eq!(sparkline(&[]), None);
    }
}
