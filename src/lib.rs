//! Ops Console: one crate, two sides. With `ssr` it is the axum server (ingestion, read API,
//! server-rendered pages, jobs); with `hydrate` it is the WASM client that takes the pages over
//! in the browser. `model` is the vocabulary both sides share.

pub mod app;
pub mod codec;
pub mod components;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Some(body) = document.body() else {
        return;
    };
    // Asynchronous, because each page's code arrives as its own chunk (`app::lazy_pages!`),
    // fetched before the page it renders is hydrated.
    wasm_bindgen_futures::spawn_local(async move {
        leptos::mount::hydrate_from_async(body, app::App)
            .await
            .forget();
        // From here the page answers clicks, not only shows: scripts and tests wait for this
        // mark before they interact.
        if let Some(root) = document.document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}
