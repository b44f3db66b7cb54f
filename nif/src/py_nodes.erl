%% @doc The app nodes a front routes requests to (issue 14): one BEAM per CPython (so one GIL
%% each), joined by Erlang distribution. Registered `py_nodes', started on demand under
%% {@link py_buffer_sup} by the first of {@link start_local/2} and {@link connect/1}; it owns
%% the routing table {@link py_route}.
%%
%% == Roles ==
%% <ul>
%% <li>front: the VM with the HTTP server. {@link start_local/2} makes it a distributed node
%%     ({@link py_dist}: loopback, random cookie, unless told otherwise) and starts `N' local
%%     app nodes with the `peer' module (`erl -name py_app<i>_<suffix>@127.0.0.1 -pa <this
%%     VM's non-OTP code path>'; the cookie is set after boot, never on a command line: see
%%     {@link py_dist:start_peer/1}), each with this VM's `py_buffer' application
%%     environment (`python', `python_path', ...; option `env' adds to it). They are
%%     supervised here: one that dies is started again (same name, after 0.5 s) and peers
%%     stop with the front (they halt when it goes). {@link connect/1} joins an
%%     app node started elsewhere (same cookie) and reconnects every second after it went
%%     down. By default the front serves requests too (option `serve_local', default `true';
%%     `false': only app nodes serve).</li>
%% <li>app: {@link serve_app/1} makes a VM a distributed node with the given name and starts
%%     the `py_buffer' application; the front drives everything else (requests come as
%%     {@link py_remote_proxy} processes). {@link leave/0}, before it stops, tells the fronts
%%     to route no new requests to it.</li>
%% </ul>
%%
%% == Joining ==
%% A node serves (is added to {@link py_route}) once it joined: the `py_buffer' application
%% runs there and every app of the option `apps' was started ({@link py_app:start/1}: an ASGI
%% app's lifespan startup runs on every node). A node whose join fails is retried like a node
%% that went down. A node that goes down is removed at once (`nodedown'); its requests fail by
%% themselves (`{failed, {node_down, Node}}' from {@link py_remote:handle/2}).
%%
%% == Messages ==
%% Besides calls: `{py_nodes, release, Key}' from an app node's proxy whose front process died
%% (the request's routing count, see {@link py_route:release/1}); `{py_nodes, leaving, Node}'
%% from an app node that stops ({@link leave/0}): no new requests go there, those in flight
%% go on, and once it is down it is reconnected like any node that went down.
-module(py_nodes).
-behaviour(gen_server).

-export([start_local/2, connect/1, serve_app/1, leave/0, nodes/0, stop/0]).
-export([start_link/1, init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).
-export_type([options/0]).

-define(RESTART_DELAY, 500).
-define(RECONNECT_DELAY, 1000).
-define(JOIN_TIMEOUT, 60000).

-type options() :: #{apps => [py_remote_proxy:app()],
                     serve_local => boolean(),
                     env => [{atom(), term()}],
                     code_path => [file:filename()],
                     extra_args => [string()],
                     _ => _}.
%% Plus the {@link py_dist:options()} (`name', `interface', `cookie', `ticktime'), used when
%% this VM is made a distributed node. `apps': the apps started on every node that joins;
%% `env': `py_buffer' application environment of local app nodes, over this VM's;
%% `code_path': their code path (default: this VM's directories outside the OTP root);
%% `extra_args': more `erl' arguments for them; `restart_delay': milliseconds before a local
%% app node that died is started again (default 500).

-record(node, {kind :: local | remote,
               state = joining :: joining | up | leaving | down,
               peer :: pid() | undefined}).

-record(st, {opts :: options(),
             nodes = #{} :: #{node() => #node{}},
             seq = 0 :: non_neg_integer()}).

%% @doc Starts `N' local app nodes (0 for none) and routes requests to them once they joined:
%% their names, or `{error, Reason}'. Makes this VM a distributed node first if it is not
%% (see {@link py_dist}); `Opts' are taken by the first call that starts `py_nodes'.
-spec start_local(non_neg_integer(), options()) -> {ok, [node()]} | {error, term()}.
start_local(N, Opts) when is_integer(N), N >= 0, is_map(Opts) ->
    case ensure_started(Opts) of
        ok -> gen_server:call(?MODULE, {start_local, N}, infinity);
        Error -> Error
    end.

%% @doc Joins the app node `Node' (started elsewhere with the same cookie, e.g. by
%% {@link serve_app/1}): `ok' once it serves, or `{error, Reason}' (it is retried every second
%% all the same). Starts `py_nodes' (with default options) if needed.
-spec connect(node()) -> ok | {error, term()}.
connect(Node) when is_atom(Node) ->
    case ensure_started(#{}) of
        ok -> gen_server:call(?MODULE, {connect, Node}, infinity);
        Error -> Error
    end.

%% @doc The app role: makes this VM the distributed node `name' (see {@link py_dist}; the
%% cookie must be the front's) and starts the `py_buffer' application. Returns the node name,
%% for the front's {@link connect/1}.
-spec serve_app(py_dist:options()) -> {ok, node()} | {error, term()}.
serve_app(Opts) ->
    case py_dist:ensure(maps:merge(#{name => "py_app"}, Opts)) of
        {ok, Node} ->
            case application:ensure_all_started(py_buffer) of
                {ok, _} -> {ok, Node};
                {error, _} = Error -> Error
            end;
        Error ->
            Error
    end.

%% @doc On an app node that is about to stop: every front connected to it routes no new
%% requests here (their requests in flight go on). Returns the fronts told.
-spec leave() -> [node()].
leave() ->
    Fronts = erlang:nodes(),
    _ = [erlang:send({?MODULE, Front}, {?MODULE, leaving, node()}, [noconnect])
         || Front <- Fronts],
    Fronts.

%% @doc The nodes that serve and their outstanding requests.
-spec nodes() -> [{node(), non_neg_integer()}].
nodes() ->
    py_route:outstanding().

%% @doc Stops routing: the apps' lifespan shutdown runs on every local app node that serves
%% ({@link py_app:stop/1}; not on the nodes joined with {@link connect/1}, which may serve
%% other fronts), local app nodes stop, the routing table goes (requests are then local
%% again).
-spec stop() -> ok.
stop() ->
    _ = supervisor:terminate_child(py_buffer_sup, ?MODULE),
    _ = supervisor:delete_child(py_buffer_sup, ?MODULE),
    ok.

ensure_started(Opts) ->
    case whereis(?MODULE) of
        undefined ->
            case application:ensure_all_started(py_buffer) of
                {ok, _} ->
                    Spec = #{id => ?MODULE, start => {?MODULE, start_link, [Opts]},
                             restart => transient, shutdown => 10000, type => worker,
                             modules => [?MODULE]},
                    case supervisor:start_child(py_buffer_sup, Spec) of
                        {ok, _} -> ok;
                        {error, {already_started, _}} -> ok;
                        {error, already_present} ->
                            _ = supervisor:delete_child(py_buffer_sup, ?MODULE),
                            ensure_started(Opts);
                        {error, Reason} -> {error, Reason}
                    end;
                {error, _} = Error ->
                    Error
            end;
        _ ->
            ok
    end.

%% @private
-spec start_link(options()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, Opts, []).

%% @private
-spec init(options()) -> {ok, #st{}} | {stop, term()}.
init(Opts) ->
    process_flag(trap_exit, true),
    case py_dist:ensure(Opts) of
        {ok, _} ->
            ok = py_route:new(),
            ok = net_kernel:monitor_nodes(true),
            case maps:get(serve_local, Opts, true) of
                true -> ok = py_route:add(node());
                false -> ok
            end,
            put(py_nodes_opts, Opts),
            {ok, #st{opts = Opts}};
        {error, Reason} ->
            {stop, Reason}
    end.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}}.
handle_call({start_local, N}, _From, #st{seq = Seq} = St) ->
    Names = [peer_name(Seq + I) || I <- lists:seq(1, N)],
    Results = join_all([{local, Name} || Name <- Names], St),
    St1 = lists:foldl(fun added/2, St#st{seq = Seq + N}, Results),
    case [R || {_, {error, _} = R, _} <- Results] of
        [] -> {reply, {ok, [Node || {Node, ok, _} <- Results]}, St1};
        [Error | _] -> {reply, Error, St1}
    end;
handle_call({connect, Node}, _From, St) ->
    case maps:find(Node, St#st.nodes) of
        {ok, #node{state = up}} ->
            {reply, ok, St};
        _ ->
            [{_, Result, _} = R] = join_all([{remote, Node}], St),
            {reply, Result, added(R, St)}
    end;
handle_call(_Request, _From, St) ->
    {reply, {error, unknown_call}, St}.

%% @private
-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info({py_nodes, release, Key}, St) ->
    ok = py_route:release(Key),
    {noreply, St};
handle_info({py_nodes, leaving, Node}, #st{nodes = Nodes} = St) ->
    case maps:find(Node, Nodes) of
        {ok, #node{state = up} = Rec} ->
            ok = py_route:remove(Node),
            {noreply, St#st{nodes = Nodes#{Node => Rec#node{state = leaving}}}};
        _ ->
            {noreply, St}
    end;
handle_info({nodedown, Node}, St) ->
    {noreply, down(Node, St)};
handle_info({'EXIT', Pid, _Reason}, #st{nodes = Nodes} = St) ->
    case [N || {N, #node{peer = P}} <- maps:to_list(Nodes), P =:= Pid] of
        [Node] -> {noreply, down(Node, St)};
        [] -> {noreply, St}
    end;
handle_info({rejoin, Node}, #st{nodes = Nodes} = St) ->
    case maps:find(Node, Nodes) of
        {ok, #node{state = down, kind = Kind}} ->
            %% A remote node that is still unreachable fails fast (or within the connect
            %% timeout); it is tried again later.
            [R] = join_all([{Kind, Node}], St),
            {noreply, added(R, St)};
        _ ->
            {noreply, St}
    end;
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Reason, #st{nodes = Nodes, opts = Opts}) ->
    %% The apps' lifespan shutdown on every local node that serves, then they stop. Remote
    %% app nodes keep their apps (other fronts may use them; they shut down when stopped).
    Up = [N || {N, #node{state = up, kind = local}} <- maps:to_list(Nodes)],
    _ = [catch erpc:call(N, py_app, stop, [App], 10000)
         || N <- Up, App <- maps:get(apps, Opts, []), not is_module_app(App)],
    _ = [catch peer:stop(P) || #node{peer = P} <- maps:values(Nodes), is_pid(P)],
    ok.

%% ---- joining -----------------------------------------------------------------------------

peer_name(I) ->
    {Name, _} = lists:splitwith(fun(C) -> C =/= $@ end, atom_to_list(node())),
    list_to_atom("py_app" ++ integer_to_list(I) ++ "_" ++ Name ++ "@" ++ host()).

host() ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Host.

%% Joins nodes in parallel (each boot and lifespan startup takes a while): a list of
%% `{Node, ok | {error, Reason}, #node{}}'.
join_all(Joins, #st{opts = Opts}) ->
    Self = self(),
    Refs = [begin
                Ref = make_ref(),
                _ = spawn(fun() -> Self ! {Ref, join(Join, Opts)} end),
                Ref
            end || Join <- Joins],
    [receive {Ref, Result} -> Result end || Ref <- Refs].

join({local, Node}, Opts) ->
    [Name, Host] = string:split(atom_to_list(Node), "@"),
    Dirs = maps:get(code_path, Opts,
                    [D || D <- code:get_path(), not lists:prefix(code:root_dir(), D),
                          D =/= "."]),
    PeerOpts = #{name => Name, host => Host, longnames => true,
                 args => py_dist:peer_args(Opts#{code_path => [filename:absname(D)
                                                               || D <- Dirs]}),
                 env => epmd_env(),
                 wait_boot => ?JOIN_TIMEOUT},
    case py_dist:start_peer(PeerOpts) of
        {ok, Peer, Node} ->
            Env = maps:get(env, Opts, []),
            case setup(Node, application:get_all_env(py_buffer) ++ Env, Opts) of
                ok -> {Node, ok, #node{kind = local, state = up, peer = Peer}};
                {error, _} = Error ->
                    catch peer:stop(Peer),
                    {Node, Error, #node{kind = local, state = down}}
            end;
        {error, _} = Error ->
            {Node, Error, #node{kind = local, state = down}}
    end;
join({remote, Node}, Opts) ->
    case net_kernel:connect_node(Node) of
        true ->
            case setup(Node, none, Opts) of
                ok -> {Node, ok, #node{kind = remote, state = up}};
                Error -> {Node, Error, #node{kind = remote, state = down}}
            end;
        _ ->
            {Node, {error, {noconnection, Node}}, #node{kind = remote, state = down}}
    end.

epmd_env() ->
    case os:getenv("ERL_EPMD_ADDRESS") of
        false ->
            case application:get_env(kernel, inet_dist_use_interface) of
                {ok, IP} -> [{"ERL_EPMD_ADDRESS", inet:ntoa(IP)}];
                undefined -> []
            end;
        Addr ->
            [{"ERL_EPMD_ADDRESS", Addr}]
    end.

%% The application (with `Env' set first, for a local node) and the apps, on `Node'.
setup(Node, Env, Opts) ->
    try
        ok = set_env(Node, Env),
        {ok, _} = erpc:call(Node, application, ensure_all_started, [py_buffer], ?JOIN_TIMEOUT),
        Apps = [{App, erpc:call(Node, py_app, start, [App], ?JOIN_TIMEOUT)}
                || App <- maps:get(apps, Opts, []), not is_module_app(App)],
        case [{App, E} || {App, {error, _} = E} <- Apps] of
            [] -> ok;
            Failed -> {error, {apps, Failed}}
        end
    catch
        Class:Reason -> {error, {Class, Reason}}
    end.

set_env(_Node, none) ->
    ok;
set_env(Node, Env) ->
    _ = erpc:call(Node, application, load, [py_buffer], ?JOIN_TIMEOUT),
    lists:foreach(fun({K, V}) ->
                          ok = erpc:call(Node, application, set_env, [py_buffer, K, V],
                                         ?JOIN_TIMEOUT)
                  end, [KV || {K, _} = KV <- Env, K =/= included_applications]).

is_module_app({module, _, _}) -> true;
is_module_app(_) -> false.

added({Node, ok, Rec}, #st{nodes = Nodes} = St) ->
    ok = py_route:add(Node),
    case Rec#node.peer of
        undefined -> ok;
        Peer -> link(Peer)
    end,
    St#st{nodes = Nodes#{Node => Rec}};
added({Node, {error, _}, Rec}, #st{nodes = Nodes} = St) ->
    retry(Node, Rec#node.kind),
    St#st{nodes = Nodes#{Node => Rec#node{state = down, peer = undefined}}}.

down(Node, #st{nodes = Nodes} = St) ->
    case maps:find(Node, Nodes) of
        {ok, #node{state = State, kind = Kind, peer = Peer} = Rec}
          when State =:= up; State =:= leaving ->
            ok = py_route:remove(Node),
            case Peer of
                undefined -> ok;
                _ -> unlink(Peer), catch peer:stop(Peer)
            end,
            retry(Node, Kind),
            St#st{nodes = Nodes#{Node => Rec#node{state = down, peer = undefined}}};
        _ ->
            St
    end.

retry(Node, local) ->
    Delay = maps:get(restart_delay, get(py_nodes_opts), ?RESTART_DELAY),
    erlang:send_after(Delay, self(), {rejoin, Node});
retry(Node, remote) ->
    erlang:send_after(?RECONNECT_DELAY, self(), {rejoin, Node}).
