%% @doc Runs the PropEr properties of nif/test: a short run inside `make test-nif' (EUnit,
%% py_buffer_proper_tests) and a long one, `make proper PROPER_NUMTESTS=N'.
%%
%% The number of cases of the short run is set here, once per property, so `make test' stays
%% within about a minute on a loaded 2-core machine (docs/reliability.md, "PropEr").
-module(prop_run).

-export([properties/0, short_numtests/1, check/2, main/1]).

%% @doc Every property: a name, and a fun making it.
-spec properties() -> [{atom(), fun(() -> proper:test())}].
properties() ->
    [{public_api, fun prop_py_buffer_api:prop_public_api/0},
     {internal_nifs, fun prop_py_buffer_api:prop_internal_nifs/0},
     {py_api, fun prop_py_terms:prop_py_api/0},
     {buffer_statem, fun prop_py_buffer_statem:prop_buffer_model/0}].

%% @doc Cases per property in the short run.
-spec short_numtests(atom()) -> pos_integer().
short_numtests(public_api) -> 2000;
short_numtests(internal_nifs) -> 500;
short_numtests(py_api) -> 600;
short_numtests(buffer_statem) -> 1000.

%% @doc Checks one property with `NumTests' cases; prints a shrunk counterexample on failure.
-spec check(atom(), pos_integer()) -> boolean().
check(Name, NumTests) ->
    {Name, Make} = lists:keyfind(Name, 1, properties()),
    Start = erlang:monotonic_time(millisecond),
    Result = proper:quickcheck(Make(), [{numtests, NumTests}, {to_file, user}]),
    io:format(user, "~nproperty ~p: ~p cases, ~p, ~.1f s~n",
              [Name, NumTests, Result,
               (erlang:monotonic_time(millisecond) - Start) / 1000]),
    Result =:= true.

%% @doc `make proper': every property with `NumTests' cases each; halts 0 if all hold.
-spec main([string()]) -> no_return().
main([NumTests]) ->
    N = list_to_integer(NumTests),
    Results = [check(Name, N) || {Name, _} <- properties()],
    halt(case lists:all(fun(R) -> R end, Results) of true -> 0; false -> 1 end).
