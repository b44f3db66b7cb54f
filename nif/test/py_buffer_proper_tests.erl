%% @doc The PropEr properties (prop_run) as EUnit tests: the short run `make test-nif' (and so
%% `make test') makes, and checks that every export is either called by a property or left out
%% on purpose, so a new export cannot escape the random-term properties unnoticed.
-module(py_buffer_proper_tests).

-include_lib("eunit/include/eunit.hrl").

%% The most one property may take here (its short run takes seconds; the machine is shared).
-define(PROPERTY_TIMEOUT_S, 300).
%% How long to wait for the properties' garbage to be freed, and how much may stay.
-define(SETTLE_MS, 10000).
-define(SETTLED_SLACK, (4 bsl 20)).

properties_test_() ->
    {setup, fun() -> py_buffer_test_helpers:setup(), erlang:memory(binary) end,
     fun settle/1,
     [{atom_to_list(Name),
       {timeout, ?PROPERTY_TIMEOUT_S,
        fun() -> ?assert(prop_run:check(Name, prop_run:short_numtests(Name))) end}}
      || {Name, _} <- prop_run:properties()]}.

%% The properties leave garbage (megabyte binaries, some held by buffers that Python objects
%% or the NIF's dropper thread free later): collect it and wait until the VM's binary memory is
%% back near where it was, so a later test measuring erlang:memory/1 starts from a settled
%% heap. Not an assertion: after ?SETTLE_MS it goes on regardless.
settle(BinaryBefore) ->
    _ = [erlang:garbage_collect(P) || P <- processes()],
    ok = py:exec(py_buffer_test_helpers:ctx(), <<"import gc; gc.collect()">>),
    _ = py_buffer_test_helpers:await(
          fun() -> erlang:memory(binary) < BinaryBefore + ?SETTLED_SLACK end, ?SETTLE_MS),
    ok.

every_py_buffer_export_is_classified_test() ->
    Exports = py_buffer:module_info(exports),
    Classified = prop_py_buffer_api:public() ++ prop_py_buffer_api:internal()
        ++ prop_py_buffer_api:not_called(),
    ?assertEqual(lists:sort(Exports), lists:sort(Classified)).

every_py_export_is_classified_test() ->
    Exports = py:module_info(exports),
    Classified = prop_py_terms:called() ++ [{stop, 0}, {module_info, 0}, {module_info, 1}],
    ?assertEqual(lists:sort(Exports), lists:sort(Classified)).
