%% @doc The bytes every soak stream carries: a fixed pseudo-random pattern of 1 MiB, cycled
%% from offset 0. A reader reports how many bytes it read and their CRC-32; the driver knows
%% the CRC-32 of any prefix without keeping what it wrote, so every byte is checked in
%% content and order, not only counted.
-module(py_soak_pattern).
-export([init/0, slice/2, crc/1]).

-define(KEY, ?MODULE).
-define(SIZE, 1048576).

%% @doc Makes the pattern (once per run, before any stream).
-spec init() -> ok.
init() ->
    persistent_term:put(?KEY, rand:bytes(?SIZE)).

%% @doc The `Len' bytes at `Offset' of the cycled pattern (`Len' at most the pattern's size):
%% a sub-binary of the pattern when it does not wrap, so writes of 4 KiB or more are kept by
%% the buffer without copying.
-spec slice(non_neg_integer(), 0..?SIZE) -> binary().
slice(Offset, Len) ->
    Pattern = persistent_term:get(?KEY),
    Start = Offset rem ?SIZE,
    case Start + Len =< ?SIZE of
        true ->
            binary:part(Pattern, Start, Len);
        false ->
            First = ?SIZE - Start,
            <<(binary:part(Pattern, Start, First))/binary,
              (binary:part(Pattern, 0, Len - First))/binary>>
    end.

%% @doc The CRC-32 (`erlang:crc32/1', zlib's `crc32') of the first `Len' bytes of the stream.
-spec crc(non_neg_integer()) -> non_neg_integer().
crc(Len) ->
    crc(persistent_term:get(?KEY), Len, erlang:crc32(<<>>)).

crc(Pattern, Len, Crc) when Len > ?SIZE ->
    crc(Pattern, Len - ?SIZE, erlang:crc32(Crc, Pattern));
crc(Pattern, Len, Crc) ->
    erlang:crc32(Crc, binary:part(Pattern, 0, Len)).
