//! `/notifications`: everything the bell counts, newest first.

use crate::api::{get_inbox, MarkRead};
use crate::components::{human_date, CsrfField, ErrorPanel};
use leptos::prelude::*;
use leptos_meta::Title;

/// The notification list; opening one marks it read.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let mark = ServerAction::<MarkRead>::new();
    let inbox = Resource::new(move || mark.version().get(), |_| get_inbox());
    view! {
        <Title text="Notifications" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match inbox.await {
                    Ok(inbox) => view! {
                        <section class="studio-head">
                            <h1>"Notifications"</h1>
                            {(inbox.unread > 0).then(|| view! {
                                <ActionForm action=mark attr:class="inline-form">
                                    <CsrfField />
                                    <button type="submit" class="button">"Mark all read"</button>
                                </ActionForm>
                            })}
                        </section>
                        {inbox.items.is_empty().then(|| view! { <p class="empty">"Nothing yet."</p> })}
                        <ul class="notifications">
                            {inbox.items.into_iter().map(|n| view! {
                                <li class=if n.read { "notification" } else { "notification unread" }>
                                    <p class="meta"><time>{human_date(n.created_at)}</time>{(!n.read).then_some(" · new")}</p>
                                    <h2 class="notification-title"><a href=n.link.clone()>{n.title.clone()}</a></h2>
                                    <p>{n.body.clone()}</p>
                                    {(!n.read).then(|| view! {
                                        <ActionForm action=mark attr:class="inline-form">
                                            <CsrfField />
                                            <input type="hidden" name="id" value=n.id />
                                            <button type="submit" class="link-button">"Mark read"</button>
                                        </ActionForm>
                                    })}
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
