//! A chart as the browser receives it: the ECharts option the server built with charming, and
//! the size to draw it at. The browser hands the option to ECharts as it came, so it carries no
//! chart-building code of its own.

use serde::{Deserialize, Serialize};

/// One chart to draw.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Drawing {
    /// The ECharts option, as JSON.
    pub option: String,
    /// The narrowest it is drawn, in pixels; it takes its element's width when that is wider.
    pub min_width: u32,
    /// Its height, in pixels.
    pub height: u32,
}

/// A page's data and the charts drawn from it, one per chart slot of the page (`None`: nothing to
/// draw, such as empty data).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Charted<T> {
    pub data: T,
    pub charts: Vec<Option<Drawing>>,
}

impl<T> Charted<T> {
    /// The chart of slot `index`, if it has one.
    pub fn chart(&self, index: usize) -> Option<Drawing> {
        self.charts.get(index).cloned().flatten()
    }
}
