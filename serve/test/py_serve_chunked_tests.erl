%% @doc The chunked body decoder fed in every way a socket may cut its bytes: the data and the
%% bytes after the body must be the same for every cut, and malformed bodies fail whatever
%% the cut.
-module(py_serve_chunked_tests).

-include_lib("eunit/include/eunit.hrl").

%% {Encoded body followed by the next request's first bytes, its data, those next bytes}.
bodies() ->
    [{<<"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n">>, <<"hello">>, <<"GET / HTTP/1.1\r\n">>},
     {<<"3;name=value\r\nabc\r\n1 ; x\r\nd\r\n0\r\n\r\n">>, <<"abcd">>, <<>>},
     {<<"A\nabcdefghij\r\n0\nX-Trailer: 1\nY: 2\r\n\nnext">>, <<"abcdefghij">>, <<"next">>},
     {<<"0\r\n\r\n">>, <<>>, <<>>},
     {<<"fF\r\n", (binary:copy(<<"z">>, 255))/binary, "\r\n0\r\n\r\n">>,
      binary:copy(<<"z">>, 255), <<>>}].

%% Malformed bodies, each cut short of any `done'.
bad() ->
    [<<"+5\r\nhello\r\n0\r\n\r\n">>,            % not a hex digit
     <<"5 zzz\r\nhello\r\n0\r\n\r\n">>,         % junk after the size
     <<"5\r\nhelloX\r\n0\r\n\r\n">>,            % data not followed by CR LF
     <<"5\r\nhello\n0\r\n\r\n">>,               % data followed by a bare LF
     <<"\r\n">>,                                % no size
     <<"1000000000000000\r\n">>,                % 16 hex digits
     <<"0\r\nno colon\r\n\r\n">>,               % a trailer that is not a field
     <<"5\rx\n">>].                             % a CR inside the size line

every_cut_gives_the_same_data_and_rest_test() ->
    lists:foreach(
      fun({Wire, Data, Next}) ->
              Size = byte_size(Wire),
              %% one piece, every cut in two, and one byte at a time
              Cuts = [[Wire]]
                  ++ [[binary_part(Wire, 0, N), binary_part(Wire, N, Size - N)]
                      || N <- lists:seq(1, Size - 1)]
                  ++ [[<<B>> || <<B>> <= Wire]],
              lists:foreach(fun(Pieces) ->
                                    ?assertEqual({Data, Next}, feed(Pieces), Pieces)
                            end, Cuts)
      end, bodies()).

malformed_bodies_fail_whatever_the_cut_test() ->
    lists:foreach(
      fun(Wire) ->
              ?assertEqual(bad_chunk, feed([Wire]), Wire),
              ?assertEqual(bad_chunk, feed([<<B>> || <<B>> <= Wire]), Wire)
      end, bad()).

a_size_line_without_end_fails_at_its_limit_test() ->
    Long = binary:copy(<<"1;">>, 40000),
    ?assertEqual({error, bad_chunk}, py_serve_chunked:decode(Long, py_serve_chunked:new())),
    {more, [], D} = py_serve_chunked:decode(binary:part(Long, 0, 1000), py_serve_chunked:new()),
    ?assertMatch({more, [], _}, py_serve_chunked:decode(<<";;">>, D)).

trailers_beyond_their_limit_fail_test() ->
    Line = <<"x-t: ", (binary:copy(<<"v">>, 1000))/binary, "\r\n">>,
    Wire = iolist_to_binary([<<"0\r\n">>, lists:duplicate(70, Line), <<"\r\n">>]),
    ?assertEqual(bad_chunk, feed([Wire])).

data_is_handed_on_as_it_arrives_test() ->
    {more, [<<"ab">>], D1} = py_serve_chunked:decode(<<"10\r\nab">>, py_serve_chunked:new()),
    {more, [<<"cdefghijklmnop">>], D2} = py_serve_chunked:decode(<<"cdefghijklmnop">>, D1),
    ?assertEqual({done, [], <<>>}, py_serve_chunked:decode(<<"\r\n0\r\n\r\n">>, D2)).

%% The data and the bytes after the body, or `bad_chunk', or `{incomplete, Data}'.
feed(Pieces) ->
    feed(Pieces, py_serve_chunked:new(), []).

feed([], _Decoder, Acc) ->
    {incomplete, iolist_to_binary(lists:reverse(Acc))};
feed([Piece | Rest], Decoder, Acc) ->
    case py_serve_chunked:decode(Piece, Decoder) of
        {more, Data, Decoder1} ->
            [] = [D || D <- Data, D =:= <<>>],  % never an empty piece
            feed(Rest, Decoder1, lists:reverse(Data, Acc));
        {done, Data, After} ->
            {iolist_to_binary(lists:reverse(Acc, Data)), iolist_to_binary([After | Rest])};
        {error, bad_chunk} ->
            bad_chunk
    end.
