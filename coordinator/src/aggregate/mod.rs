//! Streaming aggregation of one federated round. Agents answer a round offer with an
//! update (full weights or a delta against the offered base); the coordinator must turn
//! whatever arrives before the deadline into the next global model without trusting any
//! single agent: an agent can be buggy (NaN weights, a stale base after a restart, an
//! answer to a round that already closed) or hostile (an enormous update meant to drag
//! the fleet's model). So every update is validated before it counts, and each refusal is
//! counted and logged with a stable reason; accepted updates are normalised to deltas,
//! optionally clipped to a norm bound, and folded in on arrival. FedAvg keeps only a
//! running weighted sum, O(model) memory however many agents report; the robust
//! coordinate-wise strategies (trimmed mean, median) need every delta and say so in
//! [`strategy::Strategy`].
//!
//! Pure: no I/O and no clock. The round engine decides when a round opens and closes and
//! owns the transport; [`round::Aggregator`] owns the arithmetic.

pub(crate) mod rejection;
pub(crate) mod round;
pub(crate) mod strategy;
#[cfg(test)]
mod tests;
