%% Abort reasons are stored once and bounded: a huge `abort/2' reason or
%% owner exit reason neither stalls a scheduler when the body is aborted nor on every later
%% `info/1', `read/2', `write/2'; Erlang gets the reason cut like `~P' (at most 4096 nodes,
%% the rest `...'), Python a printed form of at most 4 KiB.
-module(py_buffer_abort_reason_tests).

-include_lib("eunit/include/eunit.hrl").

%% A long_schedule report over this many ms about the process making the calls fails the
%% test.
-define(LONG_MS, 50).
%% The bound on the kept term (nodes), see nif/native/buffer/stored_reason.rs.
-define(KEPT_NODES, 4096).

small_reasons_are_kept_exactly_test() ->
    Reason = {http, [1, 2, 3 | tail], <<"why">>, #{k => 1.5}, self(), make_ref(), {}, [],
              <<5:3>>, 1 bsl 100, binary:copy(<<"z">>, 100000), fun lists:reverse/1},
    {ok, B} = py_buffer:new(),
    ok = py_buffer:abort(B, Reason),
    ?assertEqual({error, {aborted, Reason}}, py_buffer:read(B, 1)),
    ?assertEqual({error, {aborted, Reason}}, py_buffer:write(B, <<"x">>)),
    ?assertMatch(#{aborted := Reason}, py_buffer:info(B)).

large_reason_is_cut_and_never_stalls_test_() ->
    {timeout, 60, fun large_reason_is_cut_and_never_stalls/0}.

large_reason_is_cut_and_never_stalls() ->
    Big = lists:seq(1, 3000000),
    Tuple = list_to_tuple(lists:seq(1, 100000)),
    true = erlang:garbage_collect(),
    {ok, B} = py_buffer:new(),
    %% The test process does nothing but these calls meanwhile.
    Reports = long_schedules(
                [self()],
                fun() ->
                        ok = py_buffer:abort(B, {big, Big, Tuple}),
                        [begin
                             _ = py_buffer:info(B),
                             _ = py_buffer:read(B, 1),
                             _ = py_buffer:write(B, <<"x">>)
                         end || _ <- lists:seq(1, 3)],
                        ok
                end),
    ?assertEqual([], Reports),
    {error, {aborted, {big, List, Cut}}} = py_buffer:read(B, 1),
    {Kept, Tail} = split_improper(List),
    ?assertEqual('...', Tail),
    ?assert(lists:prefix(Kept, Big)),
    ?assert(length(Kept) < ?KEPT_NODES),
    %% The list spent the budget: the tuple is cut whole.
    ?assertEqual('...', Cut),
    ?assertMatch(#{aborted := {big, List, Cut}}, py_buffer:info(B)).

deep_and_wide_reasons_are_cut_test() ->
    Deep = lists:foldl(fun(_, Acc) -> [Acc] end, leaf, lists:seq(1, 1000)),
    {ok, B} = py_buffer:new(),
    ok = py_buffer:abort(B, Deep),
    {error, {aborted, Kept}} = py_buffer:read(B, 1),
    ?assertEqual(64, depth(Kept)),
    Wide = maps:from_list([{K, K} || K <- lists:seq(1, 10000)]),
    {ok, B2} = py_buffer:new(),
    ok = py_buffer:abort(B2, Wide),
    {error, {aborted, KeptMap}} = py_buffer:read(B2, 1),
    ?assertEqual('...', maps:get('...', KeptMap)),
    ?assert(map_size(KeptMap) =< ?KEPT_NODES div 2 + 1),
    %% Each kept key has its value, or '...' for the last one the budget reached.
    [?assert(V =:= K orelse V =:= '...') || {K, V} <- maps:to_list(maps:remove('...', KeptMap))].

owner_exit_with_a_large_reason_never_stalls_test_() ->
    {timeout, 60, fun owner_exit_with_a_large_reason_never_stalls/0}.

owner_exit_with_a_large_reason_never_stalls() ->
    Self = self(),
    N = 20,
    Owner = spawn(fun() ->
                          Bufs = [begin {ok, B} = py_buffer:new(#{notify => Self}), B end
                                  || _ <- lists:seq(1, N)],
                          Self ! {bufs, Bufs},
                          receive go -> exit({big, lists:seq(1, 2000000)}) end
                  end),
    Bufs = receive {bufs, Bs} -> Bs after 10000 -> error(no_buffers) end,
    %% The watcher runs owner_exit/2 for all 20 buffers.
    Reports = long_schedules(
                [whereis(py_buffer_owners)],
                fun() ->
                        Owner ! go,
                        [receive {py_buffer, B, eof} -> ok after 10000 -> error(no_eof) end
                         || B <- Bufs],
                        ok
                end),
    ?assertEqual([], Reports),
    [begin
         #{aborted := {owner_down, {big, List}}} = py_buffer:info(B),
         {Kept, '...'} = split_improper(List),
         ?assert(length(Kept) < ?KEPT_NODES)
     end || B <- Bufs].

%% An owner of many buffers: the watcher aborts them on a dirty scheduler (100,000 held a
%% normal one for about 50 ms), each one, and the watcher is not reported for a schedule of
%% 10 ms or more.
owner_of_many_buffers_exits_without_a_long_schedule_test_() ->
    {timeout, 60, fun owner_of_many_buffers_exits_without_a_long_schedule/0}.

owner_of_many_buffers_exits_without_a_long_schedule() ->
    Self = self(),
    N = 100000,
    Owner = spawn(fun() ->
                          Bufs = [begin {ok, B} = py_buffer:new(), B end
                                  || _ <- lists:seq(1, N)],
                          Self ! {bufs, Bufs},
                          receive go -> exit(many) end
                  end),
    Bufs = receive {bufs, Bs} -> Bs after 30000 -> error(no_buffers) end,
    Reports = long_schedules(
                [whereis(py_buffer_owners)],
                fun() ->
                        Ref = monitor(process, Owner),
                        Owner ! go,
                        receive {'DOWN', Ref, process, Owner, many} -> ok end,
                        ok = py_buffer_owners:sync(Owner)
                end, 10),
    ?assertEqual([], Reports),
    ?assertEqual(N, length([B || B <- Bufs,
                                 maps:get(aborted, py_buffer:info(B)) =:= {owner_down, many}])).

python_sees_a_bounded_printed_form_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     fun() ->
             {ok, B} = py_buffer:new(),
             ok = py_buffer:abort(B, {big, lists:seq(1, 1000000)}),
             {error, {python_error, <<"py_buffer.BodyAborted">>, Message, _}} =
                 py:eval(py:context(1), <<"b.read()">>, #{b => B}),
             ?assertMatch({match, _}, re:run(Message, "big")),
             ?assert(byte_size(Message) < 8192),
             %% A huge binary: Erlang gets it whole (shared), Python a cut print.
             Huge = binary:copy(<<"q">>, 10000000),
             {ok, B2} = py_buffer:new(),
             ok = py_buffer:abort(B2, {huge, Huge, 1 bsl 100000}),
             ?assertMatch({error, {aborted, {huge, Huge, _}}}, py_buffer:read(B2, 1)),
             {error, {python_error, _, Message2, _}} =
                 py:eval(py:context(1), <<"b.read()">>, #{b => B2}),
             ?assertMatch({match, _}, re:run(Message2, "huge")),
             ?assert(byte_size(Message2) < 8192)
     end}.

%% Runs Fun with long_schedule monitoring; the reports about the processes in Who. (The
%% monitoring process is never reported on itself, so a separate one collects.)
long_schedules(Who, Fun) ->
    long_schedules(Who, Fun, ?LONG_MS).

long_schedules(Who, Fun, Ms) ->
    Self = self(),
    Collector = spawn_link(fun() -> collect(Self, []) end),
    Previous = erlang:system_monitor(Collector, [{long_schedule, Ms}]),
    try
        ok = Fun()
    after
        restore(Previous)
    end,
    Collector ! {done, self()},
    Reports = receive {reports, Collector, Rs} -> Rs after 10000 -> error(no_reports) end,
    [Report || {monitor, Pid, long_schedule, _} = Report <- Reports, lists:member(Pid, Who)].

restore(undefined) -> erlang:system_monitor(undefined);
restore({Pid, Options}) -> erlang:system_monitor(Pid, Options).

collect(Parent, Acc) ->
    receive
        {monitor, _, long_schedule, _} = Report -> collect(Parent, [Report | Acc]);
        {done, Parent} -> Parent ! {reports, self(), lists:reverse(Acc)}
    end.

split_improper(List) -> split_improper(List, []).
split_improper([H | T], Acc) -> split_improper(T, [H | Acc]);
split_improper(Tail, Acc) -> {lists:reverse(Acc), Tail}.

depth([Inner]) -> 1 + depth(Inner);
depth(_) -> 0.

%% A buffer in its own abort reason is replaced by '...': the stored reason held the buffer,
%% the buffer its reason, and neither was ever freed (20 owners dying in a function_clause
%% that listed their buffer kept 20 MB alive).
buffer_in_its_own_reason_is_freed_test_() ->
    {timeout, 30, fun buffer_in_its_own_reason_is_freed/0}.

buffer_in_its_own_reason_is_freed() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:abort(B, {client_gone, B, make_ref()}),
    ?assertMatch({error, {aborted, {client_gone, '...', R}}} when is_reference(R),
                 py_buffer:read(B, 1)),
    Before = py_buffer:live_buffers(),
    Owners = [spawn(fun() ->
                            {ok, Buf} = py_buffer:new(),
                            ok = py_buffer:write(Buf, binary:copy(<<"x">>, 100000)),
                            takes_ok(Buf, unexpected)  % function_clause: the buffer in the reason
                    end) || _ <- lists:seq(1, 20)],
    [ok = py_buffer_owners:sync(P) || P <- Owners],
    Mine = spawn(fun() -> {ok, Buf} = py_buffer:new(), ok = py_buffer:abort(Buf, {gone, Buf}) end),
    Ref = monitor(process, Mine),
    receive {'DOWN', Ref, process, Mine, _} -> ok end,
    ?assertEqual(ok, py_buffer_test_helpers:await(
                       fun() ->
                               [erlang:garbage_collect(P) || P <- processes()],
                               py_buffer:live_buffers() =< Before
                       end, 10000)).

takes_ok(Buf, ok) -> Buf.
