%% @doc HTTPS: the listener's TLS options from the command line (uvicorn's `--ssl-certfile',
%% `--ssl-keyfile', `--ssl-keyfile-password', `--ssl-ca-certs', `--ssl-cert-reqs'), and a
%% check of them before the server listens.
%%
%% OTP's `ssl' reads the certificate and the key at each connection's handshake, not when it
%% listens: a missing file, a wrong password or a key that belongs to another certificate
%% would only show as handshakes that fail. {@link check/1} therefore runs one handshake
%% with the same files over loopback before the server starts, and turns what went wrong
%% into a sentence (the server then exits 1, as uvicorn does when Python's `ssl' refuses the
%% files).
%%
%% Client certificates: `cert_reqs' 0 asks for none (the default), 1 asks for one and
%% verifies it against `ca_certs' when the client sends one, 2 requires one (Python's
%% `ssl.CERT_NONE', `CERT_OPTIONAL', `CERT_REQUIRED', the values uvicorn takes).
%%
%% Memory: a TLS connection's process reads its TCP socket ahead of the connection's demand,
%% `internal_active_n' socket messages (`ssl''s default 100) of up to the socket's `buffer'
%% each (256 KiB while a body is read): up to 25 MiB per upload whose app reads slower than
%% its client sends, which broke the bound of a request's memory (16 uploads to a busy app
%% grew the VM by 430 MiB). The server sets it to ?READ_AHEAD, one message: the bound holds
%% (16 such uploads: 57 MiB), and throughput did not change (echo, uploads, downloads,
%% same run).
%%
%% A client's failed handshake (plain HTTP sent to the port, an untrusted certificate, a
%% scanner) is logged at `--log-level debug' only, as under uvicorn: `ssl''s notices of its
%% alerts, and mochiweb's error and crash reports of its acceptor ({@link
%% quiet_failed_handshakes/1}). A port open to the Internet sees many, and they say nothing
%% about the server.
-module(py_serve_tls).

-export([start/2, listen_options/2, check/1, quiet_failed_handshakes/1, failed_handshake/2]).
-export_type([config/0]).

%% How many socket messages a TLS connection's process reads ahead of the connection's
%% demand (`ssl''s `internal_active_n').
-define(READ_AHEAD, 1).

-type config() :: #{certfile := string(), keyfile := string(),
                    password := string() | undefined, ca_certs := string() | undefined,
                    cert_reqs := 0 | 1 | 2}.

%% @doc Starts `ssl' the way the server uses it (?READ_AHEAD), then checks the files
%% ({@link check/1}) and quiets failed handshakes below `--log-level debug' ({@link
%% quiet_failed_handshakes/1}).
-spec start(config(), py_serve_log:level()) -> ok | {error, string()}.
start(Tls, LogLevel) ->
    _ = application:load(ssl),  % before set_env: loading would reset it
    ok = application:set_env(ssl, internal_active_n, ?READ_AHEAD),
    case check(Tls) of
        ok -> quiet_failed_handshakes(LogLevel);
        {error, _} = Error -> Error
    end.

%% @doc The `ssl' options of the listener (mochiweb's `ssl_opts').
-spec listen_options(config(), py_serve_log:level()) -> [ssl:tls_server_option()].
listen_options(Tls, LogLevel) ->
    own_options(Tls) ++ verify_options(Tls)
        ++ [{log_level, case LogLevel of debug -> notice; _ -> error end}].

%% The certificate, its key and the key's password.
own_options(#{certfile := Cert, keyfile := Key, password := Password}) ->
    [{certfile, Cert}, {keyfile, Key}] ++ [{password, Password} || Password =/= undefined].

verify_options(#{cert_reqs := 0, ca_certs := undefined}) ->
    [{verify, verify_none}];
verify_options(#{cert_reqs := 0, ca_certs := CaCerts}) ->
    [{verify, verify_none}, {cacertfile, CaCerts}];
verify_options(#{cert_reqs := Reqs, ca_certs := CaCerts}) ->
    [{verify, verify_peer}, {fail_if_no_peer_cert, Reqs =:= 2}, {cacertfile, CaCerts}].

%% @doc `ok' if the files hold what they should and a client can complete a handshake with
%% the certificate and key, else `{error, Message}'.
-spec check(config()) -> ok | {error, string()}.
check(#{certfile := Cert, keyfile := Key, ca_certs := CaCerts} = Tls) ->
    {ok, _} = application:ensure_all_started(ssl),
    Files = [{"--ssl-certfile", Cert, "certificate"}, {"--ssl-keyfile", Key, "private key"}]
        ++ [{"--ssl-ca-certs", CaCerts, "certificate"} || CaCerts =/= undefined],
    case [Error || {Flag, Path, What} <- Files, {error, _} = Error <- [holds(Flag, Path, What)]] of
        [] -> handshake(Tls);
        [Error | _] -> Error
    end.

%% Whether the PEM file at `Path' holds a certificate or a private key (`ssl' crashes on a
%% certificate file without one, rather than saying so).
holds(Flag, Path, What) ->
    Types = case What of
                "certificate" -> ['Certificate'];
                "private key" -> ['RSAPrivateKey', 'DSAPrivateKey', 'ECPrivateKey',
                                  'PrivateKeyInfo', 'EncryptedPrivateKeyInfo']
            end,
    case file:read_file(Path) of
        {ok, Pem} ->
            case [T || {T, _, _} <- public_key:pem_decode(Pem), lists:member(T, Types)] of
                [] -> failure("~s ~s holds no ~s", [Flag, Path, What]);
                _ -> ok
            end;
        {error, Why} ->
            failure("cannot read ~s ~s: ~s", [Flag, Path, file:format_error(Why)])
    end.

%% One handshake over loopback with the server's own files; the client checks nothing.
handshake(Tls) ->
    Options = [binary, {active, false}, {ip, {127, 0, 0, 1}}, {log_level, none}
               | own_options(Tls)],
    {ok, Listen} = ssl:listen(0, Options),
    try
        {ok, {_, Port}} = ssl:sockname(Listen),
        Self = self(),
        Client = spawn_link(fun() ->
                                    Result = ssl:connect({127, 0, 0, 1}, Port,
                                                         [{verify, verify_none},
                                                          {active, false}, {log_level, none}],
                                                         10000),
                                    Self ! {self(), Result}
                            end),
        {ok, Accepted} = ssl:transport_accept(Listen, 10000),
        Server = try ssl:handshake(Accepted, 10000)
                 catch exit:Why -> {error, Why}
                 end,
        ClientResult = receive {Client, R} -> R end,
        _ = [ssl:close(S) || {ok, S} <- [Server, ClientResult]],
        verdict(Server, ClientResult)
    after
        ssl:close(Listen)
    end.

verdict({ok, _}, {ok, _}) ->
    ok;
verdict({error, {options, Why}}, _Client) ->
    options_error(Why);
verdict(_Server, {error, {tls_alert, {_, Text}}}) ->
    failure("the key in --ssl-keyfile does not match the certificate in --ssl-certfile "
            "(a test handshake failed: ~s)", [Text]);
verdict(Server, Client) ->
    failure("a test handshake with these files failed: ~P / ~P", [Server, 8, Client, 8]).

options_error({keyfile, Path, {error, _}}) ->
    failure("cannot read the key in --ssl-keyfile ~s: wrong or missing "
            "--ssl-keyfile-password", [Path]);
options_error(Why) ->
    failure("bad TLS options: ~P", [Why, 8]).

failure(Format, Args) ->
    {error, lists:flatten(io_lib:format(Format, Args))}.

%% @doc Keeps mochiweb's reports of failed handshakes (an error report and the acceptor's
%% crash report, `{error, accept_failed}') out of the log, below `--log-level debug'.
-spec quiet_failed_handshakes(py_serve_log:level()) -> ok.
quiet_failed_handshakes(debug) ->
    ok;
quiet_failed_handshakes(_Level) ->
    ok = logger:add_primary_filter(?MODULE, {fun ?MODULE:failed_handshake/2, []}).

%% @private The logger filter: `stop' for those two reports.
-spec failed_handshake(logger:log_event(), term()) -> logger:filter_return().
failed_handshake(#{msg := {report, #{report := [{application, mochiweb},
                                                "Accept failed error" | _]}}}, _) ->
    stop;
failed_handshake(#{msg := {report, #{label := {proc_lib, crash}, report := [Info | _]}}} = Event,
                 _) when is_list(Info) ->
    case lists:keyfind(error_info, 1, Info) of
        {error_info, {exit, {error, accept_failed}, _}} -> stop;
        _ -> Event
    end;
failed_handshake(Event, _) ->
    Event.
