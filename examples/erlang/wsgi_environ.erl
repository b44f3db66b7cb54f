%% @doc The seed's "WSGI environ" example, as written: simulate receiving an HTTP body, build
%% the environ, call the WSGI app (`myapp:handle/1', examples/python/myapp.py).
%% Run: `erl -noshell -pa nif/ebin -pa examples/ebin -s wsgi_environ main'.
-module(wsgi_environ).
-export([main/0, run/1]).

-spec run(binary()) -> {ok, map()} | {error, term()}.
run(Body) ->
    ok = example_path:ensure(),
    %% Simulate receiving HTTP body
    {ok, Buf} = py_buffer:new(byte_size(Body)),
    ok = py_buffer:write(Buf, Body),
    ok = py_buffer:close(Buf),
    %% Build WSGI environ
    Environ = #{
        <<"REQUEST_METHOD">> => <<"POST">>,
        <<"PATH_INFO">> => <<"/api/data">>,
        <<"CONTENT_TYPE">> => <<"application/json">>,
        <<"CONTENT_LENGTH">> => integer_to_binary(byte_size(Body)),
        <<"wsgi.input">> => Buf
    },
    %% Call WSGI app
    {ok, Response} = py:call(myapp, handle, [Environ]),
    {ok, Response}.

-spec main() -> no_return().
main() ->
    {ok, Response} = run(<<"{\"user\": \"joe\", \"items\": [1, 2, 3]}">>),
    io:format("~p~n", [Response]),
    halt(0).
