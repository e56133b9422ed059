//! Named evaluation scenarios.
