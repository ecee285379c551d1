//! Membership (being written).
