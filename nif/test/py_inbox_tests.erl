%% @doc EUnit tests of `erlang.Inbox': a Python thread of its own (an app's event loop) that
%% takes the context-free calls `Module.Function(Key, ...)' instead of the pool. They run on
%% its thread, each answered once; other keys and closed inboxes go to the pool, with the
%% calls still queued at the close; a second claim is refused; a timed-out call is never
%% interrupted there; `py:stop/0' answers queued calls `{error, stopped}'; ASGI requests of
%% `py_request' reach the app through its loop's inbox. The Python side is
%% nif/test/python/pyt_inbox.py.
-module(py_inbox_tests).
-include_lib("eunit/include/eunit.hrl").

-import(py_buffer_test_helpers, [await/2, run_vm/2]).

inbox_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     [fun calls_an_inbox_claims_run_on_its_thread/0,
      {timeout, 60, fun concurrent_calls_are_each_answered_once/0},
      {timeout, 30, fun closing_hands_queued_calls_to_the_pool/0},
      fun a_second_claim_is_refused/0,
      {timeout, 30, fun a_timed_out_call_is_not_interrupted_there/0},
      {timeout, 60, fun stop_answers_queued_calls_stopped/0},
      {timeout, 60, fun asgi_requests_reach_the_app_through_its_loop_inbox/0},
      {timeout, 120, fun asgi_requests_racing_app_restarts_all_end/0}]}.

where(Key, N) ->
    py:call(pyt_inbox, where, [Key, N]).

calls_an_inbox_claims_run_on_its_thread() ->
    {ok, Owner} = py:call(pyt_inbox, open_inbox, [<<"where">>, <<"k1">>]),
    Ns = lists:seq(1, 200),
    ?assertEqual([{ok, {Owner, N}} || N <- Ns], [where(<<"k1">>, N) || N <- Ns]),
    %% Another key, or a key that is not a binary: the pool.
    {ok, {Other, 7}} = where(<<"k2">>, 7),
    ?assertNotEqual(Owner, Other),
    {ok, {Atom, 8}} = where(k1, 8),
    ?assertNotEqual(Owner, Atom),
    ?assertEqual({ok, 200}, py:call(pyt_inbox, close, [<<"k1">>])),
    %% Closed: the pool again.
    {ok, {After, 9}} = where(<<"k1">>, 9),
    ?assertNotEqual(Owner, After).

%% 8 processes x 250 calls at once: every call answered once, with its own argument.
concurrent_calls_are_each_answered_once() ->
    {ok, Owner} = py:call(pyt_inbox, open_inbox, [<<"where">>, <<"k2">>]),
    Self = self(),
    Pids = [spawn_link(fun() ->
                Ns = lists:seq(P * 1000, P * 1000 + 249),
                Self ! {self(), [where(<<"k2">>, N) || N <- Ns] =:= [{ok, {Owner, N}} || N <- Ns]}
            end) || P <- lists:seq(1, 8)],
    ?assertEqual([true || _ <- Pids], [receive {P, Same} -> Same end || P <- Pids]),
    ?assertEqual({ok, 2000}, py:call(pyt_inbox, close, [<<"k2">>])),
    ?assertEqual(none, py_buffer_test_helpers:next()).

%% Calls queued while the owner does not run them are answered by the pool when the inbox
%% closes (none lost, none twice).
closing_hands_queued_calls_to_the_pool() ->
    {ok, Owner} = py:call(pyt_inbox, open_inbox, [<<"where">>, <<"k3">>]),
    {ok, _} = py:call(pyt_inbox, hold, [<<"k3">>]),
    Self = self(),
    Pids = [spawn_link(fun() -> Self ! {self(), where(<<"k3">>, N)} end)
            || N <- lists:seq(1, 50)],
    ?assertEqual(ok, await(fun() -> py:call(pyt_inbox, pending, [<<"k3">>]) =:= {ok, 50} end,
                           10000)),
    ?assertEqual({ok, 0}, py:call(pyt_inbox, close, [<<"k3">>])),
    Results = [receive {P, R} -> R end || P <- Pids],
    ?assertEqual(lists:seq(1, 50), [N || {ok, {_, N}} <- Results]),
    ?assertEqual([], [T || {ok, {T, _}} <- Results, T =:= Owner]),
    ?assertEqual(none, py_buffer_test_helpers:next()).

a_second_claim_is_refused() ->
    {ok, _} = py:call(pyt_inbox, open_inbox, [<<"where">>, <<"k4">>]),
    ?assertMatch({error, {python_error, <<"ValueError">>, <<"the calls pyt_inbox.where(\"k4\", ...)",
                                                           _/binary>>, _}},
                 py:call(pyt_inbox, open_again, [<<"k4">>])),
    ?assertEqual({ok, 0}, py:call(pyt_inbox, close, [<<"k4">>])),
    %% Closed: the claim is free again.
    ?assertEqual({ok, true}, py:call(pyt_inbox, open_again, [<<"k4">>])).

%% A call that times out on the inbox's thread runs to its end: no TimeoutError is raised
%% into a thread the app owns (a pool worker gets one, see py_lifecycle_tests).
a_timed_out_call_is_not_interrupted_there() ->
    {ok, Owner} = py:call(pyt_inbox, open_inbox, [<<"sleep_where">>, <<"k5">>]),
    ?assertEqual({error, timeout},
                 py:call(any, pyt_inbox, sleep_where, [<<"k5">>, 0.3], #{timeout => 50})),
    ?assertEqual(ok, await(fun() ->
                               py:call(pyt_inbox, finished_sleeps, []) =:= {ok, [<<"finished">>]}
                           end, 10000)),
    %% The thread still serves, and the late reply never arrived.
    ?assertEqual({ok, Owner}, py:call(pyt_inbox, sleep_where, [<<"k5">>, 0])),
    ?assertEqual({ok, 2}, py:call(pyt_inbox, close, [<<"k5">>])),
    ?assertEqual(none, py_buffer_test_helpers:next()).

stop_answers_queued_calls_stopped() ->
    Code = "py_buffer_test_helpers:setup(), "
           "{ok, _} = py:call(pyt_inbox, open_inbox, [<<\"where\">>, <<\"s\">>]), "
           "{ok, _} = py:call(pyt_inbox, hold, [<<\"s\">>]), "
           "Self = self(), "
           "spawn(fun() -> Self ! {r, py:call(pyt_inbox, where, [<<\"s\">>, 1])} end), "
           "ok = py_buffer_test_helpers:await(fun() -> "
           "    py:call(pyt_inbox, pending, [<<\"s\">>]) =:= {ok, 1} end, 10000), "
           "ok = py:stop(), "
           "receive {r, R} -> io:format(\"answer: ~p~n\", [R]) after 10000 -> halt(3) end, "
           "init:stop().",
    {Status, Out} = run_vm(Code, []),
    ?assertEqual({0, match}, {Status, re:run(Out, "answer: {error,stopped}", [{capture, none}])}).

%% After its first request (which starts the app), an ASGI app's requests go to its event
%% loop through the loop's inbox: every one of them is counted there.
asgi_requests_reach_the_app_through_its_loop_inbox() ->
    App = {asgi, <<"pyt_serve_asgi:echo">>},
    Serve = fun(Body) ->
        #{status := 200, body := Got} =
            py_request_driver:run(App, #{method => <<"POST">>}, [Body],
                                  #{content_length => byte_size(Body)}),
        Got
    end,
    <<"first">> = Serve(<<"first">>),
    Served = fun() ->
        {ok, N} = py:eval(py:context(1),
                          <<"__import__('py_buffer.serve').serve._inboxes["
                            "__import__('py_buffer.serve').serve._asgi['pyt_serve_asgi:echo']]"
                            ".served">>),
        N
    end,
    Before = Served(),
    Bodies = [integer_to_binary(N) || N <- lists:seq(1, 40)],
    ?assertEqual(Bodies, [Serve(B) || B <- Bodies]),
    ?assertEqual(Before + 40, Served()).

%% 8 processes x 40 requests while another process stops and starts the app again and
%% again (its inbox closed and opened each time) until they are through: every request
%% ends, within the driver's 30 s, and every one answered 200 carries exactly its own body.
%% A request whose task a stop cancelled may fail (500 or `{failed, _}'); none may hang.
asgi_requests_racing_app_restarts_all_end() ->
    App = {asgi, <<"pyt_serve_asgi:echo">>},
    Self = self(),
    %% The restarter counts its restarts here; each client goes on past its 40 requests
    %% until two restarts happened while it ran, so the race is there however fast either is.
    Restarted = atomics:new(1, []),
    Restarter = spawn_link(fun() -> restart_until_told(App, Restarted, 0) end),
    Clients = [spawn_link(fun() ->
        Outcomes = client_requests(App, C, 1, Restarted, []),
        Self ! {self(), Outcomes}
    end) || C <- lists:seq(1, 8)],
    Outcomes = lists:append([receive {C, O} -> O end || C <- Clients]),
    Restarter ! {stop, self()},
    Restarts = receive {restarts, R} -> R end,
    ?assert(length(Outcomes) >= 320),
    ?assertEqual([], [O || O <- Outcomes, O =/= ok, O =/= failed]),
    %% The race happened: the app was restarted while the requests ran.
    ?assert(Restarts >= 2),
    ?assertEqual(ok, py_app:start(App)).

client_requests(App, C, N, Restarted, Acc) ->
    case N =< 40 orelse atomics:get(Restarted, 1) < 2 of
        true ->
            Body = <<"c", (integer_to_binary(C))/binary, "-", (integer_to_binary(N))/binary>>,
            R = py_request_driver:run(App, #{method => <<"POST">>}, [Body],
                                      #{content_length => byte_size(Body)}),
            Outcome = case R of
                          #{status := 200, body := Body, last := done} -> ok;
                          #{status := 200} -> {wrong_body, Body, R};
                          #{last := {failed, _}} -> failed;
                          #{status := 500, last := done} -> failed;
                          _ -> {unexpected, R}
                      end,
            client_requests(App, C, N + 1, Restarted, [Outcome | Acc]);
        false ->
            lists:reverse(Acc)
    end.

restart_until_told(App, Restarted, Count) ->
    receive
        {stop, From} -> From ! {restarts, Count}
    after 0 ->
        ok = py_app:stop(App),
        ok = py_app:start(App),
        ok = atomics:add(Restarted, 1, 1),
        restart_until_told(App, Restarted, Count + 1)
    end.
