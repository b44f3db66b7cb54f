%% `activate/1' after a read that returned `{error, eagain}' although bytes were there (a
%% `readline' waiting for the rest of its line, a `read_all' waiting for the end): no
%% `readable' for the bytes the read already saw, so "retry, eagain, activate" does not spin;
%% `readable' again once more bytes are written. `read/2' keeps "unread bytes are there".
%%
%% Exact message counts, no sleeps: a message that was sent is already in the mailbox when
%% the call that sent it returns.
-module(py_buffer_activate_tests).

-include_lib("eunit/include/eunit.hrl").

-import(py_buffer_test_helpers, [flush/0]).

%% Every message in the mailbox, oldest first, but `demand' (the first `eagain' sends it
%% once per buffer; py_buffer_demand_tests counts it).
mailbox() ->
    receive
        {py_buffer, _, demand} -> mailbox();
        M -> [M | mailbox()]
    after 0 -> []
    end.

readline_waiting_on_a_partial_line_gets_no_readable_until_a_write_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:write(B, <<"abc">>),
    ?assertEqual([{py_buffer, B, readable}], mailbox()),
    ?assertEqual({error, eagain}, py_buffer:readline(B)),
    ok = py_buffer:activate(B),
    ?assertEqual([], mailbox()),
    %% Activating again (a spurious wake-up elsewhere) still sends nothing.
    ok = py_buffer:activate(B),
    ?assertEqual([], mailbox()),
    ok = py_buffer:write(B, <<"d">>),
    ?assertEqual([{py_buffer, B, readable}], mailbox()),
    ?assertEqual({error, eagain}, py_buffer:readline(B)),
    ok = py_buffer:activate(B),
    ?assertEqual([], mailbox()),
    ok = py_buffer:write(B, <<"\nef">>),
    ?assertEqual([{py_buffer, B, readable}], mailbox()),
    ?assertEqual({ok, <<"abcd\n">>}, py_buffer:readline(B)),
    %% A successful read clears the mark: "ef" is unread, so activate reports it.
    ok = py_buffer:activate(B),
    ?assertEqual([{py_buffer, B, readable}], mailbox()).

a_write_between_activates_is_reported_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:write(B, <<"abc">>),
    flush(),
    ?assertEqual({error, eagain}, py_buffer:readline(B)),
    %% Written while disarmed (the `readable' above was not re-armed): activate reports it.
    ok = py_buffer:write(B, <<"d">>),
    ?assertEqual([], mailbox()),
    ok = py_buffer:activate(B),
    ?assertEqual([{py_buffer, B, readable}], mailbox()).

read_all_waiting_for_the_end_gets_eof_not_readable_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:write(B, <<"body">>),
    flush(),
    ?assertEqual({error, eagain}, py_buffer:read_all(B)),
    ok = py_buffer:activate(B),
    ?assertEqual([], mailbox()),
    ok = py_buffer:close(B),
    ?assertEqual([{py_buffer, B, eof}], mailbox()),
    %% The body is over: `readable' holds again (with `eof').
    ok = py_buffer:activate(B),
    ?assertEqual([{py_buffer, B, readable}, {py_buffer, B, eof}], mailbox()),
    ?assertEqual({ok, <<"body">>}, py_buffer:read_all(B)).

read_after_a_waiting_readline_reports_unread_bytes_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:write(B, <<"abc">>),
    flush(),
    ?assertEqual({error, eagain}, py_buffer:readline(B)),
    %% `read/2' takes what is there; its result clears the mark.
    ?assertEqual({ok, <<"a">>}, py_buffer:read(B, 1)),
    ok = py_buffer:activate(B),
    ?assertEqual([{py_buffer, B, readable}], mailbox()).

bounded_read_all_with_bytes_set_aside_does_not_spin_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{max_buffered => 4, notify => self()}),
    ?assertEqual({partial, <<"ef">>}, py_buffer:write(B, <<"abcdef">>)),
    ?assertEqual([{py_buffer, B, readable}], mailbox()),
    %% The waiting read sets the 4 bytes aside: the writer is told `writable'.
    ?assertEqual({error, eagain}, py_buffer:read_all(B)),
    ?assertEqual([{py_buffer, B, writable}], mailbox()),
    ok = py_buffer:activate(B),
    ?assertEqual([], mailbox()),
    ok = py_buffer:write(B, <<"ef">>),
    ?assertEqual([{py_buffer, B, readable}], mailbox()),
    ok = py_buffer:close(B),
    ?assertEqual([{py_buffer, B, eof}], mailbox()),
    ?assertEqual({ok, <<"abcdef">>}, py_buffer:read_all(B)).
