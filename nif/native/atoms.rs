//! Every atom the NIF uses, in one block.

rustler::atoms! {
    ok,
    error,
    undefined,
    eof,
    // message tag and edges
    py_buffer,
    readable,
    writable,
    reader_closed,
    demand,
    demanded,
    // errors
    closed,
    aborted,
    truncated,
    overflow,
    timeout,
    writer_gone,
    // the atom '...' standing for the cut parts of a large abort reason
    dots = "...",
    owner_down,
    not_owner,
    eagain,
    partial,
    // options and info keys
    content_length,
    max_buffered,
    notify,
    owner,
    written,
    read,
    buffered,
    retained,
    ended,
    subscriber,
    // write modes (benchmarks)
    copy,
    keep,
    dirty,
    // messages to the owner watcher
    watch,
    // test hooks
    close,
    close_reader,
    wait_read,
    py_buffer_test,
    read_all,
    readline,
    infinity,
    write,
    // module py: replies, results, conversions
    none,
    py_result,
    python_error,
    pyobj,
    bytes,
    // py ticket states (py_cancel)
    cancelled,
    replied,
    // py_info keys and load info
    contexts,
    max_workers,
    workers,
    python,
    python_path,
    libpython,
    prefix,
    version,
    not_started,
    python_init,
}
