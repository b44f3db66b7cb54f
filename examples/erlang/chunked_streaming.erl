%% @doc The seed's chunked streaming example: a spawned writer sends chunks with a simulated
%% network delay (`timer:sleep(10)') while Python already reads (`myapp:stream_handler/1'
%% blocks in `read()' with the GIL released until data arrives).
%% Run: `erl -noshell -pa nif/ebin -pa examples/ebin -s chunked_streaming main'.
-module(chunked_streaming).
-export([main/0, run/0, get_chunks/0]).

%% @doc The chunks "received from the network".
-spec get_chunks() -> [binary()].
get_chunks() ->
    [<<"chunk ", (integer_to_binary(I))/binary, ": ", (binary:copy(<<"x">>, 100 * I))/binary, "\n">>
     || I <- lists:seq(1, 20)].

-spec run() -> {ok, map()} | {error, term()}.
run() ->
    ok = example_path:ensure(),
    %% Create buffer for chunked encoding
    {ok, Buf} = py_buffer:new(),
    %% Spawn writer process
    spawn(fun() ->
        %% Simulate receiving chunks
        lists:foreach(fun(Chunk) ->
            ok = py_buffer:write(Buf, Chunk),
            timer:sleep(10)  % Simulate network delay
        end, get_chunks()),
        ok = py_buffer:close(Buf)
    end),
    %% Python can start reading immediately
    %% read() will block until data available
    py:call(myapp, stream_handler, [Buf]).

-spec main() -> no_return().
main() ->
    {ok, #{<<"body">> := Body, <<"reads">> := Reads}} = run(),
    Sent = iolist_to_binary(get_chunks()),
    io:format("received ~p bytes in ~p reads, equal to what was sent: ~p~n",
              [byte_size(Body), Reads, Body =:= Sent]),
    halt(0).
