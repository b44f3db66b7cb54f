//! The ERTS resource type of [`Buffer`], registered by this library at load, and the two ways
//! Rust code holds a buffer resource: borrowed from a term (`&Buffer`, for one NIF call) and
//! owned ([`BufferArc`], a counted reference like rustler's `ResourceArc`).
//!
//! Why not rustler's `#[resource_impl]`: rustler 0.39 finds a resource's type by looking it up
//! in a `HashMap` keyed by `TypeId` (SipHash) on every decode, a sixth of the instructions of a
//! small write, and keeps the pointer it registered private. Registering the type here keeps
//! the pointer in one static, so every decode is one `enif_get_resource` with a known type,
//! with no assumption about ERTS's internals (an earlier version learnt the type from the word
//! ERTS keeps in front of a resource object). Every buffer NIF goes through this module: one
//! type, one layout, one place (`docs/decisions.md`, "Erlang NIF").
//!
//! Layout of a resource object: one [`Buffer`] at the first address aligned for it, so the
//! object is allocated [`OBJECT_SIZE`] bytes whatever alignment ERTS gives.

use std::ffi::{c_void, CStr};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering};

use rustler::sys::{
    enif_alloc_resource, enif_get_resource, enif_init_resource_type, enif_keep_resource,
    enif_make_resource, enif_release_resource, ErlNifEnv, ErlNifResourceDtor, ErlNifResourceFlags,
    ErlNifResourceType, ErlNifResourceTypeInit, ErlNifTerm,
};
use rustler::{Decoder, Encoder, Env, Error, NifResult, Term};

use crate::buffer::Buffer;

/// The name the type is registered under (unique within module `py_buffer`).
const TYPE_NAME: &CStr = c"py_buffer";

/// Bytes allocated per resource object: a [`Buffer`] and room to align it.
const OBJECT_SIZE: usize = size_of::<Buffer>() + align_of::<Buffer>() - 1;

/// The type registered by [`register`]; null before (and if registration failed, in which
/// case the library does not load and no NIF runs).
static BUFFER_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(ptr::null_mut());

/// Registers the resource type. Called once, from the load callback (the only place ERTS
/// accepts it); `false` fails the load.
pub fn register(env: Env<'_>) -> bool {
    let destructor: ErlNifResourceDtor = destroy;
    let init = ErlNifResourceTypeInit {
        // rustler's bindings declare the callbacks as pointers to function pointers; ERTS
        // reads them as function pointers (what rustler's own registration passes too).
        dtor: destructor as *const ErlNifResourceDtor,
        stop: ptr::null(),
        down: ptr::null(),
        // Only `dtor` is given (NIF 2.16: the number of callbacks set, in field order).
        members: 1,
        dyncall: ptr::null(),
    };
    let mut tried = ErlNifResourceFlags::ERL_NIF_RT_CREATE;
    // SAFETY: `env` is the env of the load callback; `TYPE_NAME` is NUL-terminated and
    // static; ERTS copies `init` and writes `tried`.
    let typ = unsafe {
        enif_init_resource_type(
            env.as_c_arg(),
            TYPE_NAME.as_ptr(),
            &init,
            ErlNifResourceFlags::ERL_NIF_RT_CREATE,
            &mut tried,
        )
    };
    if typ.is_null() {
        return false;
    }
    BUFFER_TYPE.store(typ.cast_mut(), Ordering::Release);
    true
}

/// Where the [`Buffer`] lies in a resource object.
fn buffer_in(object: *const c_void) -> *mut Buffer {
    let misalignment = object as usize % align_of::<Buffer>();
    let offset = (align_of::<Buffer>() - misalignment) % align_of::<Buffer>();
    object
        .cast::<u8>()
        .wrapping_add(offset)
        .cast::<Buffer>()
        .cast_mut()
}

/// The destructor ERTS calls when the last reference to an object is gone.
unsafe extern "C" fn destroy(_env: *mut ErlNifEnv, object: *mut c_void) {
    let buffer = buffer_in(object);
    // A panic must not unwind into ERTS; the object's memory is freed by ERTS either way.
    let _ = std::panic::catch_unwind(move || {
        // SAFETY: ERTS calls this once per object, after its last reference is gone; the
        // object holds a `Buffer` written by `BufferArc::new`, dropped only here.
        unsafe { ptr::drop_in_place(buffer) }
    });
}

/// The buffer a term refers to, `None` if it is not a `py_buffer` resource.
///
/// # Safety
/// `env` is the env `term` belongs to; the `Buffer` returned lives at least as long as `term`
/// does (`'a` must not outlive it).
#[inline(always)]
pub unsafe fn get<'a>(env: *mut ErlNifEnv, term: ErlNifTerm) -> Option<&'a Buffer> {
    let typ = BUFFER_TYPE.load(Ordering::Acquire);
    if typ.is_null() {
        return None;
    }
    let mut object: *const c_void = ptr::null();
    // SAFETY: the caller's contract for `env` and `term`; `typ` is our registered type;
    // ERTS writes `object` only when the term is a resource of that type.
    if unsafe { enif_get_resource(env, term, typ, &mut object) } == 0 {
        return None;
    }
    // SAFETY: an object of our type holds a live `Buffer` (written at creation, dropped by
    // `destroy` only after the last reference, which `term` is, is gone).
    Some(unsafe { &*buffer_in(object) })
}

impl<'a> Decoder<'a> for &'a Buffer {
    fn decode(term: Term<'a>) -> NifResult<Self> {
        // SAFETY: `term` belongs to its env and lives for 'a.
        unsafe { get(term.get_env().as_c_arg(), term.as_c_arg()) }.ok_or(Error::BadArg)
    }
}

/// An owned, counted reference to a buffer resource (each clone is one ERTS reference):
/// what outlives a NIF call (a subscription, a message sent from another thread, Python's
/// side of a buffer).
pub struct BufferArc {
    /// The resource object (what ERTS counts references to).
    object: NonNull<c_void>,
}

// SAFETY: ERTS reference counts are atomic, `enif_keep_resource`/`enif_release_resource`/
// `enif_make_resource` may be called from any thread, and `Buffer` itself is `Send + Sync`.
unsafe impl Send for BufferArc {}
// SAFETY: see `Send`; `&BufferArc` only gives `&Buffer`.
unsafe impl Sync for BufferArc {}

impl BufferArc {
    /// A new resource object holding `buffer`.
    ///
    /// # Panics
    /// If the type is not registered: never once the library has loaded.
    pub fn new(buffer: Buffer) -> Self {
        let typ = BUFFER_TYPE.load(Ordering::Acquire);
        assert!(
            !typ.is_null(),
            "the py_buffer resource type is registered at load"
        );
        // SAFETY: `typ` is our registered type; the size is what `buffer_in` needs.
        let object = unsafe { enif_alloc_resource(typ, OBJECT_SIZE) };
        let object = NonNull::new(object).expect("enif_alloc_resource never returns null");
        // SAFETY: the object is fresh and `OBJECT_SIZE` bytes long, so the aligned `Buffer`
        // slot lies inside it; it is dropped by `destroy`.
        unsafe { buffer_in(object.as_ptr()).write(buffer) };
        Self { object }
    }
}

impl std::ops::Deref for BufferArc {
    type Target = Buffer;

    fn deref(&self) -> &Buffer {
        // SAFETY: this reference keeps the object, and so its `Buffer`, alive.
        unsafe { &*buffer_in(self.object.as_ptr()) }
    }
}

impl Clone for BufferArc {
    fn clone(&self) -> Self {
        // SAFETY: the object is alive (held by `self`); this adds one reference.
        unsafe { enif_keep_resource(self.object.as_ptr()) };
        Self {
            object: self.object,
        }
    }
}

impl Drop for BufferArc {
    fn drop(&mut self) {
        // SAFETY: gives back the one reference this value holds.
        unsafe { enif_release_resource(self.object.as_ptr()) };
    }
}

impl Encoder for BufferArc {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        // SAFETY: the object is alive; the term made belongs to `env`.
        unsafe {
            Term::new(
                env,
                enif_make_resource(env.as_c_arg(), self.object.as_ptr()),
            )
        }
    }
}

impl<'a> Decoder<'a> for BufferArc {
    fn decode(term: Term<'a>) -> NifResult<Self> {
        let typ = BUFFER_TYPE.load(Ordering::Acquire);
        let mut object: *const c_void = ptr::null();
        // SAFETY: `term` belongs to its env; ERTS writes `object` only on success (a null
        // `typ` matches no resource).
        let found = !typ.is_null()
            && unsafe {
                enif_get_resource(term.get_env().as_c_arg(), term.as_c_arg(), typ, &mut object)
            } != 0;
        let object = NonNull::new(object.cast_mut())
            .filter(|_| found)
            .ok_or(Error::BadArg)?;
        // SAFETY: the object is alive (held by `term`); this adds the reference the new value
        // gives back on drop.
        unsafe { enif_keep_resource(object.as_ptr()) };
        Ok(Self { object })
    }
}
