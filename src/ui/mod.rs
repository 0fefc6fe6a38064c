//! The UI's components, one concern per file: the send page ([`home`]) and its parts, the lab
//! page ([`lab`]), shared fields and the browser-side polling they rely on.

pub mod batch_panel;
pub mod broker_badge;
pub mod event_id;
pub mod fields;
pub mod home;
pub mod lab;
pub mod live_list;
pub mod poll;
pub mod recent_sends;
pub mod send_form;
pub mod status_lookup;
pub mod status_view;
pub mod token;
