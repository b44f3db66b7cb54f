%% @doc Bytes a connection read from its socket ahead of what it was reading: the start of a
%% pipelined request that came in the same read as the end of a request body. Body reads
%% take whatever the socket has (so a client that streams slowly, or waits for the response
%% to what it sent, gets its bytes handed on at once), and only the framing tells where the
%% body ends; what follows is put here, and the next head read ({@link py_serve_head:read/1})
%% and body read start with it. Kept in the connection process's dictionary: one connection,
%% one process, one request at a time.
%%
%% (`gen_tcp:unrecv/2' cannot do this: the socket's HTTP packet parser fails with
%% `emsgsize' on a pushed-back line that is not complete.)
-module(py_serve_ahead).

-export([put/1, take/0, empty/0, size/0]).

%% @doc Keeps `Bytes' for the next read (after any kept already).
-spec put(binary()) -> ok.
put(<<>>) ->
    ok;
put(Bytes) ->
    _ = erlang:put(?MODULE, <<(take())/binary, Bytes/binary>>),
    ok.

%% @doc The bytes kept (`<<>>' when none), no longer kept.
-spec take() -> binary().
take() ->
    case erlang:erase(?MODULE) of
        undefined -> <<>>;
        Bytes -> Bytes
    end.

%% @doc Whether no bytes are kept.
-spec empty() -> boolean().
empty() ->
    erlang:get(?MODULE) =:= undefined.

%% @doc How many bytes are kept.
-spec size() -> non_neg_integer().
size() ->
    case erlang:get(?MODULE) of
        undefined -> 0;
        Bytes -> byte_size(Bytes)
    end.
