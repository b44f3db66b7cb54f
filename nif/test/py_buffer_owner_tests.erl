%% Owner monitoring: a body whose owner dies before close is aborted with
%% `{owner_down, Reason}'; the subscriber is told; blocked readers wake; writes are refused.
-module(py_buffer_owner_tests).

-include_lib("eunit/include/eunit.hrl").
-import(py_buffer_test_helpers, [flush/0]).

%% The next message tagged `Pattern' (`demand' skipped, see the helper).
wait(Pattern) ->
    py_buffer_test_helpers:wait_event(Pattern, 10000).

%% An owner process: creates a buffer (subscribing the test process), writes, hands it over
%% and waits to be told how to end.
start_owner(Opts) ->
    Self = self(),
    Pid = spawn(fun() ->
                        {ok, B} = py_buffer:new(Opts#{notify => Self}),
                        ok = py_buffer:write(B, <<"partial body">>),
                        Self ! {buf, self(), B},
                        receive
                            {exit, Reason} -> exit(Reason);
                            close -> ok = py_buffer:close(B), Self ! closed,
                                     receive {exit, R} -> exit(R) end
                        end
                end),
    receive {buf, Pid, B} -> {Pid, B} after 10000 -> erlang:error(no_buffer) end.

killed_owner_aborts_the_body_test() ->
    {Owner, B} = start_owner(#{}),
    ?assertEqual({py_buffer, B, readable}, wait(py_buffer)),
    %% A Python-like reader blocked on a non-Erlang thread, waiting for more bytes.
    ok = py_buffer:test_on_thread(B, {wait_read, 1000}),
    Ref = monitor(process, Owner),
    exit(Owner, kill),
    receive {'DOWN', Ref, process, Owner, killed} -> ok end,
    ?assertEqual({py_buffer, B, eof}, wait(py_buffer)),
    ?assertEqual({py_buffer_test, {error, {aborted, {owner_down, killed}}}},
                 wait(py_buffer_test)),
    ?assertEqual({error, {aborted, {owner_down, killed}}}, py_buffer:write(B, <<"late">>)),
    ?assertEqual({error, {aborted, {owner_down, killed}}}, py_buffer:close(B)),
    ?assertMatch(#{aborted := {owner_down, killed}, closed := false}, py_buffer:info(B)),
    ?assertEqual({ok, <<"partial body">>}, py_buffer:read(B, 100)),
    ?assertEqual({error, {aborted, {owner_down, killed}}}, py_buffer:read(B, 100)).

owner_exit_reason_is_kept_test() ->
    {Owner, B} = start_owner(#{}),
    Owner ! {exit, {shutdown, client_gone}},
    ?assertEqual({py_buffer, B, readable}, wait(py_buffer)),
    ?assertEqual({py_buffer, B, eof}, wait(py_buffer)),
    ?assertEqual({error, {aborted, {owner_down, {shutdown, client_gone}}}},
                 py_buffer:write(B, <<"x">>)).

normal_exit_before_close_aborts_test() ->
    {Owner, B} = start_owner(#{}),
    Owner ! {exit, normal},
    ?assertEqual({py_buffer, B, readable}, wait(py_buffer)),
    ?assertEqual({py_buffer, B, eof}, wait(py_buffer)),
    ?assertMatch(#{aborted := {owner_down, normal}}, py_buffer:info(B)).

exit_after_close_changes_nothing_test() ->
    {Owner, B} = start_owner(#{}),
    Owner ! close,
    closed = wait(closed),
    Ref = monitor(process, Owner),
    Owner ! {exit, kill_me},
    receive {'DOWN', Ref, process, Owner, kill_me} -> ok end,
    ok = py_buffer_owners:sync(Owner),
    ?assertMatch(#{closed := true, aborted := false}, py_buffer:info(B)),
    ?assertEqual({ok, <<"partial body">>}, py_buffer:read_all(B)),
    flush().

owner_option_names_another_process_test() ->
    Owner = spawn(fun() -> receive {exit, R} -> exit(R) end end),
    {ok, B} = py_buffer:new(#{owner => Owner, notify => self()}),
    ?assertMatch(#{owner := Owner}, py_buffer:info(B)),
    Owner ! {exit, bye},
    ?assertEqual({py_buffer, B, eof}, wait(py_buffer)),
    ?assertMatch(#{aborted := {owner_down, bye}}, py_buffer:info(B)).

dead_owner_at_creation_aborts_with_noproc_test() ->
    Dead = spawn(fun() -> ok end),
    Ref = monitor(process, Dead),
    receive {'DOWN', Ref, process, Dead, _} -> ok end,
    {ok, B} = py_buffer:new(#{owner => Dead, notify => self()}),
    ?assertEqual({py_buffer, B, eof}, wait(py_buffer)),
    ?assertMatch(#{aborted := {owner_down, noproc}}, py_buffer:info(B)).

controlling_process_hands_over_test() ->
    {Owner, B} = start_owner(#{}),
    ?assertEqual({py_buffer, B, readable}, wait(py_buffer)),
    NewOwner = spawn(fun() -> receive {exit, R} -> exit(R) end end),
    %% Only the owner may hand over; the owner does it here.
    ?assertEqual({error, not_owner}, py_buffer:controlling_process(B, NewOwner)),
    Owner ! {exit, normal},
    ?assertEqual({py_buffer, B, eof}, wait(py_buffer)),
    %% Again with a handover made by the owner before it exits.
    {ok, B2} = py_buffer:new(#{notify => self()}),
    ?assertEqual(ok, py_buffer:controlling_process(B2, NewOwner)),
    ?assertEqual({error, not_owner}, py_buffer:controlling_process(B2, self())),
    ?assertMatch(#{aborted := false, owner := NewOwner}, py_buffer:info(B2)),
    NewOwner ! {exit, handed},
    ?assertEqual({py_buffer, B2, eof}, wait(py_buffer)),
    ?assertMatch(#{aborted := {owner_down, handed}}, py_buffer:info(B2)).

old_owner_exit_after_handover_changes_nothing_test() ->
    Self = self(),
    Old = spawn(fun() ->
                        {ok, B} = py_buffer:new(),
                        ok = py_buffer:controlling_process(B, Self),
                        Self ! {buf, B}
                end),
    B = receive {buf, Buf} -> Buf after 10000 -> erlang:error(no_buffer) end,
    Ref = monitor(process, Old),
    receive {'DOWN', Ref, process, Old, _} -> ok end,
    ok = py_buffer_owners:sync(Old),
    ?assertMatch(#{aborted := false, owner := Self}, py_buffer:info(B)),
    ?assertEqual(ok, py_buffer:write(B, <<"x">>)).

every_buffer_of_a_dead_owner_is_aborted_and_the_watch_ends_test() ->
    Watched = py_buffer_owners:watched(),
    Self = self(),
    Owner = spawn(fun() ->
                          Bufs = [begin {ok, B} = py_buffer:new(), B end
                                  || _ <- lists:seq(1, 50)],
                          Self ! {bufs, Bufs},
                          receive {exit, R} -> exit(R) end
                  end),
    Bufs = receive {bufs, Bs} -> Bs after 10000 -> erlang:error(no_buffers) end,
    ?assertEqual(Watched + 1, py_buffer_owners:watched()),
    Ref = monitor(process, Owner),
    Owner ! {exit, done},
    receive {'DOWN', Ref, process, Owner, done} -> ok end,
    ok = py_buffer_owners:sync(Owner),
    ?assertEqual(Watched, py_buffer_owners:watched()),
    [?assertMatch(#{aborted := {owner_down, done}}, py_buffer:info(B)) || B <- Bufs].

%% A dead owner's buffer that nobody else holds is freed once the watcher aborted it: the
%% `eof' sent to its subscriber does not keep it alive on the watcher's heap.
aborted_buffer_nobody_holds_is_freed_test() ->
    Before = py_buffer:live_buffers(),
    Self = self(),
    Subscriber = spawn(fun Loop() ->
                               receive {py_buffer, _, eof} -> ok;
                                       {py_buffer, _, _} -> Loop()
                               end
                       end),
    Owner = spawn(fun() ->
                          {ok, B} = py_buffer:new(#{notify => Subscriber}),
                          ok = py_buffer:write(B, binary:copy(<<"u">>, 1 bsl 20)),
                          Self ! written,
                          receive after infinity -> ok end
                  end),
    receive written -> ok after 10000 -> erlang:error(not_written) end,
    SubRef = monitor(process, Subscriber),
    exit(Owner, kill),
    receive {'DOWN', SubRef, process, Subscriber, normal} -> ok end,  % it had the eof
    ok = py_buffer_owners:sync(Owner),
    ?assertEqual(ok, py_buffer_test_helpers:await(
                       fun() -> py_buffer:live_buffers() =< Before end, 5000)).
