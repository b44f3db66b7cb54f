%% @doc Regression tests of module `py' for the defects of issue 15 (items 11, 14, 16, 18-23),
%% named by the behaviour they pin down. The Python side is nif/test/python/pyt_defects.py.
-module(py_defects_tests).
-include_lib("eunit/include/eunit.hrl").

-define(CTX, py:context(1)).

defects_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     [fun cycles_come_back_as_pyobj/0,
      fun buffer_from_python_is_the_same_term/0,
      fun buffer_kept_by_python_comes_back_as_the_same_term/0,
      fun buffer_made_in_python_round_trips_to_the_same_object/0,
      fun buffers_that_crossed_are_not_leaked/0,
      fun shared_parts_convert_exactly_within_the_budget/0,
      {timeout, 120, fun shared_parts_beyond_the_budget_are_result_too_large/0},
      {timeout, 120, fun large_arguments_do_not_stall_a_scheduler/0},
      {timeout, 60, fun released_buffer_frees_its_memory_without_another_call/0},
      {timeout, 30, fun concurrent_first_calls_wait_for_the_import/0},
      fun subprocess_exit_status_reaches_python/0,
      fun port_programs_keep_their_exit_status/0,
      fun containers_mutated_during_conversion_do_not_panic/0,
      fun send_of_a_mutated_container_does_not_panic/0,
      fun int_beyond_erlang_range_is_pyobj/0,
      {timeout, 60, fun stop_runs_atexit_and_flushes_files/0},
      {timeout, 60, fun halt_without_stop_skips_atexit/0},
      {timeout, 30, fun timed_out_code_is_interrupted/0},
      {timeout, 60, fun stuck_workers_are_counted_and_the_pool_answers_overloaded/0},
      fun bad_options_raise_badarg_before_queueing/0,
      fun context_out_of_range_is_badarg/0,
      fun eval_and_exec_refuse_any/0,
      fun charlist_names_become_strings/0,
      fun equal_number_keys_become_one_entry/0,
      fun builtins_eval_works_in_a_call/0]}.

%% Item 11.
cycles_come_back_as_pyobj() ->
    ?assertMatch({ok, [{pyobj, <<"list">>, _}, {pyobj, <<"list">>, _}]},
                 py:eval(?CTX, <<"(lambda a: (a.append(a), a.append(a), a)[2])([])">>)),
    ?assertMatch({ok, #{<<"self">> := {pyobj, <<"dict">>, _}}},
                 py:eval(?CTX, <<"(lambda d: (d.update(self=d), d)[1])({})">>)).

shared_parts_convert_exactly_within_the_budget() ->
    Expected = lists:foldl(fun(_, X) -> [X, X] end, [], lists:seq(1, 10)),
    ?assertEqual({ok, Expected}, py:call(pyt_defects, shared, [10])).

shared_parts_beyond_the_budget_are_result_too_large() ->
    ?assertEqual({error, result_too_large}, py:call(pyt_defects, shared, [40])),
    ?assertMatch({error, {python_error, <<"ValueError">>, _, _}},
                 py:eval(?CTX, <<"__import__('erlang').send(p, __import__('pyt_defects').shared(40))">>,
                         #{p => self()})),
    %% The worker is free again.
    ?assertEqual({ok, 2.0}, py:call(math, sqrt, [4])).

%% Item 12: a buffer handed back from Python is the very term that went in.
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
    ?assertError(badarg, py_buffer:info(H)).

buffers_that_crossed_are_not_leaked() ->
    Live = py_buffer:live_buffers(),
    {Pid, Mon} = spawn_monitor(fun() ->
        {ok, B} = py_buffer:new(),
        {ok, B} = py:eval(?CTX, <<"b">>, #{b => B}),
        {ok, B} = py:call(pyt_helpers, identity, [B])
    end),
    receive {'DOWN', Mon, process, Pid, normal} -> ok end,
    ?assertEqual(ok, await(fun() -> py_buffer:live_buffers() =:= Live end, 10000)).

%% Item 14: copying large arguments never holds a normal scheduler (long_schedule > 10 ms).
large_arguments_do_not_stall_a_scheduler() ->
    Self = self(),
    Caller = spawn_link(fun() ->
        List = lists:seq(1, 5000000),
        Map = maps:from_list([{K, K} || K <- lists:seq(1, 1000000)]),
        Tuple = list_to_tuple(lists:seq(1, 1000000)),
        erlang:garbage_collect(),
        Self ! {ready, self()},
        receive go -> ok end,
        R1 = py:call(builtins, len, [List]),
        R2 = py:call(builtins, len, [Map]),
        R3 = py:eval(?CTX, <<"len(m)">>, #{m => Map}),
        R4 = py:call(builtins, len, [Tuple]),
        Self ! {done, self(), [R1, R2, R3, R4]}
    end),
    receive {ready, Caller} -> ok end,
    Previous = erlang:system_monitor(self(), [{long_schedule, 10}]),
    Caller ! go,
    Results = receive {done, Caller, Rs} -> Rs end,
    restore_monitor(Previous),
    ?assertEqual([{ok, 5000000}, {ok, 1000000}, {ok, 1000000}, {ok, 1000000}], Results),
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

%% Item 16: a buffer that crossed into Python frees its bytes when Erlang drops it, with no
%% later Python call.
released_buffer_frees_its_memory_without_another_call() ->
    Before = erlang:memory(binary),
    Self = self(),
    {Pid, Mon} = spawn_monitor(fun() ->
        {ok, B} = py_buffer:new(),
        [ok = py_buffer:write(B, binary:copy(<<N>>, 1 bsl 20)) || N <- lists:seq(1, 64)],
        {ok, true} = py:eval(?CTX, <<"b is not None">>, #{b => B}),
        Self ! {held, erlang:memory(binary)}
    end),
    Held = receive {held, H} -> H end,
    receive {'DOWN', Mon, process, Pid, normal} -> ok end,
    ?assert(Held - Before >= 64 bsl 20),
    ?assertEqual(ok, await(fun() -> erlang:memory(binary) - Before < 16 bsl 20 end, 10000)).

%% Polls `Cond' until it holds (ok) or `Ms' pass (timeout).
await(Cond, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    await_until(Cond, Deadline).

await_until(Cond, Deadline) ->
    case Cond() of
        true -> ok;
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> timeout;
                false -> receive after 5 -> await_until(Cond, Deadline) end
            end
    end.

%% Item 18.
concurrent_first_calls_wait_for_the_import() ->
    Self = self(),
    Call = fun() -> Self ! {slow, self(), py:call(pyt_slowmod, f, [])} end,
    First = spawn_link(Call),
    %% The second call starts while the first is inside the module's body.
    ok = await(fun() ->
                       {ok, In} = py:eval(?CTX, <<"'pyt_slowmod' in __import__('sys').modules">>),
                       In
               end, 10000),
    Second = spawn_link(Call),
    ?assertEqual({ok, <<"done">>}, receive {slow, Second, R2} -> R2 end),
    ?assertEqual({ok, <<"done">>}, receive {slow, First, R1} -> R1 end).

%% Item 19.
subprocess_exit_status_reaches_python() ->
    ?assertEqual({ok, 3}, py:eval(?CTX, <<"__import__('subprocess').run(['sh', '-c', 'exit 3']).returncode">>)),
    ?assertEqual({ok, 1}, py:eval(?CTX, <<"__import__('subprocess').run(['false']).returncode">>)),
    ?assertEqual({ok, 5}, py:eval(?CTX, <<"__import__('os').waitstatus_to_exitcode(__import__('os').system('exit 5'))">>)).

port_programs_keep_their_exit_status() ->
    {ok, _} = py:eval(?CTX, <<"__import__('subprocess').run(['true']).returncode">>),
    ?assertEqual("hi\n", os:cmd("echo hi")),
    Port = open_port({spawn, "sh -c 'exit 7'"}, [exit_status]),
    ?assertEqual(7, receive {Port, {exit_status, S}} -> S end).

%% Item 20.
containers_mutated_during_conversion_do_not_panic() ->
    ?assertEqual({ok, #{<<"m">> => {pyobj, <<"Mutator">>, <<"Mutator">>}, <<"x">> => 1}},
                 py:call(pyt_defects, mutating_dict, [])),
    ?assertEqual({ok, [{pyobj, <<"Mutator">>, <<"Mutator">>}]},
                 py:call(pyt_defects, mutating_set, [])).

send_of_a_mutated_container_does_not_panic() ->
    ?assertEqual({ok, true},
                 py:eval(?CTX, <<"__import__('erlang').send(p, __import__('pyt_defects').mutating_dict())">>,
                         #{p => self()})),
    ?assertEqual(#{<<"m">> => {pyobj, <<"Mutator">>, <<"Mutator">>}, <<"x">> => 1},
                 receive M -> M end).

int_beyond_erlang_range_is_pyobj() ->
    ?assertMatch({ok, {pyobj, <<"int">>, _}}, py:eval(?CTX, <<"1 << (1 << 26)">>)),
    ?assertEqual({ok, 1 bsl 1000}, py:eval(?CTX, <<"1 << 1000">>)).

%% Item 21: py:stop/0 finalizes (atexit runs, buffered files are flushed); halt() alone does not.
stop_runs_atexit_and_flushes_files() ->
    Dir = scratch_dir("stop"),
    Code = "ok = py:exec(py:context(1), <<\"import atexit\\n"
           "f = open('" ++ Dir ++ "/buffered', 'w')\\n"
           "f.write('buffered')\\n"
           "atexit.register(lambda: open('" ++ Dir ++ "/atexit', 'w').write('atexit'))\">>), "
           "ok = py:stop(), {error, stopped} = py:call(math, sqrt, [4]), "
           "ok = py:stop(), init:stop().",
    ?assertMatch({0, _}, run_vm(Code, [])),
    ?assertEqual({ok, <<"atexit">>}, file:read_file(Dir ++ "/atexit")),
    ?assertEqual({ok, <<"buffered">>}, file:read_file(Dir ++ "/buffered")).

halt_without_stop_skips_atexit() ->
    Dir = scratch_dir("halt"),
    Code = "ok = py:exec(py:context(1), <<\"import atexit\\n"
           "atexit.register(lambda: open('" ++ Dir ++ "/atexit', 'w').write('atexit'))\">>), "
           "halt().",
    ?assertMatch({0, _}, run_vm(Code, [])),
    ?assertEqual({error, enoent}, file:read_file(Dir ++ "/atexit")).

scratch_dir(Name) ->
    Dir = filename:join(tmp_dir(), "py_defects_" ++ Name ++ "_" ++ os:getpid()),
    _ = file:del_dir_r(Dir),
    ok = filelib:ensure_path(Dir),
    Dir.

tmp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        Dir -> Dir
    end.

%% Runs `Code' in a fresh VM with the environment `Env'; {ExitStatus, Output}.
run_vm(Code, Env) ->
    Erl = os:find_executable("erl"),
    Args = ["-noshell", "-pa", filename:dirname(code:which(py)),
            "-pa", filename:dirname(code:which(?MODULE)), "-eval", Code],
    Port = open_port({spawn_executable, Erl},
                     [{args, Args}, {env, Env}, exit_status, stderr_to_stdout, binary]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [Acc, D]);
        {Port, {exit_status, S}} -> {S, iolist_to_binary(Acc)}
    end.

%% Item 22.
timed_out_code_is_interrupted() ->
    ?assertEqual({error, timeout}, py:call(any, pyt_defects, spin, [], #{timeout => 100})),
    ?assertEqual(ok, await(fun() -> py:call(pyt_defects, was_interrupted, []) =:= {ok, true} end, 10000)),
    ?assertEqual(ok, await(fun() -> maps:get(stuck, py:info()) =:= 0 end, 10000)).

stuck_workers_are_counted_and_the_pool_answers_overloaded() ->
    Code = "{error, timeout} = py:call(any, time, sleep, [30], #{timeout => 50}), "
           "{error, timeout} = py:call(any, time, sleep, [30], #{timeout => 50}), "
           "#{stuck := 2} = py:info(), "
           "{error, overloaded} = py:call(math, sqrt, [4]), "
           "{ok, 2.0} = py:call(py:context(1), math, sqrt, [4]), "
           "{error, timeout} = py:call(py:context(2), time, sleep, [30], #{timeout => 50}), "
           "#{stuck := 3} = py:info(), "
           "{error, overloaded} = py:call(py:context(2), math, sqrt, [4]), "
           "{ok, 2.0} = py:call(py:context(1), math, sqrt, [4]), "
           "io:format(\"fine\"), halt().",
    ?assertMatch({0, <<"fine">>},
                 run_vm(Code, [{"PY_BUFFER_MAX_WORKERS", "2"}, {"PY_BUFFER_CONTEXTS", "2"}])).

%% Item 23.
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

charlist_names_become_strings() ->
    ?assertEqual({ok, {[], #{<<"flag">> => <<"bool">>}}},
                 py:call(any, pyt_helpers, kinds, [], #{kwargs => #{"flag" => true}})),
    ?assertEqual({ok, 4}, py:eval(?CTX, <<"x * 2">>, #{"x" => 2})).

equal_number_keys_become_one_entry() ->
    {ok, Map} = py:call(pyt_helpers, identity, [#{1 => a, 1.0 => b}]),
    ?assertEqual(1, map_size(Map)).

builtins_eval_works_in_a_call() ->
    ?assertEqual({ok, 2}, py:call(builtins, eval, [<<"1 + 1">>])),
    ?assertEqual({ok, 3}, py:call(builtins, eval, [<<"x + 1">>, #{x => 2}])).
