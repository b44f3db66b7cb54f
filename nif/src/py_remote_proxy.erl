%% @doc The app-node half of a remote request ({@link py_remote}): one process per request,
%% spawned on the app node by the front's connection process, that drives a local
%% {@link py_request} (its buffers are created here and never leave this node) and relays
%% body bytes, response bytes and events over Erlang distribution with credit-based flow
%% control (issue 14).
%%
%% == Messages ==
%% Every message either way is `{py_remote, Tag, Msg}' (`Tag': the request's reference, made
%% by the front). From the front (`Front'):
%% <ul>
%% <li>`{body, Bin}': request body bytes, sent only within the body credit (at most `window'
%%     bytes unacknowledged), written into the local body buffer in arrival order; bytes
%%     that do not fit wait here (at most `window' bytes) for `body_writable';</li>
%% <li>`end_body': the body is complete ({@link py_request:end_body/1} once the waiting bytes
%%     are written);</li>
%% <li>`{abort, Reason}': the client left ({@link py_request:abort/2}; waiting bytes are
%%     dropped);</li>
%% <li>`{credit, Bytes}': the front consumed response bytes: that many more may be sent.</li>
%% </ul>
%% To the front:
%% <ul>
%% <li>`{proxy, Pid}': first, the proxy's pid (the front spawned it without waiting for a
%%     reply; its messages to the proxy wait until this one);</li>
%% <li>`{ack, Bytes}': body bytes taken (written into the body buffer, or dropped because the
%%     body can take no more): the front may send that many more;</li>
%% <li>`{body_error, Reason}': a body write or end was refused (`{truncated, _, _}',
%%     `reader_closed', `{aborted, _}', ...);</li>
%% <li>`{event, Event}': a {@link py_request} event the front's caller sees as it is
%%     (`{response, ...}', `{response_start, ...}', `body_demand', `body_unread');</li>
%% <li>`{data, Bin}': response body bytes, sent only within the response credit (at most
%%     `window' bytes not yet credited back), then `response_eof' or
%%     `{response_error, Reason}';</li>
%% <li>`{last, done | {failed, Reason}}': the request's last event, after every response byte
%%     (for `done'); the process then exits `normal'. A start that fails is
%%     `{last, {failed, Reason}}' at once;</li>
%% <li>`{batch, [Msg]}': several of the above, in order (what one step of the proxy produced,
%%     sent as one message).</li>
%% </ul>
%% The proxy monitors the front process: if it dies (or its node goes down) the request is
%% aborted with `{front_down, Reason}', the proxy waits for the request's last event (the app
%% is through with it) and tells the front node's {@link py_nodes} to release the request's
%% routing count (`noconnect': nothing if the front node is gone).
%%
%% == Backends ==
%% `App' is a {@link py_request:app()}, or `{module, Module, Arg}': any module with
%% py_request's shape (`Module:start(Arg, Head, Opts)', `write_body/2', `end_body/1',
%% `abort/2', `handle/2', `read_response/2'), e.g. the Erlang-only {@link py_remote_echo}.
-module(py_remote_proxy).

-export([init/6]).
-export_type([app/0]).

-define(PIECE, 65536).

-type app() :: py_request:app() | {module, module(), term()}.

-record(s,
        {front :: pid(),
         front_mon :: reference(),
         front_down = false :: boolean(),
         tag :: reference(),
         release :: term(),
         mod :: module(),
         req :: term(),
         %% Body bytes waiting for room in the body buffer (at most the window).
         pending = [] :: [binary()],
         ending = false :: boolean(),
         %% `open', or `stopped' once the body can take no more (written bytes are acked).
         body = open :: open | stopped,
         %% Response bytes that may be sent now.
         credit :: non_neg_integer(),
         %% `open', `waiting' (read_response said wait), or `ended' (eof/error sent).
         resp = open :: open | waiting | ended,
         last = none :: none | done | {failed, term()}}).

%% @private The process body (`erlang:spawn_request(Node, py_remote_proxy, init, [...])').
%% `Opts': the request options plus `window' (the credit each way, bytes) and `release'
%% (the routing key to release if the front dies); `First': the front's first messages
%% (usually the first body chunk), handled as if they had been sent.
-spec init(pid(), reference(), app(), py_request:head(), map(), [term()]) -> ok.
init(Front, Tag, App, Head, Opts, First) ->
    Mon = erlang:monitor(process, Front),
    {Mod, Started} = case App of
                         {module, M, Arg} -> {M, M:start(Arg, Head, Opts)};
                         _ -> {py_request, py_request:start(App, Head, Opts)}
                     end,
    S0 = #s{front = Front, front_mon = Mon, tag = Tag, mod = Mod, req = undefined,
            release = maps:get(release, Opts, undefined),
            credit = maps:get(window, Opts)},
    %% The front learns the pid from the first message (it spawned without waiting).
    send(S0, {proxy, self()}),
    case Started of
        {ok, Req} ->
            first(First, S0#s{req = Req});
        {error, Reason} ->
            send(S0, {last, {failed, Reason}}),
            flush(S0)
    end.

first([], S) ->
    %% What the first messages queued ({proxy, Pid}, acks) goes out before the first wait:
    %% nothing else may come to flush it (an app that does not read yet sends no event).
    ok = flush(S),
    loop(S);
first([Msg | Msgs], S) ->
    case next(from_front(Msg, S)) of
        ok -> flush(S);
        {continue, S1} -> first(Msgs, S1)
    end.

loop(S) ->
    Result = receive_one(S),
    ok = flush(S),
    case Result of
        ok -> ok;
        {continue, S1} -> loop(S1)
    end.

receive_one(#s{tag = Tag, front_mon = Mon} = S) ->
    receive
        {py_remote, Tag, Msg} ->
            next(from_front(Msg, S));
        {'DOWN', Mon, process, _, Reason} ->
            next(front_down(Reason, S));
        Msg ->
            case (S#s.mod):handle(Msg, S#s.req) of
                {ok, Events, Req} -> next(events(Events, S#s{req = Req}));
                unknown -> {continue, S}
            end
    end.

%% After the last event: the rest of the response goes out (credit permitting), then the
%% last event, then the process ends (`ok').
next(#s{last = none} = S) ->
    {continue, S};
next(#s{last = done, resp = Resp, front_down = false} = S) when Resp =/= ended ->
    {continue, S};
next(#s{last = Last} = S) ->
    case S#s.front_down of
        true -> release(S);
        false -> send(S, {last, Last})
    end,
    ok.

from_front({body, Bin}, #s{body = stopped} = S) ->
    ack(S, byte_size(Bin));
from_front({body, Bin}, #s{pending = [_ | _] = Pending} = S) ->
    S#s{pending = Pending ++ [Bin]};
from_front({body, Bin}, S) ->
    write(Bin, [], S);
from_front(end_body, #s{pending = [_ | _]} = S) ->
    S#s{ending = true};
from_front(end_body, S) ->
    end_body(S);
from_front({abort, Reason}, #s{mod = Mod, req = Req} = S) ->
    S1 = stop_body(S),
    S1#s{req = Mod:abort(Req, Reason)};
from_front({credit, N}, #s{credit = C} = S) ->
    pump(S#s{credit = C + N});
from_front(_Other, S) ->
    S.

write(Bin, Rest, #s{mod = Mod, req = Req} = S) ->
    case Mod:write_body(Req, Bin) of
        ok ->
            S1 = ack(S, byte_size(Bin)),
            case Rest of
                [Next | Rest1] -> write(Next, Rest1, S1#s{pending = []});
                [] when S1#s.ending -> end_body(S1#s{pending = []});
                [] -> S1#s{pending = []}
            end;
        {partial, Left} ->
            S1 = ack(S, byte_size(Bin) - byte_size(Left)),
            S1#s{pending = [Left | Rest]};
        {error, Reason} ->
            send(S, {body_error, Reason}),
            stop_body(ack(S#s{pending = Rest}, byte_size(Bin)))
    end.

end_body(#s{mod = Mod, req = Req} = S) ->
    case Mod:end_body(Req) of
        ok -> ok;
        {error, Reason} -> send(S, {body_error, Reason})
    end,
    S#s{ending = false, body = stopped}.

%% The body takes no more: waiting bytes are dropped and acknowledged.
stop_body(#s{pending = Pending} = S) ->
    S1 = ack(S, iolist_size(Pending)),
    S1#s{pending = [], ending = false, body = stopped}.

events([], S) ->
    S;
events([body_writable | Es], #s{pending = [Bin | Rest], body = open} = S) ->
    events(Es, write(Bin, Rest, S));
events([body_writable | Es], S) ->
    events(Es, S);
events([response_readable | Es], S) ->
    events(Es, pump(S#s{resp = case S#s.resp of waiting -> open; R -> R end}));
events([body_unread = E | Es], S) ->
    send(S, {event, E}),
    events(Es, stop_body(S));
events([done | Es], S) ->
    %% Reads after the last event never wait: the rest of the response goes out now.
    events(Es, pump(S#s{last = done, resp = case S#s.resp of waiting -> open; R -> R end}));
events([{failed, _} = Failed | Es], S) ->
    events(Es, S#s{last = Failed});
events([E | Es], S) ->
    send(S, {event, E}),
    events(Es, S).

%% Response bytes out while there is credit (and a front to take them).
pump(#s{front_down = true} = S) ->
    S;
pump(#s{resp = Resp} = S) when Resp =/= open ->
    S;
pump(#s{credit = 0} = S) ->
    S;
pump(#s{mod = Mod, req = Req, credit = C} = S) ->
    case Mod:read_response(Req, min(C, ?PIECE)) of
        {ok, Bin} ->
            send(S, {data, Bin}),
            pump(S#s{credit = C - byte_size(Bin)});
        wait ->
            S#s{resp = waiting};
        eof ->
            send(S, response_eof),
            S#s{resp = ended};
        {error, Reason} ->
            send(S, {response_error, Reason}),
            S#s{resp = ended}
    end.

front_down(Reason, #s{mod = Mod, req = Req} = S) ->
    S1 = stop_body(S#s{front_down = true}),
    S1#s{req = Mod:abort(Req, {front_down, Reason})}.

ack(S, 0) -> S;
ack(#s{front_down = true} = S, _N) -> S;
ack(S, N) -> send(S, {ack, N}), S.

%% Messages to the front wait in an outbox until the step that made them is over, then go
%% as one message (`{batch, Msgs}' when more than one): a small request's acknowledgement,
%% response and last event cross the link once.
send(#s{front_down = true}, _Msg) ->
    ok;
send(_S, Msg) ->
    _ = put(py_remote_outbox, [Msg | outbox()]),
    ok.

outbox() ->
    case get(py_remote_outbox) of
        undefined -> [];
        Out -> Out
    end.

flush(#s{front = Front, tag = Tag}) ->
    case erase(py_remote_outbox) of
        undefined -> ok;
        [Msg] -> out(Front, {py_remote, Tag, Msg});
        Msgs -> out(Front, {py_remote, Tag, {batch, lists:reverse(Msgs)}})
    end.

out(Front, Msg) ->
    _ = erlang:send(Front, Msg, [noconnect]),
    ok.

release(#s{release = undefined}) ->
    ok;
release(#s{front = Front, release = Key}) ->
    _ = erlang:send({py_nodes, node(Front)}, {py_nodes, release, Key}, [noconnect]),
    ok.
