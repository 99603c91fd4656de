//! One module per page.

pub mod customer;
pub mod customers;
pub mod events;
pub mod incidents;
pub mod infra;
pub mod login;
pub mod not_found;
pub mod pulse;
pub mod replay;
pub mod revenue;
pub mod settings;
pub mod stickiness;
