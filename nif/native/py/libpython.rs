//! Making libpython's symbols global, so C extension modules imported inside the BEAM load.
//!
//! The BEAM `dlopen`s NIF libraries with `RTLD_LOCAL`; libpython, pulled in as a dependency
//! of the NIF, is then local too, and extension modules (`_socket`, `_json`, `_ssl`, ...,
//! hence `asyncio`) fail with undefined `Py*` symbols. Re-opening libpython with
//! `RTLD_NOLOAD | RTLD_GLOBAL` promotes the already-loaded copy to the global scope.

use std::ffi::{c_void, CStr};

/// Promotes the loaded libpython to `RTLD_GLOBAL` and returns its path.
///
/// The handle is deliberately leaked: it also pins libpython for the life of the VM.
pub fn promote_to_global() -> Result<String, String> {
    let symbol = pyo3::ffi::Py_IsInitialized as *const c_void;
    // SAFETY: `Dl_info` is plain data; all-zero is a valid value that dladdr overwrites.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `symbol` is the address of a function in a loaded object and `info` is a
    // valid, writable `Dl_info`.
    if unsafe { libc::dladdr(symbol, &mut info) } == 0 || info.dli_fname.is_null() {
        return Err("dladdr found no object for Py_IsInitialized".into());
    }
    // SAFETY: dladdr succeeded, so `dli_fname` is a NUL-terminated path owned by the loader.
    let path = unsafe { CStr::from_ptr(info.dli_fname) };
    // SAFETY: `path` is a valid C string; RTLD_NOLOAD never loads anything new.
    let handle = unsafe {
        libc::dlopen(
            path.as_ptr(),
            libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD,
        )
    };
    let path = path.to_string_lossy().into_owned();
    if handle.is_null() {
        // SAFETY: dlerror returns NULL or a valid C string describing the last failure.
        let why = unsafe { libc::dlerror() };
        let why = if why.is_null() {
            "unknown error".into()
        } else {
            // SAFETY: non-NULL result of dlerror, a NUL-terminated string.
            unsafe { CStr::from_ptr(why) }
                .to_string_lossy()
                .into_owned()
        };
        return Err(format!("dlopen({path}, RTLD_GLOBAL|RTLD_NOLOAD): {why}"));
    }
    Ok(path)
}
