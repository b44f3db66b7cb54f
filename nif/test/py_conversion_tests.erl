%% @doc EUnit tests of how module `py' converts terms between Erlang and Python: cycles and
%% shared parts, dicts of more than 128 keys (OTP 25 crashed building them off a scheduler), the result budget, buffers keeping their identity both ways (and not leaked),
%% containers mutated during conversion, ints beyond Erlang's range, charlist names and equal
%% number keys. The Python side is nif/test/python/pyt_conversions.py.
-module(py_conversion_tests).
-include_lib("eunit/include/eunit.hrl").

-import(py_buffer_test_helpers, [await/2]).

-define(CTX, py:context(1)).

conversion_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     [fun cycles_come_back_as_pyobj/0,
      fun buffer_from_python_is_the_same_term/0,
      fun buffer_kept_by_python_comes_back_as_the_same_term/0,
      fun buffer_made_in_python_round_trips_to_the_same_object/0,
      fun buffers_that_crossed_are_not_leaked/0,
      fun shared_parts_convert_exactly_within_the_budget/0,
      {timeout, 120, fun shared_parts_beyond_the_budget_are_result_too_large/0},
      fun containers_mutated_during_conversion_do_not_panic/0,
      fun send_of_a_mutated_container_does_not_panic/0,
      fun int_beyond_erlang_range_is_pyobj/0,
      fun charlist_names_become_strings/0,
      fun equal_number_keys_become_one_entry/0,
      {timeout, 60, fun dicts_beyond_128_keys_come_back_as_maps/0}]}.

cycles_come_back_as_pyobj() ->
    ?assertMatch({ok, [{pyobj, <<"list">>, _}, {pyobj, <<"list">>, _}]},
                 py:eval(?CTX, <<"(lambda a: (a.append(a), a.append(a), a)[2])([])">>)),
    ?assertMatch({ok, #{<<"self">> := {pyobj, <<"dict">>, _}}},
                 py:eval(?CTX, <<"(lambda d: (d.update(self=d), d)[1])({})">>)).

%% A buffer handed back from Python is the very term that went in.
buffer_from_python_is_the_same_term() ->
    {ok, B} = py_buffer:new(),
    {ok, B2} = py:eval(?CTX, <<"b">>, #{b => B}),
    ?assert(B2 =:= B),
    ?assertEqual(1, maps:get(B2, #{B => 1})),
    ok = py_buffer:subscribe(B),
    ok = py_buffer:write(B2, <<"x">>),
    ?assertEqual(readable, receive {py_buffer, B, What} -> What end),
    {ok, B3} = py:call(pyt_helpers, identity, [B]),
    ?assert(B3 =:= B).

buffer_kept_by_python_comes_back_as_the_same_term() ->
    {ok, B} = py_buffer:new(),
    ok = py:exec(?CTX, <<"kept_buffers = []">>),
    {ok, none} = py:eval(?CTX, <<"kept_buffers.append(b)">>, #{b => B}),
    %% Other calls (and their sweeps) run in between.
    [{ok, _} = py:call(math, sqrt, [N]) || N <- lists:seq(1, 10)],
    {ok, Back} = py:eval(?CTX, <<"kept_buffers[0]">>),
    ?assert(Back =:= B),
    ok = py:exec(?CTX, <<"kept_buffers.clear()">>).

buffer_made_in_python_round_trips_to_the_same_object() ->
    ok = py:exec(?CTX, <<"made = __import__('py_buffer').PyBuffer.from_bytes(b'made')">>),
    {ok, H} = py:eval(?CTX, <<"made">>),
    ?assert(is_reference(H)),
    {ok, H2} = py:eval(?CTX, <<"made">>),
    ?assert(H2 =:= H),
    ?assertEqual({ok, true}, py:eval(?CTX, <<"h is made">>, #{h => H})),
    ok = py:exec(?CTX, <<"del made">>),
    %% Erlang's term keeps the object alive.
    ?assertEqual({ok, <<"made">>}, py:eval(?CTX, <<"h.read()">>, #{h => H})),
    %% A resource of this library of another type is no buffer (the write fast path too).
    ?assertError(badarg, py_buffer:info(H)),
    ?assertError(badarg, py_buffer:write(H, <<"x">>)).

buffers_that_crossed_are_not_leaked() ->
    Live = py_buffer:live_buffers(),
    {Pid, Mon} = spawn_monitor(fun() ->
        {ok, B} = py_buffer:new(),
        {ok, B} = py:eval(?CTX, <<"b">>, #{b => B}),
        {ok, B} = py:call(pyt_helpers, identity, [B])
    end),
    receive {'DOWN', Mon, process, Pid, normal} -> ok end,
    ?assertEqual(ok, await(fun() -> py_buffer:live_buffers() =< Live end, 10000)).

shared_parts_convert_exactly_within_the_budget() ->
    Expected = lists:foldl(fun(_, X) -> [X, X] end, [], lists:seq(1, 10)),
    ?assertEqual({ok, Expected}, py:call(pyt_conversions, shared, [10])).

shared_parts_beyond_the_budget_are_result_too_large() ->
    ?assertEqual({error, result_too_large}, py:call(pyt_conversions, shared, [40])),
    ?assertMatch({error, {python_error, <<"ValueError">>, _, _}},
                 py:eval(?CTX, <<"__import__('erlang').send(p, __import__('pyt_conversions').shared(40))">>,
                         #{p => self()})),
    %% The worker is free again.
    ?assertEqual({ok, 2.0}, py:call(math, sqrt, [4])).

containers_mutated_during_conversion_do_not_panic() ->
    ?assertEqual({ok, #{<<"m">> => {pyobj, <<"Mutator">>, <<"Mutator">>}, <<"x">> => 1}},
                 py:call(pyt_conversions, mutating_dict, [])),
    ?assertEqual({ok, [{pyobj, <<"Mutator">>, <<"Mutator">>}]},
                 py:call(pyt_conversions, mutating_set, [])).

send_of_a_mutated_container_does_not_panic() ->
    ?assertEqual({ok, true},
                 py:eval(?CTX, <<"__import__('erlang').send(p, __import__('pyt_conversions').mutating_dict())">>,
                         #{p => self()})),
    ?assertEqual(#{<<"m">> => {pyobj, <<"Mutator">>, <<"Mutator">>}, <<"x">> => 1},
                 receive M -> M end).

int_beyond_erlang_range_is_pyobj() ->
    ?assertMatch({ok, {pyobj, <<"int">>, _}}, py:eval(?CTX, <<"1 << (1 << 26)">>)),
    ?assertEqual({ok, 1 bsl 1000}, py:eval(?CTX, <<"1 << 1000">>)).

charlist_names_become_strings() ->
    ?assertEqual({ok, {[], #{<<"flag">> => <<"bool">>}}},
                 py:call(any, pyt_helpers, kinds, [], #{kwargs => #{"flag" => true}})),
    ?assertEqual({ok, 4}, py:eval(?CTX, <<"x * 2">>, #{"x" => 2})).

equal_number_keys_become_one_entry() ->
    {ok, Map} = py:call(pyt_helpers, identity, [#{1 => a, 1.0 => b}]),
    ?assertEqual(1, map_size(Map)).

%% A map of more than 128 keys built on a `py' thread crashed OTP 25 (SIGSEGV in erts_qsort,
%% erlang/otp#8208): results, kwargs echoed back, messages from `erlang.send', a dict nested in
%% a list; two keys equal in Erlang still make the dict a pyobj.
dicts_beyond_128_keys_come_back_as_maps() ->
    [?assertEqual({ok, maps:from_list([{I, I * 2} || I <- lists:seq(0, N - 1)])},
                  py:eval(?CTX, <<"{i: i * 2 for i in range(n)}">>, #{n => N}))
     || N <- [128, 129, 130, 1000, 100000]],
    Kwargs = maps:from_list([{integer_to_binary(I), I} || I <- lists:seq(1, 200)]),
    ?assertEqual({ok, Kwargs}, py:call(any, builtins, dict, [], #{kwargs => Kwargs})),
    ?assertEqual({ok, true},
                 py:eval(?CTX, <<"__import__('erlang').send(p, [{i: str(i) for i in range(300)}])">>,
                         #{p => self()})),
    ?assertEqual([maps:from_list([{I, integer_to_binary(I)} || I <- lists:seq(0, 299)])],
                 receive M -> M end),
    ?assertMatch({ok, {pyobj, <<"dict">>, _}},
                 py:eval(?CTX, <<"{**{i: i for i in range(300)}, 'a': 1, b'a': 2}">>)).
