%% @doc The owner watcher of `py_buffer': one process, registered as `py_buffer_owners',
%% that monitors every process owning an open buffer (once per process) and, when one exits,
%% aborts its open buffers with `{owner_down, Reason}' (`py_buffer:owner_exit/2').
%%
%% A NIF resource monitor cannot see the exit reason; an Erlang monitor can. `py_buffer'
%% calls {@link watch/1} (synchronously) with the first buffer a pid owns. Started by
%% `py_buffer''s `on_load'; not linked to anything, so it lives as long as the node. A
%% restarted watcher first monitors again every pid owning an open buffer (`rewatch_all/0').
-module(py_buffer_owners).

-export([start/0, watch/1, watched/0, sync/1]).

%% @doc Starts the watcher unless it runs.
-spec start() -> pid().
start() ->
    case whereis(?MODULE) of
        undefined ->
            Pid = spawn(fun() -> init() end),
            try register(?MODULE, Pid) of
                true -> Pid
            catch
                error:badarg ->
                    exit(Pid, kill),
                    whereis(?MODULE)
            end;
        Pid ->
            Pid
    end.

%% @doc Monitors `Pid' (once); returns when the monitor is in place, so an exit of `Pid'
%% after this call is seen with its reason.
-spec watch(pid()) -> ok.
watch(Pid) ->
    Watcher = start(),
    Ref = erlang:monitor(process, Watcher),
    Watcher ! {watch, Pid, self(), Ref},
    receive
        {Ref, ok} ->
            erlang:demonitor(Ref, [flush]),
            ok;
        {'DOWN', Ref, process, Watcher, _} ->
            watch(Pid)
    end.

%% @doc How many owner processes are watched (for leak checks).
-spec watched() -> non_neg_integer().
watched() ->
    Ref = make_ref(),
    start() ! {watched, self(), Ref},
    receive {Ref, N} -> N after 5000 -> erlang:error(timeout) end.

%% @doc Returns once the exit of `Pid' (if it exited) has been handled: its buffers are
%% aborted. For tests and for callers that must see the abort.
-spec sync(pid()) -> ok.
sync(Pid) ->
    Ref = make_ref(),
    start() ! {sync, Pid, self(), Ref},
    receive {Ref, ok} -> ok after 5000 -> erlang:error(timeout) end.

init() ->
    process_flag(priority, high),
    loop(rewatch_all(), #{}).

%% Monitors every pid that owns an open buffer: a watcher's monitors die with it, and the
%% NIF's registry still marks those pids as watched, so a restarted watcher must take them
%% over (an owner that died meanwhile gives `'DOWN'' with `noproc' at once). Returns the
%% `Watched' map (pid => monitor). Called by init, before any request.
-spec rewatch_all() -> #{pid() => reference()}.
rewatch_all() ->
    Owners = try py_buffer:rewatch_owners()
             catch error:undef -> []   % the first start, from py_buffer's on_load
             end,
    maps:from_list([{Pid, erlang:monitor(process, Pid)} || Pid <- Owners]).

%% Watched: pid => monitor; Waiting: pid => [{From, Ref}] waiting for that pid's 'DOWN'.
loop(Watched, Waiting) ->
    receive
        {watch, Pid, From, Ref} when is_map_key(Pid, Watched) ->
            From ! {Ref, ok},
            loop(Watched, Waiting);
        {watch, Pid, From, Ref} ->
            Monitor = erlang:monitor(process, Pid),
            From ! {Ref, ok},
            loop(Watched#{Pid => Monitor}, Waiting);
        {'DOWN', _Ref, process, Pid, Reason} ->
            _ = py_buffer:owner_exit(Pid, Reason),
            {Waiters, Rest} = take(Pid, Waiting),
            [From ! {Ref, ok} || {From, Ref} <- Waiters],
            loop(maps:remove(Pid, Watched), Rest);
        {sync, Pid, From, Ref} ->
            %% A watched pid that is dead has its 'DOWN' on the way: answer after it.
            case is_map_key(Pid, Watched) andalso not is_process_alive(Pid) of
                true ->
                    loop(Watched, Waiting#{Pid => [{From, Ref} | maps:get(Pid, Waiting, [])]});
                false ->
                    From ! {Ref, ok},
                    loop(Watched, Waiting)
            end;
        {watched, From, Ref} ->
            From ! {Ref, map_size(Watched)},
            loop(Watched, Waiting);
        _Other ->
            loop(Watched, Waiting)
    end.

take(Pid, Waiting) ->
    case maps:take(Pid, Waiting) of
        {Waiters, Rest} -> {Waiters, Rest};
        error -> {[], Waiting}
    end.
