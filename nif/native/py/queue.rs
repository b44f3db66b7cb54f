//! A job queue served by worker threads that wait on it with the GIL released.
//!
//! A context queue has exactly one worker (calls on one context run in order). The shared
//! queue of context-free calls grows its set of workers while jobs wait that no idle worker
//! will take, when its watcher (`workers.rs`, from [`Queue::await_shortage`]) finds the
//! workers blocked rather than waiting for the GIL. So calls blocked in Python (a read, a
//! sleep, a database query) leave room for new ones, and calls that merely queue for the
//! GIL do not grow the pool: more threads would only contend for it (a WSGI echo under 32
//! connections, which grew the pool to 32 threads when every job that found no idle worker
//! asked for one, ran ~20% slower than with 2). Idle extra workers exit after a while.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use py_buffer_core::spin;

use crate::py::cpu_demand::Meter;
use crate::py::job::Job;

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
    /// The threads serving the queue, for the watcher's look at what they want.
    workers: Vec<Arc<Meter>>,
    /// The watcher is timing a wait (or was told to): pushes need not wake it.
    watching: bool,
    /// Stopping: workers exit once the queue is empty.
    closed: bool,
}

impl State {
    /// Jobs wait that no idle worker will take, and the queue may have one more thread.
    fn short_of_threads(&self, max_threads: usize) -> bool {
        self.jobs.len() > self.idle && self.threads < max_threads
    }
}

/// A queue of jobs and the count of threads serving it.
pub struct Queue {
    state: Mutex<State>,
    /// `state.jobs.len()`, readable without the lock by spinning workers.
    queued: AtomicUsize,
    ready: Condvar,
    /// Wakes the watcher ([`Queue::await_shortage`]).
    starving: Condvar,
    max_threads: usize,
    /// Jobs of this queue that timed out and still run (see `ticket.rs`).
    stuck: Arc<AtomicUsize>,
}

/// What a worker is told when it asks for work.
pub enum Next {
    /// Run this.
    Job(Job),
    /// Idle for too long and not needed: exit.
    Retire,
}

impl Queue {
    /// An empty queue that may be served by up to `max_threads` threads.
    pub fn new(max_threads: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            queued: AtomicUsize::new(0),
            ready: Condvar::new(),
            starving: Condvar::new(),
            max_threads,
            stuck: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a thread the caller is about to start; false at the bound.
    pub fn reserve_thread(&self) -> bool {
        let mut state = self.lock();
        if state.threads >= self.max_threads {
            return false;
        }
        state.threads += 1;
        true
    }

    /// Uncounts a thread that could not be started after all.
    pub fn release_thread(&self) {
        let mut state = self.lock();
        state.threads = state.threads.saturating_sub(1);
    }

    /// The counter of this queue's stuck jobs, for its tickets.
    pub fn stuck_counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.stuck)
    }

    /// True when every thread this queue may have runs a stuck job: new jobs would only wait.
    pub fn is_exhausted(&self) -> bool {
        self.stuck.load(Ordering::Relaxed) >= self.max_threads
    }

    /// How many of this queue's jobs are stuck.
    pub fn stuck(&self) -> usize {
        self.stuck.load(Ordering::Relaxed)
    }

    /// Stops the queue: its workers exit once the jobs queued so far are done.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
        self.starving.notify_all();
    }

    /// Queues `job`, waking an idle worker and, if none will take it, the watcher.
    pub fn push(&self, job: Job) {
        let mut state = self.lock();
        state.jobs.push_back(job);
        self.queued.store(state.jobs.len(), Ordering::Release);
        let watch = !state.watching && state.short_of_threads(self.max_threads);
        state.watching |= watch;
        drop(state);
        self.ready.notify_one();
        if watch {
            self.starving.notify_one();
        }
    }

    /// For the queue's watcher: waits until jobs have waited `every` with no idle worker to
    /// take them (and the queue may have one more thread), then returns its workers;
    /// `None` once the queue is closed.
    pub fn await_shortage(&self, every: Duration) -> Option<Vec<Arc<Meter>>> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            if !state.short_of_threads(self.max_threads) {
                state.watching = false;
                state = self.starving.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.watching = true;
            let deadline = Instant::now() + every;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if state.closed {
                    return None;
                }
                state = self
                    .starving
                    .wait_timeout(state, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if !state.closed && state.short_of_threads(self.max_threads) {
                return Some(state.workers.clone());
            }
        }
    }

    /// Counts up to `wanted` more threads, for the caller to start: no more than the jobs
    /// waiting beyond the idle workers, nor than the bound allows. Returns how many.
    pub fn reserve_threads(&self, wanted: usize) -> usize {
        let mut state = self.lock();
        let waiting = state.jobs.len().saturating_sub(state.idle);
        let room = self.max_threads.saturating_sub(state.threads);
        let added = wanted.min(waiting).min(room);
        state.threads += added;
        added
    }

    /// Counts a worker in the watcher's looks (until [`Queue::leave`]).
    pub fn enter(&self, worker: &Arc<Meter>) {
        self.lock().workers.push(Arc::clone(worker));
    }

    /// Forgets a worker that exits.
    pub fn leave(&self, worker: &Arc<Meter>) {
        self.lock()
            .workers
            .retain(|other| !Arc::ptr_eq(other, worker));
    }

    /// The next job, waiting for one. A worker first polls for a few microseconds
    /// (`py_buffer_core::spin`: a thread woken from a futex takes 10-30 µs on a VM, more than
    /// a whole no-op call), never yielding the CPU (a yield under load gives it away for a
    /// whole slice of another thread), then sleeps. With `retire_after`, a worker idle that
    /// long retires as long as `keep` other threads remain.
    pub fn next(&self, retire_after: Option<Duration>, keep: usize) -> Next {
        // The poll also gives back a slice a read of the job just done shortened for its
        // sleep: a worker waiting for jobs keeps the default (py_buffer_core::short_slice).
        let _ = spin::poll(None, || {
            (self.queued.load(Ordering::Acquire) != 0).then_some(())
        });
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                self.queued.store(state.jobs.len(), Ordering::Release);
                return Next::Job(job);
            }
            if state.closed {
                state.threads = state.threads.saturating_sub(1);
                return Next::Retire;
            }
            state.idle += 1;
            let timed_out = match retire_after {
                None => {
                    state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
                    false
                }
                Some(after) => {
                    let (guard, result) = self
                        .ready
                        .wait_timeout(state, after)
                        .unwrap_or_else(|e| e.into_inner());
                    state = guard;
                    result.timed_out()
                }
            };
            state.idle -= 1;
            if timed_out && state.jobs.is_empty() && state.threads > keep {
                state.threads -= 1;
                return Next::Retire;
            }
        }
    }

    /// (threads, idle threads, queued jobs).
    pub fn load(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.threads, state.idle, state.jobs.len())
    }
}
