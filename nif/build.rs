//! Links libpython into the NIF and bakes its directory into the rpath, so the BEAM's
//! `dlopen` of the NIF finds libpython without LD_LIBRARY_PATH.
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
    pyo3_build_config::use_pyo3_cfgs();
}
