//! The live indicator and the subscription behind it: on `changed` from
//! `/api/v1/ops/stream`, the page's resource is fetched again.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveState {
    Connecting,
    Live,
    Reconnecting,
    /// Showing a past moment: nothing to follow.
    Paused,
}

/// Subscribes while `active` is true and calls `on_change` after new events.
#[allow(unused_variables)]
pub fn use_live(
    active: Signal<bool>,
    on_change: impl Fn() + Clone + Send + Sync + 'static,
) -> ReadSignal<LiveState> {
    let (state, set_state) = signal(LiveState::Connecting);
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;

        let source: StoredValue<Option<web_sys::EventSource>, LocalStorage> =
            StoredValue::new_local(None);
        let close = move || {
            source.update_value(|s| {
                if let Some(s) = s.take() {
                    s.close();
                }
            })
        };
        Effect::new(move |_| {
            close();
            if !active.get() {
                set_state.set(LiveState::Paused);
                return;
            }
            let Ok(es) = web_sys::EventSource::new("/api/v1/ops/stream") else {
                set_state.set(LiveState::Reconnecting);
                return;
            };
            let on_ready = Closure::<dyn Fn()>::new(move || set_state.set(LiveState::Live));
            let changed = on_change.clone();
            let on_changed = Closure::<dyn Fn()>::new(move || {
                set_state.set(LiveState::Live);
                changed();
            });
            // EventSource retries by itself; the page says so meanwhile.
            let on_error = Closure::<dyn Fn()>::new(move || set_state.set(LiveState::Reconnecting));
            let _ = es.add_event_listener_with_callback("ready", on_ready.as_ref().unchecked_ref());
            let _ =
                es.add_event_listener_with_callback("changed", on_changed.as_ref().unchecked_ref());
            es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            on_ready.forget();
            on_changed.forget();
            on_error.forget();
            source.set_value(Some(es));
        });
        on_cleanup(close);
    }
    state
}

#[component]
pub fn LiveBadge(state: ReadSignal<LiveState>) -> impl IntoView {
    let text = move || match state.get() {
        LiveState::Connecting => "Connecting…",
        LiveState::Live => "● Live",
        LiveState::Reconnecting => "Connection lost — retrying…",
        LiveState::Paused => "Paused (past moment)",
    };
    let class = move || match state.get() {
        LiveState::Live => "live-badge on",
        LiveState::Reconnecting => "live-badge lost",
        _ => "live-badge",
    };
    view! {
        <span class=class data-testid="live-status" role="status" aria-live="polite">
            {text}
        </span>
    }
}
