//! What the send form holds, as typed: one signal per field, turned into the parameters the
//! server validates (`SendParams`) or the server function's arguments.

use super::super::event_id::{fresh_event_id, fresh_idempotency_key};
use crate::model::{parse_record_text, ProducerMode, SendParams, ValidationError};
use crate::server_fns::SendEvent;
use leptos::prelude::*;

/// `Some(text)` for a non-blank field, as the server function's optional arguments expect.
fn given(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

#[derive(Clone, Copy)]
pub struct SendFields {
    pub mode: RwSignal<String>,
    pub event_id: RwSignal<String>,
    pub topic: RwSignal<String>,
    pub send_mode: RwSignal<String>,
    pub key: RwSignal<String>,
    pub partition: RwSignal<String>,
    /// One per submission: a double click or a network retry of the same submission carries the
    /// same key and sends nothing twice; a new one is made once the answer arrives.
    pub idempotency_key: RwSignal<String>,
    /// The record's own value (JSON) and headers (`name: value` lines); blank: the seed's value.
    pub value: RwSignal<String>,
    pub headers: RwSignal<String>,
}

impl SendFields {
    pub fn new() -> Self {
        Self {
            mode: RwSignal::new(ProducerMode::Idempotent.as_str().to_owned()),
            event_id: RwSignal::new(fresh_event_id()),
            topic: RwSignal::new(String::new()),
            send_mode: RwSignal::new("sync".to_owned()),
            key: RwSignal::new(String::new()),
            partition: RwSignal::new(String::new()),
            idempotency_key: RwSignal::new(fresh_idempotency_key()),
            value: RwSignal::new(String::new()),
            headers: RwSignal::new(String::new()),
        }
    }

    /// The parameters as the server validates them (tracked: for the live client-side check).
    pub fn params(&self) -> SendParams {
        SendParams {
            mode: Some(self.mode.get()),
            event_id: Some(self.event_id.get()),
            topic: given(self.topic.get()),
            send_mode: Some(self.send_mode.get()),
            key: given(self.key.get()),
            partition: given(self.partition.get()),
        }
    }

    /// The browser's check of the value and headers, with the server's own rules.
    pub fn record_error(&self) -> Option<ValidationError> {
        parse_record_text(&self.value.get(), &self.headers.get()).err()
    }

    /// The server function's arguments for one submission.
    pub fn submission(&self) -> SendEvent {
        let p = untrack(|| self.params());
        SendEvent {
            mode: p.mode,
            event_id: p.event_id,
            topic: p.topic,
            send_mode: p.send_mode,
            key: p.key,
            partition: p.partition,
            idempotency_key: Some(self.idempotency_key.get_untracked()),
            value: given(self.value.get_untracked()),
            headers: given(self.headers.get_untracked()),
        }
    }
}
