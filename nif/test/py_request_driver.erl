%% @doc Test support: drives one `py_request' the way an HTTP server process would (the loop
%% of the `py_request' module doc), with hooks for the tests: abort at a point, a slow
%% response consumer, a probe after every response read.
-module(py_request_driver).
-export([run/4, run/5, multipart/2]).

%% `others': the messages that were not the request's (in arrival order).
-type result() :: #{status := integer() | undefined, headers := [{binary(), binary()}],
                    body := binary(), events := list(), last := term(), others := list(),
                    response_end := term(), max_buffered_seen := non_neg_integer()}.

%% @doc Serves `App' with the body `Chunks' (written in that chunking) and collects the
%% response.
-spec run(py_request:app(), py_request:head(), [iodata()], py_request:options()) -> result().
run(App, Head, Chunks, Opts) ->
    run(App, Head, Chunks, Opts, #{}).

%% @doc `Ctl': `abort_after_chunks => N' (abort once N chunks were written),
%% `abort_on_start => true' (abort at the response head), `abort_after_response => N' (abort
%% once N response bytes were read), `read_size => N' (response reads, default 65536),
%% `on_read => fun(Req) -> ok' (called after each response read: a slow consumer),
%% `timeout' (ms, default 30000).
-spec run(py_request:app(), py_request:head(), [iodata()], py_request:options(), map()) ->
          result().
run(App, Head, Chunks, Opts, Ctl) ->
    {ok, Req} = py_request:start(App, Head, Opts),
    S0 = #{req => Req, chunks => Chunks, written => 0, ctl => Ctl, aborted => false,
           status => undefined, headers => [], body => [], got => 0, events => [],
           response_end => undefined, max_buffered_seen => 0, others => []},
    loop(send(S0)).

send(#{chunks := done} = S) ->
    S;
send(#{aborted := true} = S) ->
    S#{chunks := done};
send(#{chunks := [], req := Req} = S) ->
    S1 = event({end_body, py_request:end_body(Req)}, S),
    S1#{chunks := done};
send(#{chunks := [C | Cs], req := Req, written := W, ctl := Ctl} = S) ->
    case maps:get(abort_after_chunks, Ctl, none) of
        W -> abort(S);
        _ ->
            case py_request:write_body(Req, C) of
                ok -> send(S#{chunks := Cs, written := W + 1});
                {partial, Rest} -> S#{chunks := {parked, [Rest | Cs]}};
                {error, Reason} -> event({body_error, Reason}, S#{chunks := done})
            end
    end;
send(S) ->
    S.

abort(#{req := Req} = S) ->
    S#{req := py_request:abort(Req, client_gone), aborted := true, chunks := done}.

event(E, #{events := Es} = S) ->
    S#{events := [E | Es]}.

loop(#{req := Req, ctl := Ctl} = S) ->
    receive
        Msg ->
            case py_request:handle(Msg, Req) of
                {ok, Events, Req1} -> events(Events, S#{req := Req1});
                unknown -> loop(S#{others := [Msg | maps:get(others, S)]})
            end
    after maps:get(timeout, Ctl, 30000) ->
        erlang:error({timeout, S})
    end.

events([], S) ->
    loop(S);
events([{response, Status, Headers, Body} | Es], S) ->
    events(Es, event(response, S#{status := Status, headers := Headers, body := [Body],
                                   response_end := eof}));
events([{response_start, Status, Headers} | Es], #{ctl := Ctl} = S) ->
    S1 = event(response_start, S#{status := Status, headers := Headers}),
    case maps:get(abort_on_start, Ctl, false) of
        true -> events(Es, abort(S1));
        false -> events(Es, S1)
    end;
events([response_readable | Es], S) ->
    events(Es, drain(S));
events([body_writable | Es], #{chunks := {parked, Chunks}} = S) ->
    events(Es, send(S#{chunks := Chunks}));
events([body_writable | Es], S) ->
    events(Es, S);
events([Last | _], S) when Last =:= done; element(1, Last) =:= failed ->
    S1 = drain(S),
    #{body := Body, events := Events, others := Others} = S1,
    maps:remove(ctl, S1#{body := iolist_to_binary(Body), events := lists:reverse(Events),
                         others := lists:reverse(Others), last => Last});
events([E | Es], S) ->
    events(Es, event(E, S)).

drain(#{response_end := End} = S) when End =/= undefined ->
    S;
drain(#{req := Req, ctl := Ctl, body := Body, got := Got} = S) ->
    {_, Resp} = py_request:buffers(Req),
    #{buffered := Buffered} = py_buffer:info(Resp),
    S1 = S#{max_buffered_seen := max(Buffered, maps:get(max_buffered_seen, S))},
    case py_request:read_response(Req, maps:get(read_size, Ctl, 65536)) of
        {ok, Bin} ->
            (maps:get(on_read, Ctl, fun(_) -> ok end))(Req),
            Got1 = Got + byte_size(Bin),
            S2 = S1#{body := [Body, Bin], got := Got1},
            case maps:get(abort_after_response, Ctl, none) of
                N when is_integer(N), Got1 >= N, not map_get(aborted, S) -> drain(abort(S2));
                _ -> drain(S2)
            end;
        wait -> S1;
        eof -> S1#{response_end := eof};
        {error, Reason} -> S1#{response_end := {error, Reason}}
    end.

%% @doc A multipart/form-data body: `{Boundary, Body}' from `[{Name, Value}]' fields and
%% `{Name, Filename, ContentType, Data}' files.
-spec multipart(binary(), [{binary(), binary()} | {binary(), binary(), binary(), binary()}]) ->
          binary().
multipart(Boundary, Parts) ->
    iolist_to_binary(
      [[[<<"--">>, Boundary, <<"\r\n">>, part(P), <<"\r\n">>] || P <- Parts],
       <<"--">>, Boundary, <<"--\r\n">>]).

part({Name, Value}) ->
    [<<"Content-Disposition: form-data; name=\"">>, Name, <<"\"\r\n\r\n">>, Value];
part({Name, Filename, Type, Data}) ->
    [<<"Content-Disposition: form-data; name=\"">>, Name, <<"\"; filename=\"">>, Filename,
     <<"\"\r\nContent-Type: ">>, Type, <<"\r\n\r\n">>, Data].
