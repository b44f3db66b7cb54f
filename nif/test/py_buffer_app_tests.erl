%% @doc The OTP application `py_buffer': starting and stopping it, the supervised owner
%% watcher, and the hand-overs between an unsupervised watcher (no application) and the
%% supervised one, which must lose no owner.
-module(py_buffer_app_tests).
-include_lib("eunit/include/eunit.hrl").

app_test_() ->
    {inorder,
     [fun starts_and_stops/0,
      fun supervised_watcher_takes_over_the_lazy_one/0,
      fun restarted_watcher_keeps_watching/0,
      fun owner_dying_while_stopped_is_seen_later/0]}.

%% The acceptance sequence: start, a Python call, stop; nothing of the application remains.
starts_and_stops() ->
    ?assertMatch({ok, _}, application:ensure_all_started(py_buffer)),
    Sup = whereis(py_buffer_sup),
    ?assert(is_pid(Sup)),
    ?assertMatch([{py_buffer_owners, Pid, worker, _}] when is_pid(Pid),
                 supervisor:which_children(py_buffer_sup)),
    ?assertEqual({ok, 4.0}, py:call(math, sqrt, [16])),
    ?assertEqual(ok, application:stop(py_buffer)),
    ?assertEqual(undefined, whereis(py_buffer_sup)),
    ?assertEqual(undefined, whereis(py_buffer_owners)),
    %% Without the application the modules still work, the watcher starting on demand.
    {ok, B} = py_buffer:new(),
    ?assertEqual(ok, py_buffer:write(B, <<"x">>)),
    ?assert(py_buffer_owners:watched() >= 1),
    ?assert(is_pid(whereis(py_buffer_owners))).

supervised_watcher_takes_over_the_lazy_one() ->
    {Owner, B} = owner(),
    Lazy = whereis(py_buffer_owners),
    ?assert(is_pid(Lazy)),
    {ok, _} = application:ensure_all_started(py_buffer),
    [{py_buffer_owners, Supervised, worker, _}] = supervisor:which_children(py_buffer_sup),
    ?assertNotEqual(Lazy, Supervised),
    ?assertEqual(Supervised, whereis(py_buffer_owners)),
    ?assertNot(is_process_alive(Lazy)),
    abort_seen(Owner, B, {owner_down, bye}),
    ok = application:stop(py_buffer).

restarted_watcher_keeps_watching() ->
    {ok, _} = application:ensure_all_started(py_buffer),
    {Owner, B} = owner(),
    Old = whereis(py_buffer_owners),
    Ref = monitor(process, Old),
    exit(Old, kill),
    receive {'DOWN', Ref, process, Old, killed} -> ok end,
    New = await_restart(Old),
    ?assertNotEqual(Old, New),
    abort_seen(Owner, B, {owner_down, bye}),
    ok = application:stop(py_buffer).

owner_dying_while_stopped_is_seen_later() ->
    {ok, _} = application:ensure_all_started(py_buffer),
    {Owner, B} = owner(),
    ok = application:stop(py_buffer),
    Ref = monitor(process, Owner),
    Owner ! bye,
    receive {'DOWN', Ref, process, Owner, _} -> ok end,
    ?assertMatch(#{aborted := false}, py_buffer:info(B)),
    %% The next watcher (started on demand here) monitors the dead owner: `noproc'.
    ok = py_buffer_owners:sync(Owner),
    ?assertMatch(#{aborted := {owner_down, noproc}}, py_buffer:info(B)).

%% A process owning an open buffer; it exits with reason `bye' when sent `bye'.
owner() ->
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, B} = py_buffer:new(),
                          Self ! {buffer, B},
                          receive bye -> exit(bye) end
                  end),
    receive {buffer, B} -> {Owner, B} end.

abort_seen(Owner, B, Reason) ->
    Ref = monitor(process, Owner),
    Owner ! bye,
    receive {'DOWN', Ref, process, Owner, bye} -> ok end,
    ok = py_buffer_owners:sync(Owner),
    ?assertMatch(#{aborted := Reason}, py_buffer:info(B)).

await_restart(Old) ->
    case whereis(py_buffer_owners) of
        Pid when is_pid(Pid), Pid =/= Old -> Pid;
        _ -> timer:sleep(1), await_restart(Old)
    end.
