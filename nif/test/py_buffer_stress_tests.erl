%% Concurrency, memory and mailbox bounds, with exact totals.
-module(py_buffer_stress_tests).

-include_lib("eunit/include/eunit.hrl").
-import(py_buffer_test_helpers, [flush/0]).

-define(WRITERS, 100).
-define(CHUNKS, 200).

%% Writer `Id' writes framed chunks `<<Id:8, Len:16, Payload:Len/binary>>' (payload all `Id')
%% of varying sizes, some large enough to be kept rather than copied.
chunk(Id, N) ->
    Len = case N rem 50 of 0 -> 5000 + Id; _ -> (N * 7 + Id) rem 300 end,
    [<<Id:8, Len:16>>, binary:copy(<<Id:8>>, Len)].

chunk_size(Id, N) -> iolist_size(chunk(Id, N)).

hundred_concurrent_writers_give_exact_totals_test_() ->
    {timeout, 120, fun hundred_concurrent_writers/0}.

hundred_concurrent_writers() ->
    {ok, Shared} = py_buffer:new(),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               {ok, Own} = py_buffer:new(),
                               [begin
                                    C = chunk(Id, N),
                                    ok = py_buffer:write(Own, C),
                                    ok = py_buffer:write(Shared, C)
                                end || N <- lists:seq(1, ?CHUNKS)],
                               ok = py_buffer:close(Own),
                               Self ! {done, Id, Own}
                       end) || Id <- lists:seq(1, ?WRITERS)],
    Owns = [receive {done, Id, Own} -> {Id, Own} after 60000 -> erlang:error(timeout) end
            || Id <- lists:seq(1, ?WRITERS)],
    ?assertEqual(?WRITERS, length(Pids)),
    ok = py_buffer:close(Shared),
    PerWriter = fun(Id) -> lists:sum([chunk_size(Id, N) || N <- lists:seq(1, ?CHUNKS)]) end,
    [begin
         Expected = iolist_to_binary([chunk(Id, N) || N <- lists:seq(1, ?CHUNKS)]),
         ?assertEqual({ok, Expected}, py_buffer:read_all(Own)),
         ?assertEqual(PerWriter(Id), byte_size(Expected))
     end || {Id, Own} <- Owns],
    Total = lists:sum([PerWriter(Id) || Id <- lists:seq(1, ?WRITERS)]),
    ?assertMatch(#{written := Total}, py_buffer:info(Shared)),
    {ok, All} = py_buffer:read_all(Shared),
    ?assertEqual(Total, byte_size(All)),
    %% Every write landed whole (no interleaving inside a chunk), each writer's in order.
    Counts = parse(All, #{}),
    [?assertEqual(?CHUNKS, maps:get(Id, Counts)) || Id <- lists:seq(1, ?WRITERS)].

parse(<<>>, Counts) ->
    Counts;
parse(<<Id:8, Len:16, Payload:Len/binary, Rest/binary>>, Counts) ->
    N = maps:get(Id, Counts, 0) + 1,
    Expected = chunk(Id, N),
    ?assertEqual(iolist_to_binary(Expected), <<Id:8, Len:16, Payload/binary>>),
    parse(Rest, Counts#{Id => N}).

concurrent_reader_and_writer_exact_test_() ->
    {timeout, 120, fun concurrent_reader_and_writer/0}.

%% A writer and a reader process on a bounded buffer, both driven by messages only: the
%% reader is the subscriber and forwards `writable' to the writer. Every byte arrives once,
%% in order.
concurrent_reader_and_writer() ->
    {ok, B} = py_buffer:new(#{max_buffered => 4096}),
    Self = self(),
    Data = rand:bytes(1000000),
    Writer = spawn_link(fun() ->
                                receive go -> ok end,
                                write_loop(B, Data),
                                ok = py_buffer:close(B)
                        end),
    _Reader = spawn_link(fun() ->
                                 ok = py_buffer:subscribe(B),
                                 Writer ! go,
                                 Self ! {got, read_loop(B, Writer, [])}
                         end),
    ?assertEqual(Data, receive {got, Got} -> Got after 100000 -> timeout end).

read_loop(B, Writer, Acc) ->
    case py_buffer:read(B, 1000) of
        {ok, Bin} ->
            read_loop(B, Writer, [Bin | Acc]);
        eof ->
            iolist_to_binary(lists:reverse(Acc));
        {error, eagain} ->
            ok = py_buffer:activate(B),
            receive
                {py_buffer, B, writable} -> Writer ! writable;
                {py_buffer, B, _} -> ok
            end,
            read_loop(B, Writer, Acc)
    end.

write_loop(_B, <<>>) ->
    ok;
write_loop(B, Data) ->
    Piece = binary:part(Data, 0, min(10000, byte_size(Data))),
    Rest = binary:part(Data, byte_size(Piece), byte_size(Data) - byte_size(Piece)),
    case py_buffer:write(B, Piece) of
        ok ->
            write_loop(B, Rest);
        {partial, Left} ->
            receive writable -> ok end,
            write_loop(B, <<Left/binary, Rest/binary>>)
    end.

hundred_thousand_buffers_leave_no_trace_test_() ->
    {timeout, 300, fun hundred_thousand_buffers/0}.

settle() ->
    [erlang:garbage_collect(P) || P <- processes()],
    _ = py_buffer_owners:watched(),
    ok.

%% The live buffer count once buffers of earlier tests are gone: the same after collecting
%% garbage several times over.
stable_live() ->
    stable_live(-1, 0, 500).

stable_live(Count, 5, _) ->
    Count;
stable_live(Count, _, 0) ->
    Count;
stable_live(Last, Same, Tries) ->
    settle(),
    case py_buffer:live_buffers() of
        Last -> receive after 10 -> stable_live(Last, Same + 1, Tries - 1) end;
        Other -> receive after 10 -> stable_live(Other, 0, Tries - 1) end
    end.

%% Collects garbage until `Count()' is `Expected' (resources die when the garbage collector
%% and the owner watcher get to them, which other processes' collections do not order), for
%% at most about 10 s; returns the last count, for an exact assertion.
await(Expected, Count) ->
    await(Expected, Count, 1000).

await(Expected, Count, Tries) ->
    settle(),
    case Count() of
        Expected -> Expected;
        Other when Tries =:= 0 -> Other;
        _ -> receive after 10 -> await(Expected, Count, Tries - 1) end
    end.

hundred_thousand_buffers() ->
    LiveBefore = stable_live(),
    WatchedBefore = py_buffer_owners:watched(),
    MemBefore = erlang:memory(),
    Big = binary:copy(<<"k">>, 8192),
    Self = self(),
    Worker = spawn(fun() ->
                           churn(100000, Big),
                           %% Some subscribed, some closed, some aborted, some left open.
                           Self ! {peak, py_buffer:live_buffers()},
                           receive stop -> ok end
                   end),
    Peak = receive {peak, P} -> P after 250000 -> erlang:error(timeout) end,
    ?assert(Peak >= LiveBefore),
    Ref = monitor(process, Worker),
    Worker ! stop,
    receive {'DOWN', Ref, process, Worker, _} -> ok end,
    ok = py_buffer_owners:sync(Worker),
    ?assertEqual(WatchedBefore, await(WatchedBefore, fun py_buffer_owners:watched/0)),
    ?assertEqual(LiveBefore, await(LiveBefore, fun py_buffer:live_buffers/0)),
    MemAfter = erlang:memory(),
    Grew = fun(Key) -> proplists:get_value(Key, MemAfter) - proplists:get_value(Key, MemBefore) end,
    ?assert(Grew(binary) < 1024 * 1024),
    ?assert(Grew(total) < 16 * 1024 * 1024).

churn(0, _Big) ->
    ok;
churn(N, Big) ->
    {ok, B} = case N rem 4 of
                  0 -> py_buffer:new();
                  1 -> py_buffer:new(#{notify => self()});
                  2 -> py_buffer:new(#{content_length => 5});
                  3 -> py_buffer:new(#{max_buffered => 16})
              end,
    _ = py_buffer:write(B, <<"hello">>),
    case N rem 100 of
        0 -> _ = py_buffer:write(B, Big);
        _ -> ok
    end,
    case N rem 3 of
        0 -> _ = py_buffer:close(B);
        1 -> _ = py_buffer:abort(B, dropped);
        2 -> ok
    end,
    receive {py_buffer, B, _} -> ok after 0 -> ok end,
    receive {py_buffer, B, _} -> ok after 0 -> ok end,
    churn(N - 1, Big).

mailbox_bound_test() ->
    {ok, B} = py_buffer:new(),
    Sub = spawn_link(fun() -> receive stop -> ok end end),
    ok = py_buffer:subscribe(B, Sub),
    [ok = py_buffer:write(B, <<"x">>) || _ <- lists:seq(1, 10000)],
    {messages, Messages} = process_info(Sub, messages),
    ?assertEqual([{py_buffer, B, readable}], Messages),
    ?assertMatch(#{written := 10000}, py_buffer:info(B)),
    Sub ! stop.

mailbox_bound_with_concurrent_writers_test() ->
    {ok, B} = py_buffer:new(),
    Sub = spawn_link(fun() -> receive stop -> ok end end),
    ok = py_buffer:subscribe(B, Sub),
    Self = self(),
    [spawn_link(fun() -> [ok = py_buffer:write(B, <<"x">>) || _ <- lists:seq(1, 1000)],
                         Self ! done end) || _ <- lists:seq(1, 10)],
    [receive done -> ok end || _ <- lists:seq(1, 10)],
    ok = py_buffer:close(B),
    {messages, Messages} = process_info(Sub, messages),
    ?assertEqual([{py_buffer, B, readable}, {py_buffer, B, eof}], Messages),
    ?assertMatch(#{written := 10000}, py_buffer:info(B)),
    Sub ! stop.

%% A subscription keeps an open buffer alive (messages from other threads name it), and lets
%% go once the body ends, even while the owner lives on.
subscribed_buffers_are_freed_once_their_body_ends_test() ->
    Before = stable_live(),
    Self = self(),
    Owner = spawn_link(fun() ->
                               Bufs = [begin
                                           {ok, B} = py_buffer:new(#{notify => self()}),
                                           ok = py_buffer:write(B, <<"x">>),
                                           B
                                       end || _ <- lists:seq(1, 1000)],
                               Self ! {open, py_buffer:live_buffers()},
                               [case N rem 3 of
                                    0 -> ok = py_buffer:close(B);
                                    1 -> ok = py_buffer:abort(B, done);
                                    2 -> ok = py_buffer:activate(B), ok = py_buffer:close(B),
                                         ok = py_buffer:activate(B)
                                end || {N, B} <- lists:zip(lists:seq(1, 1000), Bufs)],
                               flush(),
                               erlang:garbage_collect(),
                               Self ! {ended, py_buffer:live_buffers()},
                               receive stop -> ok end
                       end),
    Open = receive {open, O} -> O after 60000 -> erlang:error(timeout) end,
    ?assert(Open >= 1000),
    Ended = receive {ended, E} -> E after 60000 -> erlang:error(timeout) end,
    ?assertEqual(Before, await(Before, fun py_buffer:live_buffers/0)),
    ?assert(Ended =< Open),
    Owner ! stop.

%% Buffers owning megabytes of copied bytes are freed on the NIF's dropper thread.
big_buffers_are_freed_test() ->
    Before = stable_live(),
    Self = self(),
    Chunk = binary:copy(<<"c">>, 1000),
    {Pid, Ref} = spawn_monitor(fun() ->
                                       Bufs = [begin
                                                   {ok, B} = py_buffer:new(),
                                                   [ok = py_buffer:write(B, Chunk)
                                                    || _ <- lists:seq(1, 3000)],
                                                   B
                                               end || _ <- lists:seq(1, 5)],
                                       Self ! {written, [maps:get(written, py_buffer:info(B))
                                                         || B <- Bufs]}
                               end),
    ?assertEqual({written, lists:duplicate(5, 3000000)},
                 receive {written, _} = W -> W after 60000 -> timeout end),
    receive {'DOWN', Ref, process, Pid, normal} -> ok end,
    ok = py_buffer_owners:sync(Pid),
    ?assertEqual(Before, await(Before, fun py_buffer:live_buffers/0)).
