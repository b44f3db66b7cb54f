//! Maps built off the schedulers: Python dicts become Erlang maps on the `py` threads (and in
//! `erlang.send`), in a process-independent env, where OTP 25 cannot build a map of more
//! than 128 keys in one go.
//!
//! `enif_make_map_from_arrays` sorts the keys of a large map with a routine that assumes it
//! runs on a scheduler thread; on any other thread it crashes the VM (SIGSEGV in `erts_qsort`,
//! erlang/otp#8208, fixed after OTP 25.3 but not in Debian 12's 25.2). Growing a map with
//! `enif_make_map_put` takes another path that is safe anywhere. So a map of up to
//! [`FROM_ARRAYS_MAX`] pairs is made at once, and the pairs beyond are put one at a time.
//! That costs more time and memory than one build (each put copies a path of the map's
//! tree; the copies are garbage only once the env is sent): 0.2 s and 75 MB for 100,000
//! integer keys, 2.4 s and 770 MB for a million, measured; a crash is not an option.

use rustler::{Env, Term};

/// The most pairs built in one `enif_make_map_from_arrays` (the crash needs more than 128).
pub const FROM_ARRAYS_MAX: usize = 128;

/// The map of `pairs`, or `None` if two keys are equal in Erlang (a put would drop one).
pub fn from_pairs<'a>(env: Env<'a>, pairs: &[(Term<'a>, Term<'a>)]) -> Option<Term<'a>> {
    let (first, rest) = pairs.split_at(pairs.len().min(FROM_ARRAYS_MAX));
    let mut map = Term::map_from_pairs(env, first).ok()?;
    for &(key, value) in rest {
        if map.map_get(key).is_ok() {
            return None;
        }
        map = map.map_put(key, value).ok()?;
    }
    Some(map)
}
