%% @doc The seed's performance tips from Erlang: a known content length, writes of
%% accumulated chunks, and on the Python side `memoryview' + `find' to split a body without
%% copying it (examples/python/zero_copy.py).
%% Run: `erl -noshell -pa nif/ebin -pa examples/ebin -s zero_copy_example main'.
-module(zero_copy_example).
-export([main/0, run/0]).

-spec run() -> {ok, map()} | {error, term()}.
run() ->
    ok = example_path:ensure(),
    Body = <<"first part of the body--boundary and the rest">>,
    %% Use known content length when available - avoids buffer reallocation
    ContentLength = byte_size(Body),
    {ok, Buf} = py_buffer:new(ContentLength),
    %% Good: write accumulated chunks
    AccumulatedData = Body,
    ok = py_buffer:write(Buf, AccumulatedData),
    py:call(zero_copy, split_at_boundary, [Buf]).

-spec main() -> no_return().
main() ->
    io:format("~p~n", [run()]),
    halt(0).
