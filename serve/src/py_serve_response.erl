%% @doc Response heads and body framing on the wire (HTTP/1.1 serialization only: parsing
%% is mochiweb's). The app's status (its reason phrase too, if it gave one: {@link
%% py_serve_status}) and headers go out as it gave them, plus `Date',
%% `Server' (unless the app set one) and the framing:
%% <ul>
%% <li>a whole body: `Content-Length' (the app's own is replaced by the true length);</li>
%% <li>a streamed body with the app's valid `Content-Length': sent as is (`{length, Left}'),
%%     and held to it (RFC 9112 §6.3: the length ends the message): bytes beyond it are cut
%%     ({@link chunk/2} says `overrun'), a body ending short of it is `short' ({@link
%%     last_chunk/1}); either way the connection then closes, so no byte of this response
%%     is ever read as the next one's. An invalid `Content-Length' of the app's is dropped
%%     and the body framed as if it had none;</li>
%% <li>a streamed body without: `Transfer-Encoding: chunked' for HTTP/1.1 clients, else the
%%     body ends with the connection (`close_delimited');</li>
%% <li>no body for `HEAD', 1xx, 204 and 304 (`none'; the app's body is read and dropped); a
%%     `HEAD' answer keeps the app's `Content-Length' (that of the GET), and has none when the
%%     app gave neither one nor a body (RFC 9110 §9.3.2: a HEAD answer's length, if sent, is
%%     the GET's).</li>
%% </ul>
%% `Connection: close' is added when the connection closes after this response (unless the
%% app said it: then it does close); `Connection: keep-alive' when an HTTP/1.0 client's
%% connection stays open (it asked for it, and keeps it only if the answer says so).
-module(py_serve_response).

-export([whole/5, stream_head/5, chunk/2, last_chunk/1, simple/3, app_closes/1]).
-export_type([framing/0]).

-type framing() :: {length, Left :: non_neg_integer()} | chunked | close_delimited | none.
-type headers() :: [{binary(), binary()}].
-type version() :: {non_neg_integer(), non_neg_integer()}.

%% @doc The whole response (head and body) for `Method' and `Version'; `Close': the
%% connection closes after it.
-spec whole(binary(), version(), py_request:status(), headers(), {binary(), boolean()}) ->
          iodata().
whole(<<"HEAD">>, Version, Status, Headers, {Body, Close}) ->
    %% The app's own Content-Length stands (a HEAD answer describes the GET's body); else
    %% the length of what it gave.
    Clean = without([<<"transfer-encoding">>], Headers),
    case lists:keymember(<<"content-length">>, 1, lower(Clean)) orelse bodiless(Status)
        orelse Body =:= <<>> of
        true -> head(Version, Status, Clean, Close);
        false -> head(Version, Status, Clean ++ [{<<"content-length">>,
                                                  integer_to_binary(byte_size(Body))}], Close)
    end;
whole(Method, Version, Status, Headers, {Body, Close}) ->
    Clean = without([<<"content-length">>, <<"transfer-encoding">>], Headers),
    case bodiless(Status) of
        true ->
            head(Version, Status, Clean, Close);
        false ->
            Head = head(Version, Status,
                        Clean ++ [{<<"content-length">>, integer_to_binary(byte_size(Body))}],
                        Close),
            case Method of
                <<"HEAD">> -> Head;
                _ -> [Head, Body]
            end
    end.

%% @doc The head of a streamed response and how its body is framed.
-spec stream_head(binary(), version(), py_request:status(), headers(), boolean()) ->
          {iodata(), framing(), Close :: boolean()}.
stream_head(Method, Version, Status, Headers, Close) ->
    Length = py_serve_framing:content_length(lower(Headers)),
    Clean = case Length of
                {error, _} -> without([<<"transfer-encoding">>, <<"content-length">>], Headers);
                _ -> without([<<"transfer-encoding">>], Headers)
            end,
    case {Method, bodiless(Status), Length, Version >= {1, 1}} of
        {<<"HEAD">>, _, _, _} -> {head(Version, Status, Clean, Close), none, Close};
        {_, true, _, _} -> {head(Version, Status, Clean, Close), none, Close};
        {_, _, {ok, N}, _} -> {head(Version, Status, Clean, Close), {length, N}, Close};
        {_, _, _, true} ->
            {head(Version, Status, Clean ++ [{<<"transfer-encoding">>, <<"chunked">>}], Close),
             chunked, Close};
        {_, _, _, false} -> {head(Version, Status, Clean, true), close_delimited, true}
    end.

%% @doc A piece of a streamed body in its framing, and the framing for the next piece; or
%% `{overrun, Wire}': the piece goes beyond the app's `Content-Length', `Wire' is what fits.
-spec chunk(framing(), binary()) -> {iodata(), framing()} | {overrun, binary()}.
chunk({length, Left}, Data) when byte_size(Data) > Left -> {overrun, binary:part(Data, 0, Left)};
chunk({length, Left}, Data) -> {Data, {length, Left - byte_size(Data)}};
chunk(chunked, <<>>) -> {[], chunked};
chunk(chunked, Data) ->
    {[integer_to_binary(byte_size(Data), 16), <<"\r\n">>, Data, <<"\r\n">>], chunked};
chunk(none, _Data) -> {[], none};
chunk(close_delimited, Data) -> {Data, close_delimited}.

%% @doc What ends a streamed body, or `short': it ended before its `Content-Length'.
-spec last_chunk(framing()) -> {ok, iodata()} | short.
last_chunk({length, 0}) -> {ok, []};
last_chunk({length, _Left}) -> short;
last_chunk(chunked) -> {ok, <<"0\r\n\r\n">>};
last_chunk(_Framing) -> {ok, []}.

%% @doc A server's own short answer (400, 413, 500, 503), closing the connection.
-spec simple(binary(), version(), 100..999) -> iodata().
simple(Method, Version, Status) ->
    Body = [py_serve_status:line(Status), "\n"],
    whole(Method, Version, Status, [{<<"content-type">>, <<"text/plain">>}],
          {iolist_to_binary(Body), true}).

%% @doc Whether the app's own headers say `Connection: close': the connection then closes
%% after this response (RFC 9112 §9.6), as if the client had asked.
-spec app_closes(headers()) -> boolean().
app_closes(Headers) ->
    py_serve_framing:wants_close({1, 1}, lower(Headers)).

head(Version, Status, Headers, Close) ->
    Lower = lower(Headers),
    Extra = [{<<"date">>, mochiweb_clock:rfc1123()}
             || not lists:keymember(<<"date">>, 1, Lower)]
        ++ [{<<"server">>, <<"py-buffer-serve">>} || not lists:keymember(<<"server">>, 1, Lower)]
        ++ [{<<"connection">>, <<"close">>} || Close, not app_closes(Headers)]
        %% An HTTP/1.0 client keeps the connection only if the answer says so.
        ++ [{<<"connection">>, <<"keep-alive">>} || not Close, Version =:= {1, 0}],
    [version(Version), py_serve_status:line(Status), <<"\r\n">>,
     [[N, <<": ">>, V, <<"\r\n">>] || {N, V} <- Headers ++ Extra], <<"\r\n">>].

version({1, 0}) -> <<"HTTP/1.0 ">>;
version(_) -> <<"HTTP/1.1 ">>.

bodiless(Status) ->
    Code = py_serve_status:code(Status),
    Code < 200 orelse Code =:= 204 orelse Code =:= 304.

lower(Headers) -> [{py_serve_framing:lower(N), V} || {N, V} <- Headers].

without(Names, Headers) ->
    [H || {N, _} = H <- Headers, not lists:member(py_serve_framing:lower(N), Names)].
