%% @doc An Erlang-only backend with {@link py_request}'s shape that answers a request with its
%% body, whole, at once (no Python): `py_remote:start({module, py_remote_echo, []}, Head,
%% Opts)'. It measures the distribution hop and the front's routing capacity without an
%% interpreter (benches/erlang/scale_bench.escript) and checks an app node end to end
%% without running an app. The body is kept in memory until it is complete (use it for small
%% bodies); the state lives in the calling process's dictionary.
%%
%% Messages to the caller: `{py_remote_echo, Ref, complete | {aborted, Reason}}', turned by
%% {@link handle/2} into `{response, 200, Headers, Body}' then `done', or `{failed, Reason}'.
-module(py_remote_echo).

-export([start/3, write_body/2, end_body/1, abort/2, handle/2, read_response/2]).
-export_type([req/0]).

-opaque req() :: {py_remote_echo, reference(), non_neg_integer() | undefined}.

%% @doc Starts an echo of the body (`content_length' from `Opts', or `undefined' until
%% {@link end_body/1}).
-spec start(term(), py_request:head(), map()) -> {ok, req()}.
start(_Arg, _Head, Opts) ->
    Ref = make_ref(),
    Length = maps:get(content_length, Opts, undefined),
    put({?MODULE, Ref}, {0, []}),
    ok = complete_if(Ref, Length, 0),
    {ok, {?MODULE, Ref, Length}}.

%% @doc Takes body bytes (always all of them).
-spec write_body(req(), iodata()) -> ok | {error, term()}.
write_body({?MODULE, Ref, Length}, Data) ->
    case get({?MODULE, Ref}) of
        {Size, Acc} ->
            Size1 = Size + iolist_size(Data),
            put({?MODULE, Ref}, {Size1, [Acc | Data]}),
            complete_if(Ref, Length, Size1);
        _ ->
            {error, closed}
    end.

%% @doc The body is complete.
-spec end_body(req()) -> ok.
end_body({?MODULE, Ref, undefined}) ->
    self() ! {?MODULE, Ref, complete},
    ok;
end_body(_Req) ->
    ok.

%% @doc The client left: the request fails.
-spec abort(req(), term()) -> req().
abort({?MODULE, Ref, _} = Req, Reason) ->
    self() ! {?MODULE, Ref, {aborted, Reason}},
    Req.

%% @doc The echo's messages: the whole response and `done', or `{failed, _}'.
-spec handle(term(), req()) -> {ok, [py_request:event()], req()} | unknown.
handle({?MODULE, Ref, complete}, {?MODULE, Ref, _} = Req) ->
    case erase({?MODULE, Ref}) of
        {_, Acc} ->
            Headers = [{<<"content-type">>, <<"application/octet-stream">>}],
            {ok, [{response, 200, Headers, iolist_to_binary(Acc)}, done], Req};
        undefined ->
            {ok, [], Req}
    end;
handle({?MODULE, Ref, {aborted, Reason}}, {?MODULE, Ref, _} = Req) ->
    case erase({?MODULE, Ref}) of
        undefined -> {ok, [], Req};
        _ -> {ok, [{failed, Reason}], Req}
    end;
handle(_Msg, _Req) ->
    unknown.

%% @doc The response is always whole: nothing to read.
-spec read_response(req(), pos_integer()) -> eof.
read_response(_Req, _Max) ->
    eof.

complete_if(Ref, Length, Length) -> self() ! {?MODULE, Ref, complete}, ok;
complete_if(_Ref, _Length, _Size) -> ok.
