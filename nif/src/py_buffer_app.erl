%% @doc The application `py_buffer': `application:ensure_all_started(py_buffer)' starts the
%% top supervisor {@link py_buffer_sup} (the owner watcher) and loads the NIF library, which
%% starts the embedded interpreter and its threads with the application environment (see
%% `py_buffer.app.src' and module `py'). Starting the application is optional: without it
%% the NIF loads with the first call and the watcher starts on demand.
-module(py_buffer_app).
-behaviour(application).

-export([start/2, stop/1]).

%% @private
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case py_buffer_sup:start_link() of
        {ok, Sup} ->
            %% Loaded now (if not yet), so the interpreter starts with the application and
            %% with its environment, not with the first call.
            case code:ensure_loaded(py_buffer) of
                {module, py_buffer} ->
                    {ok, Sup};
                {error, Reason} ->
                    unlink(Sup),
                    exit(Sup, shutdown),
                    {error, {nif_load, Reason}}
            end;
        Error ->
            Error
    end.

%% @private
-spec stop(term()) -> ok.
stop(_State) ->
    ok.
