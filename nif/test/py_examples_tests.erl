%% @doc Every example under examples/ (the seed's Erlang and Python snippets) run as a test:
%% the Erlang modules of examples/erlang are compiled with the tests (`make test-nif') and
%% each one's `run' function is checked against what it was sent.
-module(py_examples_tests).
-include_lib("eunit/include/eunit.hrl").

basic_usage_reads_all_by_line_and_by_amount_test() ->
    #{all := All, lines := {ok, Lines}, amount := {ok, Chunk}} = basic_usage:run(),
    ?assertEqual({ok, <<"chunk1chunk2">>}, All),
    ?assertEqual(lists:duplicate(256, <<"0123456789abcde\n">>), Lines),
    ?assertEqual(binary:copy(<<"0123456789abcde\n">>, 64), Chunk).

wsgi_environ_example_returns_the_body_test() ->
    Body = <<"{\"user\": \"joe\", \"items\": [1, 2, 3]}">>,
    ?assertEqual({ok, #{<<"method">> => <<"POST">>, <<"path">> => <<"/api/data">>,
                        <<"content_length">> => byte_size(Body), <<"body">> => Body,
                        <<"json">> => #{<<"user">> => <<"joe">>, <<"items">> => [1, 2, 3]}}},
                 wsgi_environ:run(Body)).

chunked_streaming_example_reads_while_erlang_writes_test() ->
    {ok, #{<<"body">> := Body, <<"reads">> := Reads}} = chunked_streaming:run(),
    ?assertEqual(iolist_to_binary(chunked_streaming:get_chunks()), Body),
    %% read(1024) returned as the chunks arrived, not once at the end.
    ?assert(Reads > 1).

multipart_example_parses_every_part_test() ->
    ?assertEqual({ok, [#{<<"name">> => <<"title">>, <<"filename">> => none,
                         <<"content_type">> => none, <<"data">> => <<"Hello, multipart">>},
                       #{<<"name">> => <<"notes">>, <<"filename">> => none,
                         <<"content_type">> => none,
                         <<"data">> => <<"line one\nline two\r\nnot a boundary: ------py-b">>},
                       #{<<"name">> => <<"upload">>, <<"filename">> => <<"data.bin">>,
                         <<"content_type">> => <<"application/octet-stream">>,
                         <<"data">> => binary:copy(<<0, 1, 2, 255>>, 1000)}]},
                 multipart_example:run()).

asyncio_examples_read_while_erlang_writes_test_() ->
    [?_assertEqual({ok, #{<<"items">> => [1, 2, 3, 4], <<"how">> => atom_to_binary(How)}},
                   asyncio_example:run(How))
     || How <- [poll, notify, await]].

zero_copy_example_splits_at_the_boundary_test() ->
    ?assertEqual({ok, #{<<"part">> => <<"first part of the body">>, <<"boundary_pos">> => 22,
                        <<"first_byte">> => $f, <<"slice">> => <<" of the bo">>,
                        <<"readonly">> => true, <<"ndim">> => 1, <<"nbytes">> => 45}},
                 zero_copy_example:run()).

api_tour_example_matches_the_seed_reference_test() ->
    {ok, Tour} = api_tour_example:run(),
    ?assertEqual(#{<<"type_is_pybuffer">> => true, <<"same_type">> => true,
                   <<"readable">> => true, <<"writable">> => false, <<"seekable">> => true,
                   <<"closed">> => false, <<"len">> => 24, <<"readable_amount">> => 24,
                   <<"read_nonblock">> => <<"line1\n">>, <<"readline">> => <<"line2\n">>,
                   <<"tell">> => 12, <<"seek_set">> => 0, <<"seek_cur">> => 10,
                   <<"read_1024">> => <<"2\nli">>, <<"find_newline">> => 3,
                   <<"find_missing">> => -1, <<"readlines_hint">> => [<<"ne3\n">>],
                   <<"iteration">> => [<<"line4\n">>], <<"at_eof">> => true,
                   <<"read_at_eof">> => <<>>, <<"seek_end">> => 19,
                   <<"read_rest">> => <<"ine4\n">>, <<"closed_after_close">> => true},
                 Tour).

%% `make demo' in miniature: a smaller body through the same WSGI and ASGI apps.
demo_streams_to_wsgi_and_asgi_apps_test_() ->
    {timeout, 60, fun() -> ok = demo:run(#{size => 4 * 1024 * 1024, quiet => true}) end}.
