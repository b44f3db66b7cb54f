%% @doc The reading side of one soak stream, a process of its own: a Python reader (blocking
%% `read1' on the pool, or `aread1' on an asyncio loop; soak/python/py_soak_readers.py) or an
%% Erlang reader (`py_buffer:read/2' driven by subscription messages). Each reports
%% `{soak_read, self(), {Outcome, Bytes, Crc32}}' to the stream process, where `Outcome' is
%% `eof', `aborted', `truncated', `timeout' or `closed' (it closed the reading side after
%% `limit' bytes); a `py:call' that did not answer reports `{soak_read, self(), {call, Error}}'.
-module(py_soak_reader).
-export([start/3]).

-type kind() :: python_blocking | python_asyncio | erlang.
-type outcome() :: eof | aborted | truncated | timeout | closed.
-export_type([kind/0, outcome/0]).

%% @doc Spawns the reader of `Spec' on `Buf' (written by `Writer') for `Parent'.
-spec start(pid(), py_buffer:buffer(), map()) -> pid().
start(Parent, Buf, #{reader := Kind} = Spec) ->
    spawn(fun() -> Parent ! {soak_read, self(), read(Kind, Buf, Spec)} end).

read(erlang, Buf, #{writer := Writer} = Spec) ->
    ok = py_buffer:subscribe(Buf),
    erlang_read(Buf, Writer, Spec, 0, erlang:crc32(<<>>));
read(Kind, Buf, #{fault := Fault, read_chunk := Chunk} = Spec) ->
    {Function, Args, Opts} =
        case Fault of
            reader_close -> {read_then_close, [Buf, Chunk, maps:get(limit, Spec)], #{}};
            read_timeout -> {python_function(Kind), [Buf, Chunk, timeout_seconds(Spec)], #{}};
            call_timeout -> {python_function(Kind), [Buf, Chunk],
                             #{timeout => maps:get(call_timeout_ms, Spec)}};
            _ -> {python_function(Kind), [Buf, Chunk], #{}}
        end,
    case py:call(any, py_soak_readers, Function, Args, Opts) of
        {ok, {Outcome, N, Crc}} -> {binary_to_existing_atom(Outcome), N, Crc};
        Error -> {call, Error}
    end.

python_function(python_blocking) -> read_blocking;
python_function(python_asyncio) -> read_asyncio.

timeout_seconds(#{read_timeout_ms := Ms}) -> Ms / 1000.

%% Reads what is there; at `eagain' re-arms the subscription and waits for a message. The
%% writer is not the subscriber, so `writable' and `reader_closed' are forwarded to it.
erlang_read(Buf, Writer, #{read_chunk := Chunk} = Spec, N, Crc) ->
    Limit = maps:get(limit, Spec, infinity),
    case N >= Limit of
        true ->
            ok = py_buffer:close_reader(Buf),
            Writer ! {py_buffer, Buf, reader_closed},
            {closed, N, Crc};
        false ->
            Want = case Limit of infinity -> Chunk; _ -> min(Chunk, Limit - N) end,
            case py_buffer:read(Buf, Want) of
                {ok, Bin} ->
                    erlang_read(Buf, Writer, Spec, N + byte_size(Bin), erlang:crc32(Crc, Bin));
                eof ->
                    {eof, N, Crc};
                {error, eagain} ->
                    ok = py_buffer:activate(Buf),
                    erlang_wait(Buf, Writer, Spec, N, Crc);
                {error, {aborted, _}} ->
                    {aborted, N, Crc};
                {error, {truncated, _, _}} ->
                    {truncated, N, Crc}
            end
    end.

erlang_wait(Buf, Writer, Spec, N, Crc) ->
    receive
        {py_buffer, Buf, writable} ->
            Writer ! {py_buffer, Buf, writable},
            erlang_wait(Buf, Writer, Spec, N, Crc);
        {py_buffer, Buf, demand} ->
            erlang_wait(Buf, Writer, Spec, N, Crc);
        {py_buffer, Buf, _ReadableEofOrReaderClosed} ->
            erlang_read(Buf, Writer, Spec, N, Crc)
    after maps:get(read_timeout_ms, Spec, infinity) ->
        {timeout, N, Crc}
    end.
