%% @doc Least-outstanding-requests routing over the nodes that serve (issue 14): a public ETS
%% table `py_route' of rows `{{Node, Generation}, Outstanding}', owned by {@link py_nodes}
%% (which adds a node once it joined and removes it when it goes down), read and counted by
%% every connection process in {@link py_remote:start/3} without a server in between.
%%
%% {@link checkout/1} picks the node with the fewest outstanding requests (ties broken at
%% random, so sequential requests also spread) and counts one more; {@link release/1} counts
%% one less at the request's last event (never below zero). The `Generation' makes a node that
%% rejoins a fresh row: releases of requests from before it went down miss it (the row is
%% gone) instead of corrupting its new count. Two processes choosing at the same instant may
%% both take the same node: the count is a balance, not a limit.
%%
%% Without the table (no {@link py_nodes} here) every request is local and uncounted; with
%% only this node in it, too: exactly the single-node path.
-module(py_route).

-export([new/0, add/1, remove/1, checkout/1, release/1, outstanding/0]).
-export_type([key/0]).

-define(TAB, py_route).

-type key() :: {node(), integer()}.
%% One node's row in one incarnation.

%% @doc Creates the table, owned by the caller (named, public, write-concurrent).
-spec new() -> ok.
new() ->
    ?TAB = ets:new(?TAB, [named_table, public, set, {write_concurrency, true},
                          {read_concurrency, true}]),
    ok.

%% @doc `Node' serves from now on (a fresh row, count 0).
-spec add(node()) -> ok.
add(Node) ->
    ok = remove(Node),
    true = ets:insert(?TAB, {{Node, erlang:unique_integer()}, 0}),
    ok.

%% @doc `Node' serves no more (its outstanding requests fail by themselves).
-spec remove(node()) -> ok.
remove(Node) ->
    true = ets:match_delete(?TAB, {{Node, '_'}, '_'}),
    ok.

%% @doc Picks a node for a request and counts it: `{local, Key}' (serve in this VM; `Key'
%% `undefined' when uncounted), `{remote, Node, Key}', or `{error, no_nodes}'. `any' routes;
%% a node name chooses that node (counted if it serves, else `Key' is `undefined').
-spec checkout(node() | any) ->
          {local, key() | undefined} | {remote, node(), key() | undefined} | {error, no_nodes}.
checkout(any) ->
    case ets:whereis(?TAB) of
        undefined ->
            {local, undefined};
        _ ->
            case ets:tab2list(?TAB) of
                [] -> {error, no_nodes};
                [{{Node, _}, _}] when Node =:= node() -> {local, undefined};
                Rows -> take(least(Rows))
            end
    end;
checkout(Node) when is_atom(Node) ->
    Key = case ets:whereis(?TAB) of
              undefined -> undefined;
              _ ->
                  case ets:match(?TAB, {{Node, '$1'}, '_'}) of
                      [[Gen]] -> {Node, Gen};
                      [] -> undefined
                  end
          end,
    case Key of
        undefined -> where(Node, undefined);
        _ -> take(Key)
    end.

take(Key) ->
    try ets:update_counter(?TAB, Key, 1) of
        _ -> where(element(1, Key), Key)
    catch
        error:badarg -> where(element(1, Key), undefined)   % removed meanwhile
    end.

where(Node, Key) when Node =:= node() -> {local, Key};
where(Node, Key) -> {remote, Node, Key}.

least([{Key, N} | Rows]) ->
    least(Rows, N, [Key]).

least([], _Min, Keys) ->
    lists:nth(rand:uniform(length(Keys)), Keys);
least([{Key, N} | Rows], Min, _Keys) when N < Min ->
    least(Rows, N, [Key]);
least([{Key, Min} | Rows], Min, Keys) ->
    least(Rows, Min, [Key | Keys]);
least([_ | Rows], Min, Keys) ->
    least(Rows, Min, Keys).

%% @doc One request fewer on the key's node (nothing for `undefined' or a row gone since).
-spec release(key() | undefined) -> ok.
release(undefined) ->
    ok;
release(Key) ->
    try ets:update_counter(?TAB, Key, {2, -1, 0, 0}) of
        _ -> ok
    catch
        error:badarg -> ok
    end.

%% @doc The serving nodes and their outstanding requests, sorted by node.
-spec outstanding() -> [{node(), non_neg_integer()}].
outstanding() ->
    case ets:whereis(?TAB) of
        undefined -> [];
        _ -> lists:sort([{Node, N} || {{Node, _}, N} <- ets:tab2list(?TAB)])
    end.
