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
%% until they serve, joins each `--connect' app node ({@link py_nodes:connect/1}: one that is
%% not reachable yet is logged and retried every second, the server starts all the same),
%% starts the listener (`mochiweb_socket_server', connection loop {@link
%% py_serve_http:loop/2}), prints `py-buffer-serve listening on http://HOST:PORT' (the real
%% port when 0 was asked) on standard output and waits.
%%
%% On SIGTERM ({@link py_serve_signal}; the script turns Ctrl-C into SIGTERM) it stops the
%% listener (no new connections: the listening socket closes; connections already accepted
%% are linked to the listener but ignore its `normal' exit), marks the server draining
%% (responses say `Connection: close' and keep-alive ends), closes WebSocket sessions (1012,
%% as uvicorn: {@link py_serve_ws:shutdown/0}), waits until no request is in
%% flight or `--graceful-timeout' passed, runs the ASGI lifespan shutdown, and stops the VM
%% with `init:stop/0' (the `py_buffer' application finalizes Python): exit status 0.
%%
%% == The app role (`--role app') ==
%% No listener: the VM becomes the distributed node `--name' ({@link py_nodes:serve_app/1}:
%% `--dist-interface', `--dist-ticktime', the cookie from the cookie file), configures the
%% `py_buffer' application as above, imports the app (and runs its ASGI lifespan startup; a
%% failure exits 1), prints `py-buffer-serve app node NAME@HOST ready (cookie from PATH)'
%% and waits for fronts: each front that connects starts the app there too (already
%% started: nothing happens) and sends its requests as {@link py_remote_proxy} processes. On
%% SIGTERM it tells the fronts to send no new requests ({@link py_nodes:leave/0}), waits
%% until the requests in flight (its proxies) are done or `--graceful-timeout' passed, runs
%% the lifespan shutdown and stops: exit status 0.
%%
%% == The cookie ==
%% Read from the cookie file ({@link py_serve_cookie}; a file it cannot use exits 1 with the
%% reason), set at run time ({@link py_dist}); it never appears on a command line, the local
%% app nodes' included.
-module(py_serve).

-export([main/0, stop/0]).
-export([init/1, app_role/1]).

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
        {ok, #{role := front} = Config} ->
            watched(init, Config);
        {ok, #{role := app} = Config} ->
            watched(app_role, Config)
    end.

%% Runs `Role(Config)' (it ends with the VM's stop: `init:stop/0', exit `normal') in a
%% process of its own, watched: if it crashes, the VM exits 1 with the reason, rather than
%% staying up serving nothing.
watched(Role, Config) ->
    _ = spawn(fun() ->
                      {_, Ref} = spawn_monitor(?MODULE, Role, [Config]),
                      receive
                          {'DOWN', Ref, process, _, normal} -> ok;
                          {'DOWN', Ref, process, _, Reason} -> fail("stopped: ~P", [Reason, 30])
                      end
              end),
    ok.

%% @doc Starts the graceful shutdown (as SIGTERM does).
-spec stop() -> ok.
stop() ->
    py_serve ! {py_serve_signal, stop},
    ok.

%% @private
-spec init(py_serve_cli:config()) -> no_return().
init(Config) ->
    register(py_serve, self()),
    ok = py_serve_stats:init(),
    ok = py_serve_ws:init(),
    persistent_term:put(py_serve_config, Config),
    ok = configure(Config),
    ok = check_tls(Config),
    {ok, _} = application:ensure_all_started(py_buffer),
    ok = start_app(Config),
    ok = app_nodes(Config),
    ok = py_serve_signal:install(self()),
    _ = mochiweb_clock:start(),
    ok = listen(Config),
    wait(Config).

%% The HTTP listener: mochiweb's on `--bind', ours on `--uds' (py_serve_uds); prints the
%% listening line.
listen(#{uds := undefined, ip := IP, host := Host, port := Port} = Config) ->
    case mochiweb_socket_server:start([{name, {local, ?LISTENER}}, {ip, IP}, {port, Port},
                                       {loop, {py_serve_http, loop}},
                                       {backlog, 1024}, {nodelay, true},
                                       {recbuf, undefined},
                                       {buffer, py_serve_head:socket_buffer()},
                                       {acceptor_pool_size, 32}, {max, 100000}
                                       | case tls_options(Config) of
                                             none -> [];
                                             Tls -> [{ssl, true}, {ssl_opts, Tls}]
                                         end]) of
        {ok, _} -> ok;
        {error, Why} -> fail("cannot listen on ~s:~b: ~p", [Host, Port, Why])
    end,
    RealPort = mochiweb_socket_server:get(?LISTENER, port),
    io:format("py-buffer-serve listening on ~s://~s:~b~n", [scheme(Config), host(Host), RealPort]);
listen(#{uds := Path} = Config) ->
    case py_serve_uds:start(Path, tls_options(Config)) of
        ok -> io:format("py-buffer-serve listening on unix:~s (~s)~n", [Path, scheme(Config)]);
        {error, Message} -> fail("~s", [Message])
    end.

stop_listener(#{uds := undefined}) -> mochiweb_socket_server:stop(?LISTENER);
stop_listener(_Config) -> py_serve_uds:stop().

scheme(#{tls := none}) -> "http";
scheme(_Config) -> "https".

%% The log level and the `py_buffer' application environment (both roles).
configure(#{app_dir := AppDir, workers := Workers, log_level := Level}) ->
    ok = py_serve_log:set_level(Level),
    ok = application:load(py_buffer),
    ok = application:set_env(py_buffer, python_path, [AppDir]),
    ok = application:set_env(py_buffer, max_workers, Workers).

%% HTTPS: the certificate and key checked before anything starts (exit 1 if they do not
%% work), then given to the listener.
check_tls(#{tls := none}) ->
    ok;
check_tls(#{tls := Tls, log_level := Level}) ->
    case py_serve_tls:start(Tls, Level) of
        ok -> ok;
        {error, Message} -> fail("~s", [Message])
    end.

%% The listener's `ssl' options (`none': plain HTTP).
tls_options(#{tls := none}) -> none;
tls_options(#{tls := Tls, log_level := Level}) -> py_serve_tls:listen_options(Tls, Level).

%% Imports the app here (ASGI: lifespan startup); exits 1 if it cannot.
start_app(#{app := App}) ->
    case py_app:start(App) of
        ok -> ok;
        {error, Reason} -> fail("cannot start the app ~s: ~s", [element(2, App), why(Reason)])
    end.

%% `--nodes N': N-1 local app nodes, each starting the app; returns once they all serve. Then
%% the `--connect' nodes. Nothing (no distribution) for a lone front without `--name'.
app_nodes(#{nodes := 1, connect := [], name := undefined}) ->
    ok;
app_nodes(#{nodes := N, app := App, connect := Remote} = Config) ->
    Opts = (dist_options(Config))#{apps => [App]},
    case py_nodes:start_local(N - 1, Opts) of
        {ok, _Names} -> await_nodes(N, erlang:monotonic_time(millisecond) + 60000);
        {error, Reason} -> fail("cannot start ~b app nodes: ~p", [N - 1, Reason])
    end,
    py_serve_log:event(info, "node ~s (cookie from ~s)", [node(), cookie_source(Config)]),
    lists:foreach(fun(Node) ->
                          case py_nodes:connect(Node) of
                              ok ->
                                  py_serve_log:event(info, "app node ~s joined", [Node]);
                              {error, Why} ->
                                  py_serve_log:event(warning, "app node ~s not joined yet "
                                                     "(retried every second): ~P",
                                                     [Node, Why, 8])
                          end
                  end, Remote).

%% The py_dist options of either role: interface, tick time, name, cookie.
dist_options(#{dist_interface := Interface, dist_ticktime := Tick, name := Name} = Config) ->
    Named = case Name of
                undefined -> #{};
                _ -> #{name => Name}
            end,
    Cookie = case maps:get(cookie, Config) of
                 random -> #{};                       % py_dist makes one
                 {file, Path} -> #{cookie => read_cookie(Path)}
             end,
    maps:merge(#{interface => Interface, ticktime => Tick}, maps:merge(Named, Cookie)).

cookie_source(#{cookie := random}) -> "random, for the local app nodes only";
cookie_source(#{cookie := {file, Path}}) -> Path.

%% The cookie file's one line; exits 1 (with the reason) if it cannot be used.
read_cookie(Path) ->
    case py_serve_cookie:read(Path) of
        {ok, Cookie} -> Cookie;
        {error, Message} -> fail("~s", [Message])
    end.

await_nodes(N, Deadline) ->
    case length(py_nodes:nodes()) >= N of
        true -> ok;
        false ->
            erlang:monotonic_time(millisecond) < Deadline
                orelse fail("the app nodes did not join within 60 s: ~p", [py_nodes:nodes()]),
            receive after 100 -> await_nodes(N, Deadline) end
    end.

%% @private The app role (see the module doc).
-spec app_role(py_serve_cli:config()) -> no_return().
app_role(#{app := App} = Config) ->
    register(py_serve, self()),
    ok = configure(Config),
    Node = case py_nodes:serve_app(dist_options(Config)) of
               {ok, N} -> N;
               {error, Reason} -> fail("cannot serve as app node ~s: ~p",
                                       [maps:get(name, Config), Reason])
           end,
    ok = start_app(Config),
    ok = py_serve_signal:install(self()),
    io:format("py-buffer-serve app node ~s ready (cookie from ~s)~n",
              [Node, cookie_source(Config)]),
    receive
        {py_serve_signal, _} -> ok
    end,
    Fronts = py_nodes:leave(),
    py_serve_log:event(info, "shutting down: ~b requests in flight, ~b fronts told",
                       [app_in_flight(), length(Fronts)]),
    Deadline = erlang:monotonic_time(millisecond) + maps:get(graceful_timeout, Config),
    await_idle(fun app_in_flight/0, Deadline),
    stop_app(App, Deadline).

%% The requests this app node serves: one py_remote_proxy process each.
app_in_flight() ->
    length([P || P <- erlang:processes(),
                 erlang:process_info(P, initial_call)
                     =:= {initial_call, {py_remote_proxy, init, 6}}]).

-spec wait(py_serve_cli:config()) -> no_return().
wait(Config) ->
    receive
        {py_serve_signal, _} -> shutdown(Config)
    end.

-spec shutdown(py_serve_cli:config()) -> no_return().
shutdown(#{app := App, graceful_timeout := Grace} = Config) ->
    py_serve_log:event(info, "shutting down: ~b requests in flight",
                       [py_serve_stats:in_flight()]),
    py_serve_stats:drain(),
    ok = stop_listener(Config),
    ok = py_serve_ws:shutdown(),
    Deadline = erlang:monotonic_time(millisecond) + Grace,
    await_idle(fun py_serve_stats:in_flight/0, Deadline),
    %% With app nodes, py_nodes:stop/0 runs the lifespan shutdown on every local app node (not
    %% on a --connect app node, which runs its own when it stops); this VM's runs below.
    ok = case whereis(py_nodes) of
             undefined -> ok;
             _ -> py_nodes:stop()
         end,
    stop_app(App, Deadline).

%% The end of a graceful stop, either role: this VM's lifespan shutdown, after the app's
%% calls still running (work after their responses) ended or the grace period passed; then
%% the VM stops.
-spec stop_app(py_request:app(), integer()) -> no_return().
stop_app(App, Deadline) ->
    case py_app:stop(App, max(0, Deadline - erlang:monotonic_time(millisecond))) of
        ok -> ok;
        {error, Reason} -> py_serve_log:event(error, "lifespan shutdown: ~s", [why(Reason)])
    end,
    py_serve_log:event(info, "stopped", []),
    init:stop(),
    exit(normal).

%% Until `InFlight()' is 0 or the deadline passed.
await_idle(InFlight, Deadline) ->
    case InFlight() =< 0 of
        true -> ok;
        false ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true ->
                    py_serve_log:event(warning, "grace period over: ~b requests still in flight",
                                       [InFlight()]);
                false ->
                    receive after 20 -> await_idle(InFlight, Deadline) end
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
