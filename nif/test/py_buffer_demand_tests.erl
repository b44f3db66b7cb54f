%% The body's two application-side signals:
%% - `{py_buffer, Buf, demand}': a reader first had to wait for bytes that have not arrived
%%   while the body was not complete (once per buffer), e.g. to answer
%%   `Expect: 100-continue' only when the application reads the body;
%% - `{py_buffer, Buf, reader_closed}' with `info/1' showing unread bytes: the application
%%   closed its input without reading all of it.
%%
%% Exact message counts, no sleeps: a message that was sent is already in the mailbox when the
%% call that sent it returns; messages from Python threads are awaited with a deadline.
-module(py_buffer_demand_tests).

-include_lib("eunit/include/eunit.hrl").

-import(py_buffer_test_helpers, [flush/0]).

-define(DEADLINE, 5000).

%% Every message in the mailbox, oldest first.
mailbox() ->
    receive M -> [M | mailbox()] after 0 -> [] end.

demands(B, Messages) ->
    length([M || {py_buffer, Buf, demand} = M <- Messages, Buf =:= B]).

erlang_read_that_must_wait_sends_demand_once_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ?assertMatch(#{demanded := false}, py_buffer:info(B)),
    ?assertEqual({error, eagain}, py_buffer:read(B, 10)),
    ?assertEqual([{py_buffer, B, demand}], mailbox()),
    ?assertMatch(#{demanded := true}, py_buffer:info(B)),
    %% Re-armed, and waiting again: no second `demand' (once per buffer).
    ok = py_buffer:activate(B),
    ?assertEqual({error, eagain}, py_buffer:readline(B)),
    ok = py_buffer:write(B, <<"ab">>),
    ?assertEqual({error, eagain}, py_buffer:read_all(B)),
    ?assertEqual([{py_buffer, B, readable}], mailbox()).

a_read_the_bytes_satisfy_sends_no_demand_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:write(B, <<"line\nmore">>),
    ?assertEqual({ok, <<"line\n">>}, py_buffer:readline(B)),
    ?assertEqual({ok, <<"more">>}, py_buffer:read(B, 10)),
    ?assertEqual([{py_buffer, B, readable}], mailbox()),
    %% Once the body is complete, reading never waits: no demand either.
    ok = py_buffer:close(B),
    ?assertEqual(eof, py_buffer:read(B, 10)),
    ?assertEqual({ok, <<>>}, py_buffer:read_all(B)),
    ?assertEqual(0, demands(B, mailbox())),
    ?assertMatch(#{demanded := false}, py_buffer:info(B)).

demand_before_subscribing_is_reported_on_subscribe_test() ->
    flush(),
    {ok, B} = py_buffer:new(),
    ?assertEqual({error, eagain}, py_buffer:read(B, 1)),
    ?assertEqual([], mailbox()),
    ok = py_buffer:subscribe(B),
    ?assertEqual([{py_buffer, B, demand}], mailbox()),
    ok = py_buffer:activate(B),
    ?assertEqual([], mailbox()).

python_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     [{"a Python read waiting on an empty body sends demand once",
       {timeout, 3 * ?DEADLINE div 1000, fun python_read_waits/0}},
      {"an asyncio await waiting on an empty body sends demand once",
       {timeout, 3 * ?DEADLINE div 1000, fun python_await_waits/0}},
      {"a Python read of bytes already there sends no demand", fun python_read_ready/0},
      {"Python close() without reading the body: reader_closed, info shows the rest",
       fun python_close_unread/0},
      {"close_reader/1 without reading the body: the same", fun close_reader_unread/0}]}.

python_read_waits() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {python, py:eval(py_buffer_test_helpers:ctx(), <<"b.read(3)">>,
                                               #{b => B})}
               end),
    try
        receive {py_buffer, B, demand} -> ok
        after ?DEADLINE -> error(no_demand)
        end,
        ok = py_buffer:activate(B),
        ok = py_buffer:write(B, <<"abc">>),
        ?assertEqual({ok, <<"abc">>},
                     receive {python, R} -> R after ?DEADLINE -> error(python_never_returned) end),
        %% Waiting again (Erlang side, after re-arming): still no second demand.
        ?assertEqual({error, eagain}, py_buffer:read(B, 1)),
        ok = py_buffer:close(B),
        ?assertEqual(0, demands(B, mailbox()))
    after
        _ = py_buffer:abort(B, test_over)
    end.

python_await_waits() ->
    flush(),
    ok = py:exec(py_buffer_test_helpers:ctx(), <<"import asyncio">>),
    {ok, B} = py_buffer:new(#{notify => self()}),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {python, py:eval(py_buffer_test_helpers:ctx(),
                                               <<"asyncio.run(b.aread(3))">>, #{b => B})}
               end),
    try
        receive {py_buffer, B, demand} -> ok
        after ?DEADLINE -> error(no_demand)
        end,
        ok = py_buffer:write(B, <<"xyz">>),
        ?assertEqual({ok, <<"xyz">>},
                     receive {python, R} -> R after ?DEADLINE -> error(python_never_returned) end),
        ok = py_buffer:close(B),
        ?assertEqual(0, demands(B, mailbox()))
    after
        _ = py_buffer:abort(B, test_over)
    end.

python_read_ready() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:write(B, <<"abcdef">>),
    ?assertEqual({ok, <<"abc">>},
                 py:eval(py_buffer_test_helpers:ctx(), <<"b.read(3)">>, #{b => B})),
    ?assertEqual([{py_buffer, B, readable}], mailbox()),
    ?assertMatch(#{demanded := false}, py_buffer:info(B)).

python_close_unread() ->
    flush(),
    {ok, B} = py_buffer:new(#{content_length => 10, notify => self()}),
    ok = py_buffer:write(B, <<"0123">>),
    ?assertEqual([{py_buffer, B, readable}], mailbox()),
    ok = py_buffer:activate(B),
    ?assertEqual([{py_buffer, B, readable}], mailbox()),
    {ok, _} = py:eval(py_buffer_test_helpers:ctx(), <<"b.read(1) and b.close()">>, #{b => B}),
    Messages = receive_until_reader_closed(B),
    ?assertEqual(0, demands(B, Messages)),
    ?assertMatch(#{reader_closed := true, eof := false, read := 1, buffered := 3,
                   content_length := 10, written := 4},
                 py_buffer:info(B)),
    ?assertEqual({error, reader_closed}, py_buffer:write(B, <<"45">>)).

close_reader_unread() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:write(B, <<"body">>),
    ok = py_buffer:close_reader(B),
    %% No `eof': the writer's side is still open (writes now fail).
    ?assertEqual([{py_buffer, B, readable}, {py_buffer, B, reader_closed}], mailbox()),
    ?assertMatch(#{reader_closed := true, eof := false, buffered := 4}, py_buffer:info(B)).

%% The messages up to and including `reader_closed' (sent from a Python thread).
receive_until_reader_closed(B) ->
    receive
        {py_buffer, B, reader_closed} = M -> [M];
        {py_buffer, B, _} = M -> [M | receive_until_reader_closed(B)]
    after ?DEADLINE -> error(no_reader_closed)
    end.
