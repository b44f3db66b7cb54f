%% @doc The command line of `bin/py-buffer-serve' (shaped like uvicorn's and Granian's):
%% ```
%% py-buffer-serve [--interface wsgi|asgi] [--bind HOST:PORT | --uds PATH] [--app-dir DIR]
%%                 [--max-body-size BYTES] [--body-timeout SECONDS] [--buffer-size BYTES]
%%                 [--workers N] [--nodes N] [--header-timeout SECONDS] [--graceful-timeout SECONDS]
%%                 [--root-path PATH] [--ws-max-size BYTES] [--ws-ping-interval SECONDS]
%%                 [--ws-ping-timeout SECONDS] [--proxy-headers | --no-proxy-headers]
%%                 [--forwarded-allow-ips LIST] [--log-level LEVEL] [--stats]
%%                 [--ssl-certfile PATH [--ssl-keyfile PATH] [--ssl-keyfile-password PASS]
%%                  [--ssl-ca-certs PATH] [--ssl-cert-reqs 0|1|2]]
%%                 [--role front|app] [--name NAME] [--connect NAME@HOST]...
%%                 [--dist-interface ADDR] [--dist-ticktime SECONDS] [--cookie-file PATH]
%%                 MODULE:ATTR
%% '''
%% {@link parse/1} turns the arguments into a {@link config()}; sizes take a `K', `M' or
%% `G' suffix (powers of 1024), times are seconds (fractions allowed). See {@link usage/0}
%% for the defaults.
%%
%% Roles: `front' (the default) listens for HTTP and serves the app itself, on `--nodes N - 1'
%% local app nodes and on the app nodes it `--connect's to; `app' opens no HTTP port and
%% serves the requests of the fronts that connect to it (it needs `--name'). Combinations
%% that make no sense (`--role app' with `--connect', `--nodes', `--bind', `--uds' or `--stats'; no
%% `--name' for an app) are usage errors.
%%
%% The cookie (the shared secret of Erlang distribution) is read from a file, never taken
%% from the command line (which `ps' shows): `--cookie-file PATH', by default
%% `~/.erlang.cookie'; only a front that neither has a `--name' nor connects anywhere (plain
%% `--nodes N') makes a random one instead. The file is read by {@link py_serve}.
-module(py_serve_cli).

-export([parse/1, usage/0]).
-export_type([config/0]).

-type config() :: #{app := {wsgi | asgi, binary()},
                    ip := inet:ip_address(),
                    host := string(),
                    port := inet:port_number(),
                    uds := string() | undefined,
                    app_dir := string(),
                    max_body := non_neg_integer(),
                    body_timeout := pos_integer(),
                    header_timeout := pos_integer(),
                    graceful_timeout := pos_integer(),
                    buffer_size := pos_integer(),
                    workers := pos_integer(),
                    nodes := pos_integer(),
                    log_level := py_serve_log:level(),
                    stats := boolean(),
                    root_path := binary(),
                    ws_max_size := pos_integer(),
                    ws_ping_interval := non_neg_integer(),
                    ws_ping_timeout := pos_integer(),
                    proxy_headers := false | py_serve_proxy:trusted(),
                    tls := none | py_serve_tls:config(),
                    role := front | app,
                    name := string() | undefined,
                    connect := [node()],
                    dist_interface := inet:ip_address() | any,
                    dist_ticktime := pos_integer(),
                    cookie := cookie()}.
%% Times in milliseconds (`dist_ticktime': seconds), sizes in bytes.

-type cookie() :: random | {file, string()}.
%% Where the distribution cookie comes from: `random' (a front alone with its local app
%% nodes) or the file `{file, Path}'.

%% The `--ssl-*' options' keys while the arguments are read (`tls' in the config).
-define(TLS_OPTIONS, [ssl_certfile, ssl_keyfile, ssl_keyfile_password, ssl_ca_certs,
                      ssl_cert_reqs]).

-define(DEFAULTS, #{interface => wsgi,
                    bind => "127.0.0.1:8000",
                    app_dir => ".",
                    max_body => 1 bsl 30,
                    body_timeout => 30000,
                    header_timeout => 10000,
                    graceful_timeout => 30000,
                    buffer_size => 256 * 1024,
                    workers => 64,
                    nodes => 1,
                    log_level => info,
                    stats => false,
                    root_path => <<>>,
                    ws_max_size => 16 bsl 20,
                    ws_ping_interval => 20000,
                    ws_ping_timeout => 20000,
                    proxy_headers => true,
                    role => front,
                    connect => [],
                    dist_interface => {127, 0, 0, 1},
                    dist_ticktime => 4}).

%% @doc The help text (`--help').
-spec usage() -> iolist().
usage() ->
    ["usage: py-buffer-serve [options] MODULE:ATTR\n"
     "\n"
     "Serves the WSGI or ASGI app MODULE:ATTR over HTTP/1.1 (mochiweb, in one Erlang VM\n"
     "with an embedded CPython).\n"
     "\n"
     "options:\n"
     "  --interface wsgi|asgi     the app's interface (default: wsgi)\n"
     "  --bind HOST:PORT          the address to listen on (default: 127.0.0.1:8000;\n"
     "                            port 0: any free port, printed when listening)\n"
     "  --uds PATH                listen on this Unix domain socket instead (mode 0666;\n"
     "                            a stale socket file there is replaced)\n"
     "  --app-dir DIR             the directory put first on sys.path, where MODULE is\n"
     "                            found (default: the current directory)\n"
     "  --max-body-size BYTES     the largest request body: a larger Content-Length is\n"
     "                            answered 413 before the app runs; a chunked body growing\n"
     "                            past it is aborted (default: 1G; K, M, G suffixes)\n"
     "  --body-timeout SECONDS    a request body that makes no progress for this long is\n"
     "                            aborted and its connection closed; also the send timeout\n"
     "                            of responses (default: 30)\n"
     "  --buffer-size BYTES       the bound of each request's body buffer and of its\n"
     "                            response buffer: unread bytes held per request and\n"
     "                            direction (default: 256K)\n"
     "  --workers N               Python worker threads: at most N WSGI requests run at\n"
     "                            once (more wait for a thread); ASGI apps run on one\n"
     "                            event-loop thread (default: 64)\n"
     "  --nodes N                 Python interpreters: this VM and N-1 local app nodes (BEAM\n"
     "                            nodes started with `peer', each with its own CPython,\n"
     "                            joined by Erlang distribution on loopback); each request\n"
     "                            goes to the node with the fewest outstanding requests\n"
     "                            (default: 1, no distribution)\n"
     "  --header-timeout SECONDS  a connection that does not complete a request head within\n"
     "                            this long (also an idle keep-alive one) is closed\n"
     "                            (default: 10)\n"
     "  --graceful-timeout SECONDS  on SIGTERM or Ctrl-C, how long requests in flight may\n"
     "                            take to finish (default: 30)\n"
     "  --root-path PATH          the path the app is mounted at behind a proxy that\n"
     "                            strips it: prefixed to each request's path, the ASGI\n"
     "                            root_path and the WSGI SCRIPT_NAME (as uvicorn's\n"
     "                            --root-path; default: none)\n"
     "  --ws-max-size BYTES       ASGI WebSocket sessions: the largest message a client\n"
     "                            may send; a larger one closes the session with 1009\n"
     "                            (as uvicorn's --ws-max-size; default: 16M)\n"
     "  --ws-ping-interval SECONDS  WebSocket sessions: a ping this often; 0: none\n"
     "                            (default: 20, as uvicorn)\n"
     "  --ws-ping-timeout SECONDS  a session whose client does not answer a ping within\n"
     "                            this long is closed with 1011 (default: 20)\n"
     "  --proxy-headers           take the scheme from X-Forwarded-Proto and the client\n"
     "                            from X-Forwarded-For when the connection comes from\n"
     "                            --forwarded-allow-ips (default: on, as uvicorn)\n"
     "  --no-proxy-headers        ignore those headers\n"
     "  --forwarded-allow-ips LIST  the trusted proxies: addresses and networks, comma-\n"
     "                            separated, or * (default: $FORWARDED_ALLOW_IPS, else\n"
     "                            127.0.0.1)\n"
     "  --ssl-certfile PATH       serve HTTPS (and wss) with this PEM certificate (chain)\n"
     "  --ssl-keyfile PATH        its PEM private key (default: in --ssl-certfile)\n"
     "  --ssl-keyfile-password PASS  the key's password, if it is encrypted\n"
     "  --ssl-ca-certs PATH       PEM certificates that client certificates must chain to\n"
     "  --ssl-cert-reqs 0|1|2     client certificates: 0 none asked (default), 1 optional,\n"
     "                            2 required (as uvicorn's; 1 and 2 need --ssl-ca-certs)\n"
     "  --log-level LEVEL         debug, info (access log), warning, error or none\n"
     "                            (default: info)\n"
     "  --stats                   serve GET /.py-buffer-serve/stats (JSON: requests in\n"
     "                            flight, live buffers, Python threads, requests per\n"
     "                            node; for tests)\n"
     "  --help                    this text\n"
     "\n"
     "more machines (Erlang distribution; README, \"Two machines\"):\n"
     "  --role front|app          front (default): listen for HTTP and serve here, on the\n"
     "                            --nodes and on the --connect app nodes; app: no HTTP\n"
     "                            port, serve the requests of the fronts that connect\n"
     "                            (needs --name; runs until SIGTERM)\n"
     "  --name NAME               this VM's node name, NAME or NAME@HOST (HOST default: the\n"
     "                            --dist-interface address)\n"
     "  --connect NAME@HOST       front: an app node to send requests to (repeatable);\n"
     "                            retried every second while it is down\n"
     "  --dist-interface ADDR     the address distribution (and the epmd this starts)\n"
     "                            listens on, or any (default: 127.0.0.1, this machine\n"
     "                            only)\n"
     "  --dist-ticktime SECONDS   an unreachable node is declared down within 1.25 x this;\n"
     "                            the same on every node (default: 4)\n"
     "  --cookie-file PATH        the cluster's shared secret, one line, mode 0600 or 0400\n"
     "                            (default: ~/.erlang.cookie; never on the command line);\n"
     "                            a front without --name and --connect makes a random one\n"].

%% @doc The configuration the arguments give: `help', or `{error, Message}'.
-spec parse([string()]) -> {ok, config()} | help | {error, string()}.
parse(Args) ->
    try
        case options(Args, ?DEFAULTS) of
            help -> help;
            Opts -> finish(Opts)
        end
    catch
        throw:{usage, Message} -> {error, Message}
    end.

options([], Opts) -> Opts;
options(["--help" | _], _Opts) -> help;
options(["-h" | _], _Opts) -> help;
options(["--stats" | Rest], Opts) -> options(Rest, Opts#{stats => true, stats_given => true});
options(["--proxy-headers" | Rest], Opts) -> options(Rest, Opts#{proxy_headers => true});
options(["--no-proxy-headers" | Rest], Opts) -> options(Rest, Opts#{proxy_headers => false});
options([[$-, $- | NameValue] | Rest], Opts) ->
    case string:split(NameValue, "=") of
        [Name, Value] -> options(Rest, option(Name, Value, Opts));
        [Name] ->
            case Rest of
                [Value | Rest1] -> options(Rest1, option(Name, Value, Opts));
                [] -> throw({usage, "--" ++ Name ++ " needs a value"})
            end
    end;
options([App | Rest], Opts) when not is_map_key(app_name, Opts) ->
    options(Rest, Opts#{app_name => App});
options([Extra | _], _Opts) ->
    throw({usage, "unexpected argument " ++ Extra}).

option("interface", "wsgi", Opts) -> Opts#{interface => wsgi};
option("interface", "asgi", Opts) -> Opts#{interface => asgi};
option("bind", Value, Opts) -> Opts#{bind => Value, bind_given => true};
option("uds", Value, Opts) -> Opts#{uds => filename:absname(Value)};
option("app-dir", Value, Opts) -> Opts#{app_dir => Value};
option("max-body-size", Value, Opts) -> Opts#{max_body => size(Value, 0)};
option("buffer-size", Value, Opts) -> Opts#{buffer_size => size(Value, 1)};
option("ws-max-size", Value, Opts) -> Opts#{ws_max_size => size(Value, 1)};
option("ws-ping-interval", "0", Opts) -> Opts#{ws_ping_interval => 0};
option("ws-ping-interval", Value, Opts) -> Opts#{ws_ping_interval => millis(Value)};
option("ws-ping-timeout", Value, Opts) -> Opts#{ws_ping_timeout => millis(Value)};
option("forwarded-allow-ips", Value, Opts) -> Opts#{forwarded_allow_ips => Value};
option("body-timeout", Value, Opts) -> Opts#{body_timeout => millis(Value)};
option("header-timeout", Value, Opts) -> Opts#{header_timeout => millis(Value)};
option("graceful-timeout", Value, Opts) -> Opts#{graceful_timeout => millis(Value)};
option("workers", Value, Opts) -> Opts#{workers => size(Value, 1)};
option("nodes", Value, Opts) -> Opts#{nodes => size(Value, 1), nodes_given => true};
option("role", "front", Opts) -> Opts#{role => front};
option("role", "app", Opts) -> Opts#{role => app};
option("role", _Value, _Opts) -> throw({usage, "--role: front or app"});
option("name", Value, Opts) -> Opts#{name => node_name("--name", Value, optional)};
option("connect", Value, #{connect := Nodes} = Opts) ->
    Opts#{connect => Nodes ++ [list_to_atom(node_name("--connect", Value, required))]};
option("dist-interface", "any", Opts) -> Opts#{dist_interface => any};
option("dist-interface", Value, Opts) ->
    case inet:parse_address(Value) of
        {ok, IP} -> Opts#{dist_interface => IP};
        {error, _} -> throw({usage, "--dist-interface: an IP address or any, not " ++ Value})
    end;
option("dist-ticktime", Value, Opts) ->
    try list_to_integer(Value) of
        Seconds when Seconds >= 1 -> Opts#{dist_ticktime => Seconds};
        _ -> throw({usage, "--dist-ticktime: whole seconds, at least 1: " ++ Value})
    catch
        error:badarg -> throw({usage, "--dist-ticktime: whole seconds, at least 1: " ++ Value})
    end;
option("cookie-file", Value, Opts) -> Opts#{cookie_file => Value};
option("ssl-certfile", Value, Opts) -> Opts#{ssl_certfile => Value};
option("ssl-keyfile", Value, Opts) -> Opts#{ssl_keyfile => Value};
option("ssl-keyfile-password", Value, Opts) -> Opts#{ssl_keyfile_password => Value};
option("ssl-ca-certs", Value, Opts) -> Opts#{ssl_ca_certs => Value};
option("ssl-cert-reqs", Value, Opts) when Value =:= "0"; Value =:= "1"; Value =:= "2" ->
    Opts#{ssl_cert_reqs => list_to_integer(Value)};
option("ssl-cert-reqs", _Value, _Opts) ->
    throw({usage, "--ssl-cert-reqs: 0 (none), 1 (optional) or 2 (required)"});
option("root-path", Value, Opts) -> Opts#{root_path => root_path(Value)};
option("log-level", Value, Opts) ->
    case lists:member(Value, ["debug", "info", "warning", "error", "none"]) of
        true -> Opts#{log_level => list_to_atom(Value)};
        false -> throw({usage, "--log-level: one of debug, info, warning, error, none"})
    end;
option(Name, Value, _Opts) ->
    throw({usage, lists:flatten(io_lib:format("bad option --~s ~s", [Name, Value]))}).

%% A mount point: empty, or `/' and path characters (no query, fragment, space or control
%% character), without a trailing `/' (`/api/' is `/api', `/' is none).
root_path(Value) ->
    Path = string:trim(Value, trailing, "/"),
    Valid = Path =:= "" orelse
        (hd(Path) =:= $/ andalso
         lists:all(fun(C) -> C > 32 andalso C < 127 andalso not lists:member(C, "?#") end,
                   Path)),
    Valid orelse throw({usage, "--root-path: a path starting with /, not " ++ Value}),
    list_to_binary(Path).

size(Value, Min) ->
    {Digits, Unit} = lists:splitwith(fun(C) -> C >= $0 andalso C =< $9 end, Value),
    Scale = case string:uppercase(Unit) of
                "" -> 1; "K" -> 1 bsl 10; "M" -> 1 bsl 20; "G" -> 1 bsl 30;
                _ -> throw({usage, "not a size: " ++ Value})
            end,
    case Digits of
        [] -> throw({usage, "not a size: " ++ Value});
        _ ->
            N = list_to_integer(Digits) * Scale,
            N >= Min orelse throw({usage, "too small: " ++ Value}),
            N
    end.

millis(Value) ->
    Seconds = try list_to_float(Value)
              catch error:badarg ->
                      try list_to_integer(Value)
                      catch error:badarg -> throw({usage, "not a number of seconds: " ++ Value})
                      end
              end,
    Ms = round(Seconds * 1000),
    Ms > 0 orelse throw({usage, "must be positive: " ++ Value}),
    Ms.

finish(#{app_name := AppName, interface := Interface, bind := Bind} = Opts) ->
    case string:split(AppName, ":") of
        [Module, Attr] when Module =/= "", Attr =/= "" -> ok;
        _ -> throw({usage, "the app is MODULE:ATTR, not " ++ AppName})
    end,
    ok = role(Opts),
    {Host, Port} = bind(Bind),
    {ok, IP} = case inet:parse_address(Host) of
                   {ok, _} = Parsed -> Parsed;
                   {error, _} ->
                       case inet:getaddr(Host, inet) of
                           {ok, _} = Resolved -> Resolved;
                           {error, _} -> throw({usage, "--bind: unknown host " ++ Host})
                       end
               end,
    {ok, maps:merge(maps:without([interface, bind, app_name, cookie_file, bind_given,
                                  stats_given, nodes_given, forwarded_allow_ips
                                  | ?TLS_OPTIONS], Opts),
                    #{app => {Interface, list_to_binary(AppName)},
                      ip => IP, host => Host, port => Port,
                      app_dir => filename:absname(maps:get(app_dir, Opts)),
                      name => maps:get(name, Opts, undefined),
                      uds => uds(Opts),
                      proxy_headers => proxy_headers(Opts),
                      tls => tls(Opts),
                      cookie => cookie(Opts)})};
finish(_Opts) ->
    throw({usage, "no app given (MODULE:ATTR)"}).

%% The trusted proxies (`false': proxy headers ignored).
proxy_headers(#{proxy_headers := false}) ->
    false;
proxy_headers(Opts) ->
    Value = maps:get(forwarded_allow_ips, Opts, os:getenv("FORWARDED_ALLOW_IPS", "127.0.0.1")),
    case py_serve_proxy:trusted(Value) of
        {ok, Trusted} -> Trusted;
        {error, Item} -> throw({usage, "--forwarded-allow-ips: not an address or network: "
                                ++ Item})
    end.

%% `--uds PATH': instead of `--bind', not with it.
uds(#{uds := _, bind_given := true}) ->
    throw({usage, "--uds and --bind: one or the other"});
uds(#{uds := Path}) ->
    Path;
uds(_Opts) ->
    undefined.

%% HTTPS: on with `--ssl-certfile' (the key in the same file unless `--ssl-keyfile').
tls(#{ssl_certfile := Cert} = Opts) ->
    Reqs = maps:get(ssl_cert_reqs, Opts, 0),
    CaCerts = maps:get(ssl_ca_certs, Opts, undefined),
    Reqs =:= 0 orelse CaCerts =/= undefined
        orelse throw({usage, "--ssl-cert-reqs 1 or 2 needs --ssl-ca-certs (the CA "
                      "certificates client certificates are verified against)"}),
    #{certfile => Cert, keyfile => maps:get(ssl_keyfile, Opts, Cert),
      password => maps:get(ssl_keyfile_password, Opts, undefined), ca_certs => CaCerts,
      cert_reqs => Reqs};
tls(Opts) ->
    case [K || K <- ?TLS_OPTIONS, is_map_key(K, Opts)] of
        [] -> none;
        [K | _] -> throw({usage, flag(K) ++ " needs --ssl-certfile (HTTPS)"})
    end.

%% `--some-flag' from `some_flag'.
flag(Key) ->
    "--" ++ lists:flatten(string:replace(atom_to_list(Key), "_", "-", all)).

%% What `--role app' cannot take, and what it needs.
role(#{role := front}) ->
    ok;
role(#{role := app} = Opts) ->
    is_map_key(name, Opts)
        orelse throw({usage, "--role app needs --name NAME (the name fronts --connect to)"}),
    Given = [Flag || {Key, Flag} <- [{connect, "--connect"}, {nodes_given, "--nodes"},
                                     {bind_given, "--bind"}, {uds, "--uds"},
                                     {stats_given, "--stats"}]
                         ++ [{K, flag(K)} || K <- ?TLS_OPTIONS],
                     not lists:member(maps:get(Key, Opts, false), [false, []])],
    case Given of
        [] -> ok;
        [Flag | _] -> throw({usage, Flag ++ " is for the front: --role app opens no HTTP port "
                             "and connects to no node (fronts connect to it)"})
    end.

%% The cookie file, when this node is (or may be) part of a cluster.
cookie(#{cookie_file := Path}) -> {file, Path};
cookie(#{role := front, connect := [], name := _}) -> {file, "~/.erlang.cookie"};
cookie(#{role := front, connect := []}) -> random;
cookie(_Opts) -> {file, "~/.erlang.cookie"}.

%% `NAME@HOST' (`required') or `NAME' alone too (`optional'): letters, digits, `_', `-', and
%% in HOST also dots (and `:' for an IPv6 address).
node_name(Flag, Value, HostPart) ->
    NameChar = fun(C) -> lists:member(C, "_-") orelse (C >= $a andalso C =< $z)
                             orelse (C >= $A andalso C =< $Z) orelse (C >= $0 andalso C =< $9)
               end,
    HostChar = fun(C) -> NameChar(C) orelse C =:= $. orelse C =:= $: end,
    Valid = case string:split(Value, "@") of
                [Name] when HostPart =:= optional, Name =/= "" ->
                    lists:all(NameChar, Name);
                [Name, Host] when Name =/= "", Host =/= "" ->
                    lists:all(NameChar, Name) andalso lists:all(HostChar, Host);
                _ ->
                    false
            end,
    case Valid of
        true -> Value;
        false -> bad_node_name(Flag, Value, HostPart)
    end.

-spec bad_node_name(string(), string(), required | optional) -> no_return().
bad_node_name(Flag, Value, HostPart) ->
    throw({usage, Flag ++ ": not a node name (NAME" ++
               case HostPart of required -> "@HOST"; optional -> "[@HOST]" end
           ++ "): " ++ Value}).

bind(Bind) ->
    case string:split(Bind, ":", trailing) of
        [Host, Port] ->
            try list_to_integer(Port) of
                P when P >= 0, P =< 65535 -> {string:trim(Host, both, "[]"), P};
                _ -> throw({usage, "--bind: bad port " ++ Port})
            catch error:badarg -> throw({usage, "--bind: bad port " ++ Port})
            end;
        _ -> throw({usage, "--bind is HOST:PORT, not " ++ Bind})
    end.
