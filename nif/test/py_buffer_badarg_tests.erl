%% The bad-input matrix: every function with wrong types, negative and huge sizes,
%% non-buffer references, and buffers in every end state. Each gives `badarg' or its
%% documented `{error, Reason}', and the VM stays up.
-module(py_buffer_badarg_tests).

-include_lib("eunit/include/eunit.hrl").
-import(py_buffer_test_helpers, [flush/0]).

not_buffers() ->
    [make_ref(), atomics:new(1, []), ets:new(t, []), self(), foo, <<"buf">>, 1, -1, 1.5,
     [], {}, {py_buffer, make_ref()}, #{}, fun() -> ok end].

%% Every call that takes a buffer, applied to `B'.
calls(B) ->
    [fun() -> py_buffer:write(B, <<"x">>) end,
     fun() -> py_buffer:write(B, [<<"x">>]) end,
     fun() -> py_buffer:write(B, <<0:80000>>) end,
     fun() -> py_buffer:close(B) end,
     fun() -> py_buffer:abort(B, r) end,
     fun() -> py_buffer:info(B) end,
     fun() -> py_buffer:controlling_process(B, self()) end,
     fun() -> py_buffer:subscribe(B) end,
     fun() -> py_buffer:subscribe(B, self()) end,
     fun() -> py_buffer:unsubscribe(B) end,
     fun() -> py_buffer:activate(B) end,
     fun() -> py_buffer:read(B, 1) end,
     fun() -> py_buffer:read_nonblock(B, 1) end,
     fun() -> py_buffer:readline(B) end,
     fun() -> py_buffer:readline(B, 1) end,
     fun() -> py_buffer:read_all(B) end,
     fun() -> py_buffer:close_reader(B) end,
     fun() -> py_buffer:bench_write(B, <<"x">>, copy) end,
     fun() -> py_buffer:test_on_thread(B, close) end].

non_buffers_are_badarg_test() ->
    [?assertError(badarg, Call()) || NotBuf <- not_buffers(), Call <- calls(NotBuf)].

new_rejects_bad_arguments_test() ->
    Bad = [-1, 1 bsl 64, -(1 bsl 70), 1.5, foo, "10", <<"10">>, {10}, self(), make_ref(),
           #{content_length => -1}, #{content_length => 1 bsl 64}, #{content_length => foo},
           #{content_length => 1.0},
           #{max_buffered => 0}, #{max_buffered => -5}, #{max_buffered => 1 bsl 70},
           #{max_buffered => foo},
           #{notify => foo}, #{notify => 1}, #{notify => make_ref()},
           #{owner => undefined}, #{owner => foo},
           #{unknown => 1}, #{"content_length" => 1}, #{1 => 2}],
    [?assertError(badarg, py_buffer:new(Arg)) || Arg <- Bad].

huge_content_length_is_accepted_without_reserving_it_test() ->
    {ok, B} = py_buffer:new(1 bsl 63),
    {ok, B2} = py_buffer:new((1 bsl 64) - 1),
    ok = py_buffer:write(B, <<"abc">>),
    ?assertMatch(#{content_length := 1 bsl 63, written := 3}, py_buffer:info(B)),
    ?assertMatch(#{content_length := (1 bsl 64) - 1}, py_buffer:info(B2)),
    ?assertEqual(ok, py_buffer:close(B)),
    ?assertEqual({error, {truncated, 1 bsl 63, 3}}, py_buffer:read_all(B)).

write_rejects_bad_data_test() ->
    {ok, B} = py_buffer:new(),
    Bad = [foo, 1, -1, 256, 1.5, [256], [-1], [foo], [<<"a">> | foo], {<<"a">>}, #{},
           make_ref(), self(), <<1:3>>, [<<1:3>>], [[[[1.0]]]]],
    [?assertError(badarg, py_buffer:write(B, D)) || D <- Bad],
    %% Nothing was written by any of them.
    ?assertMatch(#{written := 0}, py_buffer:info(B)).

read_sizes_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, <<"abc">>),
    [?assertError(badarg, py_buffer:read(B, N)) || N <- [-1, 1 bsl 64, 1.0, foo, "1", infinity]],
    [?assertError(badarg, py_buffer:readline(B, N)) || N <- [-1, 1 bsl 64, 1.0, foo, "1"]],
    ?assertEqual({ok, <<"abc">>}, py_buffer:read(B, (1 bsl 64) - 1)),
    ?assertEqual({error, eagain}, py_buffer:read(B, (1 bsl 64) - 1)),
    ?assertEqual({error, eagain}, py_buffer:readline(B, (1 bsl 64) - 1)).

other_bad_arguments_test() ->
    {ok, B} = py_buffer:new(),
    [?assertError(badarg, py_buffer:controlling_process(B, P)) || P <- [foo, make_ref(), 1]],
    [?assertError(badarg, py_buffer:subscribe(B, P)) || P <- [foo, make_ref(), 1, undefined]],
    ?assertError(badarg, py_buffer:bench_write(B, <<"x">>, other)),
    ?assertError(badarg, py_buffer:bench_write(B, foo, copy)),
    [?assertError(badarg, py_buffer:test_on_thread(B, Op)) || Op <- [foo, {write, foo}, {read, -1}]],
    ?assertError(badarg, py_buffer:owner_exit(foo, normal)),
    ?assertMatch(#{written := 0}, py_buffer:info(B)).

closed_buffer_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, <<"ab">>),
    ok = py_buffer:close(B),
    ?assertEqual(ok, py_buffer:close(B)),
    ?assertEqual({error, closed}, py_buffer:write(B, <<"x">>)),
    ?assertEqual({error, closed}, py_buffer:write(B, <<0:80000>>)),
    ?assertEqual({error, closed}, py_buffer:write(B, <<>>)),
    ?assertEqual({error, closed}, py_buffer:abort(B, r)),
    ?assertEqual(ok, py_buffer:subscribe(B)),
    ?assertEqual(ok, py_buffer:activate(B)),
    ?assertEqual(ok, py_buffer:unsubscribe(B)),
    ?assertEqual(ok, py_buffer:controlling_process(B, self())),
    ?assertEqual({ok, <<"a">>}, py_buffer:read(B, 1)),
    ?assertEqual({ok, <<"b">>}, py_buffer:readline(B)),
    ?assertEqual(eof, py_buffer:read(B, 1)),
    ?assertEqual({ok, <<>>}, py_buffer:read_all(B)),
    ?assertEqual(ok, py_buffer:close_reader(B)),
    flush().

aborted_buffer_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:abort(B, why),
    ?assertEqual({error, {aborted, why}}, py_buffer:write(B, <<"x">>)),
    ?assertEqual({error, {aborted, why}}, py_buffer:write(B, <<>>)),
    ?assertEqual({error, {aborted, why}}, py_buffer:close(B)),
    ?assertEqual(ok, py_buffer:abort(B, again)),
    ?assertEqual({error, {aborted, why}}, py_buffer:read(B, 1)),
    ?assertEqual({error, {aborted, why}}, py_buffer:readline(B)),
    ?assertEqual({error, {aborted, why}}, py_buffer:read_all(B)),
    ?assertEqual({ok, <<>>}, py_buffer:read(B, 0)),
    ?assertMatch(#{aborted := why, ended := true, eof := true}, py_buffer:info(B)).

reader_closed_buffer_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:close_reader(B),
    ?assertEqual({error, reader_closed}, py_buffer:write(B, <<"x">>)),
    ?assertEqual(ok, py_buffer:close(B)),
    ?assertEqual(eof, py_buffer:read(B, 1)).

write_beyond_content_length_test() ->
    {ok, B} = py_buffer:new(2),
    ?assertEqual({error, {overflow, 2, 3}}, py_buffer:write(B, <<"abc">>)),
    ?assertEqual({error, {overflow, 2, 10000}}, py_buffer:write(B, <<0:80000>>)),
    ok = py_buffer:write(B, <<"ab">>),
    ?assertEqual({error, {overflow, 2, 3}}, py_buffer:write(B, <<"c">>)),
    ?assertEqual(ok, py_buffer:write(B, <<>>)),
    ?assertEqual({ok, <<"ab">>}, py_buffer:read_all(B)).

a_buffer_from_a_dead_process_still_works_test() ->
    Self = self(),
    spawn(fun() -> {ok, B} = py_buffer:new(#{owner => Self}), Self ! {buf, B} end),
    B = receive {buf, Buf} -> Buf after 5000 -> erlang:error(timeout) end,
    ?assertEqual(ok, py_buffer:write(B, <<"x">>)),
    ?assertEqual(ok, py_buffer:close(B)),
    ?assertEqual({ok, <<"x">>}, py_buffer:read_all(B)).

dead_owner_buffer_test() ->
    Self = self(),
    Owner = spawn(fun() -> {ok, B} = py_buffer:new(), ok = py_buffer:write(B, <<"ab">>),
                           Self ! {buf, B} end),
    B = receive {buf, Buf} -> Buf after 5000 -> erlang:error(timeout) end,
    Ref = monitor(process, Owner),
    receive {'DOWN', Ref, process, Owner, _} -> ok end,
    ok = py_buffer_owners:sync(Owner),
    Why = {aborted, {owner_down, normal}},
    ?assertEqual({error, Why}, py_buffer:write(B, <<"x">>)),
    ?assertEqual({error, Why}, py_buffer:write(B, <<0:80000>>)),
    ?assertEqual({error, Why}, py_buffer:close(B)),
    ?assertEqual(ok, py_buffer:abort(B, later)),
    ?assertEqual({error, not_owner}, py_buffer:controlling_process(B, self())),
    ?assertEqual(ok, py_buffer:subscribe(B)),
    ?assertEqual({py_buffer, B, readable}, receive M1 -> M1 after 5000 -> timeout end),
    ?assertEqual({py_buffer, B, eof}, receive M2 -> M2 after 5000 -> timeout end),
    ?assertEqual(ok, py_buffer:activate(B)),
    ?assertEqual(ok, py_buffer:unsubscribe(B)),
    flush(),
    ?assertEqual({error, Why}, py_buffer:read_all(B)),
    ?assertEqual({error, Why}, py_buffer:readline(B)),
    ?assertEqual({ok, <<"ab">>}, py_buffer:read(B, 10)),
    ?assertEqual({error, Why}, py_buffer:read(B, 10)),
    ?assertEqual(ok, py_buffer:close_reader(B)),
    ?assertMatch(#{aborted := {owner_down, normal}, owner := Owner}, py_buffer:info(B)).

%% Documented after prop_py_buffer_api found it undocumented: a buffer's owner and subscriber
%% are local processes (messages are sent with enif_send, owners monitored on this node).
pids_of_other_nodes_are_badarg_test() ->
    Node = <<"nobody@nowhere">>,
    Remote = binary_to_term(<<131, 88, 100, (byte_size(Node)):16, Node/binary, 1:32, 0:32, 1:32>>),
    ?assertError(badarg, py_buffer:new(#{owner => Remote})),
    ?assertError(badarg, py_buffer:new(#{notify => Remote})),
    {ok, B} = py_buffer:new(),
    ?assertError(badarg, py_buffer:subscribe(B, Remote)),
    ?assertError(badarg, py_buffer:controlling_process(B, Remote)),
    ?assertMatch(#{owner := Self, subscriber := undefined} when Self =:= self(), py_buffer:info(B)).

vm_stays_up_test() ->
    {ok, B} = py_buffer:new(),
    ?assert(is_pid(whereis(py_buffer_owners))),
    ?assertEqual(ok, py_buffer:write(B, <<"still fine">>)).
