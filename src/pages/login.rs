use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::model::auth::{safe_next, LoginProblem};

/// The sign-in page. A plain form post to `/login`, so it works before the client has loaded.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let problem = move || {
        query
            .read()
            .get("error")
            .and_then(|c| LoginProblem::from_code(&c))
    };
    let next = move || safe_next(query.read().get("next").as_deref());
    view! {
        <Title text="Sign in" />
        <main class="login">
            <form class="card login-card" method="post" action="/login">
                <h1>"Ops Console"</h1>
                <p class="question">"Sign in to see how the business is really doing."</p>
                {move || {
                    problem()
                        .map(|p| {
                            view! {
                                <p class="error-panel" role="alert">
                                    {p.message()}
                                </p>
                            }
                        })
                }}
                <input type="hidden" name="next" value=next />
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="username" required autofocus />
                </label>
                <label>
                    "Password"
                    <input
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                    />
                </label>
                <button type="submit" class="button primary">"Sign in"</button>
            </form>
        </main>
    }
}
