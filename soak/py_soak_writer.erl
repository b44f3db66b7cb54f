%% @doc The writing side of one soak stream: an Erlang process that creates the buffer (so it
%% is its owner), writes the pattern in chunks of random size, waits for `writable' in
%% bounded mode, and ends the body as its stream's fault says.
%%
%% Protocol with the stream process `Parent':
%% <ul>
%%  <li>sends `{soak_buffer, self(), Buf}' once the buffer exists;</li>
%%  <li>writes up to `target' bytes, stopping early at `reader_closed' or at a
%%      `{soak_finish, close | abort}' message;</li>
%%  <li>then ends the body: `close' (faults `none', `reader_close'), `abort' (`abort'), or, for
%%      faults that the stream ends itself (`owner_kill', `read_timeout', `call_timeout'),
%%      sends `{soak_paused, self(), Written}' and waits for `{soak_finish, How}' (or is
%%      killed);</li>
%%  <li>and sends `{soak_written, self(), Written}': the bytes the buffer accepted.</li>
%% </ul>
%% A step that waits longer than `stall_ms' exits with `{writer_stalled, ...}': a hang is a
%% failure, never a stuck soak.
-module(py_soak_writer).
-export([start/2]).

-type how() :: close | abort.

%% @doc Spawns the writer of `Spec' (a stream spec, see `py_soak_stream') for `Parent'.
-spec start(pid(), map()) -> pid().
start(Parent, Spec) ->
    spawn(fun() -> init(Parent, Spec) end).

-spec init(pid(), map()) -> ok.
init(Parent, #{fault := Fault, target := Target, stall_ms := StallMs} = Spec) ->
    Opts0 = #{notify => self()},
    Opts1 = case Spec of #{max_buffered := Max} -> Opts0#{max_buffered => Max}; _ -> Opts0 end,
    Opts = case Spec of #{content_length := Len} -> Opts1#{content_length => Len}; _ -> Opts1 end,
    {ok, Buf} = py_buffer:new(Opts),
    Parent ! {soak_buffer, self(), Buf},
    {Stop, Written} = write_upto(Buf, Spec, Target, 0),
    How = case {Stop, Fault} of
              {{finish, H}, _} -> H;
              {_, none} -> close;
              {_, reader_close} -> close;
              {_, abort} -> abort;
              {_, _} ->
                  Parent ! {soak_paused, self(), Written},
                  receive {soak_finish, H} -> H
                  after StallMs -> exit({writer_stalled, paused, Written})
                  end
          end,
    ok = finish(Buf, How, Spec),
    Parent ! {soak_written, self(), Written},
    ok.

%% Ends the body. A close after the reader closed (or after a content length arrived in full)
%% is still answered, and what it answers is checked.
-spec finish(py_buffer:buffer(), how(), map()) -> ok.
finish(Buf, close, _Spec) ->
    case py_buffer:close(Buf) of
        ok -> ok;
        {error, reader_closed} -> ok;
        Other -> exit({close_failed, Other})
    end;
finish(Buf, abort, _Spec) ->
    case py_buffer:abort(Buf, soak_abort) of
        ok -> ok;
        {error, reader_closed} -> ok;
        Other -> exit({abort_failed, Other})
    end.

-spec write_upto(py_buffer:buffer(), map(), non_neg_integer(), non_neg_integer()) ->
          {done | reader_closed | {finish, how()}, non_neg_integer()}.
write_upto(_Buf, _Spec, Target, Written) when Written >= Target ->
    {done, Written};
write_upto(Buf, #{chunk := Chunk} = Spec, Target, Written) ->
    receive
        {soak_finish, How} -> {{finish, How}, Written}
    after 0 ->
        Len = min(rand:uniform(Chunk), Target - Written),
        write_chunk(Buf, Spec, Target, Written, py_soak_pattern:slice(Written, Len))
    end.

write_chunk(Buf, Spec, Target, Written, Data) ->
    case py_buffer:write(Buf, Data) of
        ok ->
            write_upto(Buf, Spec, Target, Written + byte_size(Data));
        {partial, Rest} ->
            Accepted = Written + byte_size(Data) - byte_size(Rest),
            case await_writable(Buf, Spec) of
                writable -> write_chunk(Buf, Spec, Target, Accepted, Rest);
                Stop -> {Stop, Accepted}
            end;
        {error, reader_closed} ->
            {reader_closed, Written};
        Other ->
            exit({write_failed, Other, Written})
    end.

%% Re-arms the subscription and waits for room. An Erlang reader is the subscriber itself and
%% forwards `writable' and `reader_closed' here (py_soak_reader).
await_writable(Buf, #{stall_ms := StallMs}) ->
    ok = py_buffer:activate(Buf),
    await_writable_message(Buf, StallMs).

await_writable_message(Buf, StallMs) ->
    receive
        {py_buffer, Buf, writable} -> writable;
        {py_buffer, Buf, reader_closed} -> reader_closed;
        {soak_finish, How} -> {finish, How};
        {py_buffer, Buf, _Other} -> await_writable_message(Buf, StallMs)
    after StallMs ->
        exit({writer_stalled, awaiting_writable, py_buffer:info(Buf)})
    end.
