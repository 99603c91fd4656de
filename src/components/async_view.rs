//! The one way a page shows data that is still loading or failed to load.

use leptos::either::Either;
use leptos::prelude::*;
use std::future::Future;

/// Shows "Loading…" until `load` first finishes, then `render`'s view, or a clear error panel.
/// Call resources inside `load` (`move || async move { resource.await }`) so the view follows
/// them; a refetch keeps the current view until the new data is there (live pages refetch).
pub fn async_view<T, V, Fut>(
    load: impl Fn() -> Fut + Send + Sync + 'static,
    render: impl Fn(T) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView
where
    T: Send + 'static,
    V: IntoView + 'static,
    Fut: Future<Output = Result<T, ServerFnError>> + Send + 'static,
{
    view! {
        <Transition fallback=loading>
            {move || {
                let render = render.clone();
                let pending = load();
                Suspend::new(async move {
                    match pending.await {
                        Ok(data) => Either::Left(render(data)),
                        Err(error) => Either::Right(view! { <ErrorPanel error /> }),
                    }
                })
            }}
        </Transition>
    }
}

/// Shows the view a `#[lazy]` function builds, "Loading…" until its code has arrived. For parts
/// a page shows only after a click (dialogs, results): `cargo leptos build --split` keeps their
/// code out of the page's own chunks, and the first click fetches it. `load` calls the lazy
/// function.
#[cfg(feature = "hydrate")]
pub fn on_demand<Fut>(load: impl Fn() -> Fut + Send + Sync + 'static) -> impl IntoView
where
    Fut: Future<Output = AnyView> + 'static,
{
    // In the browser the loader's future holds JavaScript values; it only ever runs on the one
    // thread there is.
    shown(move || Suspend::new(send_wrapper::SendWrapper::new(load())))
}

/// On the server `#[lazy]` functions are plain functions, so nothing is fetched.
#[cfg(not(feature = "hydrate"))]
pub fn on_demand<Fut>(load: impl Fn() -> Fut + Send + Sync + 'static) -> impl IntoView
where
    Fut: Future<Output = AnyView> + Send + 'static,
{
    shown(move || Suspend::new(load()))
}

fn shown<V: IntoView + 'static>(view: impl Fn() -> V + Send + Sync + 'static) -> impl IntoView {
    view! {
        <Suspense fallback=loading>{view}</Suspense>
    }
}

/// What stands in for a part still on its way.
fn loading() -> impl IntoView {
    view! {
        <p class="loading" role="status" aria-live="polite">
            "Loading…"
        </p>
    }
}

/// What went wrong, in words the founder can act on.
#[component]
pub fn ErrorPanel(error: ServerFnError) -> impl IntoView {
    let text = error.to_string();
    let (title, advice) = if text.contains("unavailable") {
        (
            "Data unavailable",
            "The console cannot reach its database right now. Reload in a few seconds.",
        )
    } else if text.contains("sign in") {
        (
            "Signed out",
            "Your session has ended. Sign in again to continue.",
        )
    } else {
        (
            "Something went wrong",
            "The request failed. Reload the page; if it keeps failing, check the server log.",
        )
    };
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(if title == "Data unavailable" {
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        } else {
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        });
    }
    view! {
        <div class="error-panel" role="alert">
            <strong>{title}</strong>
            <p>{advice}</p>
            <details>
                <summary>"Details"</summary>
                <code>{text}</code>
            </details>
        </div>
    }
}
