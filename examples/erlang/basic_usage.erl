%% @doc The seed's first Erlang example: create a buffer (chunked, or with a known content
%% length), write HTTP body chunks, signal the end, pass it to a WSGI app on a context.
%% The app is `myapp:handle_request/1' (examples/python/myapp.py), the seed's first Python
%% snippet. Run: `erl -noshell -pa nif/ebin -pa examples/ebin -s basic_usage main'.
-module(basic_usage).
-export([main/0, run/0]).

-spec run() -> #{atom() => term()}.
run() ->
    ok = example_path:ensure(),
    Ctx = py:context(1),
    %% Create a buffer (chunked - unknown size)
    {ok, Buf} = py_buffer:new(),
    %% Write HTTP body chunks
    ok = py_buffer:write(Buf, <<"chunk1">>),
    ok = py_buffer:write(Buf, <<"chunk2">>),
    %% Signal end of data
    ok = py_buffer:close(Buf),
    %% Pass to WSGI app
    All = py:call(Ctx, myapp, handle_request, [#{<<"wsgi.input">> => Buf}]),
    %% Or with known content length (pre-allocates memory)
    {ok, Buf2} = py_buffer:new(4096),
    Lines = binary:copy(<<"0123456789abcde\n">>, 256),
    ok = py_buffer:write(Buf2, Lines),
    ByLine = py:call(Ctx, myapp, handle_request,
                     [#{<<"wsgi.input">> => Buf2, <<"example.mode">> => <<"lines">>}]),
    {ok, Buf3} = py_buffer:new(4096),
    ok = py_buffer:write(Buf3, Lines),
    Sized = py:call(Ctx, myapp, handle_request,
                    [#{<<"wsgi.input">> => Buf3, <<"example.mode">> => <<"amount">>}]),
    #{all => All, lines => ByLine, amount => Sized}.

-spec main() -> no_return().
main() ->
    #{all := {ok, Body}, lines := {ok, Lines}, amount := {ok, Chunk}} = run(),
    io:format("read(): ~p~nfor line in wsgi_input: ~p lines~nread(1024): ~p bytes~n",
              [Body, length(Lines), byte_size(Chunk)]),
    halt(0).
