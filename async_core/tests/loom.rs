//! Loom models (placeholder).
#![cfg(loom)]
