//! The arithmetic on values that come from outside: content lengths up to `u64::MAX`, bounds
//! up to `usize::MAX` (`Options`), seek offsets of any `i64`/`u64` and every whence, read
//! sizes, line limits, `readlines` hints and find windows of any `usize` — against the model,
//! which computes in `i128` and never overflows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| py_buffer_fuzz::run(data, py_buffer_fuzz::Range::Full));
