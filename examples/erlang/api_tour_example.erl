%% @doc The seed's Python API reference (read, read_nonblock, readable_amount, at_eof,
%% readline, readlines, seek, tell, find, iteration, properties, close) run on a buffer
%% written from Erlang (examples/python/api_tour.py).
%% Run: `erl -noshell -pa nif/ebin -pa examples/ebin -s api_tour_example main'.
-module(api_tour_example).
-export([main/0, run/0]).

-spec run() -> {ok, map()} | {error, term()}.
run() ->
    ok = example_path:ensure(),
    {ok, Buf} = py_buffer:new(),
    ok = py_buffer:write(Buf, <<"line1\nline2\nline3\n">>),
    ok = py_buffer:write(Buf, <<"line4\n">>),
    ok = py_buffer:close(Buf),
    py:call(api_tour, tour, [Buf]).

-spec main() -> no_return().
main() ->
    {ok, Tour} = run(),
    [io:format("~s: ~p~n", [K, V]) || {K, V} <- lists:sort(maps:to_list(Tour))],
    halt(0).
