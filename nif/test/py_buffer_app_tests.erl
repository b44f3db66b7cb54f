%% @doc The OTP application `py_buffer': starting and stopping it, the supervised owner
%% watcher, and the hand-overs between an unsupervised watcher (no application) and the
%% supervised one, which must lose no owner.
-module(py_buffer_app_tests).
-include_lib("eunit/include/eunit.hrl").

app_test_() ->
    %% These tests stop the application again and again in the VM the other test modules
    %% use, so it must leave the interpreter running (the default finalizes it; tested in a
    %% VM of its own, `stop_finalizes_the_interpreter_test').
    {setup,
     fun() -> ok = keep_python_on_stop() end,
     fun(_) -> ok end,
     {inorder,
     [fun starts_and_stops/0,
      fun supervised_watcher_takes_over_the_lazy_one/0,
      fun restarted_watcher_keeps_watching/0,
      fun owner_dying_while_stopped_is_seen_later/0]}}.

keep_python_on_stop() ->
    case application:load(py_buffer) of
        ok -> ok;
        {error, {already_loaded, py_buffer}} -> ok
    end,
    application:set_env(py_buffer, finalize_on_stop, false).

%% The default: stopping the application finalizes the interpreter, so atexit handlers run
%% (in a VM of its own: Python cannot start again after it).
stop_finalizes_the_interpreter_test() ->
    File = filename:join(os:getenv("TMPDIR", "/tmp"),
                         "py_buffer_app_stop_" ++ os:getpid() ++ ".txt"),
    _ = file:delete(File),
    Ebin = filename:dirname(code:which(py_buffer)),
    Eval = lists:flatten(io_lib:format(
        "{ok, _} = application:ensure_all_started(py_buffer), "
        "ok = py:exec(py:context(1), <<\"import atexit; f = open('~s', 'w'); "
        "f.write('buffered'); atexit.register(lambda: print('atexit ran', flush=True))\">>), "
        "ok = application:stop(py_buffer), "
        "{error, stopped} = py:call(math, sqrt, [4]), "
        "halt(0).", [File])),
    Port = open_port({spawn_executable, os:find_executable("erl")},
                     [{args, ["-noshell", "-pa", Ebin, "-eval", Eval]},
                      exit_status, stderr_to_stdout, binary]),
    {Status, Output} = collect(Port, <<>>),
    ?assertEqual({0, true}, {Status, binary:match(Output, <<"atexit ran">>) =/= nomatch}),
    ?assertEqual({ok, <<"buffered">>}, file:read_file(File)),
    ok = file:delete(File).

collect(Port, Acc) ->
    receive
        {Port, {data, Data}} -> collect(Port, <<Acc/binary, Data/binary>>);
        {Port, {exit_status, Status}} -> {Status, Acc}
    after 60000 -> {timeout, Acc}
    end.

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
