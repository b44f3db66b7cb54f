%% @doc The body framing of an HTTP/1.1 request, decided from its headers before the app is
%% called (RFC 9112 §6): `Transfer-Encoding' and `Content-Length' are checked here, so a
%% request whose length is ambiguous never reaches the app (it is answered 400 and the
%% connection closed: its end cannot be found).
%%
%% ```
%% {ok, {length, 5}} = py_serve_framing:body([{<<"content-length">>, <<"5">>}]),
%% {ok, chunked} = py_serve_framing:body([{<<"transfer-encoding">>, <<"chunked">>}]),
%% {ok, {length, 0}} = py_serve_framing:body([]),
%% {error, both_lengths} = py_serve_framing:body([{<<"content-length">>, <<"5">>},
%%                                                {<<"transfer-encoding">>, <<"chunked">>}]).
%% '''
%% Headers are `{LowercaseName, Value}' binaries; a header repeated is either repeated entries
%% or one entry whose values are joined by `, ' (mochiweb's way): both are understood.
%% Errors: `both_lengths' (Content-Length and Transfer-Encoding), `{bad_length, Value}' (not
%% digits, or a list whose values differ), `{unknown_coding, Value}' (any transfer coding
%% but a lone `chunked').
-module(py_serve_framing).

-export([body/1, content_length/1, expects_continue/1, wants_close/2, values/2, lower/1,
         trim_ows/1, trim_trailing_ows/1]).
-export_type([framing/0, error/0]).

-type framing() :: {length, non_neg_integer()} | chunked.
-type error() :: both_lengths | {bad_length, binary()} | {unknown_coding, binary()}.

%% @doc The request body's framing, or why the headers do not define one.
-spec body([{binary(), binary()}]) -> {ok, framing()} | {error, error()}.
body(Headers) ->
    case {values(<<"transfer-encoding">>, Headers), content_length(Headers)} of
        {[], none} -> {ok, {length, 0}};
        {[], {ok, Length}} -> {ok, {length, Length}};
        {[], Error} -> Error;
        {Codings, none} -> coding(Codings);
        {_, _} -> {error, both_lengths}
    end.

%% @doc The length a message's `Content-Length' gives (`none' without one): the same rule
%% for requests and for an app's responses.
-spec content_length([{binary(), binary()}]) -> {ok, non_neg_integer()} | none
                                                | {error, {bad_length, binary()}}.
content_length(Headers) ->
    case lists:keymember(<<"content-length">>, 1, Headers) of
        false -> none;
        true -> length_of(values(<<"content-length">>, Headers))
    end.

%% @doc Whether the request carries `Expect: 100-continue'.
-spec expects_continue([{binary(), binary()}]) -> boolean().
expects_continue(Headers) ->
    lists:member(<<"100-continue">>, values(<<"expect">>, Headers)).

%% @doc Whether the client wants the connection closed after this request: `Connection: close'
%% in HTTP/1.1, anything but `Connection: keep-alive' in HTTP/1.0.
-spec wants_close({non_neg_integer(), non_neg_integer()}, [{binary(), binary()}]) -> boolean().
wants_close(Version, Headers) ->
    Tokens = values(<<"connection">>, Headers),
    case Version >= {1, 1} of
        true -> lists:member(<<"close">>, Tokens);
        false -> not lists:member(<<"keep-alive">>, Tokens)
    end.

%% @doc The comma-separated, trimmed, lower-cased values of a header (`Name' lower-case),
%% over all its entries.
-spec values(binary(), [{binary(), binary()}]) -> [binary()].
values(Name, Headers) ->
    [lower(V) || {N, Joined} <- Headers, N =:= Name,
                            V0 <- binary:split(Joined, <<",">>, [global]),
                            V <- [trim_ows(V0)], V =/= <<>>].

%% @doc Without the optional whitespace (spaces and tabs, RFC 9110 §5.6.3) at either end.
-spec trim_ows(binary()) -> binary().
trim_ows(Bin) ->
    trim_trailing_ows(trim_leading_ows(Bin)).

trim_leading_ows(<<C, Rest/binary>>) when C =:= $\s; C =:= $\t -> trim_leading_ows(Rest);
trim_leading_ows(Bin) -> Bin.

%% @doc Without the optional whitespace (spaces and tabs) at its end: a header value as the
%% parser gives it keeps its trailing whitespace, which is not part of the value.
-spec trim_trailing_ows(binary()) -> binary().
trim_trailing_ows(<<>>) -> <<>>;
trim_trailing_ows(Bin) ->
    case binary:last(Bin) of
        C when C =:= $\s; C =:= $\t -> trim_trailing_ows(binary:part(Bin, 0, byte_size(Bin) - 1));
        _ -> Bin
    end.

%% @doc ASCII lower case (header names and tokens are ASCII; other bytes stay as they are).
-spec lower(binary()) -> binary().
lower(Bin) ->
    << <<(if C >= $A, C =< $Z -> C + 32; true -> C end)>> || <<C>> <= Bin >>.

coding([<<"chunked">>]) -> {ok, chunked};
coding(Codings) -> {error, {unknown_coding, iolist_to_binary(lists:join(<<", ">>, Codings))}}.

length_of([]) ->
    {error, {bad_length, <<>>}};  % `Content-Length:' with no value (RFC 9112 §6.3: 400)
length_of([First | Rest] = Lengths) ->
    Joined = iolist_to_binary(lists:join(<<", ">>, Lengths)),
    case digits(First) andalso lists:all(fun(L) -> L =:= First end, Rest) of
        true -> {ok, binary_to_integer(First)};
        false -> {error, {bad_length, Joined}}
    end.

digits(<<>>) -> false;
digits(Bin) -> byte_size(Bin) =< 19 andalso lists:all(fun(C) -> C >= $0 andalso C =< $9 end,
                                                      binary_to_list(Bin)).
