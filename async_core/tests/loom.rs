//! Loom models of the wake-up protocol: every interleaving (up to the preemption bound) of a
//! blocked reader or writer with the change that must wake it. A lost wake-up shows up as a
//! deadlock, which loom reports as a failure.
//!
//! Run with `make loom`, i.e.
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p py-buffer-core --release
//! --target-dir target/loom --test loom`. Without `LOOM_MAX_PREEMPTIONS` the bound defaults to
//! [`DEFAULT_PREEMPTIONS`] (an unbounded search takes hours on two cores).
#![cfg(loom)]

use loom::thread;
use py_buffer_core::{channel, AbortReason, Error, Options};

/// The preemption bound when `LOOM_MAX_PREEMPTIONS` is not set.
const DEFAULT_PREEMPTIONS: usize = 2;

/// Checks `body` under every interleaving within the preemption bound.
fn model(body: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    builder.check(body);
}

#[test]
fn writer_wakes_a_blocked_reader() {
    model(|| {
        let (w, r) = channel(Options::new());
        let producer = thread::spawn(move || {
            w.try_write(b"a").unwrap();
            w.try_write(b"b").unwrap();
            w
        });
        assert_eq!(r.read(2).wait().unwrap(), &b"ab"[..]);
        drop(producer.join().unwrap().close());
    });
}

#[test]
fn close_wakes_a_blocked_reader() {
    model(|| {
        let (w, r) = channel(Options::new());
        let producer = thread::spawn(move || {
            w.try_write(b"x").unwrap();
            w.close().unwrap();
        });
        assert_eq!(r.read_to_end().wait().unwrap(), &b"x"[..]);
        producer.join().unwrap();
    });
}

#[test]
fn abort_wakes_a_blocked_reader() {
    model(|| {
        let (w, r) = channel(Options::new());
        let producer = thread::spawn(move || {
            w.abort(AbortReason::other("gone")).unwrap();
            w
        });
        assert_eq!(
            r.read1(4).wait(),
            Err(Error::Aborted(AbortReason::other("gone")))
        );
        drop(producer.join().unwrap());
    });
}

#[test]
fn dropping_the_last_writer_wakes_a_blocked_reader() {
    model(|| {
        let (w, r) = channel(Options::new());
        let w2 = w.clone();
        let a = thread::spawn(move || drop(w));
        let b = thread::spawn(move || drop(w2));
        assert_eq!(
            r.readline(None).wait(),
            Err(Error::Aborted(AbortReason::WriterGone))
        );
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn bounded_writer_and_draining_reader() {
    model(|| {
        let (w, r) = channel(Options::new().max_buffered(1));
        let producer = thread::spawn(move || {
            w.write(b"ab").wait().unwrap();
            w.close().unwrap();
        });
        let mut got = Vec::new();
        loop {
            let chunk = r.read1(8).wait().unwrap();
            if chunk.is_empty() {
                break;
            }
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, b"ab");
        producer.join().unwrap();
    });
}

#[test]
fn reader_close_wakes_a_blocked_writer() {
    model(|| {
        let (w, r) = channel(Options::new().max_buffered(1));
        w.try_write(b"a").unwrap();
        let consumer = thread::spawn(move || r.close());
        assert_eq!(w.write(b"b").wait(), Err(Error::ReaderClosed));
        consumer.join().unwrap();
    });
}

#[test]
fn large_bounded_write_copied_outside_the_lock_vs_reader() {
    // Writes of 16 KiB and more reserve room under the lock and copy after releasing it;
    // a reader copying out of frozen blocks does the same on its side.
    model(|| {
        let (w, r) = channel(Options::new().max_buffered(40_000));
        let producer = thread::spawn(move || {
            w.write(&[7u8; 30_000]).wait().unwrap();
            w.close().unwrap();
        });
        let mut buf = vec![0u8; 30_000];
        let mut got = 0;
        loop {
            let n = r.read_into(&mut buf[got..]).wait().unwrap();
            if n == 0 {
                break;
            }
            got += n;
        }
        assert_eq!(got, 30_000);
        assert!(buf.iter().all(|&b| b == 7));
        producer.join().unwrap();
    });
}

#[test]
fn reader_close_during_a_large_bounded_write() {
    model(|| {
        let (w, r) = channel(Options::new().max_buffered(20_000));
        let consumer = thread::spawn(move || {
            r.close();
            r
        });
        match w.write(&[1u8; 50_000]).wait() {
            Err(Error::ReaderClosed) => {}
            other => panic!("{other:?}"),
        }
        let r = consumer.join().unwrap();
        assert!(r.info().written <= 20_000);
    });
}

#[test]
fn blocks_recycled_while_a_reader_copies_outside_the_lock() {
    // Bound = block size = one write: the second write needs the first block back, which the
    // reader may still be copying from (then a fresh block is used instead).
    model(|| {
        let (w, r) = channel(Options::new().max_buffered(20_000));
        let producer = thread::spawn(move || {
            w.write(&[1u8; 20_000]).wait().unwrap();
            w.write(&[2u8; 20_000]).wait().unwrap();
            w.close().unwrap();
        });
        let mut buf = vec![0u8; 20_000];
        for expected in [1u8, 2] {
            let mut got = 0;
            while got < buf.len() {
                let n = r.read_into(&mut buf[got..]).wait().unwrap();
                assert!(n > 0);
                got += n;
            }
            assert!(buf.iter().all(|&b| b == expected));
        }
        assert_eq!(r.read_into(&mut buf).wait().unwrap(), 0);
        producer.join().unwrap();
    });
}

#[test]
fn dropping_the_last_reader_wakes_a_blocked_writer() {
    model(|| {
        let (w, r) = channel(Options::new().max_buffered(1));
        w.try_write(b"a").unwrap();
        let consumer = thread::spawn(move || drop(r));
        assert_eq!(w.write(b"b").wait(), Err(Error::ReaderClosed));
        consumer.join().unwrap();
    });
}

#[test]
fn a_read_larger_than_the_bound_sets_bytes_aside_and_completes() {
    // The writer needs room the reader makes only by setting the bytes aside (nothing is
    // consumed until the read completes): a lost `Writable` wake-up deadlocks here.
    model(|| {
        let (w, r) = channel(Options::new().max_buffered(1));
        let producer = thread::spawn(move || {
            w.write(b"abc").wait().unwrap();
            w.close().unwrap();
        });
        assert_eq!(r.read_to_end().wait().unwrap(), &b"abc"[..]);
        producer.join().unwrap();
    });
}

/// An observer that arms itself and then reads the state (as the Erlang subscription's
/// `activate` does) never misses an edge its `wants` (asked under the buffer's lock) skipped:
/// either the state it reads shows the write, or the write found it armed and delivered.
#[test]
fn an_observer_arming_while_a_write_lands_misses_nothing() {
    use loom::sync::atomic::{AtomicBool, Ordering};
    use py_buffer_core::{Edge, Observer};
    use std::sync::Arc as StdArc;

    struct Armed {
        armed: AtomicBool,
        told: AtomicBool,
    }
    struct Sink(loom::sync::Arc<Armed>);
    impl Observer for Sink {
        fn wants(&self, _edge: Edge) -> bool {
            self.0.armed.load(Ordering::Relaxed)
        }
        fn on_edge(&self, edge: Edge) {
            if edge == Edge::Readable && self.0.armed.load(Ordering::SeqCst) {
                self.0.told.store(true, Ordering::SeqCst);
            }
        }
    }

    model(|| {
        let (w, r) = channel(Options::new());
        let flags = loom::sync::Arc::new(Armed {
            armed: AtomicBool::new(false),
            told: AtomicBool::new(false),
        });
        w.set_observer(Some(StdArc::new(Sink(flags.clone()))));
        let producer = thread::spawn(move || {
            w.try_write(b"a").unwrap();
            w
        });
        flags.armed.store(true, Ordering::SeqCst);
        let seen = r.info().unread > 0;
        let w = producer.join().unwrap();
        assert!(
            seen || flags.told.load(Ordering::SeqCst),
            "the edge was lost"
        );
        drop(w);
    });
}
