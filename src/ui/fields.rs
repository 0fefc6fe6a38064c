//! Form fields that work with and without JavaScript: the server renders the value as an
//! attribute, the browser keeps it live; each field shows its own error, linked for screen readers.

use leptos::prelude::*;

/// A labelled text input bound to `value`, with an optional hint and error below it.
#[component]
pub fn TextField(
    /// Form field name (as the server function expects it) and element id.
    name: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(optional, into)] placeholder: Signal<String>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let error_id = format!("{name}-error");
    let described_by = error_id.clone();
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for=name>{label}</label>
            <div class="field-row">
                <input
                    id=name
                    name=name
                    type="text"
                    autocomplete="off"
                    inputmode=inputmode
                    placeholder=move || placeholder.get()
                    value=move || value.get()
                    prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev))
                    aria-invalid=move || error.get().is_some().to_string()
                    aria-describedby=described_by
                    data-testid=format!("field-{name}")
                />
                {children.map(|c| c())}
            </div>
            {hint.map(|h| view! { <p class="hint">{h}</p> })}
            <p class="field-error" id=error_id role="alert" data-testid=format!("error-{name}")>
                {move || error.get()}
            </p>
        </div>
    }
}

/// A labelled multi-line text area bound to `value`, with its error below it.
#[component]
pub fn TextArea(
    name: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
) -> impl IntoView {
    let error_id = format!("{name}-error");
    let described_by = error_id.clone();
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for=name>{label}</label>
            <textarea
                id=name
                name=name
                rows="3"
                spellcheck="false"
                placeholder=placeholder
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby=described_by
                data-testid=format!("field-{name}")
            >
                {value.get_untracked()}
            </textarea>
            {hint.map(|h| view! { <p class="hint">{h}</p> })}
            <p class="field-error" id=error_id role="alert" data-testid=format!("error-{name}")>
                {move || error.get()}
            </p>
        </div>
    }
}

/// One radio option: its value, its label, and an optional line of explanation.
pub type RadioOption = (&'static str, &'static str, Option<&'static str>);

/// A group of radio buttons bound to `value`; each option may carry a line of explanation.
#[component]
pub fn RadioGroup(
    name: &'static str,
    legend: &'static str,
    value: RwSignal<String>,
    options: Vec<RadioOption>,
) -> impl IntoView {
    view! {
        <fieldset class="radio-group">
            <legend>{legend}</legend>
            {options
                .into_iter()
                .map(|(option, label, hint)| {
                    let id = format!("{name}-{option}");
                    view! {
                        <div class="radio-option">
                            <input
                                type="radio"
                                id=id.clone()
                                name=name
                                value=option
                                checked=move || value.get() == option
                                prop:checked=move || value.get() == option
                                on:change=move |_| value.set(option.to_owned())
                                data-testid=format!("{name}-{option}")
                            />
                            <label for=id>{label}</label>
                            {hint.map(|h| view! { <p class="hint">{h}</p> })}
                        </div>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}
