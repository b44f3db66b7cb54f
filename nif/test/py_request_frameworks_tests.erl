%% @doc EUnit tests of `py_request' with unmodified framework apps (Flask, Django, Starlette,
%% FastAPI; tests/frameworks/fw_*.py, shared with the HTTP tests of py-buffer-serve):
%% a multipart form upload read through the framework's own parser, and a streamed response.
-module(py_request_frameworks_tests).
-include_lib("eunit/include/eunit.hrl").

-import(py_request_driver, [run/4]).

frameworks_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     [{"flask upload (request.files)", fun() -> upload({wsgi, <<"fw_flask:app">>}) end},
      %% Django reads a body only up to CONTENT_LENGTH (none for a chunked body: an empty
      %% body), so it gets the framings with a length only.
      {"django upload (request.POST/FILES)",
       fun() -> upload({wsgi, <<"fw_django:application">>}, length) end},
      {"starlette upload (UploadFile, lifespan state)",
       fun() -> upload({asgi, <<"fw_starlette:app">>}) end},
      {"fastapi upload (UploadFile)",
       fun() -> upload({asgi, <<"fw_fastapi:app">>}) end},
      {"flask stream (generator)",
       fun() -> stream({wsgi, <<"fw_flask:app">>}, <<"line ">>, 1000) end},
      {"django stream (StreamingHttpResponse)",
       fun() -> stream({wsgi, <<"fw_django:application">>}, <<"row ">>, 500) end},
      {"starlette stream (StreamingResponse)",
       fun() -> stream({asgi, <<"fw_starlette:app">>}, <<"chunk ">>, 700) end},
      {"fastapi stream (StreamingResponse)",
       fun() -> stream({asgi, <<"fw_fastapi:app">>}, <<"item ">>, 700) end},
      fun lifespan_state_stops/0]}.

%% The same upload in one piece, in 1 KiB chunks, in odd chunks, chunked (no length; `Framing'
%% `length': not that one): the framework sees the same form and file.
upload(App) ->
    upload(App, any).

upload(App, Framing) ->
    File = crypto:strong_rand_bytes(300000),
    Boundary = <<"----py-buffer-boundary-7MA4YWxk">>,
    Body = py_request_driver:multipart(Boundary, [{<<"title">>, <<"t\xc3\xa9st">>},
                                                  {<<"file">>, <<"data.bin">>,
                                                   <<"application/octet-stream">>, File}]),
    Size = byte_size(Body),
    Type = <<"multipart/form-data; boundary=", Boundary/binary>>,
    Expected = #{<<"title">> => <<"t\xc3\xa9st">>, <<"filename">> => <<"data.bin">>,
                 <<"size">> => byte_size(File),
                 <<"sha256">> => string:lowercase(binary:encode_hex(crypto:hash(sha256, File)))},
    Results =
        [begin
             Headers = [{<<"Host">>, <<"localhost">>}, {<<"Content-Type">>, Type}
                        | case Length of
                              undefined -> [{<<"Transfer-Encoding">>, <<"chunked">>}];
                              _ -> [{<<"Content-Length">>, integer_to_binary(Length)}]
                          end],
             R = run(App, #{method => <<"POST">>, path => <<"/upload">>, headers => Headers},
                     split(Body, Step), #{content_length => Length, body_buffer => 16384}),
             ?assertMatch({200, done}, {maps:get(status, R), maps:get(last, R)}),
             {ok, Json} = py:call(json, loads, [maps:get(body, R)]),
             maps:remove(<<"state">>, Json)
         end || {Step, Length} <- [{Size, Size}, {1024, Size}, {7777, Size}, {65536, undefined}],
                Framing =:= any orelse Length =/= undefined],
    ?assertEqual([Expected], lists:usort(Results)).

stream(App, Word, Repeat) ->
    R = run(App, #{path => <<"/stream">>, query_string => <<"n=50">>,
                   headers => [{<<"Host">>, <<"localhost">>}]},
            [], #{content_length => 0, response_buffer => 8192}),
    ?assertMatch(#{status := 200, last := done, response_end := eof}, R),
    ?assert(lists:member(response_start, maps:get(events, R))),
    Expected = iolist_to_binary([binary:copy(<<Word/binary, (integer_to_binary(I))/binary, "\n">>,
                                             Repeat) || I <- lists:seq(0, 49)]),
    ?assertEqual(Expected, maps:get(body, R)),
    ?assert(maps:get(max_buffered_seen, R) =< 8192).

lifespan_state_stops() ->
    ?assertEqual(ok, py_app:stop({asgi, <<"fw_starlette:app">>})),
    ?assertEqual(ok, py_app:stop({asgi, <<"fw_fastapi:app">>})).

split(Bin, N) when byte_size(Bin) =< N -> [Bin];
split(Bin, N) -> <<C:N/binary, Rest/binary>> = Bin, [C | split(Rest, N)].
