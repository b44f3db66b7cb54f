%% @doc The top supervisor of the application `py_buffer': it owns the long-lived processes,
%% which are the owner watcher {@link py_buffer_owners}. The interpreter's threads belong to
%% the NIF library (one per VM, started when it loads) and are not processes.
-module(py_buffer_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

%% @doc Starts the supervisor, registered as `py_buffer_sup'.
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% @private
-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Flags = #{strategy => one_for_one, intensity => 5, period => 10},
    Owners = #{id => py_buffer_owners,
               start => {py_buffer_owners, start_link, []},
               restart => permanent,
               shutdown => 5000,
               type => worker,
               modules => [py_buffer_owners]},
    {ok, {Flags, [Owners]}}.
