//! Ops Console: one crate, two sides. With `ssr` it is the axum server (ingestion, read API,
//! server-rendered pages, jobs); with `hydrate` it is the WASM client that takes the pages over
//! in the browser. `model` is the vocabulary both sides share.

pub mod app;
pub mod components;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // From here the page answers clicks, not only shows: scripts and tests wait for this mark
    // before they interact.
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("data-hydrated", "true");
    }
}
