%% @doc The watchdog of one connection: a process beside the connection process that ends it
%% when it waits too long for its client, and counts it as in flight while it serves a
%% request (so a shutdown knows when the last request is over, even one whose connection
%% process was killed).
%%
%% The connection process sends (through the functions here):
%% <ul>
%% <li>`{arm, Ms, Why}': end the connection if no other message comes within `Ms'
%%     milliseconds (`Why' is `headers_timeout' while waiting for a request head,
%%     `body_timeout' while waiting for body bytes);</li>
%% <li>`disarm': stop the timer (the connection waits for the app, not the client);</li>
%% <li>`busy': a request started (counted in flight by {@link py_serve_stats}; the timer is
%%     stopped); `{idle, Ms}': it ended, and the connection waits for its next request head
%%     (armed with `Ms', `headers_timeout'). One message each, so a request costs the guard
%%     two messages.</li>
%% </ul>
%% On a timeout the guard sends the connection process `{py_serve_guard, timeout, Why}' and
%% closes its socket (`gen_tcp:close/1' and `ssl:close/1' work from any process): a
%% connection waiting for a head ends (mochiweb sees the socket closed); one waiting for
%% body bytes sees its read fail, finds the message, and aborts the body with `Why' (the app
%% sees its body aborted), waits for the app to end and logs the request. The guard ends
%% with the connection process (it monitors it).
-module(py_serve_guard).

-export([start/1, timed_out/0, arm/3, disarm/1, busy/1, idle/2]).
-export([init/1]).

%% @doc Starts the guard of the calling connection process and its socket.
-spec start(py_serve_socket:socket()) -> pid().
start(Socket) ->
    Conn = self(),
    spawn(?MODULE, init, [{Conn, Socket}]).

%% @doc In the connection process, after a failed read: `{true, Why}' if the guard closed the
%% socket (the message is taken from the mailbox), else `false'.
-spec timed_out() -> {true, headers_timeout | body_timeout} | false.
timed_out() ->
    receive {py_serve_guard, timeout, Why} -> {true, Why} after 0 -> false end.

%% @doc End the connection if the guard hears nothing more within `Ms' milliseconds.
-spec arm(pid(), pos_integer(), headers_timeout | body_timeout) -> ok.
arm(Guard, Ms, Why) ->
    Guard ! {arm, Ms, Why},
    ok.

%% @doc Stop the timer.
-spec disarm(pid()) -> ok.
disarm(Guard) ->
    Guard ! disarm,
    ok.

%% @doc A request head arrived: stop the timer; the request is counted in flight until
%% {@link idle/2} or the connection's end.
-spec busy(pid()) -> ok.
busy(Guard) ->
    Guard ! busy,
    ok.

%% @doc The request ended; the next head must arrive within `Ms' milliseconds.
-spec idle(pid(), pos_integer()) -> ok.
idle(Guard, Ms) ->
    Guard ! {idle, Ms},
    ok.

%% @private
-spec init({pid(), py_serve_socket:socket()}) -> no_return().
init({Conn, Socket}) ->
    Mon = monitor(process, Conn),
    put(socket, Socket),
    loop(Conn, Mon, undefined, false).

loop(Conn, Mon, Timer, Busy) ->
    receive
        {arm, Ms, Why} ->
            cancel(Timer),
            loop(Conn, Mon, {erlang:start_timer(Ms, self(), Why), Why}, Busy);
        disarm ->
            cancel(Timer),
            loop(Conn, Mon, undefined, Busy);
        busy ->
            cancel(Timer),
            Busy orelse py_serve_stats:request_started(),
            loop(Conn, Mon, undefined, true);
        {idle, Ms} ->
            cancel(Timer),
            Busy andalso py_serve_stats:request_ended(),
            loop(Conn, Mon, {erlang:start_timer(Ms, self(), headers_timeout), headers_timeout},
                 false);
        {timeout, Ref, Why} when element(1, Timer) =:= Ref ->
            py_serve_log:event(info, "connection ~p dropped: ~s", [Conn, Why]),
            Conn ! {py_serve_guard, timeout, Why},
            _ = mochiweb_socket:close(get(socket)),
            loop(Conn, Mon, undefined, Busy);
        {timeout, _Stale, _} ->
            loop(Conn, Mon, Timer, Busy);
        {'DOWN', Mon, process, Conn, _} ->
            Busy andalso py_serve_stats:request_ended(),
            exit(normal)
    end.

cancel(undefined) -> ok;
cancel({Ref, _}) -> _ = erlang:cancel_timer(Ref, [{async, true}, {info, false}]), ok.
