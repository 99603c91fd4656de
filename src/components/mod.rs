//! Pieces shared by the pages.

pub mod async_view;
pub mod chart;
pub mod erase;
pub mod live;
pub mod rendered;
pub mod window;
