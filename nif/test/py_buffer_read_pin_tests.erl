%% A read result pins at most its own block: a small result of a buffer
%% written with many large (kept) binaries must not keep those binaries alive once the
%% buffer is gone.
-module(py_buffer_read_pin_tests).

-include_lib("eunit/include/eunit.hrl").

-define(MIB, 1048576).
-define(WRITES, 100).

small_result_does_not_pin_the_buffer_test_() ->
    {timeout, 60, fun small_result_does_not_pin_the_buffer/0}.

small_result_does_not_pin_the_buffer() ->
    Self = self(),
    Base = erlang:memory(binary),
    %% The buffer and every written binary live only in this process.
    {Pid, Ref} = spawn_monitor(
                   fun() ->
                           {ok, B} = py_buffer:new(),
                           [ok = py_buffer:write(B, binary:copy(<<I:32>>, ?MIB div 4))
                            || I <- lists:seq(1, ?WRITES)],
                           {ok, Small} = py_buffer:read(B, 8192),
                           Self ! {small, Small}
                   end),
    Small = receive {small, S} -> S after 30000 -> error(no_result) end,
    receive {'DOWN', Ref, process, Pid, normal} -> ok end,
    ?assertEqual(binary:copy(<<1:32>>, 2048), Small),
    %% The result references its own block at most (one written binary).
    ?assert(binary:referenced_byte_size(Small) =< ?MIB),
    %% The buffer is freed (on the dropper thread: await the memory's release).
    ok = await(fun() -> erlang:memory(binary) < Base + 10 * ?MIB end),
    ?assertEqual(binary:copy(<<1:32>>, 2048), Small).

%% A result lying in a kept block is a sub-binary of it: no copy, right bytes.
result_from_a_kept_block_is_that_binary_test() ->
    {ok, B} = py_buffer:new(),
    Big = binary:copy(<<"0123456789abcdef">>, 4096),
    ok = py_buffer:write(B, Big),
    {ok, Part} = py_buffer:read(B, 10000),
    ?assertEqual(binary:part(Big, 0, 10000), Part),
    ?assertEqual(byte_size(Big), binary:referenced_byte_size(Part)),
    {ok, Rest} = py_buffer:read(B, 100000),
    ?assertEqual(binary:part(Big, 10000, byte_size(Big) - 10000), Rest).

%% Polls Cond (a condition the test cannot be told about: memory freed on another thread).
await(Cond) -> await(Cond, 2000).
await(Cond, 0) -> Cond() orelse error(condition_never_held), ok;
await(Cond, N) ->
    case Cond() of
        true -> ok;
        false -> receive after 5 -> await(Cond, N - 1) end
    end.
