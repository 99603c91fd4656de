//! Parts of a page that only show numbers and text, rendered on the server by the same
//! components and sent as HTML beside the data the browser acts on. The browser then carries
//! neither their view code nor the types behind them.

use leptos::prelude::*;

/// Markup the server rendered with our components (which escape every text they show), shown as
/// it came. The wrapper adds no box (`.rendered` in the stylesheet).
#[component]
pub fn Rendered(html: String) -> impl IntoView {
    view! { <div class="rendered" inner_html=html></div> }
}
