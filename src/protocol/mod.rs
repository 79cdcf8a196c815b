//! The Hyper-V Dynamic Memory wire protocol: structures, parser, encoders — no behaviour.
//!
//! Follows `dm-protocol.md` §1 (wire structures) plus the protocol-2.0 hot-remove messages and
//! capability-response flags (`host-side.md` §1.1b).

pub mod encode;
#[cfg(feature = "std")]
pub mod json;
pub mod parse;
pub mod wire;

pub use encode::{EncodeError, write_message};
pub use parse::{
    Info, Message, ParseError, Parsed, RefusedRequest, Tolerated, parse, parse_detailed,
    parse_unchecked_ranges, refused_request,
};
pub use wire::*;

#[cfg(test)]
mod tests;
