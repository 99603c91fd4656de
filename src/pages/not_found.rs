use leptos::prelude::*;
use leptos_meta::Title;

/// Makes the server's answer a 404 (a page that renders what is missing calls it).
pub fn answer_not_found() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    answer_not_found();
    view! {
        <Title text="Not found" />
        <main class="narrow">
            <h1>"Page not found"</h1>
            <p>"There is no page at this address. " <a href="/">"Back to System Pulse"</a></p>
        </main>
    }
}
