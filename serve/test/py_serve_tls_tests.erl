%% @doc EUnit tests of HTTPS's pure parts: the `--ssl-*' options as `py_serve_cli' reads
%% them, the listener's `ssl' options `py_serve_tls' makes of them, and the logger filter
%% that keeps failed handshakes quiet. (The files, the handshakes and the clients are
%% tested against the real server: serve/tests/test_tls.py.)
-module(py_serve_tls_tests).

-include_lib("eunit/include/eunit.hrl").

tls(Args) ->
    {ok, #{tls := Tls}} = py_serve_cli:parse(Args ++ ["m:app"]),
    Tls.

cli_test() ->
    ?assertEqual(none, tls([])),
    ?assertEqual(#{certfile => "c.pem", keyfile => "c.pem", password => undefined,
                   ca_certs => undefined, cert_reqs => 0},
                 tls(["--ssl-certfile", "c.pem"])),
    ?assertEqual(#{certfile => "c.pem", keyfile => "k.pem", password => "pw",
                   ca_certs => "ca.pem", cert_reqs => 2},
                 tls(["--ssl-certfile=c.pem", "--ssl-keyfile", "k.pem",
                      "--ssl-keyfile-password", "pw", "--ssl-ca-certs", "ca.pem",
                      "--ssl-cert-reqs", "2"])),
    {ok, Config} = py_serve_cli:parse(["--ssl-certfile", "c.pem", "m:app"]),
    ?assertEqual([], [K || K <- maps:keys(Config),
                           lists:prefix("ssl_", atom_to_list(K))]).

cli_errors_test() ->
    Error = fun(Args) -> {error, Message} = py_serve_cli:parse(Args ++ ["m:app"]), Message end,
    ?assertEqual("--ssl-keyfile needs --ssl-certfile (HTTPS)",
                 Error(["--ssl-keyfile", "k.pem"])),
    ?assertEqual("--ssl-keyfile-password needs --ssl-certfile (HTTPS)",
                 Error(["--ssl-keyfile-password", "pw"])),
    ?assertMatch("--ssl-cert-reqs 1 or 2 needs --ssl-ca-certs" ++ _,
                 Error(["--ssl-certfile", "c.pem", "--ssl-cert-reqs", "1"])),
    ?assertEqual("--ssl-cert-reqs: 0 (none), 1 (optional) or 2 (required)",
                 Error(["--ssl-cert-reqs", "required"])).

listen_options_test() ->
    Base = #{certfile => "c.pem", keyfile => "k.pem", password => undefined,
             ca_certs => undefined, cert_reqs => 0},
    ?assertEqual([{certfile, "c.pem"}, {keyfile, "k.pem"}, {verify, verify_none},
                  {log_level, error}],
                 py_serve_tls:listen_options(Base, info)),
    ?assertEqual([{certfile, "c.pem"}, {keyfile, "k.pem"}, {password, "pw"},
                  {verify, verify_none}, {cacertfile, "ca.pem"}, {log_level, notice}],
                 py_serve_tls:listen_options(Base#{password => "pw", ca_certs => "ca.pem"},
                                             debug)),
    Verify = fun(Reqs) ->
                     Options = py_serve_tls:listen_options(
                                 Base#{ca_certs => "ca.pem", cert_reqs => Reqs}, info),
                     [O || {K, _} = O <- Options,
                           lists:member(K, [verify, fail_if_no_peer_cert, cacertfile])]
             end,
    ?assertEqual([{verify, verify_peer}, {fail_if_no_peer_cert, false},
                  {cacertfile, "ca.pem"}], Verify(1)),
    ?assertEqual([{verify, verify_peer}, {fail_if_no_peer_cert, true},
                  {cacertfile, "ca.pem"}], Verify(2)).

failed_handshakes_are_filtered_test() ->
    Report = fun(R) -> #{level => error, meta => #{}, msg => {report, R}} end,
    Accept = Report(#{label => {error_logger, error_report},
                      report => [{application, mochiweb}, "Accept failed error", "..."]}),
    Crash = Report(#{label => {proc_lib, crash},
                     report => [[{initial_call, {mochiweb_acceptor, init, 4}},
                                 {error_info, {exit, {error, accept_failed}, []}}], []]}),
    Other = Report(#{label => {proc_lib, crash},
                     report => [[{error_info, {error, badarg, []}}], []]}),
    ?assertEqual(stop, py_serve_tls:failed_handshake(Accept, [])),
    ?assertEqual(stop, py_serve_tls:failed_handshake(Crash, [])),
    ?assertEqual(Other, py_serve_tls:failed_handshake(Other, [])),
    Text = #{level => notice, meta => #{}, msg => {string, "x"}},
    ?assertEqual(Text, py_serve_tls:failed_handshake(Text, [])).
