%% @doc Streaming byte buffers shared between Erlang, Rust and (embedded) Python.
%%
%% A buffer carries one HTTP body (or any byte stream) from a producer to a consumer. Erlang
%% creates it, writes chunks into it and closes it; the consumer (Python's `wsgi.input', or an
%% Erlang process using {@link read/2}, {@link readline/1}, {@link read_all/1}) reads it. The
%% buffer is a NIF resource: it is freed when no process references it any more; a body that
%% was never closed is then aborted (`writer_gone'), so no reader waits forever.
%%
%% ```
%% {ok, Buf} = py_buffer:new(byte_size(Body)),   % or new() for a chunked body
%% ok = py_buffer:write(Buf, Body),               % binaries or iolists
%% ok = py_buffer:close(Buf),
%% {ok, Body} = py_buffer:read_all(Buf).
%% '''
%%
%% == Writes ==
%% {@link write/2} appends one binary or iolist atomically. Binaries of 4 KiB or more are kept
%% as they are (the buffer references the refc binary; nothing is copied), so a write costs
%% the same at any size and never holds a scheduler. In bounded mode (`max_buffered') a write
%% that does not fit returns `{partial, Rest}': wait for `writable' and write `Rest'.
%%
%% == Owner ==
%% Every buffer has an owner, by default the process that created it (`owner => Pid' in
%% {@link new/1}; {@link controlling_process/2} hands it over, like
%% `gen_tcp:controlling_process/2'). If the owner exits before the body is closed or aborted,
%% the body is aborted with `{owner_down, ExitReason}': readers get
%% `{error, {aborted, {owner_down, ExitReason}}}' and the subscriber is sent `eof'. The
%% watching is done by the process `py_buffer_owners'; when it is restarted it monitors every
%% owner of an open buffer again (one that died meanwhile gives `{owner_down, noproc}').
%%
%% == Messages ==
%% The subscriber (`notify => Pid' in {@link new/1}, or {@link subscribe/1},
%% {@link subscribe/2} or {@link subscribe/3}) receives (of the kinds it asked for, all by
%% default):
%% <ul>
%%  <li>`{py_buffer, Buf, readable}': bytes were written that can be read;</li>
%%  <li>`{py_buffer, Buf, writable}': in bounded mode (`max_buffered'), the reader made room
%%      after a write returned `{partial, Rest}';</li>
%%  <li>`{py_buffer, Buf, eof}': the body is over: closed, aborted, or its content length
%%      arrived in full ({@link info/1} and the reads tell which);</li>
%%  <li>`{py_buffer, Buf, reader_closed}': the consumer closed the buffer (Python's
%%      `close()', {@link close_reader/1}); writes now fail with `{error, reader_closed}'.
%%      Received before the body was read to its end, it is the "application is done without
%%      reading its body" signal: {@link info/1} tells how much was left (`eof' is `false',
%%      `buffered' counts the unread bytes that arrived, `written' against `content_length'
%%      what never came). A Python object that is merely dropped does not close the reading
%%      side (the buffer's Erlang term is a reader too): after the application returned,
%%      check `info/1' or call {@link close_reader/1} yourself;</li>
%%  <li>`{py_buffer, Buf, demand}': a reader (Python's blocking read, an asyncio `await', an
%%      Erlang read returning `{error, eagain}') first had to wait for bytes that have not
%%      arrived while the body was not complete. Sent once per buffer (never again after it
%%      was sent, whatever `activate/1' does); e.g. answer `Expect: 100-continue' only when
%%      the application first reads the body. A read the bytes already there satisfy sends
%%      nothing; `info/1''s `demanded' tells whether it happened.</li>
%% </ul>
%% Each kind is sent at most once until the subscriber calls {@link activate/1} (like
%% `{active, once}'), so the mailbox never floods: any number of writes produce one
%% `readable' message. {@link activate/1} (and subscribing) re-arms every kind and at once
%% sends those whose condition already holds: `readable' if unread bytes are there (after a
%% {@link readline/1} or {@link read_all/1} that returned `{error, eagain}': only if bytes were
%% written since, or the body is over, so a read waiting for the rest of a line is not woken
%% for the part it already saw), `writable' if room was made since a refused write, `eof' if
%% the body is over, `reader_closed' if the reader closed, `demand' if a reader's first wait
%% happened while `demand' was not armed (not yet sent). So the loop "read until
%% `{error, eagain}', `activate', wait for a message" never misses a wake-up and never spins:
%% ```
%% consume(Buf, Acc) ->
%%     case py_buffer:read(Buf, 65536) of
%%         {ok, Bin} -> consume(Buf, [Acc, Bin]);
%%         eof -> {ok, iolist_to_binary(Acc)};
%%         {error, eagain} ->
%%             ok = py_buffer:activate(Buf),
%%             receive {py_buffer, Buf, _} -> consume(Buf, Acc) end;
%%         {error, Reason} -> {error, Reason}
%%     end.
%% '''
%% One subscriber at a time; subscribing replaces the previous one. While subscribed and open, a buffer is kept alive by its
%% subscription (until `eof' or {@link unsubscribe/1}).
%%
%% == Errors ==
%% Bad arguments (not a buffer, wrong types, negative or out-of-range sizes, unknown options,
%% the pid of a process on another node as `owner', `notify' or subscriber) raise `badarg'. Operations on a buffer in the wrong state return `{error, Reason}':
%% `closed' (write after close), `reader_closed', `{aborted, Reason}',
%% `{overflow, ContentLength, Attempted}' (a write beyond the content length; nothing is
%% written), `{truncated, Expected, Got}' (closed before the content length arrived),
%% `eagain' (a read that would have to wait), `not_owner'. An abort reason (given to
%% {@link abort/2}, or an owner's exit reason) is stored once: up to 4096 nodes nested up to
%% 64 deep it comes back exactly, a larger one cut like `io_lib''s `~P' (lists, tuples and maps
%% end in the atom `'...'', deeper parts become `'...''); Python sees its printed form, at most
%% 4 KiB.
-module(py_buffer).

-export([new/0, new/1, write/2, close/1, abort/2, info/1,
         controlling_process/2,
         subscribe/1, subscribe/2, subscribe/3, unsubscribe/1, activate/1,
         read/2, read_nonblock/2, readline/1, readline/2, read_all/1, close_reader/1,
         live_buffers/0]).
%% Internal: called by py_buffer_owners, the benchmark and the tests.
-export([owner_exit/2, owner_exit_dirty/2, watched_owners/0, bench_write/3, write_dirty_nif/2, test_on_thread/2]).
%% Internal: the embedded Python behind module `py' (one NIF library loads into one module,
%% so these live here; `py' is their interface).
-export([py_call/6, py_eval/4, py_exec/3, py_cancel/1, py_info/0,
         py_call_dirty/6, py_eval_dirty/4, py_exec_dirty/3, py_finalize/0]).

-on_load(init/0).

-nifs([new_nif/1, write_nif/2, write_dirty_nif/2, bench_write/3, close/1, abort/2,
       info/1, controlling_process_nif/2, subscribe/1, subscribe/2, subscribe/3, unsubscribe/1,
       activate/1,
       read_nif/2, read_dirty_nif/2, close_reader/1, owner_exit/2, owner_exit_dirty/2,
       watched_owners/0,
       live_buffers/0,
       test_on_thread/2, py_call/6, py_eval/4, py_exec/3, py_cancel/1, py_info/0,
       py_call_dirty/6, py_eval_dirty/4, py_exec_dirty/3, py_finalize/0]).

-type buffer() :: reference().
%% A buffer: an opaque NIF resource term.
-type reason() :: closed | reader_closed | eagain | not_owner
                | {aborted, term()}
                | {overflow, non_neg_integer(), non_neg_integer()}
                | {truncated, non_neg_integer(), non_neg_integer()}.
-type event() :: readable | writable | eof | reader_closed | demand.
%% The `Event' of a message `{py_buffer, Buf, Event}' to the subscriber (see the module doc).
-type message() :: {py_buffer, buffer(), event()}.
-type options() :: #{content_length => non_neg_integer() | undefined,
                     max_buffered => pos_integer() | undefined,
                     notify => pid() | undefined,
                     events => [event()],
                     owner => pid()}.
-type info() :: #{written := non_neg_integer(),
                  read := non_neg_integer(),
                  buffered := non_neg_integer(),
                  retained := non_neg_integer(),
                  content_length := non_neg_integer() | undefined,
                  max_buffered := pos_integer() | undefined,
                  closed := boolean(),
                  aborted := false | term(),
                  reader_closed := boolean(),
                  ended := boolean(),
                  eof := boolean(),
                  demanded := boolean(),
                  owner := pid(),
                  subscriber := pid() | undefined}.
-opaque py_ticket() :: reference().
%% A pending `py' call (see `py_cancel/1').
-export_type([buffer/0, reason/0, event/0, message/0, options/0, info/0, py_ticket/0]).

%% The NIF library, `priv/py_buffer_nif.so' beside this module's `ebin'. Its load info
%% configures the embedded Python (each key optional; application env of `py_buffer', then
%% environment variables, see module `py'): `python' (a python executable, e.g. a
%% virtualenv's `bin/python'), `python_path' (directories put first on `sys.path';
%% `priv/python', holding the `py_buffer' package, always is), `contexts' (threads reachable
%% through `py:context/1'), `max_workers' (threads for context-free calls), `worker_slice_us'
%% (the scheduling slice the Python threads ask the kernel for).
-spec init() -> ok | {error, {atom(), string()}}.
init() ->
    Dir = case code:priv_dir(py_buffer) of
              {error, _} ->
                  filename:join(filename:dirname(filename:dirname(code:which(?MODULE))),
                                "priv");
              PrivDir ->
                  PrivDir
          end,
    Info = #{python => app_env(python, undefined),
             python_path => [filename:absname(filename:join(Dir, "python"))
                             | app_env(python_path, [])],
             contexts => app_env(contexts, undefined),
             max_workers => app_env(max_workers, undefined),
             worker_slice_us => app_env(worker_slice_us, undefined)},
    erlang:load_nif(filename:join(Dir, "py_buffer_nif"), Info).

-spec app_env(atom(), term()) -> term().
app_env(Key, Default) ->
    application:get_env(py_buffer, Key, Default).

-define(NOT_LOADED, erlang:nif_error({not_loaded, ?MODULE, ?LINE})).

%% @doc A buffer of unknown length (chunked body).
-spec new() -> {ok, buffer()}.
new() -> new(undefined).

%% @doc A buffer with a content length (`undefined': unknown), or with options:
%% `content_length' (the body is exactly that long: storage reserved once, EOF when it has
%% arrived, writes beyond it refused), `max_buffered' (bounded mode: at most that many unread
%% bytes are held; writes beyond return `{partial, Rest}'), `notify' (the subscriber),
%% `events' (the kinds `notify' is sent, as in {@link subscribe/3}; default: all), `owner'
%% (default: the caller).
-spec new(non_neg_integer() | undefined | options()) -> {ok, buffer()}.
new(ContentLengthOrOptions) ->
    case new_nif(ContentLengthOrOptions) of
        {watch, Buf, Owner} ->
            ok = py_buffer_owners:watch(Owner),
            {ok, Buf};
        Result ->
            Result
    end.

new_nif(_ContentLengthOrOptions) -> ?NOT_LOADED.

%% @doc Appends `Data' (a binary or iolist) atomically. `{partial, Rest}' in bounded mode when
%% only part fitted: wait for `writable' and write `Rest'. Large binaries are kept without
%% copying.
-spec write(buffer(), iodata()) -> ok | {partial, binary()} | {error, reason()}.
write(Buf, Data) when is_binary(Data) ->
    %% The NIF's result is matched here, not in a shared helper: one call less per write
    %% (the common small write is ~600 instructions in all; docs/benchmarks.md).
    case write_nif(Buf, Data) of
        ok -> ok;
        dirty -> write_dirty_nif(Buf, Data);
        Result -> Result
    end;
write(Buf, Data) when is_list(Data) ->
    write(Buf, erlang:iolist_to_binary(Data));
write(_Buf, _Data) ->
    erlang:error(badarg).

write_nif(_Buf, _Bin) -> ?NOT_LOADED.

%% @private A copying write on a dirty CPU scheduler (large writes into bounded buffers);
%% exported for the benchmark.
-spec write_dirty_nif(buffer(), binary()) -> ok | {partial, binary()} | {error, reason()}.
write_dirty_nif(_Buf, _Bin) -> ?NOT_LOADED.

%% @doc Ends the body cleanly. Idempotent; `{error, {aborted, Reason}}' after an abort.
-spec close(buffer()) -> ok | {error, reason()}.
close(_Buf) -> ?NOT_LOADED.

%% @doc Marks the body as failed with `Reason' (any term): readers get
%% `{error, {aborted, Reason}}' (Python: `BodyAborted') once the bytes that arrived are read.
%% The first reason wins; `{error, closed}' after {@link close/1}. After the content length
%% arrived in full the body is complete: `abort/2' (and the owner's death) returns `ok' and
%% {@link info/1} shows the reason, but reads still deliver the whole body, then `eof'.
%% A reason larger than 4096
%% nodes or 64 levels comes back cut like `~P' (the rest replaced by `'...''); see Errors.
-spec abort(buffer(), term()) -> ok | {error, reason()}.
abort(_Buf, _Reason) -> ?NOT_LOADED.

%% @doc The buffer's state: `written', `read' (the read position), `buffered' (arrived, not
%% yet read), `retained', `content_length', `max_buffered', `closed', `aborted', `reader_closed',
%% `ended' (no more bytes will come), `eof' (ended and all read), `demanded' (a reader has had
%% to wait for bytes: the `demand' message), `owner', `subscriber'.
-spec info(buffer()) -> info().
info(_Buf) -> ?NOT_LOADED.

%% @doc Makes `Pid' the owner. Only the owner may call it (`{error, not_owner}').
-spec controlling_process(buffer(), pid()) -> ok | {error, not_owner}.
controlling_process(Buf, Pid) ->
    case controlling_process_nif(Buf, Pid) of
        {watch, Owner} -> py_buffer_owners:watch(Owner);
        Result -> Result
    end.

controlling_process_nif(_Buf, _Pid) -> ?NOT_LOADED.

%% @doc Makes the caller the subscriber; see the module doc.
-spec subscribe(buffer()) -> ok.
subscribe(_Buf) -> ?NOT_LOADED.

%% @doc Makes `Pid' the subscriber (replacing any other).
-spec subscribe(buffer(), pid()) -> ok.
subscribe(_Buf, _Pid) -> ?NOT_LOADED.

%% @doc Makes `Pid' the subscriber (replacing any other) for the kinds in `Events' only: the
%% others are never sent, not even by {@link activate/1}. A process that writes a buffer
%% another reads asks for `[writable, reader_closed, demand]' and is spared a `readable' and
%% an `eof' per body. Whatever the kinds, the subscription keeps an open buffer alive until
%% its body is over, as {@link subscribe/2} does.
-spec subscribe(buffer(), pid(), [event()]) -> ok.
subscribe(_Buf, _Pid, _Events) -> ?NOT_LOADED.

%% @doc No more messages.
-spec unsubscribe(buffer()) -> ok.
unsubscribe(_Buf) -> ?NOT_LOADED.

%% @doc Re-arms every message kind; those whose condition holds are sent at once.
-spec activate(buffer()) -> ok.
activate(_Buf) -> ?NOT_LOADED.

%% @doc Reads 1 to `N' of the bytes there, without waiting: `eof' when the body ended cleanly
%% and all was read; `{error, eagain}' when nothing is there yet.
-spec read(buffer(), non_neg_integer()) -> {ok, binary()} | eof | {error, reason()}.
read(Buf, N) -> read_request(Buf, {read, N}).

%% @doc The same as {@link read/2} (every Erlang-side read is non-blocking); named like
%% Python's `read_nonblock' for code that uses both.
-spec read_nonblock(buffer(), non_neg_integer()) -> {ok, binary()} | eof | {error, reason()}.
read_nonblock(Buf, N) -> read(Buf, N).

%% @doc Reads one line, through `\n' (or the rest of a body that ended), without waiting.
-spec readline(buffer()) -> {ok, binary()} | eof | {error, reason()}.
readline(Buf) -> read_request(Buf, {readline, infinity}).

%% @doc Like {@link readline/1}, returning at most `Limit' bytes.
-spec readline(buffer(), non_neg_integer() | infinity) ->
          {ok, binary()} | eof | {error, reason()}.
readline(Buf, Limit) -> read_request(Buf, {readline, Limit}).

%% @doc Once the body ended cleanly, everything not yet read (possibly `<<>>');
%% `{error, eagain}' before.
-spec read_all(buffer()) -> {ok, binary()} | {error, reason()}.
read_all(Buf) -> read_request(Buf, read_all).

read_request(Buf, Request) ->
    case read_nif(Buf, Request) of
        dirty -> read_dirty_nif(Buf, Request);
        Result -> Result
    end.

read_nif(_Buf, _Request) -> ?NOT_LOADED.
read_dirty_nif(_Buf, _Request) -> ?NOT_LOADED.

%% @doc The consumer is done: writes fail with `reader_closed'; reads return what remains,
%% then `eof'.
-spec close_reader(buffer()) -> ok.
close_reader(_Buf) -> ?NOT_LOADED.

%% @doc How many buffers exist (not yet garbage collected).
-spec live_buffers() -> non_neg_integer().
live_buffers() -> ?NOT_LOADED.

%% @private Called by `py_buffer_owners' when an owner exits: how many buffers were aborted,
%% or `dirty' for an owner of many (then `owner_exit_dirty/2' does it).
-spec owner_exit(pid(), term()) -> non_neg_integer() | dirty.
owner_exit(_Pid, _Reason) -> ?NOT_LOADED.

%% @private `owner_exit/2' on a dirty CPU scheduler.
-spec owner_exit_dirty(pid(), term()) -> non_neg_integer().
owner_exit_dirty(_Pid, _Reason) -> ?NOT_LOADED.

%% @private The owners `py_buffer_owners' was asked to watch whose exit was not handled yet;
%% a starting watcher monitors them.
-spec watched_owners() -> [pid()].
watched_owners() -> ?NOT_LOADED.

%% @private A write forced to copy or keep; for the benchmark (built with the NIF's
%% `test-hooks' cargo feature only, as `make bench-nif' and `make test-nif' do; else it
%% raises `{not_loaded, ...}').
-spec bench_write(buffer(), binary(), copy | keep) -> ok | {partial, binary()} | {error, reason()}.
bench_write(_Buf, _Bin, _Mode) -> ?NOT_LOADED.

%% @private Runs an operation on a non-Erlang thread; for the tests (cargo feature
%% `test-hooks', as for {@link bench_write/3}).
-spec test_on_thread(buffer(), {write, binary()} | close | close_reader
                             | {read, non_neg_integer()} | {wait_read, non_neg_integer()}) ->
          ok | {ok, non_neg_integer()} | error.
test_on_thread(_Buf, _Op) -> ?NOT_LOADED.

%% @private Queues `Module.Function(*Args, **Kwargs)' on context `Ctx' (0: the pool); the
%% result arrives as `{py_result, Ref, Result}'. Used by `py:call/3,4,5'.
-spec py_call(reference(), non_neg_integer(), atom() | iodata(), atom() | iodata(), list(),
              map()) -> py_ticket() | dirty | {error, term()}.
py_call(_Ref, _Ctx, _Module, _Function, _Args, _Kwargs) -> ?NOT_LOADED.

%% @private `py_call/6' on a dirty scheduler, for arguments `py_call/6' answered `dirty' to.
-spec py_call_dirty(reference(), non_neg_integer(), atom() | iodata(), atom() | iodata(),
                    list(), map()) -> py_ticket() | {error, term()}.
py_call_dirty(_Ref, _Ctx, _Module, _Function, _Args, _Kwargs) -> ?NOT_LOADED.

%% @private Queues `eval(Code)' with `Locals'; used by `py:eval/2,3'.
-spec py_eval(reference(), non_neg_integer(), iodata(), map()) ->
          py_ticket() | dirty | {error, term()}.
py_eval(_Ref, _Ctx, _Code, _Locals) -> ?NOT_LOADED.

%% @private `py_eval/4' on a dirty scheduler, for locals `py_eval/4' answered `dirty' to.
-spec py_eval_dirty(reference(), non_neg_integer(), iodata(), map()) ->
          py_ticket() | {error, term()}.
py_eval_dirty(_Ref, _Ctx, _Code, _Locals) -> ?NOT_LOADED.

%% @private Stops the interpreter; used by `py:stop/0'.
-spec py_finalize() -> ok | {error, {busy, pos_integer()} | not_started}.
py_finalize() -> ?NOT_LOADED.

%% @private Queues `exec(Code)'; used by `py:exec/2'.
-spec py_exec(reference(), non_neg_integer(), iodata()) -> py_ticket() | dirty | {error, term()}.
py_exec(_Ref, _Ctx, _Code) -> ?NOT_LOADED.

%% @private `py_exec/3' on a dirty scheduler, for code `py_exec/3' answered `dirty' to.
-spec py_exec_dirty(reference(), non_neg_integer(), iodata()) -> py_ticket() | {error, term()}.
py_exec_dirty(_Ref, _Ctx, _Code) -> ?NOT_LOADED.

%% @private Gives up on a pending call: `cancelled' (no reply will come) or `replied'.
-spec py_cancel(py_ticket()) -> cancelled | replied.
py_cancel(_Ticket) -> ?NOT_LOADED.

%% @private The interpreter and its threads; used by `py:info/0'.
-spec py_info() -> map().
py_info() -> ?NOT_LOADED.
