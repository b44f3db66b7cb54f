%% @doc A connection's socket, plain TCP or TLS, as the connection process sees it: what
%% `mochiweb_socket' (send, recv, setopts, close, peername for both) leaves out.
%%
%% mochiweb hands the connection loop a `gen_tcp' port, or `{ssl, SslSocket}' when the
%% listener speaks TLS (`--ssl-certfile', {@link py_serve_tls}). The two differ in three
%% ways the server has to know about:
%% <ul>
%% <li>the messages of `{active, once}' mode: `{tcp, Port, Bytes}', `{tcp_closed, Port}',
%%     `{tcp_error, Port, Why}', or the same tagged `ssl', `ssl_closed', `ssl_error' with
%%     the `sslsocket' ({@link tags/1});</li>
%% <li>request heads: a TCP socket parses them itself (`{packet, http_bin}', its `buffer'
%%     bounding each line), a TLS socket would too but with no bound on a line (its
%%     `packet_size' ends the connection instead of reporting the line), so over TLS heads
%%     are parsed from raw bytes with the same parser ({@link parses_heads/1}, {@link
%%     py_serve_head});</li>
%% <li>the request's scheme: `http' or `https' ({@link scheme/1});</li>
%% <li>the end of the connection: mochiweb's listener keeps a TCP socket open after the
%%     peer's close (`{exit_on_close, false}': a plain client may half-close and still read
%%     its answer), and under TLS that loses the close: OTP 25's `ssl' never reports it when
%%     it comes right after data the owner has not asked for yet (`{active, once}' between
%%     two messages), so a client that leaves while its app runs would not be seen. A TLS
%%     connection's TCP socket ends with the peer's close ({@link
%%     connection_options/1}).</li>
%% </ul>
-module(py_serve_socket).

-export([tags/1, parses_heads/1, scheme/1, sockname/1, connection_options/1]).
-export_type([socket/0, tags/0]).

-type socket() :: gen_tcp:socket() | {ssl, ssl:sslsocket()}.
-type tags() :: {Data :: tcp | ssl, Closed :: tcp_closed | ssl_closed,
                 Error :: tcp_error | ssl_error, Owner :: gen_tcp:socket() | ssl:sslsocket()}.
%% What an `{active, once}' socket's messages look like: `{Data, Owner, Bytes}',
%% `{Closed, Owner}' and `{Error, Owner, Why}'.

%% @doc The tags and the socket in the messages this socket sends to its owner.
-spec tags(socket()) -> tags().
tags({ssl, Ssl}) -> {ssl, ssl_closed, ssl_error, Ssl};
tags(Port) -> {tcp, tcp_closed, tcp_error, Port}.

%% @doc Whether the socket can parse request heads itself (`{packet, http_bin}' with lines
%% bounded by its `buffer'): plain TCP only.
-spec parses_heads(socket()) -> boolean().
parses_heads({ssl, _}) -> false;
parses_heads(_Port) -> true.

%% @doc The scheme of the requests on this connection (before proxy headers).
-spec scheme(socket()) -> binary().
scheme({ssl, _}) -> <<"https">>;
scheme(_Port) -> <<"http">>.

%% @doc The local address of the connection, as `inet:sockname/1' gives it.
-spec sockname(socket()) -> {ok, term()} | {error, term()}.
sockname({ssl, Ssl}) -> ssl:sockname(Ssl);
sockname(Port) -> inet:sockname(Port).

%% @doc The options a connection process sets on its socket at its start (see the module
%% doc: `exit_on_close' under TLS).
-spec connection_options(socket()) -> [gen_tcp:option()].
connection_options({ssl, _}) -> [{exit_on_close, true}];
connection_options(_Port) -> [].
