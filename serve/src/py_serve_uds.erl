%% @doc The listener on a Unix domain socket (`--uds PATH', uvicorn's and Granian's option;
%% gunicorn's `--bind unix:PATH'): the usual way behind nginx on the same machine
%% (`proxy_pass http://unix:PATH'). mochiweb's listener takes only IP addresses, so this
%% one is ours, with the same shape: a pool of acceptor processes, each of which becomes the
%% connection's process ({@link py_serve_http:loop/2}, as under mochiweb) once it accepted
%% and starts another acceptor.
%%
%% <ul>
%% <li>The socket file: a stale one (a socket no process listens on, left by a server that
%%     was killed) is replaced; any other file at `PATH' is an error (never deleted). The
%%     socket is made readable and writable by every user (0666, as uvicorn and Granian do:
%%     the directory's permissions say who may connect) and removed when the server
%%     stops.</li>
%% <li>Over TLS (`--ssl-certfile' too), each connection's handshake runs in its acceptor's
%%     successor, as mochiweb does it, bounded to 20 s.</li>
%% <li>A connection has no peer address: the access log shows `-', the ASGI scope's
%%     `client' and WSGI's `REMOTE_ADDR' are empty, and proxy headers are taken from every
%%     peer (only a process allowed to open the file can connect: the proxy; gunicorn trusts
%%     Unix socket peers the same way).</li>
%% </ul>
-module(py_serve_uds).

-export([start/2, stop/0]).
-export([acceptor/2]).

-include_lib("kernel/include/file.hrl").

%% Acceptors waiting at once, and the handshake's bound over TLS (both as under mochiweb).
-define(ACCEPTORS, 32).
-define(HANDSHAKE_TIMEOUT, 20000).
-define(KEY, py_serve_uds).

%% @doc Listens on `Path' (TLS with `ssl' listener options, or `none'); the acceptors run
%% until {@link stop/0}.
-spec start(string(), none | [ssl:tls_server_option()]) -> ok | {error, string()}.
start(Path, Tls) ->
    case clear(Path) of
        ok ->
            case gen_tcp:listen(0, [{ifaddr, {local, Path}}, binary, {packet, raw},
                                    {active, false}, {backlog, 1024},
                                    {buffer, py_serve_head:socket_buffer()}]) of
                {ok, Listen} ->
                    ok = file:change_mode(Path, 8#666),
                    persistent_term:put(?KEY, {Listen, Path}),
                    lists:foreach(fun(_) -> spawn_acceptor(Listen, Tls) end,
                                  lists:seq(1, ?ACCEPTORS));
                {error, Why} ->
                    {error, lists:flatten(io_lib:format("cannot listen on unix:~s: ~s",
                                                        [Path, inet:format_error(Why)]))}
            end;
        {error, _} = Error ->
            Error
    end.

%% @doc Stops accepting (connections being served go on) and removes the socket file.
-spec stop() -> ok.
stop() ->
    case persistent_term:get(?KEY, undefined) of
        undefined ->
            ok;
        {Listen, Path} ->
            _ = gen_tcp:close(Listen),
            _ = file:delete(Path),
            ok
    end.

%% A socket file nothing listens on is removed; another kind of file stays, and is an error.
clear(Path) ->
    case file:read_link_info(Path) of
        {error, enoent} ->
            ok;
        {ok, #file_info{type = other}} ->
            case gen_tcp:connect({local, Path}, 0, [], 1000) of
                {ok, Other} ->
                    _ = gen_tcp:close(Other),
                    {error, "unix:" ++ Path ++ " is in use by another server"};
                {error, _} ->
                    _ = file:delete(Path),
                    ok
            end;
        {ok, _} ->
            {error, "--uds " ++ Path ++ " exists and is not a socket"};
        {error, Why} ->
            {error, "--uds " ++ Path ++ ": " ++ file:format_error(Why)}
    end.

spawn_acceptor(Listen, Tls) ->
    _ = spawn(?MODULE, acceptor, [Listen, Tls]),
    ok.

%% @private One acceptor: waits for a connection, starts the next acceptor, then serves it.
-spec acceptor(gen_tcp:socket(), none | [ssl:tls_server_option()]) -> ok.
acceptor(Listen, Tls) ->
    case gen_tcp:accept(Listen) of
        {ok, Socket} ->
            ok = spawn_acceptor(Listen, Tls),
            serve(Socket, Tls);
        {error, closed} ->
            ok;  % stop/0
        {error, _} ->
            %% e.g. `emfile': this acceptor gives its place up after a pause (as mochiweb's).
            timer:sleep(100),
            spawn_acceptor(Listen, Tls)
    end.

serve(Socket, none) ->
    py_serve_http:loop(Socket, []);
serve(Socket, Tls) ->
    case ssl:handshake(Socket, Tls, ?HANDSHAKE_TIMEOUT) of
        {ok, Ssl} -> py_serve_http:loop({ssl, Ssl}, []);
        {error, _} -> _ = gen_tcp:close(Socket), ok
    end.
