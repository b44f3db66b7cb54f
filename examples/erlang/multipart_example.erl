%% @doc The seed's multipart parsing example, completed: Erlang streams a
%% `multipart/form-data' body into a buffer in small chunks, Python parses it with
%% `find' (memmem) and `readline' (examples/python/multipart.py).
%% Run: `erl -noshell -pa nif/ebin -pa examples/ebin -s multipart_example main'.
-module(multipart_example).
-export([main/0, run/0, body/1]).

-define(BOUNDARY, <<"----py-buffer-boundary-7MA4YWxk">>).

%% @doc A form with a text field, a field whose value has newlines, and a file.
-spec body(binary()) -> binary().
body(B) ->
    iolist_to_binary(
      ["preamble to ignore\r\n",
       "--", B, "\r\n",
       "Content-Disposition: form-data; name=\"title\"\r\n\r\n",
       "Hello, multipart\r\n",
       "--", B, "\r\n",
       "Content-Disposition: form-data; name=\"notes\"\r\n\r\n",
       "line one\nline two\r\nnot a boundary: --", binary:part(B, 0, 8), "\r\n",
       "--", B, "\r\n",
       "Content-Disposition: form-data; name=\"upload\"; filename=\"data.bin\"\r\n",
       "Content-Type: application/octet-stream\r\n\r\n",
       binary:copy(<<0, 1, 2, 255>>, 1000), "\r\n",
       "--", B, "--\r\n"]).

-spec run() -> {ok, list()} | {error, term()}.
run() ->
    ok = example_path:ensure(),
    Body = body(?BOUNDARY),
    {ok, Buf} = py_buffer:new(byte_size(Body)),
    %% The body arrives in 100-byte chunks.
    write_chunks(Buf, Body, 100),
    py:call(multipart, summary, [Buf, ?BOUNDARY]).

write_chunks(Buf, Bin, N) when byte_size(Bin) =< N ->
    ok = py_buffer:write(Buf, Bin);
write_chunks(Buf, Bin, N) ->
    <<Chunk:N/binary, Rest/binary>> = Bin,
    ok = py_buffer:write(Buf, Chunk),
    write_chunks(Buf, Rest, N).

-spec main() -> no_return().
main() ->
    {ok, Parts} = run(),
    [io:format("part ~s: filename ~p, content type ~p, ~p bytes~n",
               [Name, File, Type, byte_size(Data)])
     || #{<<"name">> := Name, <<"filename">> := File, <<"content_type">> := Type,
          <<"data">> := Data} <- Parts],
    halt(0).
