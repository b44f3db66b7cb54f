%% @doc EUnit tests of `py_request' and `py_app' with plain PEP 3333 and ASGI apps (the Python
%% side is nif/test/python/pyt_serve_wsgi.py and pyt_serve_asgi.py), driven like an HTTP
%% server process would (nif/test/py_request_driver.erl), without HTTP.
-module(py_request_tests).
-include_lib("eunit/include/eunit.hrl").

-import(py_request_driver, [run/4, run/5]).

-define(W(Name), {wsgi, <<"pyt_serve_wsgi:", Name>>}).
-define(A(Name), {asgi, <<"pyt_serve_asgi:", Name>>}).

py_request_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     [fun whole_response_is_one_event/0,
      fun request_head_reaches_the_app/0,
      fun asgi_whole_response_is_one_event/0,
      fun streamed_response_arrives_exactly/0,
      fun asgi_streamed_response_arrives_exactly/0,
      fun chunkings_give_the_same_body_as_one_piece/0,
      fun chunked_bodies_without_length/0,
      fun asgi_chunkings_give_the_same_body/0,
      fun write_callable_then_iterable/0,
      fun the_apps_reason_phrase_comes_when_asked_for/0,
      fun exc_info_before_the_head_replaces_it/0,
      fun exc_info_after_the_head_fails_and_closes_once/0,
      fun app_error_before_the_head_is_a_500/0,
      fun unknown_app_fails_without_leaving_messages/0,
      fun body_larger_than_the_limit_is_refused_before_the_app/0,
      fun chunked_body_past_the_limit_is_aborted/0,
      fun unread_body_is_reported/0,
      fun ignored_body_in_a_full_buffer_unblocks_the_writer/0,
      fun foreign_messages_are_unknown/0,
      fun asgi_lifespan_runs_once_per_app_with_state/0,
      fun asgi_lifespan_starts_with_the_first_request/0,
      fun failed_lifespan_startup_is_an_error/0,
      body_demand_cases()]}.

whole_response_is_one_event() ->
    R = run(?W("echo"), #{method => <<"POST">>}, [<<"hello">>], #{content_length => 5}),
    ?assertMatch(#{status := 200, body := <<"hello">>, last := done}, R),
    %% `body_demand' comes too when the app happens to read before the body was written.
    ?assertEqual([{end_body, ok}, response],
                 [E || E <- maps:get(events, R), E =/= body_demand]),
    ?assertEqual(none, py_buffer_test_helpers:next()).

request_head_reaches_the_app() ->
    Head = #{method => <<"put">>, path => <<"/a%20b/c">>, query_string => <<"x=1&y=%41">>,
             headers => [{<<"X-Id">>, <<"h1">>}, {<<"Content-Length">>, <<"0">>}],
             peer => {{127, 0, 0, 1}, 4321}},
    #{headers := H, status := 200} = run(?W("echo"), Head, [], #{content_length => 0}),
    ?assertEqual(<<"put">>, header(<<"X-Method">>, H)),  % as sent: methods are case-sensitive
    ?assertEqual(<<"/a b/c">>, header(<<"X-Path">>, H)),
    ?assertEqual(<<"x=1&y=%41">>, header(<<"X-Query">>, H)),
    ?assertEqual(<<"127.0.0.1:4321">>, header(<<"X-Remote">>, H)).

asgi_whole_response_is_one_event() ->
    R = run(?A("echo"), #{method => <<"POST">>, path => <<"/p%C3%A9">>,
                          peer => {<<"::1">>, 9}},
            [<<"hel">>, <<"lo">>], #{content_length => 5}),
    ?assertMatch(#{status := 200, body := <<"hello">>, last := done}, R),
    #{headers := H, events := Events} = R,
    ?assertEqual([response], [E || E <- Events, E =:= response]),
    ?assertEqual(<<"/p", 16#c3, 16#a9>>, header(<<"x-path">>, H)),
    ?assertEqual(<<"('::1', 9)">>, header(<<"x-client">>, H)),
    ?assertEqual(none, py_buffer_test_helpers:next()).

streamed_response_arrives_exactly() ->
    R = run(?W("generate"), #{query_string => <<"n=40&size=65536">>,
                              headers => [{<<"x-id">>, <<"gen1">>}]},
            [], #{content_length => 0}),
    ?assertMatch(#{status := 200, last := done, response_end := eof}, R),
    ?assertEqual(expected_generate(40, 65536), maps:get(body, R)),
    ?assertEqual(#{<<"closed">> => 1, <<"error">> => none}, seen_w(<<"gen1">>)),
    ?assertEqual(none, py_buffer_test_helpers:next()).

asgi_streamed_response_arrives_exactly() ->
    R = run(?A("generate"), #{query_string => <<"n=40&size=65536">>,
                              headers => [{<<"x-id">>, <<"agen1">>}]},
            [], #{content_length => 0}),
    ?assertMatch(#{status := 200, last := done, response_end := eof}, R),
    ?assertEqual(expected_generate(40, 65536), maps:get(body, R)),
    ?assertEqual(none, py_buffer_test_helpers:next()).

chunkings_give_the_same_body_as_one_piece() ->
    Body = crypto:strong_rand_bytes(300000),
    Whole = digest(Body, [Body], #{content_length => byte_size(Body)}),
    ?assertEqual(iolist_to_binary([integer_to_binary(byte_size(Body)), " ",
                                   hex(crypto:hash(sha256, Body))]), Whole),
    [?assertEqual({Sizes, Whole},
                  {Sizes, digest(Body, chunks(Body, Sizes), #{content_length => byte_size(Body),
                                                              body_buffer => Bound})})
     || {Sizes, Bound} <- [{[1, 2, 3], 4096}, {[7], 65536}, {[4096], 1000}, {[65536], 65536},
                           {[65537, 3], 100000}, {[100, 70000, 5], 16384}]],
    %% Many 1-byte writes of a small body, and echoed back (streamed) in many chunkings.
    Small = binary:part(Body, 0, 2000),
    [?assertEqual(Small, maps:get(body, run(?W("echo_stream"), #{}, chunks(Small, Sizes),
                                            #{content_length => 2000, body_buffer => 256,
                                              response_buffer => 300})))
     || Sizes <- [[1], [2000], [3, 5, 700]]].

chunked_bodies_without_length() ->
    Body = crypto:strong_rand_bytes(200001),
    Whole = digest(Body, [Body], #{}),
    [?assertEqual(Whole, digest(Body, chunks(Body, Sizes), #{body_buffer => 8192}))
     || Sizes <- [[1000], [65536, 1], [8191, 8193]]],
    ?assertEqual(Body, maps:get(body, run(?W("echo_stream"), #{}, chunks(Body, [4096, 333]),
                                          #{body_buffer => 10000, response_buffer => 7000}))).

asgi_chunkings_give_the_same_body() ->
    Body = crypto:strong_rand_bytes(150000),
    [?assertEqual(Body, maps:get(body, run(App, #{}, chunks(Body, Sizes), Opts)))
     || App <- [?A("echo"), ?A("echo_stream")],
        Sizes <- [[150000], [1, 999], [65536]],
        Opts <- [#{content_length => 150000, body_buffer => 9000, response_buffer => 5000},
                 #{}]].

write_callable_then_iterable() ->
    R = run(?W("write_callable"), #{}, [], #{content_length => 0}),
    ?assertMatch(#{status := 200, body := <<"written first, then returned">>, last := done}, R),
    ?assert(lists:member(response_start, maps:get(events, R))).

the_apps_reason_phrase_comes_when_asked_for() ->
    [begin
         Head = #{query_string => Query},
         ?assertMatch(#{status := 299, body := <<"ab">>},
                      run(?W("custom_phrase"), Head, [], #{content_length => 0})),
         ?assertMatch(#{status := {299, <<"Custom Thing">>}, body := <<"ab">>},
                      run(?W("custom_phrase"), Head, [], #{content_length => 0,
                                                          reason_phrase => true})),
         %% An ASGI status has no phrase: the code alone either way.
         ?assertMatch(#{status := 200},
                      run(?A("echo"), #{}, [], #{content_length => 0, reason_phrase => true}))
     end || Query <- [<<>>, <<"stream">>]].

exc_info_before_the_head_replaces_it() ->
    ?assertMatch(#{status := 500, body := <<"handled">>, last := done},
                 run(?W("exc_info_before"), #{}, [], #{content_length => 0})).

exc_info_after_the_head_fails_and_closes_once() ->
    R = run(?W("exc_info_after"), #{headers => [{<<"x-id">>, <<"exc1">>}]}, [],
            #{content_length => 0}),
    ?assertMatch(#{status := 200, last := {failed, <<"KeyError('late')">>},
                   response_end := {error, {aborted, _}}}, R),
    %% What was written before the failure is readable, then the abort.
    ?assertEqual(<<"part one">>, maps:get(body, R)),
    ?assertEqual(#{<<"reraised">> => <<"KeyError('late')">>}, seen_w(<<"exc1">>)),
    ?assertMatch(#{<<"closed">> := 1}, seen_w(<<"exc1.close">>)).

app_error_before_the_head_is_a_500() ->
    ?assertMatch(#{status := 500, body := <<"Internal Server Error">>, last := done},
                 run(?W("raises"), #{}, [], #{content_length => 0})).

unknown_app_fails_without_leaving_messages() ->
    [begin
         R = run(App, #{}, [<<"abc">>], #{content_length => 3}),
         ?assertMatch(#{status := undefined,
                        last := {failed, {python_error, <<"AttributeError">>, _, _}}}, R),
         ?assertEqual(none, py_buffer_test_helpers:next())
     end || App <- [?W("missing"), ?A("missing")]],
    ?assertMatch(#{last := {failed, {python_error, <<"ModuleNotFoundError">>, _, _}}},
                 run({wsgi, "no_such_module:app"}, #{}, [], #{content_length => 0})).

body_larger_than_the_limit_is_refused_before_the_app() ->
    ?assertEqual({error, {body_too_large, 11, 10}},
                 py_request:start(?W("echo"), #{}, #{content_length => 11, max_body => 10})),
    ?assertEqual(none, py_buffer_test_helpers:next()),
    ?assertMatch(#{body := <<"0123456789">>},
                 run(?W("echo"), #{}, [<<"0123456789">>], #{content_length => 10,
                                                             max_body => 10})).

chunked_body_past_the_limit_is_aborted() ->
    R = run(?W("records_abort"), #{headers => [{<<"x-id">>, <<"lim1">>}]},
            [<<"12345">>, <<"67890">>, <<"x">>], #{max_body => 10}),
    ?assertMatch(#{events := [{body_error, body_too_large} | _], last := {failed, _}}, R),
    %% (How much it read before the abort depends on when it ran: at most the 10 bytes.)
    ?assertMatch(#{<<"aborted">> := <<"body aborted: body_too_large">>, <<"read">> := N}
                   when N =< 10, seen_w(<<"lim1">>)).

unread_body_is_reported() ->
    R = run(?W("reads_partly"), #{}, [<<"0123456789abcdef">>], #{content_length => 16}),
    ?assertMatch(#{body := <<"partly">>, last := done}, R),
    ?assertEqual([body_unread], [E || E <- maps:get(events, R), E =:= body_unread]),
    R2 = run(?A("disconnect_watch"), #{headers => [{<<"x-id">>, <<"unread0">>}]},
             [<<"abc">>], #{content_length => 3}),
    ?assertEqual([], [E || E <- maps:get(events, R2), E =:= body_unread]).

ignored_body_in_a_full_buffer_unblocks_the_writer() ->
    %% The app answers without reading; the body does not fit the buffer: the server hears
    %% `body_unread' (it would wait for `body_writable' forever otherwise) and its writes fail.
    Body = binary:copy(<<"z">>, 100000),
    R = run(?W("ignores_body"), #{}, chunks(Body, [30000]), #{content_length => 100000,
                                                             body_buffer => 4096}),
    ?assertMatch(#{status := 204, last := done}, R),
    ?assert(lists:member(body_unread, maps:get(events, R))),
    ?assertEqual(none, py_buffer_test_helpers:next()).

foreign_messages_are_unknown() ->
    {ok, Req} = py_request:start(?W("echo"), #{}, #{content_length => 0}),
    ?assertEqual(unknown, py_request:handle({tcp, self(), <<"x">>}, Req)),
    ?assertEqual(unknown, py_request:handle({py_result, make_ref(), {ok, none}}, Req)),
    {ok, Other} = py_buffer:new(),
    ?assertEqual(unknown, py_request:handle({py_buffer, Other, readable}, Req)),
    ?assertMatch(#{last := done}, finish(Req)).

asgi_lifespan_runs_once_per_app_with_state() ->
    App = ?A("lifespan_app"),
    ?assertEqual(ok, py_app:start(App)),
    ?assertEqual(ok, py_app:start(App)),
    ?assertEqual({ok, [1, 0]}, counts(<<"lifespan_app">>)),
    Bodies = [maps:get(body, run(App, #{}, [], #{content_length => 0})) || _ <- lists:seq(1, 3)],
    ?assertEqual([<<"hello from startup 1">>], lists:usort(Bodies)),
    ?assertEqual({ok, [1, 0]}, counts(<<"lifespan_app">>)),
    ?assertEqual(ok, py_app:stop(App)),
    ?assertEqual(ok, py_app:stop(App)),
    ?assertEqual({ok, [1, 1]}, counts(<<"lifespan_app">>)),
    %% A request after stop starts the lifespan again.
    ?assertMatch(#{body := <<"hello from startup 2">>}, run(App, #{}, [], #{content_length => 0})),
    ?assertEqual(ok, py_app:stop(App)),
    ?assertEqual({ok, [2, 2]}, counts(<<"lifespan_app">>)).

asgi_lifespan_starts_with_the_first_request() ->
    App = ?A("lifespan_app2"),
    Rs = [run(App, #{}, [], #{content_length => 0}) || _ <- lists:seq(1, 2)],
    ?assertEqual([<<"hello from startup 1">>], lists:usort([maps:get(body, R) || R <- Rs])),
    ?assertEqual(ok, py_app:stop(App)),
    ?assertEqual({ok, [1, 1]}, counts(<<"lifespan_app2">>)).

failed_lifespan_startup_is_an_error() ->
    ?assertMatch({error, {python_error, <<"py_buffer.lifespan.LifespanFailed">>,
                          <<"no database">>, _}},
                 py_app:start(?A("failing_startup"))),
    ?assertEqual(ok, py_app:stop(?A("failing_startup"))).

%% ---- body_demand (needs the NIF's `{py_buffer, Buf, demand}', branch nif-reads) ----------

body_demand_cases() ->
    case demand_supported() of
        true ->
            fun demand_comes_when_the_app_waits_for_its_body/0;
        false ->
            {"body_demand: SKIPPED, this NIF build does not send {py_buffer, Buf, demand} "
             "(added by branch nif-reads); the translation is in py_request:handle/2",
             fun() -> ok end}
    end.

demand_supported() ->
    Ebin = filename:dirname(code:which(py_buffer)),
    Nif = filename:join([filename:dirname(Ebin), "priv", "py_buffer_nif.so"]),
    {ok, Bin} = file:read_file(Nif),
    binary:match(Bin, <<"demand">>) =/= nomatch.

demand_comes_when_the_app_waits_for_its_body() ->
    {ok, Req} = py_request:start(?W("echo"), #{}, #{content_length => 4}),
    Req1 = await_event(body_demand, Req),
    ok = py_request:write_body(Req1, <<"ping">>),
    ?assertMatch(#{body := <<"ping">>, last := done}, finish(Req1)).

%% ---- helpers -----------------------------------------------------------------------------

digest(_Body, Chunks, Opts) ->
    #{status := 200, body := Digest, last := done} = run(?W("digest"), #{}, Chunks, Opts),
    Digest.

%% `Body' cut into chunks of the given sizes, repeating the list.
chunks(Body, Sizes) ->
    chunks(Body, Sizes, Sizes).

chunks(<<>>, _, _) -> [];
chunks(Body, [], All) -> chunks(Body, All, All);
chunks(Body, [N | Ns], All) when byte_size(Body) =< N -> [Body | chunks(<<>>, Ns, All)];
chunks(Body, [N | Ns], All) ->
    <<C:N/binary, Rest/binary>> = Body,
    [C | chunks(Rest, Ns, All)].

expected_generate(N, Size) ->
    iolist_to_binary([binary:copy(<<(I rem 251)>>, Size) || I <- lists:seq(0, N - 1)]).

header(Name, Headers) ->
    {_, V} = lists:keyfind(Name, 1, Headers),
    V.

hex(Bin) ->
    string:lowercase(binary:encode_hex(Bin)).

seen_w(Key) ->
    {ok, V} = py:call(pyt_serve_wsgi, seen, [Key]),
    V.

counts(Name) ->
    py:call(pyt_serve_asgi, lifespan_counts, [Name]).

%% Handles messages until `Event' (other events dropped).
await_event(Event, Req) ->
    receive
        Msg ->
            case py_request:handle(Msg, Req) of
                {ok, Events, Req1} ->
                    case lists:member(Event, Events) of
                        true -> Req1;
                        false -> await_event(Event, Req1)
                    end;
                unknown -> erlang:error({unexpected_message, Msg})
            end
    after 10000 -> erlang:error({timeout, Event})
    end.

%% Ends the body and collects the rest of the request.
finish(Req) ->
    _ = py_request:end_body(Req),
    collect(Req, #{body => []}).

collect(Req, Acc) ->
    receive
        Msg ->
            {ok, Events, Req1} = py_request:handle(Msg, Req),
            collect_events(Events, Req1, Acc)
    after 10000 -> erlang:error(timeout)
    end.

collect_events([], Req, Acc) -> collect(Req, Acc);
collect_events([{response, _, _, B} | Es], Req, Acc) -> collect_events(Es, Req, Acc#{body := [B]});
collect_events([Last | _], _Req, #{body := B} = Acc) when Last =:= done; element(1, Last) =:= failed ->
    Acc#{body := iolist_to_binary(B), last => Last};
collect_events([_ | Es], Req, Acc) -> collect_events(Es, Req, Acc).
