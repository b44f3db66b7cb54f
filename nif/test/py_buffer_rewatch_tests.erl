%% Owner monitoring survives the watcher: when `py_buffer_owners' dies and is started again,
%% it monitors every owner of an open buffer again, so a later owner
%% death still aborts the buffer, the subscriber gets `eof' and a blocked reader wakes.
-module(py_buffer_rewatch_tests).

-include_lib("eunit/include/eunit.hrl").

%% The next message tagged `Pattern' (`demand' skipped, see the helper).
wait(Pattern) ->
    py_buffer_test_helpers:wait_event(Pattern, 3000).

%% Waits for exactly `Message'.
expect(Message) ->
    receive Message -> Message
    after 3000 -> erlang:error({no_message, Message})
    end.

%% Kills the watcher and waits until it is running again (restarted by its supervisor when
%% there is one; else started here, as the next `py_buffer_owners' call would).
restart_watcher() ->
    Old = whereis(py_buffer_owners),
    Ref = monitor(process, Old),
    exit(Old, kill),
    receive {'DOWN', Ref, process, Old, killed} -> ok end,
    New = py_buffer_owners:start(),
    ?assertNotEqual(Old, New),
    New.

owner_death_after_watcher_restart_aborts_test() ->
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, B} = py_buffer:new(#{notify => Self}),
                          ok = py_buffer:write(B, <<"body">>),
                          Self ! {buf, B},
                          receive
                              second ->
                                  %% A later buffer of an owner the registry marks watched.
                                  {ok, B2} = py_buffer:new(#{notify => Self}),
                                  Self ! {buf, B2},
                                  receive {exit, R} -> exit(R) end
                          end
                  end),
    {buf, B} = wait(buf),
    ?assertEqual({py_buffer, B, readable}, wait(py_buffer)),
    ok = py_buffer:test_on_thread(B, {wait_read, 1000}),
    restart_watcher(),
    Owner ! second,
    {buf, B2} = wait(buf),
    Watched = py_buffer_owners:watched(),
    Owner ! {exit, {shutdown, gone}},
    expect({py_buffer, B, eof}),
    expect({py_buffer, B2, eof}),
    ?assertEqual({py_buffer_test, {error, {aborted, {owner_down, {shutdown, gone}}}}},
                 wait(py_buffer_test)),
    ?assertMatch(#{aborted := {owner_down, {shutdown, gone}}}, py_buffer:info(B)),
    ?assertMatch(#{aborted := {owner_down, {shutdown, gone}}}, py_buffer:info(B2)),
    ?assertEqual({ok, <<"body">>}, py_buffer:read(B, 100)),
    %% The restarted watcher had monitored the owner: its 'DOWN' ended that watch.
    ?assertEqual(Watched - 1, py_buffer_owners:watched()).

%% An owner that died while no watcher ran is seen by the restarted one (`noproc').
owner_death_while_watcher_down_is_seen_test() ->
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, B} = py_buffer:new(#{notify => Self}),
                          Self ! {buf, B},
                          receive {exit, R} -> exit(R) end
                  end),
    {buf, B} = wait(buf),
    Old = whereis(py_buffer_owners),
    Ref = monitor(process, Old),
    exit(Old, kill),
    receive {'DOWN', Ref, process, Old, killed} -> ok end,
    ORef = monitor(process, Owner),
    Owner ! {exit, bye},
    receive {'DOWN', ORef, process, Owner, bye} -> ok end,
    _ = py_buffer_owners:start(),
    expect({py_buffer, B, eof}),
    ?assertMatch(#{aborted := {owner_down, noproc}}, py_buffer:info(B)).
