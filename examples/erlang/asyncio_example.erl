%% @doc The seed's asyncio examples: an Erlang process writes a JSON body with pauses while
%% Python reads it inside an event loop, without blocking the loop: by polling
%% (`read_buffer_async', the seed's code), by awaiting readiness (`read_with_notification')
%% and with the awaitable reads (`achunks'); examples/python/async_read.py.
%% Run: `erl -noshell -pa nif/ebin -pa examples/ebin -s asyncio_example main'.
-module(asyncio_example).
-export([main/0, run/1]).

-spec run(poll | notify | await) -> {ok, term()} | {error, term()}.
run(How) ->
    ok = example_path:ensure(),
    {ok, Buf} = py_buffer:new(),
    Parts = [<<"{\"items\": [">>, <<"1, 2, 3">>, <<", 4]">>, <<", \"how\": \"">>,
             atom_to_binary(How), <<"\"}">>],
    spawn(fun() ->
                  [begin timer:sleep(5), ok = py_buffer:write(Buf, P) end || P <- Parts],
                  ok = py_buffer:close(Buf)
          end),
    py:call(async_read, run, [#{<<"wsgi.input">> => Buf}, How]).

-spec main() -> no_return().
main() ->
    [io:format("~p: ~p~n", [How, run(How)]) || How <- [poll, notify, await]],
    halt(0).
