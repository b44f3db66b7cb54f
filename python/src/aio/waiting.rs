//! The awaitable of a read that must wait: armed on the core's listener, resolved by the loop.
//!
//! [`Waiting`] is the read side of the shared protocol ([`crate::aio::awaitable`]): its
//! [`ReadAttempt`] tries the [`Request`] on the buffer, listens on the core's readiness
//! operation of the request, and keeps the buffer's timeout (`settimeout`) as the deadline of
//! the await, read at the first arming and kept across re-arms. Until the resumed attempt
//! completes, nothing is taken: a cancelled or abandoned await only disarms, so the next read
//! sees every byte.

use std::time::Instant;

use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use crate::aio::awaitable::{awaitable_methods, Attempt, Awaitable, Host, Listener, Outcome};
use crate::aio::done::Pending;
use crate::aio::hub::Parked;
use crate::aio::request::{Request, Want};
use crate::args;
use crate::buffer::PyBuffer;
use crate::wait::deadline;

/// A read on a buffer, attempted at each step.
pub struct ReadAttempt {
    request: Request,
    buffer: Py<PyBuffer>,
    /// `None` until the first arming reads the buffer's timeout; then the deadline, if any.
    deadline: Option<Option<Instant>>,
}

impl Attempt for ReadAttempt {
    type Owner = PyBuffer;

    fn what(&self) -> &'static str {
        self.request.what
    }

    fn owner(&self) -> &Py<PyBuffer> {
        &self.buffer
    }

    fn attempt(&mut self, py: Python<'_>) -> Outcome {
        self.request.attempt(py, self.buffer.get())
    }

    fn listen<'a>(&self, buffer: &'a PyBuffer) -> Box<dyn Listener + 'a> {
        Box::new(self.request.readiness(buffer))
    }

    /// The deadline of this await, reading the buffer's timeout the first time.
    fn deadline(&mut self, py: Python<'_>) -> PyResult<Option<Instant>> {
        if let Some(d) = self.deadline {
            return Ok(d);
        }
        let timeout: Option<f64> = self
            .buffer
            .bind(py)
            .call_method0(pyo3::intern!(py, "gettimeout"))?
            .extract()?;
        let d = deadline(args::timeout(timeout)?);
        self.deadline = Some(d);
        Ok(d)
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.buffer)?;
        if let Want::Into(target) = &self.request.want {
            visit.call(target)?;
        }
        Ok(())
    }
}

/// A read that had to wait, awaitable once.
#[pyclass(module = "py_buffer._native")]
pub struct Waiting {
    awaitable: Awaitable<ReadAttempt>,
}

impl ReadAttempt {
    /// A read of `request` on `buffer`, not attempted yet.
    pub fn new(buffer: Py<PyBuffer>, request: Request) -> Self {
        Self {
            request,
            buffer,
            deadline: None,
        }
    }

    /// Whether an attempt now would complete (a value or an error), taking nothing.
    pub fn could_complete(&self, buffer: &PyBuffer) -> bool {
        self.request.could_complete(buffer)
    }
}

impl From<ReadAttempt> for Waiting {
    /// An await of the read, armed when a task first awaits it.
    fn from(attempt: ReadAttempt) -> Self {
        Self {
            awaitable: Awaitable::new(attempt),
        }
    }
}

impl Pending for ReadAttempt {
    fn attempt(&mut self, py: Python<'_>) -> Outcome {
        Attempt::attempt(self, py)
    }

    fn into_waiting(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(Bound::new(py, Waiting::from(*self))?.into_any().unbind())
    }
}

impl Host for Waiting {
    type Attempt = ReadAttempt;

    fn awaitable(&self) -> &Awaitable<ReadAttempt> {
        &self.awaitable
    }

    fn awaitable_mut(&mut self) -> &mut Awaitable<ReadAttempt> {
        &mut self.awaitable
    }

    fn parked(slf: Py<Self>) -> Parked {
        Parked::Read(slf)
    }
}

awaitable_methods!(Waiting);
