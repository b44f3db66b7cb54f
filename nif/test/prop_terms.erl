%% @doc The arguments the random-term properties (prop_py_buffer_api, prop_py_terms) feed to
%% the API: PropEr generators of argument specs, and their materialisation into real terms.
%%
%% A generated argument is a spec, not the term itself, so a shrunk counterexample stays
%% readable and every case gets fresh buffers and processes:
%% <ul>
%% <li>`{term, T}': `T' as it is (PropEr's `any()' or a near miss: wrong types, integers at
%%     and beyond the 64-bit and 32-bit edges, negative sizes, improper lists, bitstrings,
%%     option maps with wrong values);</li>
%% <li>`{make, Kind, N}': a term too large to print: a binary of `N' bytes, a sub-binary of
%%     one, an iolist or a list or tuple nested `N' deep, a list of `N' elements;</li>
%% <li>`{buffer, State}': a real buffer in that state (fresh, sized, bounded and full, written,
%%     closed, aborted, reader closed, read to its end, owned by a dead or another process,
%%     subscribed), or `python_made' (a `PyBuffer' made in Python: a reference the functions
%%     must refuse), or a buffer wrapped in a list, tuple or map;</li>
%% <li>`{pid, Kind}': the caller, a live process, a dead one, or a pid of another node;</li>
%% <li>`{options, [{Key, Spec}]}': a map of materialised values (`new/1' options with pids);
%%     `{list_of, [Spec]}': a list of them.</li>
%% </ul>
%% Improper lists among the literal values are wrapped in `exactly/1': PropEr cooks a literal
%% list into a list type, and its shrinker crashes on an improper one (`length/1').
%% {@link materialise/2} turns a spec into its term and records what it made in a `world()',
%% which {@link cleanup/1} ends (buffers aborted, processes killed, mailbox emptied).
-module(prop_terms).

-include_lib("proper/include/proper.hrl").

-export([arg/0, near_miss/0, size_like/0, pid_spec/0, buffer_spec/0, made/0, new_options/0,
         new_world/0, materialise/2, materialise_all/2, buffers/1, is_buffer/2, cleanup/1,
         canary/0, no_raise/1, abort_buffers/1]).
-export_type([world/0]).

-record(world, {buffers = [] :: [py_buffer:buffer()],
                procs = [] :: [pid()]}).
-opaque world() :: #world{}.

-define(MAX_SIZE, (1 bsl 64) - 1).

%% @doc Any argument spec.
-spec arg() -> proper_types:type().
arg() ->
    frequency([{4, buffer_spec()}, {4, {term, near_miss()}}, {2, {term, any()}},
               {2, pid_spec()}, {1, made()}]).

%% @doc A buffer in some state, a non-buffer that looks like one, or a wrapped buffer.
-spec buffer_spec() -> proper_types:type().
buffer_spec() ->
    frequency([{8, {buffer, buffer_state()}}, {1, {buffer, python_made}},
               {1, {wrapped, elements([list, tuple, map]), buffer_state()}}]).

buffer_state() ->
    elements([fresh, sized, bounded, full, written, closed, aborted, reader_closed, drained,
              dead_owner, other_owner, subscribed, subscribed_other]).

%% @doc The caller, a live process, a dead one, or a pid of a node that does not exist.
-spec pid_spec() -> proper_types:type().
pid_spec() -> {pid, elements([self, live, dead, remote])}.

%% @doc A term too large to print well, made at materialisation.
-spec made() -> proper_types:type().
made() ->
    oneof([{make, binary, elements([0, 1, 4095, 4096, 65536, 300000, 1100000])},
           {make, sub_binary, elements([1, 4096, 70000])},
           {make, deep_iolist, elements([10, 1000, 100000])},
           {make, deep_list, elements([999, 1001, 100000])},
           {make, deep_tuple, elements([999, 1001, 100000])},
           {make, long_list, elements([1000, 20001, 200000])}]).

%% @doc Sizes and limits at the edges: 0, small, 2^32, 2^64 - 1, beyond, negative, not
%% integers.
-spec size_like() -> proper_types:type().
size_like() ->
    oneof([range(0, 10), elements([0, 1, 4096, 16#FFFFFFFF, 16#100000000, ?MAX_SIZE,
                                   ?MAX_SIZE + 1, 1 bsl 1000, -1, -(1 bsl 64), 1.0, -0.0,
                                   infinity, undefined]),
           integer()]).

%% @doc Wrong types, edge values and almost-right shapes.
-spec near_miss() -> proper_types:type().
near_miss() ->
    oneof([size_like(),
           elements([ok, error, true, false, undefined, none, any, infinity, copy, keep,
                     close, close_reader, read, readline, '', 'a.b', [], {}, #{}, <<>>,
                     <<255, 254>>, <<0>>, <<1:3>>, [<<1:7>>], "a\nb", [256], [-1],
                     exactly([<<"a">> | <<"b">>]), exactly([<<"a">> | b]), exactly([1 | 2]),
                     exactly([[[[<<"x">>]]] | <<"y">>]),
                     {py_context, 0}, {py_context, 1}, {py_context, 1 bsl 32},
                     {py_context, -1}, {py_context, foo}, {bytes, <<1, 2>>}, {bytes, foo},
                     {read, 1}, {write, <<"x">>}, {wait_read, 1}, {read, -1},
                     1.0e308, -1.0e308]),
           options_map(),
           binary(),
           list(oneof([range(0, 255), binary()])),
           {elements([read, write, wait_read]), size_like()}]).

options_map() ->
    ?LET(Pairs, list({elements([content_length, max_buffered, notify, owner, kwargs,
                                timeout, other, "content_length"]),
                      oneof([size_like(), elements([self, undefined, foo])])}),
         maps:from_list([{K, option_value(V)} || {K, V} <- Pairs])).

%% `self' as a value stands for the caller (a pid the generator cannot know).
option_value(self) -> '$self';
option_value(V) -> V.

%% @doc `new/1' options: the right keys with right, edge and wrong values, real pids.
-spec new_options() -> proper_types:type().
new_options() ->
    ?LET(Pairs, list(oneof([{content_length, oneof([{term, size_like()}, arg()])},
                            {max_buffered, oneof([{term, size_like()}, arg()])},
                            {notify, oneof([pid_spec(), {term, undefined}, arg()])},
                            {owner, oneof([pid_spec(), arg()])},
                            {{term, near_miss()}, arg()}])),
         {options, [{key(K), V} || {K, V} <- Pairs]}).

key({term, K}) -> K;
key(K) -> K.

%% @doc An empty world.
-spec new_world() -> world().
new_world() -> #world{}.

%% @doc The terms of `Specs', and the world that records what they made.
-spec materialise_all([term()], world()) -> {[term()], world()}.
materialise_all(Specs, World) ->
    lists:mapfoldl(fun materialise/2, World, Specs).

%% @doc The term of one spec.
-spec materialise(term(), world()) -> {term(), world()}.
materialise({term, T}, W) -> {substitute_self(T), W};
materialise({make, Kind, N}, W) -> {make(Kind, N), W};
materialise({pid, Kind}, W) -> pid(Kind, W);
materialise({buffer, python_made}, W) -> {python_made(), W};
materialise({buffer, State}, W) ->
    {B, W1} = buffer(State, W),
    {B, W1#world{buffers = [B | W1#world.buffers]}};
materialise({list_of, Specs}, W) -> materialise_all(Specs, W);
materialise({options, Pairs}, W) ->
    {Values, W1} = materialise_all([Spec || {_, Spec} <- Pairs], W),
    {maps:from_list(lists:zip([K || {K, _} <- Pairs], Values)), W1};
materialise({wrapped, How, State}, W) ->
    {B, W1} = materialise({buffer, State}, W),
    {wrap(How, B), W1}.

substitute_self(M) when is_map(M) ->
    maps:map(fun(_, '$self') -> self(); (_, V) -> V end, M);
substitute_self(T) -> T.

wrap(list, B) -> [B];
wrap(tuple, B) -> {B};
wrap(map, B) -> #{buffer => B}.

make(binary, N) -> binary:copy(<<"x">>, N);
make(sub_binary, N) ->
    <<_:1/binary, Sub:N/binary, _/binary>> = binary:copy(<<"y">>, N + 2), Sub;
make(deep_iolist, N) -> nest(N, <<"z">>, fun(X) -> [X] end);
make(deep_list, N) -> nest(N, 1, fun(X) -> [X] end);
make(deep_tuple, N) -> nest(N, 1, fun(X) -> {X} end);
make(long_list, N) -> lists:seq(1, N);
make(ref, _) -> make_ref().

nest(0, X, _) -> X;
nest(N, X, F) -> nest(N - 1, F(X), F).

pid(self, W) -> {self(), W};
pid(live, W) ->
    P = spawn(fun() -> receive stop -> ok end end),
    {P, W#world{procs = [P | W#world.procs]}};
pid(dead, W) -> {dead_pid(), W};
pid(remote, W) ->
    %% NEW_PID_EXT on a node that does not exist.
    Node = <<"nobody@nowhere">>,
    {binary_to_term(<<131, 88, 100, (byte_size(Node)):16, Node/binary, 1:32, 0:32, 1:32>>), W}.

dead_pid() ->
    {P, Ref} = spawn_monitor(fun() -> ok end),
    receive {'DOWN', Ref, process, P, _} -> P end.

%% A buffer in `State'; every step's result is checked, so a broken set-up fails loudly.
buffer(fresh, W) -> {ok(py_buffer:new()), W};
buffer(sized, W) -> {ok(py_buffer:new(5)), W};
buffer(bounded, W) -> {ok(py_buffer:new(#{max_buffered => 4})), W};
buffer(full, W) ->
    B = ok(py_buffer:new(#{max_buffered => 4})),
    {partial, <<"ef">>} = py_buffer:write(B, <<"abcdef">>),
    {B, W};
buffer(written, W) ->
    B = ok(py_buffer:new()),
    ok = py_buffer:write(B, <<"ab\ncd">>),
    {B, W};
buffer(closed, W) ->
    B = ok(py_buffer:new()),
    ok = py_buffer:write(B, <<"xy">>),
    ok = py_buffer:close(B),
    {B, W};
buffer(aborted, W) ->
    B = ok(py_buffer:new()),
    ok = py_buffer:write(B, <<"x">>),
    ok = py_buffer:abort(B, {why, [1, 2]}),
    {B, W};
buffer(reader_closed, W) ->
    B = ok(py_buffer:new()),
    ok = py_buffer:close_reader(B),
    {B, W};
buffer(drained, W) ->
    B = ok(py_buffer:new(2)),
    ok = py_buffer:write(B, <<"ab">>),
    {ok, <<"ab">>} = py_buffer:read_all(B),
    {B, W};
buffer(dead_owner, W) ->
    Self = self(),
    {Owner, Ref} = spawn_monitor(fun() ->
                                         B = ok(py_buffer:new()),
                                         ok = py_buffer:write(B, <<"left">>),
                                         Self ! {prop_buffer, B}
                                 end),
    B = receive {prop_buffer, Buf} -> Buf end,
    receive {'DOWN', Ref, process, Owner, _} -> ok end,
    ok = py_buffer_owners:sync(Owner),
    {B, W};
buffer(other_owner, W) ->
    {Owner, W1} = pid(live, W),
    {ok(py_buffer:new(#{owner => Owner})), W1};
buffer(subscribed, W) ->
    B = ok(py_buffer:new(#{notify => self()})),
    ok = py_buffer:write(B, <<"s">>),
    {B, W};
buffer(subscribed_other, W) ->
    {Sub, W1} = pid(live, W),
    B = ok(py_buffer:new(#{notify => Sub, max_buffered => 2})),
    {partial, <<"c">>} = py_buffer:write(B, <<"abc">>),
    {B, W1}.

ok({ok, B}) -> B.

%% A `PyBuffer' made in Python comes to Erlang as an opaque reference: not a buffer here. Its
%% body is closed at once (empty), so a Python call iterating it (`sorted/1') does not wait
%% for a writer no case can reach.
python_made() ->
    {ok, Ref} = py:eval(py:context(1),
                        <<"(lambda b: (b.writer().close(), b)[1])(__import__('py_buffer').PyBuffer())">>),
    true = is_reference(Ref),
    Ref.

%% @doc The buffers the world made.
-spec buffers(world()) -> [py_buffer:buffer()].
buffers(#world{buffers = Bs}) -> Bs.

%% @doc Whether `Term' is one of the real buffers the world made.
-spec is_buffer(term(), world()) -> boolean().
is_buffer(Term, #world{buffers = Bs}) -> lists:member(Term, Bs).

%% @doc Aborts the world's buffers (which wakes any reader waiting on them).
-spec abort_buffers(world()) -> ok.
abort_buffers(#world{buffers = Bs}) ->
    _ = [py_buffer:abort(B, prop_cleanup) || B <- Bs],
    ok.

%% @doc Ends what the world made: its buffers and every buffer in `Extra' aborted (so no
%% subscription keeps one alive), its processes killed, the caller's mailbox emptied.
-spec cleanup({world(), [term()]}) -> ok.
cleanup({#world{buffers = Bs, procs = Ps}, Extra}) ->
    _ = [py_buffer:abort(B, prop_cleanup) || B <- Bs ++ Extra],
    _ = [exit(P, kill) || P <- Ps],
    py_buffer_test_helpers:flush().

%% @doc The NIF still works: a new buffer written, closed and read back exactly.
-spec canary() -> boolean().
canary() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, [<<"can">>, "ary"]),
    ok = py_buffer:close(B),
    {ok, <<"canary">>} =:= py_buffer:read_all(B).

%% @doc Runs one case, `Body' returning its verdict and what to print if it fails; an
%% exception is caught and fails the case with its stack. (PropEr 1.2 as packaged in Debian 12
%% handles an exception escaping a property with `erlang:get_stacktrace/0', gone since OTP
%% 23: the whole run would stop with `undef' and no counterexample.)
-spec no_raise(fun(() -> {boolean(), iodata()})) -> {boolean(), iodata()}.
no_raise(Body) ->
    try Body()
    catch Class:Reason:Stack ->
            {false, io_lib:format("the case raised ~p:~P~n  ~P~n", [Class, Reason, 30, Stack, 30])}
    end.
