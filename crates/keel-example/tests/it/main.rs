//! Integration tests of the example data generator and its weather archive replay; the
//! modules read as a table of contents.

mod determinism;
mod encodings;
mod extra_month;
mod scale;
mod support;
mod truth;
mod weather_api;
