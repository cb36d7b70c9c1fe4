//! The schedule of one kind of outgoing call of a worker's root context
//! (a bundle poll, a decision-log upload): waiting until a time, or one
//! call in flight since a time, known by the token its answer carries.

/// Waiting or in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Nothing is due before this time (ms since the epoch).
    Waiting { due_ms: u64 },
    /// A call is out since this time.
    InFlight { token: u32, since_ms: u64 },
}

impl CallState {
    /// The call went out as `token` at `now_ms`.
    pub fn start(&mut self, token: u32, now_ms: u64) {
        *self = CallState::InFlight {
            token,
            since_ms: now_ms,
        };
    }

    /// Whether `token` is the call in flight (an abandoned call's late
    /// answer is not).
    pub fn awaits(&self, token: u32) -> bool {
        matches!(*self, CallState::InFlight { token: t, .. } if t == token)
    }
}
