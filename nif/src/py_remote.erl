%% @doc One HTTP request served by a WSGI or ASGI app on another BEAM node (an app node, each
%% with its own CPython and GIL), with the shape of {@link py_request}: an HTTP server process
%% switches from local to remote serving by calling this module instead (issue 14). Same
%% functions, same events, same loop (see the `py_request' module doc); what differs is
%% listed here.
%%
%% == Routing ==
%% {@link start/3} picks the node: the option `node => Node' names it; otherwise the node
%% with the fewest outstanding requests among those {@link py_nodes} serves (see
%% {@link py_route}). When the chosen node is this one, or when no {@link py_nodes} runs
%% here, the request is a plain local {@link py_request} wrapped by this module: exactly the
%% single-node path (one VM: no proxy, no hop). `{error, no_nodes}' when no node serves (answer
%% 503).
%%
%% == The hop ==
%% A remote request is a process on the app node ({@link py_remote_proxy}, spawned and
%% monitored by the caller) that drives a local `py_request' there: buffers never cross
%% nodes. Bytes cross as messages with credit-based flow control, `window' bytes each way
%% (option, default 128 KiB = 2 × 64 KiB):
%% <ul>
%% <li>request body: {@link write_body/2} sends at most `window' bytes that the app node has
%%     not acknowledged; past that it returns `{partial, Rest}' and `body_writable' comes when
%%     acknowledgements return credit. The app node acknowledges bytes as they enter its body
%%     buffer, so a request holds at most `window' bytes in flight plus the app node's
%%     `body_buffer';</li>
%% <li>response body: the app node sends at most `window' bytes the caller has not read;
%%     {@link read_response/2} returns credit as it reads (when half the window was read, or
%%     everything received). So the caller's process holds at most `window' response bytes
%%     (a whole `{response, ...}' event excepted, as locally).</li>
%% </ul>
%%
%% == Differences from py_request ==
%% <ul>
%% <li>Errors found on the app node arrive later: a body write the app refuses
%%     (`reader_closed', `{truncated, _, _}' at end) is reported by the next
%%     {@link write_body/2} or {@link end_body/1} (a waiting writer gets `body_writable' so it
%%     finds out); `body_unread' comes as locally. Limits (`max_body', the content length)
%%     are checked here, synchronously, as locally.</li>
%% <li>A start that fails on the app node (Python not available, ...) is the event
%%     `{failed, Reason}' instead of `{error, Reason}' from {@link start/3}.</li>
%% <li>`{failed, {node_down, Node}}': the app node died or became unreachable (the proxy's
%%     monitor fired with `noconnection'); `{failed, {proxy_down, Reason}}': the proxy
%%     crashed. A dead node is seen at once (its connection closes); an unreachable one within
%%     the distribution tick bound, 1.25 × `net_ticktime' ({@link py_nodes} sets 4 s, so at
%%     most 5 s). Answer 502 if no response started, else close the connection.</li>
%% <li>After `{failed, _}' {@link read_response/2} returns the bytes that arrived, then
%%     `{error, {aborted, Reason}}' unless the response had ended.</li>
%% <li>The request's flow state lives in the calling process's dictionary (key
%%     `{py_remote, Tag}'; erased when {@link read_response/2} reaches the end after the last
%%     event, or at the last event if nothing is left): use a request only from the process
%%     that started it, and read the response to its end.</li>
%% </ul>
%% Every message of a remote request is `{py_remote, Tag, _}' or the proxy's `'DOWN''
%% (see {@link py_remote_proxy} for the protocol); {@link handle/2} classifies them.
-module(py_remote).

-export([start/3, write_body/2, end_body/1, abort/2, handle/2, read_response/2,
         node/1, proxy/1, reports_demand/1]).
-export_type([req/0, options/0]).

-define(WINDOW, 131072).

-record(remote,
        {node :: node(),
         tag :: reference(),
         key :: py_route:key() | undefined,
         window :: pos_integer(),
         length :: non_neg_integer() | undefined,
         max :: non_neg_integer() | infinity,
         ended = false :: false | done | {failed, term()},
         %% What reads return once the flow state is erased (after the last event).
         final = eof :: eof | {error, term()}}).

%% The mutable part, in the process dictionary (write_body/2, end_body/1 and
%% read_response/2 return no new request value, as in py_request where it lives in buffers).
-record(flow,
        {%% The proxy: spawned with the first message to it (the first body chunk rides in
         %% the spawn request), then up once the spawn reply named its pid (messages to it
         %% wait here meanwhile, newest first).
         proxy :: {unspawned, list()} | {spawning, reference(), [term()]}
                | {up, reference(), pid()} | gone,
         inflight = 0 :: non_neg_integer(),
         sent = 0 :: non_neg_integer(),
         want = false :: boolean(),
         body = open :: open | ended | {error, term()},
         q = queue:new() :: queue:queue(binary()),
         uncredited = 0 :: non_neg_integer(),
         resp = open :: open | eof | {error, term()},
         armed = true :: boolean()}).

-opaque req() :: #remote{} | {local, module(), term(), py_route:key() | undefined}.
%% A local request holds its backend module (`py_request', or the module of a
%% `{module, M, Arg}' app) and its request value.
-type options() :: #{node => node(), window => pos_integer(), _ => _}.
%% {@link py_request:options()} plus `node' (serve on this node instead of routing) and
%% `window' (the credit each way, bytes; default 131072).

%% @doc Starts serving a request on a node (see Routing): `{ok, Req}', `{error, {body_too_large,
%% Length, Max}}' (nothing started), `{error, no_nodes}', or a local start's error.
-spec start(py_remote_proxy:app(), py_request:head(), options()) ->
          {ok, req()} | {error, term()}.
start(App, Head, Opts) when is_map(Head), is_map(Opts) ->
    Length = maps:get(content_length, Opts, undefined),
    Max = maps:get(max_body, Opts, infinity),
    case py_request:body_too_large(Length, Max) of
        true ->
            {error, {body_too_large, Length, Max}};
        false ->
            case py_route:checkout(maps:get(node, Opts, any)) of
                {local, Key} -> local(App, Head, Opts, Key);
                {remote, Node, Key} -> remote(Node, Key, App, Head, Opts, Length, Max);
                {error, no_nodes} = Error -> Error
            end
    end.

local({module, M, Arg}, Head, Opts, Key) ->
    started(M, M:start(Arg, Head, Opts), Key);
local(App, Head, Opts, Key) ->
    started(py_request, py_request:start(App, Head, Opts), Key).

started(Mod, {ok, Req}, Key) ->
    {ok, {local, Mod, Req, Key}};
started(_Mod, Error, Key) ->
    py_route:release(Key),
    Error.

remote(Node, Key, App, Head, Opts, Length, Max) ->
    Window = maps:get(window, Opts, ?WINDOW),
    Tag = make_ref(),
    ProxyOpts = maps:without([node], Opts#{window => Window, release => Key}),
    R = #remote{node = Node, tag = Tag, key = Key, window = Window, length = Length, max = Max},
    F = #flow{proxy = {unspawned, [self(), Tag, App, Head, ProxyOpts]}},
    ok = case Length of
        0 ->
            %% No body will be written: the app starts now.
            put_flow(R, spawn_proxy(R, F, []));
        _ ->
            %% The first body write, end_body/1 or abort/2 spawns the proxy with it (one
            %% round trip less); this message spawns it if none comes first (a server that
            %% waits for `body_demand' before reading the client's body).
            put_flow(R, F),
            self() ! {py_remote, Tag, spawn},
            ok
    end,
    {ok, R}.

%% @doc Writes request body bytes: `ok', `{partial, Rest}' (out of credit: write `Rest' after
%% `body_writable') or `{error, Reason}' as {@link py_request:write_body/2}.
-spec write_body(req(), iodata()) -> ok | {partial, binary()} | {error, term()}.
write_body({local, Mod, Req, _}, Data) ->
    Mod:write_body(Req, Data);
write_body(#remote{} = R, Data) ->
    F = flow(R),
    case F#flow.body of
        open -> write(R, F, iolist_to_binary(Data));
        ended -> {error, closed};
        {error, Reason} -> {error, Reason}
    end.

write(_R, _F, <<>>) ->
    ok;
write(#remote{length = undefined, max = Max} = R, #flow{sent = Sent} = F, Bin)
  when Max =/= infinity, Sent + byte_size(Bin) > Max ->
    F1 = send(R, F, {abort, body_too_large}),
    put_flow(R, F1#flow{body = {error, {aborted, body_too_large}}, want = false}),
    {error, body_too_large};
write(#remote{length = Length}, #flow{sent = Sent}, Bin)
  when is_integer(Length), Sent + byte_size(Bin) > Length ->
    {error, {overflow, Length, Sent + byte_size(Bin)}};
write(#remote{window = W} = R, #flow{inflight = In, sent = Sent} = F, Bin) ->
    Room = W - In,
    Size = byte_size(Bin),
    if
        Size =< Room ->
            F1 = send(R, F, {body, Bin}),
            put_flow(R, F1#flow{inflight = In + Size, sent = Sent + Size}),
            ok;
        Room > 0 ->
            <<Now:Room/binary, Rest/binary>> = Bin,
            F1 = send(R, F, {body, Now}),
            put_flow(R, F1#flow{inflight = W, sent = Sent + Room, want = true}),
            {partial, Rest};
        true ->
            put_flow(R, F#flow{want = true}),
            {partial, Bin}
    end.

%% @doc The request body is complete: `ok', or `{error, {truncated, Length, Sent}}' when a
%% content length was given and fewer bytes were written (the app sees `BodyTruncated').
-spec end_body(req()) -> ok | {error, term()}.
end_body({local, Mod, Req, _}) ->
    Mod:end_body(Req);
end_body(#remote{length = Length} = R) ->
    F = flow(R),
    case F#flow.body of
        open ->
            put_flow(R, (send(R, F, end_body))#flow{body = ended}),
            case Length of
                N when is_integer(N), F#flow.sent < N -> {error, {truncated, N, F#flow.sent}};
                _ -> ok
            end;
        ended ->
            ok;
        {error, Reason} ->
            {error, Reason}
    end.

%% @doc The client went away: the app node aborts the body with `Reason' and closes the
%% response's reader ({@link py_request:abort/2} there). Keep handling until the last event.
-spec abort(req(), term()) -> req().
abort({local, Mod, Req, Key}, Reason) ->
    {local, Mod, Mod:abort(Req, Reason), Key};
abort(#remote{ended = false} = R, Reason) ->
    F = send(R, flow(R), {abort, Reason}),
    case F#flow.body of
        {error, _} -> put_flow(R, F);
        _ -> put_flow(R, F#flow{body = {error, {aborted, Reason}}, want = false})
    end,
    R;
abort(R, _Reason) ->
    R.

%% @doc Classifies a message: `{ok, Events, Req1}' if it belongs to the request (the events of
%% {@link py_request:handle/2}, plus `{failed, {node_down, Node}}'), `unknown' otherwise.
-spec handle(term(), req()) -> {ok, [py_request:event()], req()} | unknown.
handle(Msg, {local, Mod, Req, Key}) ->
    case Mod:handle(Msg, Req) of
        {ok, Events, Req1} ->
            case lists:any(fun is_last/1, Events) of
                true -> py_route:release(Key);
                false -> ok
            end,
            {ok, Events, {local, Mod, Req1, Key}};
        unknown ->
            unknown
    end;
handle({py_remote, Tag, Msg}, #remote{tag = Tag, ended = false} = R) ->
    message(Msg, R, flow(R));
handle({'DOWN', Mon, process, _, Reason}, #remote{ended = false} = R) ->
    case flow(R) of
        #flow{proxy = {_, Mon, _}} = F -> last({failed, why(Reason, R)}, R, F);
        _ -> unknown
    end;
handle({spawn_reply, Mon, error, Reason}, #remote{ended = false} = R) ->
    case flow(R) of
        #flow{proxy = {spawning, Mon, _}} = F ->
            last({failed, why(Reason, R)}, R, F#flow{proxy = gone});
        _ ->
            unknown
    end;
handle(_Msg, _Req) ->
    unknown.

why(noconnection, #remote{node = Node}) -> {node_down, Node};
why(Reason, _R) -> {proxy_down, Reason}.

%% @doc Reads up to `Max' bytes of the response body without waiting, as
%% {@link py_request:read_response/2}: `{ok, Bin}', `wait' (`response_readable' will come),
%% `eof' or `{error, Reason}'.
-spec read_response(req(), pos_integer()) -> {ok, binary()} | wait | eof | {error, term()}.
read_response({local, Mod, Req, _}, Max) ->
    Mod:read_response(Req, Max);
read_response(#remote{tag = Tag} = R, Max) when is_integer(Max), Max > 0 ->
    case get({py_remote, Tag}) of
        undefined -> R#remote.final;
        F -> read(R, F, Max)
    end.

read(R, #flow{q = Q} = F, Max) ->
    case queue:out(Q) of
        {{value, Bin}, Q1} ->
            {Out, Q2} = case Bin of
                            <<Head:Max/binary, Tail/binary>> when Tail =/= <<>> ->
                                {Head, queue:in_r(Tail, Q1)};
                            _ ->
                                {Bin, Q1}
                        end,
            put_flow(R, credit(R, F#flow{q = Q2,
                                         uncredited = F#flow.uncredited + byte_size(Out)})),
            {ok, Out};
        {empty, _} when F#flow.resp =:= open ->
            put_flow(R, F#flow{armed = true}),
            wait;
        {empty, _} ->
            case R#remote.ended of
                false -> ok;
                _ -> erase({py_remote, R#remote.tag})
            end,
            F#flow.resp
    end.

%% Credit back when half the window was read, or everything received was.
credit(#remote{ended = false, window = W} = R, #flow{uncredited = U, resp = open} = F)
  when U > 0 ->
    case U >= W div 2 orelse queue:is_empty(F#flow.q) of
        true -> (send(R, F, {credit, U}))#flow{uncredited = 0};
        false -> F
    end;
credit(_R, F) ->
    F.

%% @doc The proxy process of a remote request once its pid is known (`undefined' before, and
%% for a local request): for tests and introspection.
-spec proxy(req()) -> pid() | undefined.
proxy(#remote{} = R) ->
    case get({py_remote, R#remote.tag}) of
        #flow{proxy = {up, _, Pid}} -> Pid;
        _ -> undefined
    end;
proxy(_Local) ->
    undefined.

%% @doc The node serving the request.
-spec node(req()) -> node().
node({local, _, _, _}) -> erlang:node();
node(#remote{node = Node}) -> Node.

%% @doc Whether the app's node sends `body_demand' (its NIF reports `demand'; assumed the same
%% build on every node): the moment for `100 Continue', else send it at once.
-spec reports_demand(req()) -> boolean().
reports_demand({local, py_request, Req, _}) ->
    {Body, _} = py_request:buffers(Req),
    lists:member(demanded, maps:keys(py_buffer:info(Body)));
reports_demand({local, _Mod, _Req, _}) ->
    false;
reports_demand(#remote{}) ->
    case persistent_term:get({?MODULE, demand}, undefined) of
        undefined ->
            {ok, Buf} = py_buffer:new(),
            Demand = lists:member(demanded, maps:keys(py_buffer:info(Buf))),
            _ = py_buffer:abort(Buf, probe),
            persistent_term:put({?MODULE, demand}, Demand),
            Demand;
        Demand ->
            Demand
    end.

%% ---- internals ---------------------------------------------------------------------------

is_last(done) -> true;
is_last({failed, _}) -> true;
is_last(_) -> false.

message({ack, N}, #remote{window = W} = R, #flow{inflight = In, want = Want} = F) ->
    In1 = max(In - N, 0),
    case Want andalso In1 < W of
        true -> reply([body_writable], R, F#flow{inflight = In1, want = false});
        false -> reply([], R, F#flow{inflight = In1})
    end;
message({body_error, Reason}, R, #flow{want = Want} = F) ->
    F1 = F#flow{body = {error, Reason}, want = false},
    reply([body_writable || Want], R, F1);
message({event, body_unread}, R, F) ->
    Body = case F#flow.body of
               {error, _} = Error -> Error;
               _ -> {error, reader_closed}
           end,
    reply([body_unread], R, F#flow{body = Body, want = false});
message({proxy, Pid}, R, #flow{proxy = {spawning, Mon, Queue}} = F) ->
    F1 = F#flow{proxy = {up, Mon, Pid}},
    reply([], R, lists:foldr(fun(M, Fa) -> send(R, Fa, M) end, F1, Queue));
message(spawn, R, #flow{proxy = {unspawned, _}} = F) ->
    reply([], R, spawn_proxy(R, F, []));
message({event, Event}, R, F) ->
    reply([Event], R, F);
message({data, Bin}, R, #flow{q = Q} = F) ->
    readable(R, F#flow{q = queue:in(Bin, Q)});
message(response_eof, R, F) ->
    readable(R, F#flow{resp = eof});
message({response_error, Reason}, R, F) ->
    readable(R, F#flow{resp = {error, Reason}});
message({last, Last}, R, F) ->
    last(Last, R, F);
message({batch, Msgs}, R, F) ->
    batch(Msgs, R, F, []);
message(_Other, R, F) ->
    reply([], R, F).

batch([Msg], R, F, Acc) ->
    {ok, Events, R1} = message(Msg, R, F),
    {ok, Acc ++ Events, R1};
batch([Msg | Msgs], R, F, Acc) ->
    {ok, Events, R1} = message(Msg, R, F),
    batch(Msgs, R1, flow(R1), Acc ++ Events).

readable(R, #flow{armed = true} = F) ->
    reply([response_readable], R, F#flow{armed = false});
readable(R, F) ->
    reply([], R, F).

reply(Events, R, F) ->
    put_flow(R, F),
    {ok, Events, R}.

last(Last, #remote{key = Key, tag = Tag} = R, F) ->
    case F#flow.proxy of
        {up, Mon, _} -> erlang:demonitor(Mon, [flush]);
        {spawning, Mon, _} -> _ = erlang:spawn_request_abandon(Mon), ok;
        _ -> ok
    end,
    %% The message asking for a spawn may still be in the mailbox.
    receive {py_remote, Tag, spawn} -> ok after 0 -> ok end,
    py_route:release(Key),
    Resp = case {F#flow.resp, Last} of
               {open, {failed, Why}} -> {error, {aborted, Why}};
               {Other, _} -> Other
           end,
    Body = case F#flow.body of
               open -> {error, reader_closed};
               B -> B
           end,
    F1 = F#flow{resp = Resp, body = Body, want = false, proxy = gone},
    R1 = R#remote{ended = Last, final = Resp},
    case queue:is_empty(F1#flow.q) of
        true -> erase({py_remote, Tag});
        false -> put_flow(R1, F1)
    end,
    {ok, [Last], R1}.

flow(#remote{tag = Tag, final = Final}) ->
    case get({py_remote, Tag}) of
        undefined -> #flow{body = {error, reader_closed}, resp = Final, proxy = gone};
        F -> F
    end.

put_flow(#remote{tag = Tag}, F) ->
    put({py_remote, Tag}, F),
    ok.

%% A message to the proxy: it spawns the proxy with it, waits for its pid, or goes.
send(R, #flow{proxy = {unspawned, _}} = F, Msg) ->
    spawn_proxy(R, F, [Msg]);
send(_R, #flow{proxy = {spawning, Mon, Queue}} = F, Msg) ->
    F#flow{proxy = {spawning, Mon, [Msg | Queue]}};
send(#remote{tag = Tag}, #flow{proxy = {up, _, Pid}} = F, Msg) ->
    _ = erlang:send(Pid, {py_remote, Tag, Msg}, [noconnect]),
    F;
send(_R, #flow{proxy = gone} = F, _Msg) ->
    F.

%% Asynchronous (no wait here): the proxy's first message names it; a failed spawn's reply
%% and the monitor's `DOWN' come to handle/2.
spawn_proxy(#remote{node = Node}, #flow{proxy = {unspawned, Args}} = F, First) ->
    Mon = erlang:spawn_request(Node, py_remote_proxy, init, Args ++ [First],
                               [monitor, {reply, error_only}]),
    F#flow{proxy = {spawning, Mon, []}}.
