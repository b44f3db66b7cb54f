%% @doc Proxy headers, as uvicorn reads them (`--proxy-headers', on by default, and
%% `--forwarded-allow-ips'): when the connection comes from a trusted proxy, the request's
%% scheme is its `X-Forwarded-Proto' and its client the address its `X-Forwarded-For' names.
%% Behind nginx on the same machine an app then builds `https' URLs and sees its real
%% clients (WSGI `wsgi.url_scheme' and `REMOTE_ADDR', ASGI `scheme' and `client').
%%
%% <ul>
%% <li>Trusted: the peer's address is in the list (addresses and networks, `10.0.0.0/8'), or
%%     the list is `*'. Default `127.0.0.1', or the environment's `FORWARDED_ALLOW_IPS'
%%     (uvicorn's default and variable).</li>
%% <li>`X-Forwarded-Proto' (the last one sent, trimmed): `http' or `https' (`ws', `wss' as
%%     those: a WebSocket scope says `ws'/`wss' itself); anything else is ignored.</li>
%% <li>`X-Forwarded-For' (all lines, joined): each proxy appends the address it saw, so the
%%     client is the last entry that is not a trusted proxy (the first entry when all are,
%%     or with `*'); `host:port' and `[v6]:port' give the port, else it is 0. An empty value
%%     changes nothing.</li>
%% </ul>
%% ```
%% {ok, T} = py_serve_proxy:trusted("127.0.0.1, 10.0.0.0/8"),
%% {<<"https">>, {<<"203.0.113.7">>, 0}} =
%%     py_serve_proxy:apply(T, <<"http">>, {{127, 0, 0, 1}, 5000},
%%                          [{<<"x-forwarded-proto">>, <<"https">>},
%%                           {<<"x-forwarded-for">>, <<"203.0.113.7, 10.1.2.3">>}]).
%% '''
-module(py_serve_proxy).

-export([trusted/1, apply/4]).
-export_type([trusted/0]).

-type network() :: {Family :: 4 | 8, Bits :: non_neg_integer(), Prefix :: bitstring()}.
-type trusted() :: all | [network()].
%% The trusted proxies: any (`*'), or addresses (a network of all the address's bits) and
%% networks, each as its family (the address tuple's size), its prefix length and the
%% prefix's bits (computed once, when the option is read).

-type peer() :: {inet:ip_address() | binary(), inet:port_number()} | undefined.
%% The connection's peer: an address, `local' (a Unix domain socket's peer: trusted), or
%% `undefined' (unknown).

%% @doc The trusted proxies a `--forwarded-allow-ips' value names (comma-separated addresses
%% and networks, or `*'); `{error, Item}' for the first item that is neither.
-spec trusted(string()) -> {ok, trusted()} | {error, string()}.
trusted(Value) ->
    Items = [string:trim(I) || I <- string:split(Value, ",", all), string:trim(I) =/= ""],
    case lists:member("*", Items) of
        true -> {ok, all};
        false -> networks(Items, [])
    end.

networks([], Acc) ->
    {ok, lists:reverse(Acc)};
networks([Item | Rest], Acc) ->
    case network(Item) of
        {ok, Network} -> networks(Rest, [Network | Acc]);
        error -> {error, Item}
    end.

network(Item) ->
    {Address, Bits} = case string:split(Item, "/") of
                          [A, B] -> {A, string:to_integer(B)};
                          [A] -> {A, all}
                      end,
    case inet:parse_strict_address(Address) of
        {ok, IP} -> bits(IP, Bits, tuple_size(IP) * width(IP));
        {error, _} -> error
    end.

bits(IP, all, Max) -> {ok, {tuple_size(IP), Max, prefix(IP, Max)}};
bits(IP, {N, []}, Max) when is_integer(N), N >= 0, N =< Max ->
    {ok, {tuple_size(IP), N, prefix(IP, N)}};
bits(_IP, _Bits, _Max) -> error.

%% @doc The request's scheme and client, given the proxies trusted (`false': proxy headers
%% ignored), the connection's scheme (`http', `https' over TLS) and peer, and the request
%% headers (names lower-case): the connection's own, unless the peer is a trusted proxy. A
%% Unix domain socket's peer (`local') is trusted, as gunicorn trusts it (only a process
%% allowed to open the socket file connects: the proxy); it has no address of its own, so the
%% client is `undefined' unless `X-Forwarded-For' names one.
-spec apply(false | trusted(), binary(), peer() | local, [{binary(), binary()}]) ->
          {binary(), peer()}.
apply(false, Scheme, local, _Headers) ->
    {Scheme, undefined};
apply(Trusted, Scheme, local, Headers) ->
    {scheme(Headers, Scheme), client(Trusted, Headers, undefined)};
apply(Trusted, Scheme, {PeerIP, _Port} = Peer, Headers)
  when Trusted =/= false, is_tuple(PeerIP) ->
    case trusts(Trusted, PeerIP) of
        true -> {scheme(Headers, Scheme), client(Trusted, Headers, Peer)};
        false -> {Scheme, Peer}
    end;
apply(_Trusted, Scheme, Peer, _Headers) ->
    {Scheme, Peer}.

scheme(Headers, Scheme) ->
    case [py_serve_framing:trim_ows(V) || {<<"x-forwarded-proto">>, V} <- Headers] of
        [] -> Scheme;
        Values ->
            case py_serve_framing:lower(lists:last(Values)) of
                P when P =:= <<"https">>; P =:= <<"wss">> -> <<"https">>;
                P when P =:= <<"http">>; P =:= <<"ws">> -> <<"http">>;
                _ -> Scheme
            end
    end.

client(Trusted, Headers, Client) ->
    case [V || {<<"x-forwarded-for">>, V} <- Headers] of
        [] -> Client;
        Values ->
            Entries = [py_serve_framing:trim_ows(E)
                       || E <- binary:split(iolist_to_binary(lists:join(<<",">>, Values)),
                                            <<",">>, [global])],
            case forwarded_client(Trusted, Entries) of
                {<<>>, _Port} -> Client;
                Address -> Address
            end
    end.

%% The last entry that is not a trusted proxy; the first when all are (or all are trusted).
forwarded_client(all, [First | _]) ->
    host_port(First);
forwarded_client(Trusted, Entries) ->
    Untrusted = [HP || E <- lists:reverse(Entries), {Host, _} = HP <- [host_port(E)],
                       not trusts(Trusted, Host)],
    case Untrusted of
        [Client | _] -> Client;
        [] -> host_port(hd(Entries))
    end.

%% `host', `host:port' (IPv4 or a name) or `[v6]' / `[v6]:port'; anything else as it is.
host_port(<<$[, Rest/binary>> = Entry) ->
    case binary:split(Rest, <<"]">>) of
        [Host, <<>>] -> {Host, 0};
        [Host, <<$:, Port/binary>>] -> {Host, port(Port)};
        _ -> {Entry, 0}
    end;
host_port(Entry) ->
    case binary:split(Entry, <<":">>, [global]) of
        [Host, Port] -> {Host, port(Port)};
        _ -> {Entry, 0}
    end.

port(Bin) ->
    try binary_to_integer(Bin) of
        N when N >= 0, N =< 65535 -> N;
        _ -> 0
    catch error:badarg -> 0
    end.

%% Whether an address (a tuple, or text from a header) is a trusted proxy's.
trusts(all, _Host) ->
    true;
trusts(Trusted, Host) when is_binary(Host) ->
    case inet:parse_strict_address(binary_to_list(Host)) of
        {ok, IP} -> trusts(Trusted, IP);
        {error, _} -> false
    end;
trusts(Trusted, IP) ->
    Family = tuple_size(IP),
    Address = address_bits(IP),
    lists:any(fun({F, Bits, Prefix}) -> F =:= Family andalso
                                            binary_part_bits(Address, Bits) =:= Prefix end,
              Trusted).

prefix(IP, Bits) ->
    binary_part_bits(address_bits(IP), Bits).

address_bits(IP) ->
    Width = width(IP),
    << <<Part:Width>> || Part <- tuple_to_list(IP) >>.

binary_part_bits(Address, Bits) ->
    <<P:Bits/bits, _/bits>> = Address,
    P.

width(IP) when tuple_size(IP) =:= 4 -> 8;
width(IP) when tuple_size(IP) =:= 8 -> 16.
