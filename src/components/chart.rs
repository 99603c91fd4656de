//! Charts. ECharts (through charming) draws them in the browser; its script is served from
//! our own `/vendor/` and loaded only when a page that has a chart is shown.

use leptos::prelude::*;

use crate::model::events::EventHistogram;

/// A stacked bar chart of events per bucket and type. The `div` it draws into lives outside
/// any `Suspense`, so hydration never replaces it under the chart.
#[component]
pub fn HistogramChart(
    id: &'static str,
    histogram: Resource<Result<EventHistogram, ServerFnError>>,
) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(data)) = histogram.get() {
            leptos::task::spawn_local(async move {
                if let Err(e) = draw::histogram(id, &data).await {
                    leptos::logging::error!("chart {id}: {e}");
                }
            });
        }
    });
    let caption_id = format!("{id}-caption");
    // The caption waits for the data inside its own Suspense, so the server renders the real
    // sentence; the chart's own element stays outside it.
    view! {
        <div id=id class="chart" data-testid=id role="img" aria-describedby=caption_id.clone()></div>
        <Suspense fallback=|| view! { <p class="chart-caption muted">"Loading…"</p> }>
            {
                let caption_id = caption_id.clone();
                move || {
                    let caption_id = caption_id.clone();
                    Suspend::new(async move {
                        let text = caption(&histogram.await);
                        view! { <p id=caption_id class="chart-caption muted">{text}</p> }
                    })
                }
            }
        </Suspense>
    }
}

fn caption(histogram: &Result<EventHistogram, ServerFnError>) -> String {
    match histogram {
        Err(_) => "The volume chart is unavailable.".to_owned(),
        Ok(h) if h.total() == 0 => "No events in this window.".to_owned(),
        Ok(h) => format!(
            "{} events per {} by type, {} to {} UTC.",
            thousands(h.total()),
            h.bucket,
            h.from.format("%b %d %H:%M"),
            h.to.format("%b %d %H:%M")
        ),
    }
}

/// `16893` as `16,893`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(16893), "16,893");
        assert_eq!(super::thousands(-1234567), "-1,234,567");
    }
}

#[cfg(feature = "hydrate")]
pub use draw::{activity_timeline, funnel, incident_matrix, margins, resource_trend, sparkline};

/// Each page's drawing functions are thin: they load ECharts, then hand their data to one
/// `#[lazy]` function holding every chart's charming code. With `cargo leptos build --split` that
/// code is its own WASM chunk, fetched beside ECharts when a visit first draws a chart, and cached
/// like it; pages without a chart never load either.
#[cfg(feature = "hydrate")]
mod draw {
    use super::charts::{self, Spec};
    use crate::model::customers::ActivityDay;
    use crate::model::events::EventHistogram;
    use crate::model::incidents::Matrix;
    use crate::model::infra::ResourceStatus;
    use crate::model::revenue::Revenue;
    use crate::model::stickiness::Funnel;

    async fn draw(id: &str, spec: Spec) -> Result<(), String> {
        charts::ensure_echarts().await?;
        charts::dispose(id);
        charts::render(id.to_owned(), spec).await
    }

    pub async fn histogram(id: &str, data: &EventHistogram) -> Result<(), String> {
        draw(id, Spec::Histogram(data.clone())).await
    }

    pub async fn sparkline(id: &str, values: &[f64]) -> Result<(), String> {
        draw(id, Spec::Sparkline(values.to_vec())).await
    }

    pub async fn resource_trend(id: &str, r: &ResourceStatus) -> Result<(), String> {
        draw(id, Spec::ResourceTrend(r.clone())).await
    }

    pub async fn activity_timeline(id: &str, days: &[ActivityDay]) -> Result<(), String> {
        draw(id, Spec::Activity(days.to_vec())).await
    }

    pub async fn funnel(id: &str, data: &Funnel) -> Result<(), String> {
        draw(id, Spec::Funnel(data.clone())).await
    }

    pub async fn margins(id: &str, data: &Revenue) -> Result<(), String> {
        draw(id, Spec::Margins(data.clone())).await
    }

    pub async fn incident_matrix(id: &str, m: &Matrix) -> Result<(), String> {
        draw(id, Spec::Matrix(m.clone())).await
    }
}

#[cfg(feature = "hydrate")]
mod charts {
    use charming::component::{Axis, Grid, Legend};
    use charming::element::{AxisType, Color, LineStyle, LineStyleType, Tooltip, Trigger};
    use charming::series::{Bar, Line};
    use charming::{Chart, WasmRenderer};
    use wasm_bindgen::{JsCast, JsValue};

    use crate::model::customers::{ActivityDay, ACTIVITY_SERIES};
    use crate::model::events::EventHistogram;
    use crate::model::incidents::Matrix;
    use crate::model::infra::{HourPoint, ResourceStatus};
    use crate::model::revenue::Revenue;
    use crate::model::stickiness::Funnel as FunnelData;

    const ECHARTS_SRC: &str = "/vendor/echarts.min.js";

    /// A chart to draw and the data it is drawn from.
    pub enum Spec {
        Histogram(EventHistogram),
        Sparkline(Vec<f64>),
        ResourceTrend(ResourceStatus),
        Activity(Vec<ActivityDay>),
        Funnel(FunnelData),
        Margins(Revenue),
        Matrix(Matrix),
    }

    /// A built chart and the size to draw it at, in pixels.
    struct Drawing {
        chart: Chart,
        width: u32,
        height: u32,
    }

    /// Builds the chart into the element `id`, which ECharts must already be loaded for. Nothing
    /// is drawn for empty data. The split point: everything charming is reached from here only.
    #[leptos::lazy]
    pub fn render(id: String, spec: Spec) -> Result<(), String> {
        let drawing = match &spec {
            Spec::Histogram(data) => histogram(&id, data),
            Spec::Sparkline(values) => sparkline(&id, values),
            Spec::ResourceTrend(r) => resource_trend(&id, r),
            Spec::Activity(days) => activity_timeline(&id, days),
            Spec::Funnel(data) => funnel(&id, data),
            Spec::Margins(data) => margins(&id, data),
            Spec::Matrix(m) => incident_matrix(&id, m),
        };
        let Some(Drawing {
            chart,
            width,
            height,
        }) = drawing
        else {
            return Ok(());
        };
        WasmRenderer::new(width, height)
            .render(&id, &chart)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    /// Fifteen colours that stay apart, one per event type (ECharts' default repeats after nine).
    const PALETTE: [&str; 15] = [
        "#4e79a7", "#e15759", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
        "#9c755f", "#bab0ac", "#1f3a5f", "#8cd17d", "#d37295", "#499894", "#86bcb6",
    ];

    fn echarts_global() -> Option<JsValue> {
        let window = web_sys::window()?;
        js_sys::Reflect::get(&window, &JsValue::from_str("echarts"))
            .ok()
            .filter(|v| !v.is_undefined())
    }

    /// Loads ECharts once per page view; later calls find the global and return at once.
    pub async fn ensure_echarts() -> Result<(), String> {
        if echarts_global().is_some() {
            return Ok(());
        }
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or("no document")?;
        let script = match document.get_element_by_id("echarts-lib") {
            Some(existing) => existing,
            None => {
                let script = document
                    .create_element("script")
                    .map_err(|_| "cannot create a script element")?;
                script.set_id("echarts-lib");
                script
                    .set_attribute("src", ECHARTS_SRC)
                    .map_err(|_| "cannot set the script source")?;
                let head = document.head().ok_or("no head")?;
                head.append_child(&script)
                    .map_err(|_| "cannot add the script")?;
                script
            }
        };
        let loaded = js_sys::Promise::new(&mut |resolve, reject| {
            let _ = script.add_event_listener_with_callback("load", &resolve);
            let _ = script.add_event_listener_with_callback("error", &reject);
        });
        if echarts_global().is_some() {
            return Ok(());
        }
        wasm_bindgen_futures::JsFuture::from(loaded)
            .await
            .map(|_| ())
            .map_err(|_| format!("could not load {ECHARTS_SRC}"))
    }

    /// The drawing width of the element `id`: its laid-out width, at least `min`.
    fn width_of(id: &str, min: i32) -> u32 {
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id))
            .map(|e| e.client_width().max(min))
            .unwrap_or(min) as u32
    }

    /// Drops a chart drawn earlier into the same element, so a new filter redraws cleanly.
    pub fn dispose(id: &str) {
        let Some(echarts) = echarts_global() else {
            return;
        };
        let Some(element) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id))
        else {
            return;
        };
        if let Ok(f) = js_sys::Reflect::get(&echarts, &JsValue::from_str("dispose")) {
            if let Some(f) = f.dyn_ref::<js_sys::Function>() {
                let _ = f.call1(&echarts, &element);
            }
        }
    }

    fn histogram(id: &str, data: &EventHistogram) -> Option<Drawing> {
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
        let width = width_of(id, 320);
        Some(Drawing {
            chart,
            width,
            height: 320,
        })
    }

    /// A small line of the last seven days, without axes: the shape is the message.
    fn sparkline(id: &str, values: &[f64]) -> Option<Drawing> {
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
        let width = width_of(id, 120);
        Some(Drawing {
            chart,
            width,
            height: 44,
        })
    }

    fn points(series: &[HourPoint], value: fn(&HourPoint) -> f64) -> Vec<Vec<f64>> {
        series
            .iter()
            .map(|p| vec![p.at.timestamp_millis() as f64, value(p)])
            .collect()
    }

    /// Seven days of hourly use, the limit, and the projected path for the next seven.
    fn resource_trend(id: &str, r: &ResourceStatus) -> Option<Drawing> {
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
        let width = width_of(id, 320);
        Some(Drawing {
            chart,
            width,
            height: 220,
        })
    }

    /// Thirty days of one tenant's activity, a line per series.
    fn activity_timeline(id: &str, days: &[ActivityDay]) -> Option<Drawing> {
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
            // A log scale shows API calls and rare exports on one chart; zero days sit on the
            // axis.
            let values: Vec<f64> = days.iter().map(|d| (pick(d) as f64).max(1.0)).collect();
            chart = chart.series(Line::new().name(name).show_symbol(false).data(values));
        }
        let width = width_of(id, 320);
        Some(Drawing {
            chart,
            width,
            height: 320,
        })
    }

    /// The funnel: one band per step, as wide as the tenants that reached it.
    fn funnel(id: &str, data: &FunnelData) -> Option<Drawing> {
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
        let width = width_of(id, 320);
        Some(Drawing {
            chart,
            width,
            height: 320,
        })
    }

    /// One bar per tenant, lowest margin first; losses in red.
    fn margins(id: &str, data: &Revenue) -> Option<Drawing> {
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
        let width = width_of(id, 320);
        Some(Drawing {
            chart,
            width,
            height: 360,
        })
    }

    /// The model × policy matrix as a heatmap: one cell per pair, its count written in it and
    /// its colour from the count.
    fn incident_matrix(id: &str, m: &Matrix) -> Option<Drawing> {
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
                    .in_range(
                        VisualMapChannel::new().color(vec!["#eef3f8", PALETTE[0], PALETTE[1]]),
                    ),
            )
            .series(
                Heatmap::new()
                    .name("incidents")
                    .label(Label::new().show(true))
                    .data(data),
            );
        let height = (80 + 48 * m.models.len()).max(220) as u32;
        Some(Drawing {
            chart,
            width: width_of(id, 320),
            height,
        })
    }
}
