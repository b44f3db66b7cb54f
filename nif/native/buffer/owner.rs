//! Owner monitoring: if the process owning a buffer dies before the body is closed, the body
//! is aborted with `{owner_down, Reason}` (its exit reason), waking every reader.
//!
//! A NIF resource monitor cannot see the exit reason, so the watching is done by one Erlang
//! process, `py_buffer_owners` (supervised by the application, or started on demand): it
//! monitors each owner pid
//! once and, on `'DOWN'`, calls [`owner_exit`]. This registry maps owner pids to their open
//! buffers, weakly, so it never keeps a buffer alive. With the first buffer of a pid, the NIF
//! returns `{watch, ..., Pid}` and the Erlang wrapper has the watcher monitor the pid (a
//! synchronous call, so the exit reason cannot be missed). An entry lives until its pid's
//! `'DOWN'` (bounded by the live owner processes), so an owner creating many buffers costs one
//! monitor and one call. A watcher that starts (a restart, or the application taking over)
//! monitors every pid [`watched_owners`] lists, so no owner is lost with its predecessor.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use rustler::{Encoder, Env, LocalPid, NifResult, Term};

use crate::atoms;
use crate::buffer::errors;
use crate::buffer::notify;
use crate::buffer::stored_reason::StoredReason;
use crate::buffer::{lock, BufferArc, Inner};

#[derive(Default)]
struct Owned {
    /// The watcher was asked to monitor this pid.
    watched: bool,
    buffers: HashMap<u64, Weak<Inner>>,
}

static REGISTRY: LazyLock<Mutex<HashMap<LocalPid, Owned>>> = LazyLock::new(Default::default);

/// Registers `inner` under its owner. Called with the owner slot locked. True when this is
/// the pid's first buffer: the caller must then have the watcher monitor the pid before
/// returning to Erlang (the Erlang wrapper does, synchronously, so an owner cannot exit
/// unmonitored while it creates its buffer).
pub fn watch(inner: &Arc<Inner>, slot: &mut crate::buffer::OwnerSlot) -> bool {
    let mut registry = lock(&REGISTRY);
    let owned = registry.entry(slot.pid).or_default();
    owned.buffers.insert(inner.id(), Arc::downgrade(inner));
    slot.watched = true;
    !std::mem::replace(&mut owned.watched, true)
}

/// Stops watching buffer `id` for `pid` (the body ended, ownership moved, or the buffer died).
pub fn forget(pid: LocalPid, id: u64) {
    if let Some(owned) = lock(&REGISTRY).get_mut(&pid) {
        owned.buffers.remove(&id);
    }
}

/// Stops watching `inner`'s owner: its body ended.
pub fn body_ended(inner: &Inner) {
    let mut slot = inner.owner();
    if std::mem::replace(&mut slot.watched, false) {
        forget(slot.pid, inner.id());
    }
}

/// `watched_owners()`: every pid owning an open buffer, for a watcher that (re)starts. A
/// watcher's monitors die with it, so a new one must monitor these pids again (while the
/// registry still marks them watched, their later buffers ask nobody). Entries whose buffers
/// all ended or died are dropped (their pid's next buffer asks again). On a dirty scheduler:
/// the walk is as long as the registry.
#[rustler::nif(schedule = "DirtyCpu")]
fn watched_owners() -> Vec<LocalPid> {
    let mut registry = lock(&REGISTRY);
    // `strong_count`, not `upgrade`: dropping an upgraded last reference here would take
    // the registry lock again.
    registry.retain(|_, owned| {
        owned.buffers.retain(|_, weak| weak.strong_count() > 0);
        !owned.buffers.is_empty()
    });
    registry
        .iter_mut()
        .map(|(pid, owned)| {
            owned.watched = true;
            *pid
        })
        .collect()
}

/// The most buffers of one owner aborted on a normal scheduler (about 0.5 µs each, 0.8 with
/// a subscriber): more go to a dirty one, so no scheduler is held for more than ~1 ms (20,000
/// buffers took 10 ms).
const OWNER_EXIT_NORMAL_MAX: usize = 1000;

/// `owner_exit(Pid, Reason)`, called by the watcher: aborts every open buffer owned by `Pid`
/// with `{owner_down, Reason}` and tells their subscribers. Returns how many were aborted, or
/// `dirty` (nothing done) when there are more than [`OWNER_EXIT_NORMAL_MAX`]: the watcher
/// then calls `owner_exit_dirty`, the same on a dirty CPU scheduler.
#[rustler::nif]
fn owner_exit<'a>(env: Env<'a>, pid: LocalPid, why: Term<'a>) -> Term<'a> {
    let many = lock(&REGISTRY)
        .get(&pid)
        .is_some_and(|o| o.buffers.len() > OWNER_EXIT_NORMAL_MAX);
    if many {
        return atoms::dirty().encode(env);
    }
    abort_owned(env, pid, why).encode(env)
}

/// `owner_exit_dirty(Pid, Reason)`: `owner_exit` for an owner of many buffers.
#[rustler::nif(schedule = "DirtyCpu")]
fn owner_exit_dirty<'a>(env: Env<'a>, pid: LocalPid, why: Term<'a>) -> usize {
    abort_owned(env, pid, why)
}

fn abort_owned<'a>(env: Env<'a>, pid: LocalPid, why: Term<'a>) -> usize {
    let owned = lock(&REGISTRY).remove(&pid);
    // Upgraded outside the registry lock: dropping a buffer takes that lock.
    let buffers: Vec<Arc<Inner>> = owned
        .map(|o| {
            o.buffers
                .into_values()
                .filter_map(|w| w.upgrade())
                .collect()
        })
        .unwrap_or_default();
    if buffers.is_empty() {
        return 0;
    }
    // Stored once for all of them (bounded: a huge exit reason is cut, not copied per buffer).
    let reason = StoredReason::new((atoms::owner_down(), why).encode(env));
    let mut aborted = 0;
    for inner in &buffers {
        {
            let mut slot = inner.owner();
            if slot.pid != pid || !slot.watched {
                continue;
            }
            slot.watched = false;
        }
        if notify::run(env, None, || errors::abort_with(inner, &reason)).is_ok() {
            aborted += 1;
        }
    }
    aborted
}

/// `controlling_process_nif(Buf, Pid)`: hands ownership to `Pid`, like
/// `gen_tcp:controlling_process/2`. Only the owner may do it. `ok`, `{watch, Pid}` (the
/// wrapper has the watcher monitor `Pid`), or `{error, not_owner}`.
#[rustler::nif]
fn controlling_process_nif<'a>(env: Env<'a>, buf: BufferArc, pid: LocalPid) -> NifResult<Term<'a>> {
    let caller = env.pid();
    let mut slot = buf.owner();
    if slot.pid != caller {
        return Ok((atoms::error(), atoms::not_owner()).encode(env));
    }
    if slot.pid == pid {
        return Ok(atoms::ok().encode(env));
    }
    let watched = slot.watched;
    if watched {
        forget(slot.pid, buf.id());
    }
    slot.pid = pid;
    slot.watched = false;
    if watched && watch(&buf.0, &mut slot) {
        return Ok((atoms::watch(), pid).encode(env));
    }
    Ok(atoms::ok().encode(env))
}
