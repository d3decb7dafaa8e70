//! gmr: Guru Meditation Reports for any process on a Linux host.
//!
//! Data flows one way through one module per stage:
//! trigger → capture → unwind → symbolize → sections → view → sink.

pub mod capture;
pub mod model;
pub mod sections;
pub mod sink;
pub mod symbolize;
pub mod unwind;
pub mod view;
