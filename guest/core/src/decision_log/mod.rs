//! Decision logs as OPA writes them
//! (<https://www.openpolicyagent.org/docs/management-decision-logs>): one
//! event per decision ([`DecisionEvent`]), masked in the instance by the
//! policy's own `system.log.mask` rule and a static erase list
//! ([`mask`]), kept in a bounded buffer that drops the oldest events when
//! full and counts every drop, and handed to hosts as gzipped JSON arrays,
//! the body OPA's decision-log plugin POSTs ([`LogBuffer::take_batch`]).
//! [`DecisionLog`] holds the pieces of one instance; the decide path
//! records into it ([`crate::authorizer::decide_logged`]).
//! Hosts own the clock, the network and retries.

mod buffer;
mod event;
mod ids;
mod log;
mod mask;

pub use buffer::{Batch, Encoding, LogBuffer, LogStats};
pub use event::{DecisionEvent, EvalPath, rfc3339_nanos};
pub use ids::DecisionIds;
pub use log::{DecisionLog, EventText, LogConfig};
pub use mask::{MASK_RULE, Masked, mask};

#[cfg(test)]
#[path = "../decision_log_tests.rs"]
mod tests;
