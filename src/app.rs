//! The HTML shell, the routes, and the navigation that frames every page.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Outlet, ParentRoute, Route, Router, Routes, A};
use leptos_router::hooks::use_location;
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

use crate::components::async_view::async_view;
use crate::components::erase::Erase;
use crate::pages::customer::CustomerPage;
use crate::pages::customers::CustomersPage;
use crate::pages::events::EventsPage;
use crate::pages::incidents::IncidentsPage;
use crate::pages::infra::InfraPage;
use crate::pages::login::LoginPage;
use crate::pages::not_found::NotFound;
use crate::pages::pulse::PulsePage;
use crate::pages::replay::{ReplayPage, ReplayPickerPage};
use crate::pages::revenue::RevenuePage;
use crate::pages::settings::SettingsPage;
use crate::pages::stickiness::StickinessPage;

/// The page frame. Its Content-Security-Policy names the nonce the hydration scripts carry
/// (`server::http`'s `page_policy`).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// One tab of the console: the page and the founder question it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tab {
    pub path: &'static str,
    pub name: &'static str,
    pub question: &'static str,
}

/// The seven founder questions of PIN-105, in the spec's order, then the raw stream.
pub const TABS: [Tab; 8] = [
    Tab {
        path: "/",
        name: "System Pulse",
        question: "Is my business healthy right now?",
    },
    Tab {
        path: "/customers",
        name: "Customer Intelligence",
        question: "Who is this customer and are they slipping?",
    },
    Tab {
        path: "/incidents",
        name: "Incident Intelligence",
        question: "What is breaking and is it systemic?",
    },
    Tab {
        path: "/stickiness",
        name: "Product Stickiness",
        question: "Which feature actually keeps users?",
    },
    Tab {
        path: "/revenue",
        name: "Revenue & Risk",
        question: "Am I making money safely?",
    },
    Tab {
        path: "/infra",
        name: "Infra & Limits",
        question: "What breaks first if I grow?",
    },
    Tab {
        path: "/replay",
        name: "Replay Lab",
        question: "Can I reproduce and fix anything?",
    },
    Tab {
        path: "/events",
        name: "Events",
        question: "What exactly happened, in order?",
    },
];

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/ops-console.css" />
        <Title formatter=|page: String| format!("{page} · Ops Console") />
        <Router>
            <Routes fallback=|| view! { <NotFound /> }>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} />
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("") view={Lazy::<PulseRoute>::new()} />
                    <Route path=path!("customers") view={Lazy::<CustomersRoute>::new()} />
                    // Rendered whole before the head is sent, so an unknown tenant's 404 status
                    // reaches the browser (a streamed page has already said 200).
                    <Route
                        path=path!("customers/:tenant_id")
                        view={Lazy::<CustomerRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("incidents") view={Lazy::<IncidentsRoute>::new()} />
                    <Route path=path!("stickiness") view={Lazy::<StickinessRoute>::new()} />
                    <Route path=path!("revenue") view={Lazy::<RevenueRoute>::new()} />
                    <Route path=path!("infra") view={Lazy::<InfraRoute>::new()} />
                    <Route path=path!("replay") view={Lazy::<ReplayPickerRoute>::new()} />
                    <Route
                        path=path!("replay/:incident_id")
                        view={Lazy::<ReplayRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("events") view={Lazy::<EventsRoute>::new()} />
                    <Route path=path!("settings") view={Lazy::<SettingsRoute>::new()} />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Each page's code is its own WASM chunk, fetched when its route is first opened
/// (`cargo leptos build --split`): the first load brings the shell and the one page it shows, not
/// every page. The pages load their own data, so a route's data half is empty.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.erase()
            }
        }
    )*};
}

lazy_pages! {
    LoginRoute => LoginPage,
    PulseRoute => PulsePage,
    CustomersRoute => CustomersPage,
    CustomerRoute => CustomerPage,
    IncidentsRoute => IncidentsPage,
    StickinessRoute => StickinessPage,
    RevenueRoute => RevenuePage,
    InfraRoute => InfraPage,
    ReplayPickerRoute => ReplayPickerPage,
    ReplayRoute => ReplayPage,
    EventsRoute => EventsPage,
    SettingsRoute => SettingsPage,
}

/// The frame of every signed-in page: the navigation, who is signed in, and the page itself.
#[component]
fn Shell() -> impl IntoView {
    let location = use_location();
    let operator = Resource::new(|| (), |_| current_operator());
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <div class="layout">
            <header class="topbar">
                <a class="brand" href="/">"Ops Console"</a>
                <div class="who">
                    {async_view(
                        move || async move { operator.await },
                        |op| view! { <span class="operator">{op.email}</span> },
                    )}
                    <form method="post" action="/logout">
                        <button type="submit" class="button subtle">"Log out"</button>
                    </form>
                </div>
            </header>
            <nav aria-label="Main" class="sidenav">
                <ul>
                    {TABS
                        .iter()
                        .map(|tab| {
                            let path = tab.path;
                            let current = move || {
                                let here = location.pathname.get();
                                let on = if path == "/" { here == "/" } else { here.starts_with(path) };
                                on.then_some("page")
                            };
                            view! {
                                <li>
                                    <A href=path attr:aria-current=current attr:title=tab.question>
                                        <span class="tab-name">{tab.name}</span>
                                        <span class="tab-question">{tab.question}</span>
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
                <ul class="nav-extra">
                    <li>
                        <A href="/settings" attr:aria-current=move || {
                            (location.pathname.get() == "/settings").then_some("page")
                        }>
                            <span class="tab-name">"Alert settings"</span>
                            <span class="tab-question">"Thresholds and webhooks"</span>
                        </A>
                    </li>
                </ul>
            </nav>
            <main id="main" class="content">
                <Outlet />
            </main>
        </div>
    }
}

/// Who is signed in.
#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn current_operator() -> Result<crate::model::auth::Operator, ServerFnError> {
    crate::server::session::require_operator().await
}
