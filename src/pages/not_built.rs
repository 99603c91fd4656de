use leptos::prelude::*;
use leptos_meta::Title;

use crate::app::Tab;

/// A tab whose page does not exist yet: says so plainly instead of showing made-up numbers.
#[component]
pub fn NotBuilt(tab: Tab) -> impl IntoView {
    view! {
        <Title text=tab.name />
        <header class="page-header">
            <h1>{tab.name}</h1>
            <p class="question">{tab.question}</p>
        </header>
        <section class="card empty-state">
            <p>
                "This page is not built yet. Until it is, the raw stream is on "
                <a href="/events">"Events"</a> "."
            </p>
        </section>
    }
}
