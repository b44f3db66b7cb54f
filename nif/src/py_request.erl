%% @doc One HTTP request served by a Python WSGI or ASGI app in this VM, driven by any Erlang
%% HTTP server process (issue 10, the Erlang half of "Serving").
%%
%% The server process calls {@link start/3} with the app, the request head and a body
%% description; it then writes the request body ({@link write_body/2}, {@link end_body/1}),
%% receives the response head as a message and reads the response body
%% ({@link read_response/2}) — all without waiting anywhere but in its own `receive'. Every
%% message that belongs to the request goes through {@link handle/2}, which turns it into
%% events (like `gen_tcp'/`ssl' active-once sockets, but as a return value: the request is a
%% small state value the server keeps).
%%
%% == Where Python runs ==
%% A WSGI request is `py_buffer.serve.wsgi' on a worker of the `py' pool (it blocks that
%% worker thread, never a scheduler, while its body is slow or its response buffer full); an
%% ASGI request is `py_buffer.serve.asgi', which starts the request as a task on the app's
%% event-loop thread and returns at once. Once an app runs, its loop thread takes these calls
%% itself (an `erlang.Inbox' the NIF queues them to, no pool worker in between). {@link
%% py_app} runs an ASGI app's lifespan startup and shutdown ahead of time (else the first
%% request starts it).
%%
%% == Buffers and memory ==
%% The request body goes through a bounded buffer (`body_buffer' bytes, default 64 KiB): a
%% write that does not fit returns `{partial, Rest}'; write `Rest' after the event
%% `body_writable'. The response body comes through another bounded buffer
%% (`response_buffer', default 64 KiB): the app's writes wait (WSGI: its thread, ASGI: its
%% task) while the server has not read. So a request holds at most about `body_buffer' +
%% `response_buffer' bytes, however large its bodies; the exception is a whole response
%% (WSGI: a list result, ASGI: one final body), which arrives in one message up to the
%% adapters' `WHOLE_MAX' (1 MiB). Both buffers are owned by the server process: if it dies,
%% they are aborted (`{owner_down, Reason}'), so the app's body reads and response writes fail
%% and it ends.
%%
%% == Events ==
%% {@link handle/2} returns `{ok, Events, Req}' for a message of the request (`Events' is a
%% list, usually of zero or one event) and `unknown' for any other message:
%% <ul>
%% <li>`{response, Status, Headers, Body}': the whole response in one event (`Status' an
%%     integer, or `{Code, Phrase}' with the app's reason phrase when the request was started
%%     with `reason_phrase => true' and the app gave one (a WSGI status line's text);
%%     `Headers' a list of `{Name, Value}' binaries as the app gave them, `Body' a
%%     binary);</li>
%% <li>`{response_start, Status, Headers}': the head of a streamed response; its body follows
%%     through `response_readable' and {@link read_response/2};</li>
%% <li>`response_readable': call {@link read_response/2} until it returns `wait' (re-armed:
%%     another `response_readable' comes when there is more), `eof' (the body is complete) or
%%     `{error, {aborted, Reason}}' (the response broke off: close the connection);</li>
%% <li>`body_writable': the app read some of its body; write the `Rest' of a partial
%%     write;</li>
%% <li>`body_demand': the app waits for body bytes that have not arrived (once per request;
%%     e.g. the moment to send `100 Continue'). It needs a NIF that sends
%%     `{py_buffer, Buf, demand}' (from branch `nif-reads'); without it, never sent;</li>
%% <li>`body_unread': the app finished (or closed its input) without reading its body to the
%%     end: stop sending it (writes return `{error, reader_closed}'); drain the rest from the
%%     client within a limit or close the connection rather than keep it alive;</li>
%% <li>`done': the last event of a request that ended cleanly;</li>
%% <li>`{failed, Reason}': the last event of a request that did not: `Reason' is a binary (the
%%     `repr' of what ended the response after its head: an app error, or the client gone
%%     after {@link abort/2}) or the `py' call's error (`{python_error, Type, Message,
%%     Traceback}' e.g. for an app that cannot be imported, `not_started', `{python_init, _}').
%%     An app error before the head is not a failure: it is answered with a plain 500
%%     response.</li>
%% </ul>
%% Exactly one of `done' and `{failed, _}' comes, last, once the Python side is through with
%% the request (its end message and the `py' call's own reply both arrived); after it no
%% further message of this request arrives and none is left in the mailbox. Its response body
%% may still hold up to `response_buffer' unread bytes: {@link read_response/2} returns them
%% without ever returning `wait'.
%%
%% == Client gone ==
%% {@link abort/2} aborts the request body with a reason (the app's reads raise `BodyAborted';
%% ASGI: `receive()' returns `http.disconnect') and closes the response buffer's reader (the
%% app's writes fail; a WSGI result's `close()' is still called exactly once). Keep passing
%% messages to {@link handle/2} until the last event (it comes as soon as the app notices), or
%% let the process exit.
%%
%% == Example: the loop of an HTTP server process ==
%% ```
%% serve(Conn, Head, Length) ->
%%     case py_request:start({wsgi, <<"myapp:app">>}, Head,
%%                           #{content_length => Length, max_body => 8 bsl 20}) of
%%         {ok, Req} -> loop(Conn, Req, send_body(Conn, Req, recv_body(Conn)));
%%         {error, {body_too_large, _, _}} -> reply(Conn, 413)
%%     end.
%%
%% %% Body: one chunk at a time; `{partial, Rest}' parks it until `body_writable'.
%% send_body(Conn, Req, eof) -> ok = py_request:end_body(Req), sent;
%% send_body(Conn, Req, {ok, Chunk}) ->
%%     case py_request:write_body(Req, Chunk) of
%%         ok -> send_body(Conn, Req, recv_body(Conn));
%%         {partial, Rest} -> {parked, Rest};
%%         {error, _} -> sent                   % the app stopped reading (or the limit hit)
%%     end.
%%
%% loop(Conn, Req, Body) ->
%%     receive
%%         {tcp_closed, Conn} ->                % the client left: abort, then wait the end
%%             loop(Conn, py_request:abort(Req, client_closed), sent);
%%         Msg ->
%%             case py_request:handle(Msg, Req) of
%%                 {ok, Events, Req1} -> events(Events, Conn, Req1, Body);
%%                 unknown -> loop(Conn, Req, Body)
%%             end
%%     end.
%%
%% events([], Conn, Req, Body) -> loop(Conn, Req, Body);
%% events([{response, Status, Headers, Bin} | _], Conn, Req, Body) ->
%%     reply(Conn, Status, Headers, Bin), events([], Conn, Req, Body);
%% events([{response_start, Status, Headers} | Es], Conn, Req, Body) ->
%%     send_head(Conn, Status, Headers), events(Es, Conn, Req, Body);
%% events([response_readable | Es], Conn, Req, Body) ->
%%     stream(Conn, Req), events(Es, Conn, Req, Body);
%% events([body_writable | Es], Conn, Req, {parked, Rest}) ->
%%     events(Es, Conn, Req, send_body(Conn, Req, {ok, Rest}));
%% events([body_unread | Es], Conn, Req, _Body) -> events(Es, Conn, Req, sent);
%% events([done | _], Conn, Req, _Body) -> stream(Conn, Req), keep_alive;
%% events([{failed, _} | _], Conn, _Req, _Body) -> close(Conn);
%% events([_ | Es], Conn, Req, Body) -> events(Es, Conn, Req, Body).
%%
%% stream(Conn, Req) ->
%%     case py_request:read_response(Req, 65536) of
%%         {ok, Bin} -> send_chunk(Conn, Bin), stream(Conn, Req);
%%         wait -> ok;                           % another response_readable will come
%%         eof -> ok;
%%         {error, _} -> close(Conn)             % broke off: the client must not see it whole
%%     end.
%% '''
%% (A server reading its socket in active mode takes body chunks as they arrive instead of
%% `recv_body/1'; the flow is the same.)
%%
%% == The messages behind the events ==
%% For reference (the server never needs to match them): the Python side sends
%% `{Ref, {<<"start">>, Status, Headers, Body | none, More}}', `{Ref, {<<"finish">>,
%% BodyConsumed}}', `{Ref, {<<"fail">>, Repr}}' (`py_buffer.responder.ChannelResponder'
%% through `erlang.send', tagged with the request's reference), the `py' call replies
%% `{py_result, Ref, Result}', and the two buffers send their readiness messages
%% `{py_buffer, Buf, readable | writable | eof | reader_closed | demand}' (see
%% `py_buffer').
-module(py_request).

-export([start/3, write_body/2, end_body/1, abort/2, handle/2, read_response/2, body_too_large/2,
         buffers/1]).
-export_type([req/0, app/0, head/0, options/0, event/0, status/0]).

-define(DEFAULT_BUFFER, 65536).

-record(py_request,
        {ref :: reference(),
         body :: py_buffer:buffer(),
         resp :: py_buffer:buffer(),
         %% The request body's length when known, and the size limit.
         length :: non_neg_integer() | undefined,
         max_body :: non_neg_integer() | infinity,
         %% `false' until the Python side's end message: then `done' or `{failed, Repr}'.
         ended = false :: false | done | {failed, binary()},
         %% `false' until the `py' call's own reply.
         replied = false :: false | ok | {error, term()},
         %% `body_unread' was reported.
         unread = false :: boolean(),
         %% Statuses carry the app's reason phrase (option `reason_phrase').
         phrase = false :: boolean()}).

-opaque req() :: #py_request{}.
%% One request: a value the server process keeps and passes back after each event.

-type app() :: {wsgi | asgi, AppName :: binary() | string()}.
%% An app by name, `<<"package.module:attribute">>' (imported once, cached by Python).

-type head() :: #{method => binary(),
                  path => binary(),
                  query_string => binary(),
                  http_version => binary(),
                  headers => [{binary(), binary()}],
                  scheme => binary(),
                  peer => {inet:ip_address() | binary(), inet:port_number()} | undefined,
                  server => {inet:ip_address() | binary(), inet:port_number()} | undefined,
                  root_path => binary(),
                  websocket => boolean()}.
%% The request head. `path': the raw target path, still percent-encoded, without the query;
%% `query_string': the raw bytes after `?'; `http_version': `<<"1.1">>' (the default),
%% `<<"1.0">>', `<<"2">>'; `headers' in arrival order (names in any case; `content-length'
%% and `transfer-encoding' as received); `peer' (the client) and `server' as
%% `{Address, Port}'; `root_path' the mount point (WSGI `SCRIPT_NAME', ASGI `root_path');
%% `websocket': the server checked a WebSocket opening handshake and speaks the protocol, an
%% ASGI app then runs a `websocket' session whose messages go through the two buffers as
%% records (`py_buffer.asgi_websocket'). Defaults: `GET', `/', no query, no headers, `http',
%% no peer or server, `<<>>', `false'.

-type options() :: #{content_length => non_neg_integer() | undefined,
                     max_body => non_neg_integer() | infinity,
                     body_buffer => pos_integer(),
                     response_buffer => pos_integer(),
                     reason_phrase => boolean()}.
%% `content_length': the body's length (`undefined', the default: chunked, ended by
%% {@link end_body/1}); `max_body': the most body bytes accepted (default `infinity'; a
%% larger `content_length' is refused by {@link start/3}, a chunked body that grows past it by
%% {@link write_body/2}); `body_buffer' / `response_buffer': the most unread bytes each buffer
%% holds (default 64 KiB each); `reason_phrase': whether a response status carries the app's
%% reason phrase, `{Code, Phrase}' (default `false': the code alone).

-type status() :: 100..999 | {100..999, binary()}.
%% A response status: the code, or with `reason_phrase => true' the code and the app's
%% phrase when it gave one.

-type event() :: {response, status(), Headers :: [{binary(), binary()}], binary()}
               | {response_start, status(), Headers :: [{binary(), binary()}]}
               | response_readable
               | body_writable
               | body_demand
               | body_unread
               | done
               | {failed, term()}.

%% @doc Starts serving a request: `App' gets the request head and a body of
%% `content_length' bytes (or a chunked one) that the caller writes next. The caller (the
%% owner of both buffers) receives the request's messages; pass them to {@link handle/2}.
%% `{error, {body_too_large, Length, Max}}' (nothing started: answer 413) when the content
%% length exceeds `max_body'; `{error, Reason}' when Python is not available.
-spec start(app(), head(), options()) ->
          {ok, req()} | {error, {body_too_large, non_neg_integer(), non_neg_integer()} | term()}.
start({Kind, AppName}, Head, Opts) when (Kind =:= wsgi orelse Kind =:= asgi), is_map(Head),
                                        is_map(Opts) ->
    Length = maps:get(content_length, Opts, undefined),
    Max = maps:get(max_body, Opts, infinity),
    case body_too_large(Length, Max) of
        true ->
            {error, {body_too_large, Length, Max}};
        false ->
            %% Only the events this side acts on: the body's writer needs no `readable' or
            %% `eof' of its own bytes, the response's reader no `writable' or `demand'.
            {ok, Body} = py_buffer:new(#{content_length => Length,
                                         max_buffered => maps:get(body_buffer, Opts,
                                                                  ?DEFAULT_BUFFER),
                                         notify => self(),
                                         events => [writable, reader_closed, demand]}),
            {ok, Resp} = py_buffer:new(#{max_buffered => maps:get(response_buffer, Opts,
                                                                  ?DEFAULT_BUFFER),
                                         notify => self(),
                                         events => [readable, eof]}),
            Ref = make_ref(),
            Args = [app_name(AppName), request(Head), Body, Resp, {self(), Ref}],
            Function = atom_to_binary(Kind),
            %% Queued like py:call/5 without its wait: the reply comes as {py_result, Ref, _}
            %% (a head too large to copy on this scheduler is copied on a dirty one).
            Queued = case py_buffer:py_call(Ref, 0, <<"py_buffer.serve">>, Function, Args, #{}) of
                         dirty ->
                             py_buffer:py_call_dirty(Ref, 0, <<"py_buffer.serve">>, Function,
                                                     Args, #{});
                         Ticket ->
                             Ticket
                     end,
            case Queued of
                {error, Reason} ->
                    _ = py_buffer:abort(Body, Reason),
                    _ = py_buffer:abort(Resp, Reason),
                    ok = py_buffer:unsubscribe(Body),
                    ok = py_buffer:unsubscribe(Resp),
                    flush(Body),
                    flush(Resp),
                    {error, Reason};
                _Ticket ->
                    {ok, #py_request{ref = Ref, body = Body, resp = Resp, length = Length,
                                     max_body = Max,
                                     phrase = maps:get(reason_phrase, Opts, false) =:= true}}
            end
    end;
start(_App, _Head, _Opts) ->
    erlang:error(badarg).

%% @doc Writes request body bytes (a binary or iolist): `ok', `{partial, Rest}' when only part
%% fitted (write `Rest' after the event `body_writable'), or `{error, Reason}': `reader_closed'
%% (the app is done with its body: stop sending), `body_too_large' (a chunked body grew past
%% `max_body': the body is aborted, answer 413 if no response started), `{overflow, _, _}'
%% (more than the content length), `{aborted, _}' after {@link abort/2}.
-spec write_body(req(), iodata()) -> ok | {partial, binary()} | {error, term()}.
write_body(#py_request{body = Body, max_body = Max, length = undefined}, Data)
  when Max =/= infinity ->
    #{written := Written} = py_buffer:info(Body),
    case Written + iolist_size(Data) > Max of
        true ->
            _ = py_buffer:abort(Body, body_too_large),
            {error, body_too_large};
        false ->
            write(Body, Data)
    end;
write_body(#py_request{body = Body}, Data) ->
    write(Body, Data).

write(Body, Data) ->
    case py_buffer:write(Body, Data) of
        {partial, _} = Partial ->
            %% Re-arms `writable' (sent at once if room was made meanwhile).
            ok = py_buffer:activate(Body),
            Partial;
        Other ->
            Other
    end.

%% @doc The request body is complete (a chunked body's end; with a content length, EOF comes
%% by itself when it has arrived, and this checks it did: `{error, {truncated, _, _}}' else,
%% and the app sees `BodyTruncated').
-spec end_body(req()) -> ok | {error, py_buffer:reason()}.
end_body(#py_request{body = Body}) ->
    py_buffer:close(Body).

%% @doc The client went away: the request body is aborted with `Reason' (if it was still
%% open; the app's reads raise `BodyAborted', ASGI gets `http.disconnect') and the response
%% buffer's reader is closed (the app's writes fail). The request still ends with `done' or
%% `{failed, _}' from {@link handle/2}.
-spec abort(req(), term()) -> req().
abort(#py_request{body = Body, resp = Resp} = Req, Reason) ->
    _ = py_buffer:abort(Body, Reason),
    ok = py_buffer:close_reader(Resp),
    Req.

%% @doc Classifies a message: `{ok, Events, Req1}' if it belongs to `Req' (see Events in the
%% module doc), `unknown' otherwise.
-spec handle(term(), req()) -> {ok, [event()], req()} | unknown.
handle({Ref, Message}, #py_request{ref = Ref} = Req) ->
    python_message(Message, Req);
handle({py_result, Ref, Result}, #py_request{ref = Ref} = Req) ->
    replied(Result, Req);
handle({py_buffer, Body, Kind}, #py_request{body = Body} = Req) ->
    body_event(Kind, Req);
handle({py_buffer, Resp, Kind}, #py_request{resp = Resp}= Req) ->
    {ok, response_event(Kind), Req};
handle(_Msg, _Req) ->
    unknown.

%% @doc Reads up to `Max' bytes of the response body without waiting: `{ok, Bin}', `wait'
%% (nothing there yet: `response_readable' will come), `eof' (the body is complete) or
%% `{error, Reason}' (`{aborted, Repr}': the response broke off; close the connection).
-spec read_response(req(), pos_integer()) -> {ok, binary()} | wait | eof | {error, term()}.
read_response(#py_request{resp = Resp}, Max) ->
    case py_buffer:read(Resp, Max) of
        {error, eagain} ->
            ok = py_buffer:activate(Resp),
            wait;
        Other ->
            Other
    end.

%% @doc The request's two buffers, `{Body, Response}' (for `py_buffer:info/1').
-spec buffers(req()) -> {py_buffer:buffer(), py_buffer:buffer()}.
buffers(#py_request{body = Body, resp = Resp}) ->
    {Body, Resp}.

%% ---- internals ---------------------------------------------------------------------------

%% @doc Whether a content length `Length' (`undefined': chunked, not known yet) exceeds the
%% `max_body' option `Max': the rule {@link start/3} answers `body_too_large' by, shared with
%% {@link py_remote:start/3}.
-spec body_too_large(non_neg_integer() | undefined, non_neg_integer() | infinity) -> boolean().
body_too_large(undefined, _Max) -> false;
body_too_large(_Length, infinity) -> false;
body_too_large(Length, Max) -> Length > Max.

app_name(Name) when is_binary(Name) -> Name;
app_name(Name) when is_list(Name) -> unicode:characters_to_binary(Name).

%% The description `py_buffer.responder.RequestHead.from_mapping' takes.
request(Head) ->
    #{method => maps:get(method, Head, <<"GET">>),
      path => bytes(maps:get(path, Head, <<"/">>)),
      query_string => bytes(maps:get(query_string, Head, <<>>)),
      http_version => maps:get(http_version, Head, <<"1.1">>),
      headers => [{bytes(N), bytes(V)} || {N, V} <- maps:get(headers, Head, [])],
      scheme => maps:get(scheme, Head, <<"http">>),
      client => address(maps:get(peer, Head, undefined)),
      server => address(maps:get(server, Head, undefined)),
      root_path => maps:get(root_path, Head, <<>>),
      websocket => maps:get(websocket, Head, false) =:= true}.

%% The status as the caller asked for it: with the app's phrase, or the code alone.
status({Code, Phrase}, #py_request{phrase = true}) when is_binary(Phrase) -> {Code, Phrase};
status({Code, _Phrase}, _Req) -> Code;
status(Code, _Req) -> Code.

%% Binaries go as Python `bytes' (no UTF-8 check, no decoding on the way).
bytes(Bin) when is_binary(Bin) -> {bytes, Bin};
bytes(Chars) -> {bytes, unicode:characters_to_binary(Chars)}.

address(undefined) -> undefined;
address({Host, Port}) when is_tuple(Host) -> {list_to_binary(inet:ntoa(Host)), Port};
address({Host, Port}) -> {Host, Port}.

python_message({<<"start">>, Status, Headers, Body, false}, Req) ->
    {ok, [{response, status(Status, Req), Headers, whole(Body)}], Req};
python_message({<<"start">>, Status, Headers, _None, true}, Req) ->
    {ok, [{response_start, status(Status, Req), Headers}], Req};
python_message({<<"finish">>, Consumed}, Req = #py_request{unread = Unread}) ->
    Events = case Consumed orelse Unread of
                 true -> [];
                 false -> [body_unread]
             end,
    ended(done, Events, Req#py_request{unread = true});
python_message({<<"fail">>, Repr}, Req) ->
    ended({failed, Repr}, [], Req);
python_message(_Other, Req) ->
    {ok, [], Req}.

whole(none) -> <<>>;
whole(Body) when is_binary(Body) -> Body.

ended(How, Events, Req) ->
    finish(Events, Req#py_request{ended = How}).

replied({ok, _}, Req) ->
    finish([], Req#py_request{replied = ok});
replied({error, _} = Error, Req) ->
    finish([], Req#py_request{replied = Error}).

%% The last event, once the end message and the call's reply are both in (or the call failed
%% without an end message: nothing else will come).
finish(Events, #py_request{ended = false, replied = {error, Reason}} = Req) ->
    last(Events, {failed, Reason}, Req);
finish(Events, #py_request{ended = false} = Req) ->
    {ok, Events, Req};
finish(Events, #py_request{replied = false} = Req) ->
    {ok, Events, Req};
finish(Events, #py_request{ended = How} = Req) ->
    last(Events, How, Req).

last(Events, Last, #py_request{body = Body, resp = Resp} = Req) ->
    %% Nothing writes the response any more: end it (a whole response never used it, a
    %% failed call never reached it), so reads after the last event never wait.
    _ = py_buffer:close(Resp),
    ok = py_buffer:unsubscribe(Body),
    ok = py_buffer:unsubscribe(Resp),
    flush(Body),
    flush(Resp),
    {ok, Events ++ [Last], Req}.

%% Readiness messages sent before the unsubscription are in the mailbox already.
flush(Buf) ->
    receive {py_buffer, Buf, _} -> flush(Buf) after 0 -> ok end.

body_event(writable, Req) ->
    {ok, [body_writable], Req};
body_event(demand, Req) ->
    {ok, [body_demand], Req};
body_event(reader_closed, #py_request{ended = false, unread = false, body = Body} = Req) ->
    %% The app closed its input before its end message: unread unless it read it all.
    case consumed(py_buffer:info(Body)) of
        true -> {ok, [], Req};
        false -> {ok, [body_unread], Req#py_request{unread = true}}
    end;
body_event(_Kind, Req) ->
    {ok, [], Req}.

consumed(#{closed := Closed, content_length := Length, written := Written, read := Read}) ->
    (Closed orelse Length =:= Written) andalso Read =:= Written.

response_event(readable) -> [response_readable];
response_event(eof) -> [response_readable];
response_event(_Kind) -> [].
