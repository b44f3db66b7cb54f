%% @doc PropEr stateful model of one `py_buffer' buffer driven from Erlang: `new/1' (with or
%% without a content length and a bound, subscribed or not, owned by the caller or by a spawned
%% process), `write/2', `read/2', `readline/1', `read_all/1', `close/1', `abort/2',
%% `close_reader/1', `subscribe/1', `unsubscribe/1', `activate/1', `controlling_process/2'
%% (to a new process: only the owner may), the owner's death, and `info/1', against a model: the unread bytes, the counts, the end state, and the readiness
%% protocol of the module doc (which kinds are armed, `writable' and `demand' remembered while
%% disarmed, `readable' after a waiting `readline'/`read_all' only for new bytes).
%%
%% Every command returns its result and the messages the caller (the subscriber) received
%% during it; the postcondition compares both exactly (messages as a sorted list: the order
%% of kinds within one call is not documented). A message is in the mailbox when the call
%% that sent it returns, so "no message" is checked with `after 0'; the owner's death is
%% awaited (`DOWN', then `py_buffer_owners:sync/1') before the mailbox is read.
%% `readline'/`read_all' run on unbounded buffers only (on a full bounded buffer they set the
%% unread bytes aside, which the model does not follow; py_buffer_bounded_read_tests does).
-module(prop_py_buffer_statem).

-include_lib("proper/include/proper.hrl").

-export([prop_buffer_model/0]).
-export([initial_state/0, command/1, precondition/2, postcondition/3, next_state/3]).
-export([new/1, write/2, read/2, readline/1, read_all/1, close/1, abort/2, close_reader/1,
         subscribe/1, unsubscribe/1, activate/1, kill_owner/1, hand_over/1, info/1]).

-record(m, {buf,                          % symbolic {Buf, Owner} of `new'
            owner = self :: self | spawned | dead,
            cl = undefined :: undefined | non_neg_integer(),
            max = undefined :: undefined | pos_integer(),
            written = 0 :: non_neg_integer(),
            unread = <<>> :: binary(),
            closed = false :: boolean(),
            aborted = false :: false | {true, term()},
            reader_closed = false :: boolean(),
            subscribed = false :: boolean(),
            armed = [] :: [atom()],
            refused = false :: boolean(),         % a write returned `partial'
            pending_writable = false :: boolean(),
            demand_sent = false :: boolean(),
            pending_demand = false :: boolean(),
            waiting_at = none :: none | non_neg_integer()}).

-define(ALL, [readable, writable, eof, reader_closed, demand]).

%% @doc Runs command sequences; the buffer and its owner are ended after each.
-spec prop_buffer_model() -> proper:test().
prop_buffer_model() ->
    ?FORALL(Cmds, commands(?MODULE),
            begin
                {History, State, Result} = run_commands(?MODULE, Cmds),
                cleanup(State),
                ?WHENFAIL(io:format("history:~n~p~nstate:~n~p~nresult: ~p~n",
                                    [History, State, Result]),
                          aggregate(command_names(Cmds), Result =:= ok))
            end).

cleanup(#m{buf = undefined}) -> ok;
cleanup(#m{buf = {Buf, Owner, _}}) ->
    #{owner := Current} = py_buffer:info(Buf),
    _ = py_buffer:abort(Buf, cleanup),
    _ = [exit(P, kill) || P <- [Owner, Current], is_pid(P), P =/= self()],
    py_buffer_test_helpers:flush().

%%% The model

%% @private
-spec initial_state() -> #m{}.
initial_state() -> #m{buf = undefined}.

%% @private
-spec command(#m{}) -> proper_types:type().
command(#m{buf = undefined}) ->
    {call, ?MODULE, new, [new_options()]};
command(S) ->
    B = {call, erlang, element, [1, S#m.buf]},
    Reads = case S#m.max of
                undefined -> [{2, {call, ?MODULE, readline, [B]}}, {1, {call, ?MODULE, read_all, [B]}}];
                _ -> []
            end,
    frequency([{6, {call, ?MODULE, write, [B, data()]}},
               {4, {call, ?MODULE, read, [B, range(0, 6)]}},
               {1, {call, ?MODULE, close, [B]}},
               {1, {call, ?MODULE, abort, [B, elements([why, {why, 1}])]}},
               {1, {call, ?MODULE, close_reader, [B]}},
               {1, {call, ?MODULE, subscribe, [B]}},
               {1, {call, ?MODULE, unsubscribe, [B]}},
               {3, {call, ?MODULE, activate, [B]}},
               {1, {call, ?MODULE, kill_owner, [B]}},
               {1, {call, ?MODULE, hand_over, [B]}},
               {1, {call, ?MODULE, info, [B]}}] ++ Reads).

new_options() ->
    ?LET({Cl, Max, Notify, Owner},
         {oneof([undefined, range(0, 12)]), oneof([undefined, range(1, 6)]), boolean(),
          elements([self, spawned])},
         #{content_length => Cl, max_buffered => Max, notify => Notify, owner => Owner}).

data() ->
    ?LET(Bytes, list(elements([$a, $b, $\n])), list_to_binary(Bytes)).

%% @private
-spec precondition(#m{}, term()) -> boolean().
precondition(#m{buf = undefined}, {call, _, new, _}) -> true;
precondition(#m{buf = undefined}, _) -> false;
precondition(_, {call, _, new, _}) -> false;
precondition(#m{max = Max}, {call, _, F, _}) when F =:= readline; F =:= read_all ->
    Max =:= undefined;
%% An abort (or the owner's death) after the content length arrived in full is left out: it
%% is `ok' and `info/1' shows the reason, but the reads deliver the complete body
%% (py_buffer_api_tests, abort_after_the_content_length_arrived_test); the model does not
%% follow that.
precondition(#m{cl = Cl, written = W, closed = false, aborted = false}, {call, _, F, _})
  when (F =:= abort orelse F =:= kill_owner), Cl =:= W ->
    false;
precondition(#m{owner = Owner}, {call, _, kill_owner, _}) -> Owner =:= spawned;
precondition(_, _) -> true.

%% @private
-spec next_state(#m{}, term(), term()) -> #m{}.
next_state(S, Res, {call, _, new, [Opts]}) ->
    {_, _, S1} = new_step(Opts, S#m{buf = Res}),
    S1;
next_state(S, _, {call, _, F, Args}) ->
    {_Expected, _Messages, S1} = step(F, tl(Args), S),
    S1.

%% @private
-spec postcondition(#m{}, term(), term()) -> boolean().
postcondition(S, {call, _, new, [Opts]}, {Buf, _Owner, Messages}) ->
    {_, Expected, _} = new_step(Opts, S),
    is_reference(Buf) andalso Messages =:= lists:sort(Expected);
postcondition(S, {call, _, info, _}, {Info, Messages}) ->
    Messages =:= [] andalso info_matches(S, Info);
postcondition(S, {call, _, F, Args}, {Result, Messages}) ->
    {Expected, ExpectedMessages, _} = step(F, tl(Args), S),
    Result =:= Expected andalso Messages =:= lists:sort(ExpectedMessages);
postcondition(_, _, _) -> false.

info_matches(S, Info) ->
    %% `ended' (no more bytes will come) also holds once the reader closed: writes fail.
    Ended = ended(S) orelse S#m.reader_closed,
    maps:with([written, read, buffered, closed, aborted, reader_closed, ended], Info) =:=
        #{written => S#m.written, read => S#m.written - byte_size(S#m.unread),
          buffered => byte_size(S#m.unread),
          closed => S#m.closed,
          aborted => case S#m.aborted of {true, R} -> R; false -> false end,
          reader_closed => S#m.reader_closed, ended => Ended}.

ended(#m{closed = C, aborted = A, cl = Cl, written = W}) ->
    C orelse A =/= false orelse Cl =:= W.

clean_end(#m{aborted = false, cl = Cl, written = W} = S) ->
    ended(S) andalso (Cl =:= undefined orelse W =:= Cl);
clean_end(_) -> false.

%% The failure a read meets once the unread bytes are gone (or that fails it at once).
failure(#m{aborted = {true, R}}) -> {error, {aborted, R}};
failure(#m{cl = Cl, written = W}) -> {error, {truncated, Cl, W}}.

%% `new/1': subscribing with `notify' reports at once what holds (a content length of 0: `eof').
new_step(#{content_length := Cl, max_buffered := Max, notify := Notify, owner := Owner}, S) ->
    S1 = S#m{owner = Owner, cl = Cl, max = Max},
    case Notify of
        true -> rearm(S1#m{subscribed = true});
        false -> {ok, [], S1}
    end.

%% One command on the model: {Result, Messages, NextState}.
step(write, [Data], S) -> write_step(Data, S);
step(read, [N], S) -> read_step(N, S);
step(readline, [], S) -> readline_step(S);
step(read_all, [], S) -> read_all_step(S);
step(close, [], #m{aborted = {true, R}} = S) -> {{error, {aborted, R}}, [], S};
step(close, [], S) -> edge(eof, ended(S), {ok, S#m{closed = true}});
step(abort, [_], #m{closed = true} = S) -> {{error, closed}, [], S};
step(abort, [_], #m{aborted = {true, _}} = S) -> {ok, [], S};
step(abort, [R], S) -> edge(eof, ended(S), {ok, S#m{aborted = {true, R}}});
step(close_reader, [], S) ->
    edge(reader_closed, S#m.reader_closed, {ok, S#m{reader_closed = true}});
step(info, [], S) -> {info, [], S};
step(subscribe, [], S) -> rearm(S#m{subscribed = true});
step(unsubscribe, [], S) -> {ok, [], S#m{subscribed = false}};
step(activate, [], S) -> rearm(S);
step(hand_over, [], #m{owner = self} = S) -> {ok, [], S#m{owner = spawned}};
step(hand_over, [], S) -> {{error, not_owner}, [], S};
step(kill_owner, [], S) ->
    S1 = S#m{owner = dead},
    case ended(S) of
        true -> {ok, [], S1};
        false -> edge(eof, false, {ok, S1#m{aborted = {true, {owner_down, killed}}}})
    end.

write_step(Data, S) ->
    Size = byte_size(Data),
    if
        S#m.reader_closed -> {{error, reader_closed}, [], S};
        S#m.aborted =/= false -> {failure(S), [], S};
        S#m.closed -> {{error, closed}, [], S};
        S#m.cl =/= undefined, S#m.written + Size > S#m.cl ->
            {{error, {overflow, S#m.cl, S#m.written + Size}}, [], S};
        true ->
            Room = case S#m.max of
                       undefined -> Size;
                       Max -> max(0, Max - byte_size(S#m.unread))
                   end,
            Take = min(Size, Room),
            <<Taken:Take/binary, Rest/binary>> = Data,
            Result = case Rest of <<>> -> ok; _ -> {partial, Rest} end,
            S1 = S#m{written = S#m.written + Take,
                     unread = <<(S#m.unread)/binary, Taken/binary>>,
                     refused = S#m.refused orelse Rest =/= <<>>},
            {R1, M1, S2} = edge(readable, Take =:= 0, {Result, S1}),
            {R2, M2, S3} = edge(eof, ended(S) orelse not ended(S2), {R1, S2}),
            {R2, M1 ++ M2, S3}
    end.

%% `read(B, 0)' reads nothing and changes nothing (a waiting `readline' stays recorded).
read_step(0, S) -> {{ok, <<>>}, [], S};
read_step(_, #m{unread = <<>>} = S0) ->
    S = S0#m{waiting_at = none},
    case S#m.reader_closed orelse clean_end(S) of
        true -> {eof, [], S};
        false when S#m.aborted =/= false; S#m.closed -> {failure(S), [], S};
        false -> demand({error, eagain}, S)
    end;
read_step(N, S) ->
    Take = min(N, byte_size(S#m.unread)),
    <<Got:Take/binary, Rest/binary>> = S#m.unread,
    consumed({ok, Got}, S#m{unread = Rest, waiting_at = none}).

readline_step(S) ->
    case binary:match(S#m.unread, <<"\n">>) of
        {Pos, 1} ->
            <<Line:(Pos + 1)/binary, Rest/binary>> = S#m.unread,
            consumed({ok, Line}, S#m{unread = Rest, waiting_at = none});
        nomatch ->
            rest_or_wait(readline, S)
    end.

read_all_step(S) -> rest_or_wait(read_all, S).

%% `readline' without a whole line and `read_all': the rest once the body ended cleanly
%% (or the reader closed), a failure, or `eagain' remembering how much was written.
rest_or_wait(Kind, S) ->
    case S#m.reader_closed orelse clean_end(S) of
        true -> the_rest(Kind, S#m{waiting_at = none});
        false when S#m.aborted =/= false; S#m.closed -> {failure(S), [], S#m{waiting_at = none}};
        false -> demand({error, eagain}, S#m{waiting_at = S#m.written})
    end.

%% What is left of a body that ended: `readline' says `eof' when nothing is.
the_rest(readline, #m{unread = <<>>} = S) -> {eof, [], S};
the_rest(_, S) -> consumed({ok, S#m.unread}, S#m{unread = <<>>}).

%% Bytes were read: room is made for a refused write (`writable').
%% Also after `close/1' or an abort, when no write can succeed (observed, not documented);
%% not once the body is finished (ended and the reader closed): the core then releases the
%% buffer's observer, no edge can come.
consumed(Result, #m{refused = true, max = Max, reader_closed = ReaderClosed} = S)
  when Max =/= undefined, not (ReaderClosed andalso (S#m.closed orelse S#m.aborted =/= false)) ->
    case Result of
        {ok, <<>>} -> {Result, [], S};
        _ -> writable(Result, S#m{refused = false})
    end;
consumed(Result, S) -> {Result, [], S}.

writable(Result, #m{subscribed = true} = S) ->
    case lists:member(writable, S#m.armed) of
        true -> {Result, [writable], S#m{armed = S#m.armed -- [writable]}};
        false -> {Result, [], S#m{pending_writable = true}}
    end;
writable(Result, S) -> {Result, [], S#m{pending_writable = true}}.

demand(Result, #m{demand_sent = true} = S) -> {Result, [], S};
demand(Result, #m{subscribed = true} = S) ->
    case lists:member(demand, S#m.armed) of
        true -> {Result, [demand], S#m{armed = S#m.armed -- [demand], demand_sent = true}};
        false -> {Result, [], S#m{pending_demand = true}}
    end;
demand(Result, S) -> {Result, [], S#m{pending_demand = true}}.

%% An edge of `Kind' unless `Suppressed': a message if subscribed and armed (then disarmed).
edge(_Kind, true, {Result, S}) -> {Result, [], S};
edge(Kind, false, {Result, #m{subscribed = true} = S}) ->
    case lists:member(Kind, S#m.armed) of
        true -> {Result, [Kind], S#m{armed = S#m.armed -- [Kind]}};
        false -> {Result, [], S}
    end;
edge(_, false, {Result, S}) -> {Result, [], S}.

%% `subscribe'/`activate': every kind armed; those whose condition holds are sent at once.
rearm(#m{subscribed = false} = S) -> {ok, [], S};
rearm(S) ->
    Unread = S#m.unread =/= <<>>,
    Readable = Unread andalso (S#m.waiting_at =:= none orelse S#m.written > S#m.waiting_at
                               orelse ended(S)),
    Holds = [K || {K, true} <- [{readable, Readable},
                                {writable, S#m.pending_writable},
                                {eof, ended(S)},
                                {reader_closed, S#m.reader_closed},
                                {demand, S#m.pending_demand andalso not S#m.demand_sent}]],
    {ok, Holds, S#m{armed = ?ALL -- Holds,
                    pending_writable = false,
                    pending_demand = false,
                    demand_sent = S#m.demand_sent orelse lists:member(demand, Holds)}}.

%%% The commands: each returns {Result, the messages received during it}.

%% @private
-spec new(map()) -> {py_buffer:buffer(), pid() | self, [atom()]}.
new(#{content_length := Cl, max_buffered := Max, notify := Notify, owner := Owner}) ->
    py_buffer_test_helpers:flush(),
    OwnerPid = case Owner of
                   self -> self();
                   spawned -> spawn(fun() -> receive stop -> ok end end)
               end,
    Opts = #{content_length => Cl, max_buffered => Max, owner => OwnerPid,
             notify => case Notify of true -> self(); false -> undefined end},
    {ok, Buf} = py_buffer:new(Opts),
    {Buf, case Owner of self -> self; spawned -> OwnerPid end, lists:sort(messages(Buf))}.

%% @private
-spec write(py_buffer:buffer(), binary()) -> {term(), [atom()]}.
write(B, Data) -> with_messages(B, fun() -> py_buffer:write(B, Data) end).
%% @private
-spec read(py_buffer:buffer(), non_neg_integer()) -> {term(), [atom()]}.
read(B, N) -> with_messages(B, fun() -> py_buffer:read(B, N) end).
%% @private
-spec readline(py_buffer:buffer()) -> {term(), [atom()]}.
readline(B) -> with_messages(B, fun() -> py_buffer:readline(B) end).
%% @private
-spec read_all(py_buffer:buffer()) -> {term(), [atom()]}.
read_all(B) -> with_messages(B, fun() -> py_buffer:read_all(B) end).
%% @private
-spec close(py_buffer:buffer()) -> {term(), [atom()]}.
close(B) -> with_messages(B, fun() -> py_buffer:close(B) end).
%% @private
-spec abort(py_buffer:buffer(), term()) -> {term(), [atom()]}.
abort(B, R) -> with_messages(B, fun() -> py_buffer:abort(B, R) end).
%% @private
-spec close_reader(py_buffer:buffer()) -> {term(), [atom()]}.
close_reader(B) -> with_messages(B, fun() -> py_buffer:close_reader(B) end).
%% @private
-spec subscribe(py_buffer:buffer()) -> {term(), [atom()]}.
subscribe(B) -> with_messages(B, fun() -> py_buffer:subscribe(B) end).
%% @private
-spec unsubscribe(py_buffer:buffer()) -> {term(), [atom()]}.
unsubscribe(B) -> with_messages(B, fun() -> py_buffer:unsubscribe(B) end).
%% @private
-spec activate(py_buffer:buffer()) -> {term(), [atom()]}.
activate(B) -> with_messages(B, fun() -> py_buffer:activate(B) end).
%% @private
-spec info(py_buffer:buffer()) -> {map(), [atom()]}.
info(B) -> with_messages(B, fun() -> py_buffer:info(B) end).

%% @private `controlling_process/2' to a new process (which is killed if it did not become
%% the owner).
-spec hand_over(py_buffer:buffer()) -> {term(), [atom()]}.
hand_over(B) ->
    Pid = spawn(fun() -> receive stop -> ok end end),
    Result = with_messages(B, fun() -> py_buffer:controlling_process(B, Pid) end),
    _ = [exit(Pid, kill) || element(1, Result) =/= ok],
    Result.

%% @private The owner is killed; returns once its exit was handled (the body aborted).
-spec kill_owner(py_buffer:buffer()) -> {term(), [atom()]}.
kill_owner(B) ->
    #{owner := Owner} = py_buffer:info(B),
    Ref = monitor(process, Owner),
    exit(Owner, kill),
    receive {'DOWN', Ref, process, Owner, _} -> ok end,
    with_messages(B, fun() -> py_buffer_owners:sync(Owner) end).

with_messages(B, Call) ->
    Result = Call(),
    {Result, lists:sort(messages(B))}.

messages(B) ->
    receive {py_buffer, B, Kind} -> [Kind | messages(B)]
    after 0 -> []
    end.
