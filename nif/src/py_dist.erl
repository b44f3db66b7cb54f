%% @doc Erlang distribution for scaling out (issue 14): makes this VM a distributed node at run
%% time (no `-name' on the command line needed), on the loopback interface unless told
%% otherwise, with a random cookie unless one is given, and the arguments a local app node is
%% started with so that it joins the same way.
%%
%% Options (all optional):
%% <ul>
%% <li>`name': `"front"' or `"front@host"' (default `py_front_<random>' or, for
%%     {@link py_nodes:serve_app/1}, `py_app'); without a host part the host is the
%%     interface's address (`127.0.0.1' on loopback) or, for `any', this machine's name.
%%     Names are long names (`-name'), so a loopback node is `name@127.0.0.1';</li>
%% <li>`interface': the address distribution listens on: an `inet:ip_address()', or `any'
%%     (default `{127,0,0,1}': only this machine can connect);</li>
%% <li>`cookie': an atom or string (default: with a `name', Erlang's own default, the
%%     cookie in `~/.erlang.cookie' (created with a random one if missing): the cookie the
%%     nodes of a cluster share; without a `name', 24 bytes from
%%     `crypto:strong_rand_bytes/1' in hexadecimal ({@link cookie/0}): only the nodes this VM
%%     starts know it);</li>
%% <li>`ticktime': `net_ticktime' in seconds (default 4: an unreachable node is declared down
%%     within 1.25 × 4 = 5 s; every node of a cluster must use the same value).</li>
%% </ul>
%% epmd (the port mapper) must run: if it does not, it is started listening on the same
%% interface (`ERL_EPMD_ADDRESS'). TLS distribution (`-proto_dist inet_tls') is chosen on the
%% command line and is kept: see README, "Scaling out".
%%
%% A local app node ({@link start_peer/1}) never gets the cookie on its command line (where
%% `ps' shows it to every local user): `peer' controls it over its standard input and output,
%% the cookie is set there after boot, then this node connects to it.
-module(py_dist).

-export([ensure/1, peer_args/1, start_peer/1, cookie/0, ticktime/1]).
-export_type([options/0]).

-define(TICKTIME, 4).

-type options() :: #{name => string() | atom(),
                     interface => inet:ip_address() | any,
                     cookie => atom() | string(),
                     ticktime => pos_integer(),
                     _ => _}.

%% @doc Makes this VM a distributed node with `Opts' unless it is one already (then only a
%% given `cookie' is set). Returns the node name.
-spec ensure(options()) -> {ok, node()} | {error, term()}.
ensure(Opts) ->
    case node() of
        nonode@nohost -> start(Opts);
        Node -> set_cookie(Opts), {ok, Node}
    end.

start(Opts) ->
    Interface = maps:get(interface, Opts, {127, 0, 0, 1}),
    Name = name(maps:get(name, Opts, "py_front_" ++ suffix()), Interface),
    case Interface of
        any -> ok;
        IP -> ok = application:set_env(kernel, inet_dist_use_interface, IP)
    end,
    ok = ensure_epmd(Interface),
    case net_kernel:start(Name, #{name_domain => longnames,
                                  net_ticktime => ticktime(Opts)}) of
        {ok, _} ->
            case cookie(Opts) of
                default -> true;
                Cookie -> erlang:set_cookie(Cookie)
            end,
            {ok, node()};
        {error, Reason} ->
            {error, {distribution, Reason}}
    end.

set_cookie(#{cookie := Cookie}) -> erlang:set_cookie(to_atom(Cookie));
set_cookie(_Opts) -> true.

cookie(#{cookie := Cookie}) -> to_atom(Cookie);
cookie(#{name := _}) -> default;        % a named node of a cluster: ~/.erlang.cookie
cookie(_Opts) -> cookie().

%% @doc A fresh random cookie: 24 bytes of `crypto:strong_rand_bytes/1' in hexadecimal (never
%% starts with `-', which `erl -setcookie' would take for a flag).
-spec cookie() -> atom().
cookie() ->
    binary_to_atom(binary:encode_hex(crypto:strong_rand_bytes(24))).

%% @doc The tick time in seconds the options ask for (default 4).
-spec ticktime(options()) -> pos_integer().
ticktime(Opts) ->
    maps:get(ticktime, Opts, ?TICKTIME).

%% @doc The `erl' arguments of a local app node of this (distributed) VM: the interface it
%% listens on, the tick time and the code path `Dirs' (not the cookie: {@link start_peer/1}
%% sets it after boot).
-spec peer_args(#{code_path := [file:filename()], _ => _}) -> [string()].
peer_args(#{code_path := Dirs} = Opts) ->
    Interface = case application:get_env(kernel, inet_dist_use_interface) of
                    {ok, IP} -> ["-kernel", "inet_dist_use_interface", term(IP)];
                    undefined -> []
                end,
    ["-connect_all", "false",
     "-kernel", "net_ticktime", integer_to_list(net_kernel:get_net_ticktime())
     | Interface] ++ ["-pa" | Dirs] ++ maps:get(extra_args, Opts, []).

%% @doc Starts a local app node with `peer' (`PeerOpts': `name', `host', `args' from
%% {@link peer_args/1}, ...), controlled over its standard input and output (it halts when
%% this VM goes), gives it this node's cookie there and connects to it: `{ok, Peer, Node}'.
-spec start_peer(peer:start_options()) -> {ok, pid(), node()} | {error, term()}.
start_peer(PeerOpts) ->
    case catch peer:start(PeerOpts#{connection => standard_io}) of
        {ok, Peer, Node} ->
            try
                true = peer:call(Peer, erlang, set_cookie, [erlang:get_cookie()]),
                true = net_kernel:connect_node(Node),
                {ok, Peer, Node}
            catch
                Class:Reason ->
                    catch peer:stop(Peer),
                    {error, {peer_setup, Class, Reason}}
            end;
        Other ->
            {error, {peer, Other}}
    end.

term(T) ->
    lists:flatten(io_lib:format("~w", [T])).

name(Name, Interface) when is_atom(Name) ->
    name(atom_to_list(Name), Interface);
name(Name, Interface) ->
    case lists:member($@, Name) of
        true -> list_to_atom(Name);
        false -> list_to_atom(Name ++ "@" ++ host(Interface))
    end.

host(any) ->
    {ok, Host} = inet:gethostname(),
    case inet:gethostbyname(Host) of
        {ok, {hostent, Full, _, _, _, _}} -> Full;
        _ -> Host
    end;
host(IP) ->
    inet:ntoa(IP).

suffix() ->
    integer_to_list(erlang:phash2({os:getpid(), erlang:unique_integer(),
                                   erlang:system_time()}, 1 bsl 32), 36).

to_atom(A) when is_atom(A) -> A;
to_atom(S) -> list_to_atom(S).

%% epmd must listen where the nodes register; `epmd -daemon' does nothing if one runs.
ensure_epmd(Interface) ->
    case erl_epmd:names() of
        {ok, _} ->
            ok;
        {error, _} ->
            Epmd = case os:find_executable("epmd") of
                       false -> filename:join([code:root_dir(), "bin", "epmd"]);
                       Path -> Path
                   end,
            Env = case Interface of
                      any -> [];
                      IP -> [{"ERL_EPMD_ADDRESS", inet:ntoa(IP)}]
                  end,
            Port = open_port({spawn_executable, Epmd},
                             [{args, ["-daemon"]}, {env, Env}, exit_status]),
            receive {Port, {exit_status, _}} -> ok after 5000 -> ok end,
            wait_epmd(50)
    end.

wait_epmd(0) ->
    ok;
wait_epmd(N) ->
    case erl_epmd:names() of
        {ok, _} -> ok;
        {error, _} -> receive after 20 -> wait_epmd(N - 1) end
    end.
