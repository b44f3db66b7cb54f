%% @doc `py-buffer-serve': an HTTP/1.1 server (mochiweb) running one WSGI or ASGI app in the
%% CPython embedded in this VM. `bin/py-buffer-serve' runs
%% `erl -noshell ... -s py_serve main -extra ARGS'; see {@link py_serve_cli} for the
%% arguments.
%%
%% == Lifecycle ==
%% {@link main/0} spawns the server process, which: configures and starts the `py_buffer'
%% application (`python_path': the app directory; `max_workers': `--workers'), imports the
%% app and, for ASGI, runs its lifespan startup ({@link py_app:start/1}; a failure exits 1),
%% with `--nodes N' starts N-1 local app nodes ({@link py_nodes:start_local/2}) and waits
%% until they serve,
%% starts the listener (`mochiweb_socket_server', connection loop {@link
%% py_serve_http:loop/2}), prints `py-buffer-serve listening on http://HOST:PORT' (the real
%% port when 0 was asked) on standard output and waits.
%%
%% On SIGTERM ({@link py_serve_signal}; the script turns Ctrl-C into SIGTERM) it stops the
%% listener (no new connections: the listening socket closes; connections already accepted
%% are linked to the listener but ignore its `normal' exit), marks the server draining
%% (responses say `Connection: close' and keep-alive ends), waits until no request is in
%% flight or `--graceful-timeout' passed, runs the ASGI lifespan shutdown, and stops the VM
%% with `init:stop/0' (the `py_buffer' application finalizes Python): exit status 0.
-module(py_serve).

-export([main/0, stop/0]).
-export([init/1]).

-define(LISTENER, py_serve_listener).

%% @doc The entry point (`-s py_serve main'): reads the plain arguments (after `-extra').
-spec main() -> ok.
main() ->
    case py_serve_cli:parse(init:get_plain_arguments()) of
        help ->
            io:put_chars(py_serve_cli:usage()),
            halt(0);
        {error, Message} ->
            io:put_chars(standard_error, ["py-buffer-serve: ", Message,
                                          "\n(py-buffer-serve --help lists the options)\n"]),
            halt(2);
        {ok, Config} ->
            _ = spawn(?MODULE, init, [Config]),
            ok
    end.

%% @doc Starts the graceful shutdown (as SIGTERM does).
-spec stop() -> ok.
stop() ->
    py_serve ! {py_serve_signal, stop},
    ok.

%% @private
-spec init(py_serve_cli:config()) -> no_return().
init(#{app := App, app_dir := AppDir, workers := Workers, log_level := Level,
       ip := IP, host := Host, port := Port} = Config) ->
    register(py_serve, self()),
    ok = py_serve_log:set_level(Level),
    ok = py_serve_stats:init(),
    persistent_term:put(py_serve_config, Config),
    ok = application:load(py_buffer),
    ok = application:set_env(py_buffer, python_path, [AppDir]),
    ok = application:set_env(py_buffer, max_workers, Workers),
    {ok, _} = application:ensure_all_started(py_buffer),
    case py_app:start(App) of
        ok -> ok;
        {error, Reason} -> fail("cannot start the app ~s: ~s", [element(2, App), why(Reason)])
    end,
    ok = app_nodes(Config),
    ok = py_serve_signal:install(self()),
    _ = mochiweb_clock:start(),
    case mochiweb_socket_server:start([{name, {local, ?LISTENER}}, {ip, IP}, {port, Port},
                                       {loop, {py_serve_http, loop}},
                                       {backlog, 1024}, {nodelay, true},
                                       {recbuf, undefined}, {buffer, 65536},
                                       {acceptor_pool_size, 32}, {max, 100000}]) of
        {ok, _} -> ok;
        {error, Why} -> fail("cannot listen on ~s:~b: ~p", [Host, Port, Why])
    end,
    RealPort = mochiweb_socket_server:get(?LISTENER, port),
    io:format("py-buffer-serve listening on http://~s:~b~n", [host(Host), RealPort]),
    wait(Config).

%% `--nodes N': N-1 local app nodes, each starting the app; returns once they all serve.
app_nodes(#{nodes := 1}) ->
    ok;
app_nodes(#{nodes := N, app := App}) ->
    %% Our own random cookie, hex after a letter: py_dist's base64url one starts with `-' one
    %% time in 64, which `erl -setcookie' then takes for a flag (the app node never joins).
    Cookie = list_to_atom("c" ++ binary_to_list(binary:encode_hex(crypto:strong_rand_bytes(24)))),
    case py_nodes:start_local(N - 1, #{apps => [App], cookie => Cookie}) of
        {ok, _Names} -> await_nodes(N, erlang:monotonic_time(millisecond) + 60000);
        {error, Reason} -> fail("cannot start ~b app nodes: ~p", [N - 1, Reason])
    end.

await_nodes(N, Deadline) ->
    case length(py_nodes:nodes()) >= N of
        true -> ok;
        false ->
            erlang:monotonic_time(millisecond) < Deadline
                orelse fail("the app nodes did not join within 60 s: ~p", [py_nodes:nodes()]),
            receive after 100 -> await_nodes(N, Deadline) end
    end.

-spec wait(py_serve_cli:config()) -> no_return().
wait(Config) ->
    receive
        {py_serve_signal, _} -> shutdown(Config)
    end.

-spec shutdown(py_serve_cli:config()) -> no_return().
shutdown(#{app := App, graceful_timeout := Grace, nodes := Nodes}) ->
    py_serve_log:event(info, "shutting down: ~b requests in flight",
                       [py_serve_stats:in_flight()]),
    py_serve_stats:drain(),
    ok = mochiweb_socket_server:stop(?LISTENER),
    Deadline = erlang:monotonic_time(millisecond) + Grace,
    await_idle(Deadline),
    %% With app nodes, py_nodes:stop/0 runs the lifespan shutdown on every node (this one too).
    ok = case Nodes > 1 of
             true -> py_nodes:stop();
             false -> ok
         end,
    case py_app:stop(App) of
        ok -> ok;
        {error, Reason} -> py_serve_log:event(error, "lifespan shutdown: ~s", [why(Reason)])
    end,
    py_serve_log:event(info, "stopped", []),
    init:stop(),
    exit(normal).

await_idle(Deadline) ->
    case py_serve_stats:in_flight() =< 0 of
        true -> ok;
        false ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true ->
                    py_serve_log:event(warning, "grace period over: ~b requests still in flight",
                                       [py_serve_stats:in_flight()]);
                false ->
                    receive after 20 -> await_idle(Deadline) end
            end
    end.

-spec fail(io:format(), [term()]) -> no_return().
fail(Format, Args) ->
    io:put_chars(standard_error, ["py-buffer-serve: ", io_lib:format(Format, Args), "\n"]),
    halt(1).

why({python_error, Type, Message, Traceback}) ->
    io_lib:format("~s: ~s~n~s", [Type, Message, Traceback]);
why(Other) ->
    io_lib:format("~p", [Other]).

host("0.0.0.0") -> "0.0.0.0";
host(Host) ->
    case lists:member($:, Host) of
        true -> "[" ++ Host ++ "]";
        false -> Host
    end.
