%% @doc EUnit tests of scaling out (issue 14): `py_remote' requests routed by `py_nodes' to three
%% local app nodes (`peer', loopback distribution, random cookie), each with its own
%% interpreter, serving the test apps of nif/test/python. Exact bytes both ways on every
%% node, lifespan on every node, least-outstanding routing, an app node killed mid-upload
%% (its requests fail with `{failed, {node_down, _}}', the others succeed, nothing is left on
%% the front), backpressure across nodes (32 MiB through a slow consumer with bounded front
%% and proxy memory), and the killed node serving again once restarted.
-module(py_remote_tests).
-include_lib("eunit/include/eunit.hrl").

-define(W(Name), {wsgi, <<"pyt_serve_wsgi:", Name>>}).
-define(A(Name), {asgi, <<"pyt_serve_asgi:", Name>>}).
-define(NODES, 3).

py_remote_test_() ->
    {setup, fun setup/0, fun cleanup/1,
     fun(_) ->
             {inorder,
              [{"single node: the local py_request path", fun local_path_without_py_nodes/0},
               {timeout, 60, {setup, fun() -> start_nodes() end, fun(_) -> ok end,
                 fun(Peers) ->
                         {inorder,
                          [{"lifespan ran on every node", fun() -> lifespan_everywhere(Peers) end},
                           {"the cookie is on no command line",
                            fun() -> cookie_not_on_command_lines(Peers) end},
                           {"least outstanding routing", fun() -> least_outstanding(Peers) end},
                           {"exact bytes on every node", fun() -> exact_bytes(Peers) end},
                           {"erlang echo on every node", fun() -> echo_backend(Peers) end},
                           {"client gone aborts on the app node", fun client_gone/0},
                           {"front process dies: released", fun front_process_dies/0},
                           {"limits are checked on the front", fun limits_on_the_front/0},
                           {timeout, 30, {"backpressure across nodes",
                                          fun backpressure_across_nodes/0}},
                           {timeout, 30, {"a stalled app node holds the front",
                                          fun stalled_app_holds_the_front/0}},
                           {timeout, 30, {"connect: an app node started elsewhere",
                                          fun() -> connect_remote(Peers) end}},
                           {timeout, 30, {"node killed mid-upload, then back",
                                          fun() -> node_killed(Peers) end}}]}
                 end}}]}
     end}.

setup() ->
    ok = py_buffer_test_helpers:setup(),
    [].

cleanup(_) ->
    ok = py_nodes:stop(),
    ok.

python_dir() ->
    filename:absname(filename:join(filename:dirname(filename:dirname(
                                                      code:which(?MODULE))), "python")).

start_nodes() ->
    {ok, Peers} = py_nodes:start_local(?NODES, #{serve_local => false,
                                                 env => [{python_path, [python_dir()]}],
                                                 apps => [?A("lifespan_app")],
                                                 restart_delay => 3000}),
    ?NODES = length(Peers),
    Peers.

%% ---- the tests ---------------------------------------------------------------------------

local_path_without_py_nodes() ->
    undefined = whereis(py_nodes),
    Body = rand:bytes(100000),
    R = drive(?W("echo_stream"), [Body], #{content_length => byte_size(Body)}),
    ?assertMatch(#{status := 200, last := done, others := []}, R),
    ?assertEqual(node(), maps:get(node, R)),
    ?assertEqual(Body, maps:get(body, R)).

lifespan_everywhere(Peers) ->
    [?assertEqual({ok, [1, 0]}, erpc:call(N, py, call, [pyt_serve_asgi, lifespan_counts,
                                                        [<<"lifespan_app">>]]))
     || N <- Peers],
    R = drive(?A("lifespan_app"), [], #{content_length => 0}),
    ?assertMatch(#{status := 200, body := <<"hello from startup 1">>}, R).

%% `ps' shows every process's command line to every local user: the app nodes' must not
%% hold the cookie (it is set after boot through the peer's standard input).
cookie_not_on_command_lines(Peers) ->
    OsPids = [erpc:call(N, os, getpid, []) || N <- Peers],
    CommandLines = [begin
                        {ok, Args} = file:read_file("/proc/" ++ P ++ "/cmdline"),
                        Args
                    end || P <- OsPids],
    Cookie = atom_to_binary(erlang:get_cookie()),
    ?assertEqual([erlang:get_cookie() || _ <- Peers],
                 [erpc:call(N, erlang, get_cookie, []) || N <- Peers]),
    [?assertEqual({Args, nomatch}, {Args, binary:match(Args, Cookie)}) || Args <- CommandLines],
    %% They are the app nodes' command lines (each names its node).
    [?assertNotEqual(nomatch, binary:match(Args, hd(binary:split(atom_to_binary(N), <<"@">>))))
     || {N, Args} <- lists:zip(Peers, CommandLines)].

least_outstanding(Peers) ->
    ?assertEqual([{N, 0} || N <- lists:sort(Peers)], py_nodes:nodes()),
    Taken = [py_route:checkout(any) || _ <- Peers],
    %% Each request goes to the least loaded node: one each.
    ?assertEqual(lists:sort(Peers), lists:sort([N || {remote, N, _} <- Taken])),
    {remote, _, Key} = Fourth = py_route:checkout(any),
    ?assertEqual(4, lists:sum([C || {_, C} <- py_nodes:nodes()])),
    [py_route:release(K) || {remote, _, K} <- [Fourth | Taken]],
    py_route:release(Key),                         % never below zero
    ?assertEqual([{N, 0} || N <- lists:sort(Peers)], py_nodes:nodes()).

exact_bytes(Peers) ->
    Jobs = [{App, rand:bytes(rand:uniform(600000) + 1000)}
            || _ <- lists:seq(1, 4), App <- [?W("echo_stream"), ?W("digest"), ?A("echo_stream")]],
    Results = parallel([fun() -> upload(App, Body) end || {App, Body} <- Jobs]),
    lists:foreach(
      fun({{App, Body}, #{status := 200, last := done, body := Got, others := []}}) ->
              case App of
                  ?W("digest") -> ?assertEqual(digest(Body), Got);
                  _ -> ?assertEqual(crypto:hash(sha256, Body), crypto:hash(sha256, Got))
              end
      end, lists:zip(Jobs, Results)),
    ?assertEqual(lists:sort(Peers), lists:usort([N || #{node := N} <- Results])),
    nothing_left().

echo_backend(Peers) ->
    Results = parallel([fun() -> upload({module, py_remote_echo, []}, <<I:32>>)
                        end || I <- lists:seq(1, 12)]),
    ?assertEqual([<<I:32>> || I <- lists:seq(1, 12)], [B || #{body := B} <- Results]),
    ?assertEqual(lists:sort(Peers), lists:usort([N || #{node := N} <- Results])),
    nothing_left().

client_gone() ->
    Chunks = lists:duplicate(64, binary:copy(<<"x">>, 65536)),
    R = drive(?W("records_abort"), Chunks,
              #{content_length => 64 * 65536, headers => [{<<"x-id">>, <<"gone1">>}]},
              #{abort_after_chunks => 3}),
    ?assertMatch(#{others := []}, R),
    #{node := Node} = R,
    {ok, Seen} = erpc:call(Node, py, call, [pyt_serve_wsgi, seen, [<<"gone1">>]]),
    ?assertMatch(#{<<"aborted">> := _}, Seen),
    nothing_left().

%% The connection process dies mid-request: the proxy aborts the app's body, waits for the
%% app to end, and releases the routing count on the front.
front_process_dies() ->
    Self = self(),
    Pid = spawn(fun() ->
                        {ok, Req} = py_remote:start(?W("records_abort"),
                                                    #{headers => [{<<"x-id">>, <<"died1">>}]},
                                                    #{content_length => 1000}),
                        ok = py_remote:write_body(Req, <<"abc">>),
                        %% The app read the 3 bytes and waits for more.
                        _ = until_event(body_demand, Req),
                        Self ! {node, py_remote:node(Req)},
                        receive after infinity -> ok end
                end),
    Node = receive {node, N} -> N end,
    ok = wait_until(fun() -> lists:member({Node, 1}, py_nodes:nodes()) end, 5000),
    exit(Pid, kill),
    ok = wait_until(fun() -> lists:member({Node, 0}, py_nodes:nodes()) end, 5000),
    {ok, Seen} = erpc:call(Node, py, call, [pyt_serve_wsgi, seen, [<<"died1">>]]),
    ?assertMatch(#{<<"aborted">> := <<"body aborted: {front_down,killed}">>}, Seen).

limits_on_the_front() ->
    ?assertEqual({error, {body_too_large, 10, 5}},
                 py_remote:start(?W("echo"), #{}, #{content_length => 10, max_body => 5})),
    {ok, Req} = py_remote:start(?W("echo"), #{}, #{max_body => 5}),
    ok = py_remote:write_body(Req, <<"abc">>),
    ?assertEqual({error, body_too_large}, py_remote:write_body(Req, <<"def">>)),
    R1 = finish(Req),
    ?assertMatch({_, {failed, _}}, R1),
    {ok, Req2} = py_remote:start(?W("echo"), #{}, #{content_length => 3}),
    ?assertEqual({error, {overflow, 3, 4}}, py_remote:write_body(Req2, <<"abcd">>)),
    ok = py_remote:write_body(Req2, <<"abc">>),
    ?assertMatch({[{response, 200, _, <<"abc">>}], done}, finish(Req2)),
    {ok, Req3} = py_remote:start(?W("echo"), #{}, #{content_length => 0}),
    ?assertMatch({[{response, 200, _, <<>>}], done}, finish(Req3)),
    nothing_left().

until_event(Event, Req) ->
    receive
        Msg ->
            {ok, Events, Req1} = py_remote:handle(Msg, Req),
            case lists:member(Event, Events) of
                true -> Req1;
                false -> until_event(Event, Req1)
            end
    after 10000 -> error(timeout)
    end.

%% Handles a request's messages until its last event: `{OtherEvents, Last}'.
finish(Req) ->
    finish(Req, []).

finish(Req, Acc) ->
    receive
        Msg ->
            {ok, Events, Req1} = py_remote:handle(Msg, Req),
            case lists:partition(fun(E) -> E =:= done orelse
                                               (is_tuple(E) andalso element(1, E) =:= failed)
                                 end, Events) of
                {[], Es} -> finish(Req1, Acc ++ Es);
                {[Last], Es} -> {[E || E <- Acc ++ Es, is_tuple(E)], Last}
            end
    after 10000 -> error(timeout)
    end.

backpressure_across_nodes() ->
    Size = 32 bsl 20,
    Chunk = rand:bytes(65536),
    Probe = fun(Req) ->
                    put(probes, [{measure(self()), remote_measure(Req)} | get(probes)]),
                    timer:sleep(1)
            end,
    put(probes, []),
    R = drive(?W("echo_stream"), lists:duplicate(Size div 65536, Chunk),
              #{content_length => Size}, #{on_read => Probe, probe_every => 16,
                                           keep_body => false}),
    ?assertMatch(#{status := 200, last := done, got := Size, others := []}, R),
    ?assertEqual(crypto:hash(sha256, binary:copy(Chunk, Size div 65536)),
                 maps:get(sha, R)),
    Probes = erase(probes),
    ?assert(length(Probes) > 10),
    {Front, Proxy} = lists:unzip(Probes),
    ?debugFmt("front max ~p, proxy max ~p", [max_of(Front), max_of(Proxy)]),
    %% Bytes held: the window (128 KiB) and one read each side, messages: a window's worth.
    [?assert(Bin < 1 bsl 20) || {_Mem, Bin, _Q} <- Front ++ Proxy],
    [?assert(Q < 64) || {_Mem, _Bin, Q} <- Front ++ Proxy],
    [?assert(Mem < 1 bsl 20) || {Mem, _Bin, _Q} <- Front ++ Proxy],
    nothing_left().

%% An app node that does not read at all (gated): the front's writer is parked after one
%% window, the proxy holds what does not fit the body buffer; nothing grows while 8 MiB wait.
stalled_app_holds_the_front() ->
    Size = 8 bsl 20,
    Body = rand:bytes(Size),
    Chunks = [binary:part(Body, O, 65536) || O <- lists:seq(0, Size - 1, 65536)],
    Self = self(),
    Pid = spawn_link(fun() ->
                             R = drive(?W("gated_reader"), Chunks,
                                       #{content_length => Size,
                                         headers => [{<<"x-id">>, <<"stall1">>}]},
                                       #{report_req => Self}),
                             Self ! {result, self(), R}
                     end),
    Req = receive {req, Pid, Rq} -> Rq end,
    timer:sleep(300),
    %% The front process holds the client's 8 MiB (the test's data): what it adds is counted
    %% by its flow state (bytes in flight) and its heap and mailbox.
    _ = Req,
    Probes = [begin
                  timer:sleep(50),
                  {measure(Pid), in_flight(Pid), remote_measure(proxy_of(Pid))}
              end || _ <- lists:seq(1, 6)],
    ?debugFmt("stalled: ~p", [hd(Probes)]),
    [begin
         ?assert(FMem < 1 bsl 20), ?assert(InFlight =< 131072), ?assert(PB < 512 bsl 10),
         ?assert(FQ < 8), ?assert(PQ < 8)
     end || {{FMem, _, FQ}, InFlight, {_, PB, PQ}} <- Probes],
    {ok, _} = erpc:call(py_remote:node(Req), py, call, [pyt_serve_wsgi, open_gate,
                                                       [<<"stall1">>]]),
    R = receive {result, Pid, Res} -> Res after 30000 -> error(timeout) end,
    ?assertMatch(#{status := 200, last := done}, R),
    ?assertEqual(crypto:hash(sha256, Body), maps:get(sha, R)),
    nothing_left().

node_killed(Peers) ->
    Body = rand:bytes(2 bsl 20),
    Chunks = [binary:part(Body, O, 65536) || O <- lists:seq(0, byte_size(Body) - 1, 65536)],
    Sha = crypto:hash(sha256, Body),
    Self = self(),
    Slow = fun() -> timer:sleep(30) end,
    Pids = [spawn_link(fun() ->
                               R = drive(?W("echo_stream"), Chunks,
                                         #{content_length => byte_size(Body)},
                                         #{on_chunk => Slow, report_node => Self,
                                           keep_body => false}),
                               Self ! {result, self(), erlang:monotonic_time(millisecond), R}
                       end) || _ <- lists:seq(1, 6)],
    %% Every request reported its node and is uploading: kill the first request's node.
    Nodes = [receive {node, Pid, N} -> N end || Pid <- Pids],
    Victim = hd(Nodes),
    timer:sleep(200),
    OsPid = erpc:call(Victim, os, getpid, []),
    Killed = erlang:monotonic_time(millisecond),
    _ = os:cmd("kill -9 " ++ OsPid),
    Results = [receive {result, Pid, Ended, R} -> {N, Ended - Killed, R}
               end || {Pid, N} <- lists:zip(Pids, Nodes)],
    ?debugFmt("killed ~p: ~p", [Victim, [{N =:= Victim, Ms} || {N, Ms, _} <- Results]]),
    lists:foreach(
      fun({N, Ms, R}) when N =:= Victim ->
              ?assertMatch(#{last := {failed, {node_down, Victim}}, others := []}, R),
              ?assert(Ms < 1000);                   % a dead node is seen at once
         ({_, _, R}) ->
              ?assertMatch(#{status := 200, last := done, others := []}, R),
              ?assertEqual(Sha, maps:get(sha, R))
      end, Results),
    nothing_left(),
    %% New requests go to the others while it is down (restart_delay: 3 s).
    ?assertEqual(false, lists:keymember(Victim, 1, py_nodes:nodes())),
    Others = parallel([fun() -> upload(?W("echo_stream"), <<"ok">>) end || _ <- Peers]),
    ?assertEqual([], [R || #{node := N} = R <- Others, N =:= Victim]),
    %% Restarted (same name), it joins again and gets requests.
    ok = wait_until(fun() -> lists:keymember(Victim, 1, py_nodes:nodes()) end, 20000),
    ?assertEqual({ok, [1, 0]}, erpc:call(Victim, py, call, [pyt_serve_asgi, lifespan_counts,
                                                            [<<"lifespan_app">>]])),
    Again = parallel([fun() -> upload(?W("echo_stream"), <<I:32>>) end
                      || I <- lists:seq(1, 9)]),
    ?assert(lists:member(Victim, [N || #{node := N} <- Again])),
    ?assertEqual(lists:sort(Peers), lists:sort([N || {N, _} <- py_nodes:nodes()])),
    nothing_left().

%% An app node started by someone else (here: `peer', given the front's cookie), joined by
%% name: it serves once joined (its lifespan ran), explicitly routed requests reach it, and
%% it leaves the routing table when it stops.
connect_remote(Peers) ->
    Dirs = [filename:absname(D) || D <- code:get_path(), not lists:prefix(code:root_dir(), D),
                                   D =/= "."],
    [_, Host] = string:split(atom_to_list(node()), "@"),
    {ok, Peer, Node} = py_dist:start_peer(#{name => "py_remote_elsewhere", host => Host,
                                            longnames => true,
                                            args => py_dist:peer_args(#{code_path => Dirs})}),
    try
        ok = erpc:call(Node, application, load, [py_buffer]),
        ok = erpc:call(Node, application, set_env, [py_buffer, python_path, [python_dir()]]),
        ok = py_nodes:connect(Node),
        ?assert(lists:keymember(Node, 1, py_nodes:nodes())),
        ?assertEqual({ok, [1, 0]}, erpc:call(Node, py, call, [pyt_serve_asgi, lifespan_counts,
                                                              [<<"lifespan_app">>]])),
        Body = rand:bytes(300000),
        R = drive(?W("echo_stream"), [Body], #{content_length => byte_size(Body),
                                               node => Node}),
        ?assertMatch(#{status := 200, last := done, node := Node}, R),
        ?assertEqual(Body, maps:get(body, R))
    after
        peer:stop(Peer)
    end,
    ok = wait_until(fun() -> not lists:keymember(Node, 1, py_nodes:nodes()) end, 5000),
    ?assertEqual(lists:sort(Peers), [N || {N, _} <- py_nodes:nodes()]),
    nothing_left().

%% ---- helpers -----------------------------------------------------------------------------

upload(App, Body) ->
    Chunks = [binary:part(Body, O, min(65536, byte_size(Body) - O))
              || O <- lists:seq(0, byte_size(Body) - 1, 65536)],
    drive(App, Chunks, #{content_length => byte_size(Body)}).

digest(Body) ->
    iolist_to_binary([integer_to_binary(byte_size(Body)), " ",
                      string:lowercase(binary:encode_hex(crypto:hash(sha256, Body)))]).

parallel(Funs) ->
    Self = self(),
    Pids = [spawn_link(fun() -> Self ! {self(), F()} end) || F <- Funs],
    [receive {Pid, R} -> R after 30000 -> error(timeout) end || Pid <- Pids].

%% Nothing of a request is left on the front: no flow state, no message, no count.
nothing_left() ->
    ?assertEqual([], [K || {{py_remote, _}, _} = K <- get()]),
    ?assertEqual(none, py_buffer_test_helpers:next()),
    ok = wait_until(fun() -> lists:all(fun({_, C}) -> C =:= 0 end, py_nodes:nodes()) end,
                    5000).

wait_until(F, Ms) when Ms =< 0 ->
    F() orelse error(wait_until_timeout), ok;
wait_until(F, Ms) ->
    case F() of
        true -> ok;
        false -> timer:sleep(50), wait_until(F, Ms - 50)
    end.

%% After a collection: what the process holds live (binaries read and dropped are freed by
%% the next collection anyway).
measure(Pid) ->
    true = erlang:garbage_collect(Pid),
    [{memory, Mem}, {binary, Bins}, {message_queue_len, Q}] =
        process_info(Pid, [memory, binary, message_queue_len]),
    {Mem, lists:sum([S || {_, S, _} <- Bins]), Q}.

%% A driver process's request flow state (py_remote's `flow' record: proxy, in flight, ...).
flow_of(Pid) ->
    {dictionary, D} = process_info(Pid, dictionary),
    [Flow] = [F || {{py_remote, _}, F} <- D],
    Flow.

in_flight(Pid) ->
    element(3, flow_of(Pid)).

proxy_of(Pid) ->
    {up, _, Proxy} = element(2, flow_of(Pid)),
    Proxy.

remote_measure(undefined) ->
    {0, 0, 0};
remote_measure(Proxy) when is_pid(Proxy) ->
    erpc:call(node(Proxy), fun() -> measure(Proxy) end);
remote_measure(Req) ->
    remote_measure(py_remote:proxy(Req)).

max_of(Ms) ->
    {lists:max([M || {M, _, _} <- Ms]), lists:max([B || {_, B, _} <- Ms]),
     lists:max([Q || {_, _, Q} <- Ms])}.

%% ---- the driver: one request, served like an HTTP server process would -------------------

drive(App, Chunks, Opts) ->
    drive(App, Chunks, Opts, #{}).

%% `Ctl': `abort_after_chunks => N', `on_chunk => fun()' (before each body chunk),
%% `on_read => fun(Req)' (after each response read, every `probe_every'-th), `keep_body =>
%% false' (only count and hash the response), `report_node => Pid' (sent `{node, self(),
%% Node}' after the start).
drive(App, Chunks, Opts, Ctl) ->
    Head = #{method => <<"POST">>, path => <<"/">>,
             headers => maps:get(headers, Opts, [])},
    {ok, Req} = py_remote:start(App, Head, maps:remove(headers, Opts)),
    case Ctl of
        #{report_node := To} -> To ! {node, self(), py_remote:node(Req)};
        #{report_req := To} -> To ! {req, self(), Req};
        _ -> ok
    end,
    S = #{req => Req, chunks => Chunks, written => 0, ctl => Ctl, status => undefined,
          body => [], got => 0, sha => crypto:hash_init(sha256), reads => 0,
          others => [], node => py_remote:node(Req), aborted => false},
    loop(send(S)).

send(#{chunks := done} = S) ->
    S;
send(#{chunks := [], req := Req} = S) ->
    _ = py_remote:end_body(Req),
    S#{chunks := done};
send(#{chunks := [C | Cs], req := Req, written := W, ctl := Ctl} = S) ->
    case maps:get(abort_after_chunks, Ctl, none) of
        W ->
            S#{req := py_remote:abort(Req, client_gone), chunks := done, aborted := true};
        _ ->
            (maps:get(on_chunk, Ctl, fun() -> ok end))(),
            case py_remote:write_body(Req, C) of
                ok -> send(S#{chunks := Cs, written := W + 1});
                {partial, Rest} -> S#{chunks := {parked, [Rest | Cs]}};
                {error, _} -> S#{chunks := done}
            end
    end;
send(S) ->
    S.

loop(#{req := Req} = S) ->
    receive
        Msg ->
            case py_remote:handle(Msg, Req) of
                {ok, Events, Req1} -> events(Events, S#{req := Req1});
                unknown -> loop(S#{others := [Msg | maps:get(others, S)]})
            end
    after 30000 ->
            error({timeout, maps:remove(chunks, S)})
    end.

events([], S) ->
    loop(S);
events([{response, Status, _Headers, Body} | Es], S) ->
    events(Es, got(Body, S#{status := Status}));
events([{response_start, Status, _Headers} | Es], S) ->
    events(Es, S#{status := Status});
events([response_readable | Es], S) ->
    events(Es, drain(S));
events([body_writable | Es], #{chunks := {parked, Chunks}} = S) ->
    events(Es, send(S#{chunks := Chunks}));
events([body_unread | Es], S) ->
    events(Es, S#{chunks := done});
events([Last | _], S) when Last =:= done; element(1, Last) =:= failed ->
    #{body := Body, others := Others, sha := Sha} = S1 = drain(S),
    maps:without([req, ctl, chunks], S1#{body := iolist_to_binary(Body), last => Last,
                                         others := lists:reverse(Others),
                                         sha := crypto:hash_final(Sha)});
events([_ | Es], S) ->
    events(Es, S).

drain(#{req := Req, ctl := Ctl, reads := Reads} = S) ->
    case py_remote:read_response(Req, 65536) of
        {ok, Bin} ->
            case Reads rem maps:get(probe_every, Ctl, 1) of
                0 -> (maps:get(on_read, Ctl, fun(_) -> ok end))(Req);
                _ -> ok
            end,
            drain(got(Bin, S#{reads := Reads + 1}));
        _ ->
            S
    end.

got(Bin, #{got := Got, sha := Sha, body := Body, ctl := Ctl} = S) ->
    Body1 = case maps:get(keep_body, Ctl, true) of
                true -> [Body, Bin];
                false -> Body
            end,
    S#{got := Got + byte_size(Bin), sha := crypto:hash_update(Sha, Bin), body := Body1}.
