%% @doc EUnit tests of the arguments of the calls of module `py': bad options raise badarg before
%% anything is queued, contexts out of range and `any' for eval/exec are badarg, builtins.eval
%% works in a call, and large arguments are copied without stalling a scheduler.
-module(py_call_args_tests).
-include_lib("eunit/include/eunit.hrl").

-define(CTX, py:context(1)).

call_args_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     [fun bad_options_raise_badarg_before_queueing/0,
      fun context_out_of_range_is_badarg/0,
      fun eval_and_exec_refuse_any/0,
      fun builtins_eval_works_in_a_call/0,
      fun names_are_strings_of_characters/0,
      fun code_must_be_utf8/0,
      fun improper_lists_are_badarg/0,
      {timeout, 120, fun large_arguments_do_not_stall_a_scheduler/0}]}.

%% Found by prop_py_terms: the string "é" (one character, 233) was read as the byte 233, not
%% UTF-8, and raised badarg, while "α" (945) worked.
names_are_strings_of_characters() ->
    ok = py:exec(?CTX, <<"import builtins; builtins.été = lambda: 'summer'"/utf8>>),
    Summer = {ok, <<"summer">>},
    ?assertEqual(Summer, py:call(builtins, "été", [])),
    ?assertEqual(Summer, py:call(builtins, <<"été"/utf8>>, [])),
    ?assertEqual(Summer, py:call(builtins, [<<"é"/utf8>>, "t", [233]], [])),
    ?assertEqual(Summer, py:call("builtins", 'été', [])),
    ?assertEqual({ok, 1}, py:call([<<"built">>, "ins"], "len", [[a]])),
    ?assertEqual({ok, 1}, py:call(any, builtins, len, [[a]], #{kwargs => #{}})),
    ?assertError(badarg, py:call(builtins, <<233, "t", 233>>, [])),
    ?assertError(badarg, py:call(builtins, [foo], [])),
    ?assertError(badarg, py:call(builtins, [16#110000], [])),
    ?assertError(badarg, py:call(<<255>>, len, [[]])),
    ok = py:exec(?CTX, <<"del builtins.été"/utf8>>).

%% Code is UTF-8 iodata (not an atom); a list of characters above 255 is read as characters.
code_must_be_utf8() ->
    ?assertEqual({ok, <<"é"/utf8>>}, py:eval(?CTX, <<"'é'"/utf8>>)),
    ?assertEqual({ok, <<"é"/utf8>>}, py:eval(?CTX, binary_to_list(<<"'é'"/utf8>>))),
    ?assertEqual({ok, <<"α"/utf8>>}, py:eval(?CTX, [$', 945, $'])),
    ?assertError(badarg, py:eval(?CTX, <<"'", 233, "'">>)),
    ?assertError(badarg, py:eval(?CTX, "'é'")),
    ?assertError(badarg, py:exec(?CTX, <<255>>)),
    %% Found by prop_py_terms: an atom was run as the code of its name.
    ?assertError(badarg, py:exec(?CTX, ok)),
    ?assertError(badarg, py:eval(?CTX, true)),
    ?assertError(badarg, py:eval(?CTX, x, #{x => 1})).

%% Found by prop_py_terms: an improper list of characters panicked in the NIF (rustler's list
%% iterator), raising `nif_panicked' instead of `badarg'.
improper_lists_are_badarg() ->
    ?assertError(badarg, py:eval(?CTX, [945 | foo])),
    ?assertError(badarg, py:eval(?CTX, [945 | <<"x">>], #{})),
    ?assertError(badarg, py:exec(?CTX, [945, 946 | 947])),
    ?assertError(badarg, py:call(builtins, [945 | foo], [])),
    ?assertError(badarg, py_buffer:py_eval(make_ref(), 1, [945 | foo], #{})),
    ?assertError(badarg, py_buffer:py_call(make_ref(), 0, [945 | foo], len, [], #{})),
    ?assertEqual({ok, 2}, py:eval(?CTX, <<"1 + 1">>)).

bad_options_raise_badarg_before_queueing() ->
    ?assertError(badarg, py:call(any, math, sqrt, [4], #{timeout => -1})),
    ?assertError(badarg, py:call(any, math, sqrt, [4], #{timeout => foo})),
    ?assertError(badarg, py:call(any, math, sqrt, [4], #{timeout => 1 bsl 32})),
    ?assertError(badarg, py:call(any, math, sqrt, [4], #{bogus => 1})),
    ?assertError(badarg, py:call(any, math, sqrt, [4], #{kwargs => #{{a} => 1}})),
    ?assertError(badarg, py:call(any, math, sqrt, [4], #{kwargs => not_a_map})),
    ?assertEqual({ok, 2.0}, py:call(any, math, sqrt, [4], #{timeout => 5000})),
    receive {py_result, _, _} = Late -> ?assertEqual(no_late_message, Late) after 0 -> ok end.

context_out_of_range_is_badarg() ->
    ?assertError(badarg, py:context(1 bsl 64)),
    ?assertError(badarg, py:context(0)),
    ?assertError(badarg, py:context(foo)),
    ?assertError(badarg, py:call({py_context, 1 bsl 64}, math, sqrt, [4])),
    ?assertMatch({py_context, _}, py:context(16#FFFFFFFF)).

eval_and_exec_refuse_any() ->
    ?assertError(badarg, py:eval(any, <<"1">>)),
    ?assertError(badarg, py:eval(any, <<"1">>, #{})),
    ?assertError(badarg, py:exec(any, <<"x = 1">>)).

builtins_eval_works_in_a_call() ->
    ?assertEqual({ok, 2}, py:call(builtins, eval, [<<"1 + 1">>])),
    ?assertEqual({ok, 3}, py:call(builtins, eval, [<<"x + 1">>, #{x => 2}])).

%% Copying large arguments, names or code never holds a normal scheduler (long_schedule > 10
%% ms).
large_arguments_do_not_stall_a_scheduler() ->
    Self = self(),
    Caller = spawn_link(fun() ->
        List = lists:seq(1, 5000000),
        Map = maps:from_list([{K, K} || K <- lists:seq(1, 1000000)]),
        Tuple = list_to_tuple(lists:seq(1, 1000000)),
        %% Built before the watch: building a 16 MiB binary stalls this process itself.
        Big = binary:copy(<<"x">>, 16 bsl 20),
        BigName = <<"m", Big/binary>>,
        BigCode = <<"len('", Big/binary, "')">>,
        BigSource = [<<"big_source = '">>, Big, <<"'">>],
        Pieces = [<<"len('">>, lists:duplicate(1 bsl 16, <<"abcdefghijklmnop">>), <<"')">>],
        Chars = "len('" ++ lists:duplicate(2000000, 945) ++ "')",
        erlang:garbage_collect(),
        Self ! {ready, self()},
        receive go -> ok end,
        R1 = py:call(builtins, len, [List]),
        R2 = py:call(builtins, len, [Map]),
        R3 = py:eval(?CTX, <<"len(m)">>, #{m => Map}),
        R4 = py:call(builtins, len, [Tuple]),
        %% Names and code are read (UTF-8 checked, copied) on a dirty scheduler when large:
        %% a 16 MiB module name, a 16 MiB source as a binary, as an iolist of 1 MiB of
        %% small binaries and as a charlist of 2 M characters.
        R5 = py:call(BigName, f, []),
        R6 = py:eval(?CTX, BigCode),
        ok = py:exec(?CTX, BigSource),
        R7 = py:eval(?CTX, <<"len(big_source)">>),
        R8 = py:eval(?CTX, Pieces),
        R9 = py:eval(?CTX, Chars),
        ok = py:exec(?CTX, <<"del big_source">>),
        Self ! {done, self(), [R1, R2, R3, R4, element(1, R5), R6, R7, R8, R9]}
    end),
    receive {ready, Caller} -> ok end,
    Previous = erlang:system_monitor(self(), [{long_schedule, 10}]),
    Caller ! go,
    Results = receive {done, Caller, Rs} -> Rs end,
    restore_monitor(Previous),
    ?assertEqual([{ok, 5000000}, {ok, 1000000}, {ok, 1000000}, {ok, 1000000}, error,
                  {ok, 16 bsl 20}, {ok, 16 bsl 20}, {ok, 1 bsl 20}, {ok, 2000000}], Results),
    Stalls = flush_long_schedules(Caller),
    ?assertEqual([], Stalls).

restore_monitor(undefined) -> erlang:system_monitor(undefined);
restore_monitor({Pid, Opts}) -> erlang:system_monitor(Pid, Opts).

flush_long_schedules(Pid) ->
    receive
        {monitor, Pid, long_schedule, Info} -> [Info | flush_long_schedules(Pid)];
        {monitor, _, long_schedule, _} -> flush_long_schedules(Pid)
    after 0 -> []
    end.
