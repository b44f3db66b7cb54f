%% The loop that benches/erlang/write_instructions.sh runs under callgrind: `Rounds' rounds
%% of `N' `py_buffer:write/2' calls of `Size' bytes, each round into its own buffer pre-sized
%% to the round's bytes (a content length, as the seed comparison's write rows). The
%% buffers are made first; `erlang:crc32/1' just before the loop and `erlang:crc32_combine/3'
%% just after it mark the span callgrind counts (its `--zero-before' and `--dump-before').
-module(write_instructions).
-export([main/1]).

-spec main([string()]) -> no_return().
main([Size, N, Rounds]) ->
    [S, Count, R] = [list_to_integer(A) || A <- [Size, N, Rounds]],
    {module, py_buffer} = code:ensure_loaded(py_buffer),
    Bin = binary:copy(<<"y">>, S),
    Bufs = [begin {ok, B} = py_buffer:new(Count * S), B end || _ <- lists:seq(1, R)],
    _ = erlang:crc32(<<"x">>),
    ok = rounds(Bufs, Bin, Count),
    _ = erlang:crc32_combine(1, 2, 3),
    halt(0).

rounds([], _Bin, _N) -> ok;
rounds([B | Bs], Bin, N) ->
    ok = write_n(B, Bin, N),
    rounds(Bs, Bin, N).

write_n(_B, _Bin, 0) -> ok;
write_n(B, Bin, N) ->
    ok = py_buffer:write(B, Bin),
    write_n(B, Bin, N - 1).
