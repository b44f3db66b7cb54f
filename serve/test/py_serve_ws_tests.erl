%% @doc EUnit tests of the WebSocket opening handshake's checks (`py_serve_ws:upgrade/3') and
%% of the records between the server and the Python side (`py_serve_ws_record').
-module(py_serve_ws_tests).

-include_lib("eunit/include/eunit.hrl").

-define(KEY, <<"dGhlIHNhbXBsZSBub25jZQ==">>).

headers(Extra) ->
    [{<<"host">>, <<"x">>}, {<<"upgrade">>, <<"WebSocket">>},
     {<<"connection">>, <<"keep-alive, Upgrade">>}, {<<"sec-websocket-version">>, <<"13">>},
     {<<"sec-websocket-key">>, ?KEY} | Extra].

without(Name, Headers) ->
    lists:keydelete(Name, 1, Headers).

a_valid_handshake_gives_its_key_test() ->
    ?assertEqual({ok, ?KEY}, py_serve_ws:upgrade(<<"GET">>, {1, 1}, headers([]))),
    %% Optional whitespace around the key is not part of it.
    Spaced = lists:keyreplace(<<"sec-websocket-key">>, 1, headers([]),
                              {<<"sec-websocket-key">>, <<" ", ?KEY/binary, "\t">>}),
    ?assertEqual({ok, ?KEY}, py_serve_ws:upgrade(<<"GET">>, {1, 1}, Spaced)).

requests_that_do_not_ask_are_plain_http_test() ->
    ?assertEqual(no, py_serve_ws:upgrade(<<"POST">>, {1, 1}, headers([]))),
    ?assertEqual(no, py_serve_ws:upgrade(<<"GET">>, {1, 0}, headers([]))),
    ?assertEqual(no, py_serve_ws:upgrade(<<"GET">>, {1, 1}, without(<<"upgrade">>, headers([])))),
    ?assertEqual(no, py_serve_ws:upgrade(<<"GET">>, {1, 1},
                                         without(<<"connection">>, headers([])))),
    H2c = lists:keyreplace(<<"upgrade">>, 1, headers([]), {<<"upgrade">>, <<"h2c">>}),
    ?assertEqual(no, py_serve_ws:upgrade(<<"GET">>, {1, 1}, H2c)).

bad_versions_are_426_test() ->
    [?assertEqual({error, 426, [{<<"sec-websocket-version">>, <<"13">>}], bad_websocket_version},
                  py_serve_ws:upgrade(<<"GET">>, {1, 1}, Headers))
     || Headers <- [without(<<"sec-websocket-version">>, headers([])),
                    lists:keyreplace(<<"sec-websocket-version">>, 1, headers([]),
                                     {<<"sec-websocket-version">>, <<"8">>}),
                    headers([{<<"sec-websocket-version">>, <<"13">>}])]].  % two lines

bad_keys_are_400_test() ->
    Key = fun(K) -> lists:keyreplace(<<"sec-websocket-key">>, 1, headers([]),
                                     {<<"sec-websocket-key">>, K}) end,
    [?assertEqual({error, 400, [], bad_websocket_key},
                  py_serve_ws:upgrade(<<"GET">>, {1, 1}, Headers))
     || Headers <- [without(<<"sec-websocket-key">>, headers([])),
                    Key(<<"c2hvcnQ=">>),                     % 5 bytes
                    Key(<<"AAAAAAAAAAAAAAAAAAAAAAAAAAAA">>),  % 21 bytes
                    Key(<<"not base64 at all!!!!!!!">>),
                    headers([{<<"sec-websocket-key">>, ?KEY}])]]. % two lines

records_round_trip_at_every_cut_test() ->
    Records = [{text, <<"héllo"/utf8>>}, {binary, <<>>}, {binary, binary:copy(<<7>>, 70000)},
               {close, <<1000:16, "bye">>}, {close, <<>>}],
    Wire = iolist_to_binary([py_serve_ws_record:record(K, P) || {K, P} <- Records]),
    [?assertEqual(Records, read_cut(Wire, Cut)) || Cut <- lists:seq(0, 12) ++ [70005, 70006]],
    ?assertEqual(Records, read_pieces([<<B>> || <<B>> <= binary:part(Wire, 0, 40)]
                                      ++ [binary:part(Wire, 40, byte_size(Wire) - 40)])).

an_unknown_kind_is_an_error_test() ->
    ?assertError({bad_record, 3}, py_serve_ws_record:read(<<3, 0:32>>, py_serve_ws_record:reader())).

read_cut(Wire, Cut) ->
    <<A:Cut/binary, B/binary>> = Wire,
    read_pieces([A, B]).

read_pieces(Pieces) ->
    {Records, _} = lists:foldl(fun(Piece, {Acc, R}) ->
                                       {New, R1} = py_serve_ws_record:read(Piece, R),
                                       {Acc ++ New, R1}
                               end, {[], py_serve_ws_record:reader()}, Pieces),
    Records.
