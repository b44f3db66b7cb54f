%% @doc `make demo': the main job of py_buffer, in one VM. An Erlang process streams a
%% multi-megabyte HTTP body in 64 KiB chunks into a buffer while
%% (a) a Python WSGI app reads it with blocking `read()' calls and line iteration, and
%% (b) an ASGI app awaits it through `py_buffer.asgi.receive'
%% (examples/python/demo_apps.py). Each app answers with the bytes, sha256 and line count it
%% received; the demo prints them beside what was sent, with the throughput (from the first
%% write to the app's answer: it includes the app's own work, hashing and, for WSGI, a
%% Python loop over every line), and exits 0 only if everything matches.
%%
%% Run: `make demo', or `erl -noshell -pa nif/ebin -pa examples/ebin -s demo main'.
-module(demo).
-export([main/0, run/1]).

-define(CHUNK, 65536).
-define(MiB, 1048576).

-type options() :: #{size => pos_integer(), quiet => boolean()}.

-spec main() -> no_return().
main() ->
    case run(#{size => 64 * ?MiB}) of
        ok -> halt(0);
        {error, _} -> halt(1)
    end.

%% @doc Runs the demo with a body of about `size' bytes; `quiet' prints nothing.
-spec run(options()) -> ok | {error, term()}.
run(Opts) ->
    ok = example_path:ensure(),
    Quiet = maps:get(quiet, Opts, false),
    Say = fun(Format, Args) -> Quiet orelse io:format(Format, Args) end,
    Body = body(maps:get(size, Opts, 64 * ?MiB)),
    Chunks = chunks(Body),
    Sent = #{<<"bytes">> => byte_size(Body),
             <<"sha256">> => string:lowercase(binary:encode_hex(crypto:hash(sha256, Body))),
             <<"lines">> => length(binary:matches(Body, <<"\n">>))},
    Say("py_buffer demo: an Erlang process streams ~.1f MiB in ~b chunks of 64 KiB~n",
        [byte_size(Body) / ?MiB, length(Chunks)]),
    Say("  ~-44s ~10b bytes  sha256 ~s  ~b lines~n",
        ["sent", byte_size(Body), maps:get(<<"sha256">>, Sent), maps:get(<<"lines">>, Sent)]),
    Results = [app(wsgi, "WSGI app (blocking read() + line iteration)", Chunks, Sent, Say),
               app(asgi, "ASGI app (await receive())", Chunks, Sent, Say)],
    case lists:usort(Results) of
        [ok] -> Say("all received bodies match what was sent~n", []), ok;
        _ -> Say("MISMATCH~n", []), {error, mismatch}
    end.

%% One app: the Python call is queued first (it blocks reading the empty buffer), then the
%% writer process streams the chunks.
app(Kind, Label, Chunks, Sent, Say) ->
    {ok, Buf} = py_buffer:new(),
    Self = self(),
    Caller = spawn_link(fun() ->
                                Call = case Kind of
                                           wsgi -> py:call(demo_apps, serve_wsgi, [Buf]);
                                           asgi -> py:call(demo_apps, serve_asgi, [Buf])
                                       end,
                                Self ! {answer, self(), Call, erlang:monotonic_time()}
                        end),
    timer:sleep(10),
    Writer = spawn_link(fun() ->
                                Self ! {started, self(), erlang:monotonic_time()},
                                lists:foreach(fun(C) -> ok = py_buffer:write(Buf, C) end, Chunks),
                                ok = py_buffer:close(Buf)
                        end),
    Start = receive {started, Writer, T0} -> T0 end,
    {Answer, End} = receive {answer, Caller, A, T1} -> {A, T1} end,
    Seconds = erlang:convert_time_unit(End - Start, native, microsecond) / 1.0e6,
    case Answer of
        {ok, {Status, Got}} ->
            Received = maps:with([<<"bytes">>, <<"sha256">>, <<"lines">>], Got),
            Match = Received =:= Sent,
            Say("  ~-44s ~10b bytes  sha256 ~s  ~b lines  ~s  ~s  ~b MB/s~n",
                [Label, maps:get(<<"bytes">>, Got), maps:get(<<"sha256">>, Got),
                 maps:get(<<"lines">>, Got), status(Status),
                 case Match of true -> "match"; false -> "DIFFERENT" end,
                 round(maps:get(<<"bytes">>, Got) / Seconds / 1.0e6)]),
            case Match of true -> ok; false -> {error, {Kind, Got}} end;
        Error ->
            Say("  ~-44s failed: ~p~n", [Label, Error]),
            {error, {Kind, Error}}
    end.

status(Status) when is_integer(Status) -> integer_to_list(Status);
status(Status) -> binary_to_list(Status).

%% A text body of about `Size' bytes: numbered lines of varying length.
body(Size) ->
    Alphabet = binary:copy(<<"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ">>, 5),
    Line = fun(I) ->
                   Pad = binary:part(Alphabet, I rem 62, 10 + I rem 180),
                   <<"line ", (integer_to_binary(I))/binary, " ", Pad/binary, "\n">>
           end,
    %% Lines average over 100 bytes: enough of them, then cut to `Size'.
    Lines = Size div 100 + 100,
    Body = iolist_to_binary([Line(I) || I <- lists:seq(1, Lines)]),
    binary:part(Body, 0, min(Size, byte_size(Body))).

%% 64 KiB slices of the body (sub-binaries: no copy).
chunks(<<Chunk:?CHUNK/binary, Rest/binary>>) -> [Chunk | chunks(Rest)];
chunks(<<>>) -> [];
chunks(Last) -> [Last].
