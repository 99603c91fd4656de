//! Charts. The server builds each chart's ECharts option with charming (`server::charts`); the
//! browser hands it to ECharts, whose script is served from our own `/vendor/` and loaded only
//! when a page that has a chart is shown.

use leptos::prelude::*;

use crate::model::chart::Charted;
use crate::model::events::EventHistogram;

/// A stacked bar chart of events per bucket and type. The `div` it draws into lives outside
/// any `Suspense`, so hydration never replaces it under the chart.
#[component]
pub fn HistogramChart(
    id: &'static str,
    histogram: Resource<Result<Charted<EventHistogram>, ServerFnError>>,
) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(data)) = histogram.get() {
            leptos::task::spawn_local(async move {
                if let Err(e) = draw(id, data.chart(0)).await {
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

fn caption(histogram: &Result<Charted<EventHistogram>, ServerFnError>) -> String {
    match histogram.as_ref().map(|h| &h.data) {
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

/// Draws `chart` into the element `id`, replacing what was drawn there before; `None` only clears
/// it. ECharts is loaded on the first call of a page view, so pages without a chart never fetch
/// it.
#[cfg(feature = "hydrate")]
pub async fn draw(id: &str, chart: Option<crate::model::chart::Drawing>) -> Result<(), String> {
    echarts::ensure_loaded().await?;
    echarts::dispose(id);
    match chart {
        Some(chart) => echarts::draw(id, &chart),
        None => Ok(()),
    }
}

#[cfg(feature = "hydrate")]
mod echarts {
    use wasm_bindgen::{JsCast, JsValue};

    use crate::model::chart::Drawing;

    const ECHARTS_SRC: &str = "/vendor/echarts.min.js";

    fn global() -> Option<JsValue> {
        let window = web_sys::window()?;
        js_sys::Reflect::get(&window, &JsValue::from_str("echarts"))
            .ok()
            .filter(|v| !v.is_undefined())
    }

    fn element(id: &str) -> Option<web_sys::Element> {
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id))
    }

    /// `target[name](args…)`, for the few ECharts calls made here.
    fn call(target: &JsValue, name: &str, args: &[&JsValue]) -> Result<JsValue, String> {
        let f = js_sys::Reflect::get(target, &JsValue::from_str(name))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .ok_or_else(|| format!("ECharts has no {name}"))?;
        let args: js_sys::Array = args.iter().copied().collect();
        f.apply(target, &args)
            .map_err(|e| format!("ECharts {name}: {e:?}"))
    }

    /// Loads ECharts once per page view; later calls find the global and return at once.
    pub async fn ensure_loaded() -> Result<(), String> {
        if global().is_some() {
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
        if global().is_some() {
            return Ok(());
        }
        wasm_bindgen_futures::JsFuture::from(loaded)
            .await
            .map(|_| ())
            .map_err(|_| format!("could not load {ECHARTS_SRC}"))
    }

    /// Drops a chart drawn earlier into the same element, so a new filter redraws cleanly.
    pub fn dispose(id: &str) {
        if let (Some(echarts), Some(element)) = (global(), element(id)) {
            let _ = call(&echarts, "dispose", &[&element]);
        }
    }

    /// `echarts.init(element, null, {width, height}).setOption(option)`, at the element's
    /// laid-out width when that is wider than the chart's narrowest.
    pub fn draw(id: &str, chart: &Drawing) -> Result<(), String> {
        let echarts = global().ok_or("ECharts is not loaded")?;
        let element = element(id).ok_or_else(|| format!("no element {id}"))?;
        let width = element.client_width().max(chart.min_width as i32);
        let size = js_sys::Object::new();
        for (key, value) in [("width", width as f64), ("height", chart.height as f64)] {
            js_sys::Reflect::set(&size, &JsValue::from_str(key), &JsValue::from_f64(value))
                .map_err(|_| "cannot size the chart")?;
        }
        let option = js_sys::JSON::parse(&chart.option).map_err(|_| "the chart is not JSON")?;
        let instance = call(&echarts, "init", &[&element, &JsValue::NULL, &size])?;
        call(&instance, "setOption", &[&option]).map(|_| ())
    }
}
