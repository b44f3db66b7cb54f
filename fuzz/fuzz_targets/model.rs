//! Random operation sequences on the core, checked against the reference model
//! (`py-buffer-model`): every read kind, seeks, finds, snapshots, close/abort/reader close,
//! bounded mode (reads larger than the bound included), several handles made and dropped.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| py_buffer_fuzz::run(data, py_buffer_fuzz::Range::Small));
