%% @doc The server's log: lines on standard error, filtered by the `--log-level' (`debug',
%% `info', `warning', `error', `none'). The access log is at `info': one line per request,
%% ```
%% 127.0.0.1:50312 - "POST /upload HTTP/1.1" 200 52 in=268435456 1.234s
%% '''
%% (peer, request line, status, response body bytes sent, request body bytes received,
%% time from the head's arrival to the response's end; status `-' when no response was sent,
%% then a reason follows).
-module(py_serve_log).

-export([set_level/1, enabled/1, event/3, access/1]).
-export_type([level/0]).

-type level() :: debug | info | warning | error | none.

-define(KEY, py_serve_log_level).

%% @doc Sets the level (once, at start).
-spec set_level(level()) -> ok.
set_level(Level) ->
    persistent_term:put(?KEY, rank(Level)).

%% @doc Whether lines of `Level' are written.
-spec enabled(level()) -> boolean().
enabled(Level) ->
    rank(Level) >= persistent_term:get(?KEY, rank(info)).

%% @doc A line at `Level', formatted by `io_lib:format/2'.
-spec event(level(), io:format(), [term()]) -> ok.
event(Level, Format, Args) ->
    case enabled(Level) of
        true -> io:put_chars(standard_error, ["py-buffer-serve: ", io_lib:format(Format, Args), $\n]);
        false -> ok
    end.

%% @doc The access line of a request (see the module doc for the fields).
-spec access(#{peer := string(), method := binary(), target := binary(),
               version := {non_neg_integer(), non_neg_integer()},
               status := non_neg_integer() | undefined, sent := non_neg_integer(),
               received := non_neg_integer(), started := integer(), note := iodata()}) -> ok.
access(#{peer := Peer, method := Method, target := Target, version := {Major, Minor},
         status := Status, sent := Sent, received := Received, started := Started,
         note := Note}) ->
    case enabled(info) of
        true ->
            Micros = erlang:monotonic_time(microsecond) - Started,
            io:put_chars(standard_error,
                         io_lib:format("~s - \"~s ~s HTTP/~b.~b\" ~s ~b in=~b ~.3fs~s~n",
                                       [Peer, Method, Target, Major, Minor, status(Status),
                                        Sent, Received, Micros / 1.0e6, note(Note)]));
        false ->
            ok
    end.

status(undefined) -> "-";
status(Status) -> integer_to_list(Status).

note([]) -> "";
note(<<>>) -> "";
note(Note) -> [" ", Note].

rank(debug) -> 0;
rank(info) -> 1;
rank(warning) -> 2;
rank(error) -> 3;
rank(none) -> 4.
