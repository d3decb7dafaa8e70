//! gmr: Guru Meditation Reports for any process on a Linux host.
//!
//! Data flows one way through one module per stage:
//! trigger → capture → unwind → symbolize → sections → view → sink.

pub mod agent;
pub mod capture;
pub mod cli;
pub mod config;
pub mod control;
pub mod freeze;
pub mod go;
pub mod kernel;
pub mod logging;
pub mod mask;
pub mod model;
pub mod proc;
pub mod python;
pub mod report;
pub mod safety;
pub mod sections;
pub mod sink;
pub mod symbolize;
pub mod targets;
#[cfg(test)]
mod test_support;
pub mod trigger;
pub mod unwind;
pub mod view;
