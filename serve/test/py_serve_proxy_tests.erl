%% @doc EUnit tests of the proxy headers' rules (`py_serve_proxy'): which peers are trusted,
%% the scheme and the client they give.
-module(py_serve_proxy_tests).

-include_lib("eunit/include/eunit.hrl").

-define(PEER, {{127, 0, 0, 1}, 5000}).

headers(Proto, For) ->
    [{<<"x-forwarded-proto">>, Proto} || Proto =/= none] ++
        [{<<"x-forwarded-for">>, For} || For =/= none].

trusted_lists_test() ->
    ?assertEqual({ok, all}, py_serve_proxy:trusted("10.0.0.1, *")),
    ?assertMatch({ok, [_, _, _]}, py_serve_proxy:trusted(" 127.0.0.1 ,::1, 10.0.0.0/8 ")),
    [?assertEqual({error, Bad}, py_serve_proxy:trusted("127.0.0.1," ++ Bad))
     || Bad <- ["proxy.local", "10.0.0.0/33", "::/129", "10.0.0.0/x", "1.2.3"]].

%% py_serve_proxy:apply/4 on a plain HTTP connection.
http(Trusted, Peer, Headers) ->
    py_serve_proxy:apply(Trusted, <<"http">>, Peer, Headers).

only_trusted_peers_are_believed_test() ->
    {ok, T} = py_serve_proxy:trusted("127.0.0.1, 10.0.0.0/8, fe80::/10"),
    H = headers(<<"https">>, <<"203.0.113.7">>),
    Believed = {<<"https">>, {<<"203.0.113.7">>, 0}},
    ?assertEqual(Believed, http(T, ?PEER, H)),
    ?assertEqual(Believed, http(T, {{10, 255, 0, 1}, 1}, H)),
    ?assertEqual(Believed, http(T, {{16#fe80, 0, 0, 0, 0, 0, 0, 7}, 1}, H)),
    ?assertEqual({<<"http">>, {{11, 0, 0, 1}, 1}}, http(T, {{11, 0, 0, 1}, 1}, H)),
    ?assertEqual({<<"http">>, ?PEER}, http(false, ?PEER, H)),
    ?assertEqual({<<"http">>, undefined}, http(T, undefined, H)).

%% Over TLS the scheme is `https' unless a trusted proxy says otherwise.
tls_connection_scheme_test() ->
    {ok, T} = py_serve_proxy:trusted("127.0.0.1"),
    Tls = fun(Trusted, Peer, Proto) ->
                  py_serve_proxy:apply(Trusted, <<"https">>, Peer, headers(Proto, none))
          end,
    ?assertEqual({<<"https">>, ?PEER}, Tls(T, ?PEER, none)),
    ?assertEqual({<<"http">>, ?PEER}, Tls(T, ?PEER, <<"http">>)),
    ?assertEqual({<<"https">>, ?PEER}, Tls(T, ?PEER, <<"gopher">>)),
    ?assertEqual({<<"https">>, {{11, 0, 0, 1}, 1}}, Tls(T, {{11, 0, 0, 1}, 1}, <<"http">>)),
    ?assertEqual({<<"https">>, ?PEER}, Tls(false, ?PEER, <<"http">>)).

scheme_and_client_test() ->
    {ok, T} = py_serve_proxy:trusted("127.0.0.1, 10.0.0.0/8"),
    Apply = fun(Proto, For) -> http(T, ?PEER, headers(Proto, For)) end,
    ?assertEqual({<<"https">>, ?PEER}, Apply(<<" HTTPS ">>, none)),
    ?assertEqual({<<"https">>, ?PEER}, Apply(<<"wss">>, none)),
    ?assertEqual({<<"http">>, ?PEER}, Apply(<<"gopher">>, none)),
    %% The last entry no trusted proxy added; its port when it has one.
    ?assertEqual({<<"http">>, {<<"198.51.100.1">>, 8080}},
                 Apply(none, <<"203.0.113.7, 198.51.100.1:8080, 10.0.0.3, 127.0.0.1">>)),
    ?assertEqual({<<"http">>, {<<"2001:db8::5">>, 4711}}, Apply(none, <<"[2001:db8::5]:4711">>)),
    ?assertEqual({<<"http">>, {<<"2001:db8::5">>, 0}}, Apply(none, <<"2001:db8::5">>)),
    %% All trusted: the first; empty: nothing changes.
    ?assertEqual({<<"http">>, {<<"10.0.0.9">>, 0}}, Apply(none, <<"10.0.0.9, 127.0.0.1">>)),
    ?assertEqual({<<"http">>, ?PEER}, Apply(none, <<>>)),
    {ok, All} = py_serve_proxy:trusted("*"),
    ?assertEqual({<<"http">>, {<<"203.0.113.7">>, 0}},
                 http(All, ?PEER, headers(none, <<"203.0.113.7, 10.0.0.3">>))).
