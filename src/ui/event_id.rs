//! Fresh, readable event ids (`EVT-` and 10 hex digits) and idempotency keys (`form-` and 24
//! hex digits) for the send form.

/// A new id; random enough that two people never pick the same by accident.
pub fn fresh_event_id() -> String {
    format!("EVT-{:010x}", random_bits() & 0xff_ffff_ffff)
}

/// A new Idempotency-Key: one per submission of the form.
pub fn fresh_idempotency_key() -> String {
    format!("form-{:012x}{:012x}", random_bits() & 0xffff_ffff_ffff, random_bits() & 0xffff_ffff_ffff)
}

#[cfg(feature = "ssr")]
fn random_bits() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

#[cfg(not(feature = "ssr"))]
fn random_bits() -> u64 {
    (js_sys::Math::random() * 2f64.powi(52)) as u64
}
