#!/usr/bin/env escript
%%! +sbwt medium
%% Where an Erlang -> Python wake-up's time goes, step by step (issue 12): Erlang writes
%% 8-byte stamps 2 ms apart while Python blocks in `read(8)', as the wake-latency row of
%% seed_compare.escript does, with a NIF built with the `wake-trace' feature, which
%% timestamps the write, the wake, the reader's return and the GIL
%% (async_core/src/wake_trace.rs). Prints two markdown tables: every wake-up, and the slowest
%% 2% alone (where the p99 goes).
%%
%%   make bench-wake-trace          (builds that NIF, then runs this; [N] stamps, default 1000)
-mode(compile).

main(Args) ->
    N = case Args of [A] -> list_to_integer(A); [] -> 1000 end,
    Here = filename:dirname(filename:absname(escript:script_name())),
    Root = filename:dirname(filename:dirname(Here)),
    true = code:add_patha(filename:join([Root, "nif", "ebin"])),
    {module, py_buffer} = code:ensure_loaded(py_buffer),
    Ctx = py:context(1),
    ok = py:exec(Ctx, iolist_to_binary(["import sys; sys.path.insert(0, ", io_lib:format("~p", [Here]), ")"])),
    case py:eval(Ctx, <<"hasattr(__import__('py_buffer._native').__dict__['_native'], '_wake_trace')">>) of
        {ok, true} -> ok;
        _ -> io:format(standard_error, "the NIF was built without the wake-trace feature: use make bench-wake-trace~n", []),
             halt(2)
    end,
    {ok, Buf} = py_buffer:new(),
    Self = self(),
    spawn_link(fun() -> Self ! {table, py:call(Ctx, wake_trace_app, run, [Buf, N])} end),
    timer:sleep(20),
    [begin
         timer:sleep(2),
         ok = py_buffer:write(Buf, <<(os:system_time(nanosecond)):64>>)
     end || _ <- lists:seq(1, N)],
    receive {table, {ok, Table}} -> io:format("~s~n", [Table]) end.
