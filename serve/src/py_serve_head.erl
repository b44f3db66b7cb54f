%% @doc What makes a request head malformed beyond what mochiweb's parser (Erlang's `http'
%% packets) refuses: checked before the body framing, and answered 400 with the connection
%% closed, the app never called.
%% <ul>
%% <li>`obs_fold': a header value continued on the next line (RFC 9112 §5.2 lets a server
%%     refuse it; the parser keeps the line break inside the value, where an app would see
%%     a CR or LF);</li>
%% <li>`several_hosts': more than one `Host' (RFC 9112 §3.2: a server MUST answer 400); a
%%     host never holds a comma, so a value with one is two fields mochiweb joined.</li>
%% </ul>
%% ```
%% ok = py_serve_head:check([{<<"host">>, <<"a.example">>}]),
%% {error, several_hosts} = py_serve_head:check([{<<"host">>, <<"a.example, b.example">>}]).
%% '''
-module(py_serve_head).

-export([check/1]).
-export_type([error/0]).

-type error() :: obs_fold | several_hosts.

%% @doc `ok', or why the head is malformed. `Headers' are `{LowercaseName, Value}' binaries.
-spec check([{binary(), binary()}]) -> ok | {error, error()}.
check(Headers) ->
    Hosts = [V || {<<"host">>, V} <- Headers],
    case {lists:any(fun folded/1, Headers), Hosts} of
        {true, _} -> {error, obs_fold};
        {false, [_, _ | _]} -> {error, several_hosts};
        {false, [Host]} ->
            case binary:match(Host, <<",">>) of
                nomatch -> ok;
                _ -> {error, several_hosts}
            end;
        {false, []} -> ok
    end.

folded({_Name, Value}) ->
    binary:match(Value, [<<"\r">>, <<"\n">>]) =/= nomatch.
