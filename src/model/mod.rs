//! Types shared by the server and the browser: what a caller asks for, how it is validated,
//! and what the service answers. Compiled for both sides so the form validates with the very
//! rules the server applies.

mod batch;
mod idempotency;
mod lab;
mod mode;
mod record;
mod request;
mod status;

pub use batch::{
    BatchAnswer, BatchCounts, BatchRecordResult, BatchRecordStatus, BatchStatus, RecordError, DEFAULT_BATCH_MAX_RECORDS,
};
pub use idempotency::{parse_idempotency_key, MAX_IDEMPOTENCY_KEY_LEN};
pub use lab::{
    FaultInput, FaultKind, FaultParams, FaultSpec, FaultStatus, LabParams, LabRunReport, LabRunRequest, LabRunSpec,
    LabRunState, ProxyListener, Verification, DEFAULT_DELAY_MS, DEFAULT_PRODUCE_REQUESTS, DEFAULT_SLOW_MS,
    DEFAULT_UNAVAILABLE_MS, LAB_SOCKET_TIMEOUT_MS, MAX_LAB_COUNT,
};
pub use mode::{ProducerMode, SendMode};
pub use record::{
    parse_record_text, validate_headers, RecordContent, RecordSummary, DEFAULT_MAX_VALUE_BYTES, MAX_HEADERS,
    MAX_HEADER_NAME, MAX_HEADER_VALUE,
};
pub use request::{
    validate_topic, Field, SendParams, SendRequest, ValidationError, DEFAULT_TOPIC, MAX_EVENT_ID_LEN, MAX_KEY_LEN,
    MAX_TOPIC_LEN,
};
pub use status::{
    BrokerInfo, BrokerKind, DeliveryState, SendAccepted, SendAnswer, SendOutcome, SendReceipt, SendStatus,
};
