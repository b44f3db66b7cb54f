%% @doc EUnit tests of `py_request' when the client leaves (mid-body, mid-response, before the
%% app reads, the server process dying), of a slow response consumer's bounded memory, and of
%% 100 concurrent requests. Apps: nif/test/python/pyt_serve_wsgi.py, pyt_serve_asgi.py.
-module(py_request_abort_tests).
-include_lib("eunit/include/eunit.hrl").

-import(py_request_driver, [run/4, run/5]).

-define(W(Name), {wsgi, <<"pyt_serve_wsgi:", Name>>}).
-define(A(Name), {asgi, <<"pyt_serve_asgi:", Name>>}).
-define(MiB, 1048576).

abort_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     {timeout, 120,
      [fun wsgi_client_leaves_mid_body/0,
       fun asgi_client_leaves_mid_body/0,
       fun wsgi_client_leaves_mid_response_close_once/0,
       fun asgi_client_leaves_mid_response/0,
       fun client_leaves_before_the_app_reads/0,
       fun server_process_dies_mid_response/0,
       fun slow_consumer_memory_is_bounded/0,
       fun concurrent_requests_complete_exactly/0]}}.

wsgi_client_leaves_mid_body() ->
    Chunks = [binary:copy(<<"a">>, 65536) || _ <- lists:seq(1, 16)],
    R = run(?W("records_abort"), #{headers => [{<<"x-id">>, <<"mid1">>}]}, Chunks,
            #{content_length => 16 * 65536, body_buffer => 65536}, #{abort_after_chunks => 3}),
    ?assertMatch(#{status := undefined, last := {failed, <<"BodyAborted(", _/binary>>}}, R),
    #{<<"aborted">> := Why, <<"read">> := Read} = seen(pyt_serve_wsgi, <<"mid1">>),
    ?assertEqual(<<"body aborted: client_gone">>, Why),
    ?assert(Read =< 3 * 65536),
    ?assertEqual(none, py_buffer_test_helpers:next()).

asgi_client_leaves_mid_body() ->
    Chunks = [binary:copy(<<"b">>, 65536) || _ <- lists:seq(1, 16)],
    R = run(?A("disconnect_watch"), #{headers => [{<<"x-id">>, <<"amid1">>}]}, Chunks,
            #{content_length => 16 * 65536}, #{abort_after_chunks => 2}),
    ?assertMatch(#{status := undefined, last := {failed, _}}, R),
    ?assertMatch(#{<<"disconnect">> := true}, seen(pyt_serve_asgi, <<"amid1">>)),
    ?assertEqual(none, py_buffer_test_helpers:next()).

wsgi_client_leaves_mid_response_close_once() ->
    ok = watch(<<"midr1">>),
    R = run(?W("stream_records"), #{headers => [{<<"x-id">>, <<"midr1">>}]}, [],
            #{content_length => 0, response_buffer => 65536},
            #{abort_after_response => 300000}),
    ?assertMatch(#{status := 200, last := {failed, <<"BrokenPipeError", _/binary>>}}, R),
    ?assert(byte_size(maps:get(body, R)) >= 300000),
    %% close() was called exactly once (its message came before the request ended).
    ?assertEqual([{<<"closed">>, <<"midr1">>, 1}], maps:get(others, R)),
    ?assertEqual(#{<<"closed">> => 1, <<"error">> => none}, seen(pyt_serve_wsgi, <<"midr1">>)),
    ?assertEqual(none, py_buffer_test_helpers:next()).

asgi_client_leaves_mid_response() ->
    R = run(?A("generate"), #{query_string => <<"n=100000&size=65536">>,
                              headers => [{<<"x-id">>, <<"amidr1">>}]}, [],
            #{content_length => 0}, #{abort_on_start => true}),
    ?assertMatch(#{status := 200, last := {failed, _}}, R),
    ?assertMatch(#{<<"error">> := <<"BrokenPipeError">>}, seen(pyt_serve_asgi, <<"amidr1">>)),
    ?assertEqual(none, py_buffer_test_helpers:next()).

client_leaves_before_the_app_reads() ->
    {ok, Req} = py_request:start(?W("gated_reader"),
                                 #{headers => [{<<"x-id">>, <<"gate1">>}]},
                                 #{content_length => 10}),
    ok = py_request:write_body(Req, <<"12345">>),
    Req1 = py_request:abort(Req, {client, closed}),
    {ok, _} = py:call(pyt_serve_wsgi, open_gate, [<<"gate1">>]),
    ?assertMatch({failed, <<"BodyAborted(", _/binary>>}, last_event(Req1)),
    ?assertEqual(#{<<"aborted">> => <<"body aborted: {client,closed}">>},
                 seen(pyt_serve_wsgi, <<"gate1">>)),
    ?assertEqual(none, py_buffer_test_helpers:next()).

server_process_dies_mid_response() ->
    %% The server process reads the head and dies: it owns both buffers, so they are aborted
    %% ({owner_down, _}); the app's next write fails and its result is closed once.
    ok = watch(<<"died1">>),
    Self = self(),
    {Pid, Mon} = spawn_monitor(
                   fun() ->
                           {ok, Req} = py_request:start(?W("stream_records"),
                                                        #{headers => [{<<"x-id">>, <<"died1">>}]},
                                                        #{content_length => 0}),
                           _ = await_start(Req),
                           Self ! {started, self()},
                           exit(connection_lost)
                   end),
    receive {started, Pid} -> ok after 10000 -> error(timeout) end,
    receive {'DOWN', Mon, process, Pid, connection_lost} -> ok after 10000 -> error(timeout) end,
    receive {<<"closed">>, <<"died1">>, N} -> ?assertEqual(1, N) after 10000 -> error(timeout) end.

slow_consumer_memory_is_bounded() ->
    %% 32 MiB through a 64 KiB response buffer read 4 KiB at a time: the app's writes wait,
    %% the buffer never holds more than its bound, the VM's memory does not grow with the body.
    Bound = 65536,
    Mem0 = erlang:memory(total),
    Probe = fun(Req) ->
                    {_, Resp} = py_request:buffers(Req),
                    #{buffered := B} = py_buffer:info(Resp),
                    true = B =< Bound,
                    put(max_mem, max(get_max_mem(), erlang:memory(total)))
            end,
    put(max_mem, Mem0),
    [begin
         R = run(App, #{query_string => <<"n=512&size=65536">>, headers => [{<<"x-id">>, Id}]},
                 [], #{content_length => 0, response_buffer => Bound},
                 #{read_size => 4096, on_read => Probe}),
         ?assertMatch(#{status := 200, last := done}, R),
         ?assertEqual(32 * ?MiB, byte_size(maps:get(body, R))),
         ?assert(maps:get(max_buffered_seen, R) =< Bound)
     end || {App, Id} <- [{?W("generate"), <<"slow1">>}, {?A("generate"), <<"slow2">>}]],
    Growth = get_max_mem() - Mem0,
    %% The collected body itself is 32 MiB of 4 KiB sub-binaries; the rest stays small.
    ?assert(Growth < 32 * ?MiB + 16 * ?MiB).

get_max_mem() ->
    get(max_mem).

concurrent_requests_complete_exactly() ->
    Self = self(),
    N = 100,
    Apps = [?W("echo"), ?W("echo_stream"), ?A("echo"), ?A("echo_stream"), ?W("digest")],
    Pids = [spawn_link(
              fun() ->
                      rand:seed(exsss, {I, I, I}),
                      Body = crypto:strong_rand_bytes(rand:uniform(200000)),
                      App = lists:nth(I rem length(Apps) + 1, Apps),
                      Opts = case I rem 2 of
                                 0 -> #{content_length => byte_size(Body), body_buffer => 16384,
                                        response_buffer => 16384};
                                 1 -> #{}
                             end,
                      R = run(App, #{}, split(Body, rand:uniform(70000)), Opts),
                      Expected = case App of
                                     ?W("digest") ->
                                         iolist_to_binary(
                                           [integer_to_binary(byte_size(Body)), " ",
                                            string:lowercase(
                                              binary:encode_hex(crypto:hash(sha256, Body)))]);
                                     _ -> Body
                                 end,
                      Self ! {self(), maps:get(body, R) =:= Expected, maps:get(last, R),
                              py_buffer_test_helpers:next()}
              end) || I <- lists:seq(1, N)],
    Results = [receive {P, Same, Last, Left} -> {Same, Last, Left}
               after 60000 -> error(timeout) end || P <- Pids],
    ?assertEqual([{true, done, none}], lists:usort(Results)).

%% ---- helpers -----------------------------------------------------------------------------

seen(Module, Key) ->
    {ok, V} = py:call(Module, seen, [Key]),
    V.

watch(Key) ->
    {ok, none} = py:call(pyt_serve_wsgi, watch, [Key, self()]),
    ok.

split(Bin, N) when byte_size(Bin) =< N -> [Bin];
split(Bin, N) -> <<C:N/binary, Rest/binary>> = Bin, [C | split(Rest, N)].

%% The last event of a request (all others dropped).
last_event(Req) ->
    receive
        Msg ->
            {ok, Events, Req1} = py_request:handle(Msg, Req),
            case [E || E <- Events, E =:= done orelse element(1, E) =:= failed] of
                [Last] -> Last;
                [] -> last_event(Req1)
            end
    after 10000 -> error(timeout)
    end.

await_start(Req) ->
    receive
        Msg ->
            {ok, Events, Req1} = py_request:handle(Msg, Req),
            case [E || {response_start, _, _} = E <- Events] of
                [_] -> Req1;
                [] -> await_start(Req1)
            end
    after 10000 -> error(timeout)
    end.
