%% @doc The owner watcher of `py_buffer': a gen_server, registered as `py_buffer_owners',
%% that monitors every process owning an open buffer (once per process) and, when one exits,
%% aborts its open buffers with `{owner_down, Reason}' (`py_buffer:owner_exit/2').
%%
%% A NIF resource monitor cannot see the exit reason; an Erlang monitor can. `py_buffer'
%% calls {@link watch/1} (synchronously) with the first buffer a pid owns.
%%
%% Under the application `py_buffer' the watcher is a child of `py_buffer_sup'
%% ({@link start_link/0}). Without the application it is started on demand by
%% {@link watch/1}, {@link watched/0} and {@link sync/1} ({@link start/0}, not linked: it
%% lives as long as the node); when the application starts later, the supervised watcher
%% takes over from it. Either way a watcher starting monitors every owner the NIF still
%% lists as watched, so a restart (or a stopped application) loses no owner: an owner that
%% died while no watcher ran is seen at once, with exit reason `noproc'.
-module(py_buffer_owners).
-behaviour(gen_server).

-export([start/0, start_link/0, watch/1, watched/0, sync/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-type waiters() :: #{pid() => [gen_server:from()]}.
%% Callers of `sync/1' waiting for the `DOWN' of a dead, still-watched pid.
-record(state, {watched = #{} :: #{pid() => reference()},
                waiting = #{} :: waiters()}).

%% @doc Starts an unsupervised watcher unless one runs; returns the running one.
-spec start() -> pid().
start() ->
    case gen_server:start({local, ?MODULE}, ?MODULE, #{}, []) of
        {ok, Pid} -> Pid;
        {error, {already_started, Pid}} -> Pid
    end.

%% @doc Starts the watcher linked to the caller (the supervisor); an unsupervised watcher
%% that runs already hands over the callers of {@link sync/1} waiting on it and stops.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    case gen_server:start_link({local, ?MODULE}, ?MODULE, #{}, []) of
        {error, {already_started, Old}} ->
            Waiting = try gen_server:call(Old, handover, infinity)
                      catch exit:_ -> #{}
                      end,
            case gen_server:start_link({local, ?MODULE}, ?MODULE, Waiting, []) of
                {error, {already_started, _}} -> start_link();
                Result -> Result
            end;
        Result ->
            Result
    end.

%% @doc Monitors `Pid' (once); returns when the monitor is in place, so an exit of `Pid'
%% after this call is seen with its reason.
-spec watch(pid()) -> ok.
watch(Pid) ->
    call({watch, Pid}).

%% @doc How many owner processes are watched (for leak checks).
-spec watched() -> non_neg_integer().
watched() ->
    call(watched).

%% @doc Returns once the exit of `Pid' (if it exited) has been handled: its buffers are
%% aborted. For tests and for callers that must see the abort.
-spec sync(pid()) -> ok.
sync(Pid) ->
    call({sync, Pid}).

%% A call to the running watcher, started if none runs; retried if it stops meanwhile (the
%% application stopping, or a supervised watcher taking over).
-spec call(term()) -> term().
call(Request) ->
    Watcher = case whereis(?MODULE) of
                  undefined -> start();
                  Pid -> Pid
              end,
    try
        gen_server:call(Watcher, Request, infinity)
    catch
        exit:{Reason, _} when Reason =:= noproc; Reason =:= normal; Reason =:= shutdown;
                              element(1, Reason) =:= shutdown ->
            call(Request)
    end.

%% @private
-spec init(waiters()) -> {ok, #state{}}.
init(Waiting) ->
    process_flag(priority, high),
    %% Owners the NIF lists as watched but no watcher monitors (a restart, a takeover, or a
    %% stopped application): monitored now; a dead one gives 'DOWN' with `noproc'.
    Owners = try py_buffer:watched_owners() catch error:_ -> [] end,
    Watched = maps:from_list([{Pid, erlang:monitor(process, Pid)} || Pid <- Owners]),
    {ok, #state{watched = Watched, waiting = Waiting}}.

%% @private
-spec handle_call(term(), gen_server:from(), #state{}) ->
          {reply, term(), #state{}} | {noreply, #state{}} | {stop, normal, term(), #state{}}.
handle_call({watch, Pid}, _From, #state{watched = Watched} = State)
  when is_map_key(Pid, Watched) ->
    {reply, ok, State};
handle_call({watch, Pid}, _From, #state{watched = Watched} = State) when is_pid(Pid) ->
    {reply, ok, State#state{watched = Watched#{Pid => erlang:monitor(process, Pid)}}};
handle_call({sync, Pid}, From, #state{watched = Watched, waiting = Waiting} = State) ->
    %% A watched pid that is dead has its 'DOWN' on the way: answer after it.
    case is_map_key(Pid, Watched) andalso not is_process_alive(Pid) of
        true ->
            {noreply, State#state{waiting = Waiting#{Pid => [From | maps:get(Pid, Waiting, [])]}}};
        false ->
            {reply, ok, State}
    end;
handle_call(watched, _From, #state{watched = Watched} = State) ->
    {reply, map_size(Watched), State};
handle_call(handover, _From, #state{waiting = Waiting} = State) ->
    {stop, normal, Waiting, State#state{waiting = #{}}};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info({'DOWN', _Ref, process, Pid, Reason},
            #state{watched = Watched, waiting = Waiting} = State) ->
    Aborted = case py_buffer:owner_exit(Pid, Reason) of
                  dirty -> py_buffer:owner_exit_dirty(Pid, Reason);
                  N -> N
              end,
    case Aborted of
        0 -> ok;
        _ ->
            %% The `eof' messages to subscribers were built on this process's heap, with a
            %% reference to each aborted buffer: collected now, a buffer nobody else holds is
            %% freed (with its unread bytes) at once, not whenever this quiet process next
            %% collects.
            true = erlang:garbage_collect()
    end,
    {Waiters, Rest} = case maps:take(Pid, Waiting) of
                          error -> {[], Waiting};
                          Taken -> Taken
                      end,
    _ = [gen_server:reply(From, ok) || From <- Waiters],
    {noreply, State#state{watched = maps:remove(Pid, Watched), waiting = Rest}};
handle_info(_Other, State) ->
    {noreply, State}.
