//! The file descriptor a writer rings to wake an event loop, and the loop drains.
//!
//! On Linux an `eventfd` (one descriptor, an 8-byte counter: the cheapest kernel wake-up, the
//! one libuv and so uvloop use for `call_soon_threadsafe`); elsewhere a non-blocking Unix socket
//! pair (what asyncio's own self-pipe is). Ringing never blocks: a full socket already means
//! "look".

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// A wake-up descriptor: `ring` from any thread, `drain` on the loop's thread.
pub struct Doorbell {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::OwnedFd,
    #[cfg(not(target_os = "linux"))]
    tx: std::os::unix::net::UnixStream,
    #[cfg(not(target_os = "linux"))]
    rx: std::os::unix::net::UnixStream,
}

#[cfg(target_os = "linux")]
impl Doorbell {
    /// A new, silent doorbell.
    pub fn new() -> io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: `eventfd` has no memory-safety preconditions; it returns a new descriptor
        // or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd })
    }

    /// Makes the descriptor readable. Never blocks; never takes the GIL.
    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live `u64` to a descriptor this value owns. The result
        // is ignored: the only failure, EAGAIN, means the counter is saturated, i.e. readable.
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast::<libc::c_void>(),
                8,
            )
        };
    }

    /// Makes the descriptor unreadable again (until the next `ring`).
    pub fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live `u64` from a descriptor this value owns;
        // EAGAIN (nothing rung) is fine.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut count as *mut u64).cast::<libc::c_void>(),
                8,
            )
        };
    }

    /// The descriptor the loop watches.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(not(target_os = "linux"))]
impl Doorbell {
    /// A new, silent doorbell.
    pub fn new() -> io::Result<Self> {
        let (tx, rx) = std::os::unix::net::UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Self { tx, rx })
    }

    /// Makes the descriptor readable. Never blocks; never takes the GIL.
    pub fn ring(&self) {
        use std::io::Write;
        // WouldBlock: the socket is full of wake-up bytes already, so the loop will look.
        let _ = (&self.tx).write(&[1]);
    }

    /// Makes the descriptor unreadable again (until the next `ring`).
    pub fn drain(&self) {
        use std::io::Read;
        let mut sink = [0u8; 256];
        loop {
            match (&self.rx).read(&mut sink) {
                Ok(n) if n == sink.len() => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
    }

    /// The descriptor the loop watches.
    pub fn fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }
}
