%% @doc The PropEr properties (prop_run) as EUnit tests: the short run `make test-nif' (and so
%% `make test') makes, and checks that every export is either called by a property or left out
%% on purpose, so a new export cannot escape the random-term properties unnoticed.
-module(py_buffer_proper_tests).

-include_lib("eunit/include/eunit.hrl").

%% The most one property may take here (its short run takes seconds; the machine is shared).
-define(PROPERTY_TIMEOUT_S, 300).

properties_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0,
     %% The properties leave garbage (megabyte binaries): collect it, so later tests that
     %% measure erlang:memory/1 start from a settled heap.
     fun(_) -> [erlang:garbage_collect(P) || P <- processes()] end,
     [{atom_to_list(Name),
       {timeout, ?PROPERTY_TIMEOUT_S,
        fun() -> ?assert(prop_run:check(Name, prop_run:short_numtests(Name))) end}}
      || {Name, _} <- prop_run:properties()]}.

every_py_buffer_export_is_classified_test() ->
    Exports = py_buffer:module_info(exports),
    Classified = prop_py_buffer_api:public() ++ prop_py_buffer_api:internal()
        ++ prop_py_buffer_api:not_called(),
    ?assertEqual(lists:sort(Exports), lists:sort(Classified)).

every_py_export_is_classified_test() ->
    Exports = py:module_info(exports),
    Classified = prop_py_terms:called() ++ [{stop, 0}, {module_info, 0}, {module_info, 1}],
    ?assertEqual(lists:sort(Exports), lists:sort(Classified)).
