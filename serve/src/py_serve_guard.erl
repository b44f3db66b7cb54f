%% @doc The watchdog of one connection: a process beside the connection process that ends it
%% when it waits too long for its client, and the connection's in-flight flag (so a shutdown
%% knows when the last request is over, even one whose connection process was killed).
%%
%% The connection process and its guard share a small `atomics' array: the connection
%% writes its current deadline there (and whether it serves a request), the guard reads it
%% when its timer fires. So arming, disarming and a request's start and end cost the
%% connection a few atomic writes and no message; the guard is told (one `check' message)
%% only when it has no timer running or the new deadline comes before its timer. The
%% guard's timer firing early is normal: it finds a later deadline (the connection re-armed)
%% and sleeps until then; a keep-alive connection under load wakes its guard about once per
%% timeout, not per request (each request used to send it four messages and re-arm a timer;
%% `docs/benchmarks.md', "Where the time goes now").
%%
%% The connection process calls:
%% <ul>
%% <li>{@link arm/3}: end the connection unless re-armed or disarmed within `Ms' milliseconds
%%     (`Why' is `headers_timeout' while waiting for a request head, `body_timeout' while
%%     waiting for body bytes);</li>
%% <li>{@link disarm/1}: no deadline (the connection waits for the app, not the client);</li>
%% <li>{@link busy/1}: a request started (disarmed; counted in flight, see
%%     {@link py_serve_stats:in_flight/0}); {@link idle/2}: it ended, and the connection waits
%%     for its next request head (armed with `Ms', `headers_timeout').</li>
%% </ul>
%% No deadline is lost between the two processes: the connection writes its deadline, then
%% reads the guard's wake-up time; the guard writes its wake-up time, then reads the deadline
%% again (atomics are sequentially consistent), so one of them sees the other's write.
%%
%% On a timeout the guard sends the connection process `{py_serve_guard, timeout, Why}' and
%% closes its socket (`gen_tcp:close/1' works from any process): a connection waiting for a
%% head ends (mochiweb sees the socket closed); one waiting for body bytes sees its read fail,
%% finds the message, and aborts the body with `Why' (the app sees its body aborted), waits
%% for the app to end and logs the request. The guard ends with the connection process (it
%% monitors it), taking the connection out of the in-flight count.
-module(py_serve_guard).

-export([start/1, timed_out/0, arm/3, disarm/1, busy/1, idle/2, busy_flag/1]).
-export([init/1]).
-export_type([guard/0]).

-opaque guard() :: {pid(), atomics:atomics_ref()}.

%% Slots of the shared array.
-define(DEADLINE, 1).  % (monotonic ms bsl 1) bor why bit; 0: disarmed
-define(WAKE, 2).      % monotonic ms the guard's timer fires at; 0: no timer
-define(BUSY, 3).      % 1 while a request is served

%% @doc Starts the guard of the calling connection process and its socket.
-spec start(gen_tcp:socket()) -> guard().
start(Socket) ->
    Shared = atomics:new(3, [{signed, true}]),
    Pid = spawn(?MODULE, init, [{self(), Socket, Shared}]),
    ok = py_serve_stats:connection_opened(Pid, {Pid, Shared}),
    {Pid, Shared}.

%% @doc Whether the connection of `Guard' serves a request now (for
%% {@link py_serve_stats:in_flight/0}).
-spec busy_flag(guard()) -> boolean().
busy_flag({_Pid, Shared}) ->
    atomics:get(Shared, ?BUSY) =:= 1.

%% @doc In the connection process, after a failed read: `{true, Why}' if the guard closed the
%% socket (the message is taken from the mailbox), else `false'.
-spec timed_out() -> {true, headers_timeout | body_timeout} | false.
timed_out() ->
    receive {py_serve_guard, timeout, Why} -> {true, Why} after 0 -> false end.

%% @doc End the connection unless it is re-armed or disarmed within `Ms' milliseconds.
-spec arm(guard(), pos_integer(), headers_timeout | body_timeout) -> ok.
arm({Pid, Shared}, Ms, Why) ->
    Deadline = now_ms() + Ms,
    atomics:put(Shared, ?DEADLINE, (Deadline bsl 1) bor why_bit(Why)),
    case atomics:get(Shared, ?WAKE) of
        Wake when Wake =:= 0; Deadline < Wake -> Pid ! check;
        _ -> ok
    end,
    ok.

%% @doc No deadline until the next {@link arm/3}.
-spec disarm(guard()) -> ok.
disarm({_Pid, Shared}) ->
    atomics:put(Shared, ?DEADLINE, 0).

%% @doc A request started: disarmed, and in flight.
-spec busy(guard()) -> ok.
busy({_Pid, Shared}) ->
    atomics:put(Shared, ?DEADLINE, 0),
    atomics:put(Shared, ?BUSY, 1).

%% @doc The request ended; the connection waits `Ms' for the next request head.
-spec idle(guard(), pos_integer()) -> ok.
idle({_Pid, Shared} = Guard, Ms) ->
    atomics:put(Shared, ?BUSY, 0),
    arm(Guard, Ms, headers_timeout).

-spec init({pid(), gen_tcp:socket(), atomics:atomics_ref()}) -> no_return().
init({Conn, Socket, Shared}) ->
    Mon = monitor(process, Conn),
    put(socket, Socket),
    loop(Conn, Mon, Shared, undefined).

loop(Conn, Mon, Shared, Timer) ->
    receive
        check ->
            loop(Conn, Mon, Shared, schedule(Conn, Shared, Timer));
        {timeout, Timer, check} ->
            loop(Conn, Mon, Shared, schedule(Conn, Shared, undefined));
        {timeout, _Stale, check} ->
            loop(Conn, Mon, Shared, Timer);
        {'DOWN', Mon, process, Conn, _} ->
            py_serve_stats:connection_closed(self()),
            exit(normal)
    end.

%% Reads the deadline and acts on it: a timer until it (the one running is kept if it fires
%% then), the timeout if it passed, no timer if disarmed. Returns the timer running.
schedule(Conn, Shared, Timer) ->
    case atomics:get(Shared, ?DEADLINE) of
        0 ->
            cancel(Timer),
            atomics:put(Shared, ?WAKE, 0),
            recheck(Conn, Shared, 0, undefined);
        Packed ->
            Deadline = Packed bsr 1,
            case Deadline - now_ms() of
                Left when Left =< 0 ->
                    cancel(Timer),
                    atomics:put(Shared, ?DEADLINE, 0),
                    atomics:put(Shared, ?WAKE, 0),
                    time_out(Conn, why(Packed band 1)),
                    undefined;
                Left ->
                    case atomics:get(Shared, ?WAKE) =:= Deadline andalso Timer =/= undefined of
                        true ->
                            Timer;
                        false ->
                            cancel(Timer),
                            New = erlang:start_timer(Left, self(), check),
                            atomics:put(Shared, ?WAKE, Deadline),
                            recheck(Conn, Shared, Packed, New)
                    end
            end
    end.

%% After publishing the wake-up time: a deadline written meanwhile by a connection that read
%% the old wake-up time (and so sent no `check') is acted on now.
recheck(Conn, Shared, Seen, Timer) ->
    case atomics:get(Shared, ?DEADLINE) of
        Seen -> Timer;
        _ -> schedule(Conn, Shared, Timer)
    end.

time_out(Conn, Why) ->
    py_serve_log:event(info, "connection ~p dropped: ~s", [Conn, Why]),
    Conn ! {py_serve_guard, timeout, Why},
    _ = gen_tcp:close(get(socket)),
    ok.

cancel(undefined) -> ok;
cancel(Ref) -> _ = erlang:cancel_timer(Ref, [{async, true}, {info, false}]), ok.

%% Milliseconds since the VM started, from 1: never 0 (0 means "none" in the shared slots),
%% never negative (Erlang's monotonic time may be).
now_ms() ->
    erlang:monotonic_time(millisecond)
        - erlang:convert_time_unit(erlang:system_info(start_time), native, millisecond) + 1.

why_bit(headers_timeout) -> 0;
why_bit(body_timeout) -> 1.

why(0) -> headers_timeout;
why(1) -> body_timeout.
