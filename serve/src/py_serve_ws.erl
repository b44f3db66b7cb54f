%% @doc WebSocket sessions (RFC 6455) for ASGI apps: the opening handshake's checks, then one
%% connection process relaying between the client's frames and the app's messages.
%%
%% The app runs an ASGI `websocket' session (`py_buffer.asgi_websocket') through the same
%% request API as an HTTP request ({@link py_remote}, so `--nodes N' too): its messages
%% travel as records ({@link py_serve_ws_record}) in the request's two bounded buffers, the
%% client's in the body buffer and the app's in the response buffer. So both directions have
%% backpressure: while the app does not read, the body buffer fills, the socket is not read
%% and TCP slows the client; while the client does not read, `gen_tcp:send' waits and the
%% app's sends wait for room.
%%
%% == The session ==
%% <ol>
%% <li>{@link upgrade/3} says whether a request asks for a WebSocket: a GET of HTTP/1.1 or
%%     later with `Upgrade: websocket' and `Connection: upgrade' (tokens, any case). Others
%%     are plain HTTP requests (as under uvicorn). A bad `Sec-WebSocket-Version' is 426 with
%%     `Sec-WebSocket-Version: 13', a missing or bad `Sec-WebSocket-Key' 400.</li>
%% <li>{@link serve/1}: the app answers `websocket.accept' (the `101' head goes out with
%%     `Sec-WebSocket-Accept' and the app's headers and subprotocol) or refuses it
%%     (`websocket.close' before accepting, or returning: 403; raising: 500).</li>
%% <li>Frames are decoded by {@link py_serve_ws_frame}: whole messages go to the app, pings
%%     are answered with pongs here, a protocol error closes with its code (1002, 1007, 1009
%%     for a message over `--ws-max-size').</li>
%% <li>Closing: a client's close frame is answered with the same code and reaches the app as
%%     `websocket.disconnect'; the app's `websocket.close' goes out as a close frame; an
%%     app that returns without one closes with 1000, one that raises with 1011. The
%%     connection closes once both sides sent their close and the app returned, or when the
%%     client does not answer a close within `--body-timeout'. A client that drops the
%%     connection is `websocket.disconnect' 1006 for the app (the body aborted).</li>
%% </ol>
%% A shutdown ({@link shutdown/0}) closes every session with 1012 (the app gets it as its
%% `websocket.disconnect'), so an open session does not hold the server for the grace
%% period. No keep-alive pings are sent (uvicorn pings every 20 s); a session without traffic stays
%% open until one side closes it.
-module(py_serve_ws).

-export([init/0, upgrade/3, serve/1, shutdown/0]).
-export_type([session/0]).

-define(GUID, <<"258EAFA5-E914-47DA-95CA-C5AB0DC85B11">>).
%% The `pg' scope and group of the sessions, which a shutdown closes.
-define(SCOPE, py_serve_ws).
-define(GROUP, sessions).
%% The close code of a session the server's shutdown ends ("service restart", as uvicorn).
-define(SHUTDOWN_CODE, 1012).
%% The close code of a session whose client did not answer a ping in time (as `websockets').
-define(PING_TIMEOUT_CODE, 1011).

-type session() :: #{sock := term(), req := py_remote:req(), key := binary(),
                     max_size := pos_integer(), close_timeout := timeout(),
                     ping := {Interval :: non_neg_integer(), Timeout :: pos_integer()}}.
%% What {@link serve/1} needs: the socket, the started request (`websocket => true'), the
%% client's key, the largest message accepted, how long to wait for the client's close,
%% and how often to ping (ms, 0: never) and how long a pong may take.

-type result() :: #{status := non_neg_integer(), sent := non_neg_integer(),
                    received := non_neg_integer(), note := iodata()}.
%% For the access log: the status answered, the bytes sent and received, a note.

-record(ws, {sock :: py_serve_socket:socket(),
             tags :: py_serve_socket:tags(),
             req :: py_remote:req(),
             decoder :: py_serve_ws_frame:decoder(),
             reader = py_serve_ws_record:reader() :: py_serve_ws_record:reader(),
             %% Records (and `eof') for the body buffer waiting for room, in order.
             queue = queue:new() :: queue:queue(iodata() | eof),
             %% The client's side: open, or it closed (close frame, drop, protocol error).
             in = open :: open | closed,
             %% Ours: before the 101, open, or our close frame sent (or the socket gone).
             out = connecting :: connecting | open | closed,
             ended = false :: false | done | failed,
             %% The socket is armed (`{active, once}').
             armed = false :: boolean(),
             close_timeout :: timeout(),
             %% The server's shutdown came before the app answered.
             going_away = false :: boolean(),
             %% Keep-alive: ping every Interval ms (0: never); the payload of the ping
             %% whose pong is awaited.
             ping = {0, 1} :: {non_neg_integer(), pos_integer()},
             awaiting = none :: none | binary(),
             status = 101 :: non_neg_integer(),
             sent = 0 :: non_neg_integer(),
             received = 0 :: non_neg_integer(),
             note = [] :: iodata()}).

%% @doc Starts the scope sessions join (once, before the listener starts).
-spec init() -> ok.
init() ->
    {ok, _} = pg:start_link(?SCOPE),
    ok.

%% @doc Closes every session (the server is shutting down): the client gets a close frame
%% with 1012, the app the same code as its `websocket.disconnect'.
-spec shutdown() -> ok.
shutdown() ->
    lists:foreach(fun(Session) -> Session ! {?MODULE, shutdown} end,
                  pg:get_members(?SCOPE, ?GROUP)).

%% @doc Whether the request `Method', `Version', `Headers' (names lower-case) opens a
%% WebSocket: `no' (a plain HTTP request), `{ok, Key}', or `{error, Status, Headers, Why}'
%% (answer `Status' with `Headers' and close).
-spec upgrade(binary(), {non_neg_integer(), non_neg_integer()}, [{binary(), binary()}]) ->
          no | {ok, binary()} | {error, 400 | 426, [{binary(), binary()}], atom()}.
upgrade(<<"GET">>, Version, Headers) when Version >= {1, 1} ->
    case lists:member(<<"websocket">>, py_serve_framing:values(<<"upgrade">>, Headers))
        andalso lists:member(<<"upgrade">>, py_serve_framing:values(<<"connection">>, Headers)) of
        false -> no;
        true -> checked(raw(<<"sec-websocket-version">>, Headers),
                        raw(<<"sec-websocket-key">>, Headers))
    end;
upgrade(_Method, _Version, _Headers) ->
    no.

checked([<<"13">>], [Key]) ->
    case byte_size(Key) =:= 24 andalso decoded(Key) of
        <<_:16/binary>> -> {ok, Key};
        _ -> {error, 400, [], bad_websocket_key}
    end;
checked([<<"13">>], _Keys) ->
    {error, 400, [], bad_websocket_key};
checked(_Versions, _Keys) ->
    {error, 426, [{<<"sec-websocket-version">>, <<"13">>}], bad_websocket_version}.

decoded(Key) ->
    try base64:decode(Key) catch error:_ -> bad end.

%% The values of every `Name' line, trimmed, not split on commas.
raw(Name, Headers) ->
    [py_serve_framing:trim_ows(V) || {N, V} <- Headers, N =:= Name].

%% @doc Runs the session of a started request until its end; the caller then closes the
%% connection.
-spec serve(session()) -> result().
serve(#{sock := Socket, req := Req, key := Key, max_size := Max, close_timeout := Timeout,
        ping := Ping}) ->
    ok = pg:join(?SCOPE, ?GROUP, self()),
    W = #ws{sock = Socket, tags = py_serve_socket:tags(Socket), req = Req,
            decoder = py_serve_ws_frame:new(Max),
            close_timeout = Timeout, ping = Ping},
    #ws{status = Status, sent = Sent, received = Received, note = Note} = connecting(W, Key),
    #{status => Status, sent => Sent, received => Received, note => Note}.

%% ---- before the answer -------------------------------------------------------------------

%% Waits for the app's answer: the 101 head, or a refusal (a whole response), or its end.
connecting(#ws{req = Req, tags = {_, TcpClosed, TcpError, Owner}} = W, Key) ->
    receive
        {?MODULE, shutdown} -> connecting(W#ws{going_away = true}, Key);
        {TcpClosed, Owner} -> finish(client_gone(W));
        {TcpError, Owner, _} -> finish(client_gone(W));
        Msg ->
            case py_remote:handle(Msg, Req) of
                {ok, Events, Req1} -> answer(Events, W#ws{req = Req1}, Key);
                unknown -> connecting(W, Key)
            end
    end.

answer([], W, Key) ->
    connecting(W, Key);
answer([{response_start, 101, Headers} | Rest], #ws{in = open} = W, Key) ->
    Accept = base64:encode(crypto:hash(sha, [Key, ?GUID])),
    Own = [{<<"upgrade">>, <<"websocket">>}, {<<"connection">>, <<"Upgrade">>},
           {<<"sec-websocket-accept">>, Accept}],
    App = [H || {N, _} = H <- Headers,
                not lists:member(py_serve_framing:lower(N), [N1 || {N1, _} <- Own])],
    {Head, none, false} = py_serve_response:stream_head(<<"GET">>, {1, 1}, 101, Own ++ App,
                                                        false),
    W1 = send(W#ws{out = open}, Head),
    %% Bytes the head reader took beyond the head (py_serve_ahead) are the client's first
    %% frames.
    W2 = events(Rest, frames(py_serve_ahead:take(), W1)),
    W3 = case W2#ws.going_away of
             true -> going_away(W2);
             false -> next_ping(W2)
         end,
    finish(session(arm(W3)));
answer([{response, Status, Headers, Body} | _], W, _Key) ->
    refused(W, py_serve_status:code(Status),
            py_serve_response:whole(<<"GET">>, {1, 1}, Status, Headers, {Body, true}));
answer([{failed, Reason} | _], W, _Key) ->
    Status = case Reason of {node_down, _} -> 502; {proxy_down, _} -> 502; _ -> 500 end,
    refused(W#ws{ended = failed, note = io_lib:format("failed: ~P", [Reason, 8])}, Status,
            py_serve_response:simple(<<"GET">>, {1, 1}, Status));
answer([done | _], W, _Key) ->
    W#ws{ended = done, status = 0, note = "ended without an answer"};
answer([_ | Rest], W, Key) ->
    answer(Rest, W, Key).

%% The handshake refused with a whole response: sent; the request's end awaited.
refused(W, Status, Response) ->
    W1 = send(W#ws{status = Status, out = closed, in = closed}, Response),
    finish(W1).

%% ---- the session -------------------------------------------------------------------------

session(#ws{in = closed, out = closed, ended = Ended} = W) when Ended =/= false ->
    W;
session(#ws{tags = {Tcp, TcpClosed, TcpError, Owner}, req = Req} = W) ->
    Wait = case W of
               #ws{out = closed, ended = Ended} when Ended =/= false -> W#ws.close_timeout;
               _ -> infinity
           end,
    receive
        {Tcp, Owner, Data} ->
            session(arm(frames(Data, W#ws{armed = false,
                                          received = W#ws.received + byte_size(Data)})));
        {TcpClosed, Owner} ->
            session(client_gone(W));
        {TcpError, Owner, _} ->
            session(client_gone(W));
        {?MODULE, shutdown} ->
            session(going_away(W));
        {?MODULE, ping} ->
            session(ping(W));
        {?MODULE, pong_due, Payload} ->
            session(pong_due(W, Payload));
        Msg ->
            case py_remote:handle(Msg, Req) of
                {ok, Events, Req1} -> session(arm(events(Events, W#ws{req = Req1})));
                unknown -> session(W)
            end
    after Wait ->
        W#ws{in = closed, note = "no close from the client"}
    end.

%% The socket re-armed when the client's side is open and its messages went to the app.
arm(#ws{armed = false, in = open, out = Out, sock = Socket} = W) when Out =/= connecting ->
    case queue:is_empty(W#ws.queue) andalso mochiweb_socket:setopts(Socket, [{active, once}]) of
        ok -> W#ws{armed = true};
        false -> W;
        {error, _} -> client_gone(W)
    end;
arm(W) ->
    W.

%% The client's frames.
frames(Data, #ws{in = open, decoder = Decoder} = W) ->
    case py_serve_ws_frame:decode(Data, Decoder) of
        {ok, Messages, Decoder1} -> lists:foldl(fun message/2, W#ws{decoder = Decoder1}, Messages);
        {error, Code, Why} -> protocol_error(W, Code, Why)
    end;
frames(_Data, W) ->
    W.

message(_Message, #ws{in = closed} = W) ->
    W;  % after its close frame, or once the app closed: nothing more goes to the app
message({Kind, _Payload}, #ws{out = closed} = W) when Kind =:= text; Kind =:= binary ->
    W;  % our close went out: the client's last data is dropped, its close awaited
message({Kind, Payload}, W) when Kind =:= text; Kind =:= binary ->
    to_app(W, py_serve_ws_record:record(Kind, Payload));
message({ping, Payload}, W) ->
    frame(W, pong, Payload);
message({pong, Payload}, #ws{awaiting = Payload} = W) ->
    next_ping(W#ws{awaiting = none});
message({pong, _Payload}, W) ->
    W;  % unsolicited (a heartbeat of the client's), or not the last ping's
message({close, Close}, W) ->
    {Code, Reason} = case Close of none -> {1005, <<>>}; {C, R} -> {C, R} end,
    Reply = case Close of none -> <<>>; {C1, _} -> py_serve_ws_frame:close_payload(C1, <<>>) end,
    W1 = frame(W, close, Reply),
    W2 = to_app(W1#ws{out = closed}, py_serve_ws_record:record(close, <<Code:16, Reason/binary>>)),
    to_app(W2#ws{in = closed}, eof).

%% A frame the RFC does not allow: closed with its code (the app told so), no close awaited.
protocol_error(W, Code, Why) ->
    closed_by_server(W#ws{note = atom_to_list(Why)}, Code).

%% ---- keep-alive pings --------------------------------------------------------------------

next_ping(#ws{ping = {0, _}} = W) ->
    W;
next_ping(#ws{ping = {Interval, _}} = W) ->
    _ = erlang:send_after(Interval, self(), {?MODULE, ping}),
    W.

%% A ping, its pong due within the timeout.
ping(#ws{out = open, ping = {_, Timeout}} = W) ->
    Payload = crypto:strong_rand_bytes(4),
    _ = erlang:send_after(Timeout, self(), {?MODULE, pong_due, Payload}),
    frame(W#ws{awaiting = Payload}, ping, Payload);
ping(W) ->
    W.

%% The timeout of a ping: if its pong has not come, the client is taken for gone.
pong_due(#ws{awaiting = Payload} = W, Payload) ->
    closed_by_server(W#ws{note = "no pong"}, ?PING_TIMEOUT_CODE);
pong_due(W, _Payload) ->
    W.

%% The server's shutdown: closed with 1012, no close awaited.
going_away(W) ->
    closed_by_server(W#ws{note = "server shutdown"}, ?SHUTDOWN_CODE).

closed_by_server(#ws{in = closed} = W, _Code) ->
    W;
closed_by_server(W, Code) ->
    W1 = frame(W, close, py_serve_ws_frame:close_payload(Code, <<>>)),
    W2 = to_app(W1#ws{out = closed}, py_serve_ws_record:record(close, <<Code:16>>)),
    to_app(W2#ws{in = closed}, eof).

%% A record (or the end) for the app, in order behind those waiting for room.
to_app(#ws{queue = Queue} = W, Item) ->
    case queue:is_empty(Queue) of
        true -> write(W#ws{queue = queue:in(Item, Queue)});
        false -> W#ws{queue = queue:in(Item, Queue)}
    end.

%% Writes what waits for the app, until the body buffer is full (`body_writable' goes on).
write(#ws{req = Req, queue = Queue} = W) ->
    case queue:out(Queue) of
        {empty, _} ->
            W;
        {{value, eof}, Rest} ->
            _ = py_remote:end_body(Req),
            %% The client's side is over: the app still reads what came before, and its
            %% later sends fail (ASGI 2.4: `OSError'); an ended body is not aborted, only the
            %% response's reader closed.
            write(W#ws{req = py_remote:abort(Req, websocket_closed), queue = Rest});
        {{value, Record}, Rest} ->
            case py_remote:write_body(Req, Record) of
                {partial, Left} -> W#ws{queue = queue:in_r(Left, Rest)};
                _ -> write(W#ws{queue = Rest})  % ok, or the app stopped reading: dropped
            end
    end.

%% ---- the app's side ----------------------------------------------------------------------

events(Events, W) ->
    lists:foldl(fun event/2, W, Events).

event(response_readable, W) ->
    relay(W);
event(body_writable, W) ->
    write(W);
event(done, W) ->
    ended(relay(W#ws{ended = done}), 1000);
event({failed, Reason}, W) ->
    ended(W#ws{ended = failed, note = io_lib:format("failed: ~P", [Reason, 8])}, 1011);
event(_Event, W) ->
    W.

%% The app ended: what waited for it is dropped (so the socket is read again, for the
%% client's close), and our close goes out with `Code' unless one did.
ended(#ws{out = open} = W, Code) ->
    W1 = frame(W#ws{queue = queue:new()}, close, py_serve_ws_frame:close_payload(Code, <<>>)),
    W1#ws{out = closed};
ended(W, _Code) ->
    W#ws{queue = queue:new()}.

%% The app's records, read from the response buffer until it would wait, sent as frames.
relay(#ws{req = Req} = W) ->
    case py_remote:read_response(Req, 262144) of
        {ok, Bytes} ->
            {Records, Reader} = py_serve_ws_record:read(Bytes, W#ws.reader),
            relay(lists:foldl(fun app_record/2, W#ws{reader = Reader}, Records));
        _ ->
            W  % wait (another `response_readable' comes), eof, or broken off (`failed' comes)
    end.

app_record(_Record, #ws{out = closed} = W) ->
    W;
app_record({close, <<Code:16, Reason/binary>>}, W) ->
    %% The reason cut to fit a control frame (125 bytes), at a character's boundary.
    (frame(W, close, py_serve_ws_frame:close_payload(Code, Reason)))#ws{out = closed};
app_record({Kind, Payload}, W) ->
    frame(W, Kind, Payload).

%% ---- the wire ----------------------------------------------------------------------------

%% A frame to the client, while our side is open (not before the 101, nor after our close).
frame(#ws{out = open} = W, Kind, Payload) ->
    send(W, py_serve_ws_frame:encode(Kind, Payload));
frame(W, _Kind, _Payload) ->
    W.

send(#ws{sock = Socket} = W, Data) ->
    case mochiweb_socket:send(Socket, Data) of
        ok -> W#ws{sent = W#ws.sent + iolist_size(Data)};
        {error, _} -> client_gone(W)
    end.

%% The connection dropped (or a send failed): the app's body aborted (`websocket.disconnect'
%% 1006), nothing more is sent.
client_gone(#ws{req = Req} = W) ->
    W#ws{req = py_remote:abort(Req, client_closed), in = closed, out = closed,
         queue = queue:new(), note = "client gone"}.

%% Waits for the request's end (its last event), the session being over.
finish(#ws{ended = false, req = Req} = W) ->
    receive
        Msg ->
            case py_remote:handle(Msg, Req) of
                {ok, Events, Req1} -> finish(ends(Events, W#ws{req = Req1}));
                unknown -> finish(W)
            end
    end;
finish(W) ->
    W.

ends(Events, W) ->
    lists:foldl(fun(done, W1) -> W1#ws{ended = done};
                   ({failed, _}, W1) -> W1#ws{ended = failed};
                   (response_readable, W1) -> relay(W1);
                   (_, W1) -> W1
                end, W, Events).
