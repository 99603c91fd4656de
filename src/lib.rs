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
}
