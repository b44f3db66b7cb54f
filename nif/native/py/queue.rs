//! A job queue served by worker threads that wait on it with the GIL released.
//!
//! A context queue has exactly one worker (calls on one context run in order). The shared
//! queue of context-free calls grows its set of workers on demand: a push that finds more
//! queued jobs than idle workers asks for one more thread (up to the bound), so calls blocked
//! in Python never delay a new call; idle extra workers exit after a while.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use py_buffer_core::spin;

use crate::py::job::Job;

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
    /// Stopping: workers exit once the queue is empty.
    closed: bool,
}

/// A queue of jobs and the count of threads serving it.
pub struct Queue {
    state: Mutex<State>,
    /// `state.jobs.len()`, readable without the lock by spinning workers.
    queued: AtomicUsize,
    ready: Condvar,
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
    }

    /// Queues `job`; true when a new thread should be started for it (already counted).
    #[must_use]
    pub fn push(&self, job: Job) -> bool {
        let mut state = self.lock();
        state.jobs.push_back(job);
        self.queued.store(state.jobs.len(), Ordering::Release);
        let grow = state.jobs.len() > state.idle && state.threads < self.max_threads;
        if grow {
            state.threads += 1;
        }
        drop(state);
        self.ready.notify_one();
        grow
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
